"""Seeded subsets of a data set (``train_subset``/``test_subset`` of ``load_dataset``)."""

from __future__ import annotations

import pytest
import torch

from parawire.data import load_dataset
from parawire.errors import DataError


def test_subset_sizes_seeded_and_drawn_from_the_set() -> None:
    full = load_dataset("digits")
    a = load_dataset("digits", train_subset=200, test_subset=50)
    assert (len(a.train_labels), len(a.test_labels)) == (200, 50)
    assert a.input_shape == full.input_shape and a.classes == full.classes
    b = load_dataset("digits", train_subset=200, test_subset=50)
    assert torch.equal(a.train_images, b.train_images) and torch.equal(a.test_labels, b.test_labels)
    c = load_dataset("digits", train_subset=200, test_subset=50, subset_seed=1)
    assert not torch.equal(a.train_labels, c.train_labels)
    rows = {bytes(x.numpy().tobytes()) for x in full.train_images}
    assert all(bytes(x.numpy().tobytes()) in rows for x in a.train_images)
    only_train = load_dataset("digits", train_subset=100)
    assert len(only_train.train_labels) == 100
    assert torch.equal(only_train.test_labels, full.test_labels)


def test_subset_larger_than_the_split_is_one_line() -> None:
    with pytest.raises(DataError, match=r"not within 1\.\.360"):
        load_dataset("digits", test_subset=10_000)
