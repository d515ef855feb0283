"""Aggregations: how a vertex combines its inputs (a registry; contract in ``nn/_base.py``).

* ``sigmoid_weights`` (default, RandWire): sum of sigmoid(w_i) * x_i, w = 0 at first (each
  input weighted 0.5).
* ``sigmoid_inputs`` (the EDGE'23 text's variant): sum of w_i * sigmoid(x_i), w = 1/fan-in at
  first (w = 0 would zero every vertex's output, and nothing would learn).
"""

from __future__ import annotations

import torch

from parawire.nn._base import Aggregation
from parawire.registry import Registry

_AGGREGATIONS: Registry[type[Aggregation]] = Registry("aggregation")
register_aggregation = _AGGREGATIONS.register  # class decorator: @register_aggregation("name")
list_aggregations = _AGGREGATIONS.names  # sorted names matching a glob pattern


def create_aggregation(name: str) -> Aggregation:
    """The aggregation registered as ``name`` (``ConfigError`` naming the choices)."""
    return _AGGREGATIONS.get(name)()


@register_aggregation("sigmoid_weights")
class SigmoidWeights(Aggregation):
    """sum_i sigmoid(w_i) x_i."""

    def initial_weights(self, fan_in: int) -> torch.Tensor:
        return torch.zeros(fan_in)

    def combine(self, weights: torch.Tensor, xs: list[torch.Tensor]) -> torch.Tensor:
        w = torch.sigmoid(weights)
        return sum(wi * xi for wi, xi in zip(w, xs, strict=True))  # type: ignore[return-value]


@register_aggregation("sigmoid_inputs")
class SigmoidInputs(Aggregation):
    """sum_i w_i sigmoid(x_i)."""

    def initial_weights(self, fan_in: int) -> torch.Tensor:
        return torch.full((fan_in,), 1.0 / fan_in)

    def combine(self, weights: torch.Tensor, xs: list[torch.Tensor]) -> torch.Tensor:
        return sum(wi * torch.sigmoid(xi) for wi, xi in zip(weights, xs, strict=True))  # type: ignore[return-value]
