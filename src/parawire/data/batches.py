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


def draw_crop_flip(
    b: int, augment: Augment, g: torch.Generator
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """The random draws of :func:`random_crop_flip` for a batch of ``b`` images, on the CPU:
    (row offsets, column offsets, flip mask); ``None`` for a transform ``augment`` leaves out."""
    p = augment.crop_padding
    oy = torch.randint(0, 2 * p + 1, (b,), generator=g) if p > 0 else None
    ox = torch.randint(0, 2 * p + 1, (b,), generator=g) if p > 0 else None
    flip = torch.rand(b, generator=g) < 0.5 if augment.flip else None
    return oy, ox, flip


def crop_flip(
    x: torch.Tensor,
    padding: int,
    oy: torch.Tensor | None,
    ox: torch.Tensor | None,
    flip: torch.Tensor | None,
) -> torch.Tensor:
    """Crop ``(B, C, H, W)`` at offsets ``oy``/``ox`` of the image zero-padded by ``padding``,
    then flip left-right where ``flip``; the draws live on ``x``'s device (no host transfer)."""
    b, _, h, w = x.shape
    if oy is not None and ox is not None:
        padded = F.pad(x, (padding, padding, padding, padding))
        rows = (oy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # (B, H, 1)
        cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, :]  # (B, 1, W)
        batch = torch.arange(b, device=x.device)[:, None, None]
        x = padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)  # (B, C, H, W)
    if flip is not None:
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    return x


def random_crop_flip(x: torch.Tensor, augment: Augment, g: torch.Generator) -> torch.Tensor:
    """Randomly crop (after zero padding) and flip a batch ``(B, C, H, W)`` of any dtype."""
    draws = [d if d is None else d.to(x.device) for d in draw_crop_flip(len(x), augment, g)]
    return crop_flip(x, augment.crop_padding, *draws)


def to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``x`` (on the CPU) on ``device`` without waiting: pinned and copied asynchronously on
    CUDA, where a plain ``.to`` synchronises the host with the GPU's queue."""
    if device.type != "cuda":
        return x.to(device)
    return x.pin_memory().to(device, non_blocking=True)


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
        """Yield ``(x, y)``: x float ``(B, C, H, W)`` normalised, y int64 ``(B,)``.

        An epoch's random draws (order, crop offsets, flips) are made on the CPU up front, in
        the order a batch-by-batch draw would make them, and moved to the device in one
        asynchronous copy: the loop over batches never waits for the device.
        """
        n = len(self.labels)
        device = self.images.device
        if self.augment is None:
            order = torch.arange(n, device=device)
            draws: list[torch.Tensor | None] = [None, None, None]
        else:
            g = epoch_generator(seed, epoch)
            order_cpu = torch.randperm(n, generator=g)
            per_batch = [
                draw_crop_flip(min(self.batch_size, n - i * self.batch_size), self.augment, g)
                for i in range(len(self))
            ]
            moved = to_device(torch.cat([order_cpu, *_stack_draws(per_batch)]), device)
            order, flat = moved[:n], moved[n:]
            draws = _split_draws(flat, per_batch[0], min(len(self) * self.batch_size, n))
        for i in range(len(self)):
            lo, hi = i * self.batch_size, (i + 1) * self.batch_size
            idx = order[lo:hi]
            x = self.images[idx]
            if self.augment is not None:
                x = crop_flip(
                    x, self.augment.crop_padding, *(d if d is None else d[lo:hi] for d in draws)
                )
            x = self.normalize(x)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, self.labels[idx]


def _stack_draws(
    per_batch: list[tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]],
) -> list[torch.Tensor]:
    """Every batch's (oy, ox, flip) as int64 runs, one per kind: [all oy, all ox, all flips]."""
    return [
        torch.cat([draws[k] for draws in per_batch]).to(torch.int64)
        for k in range(3)
        if per_batch[0][k] is not None
    ]


def _split_draws(
    flat: torch.Tensor,
    first: tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None],
    total: int,
) -> list[torch.Tensor | None]:
    """Inverse of :func:`_stack_draws` on the device: (oy, ox, flip), each of ``total``."""
    out: list[torch.Tensor | None] = []
    at = 0
    for k, draw in enumerate(first):
        if draw is None:
            out.append(None)
            continue
        part = flat[at : at + total]
        out.append(part.bool() if k == 2 else part)
        at += total
    return out


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
