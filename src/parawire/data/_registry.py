"""Registry of data sets by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from parawire.data._base import ImageDataset, ImageSplits
from parawire.errors import ConfigError
from parawire.registry import Registry

_DATASETS: Registry[type[ImageDataset]] = Registry("dataset")
register_dataset = _DATASETS.register  # class decorator: @register_dataset("name")
list_datasets = _DATASETS.names  # sorted names matching a glob pattern


def create_dataset(
    name: str, *, root: str | Path | None = None, cache: str | Path | None = None, **options: Any
) -> ImageDataset:
    """Instantiate a registered data set (nothing is read until ``load()``)."""
    cls = _DATASETS.get(name)
    try:
        return cls(root=root, cache=cache, **options)
    except TypeError as exc:
        raise ConfigError(f"dataset {name!r}: {exc}") from None


def load_dataset(
    name: str, *, root: str | Path | None = None, cache: str | Path | None = None, **options: Any
) -> ImageSplits:
    """``create_dataset(...).load()``, checked.

    Two options every data set takes: ``train_subset`` and ``test_subset`` (numbers of images)
    keep a seeded random subset of that split (``ImageSplits.subset``, seed ``subset_seed``,
    default 0), e.g. ``load_dataset("cifar10", root=..., train_subset=5000, test_subset=1000)``.
    """
    train = options.pop("train_subset", None)
    test = options.pop("test_subset", None)
    seed = options.pop("subset_seed", 0)
    splits = create_dataset(name, root=root, cache=cache, **options).load().check()
    if train is None and test is None:
        return splits
    return splits.subset(train, test, seed).check()
