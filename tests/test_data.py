"""Data sets: the contract suite over every registered data set, layouts, errors, batching."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from parawire.data import (
    Augment,
    create_dataset,
    list_datasets,
    load_dataset,
    make_batches,
    random_crop_flip,
    resize_splits,
)
from parawire.errors import ConfigError, DataError

CLASSES = ("cat", "dog", "frog")


def _png(seed: int, size: int = 32) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def make_image_folder(root: Path, per_class: int = 2) -> Path:
    """A tiny ImageFolder: train/ and test/ with 3 classes of PNG images."""
    for split in ("train", "test"):
        for c, name in enumerate(CLASSES):
            (root / split / name).mkdir(parents=True)
            for i in range(per_class):
                (root / split / name / f"{i:04d}.png").write_bytes(_png(100 * c + i))
    return root


def make_archive(folder: Path, out: Path, *, sums: bool = True, good: bool = True) -> Path:
    """tar.gz of ``folder`` (under a top folder), with a SHA256SUMS file next to it."""
    with tarfile.open(out, "w:gz") as tar:
        tar.add(folder, arcname="cifar10")
    if sums:
        digest = hashlib.sha256(out.read_bytes()).hexdigest() if good else "0" * 64
        (out.parent / "SHA256SUMS").write_text(f"{digest}  {out.name}\n")
    return out


def make_flowers(root: Path) -> Path:
    """A fake torchvision Flowers102 root: 6 images of 2 classes, setid.mat, imagelabels.mat."""
    from scipy.io import savemat

    base = root / "flowers-102"
    (base / "jpg").mkdir(parents=True)
    for i in range(1, 7):
        img = Image.open(io.BytesIO(_png(i, 40)))
        img.save(base / "jpg" / f"image_{i:05d}.jpg", "JPEG")
    savemat(base / "imagelabels.mat", {"labels": np.array([1, 2, 1, 2, 1, 2])})
    savemat(
        base / "setid.mat",
        {"trnid": np.array([1, 2]), "valid": np.array([3]), "tstid": np.array([4, 5, 6])},
    )
    return root


@pytest.fixture
def dataset_kwargs(request, tmp_path: Path) -> dict:
    name = request.param
    if name == "cifar10":
        return {"root": make_image_folder(tmp_path / "cifar"), "cache": tmp_path / "cache"}
    if name == "flowers102":
        return {
            "root": make_flowers(tmp_path / "fl"),
            "cache": tmp_path / "cache",
            "image_size": 16,
        }
    if name == "synthetic":
        return {"num_train": 20, "num_test": 8, "image_size": 12}
    return {}


@pytest.mark.parametrize("dataset_kwargs", list_datasets(), indirect=True)
def test_contract_every_dataset(dataset_kwargs: dict, request) -> None:
    name = request.node.callspec.params["dataset_kwargs"]
    ds = create_dataset(name, **dataset_kwargs)
    splits = ds.load().check()
    assert splits.name == name
    assert splits.train_images.dtype == torch.uint8 and splits.train_images.ndim == 4
    assert splits.input_shape == tuple(splits.test_images.shape[1:])
    assert int(splits.train_labels.max()) < splits.num_classes
    again = create_dataset(name, **dataset_kwargs).load()  # from the cache where there is one
    assert torch.equal(again.train_images, splits.train_images)
    assert torch.equal(again.test_labels, splits.test_labels)


def test_digits_split_is_fixed_and_stratified() -> None:
    s = load_dataset("digits")
    assert s.input_shape == (3, 32, 32)
    assert (len(s.train_labels), len(s.test_labels)) == (1437, 360)
    assert s.test_labels.bincount().min() >= 35  # every digit in the test split
    assert torch.equal(s.test_images, load_dataset("digits").test_images)


def test_cifar10_image_folder_labels_follow_sorted_class_names(tmp_path: Path) -> None:
    s = load_dataset("cifar10", root=make_image_folder(tmp_path / "c"), cache=tmp_path / "k")
    assert s.classes == CLASSES
    assert s.train_labels.tolist() == [0, 0, 1, 1, 2, 2]
    expected = np.array(Image.open(tmp_path / "c/train/dog/0001.png")).transpose(2, 0, 1).copy()
    assert torch.equal(s.train_images[3], torch.from_numpy(expected))


def test_cifar10_archive_verified_and_equal_to_folder(tmp_path: Path) -> None:
    folder = make_image_folder(tmp_path / "c")
    archive = make_archive(folder, tmp_path / "cifar10-jpg.tar.gz")
    from_tar = load_dataset("cifar10", root=archive, cache=tmp_path / "k")
    from_dir = load_dataset("cifar10", root=folder, cache=tmp_path / "k")
    assert torch.equal(from_tar.train_images, from_dir.train_images)
    assert from_tar.classes == from_dir.classes
    # a folder holding the archive is accepted too
    beside = load_dataset("cifar10", root=archive.parent, cache=tmp_path / "k")
    assert torch.equal(beside.test_labels, from_dir.test_labels)


def test_cifar10_archive_with_wrong_checksum_is_refused(tmp_path: Path) -> None:
    archive = make_archive(make_image_folder(tmp_path / "c"), tmp_path / "a.tar.gz", good=False)
    with pytest.raises(DataError, match="checksum"):
        load_dataset("cifar10", root=archive, cache=tmp_path / "k")


@pytest.mark.parametrize("make", ["missing", "empty", "text", "no_root"])
def test_cifar10_bad_paths_name_the_accepted_layouts(tmp_path: Path, make: str) -> None:
    root: Path | None = tmp_path / "nothing"
    if make == "empty":
        root.mkdir()
    elif make == "text":
        root = tmp_path / "x.txt"
        root.write_text("hello")
    elif make == "no_root":
        root = None
    with pytest.raises(DataError, match="Accepted layouts"):
        load_dataset("cifar10", root=root, cache=tmp_path / "k")


def test_corrupt_archive_gives_data_error(tmp_path: Path) -> None:
    bad = tmp_path / "c.tar.gz"
    bad.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DataError):
        load_dataset("cifar10", root=bad, cache=tmp_path / "k")


def test_flowers_missing_mat_files(tmp_path: Path) -> None:
    (tmp_path / "flowers-102" / "jpg").mkdir(parents=True)
    with pytest.raises(DataError, match="Accepted layouts"):
        load_dataset("flowers102", root=tmp_path, cache=tmp_path / "k")


def test_unknown_dataset_and_option() -> None:
    with pytest.raises(ConfigError, match="choose one of"):
        create_dataset("mnist")
    with pytest.raises(ConfigError):
        create_dataset("synthetic", num_train=0)


def test_random_crop_flip_windows_of_padded_input() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).view(2, 1, 6, 6) + 1
    assert torch.equal(random_crop_flip(x, Augment(0, False), g), x)
    flipped = random_crop_flip(x, Augment(0, True), torch.Generator().manual_seed(3))
    for b in range(2):
        assert torch.equal(flipped[b], x[b]) or torch.equal(flipped[b], x[b].flip(2))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    out = random_crop_flip(x, Augment(2, False), g)
    for b in range(2):
        windows = [padded[b, :, i : i + 6, j : j + 6] for i in range(5) for j in range(5)]
        assert any(torch.equal(out[b], w) for w in windows)


def test_batches_are_seeded_and_normalised() -> None:
    s = load_dataset("synthetic", num_train=40, num_test=10)
    train, test = make_batches(s, batch_size=16, device=torch.device("cpu"))
    assert len(train) == 2 and len(test) == 1
    a = [x for x, _ in train.epoch(seed=1, epoch=0)]
    b = [x for x, _ in train.epoch(seed=1, epoch=0)]
    c = [x for x, _ in train.epoch(seed=1, epoch=1)]
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert not torch.equal(a[0], c[0])
    x, _ = next(iter(test.epoch()))
    assert abs(float(x.mean())) < 0.1 and 0.9 < float(x.std()) < 1.1


def test_resize_splits() -> None:
    s = resize_splits(load_dataset("synthetic", num_train=4, num_test=2, image_size=8), 16)
    assert s.input_shape == (3, 16, 16) and s.train_images.dtype == torch.uint8


def test_the_cache_is_the_one_conftest_made_hermetic(monkeypatch, tmp_path: Path) -> None:
    """Decoded data sets go where conftest points ``XDG_CACHE_HOME`` (beside the user's
    profiles), unless ``PARAWIRE_CACHE`` names another folder."""
    import os

    from parawire.analysis.profiles._registry import user_profile_file
    from parawire.data import default_cache_dir

    assert default_cache_dir() == Path(os.environ["XDG_CACHE_HOME"]) / "parawire"
    assert user_profile_file().parent == default_cache_dir()
    monkeypatch.setenv("PARAWIRE_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path
