"""Batches on the training device, with the training transforms applied to whole batches.

The uint8 images move to the device once; each batch is gathered, randomly cropped (zero padding
``side // 8``: 4 px at 32x32, as in the CIFAR ResNet paper), randomly flipped left-right,
converted to float and normalised with the training split's per-channel mean and std. Every
random draw comes from a CPU generator seeded with ``(seed, epoch)``, so an epoch's batches are
the same on any device and after a resume.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from parawire.data._base import ImageSplits


@dataclass(frozen=True)
class Augment:
    """Training-time transforms."""

    crop_padding: int = 4  # zero padding around the image before the random crop (0: no crop)
    flip: bool = True  # random horizontal flip with probability 1/2

    @staticmethod
    def for_size(side: int) -> Augment:
        """The standard setting for ``side``-pixel images: padding side/8, flips."""
        return Augment(crop_padding=max(1, side // 8), flip=True)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """CPU generator for one epoch's shuffling and augmentation."""
    state = np.random.SeedSequence([seed, epoch, 0xDA7A]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(state))


def random_crop_flip(x: torch.Tensor, augment: Augment, g: torch.Generator) -> torch.Tensor:
    """Randomly crop (after zero padding) and flip a batch ``(B, C, H, W)`` of any dtype."""
    b, _, h, w = x.shape
    p = augment.crop_padding
    if p > 0:
        padded = F.pad(x, (p, p, p, p))
        oy = torch.randint(0, 2 * p + 1, (b,), generator=g).to(x.device)
        ox = torch.randint(0, 2 * p + 1, (b,), generator=g).to(x.device)
        rows = (oy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # (B, H, 1)
        cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, :]  # (B, 1, W)
        batch = torch.arange(b, device=x.device)[:, None, None]
        x = padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)  # (B, C, H, W)
    if augment.flip:
        flip = (torch.rand(b, generator=g) < 0.5).to(x.device)[:, None, None, None]
        x = torch.where(flip, x.flip(3), x)
    return x


class Normalize:
    """uint8 ``(B, C, H, W)`` -> float, scaled to [0, 1], minus mean, over std (per channel)."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...], device: torch.device):
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, -1, 1, 1) * 255.0
        self.mean_255 = self.mean * 255.0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() - self.mean_255) / self.std


class DeviceBatches:
    """One split on a device, iterated in batches (shuffled and augmented when training)."""

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        normalize: Normalize,
        *,
        batch_size: int,
        device: torch.device,
        augment: Augment | None = None,
        channels_last: bool = False,
    ) -> None:
        self.images = images.to(device)  # (N, C, H, W) uint8
        self.labels = labels.to(device)  # (N,)
        self.normalize = normalize
        self.batch_size = batch_size
        self.augment = augment  # None: in order, no transforms (evaluation)
        self.channels_last = channels_last

    def __len__(self) -> int:
        """Batches per epoch (training drops a last partial batch when there is a full one)."""
        n = len(self.labels)
        if self.augment is not None and n >= self.batch_size:
            return n // self.batch_size
        return -(-n // self.batch_size)

    def epoch(self, seed: int = 0, epoch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(x, y)``: x float ``(B, C, H, W)`` normalised, y int64 ``(B,)``."""
        n = len(self.labels)
        g = epoch_generator(seed, epoch)
        order = torch.randperm(n, generator=g) if self.augment is not None else torch.arange(n)
        order = order.to(self.images.device)
        for i in range(len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            x = self.images[idx]
            if self.augment is not None:
                x = random_crop_flip(x, self.augment, g)
            x = self.normalize(x)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, self.labels[idx]


def make_batches(
    splits: ImageSplits,
    *,
    batch_size: int,
    device: torch.device,
    eval_batch_size: int = 500,
    channels_last: bool = False,
    augment: bool = True,
) -> tuple[DeviceBatches, DeviceBatches]:
    """(train, test) batch iterators for a data set, normalised with the train split's stats."""
    mean, std = splits.channel_stats()
    norm = Normalize(mean, std, device)
    aug = Augment.for_size(splits.input_shape[1]) if augment else Augment(0, False)
    kw = {"device": device, "channels_last": channels_last}
    train = DeviceBatches(
        splits.train_images, splits.train_labels, norm, batch_size=batch_size, augment=aug, **kw
    )
    test = DeviceBatches(
        splits.test_images, splits.test_labels, norm, batch_size=eval_batch_size, **kw
    )
    return train, test


def resize_splits(splits: ImageSplits, side: int, chunk: int = 1024) -> ImageSplits:
    """The same data set with every image resized (bilinear) to ``side`` x ``side`` pixels."""

    def resize(x: torch.Tensor) -> torch.Tensor:
        parts = [
            F.interpolate(x[i : i + chunk].float(), size=side, mode="bilinear", antialias=True)
            .round()
            .clamp(0, 255)
            .to(torch.uint8)
            for i in range(0, len(x), chunk)
        ]
        return torch.cat(parts)

    if splits.input_shape[1:] == (side, side):
        return splits
    return ImageSplits(
        splits.name,
        resize(splits.train_images),
        splits.train_labels,
        resize(splits.test_images),
        splits.test_labels,
        splits.classes,
    )
