"""``cifar10``: CIFAR-10 (Krizhevsky 2009) from a local copy, in any of three layouts.

``root`` may be

* the JPEG archive ``cifar10-jpg.tar.gz`` (ImageFolder layout inside; the copy in
  ``../shared/data/cifar10/``), or a folder holding it; its SHA-256 is checked against a
  ``SHA256SUMS`` file next to it when there is one;
* an ImageFolder folder with ``train/<class>/*.jpg`` and ``test/<class>/*.jpg``;
* torchvision's own CIFAR10 root (a folder holding ``cifar-10-batches-py/``), read with
  ``torchvision.datasets.CIFAR10(download=False)``.

The images are decoded once (a process pool over the 60,000 JPEGs, a few seconds) into uint8
arrays cached under ``cache/cifar10-<key>/`` and memory-mapped on later loads. Nothing is ever
downloaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from parawire._io import read_text
from parawire.data._base import ImageDataset, ImageSplits
from parawire.data._cache import cached_arrays, file_sha256, short_key
from parawire.data._images import read_image_folder, read_image_tar
from parawire.data._registry import register_dataset
from parawire.errors import DataError

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def verify_checksum(archive: Path) -> str:
    """SHA-256 of ``archive``; ``DataError`` if a ``SHA256SUMS`` beside it disagrees."""
    digest = file_sha256(archive)
    sums = archive.parent / "SHA256SUMS"
    if sums.is_file():
        for line in read_text(sums, what="checksum list", limit=2**20).splitlines():
            fields = line.split()
            if len(fields) == 2 and fields[1].lstrip("*") == archive.name and fields[0] != digest:
                raise DataError(
                    f"{archive} fails its checksum (SHA-256 {digest[:16]}..., {sums} says "
                    f"{fields[0][:16]}...): the copy is damaged; fetch it again"
                )
    return digest


@register_dataset("cifar10")
class Cifar10(ImageDataset):
    """CIFAR-10 as 3x32x32 uint8 images, 50,000 train and 10,000 test."""

    layouts = (
        "the JPEG archive cifar10-jpg.tar.gz (e.g. --data ~/data/cifar10-jpg.tar.gz) or a "
        "folder holding it; an ImageFolder folder with train/<class>/*.jpg and "
        "test/<class>/*.jpg; torchvision's CIFAR10 root (a folder with cifar-10-batches-py/)"
    )

    def load(self) -> ImageSplits:
        if self.root is None:
            raise self.missing("no data path given (use --data PATH)")
        kind, path = self.resolve(self.root)
        if kind == "torchvision":
            arrays, classes = _read_torchvision(path.parent), list(CLASSES)
        else:
            key = verify_checksum(path)[:16] if kind == "archive" else _folder_key(path)
            reader = read_image_tar if kind == "archive" else read_image_folder

            def build() -> dict[str, np.ndarray]:
                arrays, names = reader(path)
                return {**arrays, "classes": np.array(names, dtype=str)}

            folder = self.cache / f"cifar10-{key}"
            arrays = cached_arrays(folder, build, info={"source": str(path)})
            classes = [str(c) for c in arrays["classes"]]
        splits = ImageSplits(
            self.name,
            torch.from_numpy(np.asarray(arrays["train_x"])),
            torch.from_numpy(np.asarray(arrays["train_y"])),
            torch.from_numpy(np.asarray(arrays["test_x"])),
            torch.from_numpy(np.asarray(arrays["test_y"])),
            tuple(classes),
        )
        return splits.check()

    def resolve(self, root: Path) -> tuple[str, Path]:
        """(``"archive"`` | ``"folder"`` | ``"torchvision"``, path) for a user-given ``root``."""
        if root.is_file():
            if root.name.endswith(ARCHIVE_SUFFIXES):
                return "archive", root
            raise self.missing(f"{root} is a file but not a .tar.gz/.tgz/.tar archive")
        if not root.is_dir():
            raise self.missing(f"{root} does not exist")
        if (root / "train").is_dir() and (root / "test").is_dir():
            return "folder", root
        if (root / "cifar-10-batches-py").is_dir():
            return "torchvision", root / "cifar-10-batches-py"
        if root.name == "cifar-10-batches-py":
            return "torchvision", root
        archives = sorted(p for p in root.iterdir() if p.name.endswith(ARCHIVE_SUFFIXES))
        if len(archives) == 1:
            return "archive", archives[0]
        raise self.missing(f"{root} matches none of them")


def _folder_key(root: Path) -> str:
    files = sorted(root.glob("*/*/*"))
    return short_key(root.resolve(), len(files), sum(f.stat().st_size for f in files))


def _read_torchvision(root: Path) -> dict[str, np.ndarray]:
    import torchvision

    try:
        train = torchvision.datasets.CIFAR10(str(root), train=True, download=False)
        test = torchvision.datasets.CIFAR10(str(root), train=False, download=False)
    except RuntimeError as exc:
        raise DataError(
            f"cifar10: {root}/cifar-10-batches-py is incomplete or corrupt ({exc})"
        ) from exc
    return {
        "train_x": train.data.transpose(0, 3, 1, 2).copy(),
        "train_y": np.asarray(train.targets, dtype=np.int64),
        "test_x": test.data.transpose(0, 3, 1, 2).copy(),
        "test_y": np.asarray(test.targets, dtype=np.int64),
    }
