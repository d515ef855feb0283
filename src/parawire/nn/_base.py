"""Contracts of the two pluggable families of ``parawire.nn``: baselines and aggregations.

**Baselines** (registered by name in ``parawire.nn.baselines``):

``factory(num_classes=10, in_channels=3, image_size=32) -> nn.Module``: an untrained module
(initialised from torch's global RNG, so ``torch.manual_seed`` fixes it; nothing downloaded)
that maps images ``(B, in_channels, image_size, image_size)`` to logits ``(B, num_classes)``,
every parameter on the path from input to logits (a backward pass reaches each one), and
traceable by ``torch.fx`` (so ``parawire analyze NAME`` can cost and place it). A factory that
cannot honour its arguments (e.g. a 1-channel ResNet-50) raises ``ConfigError``.

**Aggregations** (registered by name in ``parawire.nn.aggregations``; a spec names one): how a
conv vertex combines its scaled inputs with one learnt weight per input.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Protocol

import torch
from torch import nn


class BaselineFactory(Protocol):
    """What ``@register_baseline("name")`` registers (see the module docstring)."""

    def __call__(
        self, num_classes: int = 10, in_channels: int = 3, image_size: int = 32
    ) -> nn.Module: ...


class Aggregation(ABC):
    """How a vertex combines its inputs ``xs`` (same shape) with learnt ``weights`` (fan-in,).

    Contract: at :meth:`initial_weights` every input counts the same and the output of
    non-zero inputs is not zero (a vertex that outputs 0 passes no gradient through its ReLU);
    :meth:`combine` returns a tensor of the inputs' shape, differentiable in weights and inputs.
    """

    name: ClassVar[str] = ""

    @abstractmethod
    def initial_weights(self, fan_in: int) -> torch.Tensor:
        """The weights at initialisation, shape (fan_in,)."""

    @abstractmethod
    def combine(self, weights: torch.Tensor, xs: list[torch.Tensor]) -> torch.Tensor:
        """The aggregated input of the vertex's operation."""
