"""``synthetic``: seeded random images and labels of any size, for tests and timing."""

from __future__ import annotations

import torch

from parawire.data._base import ImageDataset, ImageSplits
from parawire.data._registry import register_dataset
from parawire.errors import ConfigError


@register_dataset("synthetic")
class Synthetic(ImageDataset):
    """Uniform random uint8 images with uniform random labels (nothing to learn)."""

    layouts = "none needed (generated from a seed)"

    def __init__(
        self,
        *,
        root=None,
        cache=None,
        num_train: int = 512,
        num_test: int = 128,
        image_size: int = 32,
        channels: int = 3,
        num_classes: int = 10,
        seed: int = 0,
    ) -> None:
        super().__init__(root=root, cache=cache)
        if min(num_train, num_test, image_size, channels) < 1 or num_classes < 2:
            raise ConfigError(
                "synthetic: sizes must be >= 1 and num_classes >= 2, got "
                f"num_train={num_train} num_test={num_test} image_size={image_size} "
                f"channels={channels} num_classes={num_classes}"
            )
        self.num_train, self.num_test = num_train, num_test  # images per split
        self.image_size, self.channels = image_size, channels  # (C, S, S) images
        self.num_classes, self.seed = num_classes, seed

    def load(self) -> ImageSplits:
        g = torch.Generator().manual_seed(self.seed)
        shape = (self.channels, self.image_size, self.image_size)

        def split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
            x = torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8)
            return x, torch.randint(0, self.num_classes, (n,), generator=g)

        (xtr, ytr), (xte, yte) = split(self.num_train), split(self.num_test)
        classes = tuple(f"class{i}" for i in range(self.num_classes))
        return ImageSplits(self.name, xtr, ytr, xte, yte, classes)
