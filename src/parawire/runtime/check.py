"""Checking a split run on real images: logits against the single-process float32 model.

One random input says little about a lossy wire (float16, int8): ``run`` also sends a batch of
real test images through the deployment and compares every image's logits and top-1 class with
the whole model in one process, in float32. The images are normalised as training normalises
them (the training split's per-channel mean and std); gray images are repeated on three channels
for a model that takes colour (a baseline such as ``cifarnet`` checked on ``digits``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from parawire.errors import ConfigError, DataError

CHECK_CHUNK = 100  # images per checking inference (one message per tensor and chunk)


@dataclass(frozen=True)
class CheckImages:
    """Normalised test images for a spec, with their labels and where they came from."""

    images: torch.Tensor  # (N, C, H, W) float32, normalised
    labels: torch.Tensor  # (N,) int64
    source: str  # e.g. "digits test split (first 200)"


def chunk_sizes(count: int) -> list[int]:
    """Batch sizes of the checking inferences for ``count`` images (every rank runs them)."""
    return [min(CHECK_CHUNK, count - i) for i in range(0, count, CHECK_CHUNK)]


def check_images(
    spec: Any, count: int, dataset: str = "digits", data: str | None = None
) -> CheckImages:
    """The first ``count`` test images of ``dataset``, resized to the input side of ``spec``
    (an ``ArchSpec`` or the plan's graph: anything with an ``input_shape`` (C, H, W)).

    Raises ``ConfigError`` when the data set has another channel count than the spec (gray
    images for a 3-channel model excepted: they are repeated on each channel).
    """
    from parawire.data import Normalize, load_dataset, resize_splits

    if count < 1:
        raise ConfigError(f"the check needs at least one image, got {count}")
    splits = load_dataset(dataset, root=data)
    c, h, w = spec.input_shape
    gray_as_colour = splits.input_shape[0] == 1 and c == 3
    if (splits.input_shape[0] != c and not gray_as_colour) or h != w:
        raise ConfigError(
            f"the spec takes {c}x{h}x{w} images, {dataset} has {splits.input_shape}; check with "
            "a data set of the spec's channel count (--check-data NAME) or --check 0"
        )
    if splits.input_shape[1:] != (h, w):
        splits = resize_splits(splits, h)
    n = min(count, len(splits.test_labels))
    mean, std = splits.channel_stats()
    images = Normalize(mean, std, torch.device("cpu"))(splits.test_images[:n])
    if gray_as_colour:
        images = images.expand(-1, c, -1, -1).contiguous()  # (N, 1, H, W) -> (N, 3, H, W)
    return CheckImages(images, splits.test_labels[:n], f"{dataset} test split (first {n})")


def compare_logits(
    logits: torch.Tensor, reference: torch.Tensor, labels: torch.Tensor | None = None
) -> dict[str, Any]:
    """Max |diff|, top-1 agreement and (with labels) both accuracies, JSON-ready.

    ``DataError`` when either side holds a NaN or an infinity: a non-finite logit agrees with
    nothing (NaN compares unequal, and argmax of NaNs is arbitrary), so the check fails.
    """
    if logits.shape != reference.shape:
        raise ConfigError(f"logits {tuple(logits.shape)} vs reference {tuple(reference.shape)}")
    for name, values in (("the split run", logits), ("the one-process model", reference)):
        bad = int((~torch.isfinite(values)).sum())
        if bad:
            raise DataError(
                f"check failed: {name}'s logits hold {bad} NaN or infinite value(s) of "
                f"{values.numel()}; the weights or the input are not finite (retrain, or check "
                "the weights file)"
            )
    same = logits.argmax(1) == reference.argmax(1)
    out: dict[str, Any] = {
        "images": len(logits),
        "max_abs_diff": float((logits - reference).abs().max()),
        "top1_agreement": float(same.float().mean()),
    }
    if labels is not None and len(labels) == len(logits):
        out["accuracy_split"] = float((logits.argmax(1) == labels).float().mean())
        out["accuracy_single"] = float((reference.argmax(1) == labels).float().mean())
    return out
