"""Contract of a data set: a name, a ``load()`` that returns both splits as uint8 tensors.

Design choice (why tensors, not ``torch.utils.data.Dataset``): every data set parawire trains on
fits in memory as uint8 images (CIFAR-10 is 150 MB, Flower-102 at 224x224 1.2 GB), so each one is
decoded once into an ``ImageSplits`` of ``(N, C, H, W)`` uint8 tensors plus int64 labels, cached
as ``.npy`` files, and the training transforms (random crop with zero padding, horizontal flip,
normalisation) are applied to whole batches on the training device (:mod:`parawire.data.batches`).
No worker processes, no per-image Python calls, and on CUDA the data and the augmentation stay on
the GPU.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch

from parawire.errors import DataError
from parawire.filenames import user_cache_dir


@dataclass(frozen=True)
class ImageSplits:
    """A decoded data set: train and test images as uint8 tensors with their labels."""

    name: str  # the registry name that produced it
    train_images: torch.Tensor  # (N, C, H, W) uint8
    train_labels: torch.Tensor  # (N,) int64 in [0, num_classes)
    test_images: torch.Tensor  # (M, C, H, W) uint8
    test_labels: torch.Tensor  # (M,) int64
    classes: tuple[str, ...]  # class names, index = label

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        _, c, h, w = self.train_images.shape
        return int(c), int(h), int(w)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def check(self) -> ImageSplits:
        """Raise ``DataError`` unless shapes, dtypes and labels are consistent; returns self."""
        for split, x, y in (
            ("train", self.train_images, self.train_labels),
            ("test", self.test_images, self.test_labels),
        ):
            if x.dtype != torch.uint8 or x.ndim != 4:
                raise DataError(f"{self.name}: {split} images must be (N, C, H, W) uint8")
            if y.shape != (x.shape[0],) or y.dtype != torch.int64:
                raise DataError(f"{self.name}: {split} labels must be one int64 per image")
            if len(x) == 0:
                raise DataError(f"{self.name}: the {split} split is empty")
            if int(y.min()) < 0 or int(y.max()) >= self.num_classes:
                raise DataError(f"{self.name}: {split} labels outside 0..{self.num_classes - 1}")
        if self.train_images.shape[1:] != self.test_images.shape[1:]:
            raise DataError(f"{self.name}: train and test images differ in shape")
        return self

    def subset(self, train: int | None, test: int | None, seed: int = 0) -> ImageSplits:
        """A seeded random subset: ``train`` training and ``test`` test images (``None``: all
        of that split), each split drawn without replacement. Why: CPU-sized runs on a large
        data set (a CIFAR-10 subset for a search) with the sizes stated, not a silent cut."""
        generator = torch.Generator().manual_seed(seed)

        def pick(
            x: torch.Tensor, y: torch.Tensor, n: int | None, split: str
        ) -> tuple[torch.Tensor, torch.Tensor]:
            if n is None:
                return x, y
            if not 1 <= n <= len(y):
                raise DataError(
                    f"{self.name}: a {split} subset of {n} images is not within 1..{len(y)} "
                    f"(the {split} split's size); choose a size in that range"
                )
            idx = torch.randperm(len(y), generator=generator)[:n].sort().values
            return x[idx], y[idx]

        train_x, train_y = pick(self.train_images, self.train_labels, train, "train")
        test_x, test_y = pick(self.test_images, self.test_labels, test, "test")
        return ImageSplits(self.name, train_x, train_y, test_x, test_y, self.classes)

    def channel_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel mean and std of the training images in [0, 1] units (for normalising)."""
        x = self.train_images[:10_000].to(torch.float64) / 255.0
        mean = x.mean(dim=(0, 2, 3))
        std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
        return tuple(float(v) for v in mean), tuple(float(v) for v in std)


class ImageDataset(ABC):
    """A named source of ``ImageSplits``; subclasses are registered with ``register_dataset``.

    Constructors take keyword arguments only: ``root`` (where the data lives; ``None`` for data
    sets that need none) and ``cache`` (where decoded arrays are kept), plus their own options.
    ``load()`` never downloads anything: a missing or malformed ``root`` raises a ``DataError``
    that names the accepted layouts.
    """

    name: ClassVar[str] = ""
    layouts: ClassVar[str] = ""  # the accepted ``root`` layouts, quoted in error messages

    def __init__(self, *, root: str | Path | None = None, cache: str | Path | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else None
        self.cache = Path(cache).expanduser() if cache is not None else default_cache_dir()

    @abstractmethod
    def load(self) -> ImageSplits:
        """Both splits, decoded (from the cache when it is there)."""

    def missing(self, problem: str) -> DataError:
        """A ``DataError`` for a bad ``root`` that says which layouts are accepted."""
        return DataError(f"{self.name}: {problem}. Accepted layouts: {self.layouts}")


def default_cache_dir() -> Path:
    """Where decoded data sets are kept: ``$PARAWIRE_CACHE``, else ``$XDG_CACHE_HOME/parawire``
    (the folder user profiles live in too), else ``~/.cache/parawire``."""
    env = os.environ.get("PARAWIRE_CACHE")
    return Path(env).expanduser() if env else user_cache_dir()
