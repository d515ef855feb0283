"""The eps sweep of EDGE'23: several balance tolerances, one partition option each.

A tight tolerance balances the load but may cut many hyperedges; a loose one cuts fewer at the
price of balance. The paper partitions at several eps and keeps the option with the lowest CS;
which option is kept is decided in ``parawire.analysis.deployment``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from parawire.analysis.graph import CostGraph
from parawire.analysis.hypergraph import build_hypergraph
from parawire.analysis.metrics import (
    DEFAULT_WEIGHTS,
    PlacementMetrics,
    ScoreWeights,
    eta,
    evaluate_placement,
)
from parawire.analysis.partitioners._base import Partitioner, Placement
from parawire.errors import ConfigError

if TYPE_CHECKING:
    from parawire.analysis.profiles import Profile

EPS_SWEEP = (0.03, 0.1, 0.3, 0.6)  # balance tolerances tried by default


@dataclass(frozen=True)
class PartitionOption:
    """One placement of the sweep with its metrics."""

    placement: Placement
    metrics: PlacementMetrics

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the full assignment)."""
        return {"eps": self.placement.eps, "info": self.placement.info, **self.metrics.to_dict()}


def sweep_eps(
    partitioner: Partitioner,
    graph: CostGraph,
    n: int,
    *,
    eps_values: Sequence[float] = EPS_SWEEP,
    profile: Profile | None = None,
    seed: int = 0,
    weights: ScoreWeights = DEFAULT_WEIGHTS,
) -> list[PartitionOption]:
    """One option per eps (a single one when the partitioner ignores eps or n = 1)."""
    if not eps_values:
        raise ConfigError("the eps sweep needs at least one eps value")
    values = list(eps_values) if partitioner.uses_eps and n > 1 else [eps_values[0]]
    hg = build_hypergraph(graph)
    eta_value = eta(graph, n)
    options = []
    for eps in values:
        placement = partitioner.partition(graph, n, profile=profile, seed=seed, eps=eps)
        metrics = evaluate_placement(
            graph, placement.assignment, n, hypergraph=hg, weights=weights, eta_value=eta_value
        )
        options.append(PartitionOption(placement, metrics))
    return options
