"""Contract of a baseline network: a factory registered by name in ``parawire.nn.baselines``.

``factory(num_classes=10, in_channels=3, image_size=32) -> nn.Module``: an untrained module
(initialised from torch's global RNG, so ``torch.manual_seed`` fixes it; nothing downloaded)
that maps images ``(B, in_channels, image_size, image_size)`` to logits ``(B, num_classes)``,
every parameter on the path from input to logits (a backward pass reaches each one), and
traceable by ``torch.fx`` (so ``parawire analyze NAME`` can cost and place it). A factory that
cannot honour its arguments (e.g. a 1-channel ResNet-50) raises ``ConfigError``.
"""

from __future__ import annotations

from typing import Protocol

from torch import nn


class BaselineFactory(Protocol):
    """What ``@register_baseline("name")`` registers (see the module docstring)."""

    def __call__(
        self, num_classes: int = 10, in_channels: int = 3, image_size: int = 32
    ) -> nn.Module: ...
