"""``digits``: scikit-learn's bundled 8x8 handwritten digits, the embedded default data set.

1,797 real images (UCI optical recognition of handwritten digits) ship inside scikit-learn, so
parawire can train and evaluate with no data at hand and no download. The 8x8 images (grey
levels 0..16) are scaled to 0..255, upscaled to 32x32 (bilinear) and repeated over 3 channels,
so that every spec and baseline made for CIFAR-sized 3x32x32 inputs runs on them unchanged. The
split is a fixed, seeded, class-stratified 80/20 (1,437 train, 360 test images).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from parawire.data._base import ImageDataset, ImageSplits
from parawire.data._registry import register_dataset

SPLIT_SEED = 0  # the fixed 80/20 split: same images in the test split on every machine
TEST_FRACTION = 0.2


@register_dataset("digits")
class Digits(ImageDataset):
    """scikit-learn digits as 3x32x32 uint8 images (``root`` and ``cache`` are unused)."""

    layouts = "none needed (the images ship with scikit-learn)"

    def __init__(self, *, root=None, cache=None, image_size: int = 32, channels: int = 3) -> None:
        super().__init__(root=root, cache=cache)
        self.image_size = image_size  # side of the upscaled images
        self.channels = channels  # 3 (grey repeated, CIFAR-shaped) or 1

    def load(self) -> ImageSplits:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        bunch = load_digits()
        images = torch.from_numpy(bunch.images.astype(np.float32) * (255.0 / 16.0))  # (N, 8, 8)
        big = F.interpolate(images[:, None], size=self.image_size, mode="bilinear")
        big = big.round().clamp(0, 255).to(torch.uint8).repeat(1, self.channels, 1, 1)
        labels = torch.from_numpy(bunch.target.astype(np.int64))
        train_idx, test_idx = train_test_split(
            np.arange(len(labels)),
            test_size=TEST_FRACTION,
            random_state=SPLIT_SEED,
            stratify=bunch.target,
        )
        train_idx, test_idx = torch.from_numpy(train_idx), torch.from_numpy(test_idx)
        return ImageSplits(
            name=self.name,
            train_images=big[train_idx].contiguous(),
            train_labels=labels[train_idx],
            test_images=big[test_idx].contiguous(),
            test_labels=labels[test_idx],
            classes=tuple(str(d) for d in range(10)),
        )
