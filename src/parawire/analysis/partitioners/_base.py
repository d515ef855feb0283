"""Contract of a partitioner: a cost graph and n devices in, a placement vertex -> device out.

A partitioner is a small object of options registered by name (``register_partitioner``). Its
``partition(graph, n, profile=..., seed=..., eps=...)`` returns a :class:`Placement` that

* gives every vertex of ``graph`` a device in ``0..n-1`` (devices may stay idle);
* puts everything on device 0 when ``n == 1``;
* is deterministic: the same graph, n, profile, seed and eps give the same placement;
* raises ``ConfigError`` for n < 1, n > number of vertices, or a missing profile when the
  partitioner needs one (``needs_profile``).

``uses_eps`` says whether ``eps`` (the balance tolerance: every part weighs at most
(1 + eps) times the average) changes the result, i.e. whether an eps sweep is worth running.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from parawire.analysis.graph import CostGraph
from parawire.analysis.metrics import check_devices
from parawire.analysis.simulate import check_placement
from parawire.errors import ConfigError

if TYPE_CHECKING:
    from parawire.analysis.profiles import Profile

DEFAULT_EPS = 0.03  # balance tolerance: parts weigh at most (1 + eps) x the average


@dataclass(frozen=True)
class Placement:
    """Where each vertex runs, and how the partitioner got there."""

    assignment: dict[int, int]  # vertex id -> device index in 0..devices-1
    devices: int  # n
    partitioner: str  # registry name of the partitioner that made it
    eps: float | None = None  # balance tolerance used (None when the partitioner ignores it)
    info: dict[str, Any] = field(default_factory=dict)  # partitioner-specific facts, JSON-ready

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (vertex ids become string keys in JSON)."""
        return {
            "partitioner": self.partitioner,
            "devices": self.devices,
            "eps": self.eps,
            "info": self.info,
            "assignment": {str(v): d for v, d in sorted(self.assignment.items())},
        }


class Partitioner(ABC):
    """Base class: subclasses implement ``_partition`` for n >= 2."""

    name: ClassVar[str] = ""
    needs_profile: ClassVar[bool] = False  # True when device and link costs drive the result
    uses_eps: ClassVar[bool] = False  # True when eps changes the result

    def partition(
        self,
        graph: CostGraph,
        n: int,
        *,
        profile: Profile | None = None,
        seed: int = 0,
        eps: float = DEFAULT_EPS,
    ) -> Placement:
        """Place every vertex of ``graph`` on one of ``n`` devices (see the module contract)."""
        check_devices(n, graph)
        if eps < 0:
            raise ConfigError(f"eps must be >= 0, got {eps}")
        if self.needs_profile and profile is None:
            raise ConfigError(
                f"partitioner {self.name!r} needs a device/link profile (e.g. profile='rpi4-wifi')"
            )
        if n == 1:
            assignment, info = {v.id: 0 for v in graph.vertices}, {}
        else:
            assignment, info = self._partition(graph, n, profile=profile, seed=seed, eps=eps)
        check_placement(graph, assignment, n)
        return Placement(
            assignment=dict(sorted(assignment.items())),
            devices=n,
            partitioner=self.name,
            eps=eps if self.uses_eps else None,
            info=info,
        )

    @abstractmethod
    def _partition(
        self,
        graph: CostGraph,
        n: int,
        *,
        profile: Profile | None,
        seed: int,
        eps: float,
    ) -> tuple[dict[int, int], dict[str, Any]]:
        """(vertex id -> device for n >= 2, JSON-ready facts about the run)."""


def vertex_work(graph: CostGraph, profile: Profile | None = None) -> dict[int, float]:
    """Work of every vertex: seconds on the profile's device, else its FLOP weight (floor 1).

    The FLOP weight is the hypergraph's scaled weight, so a vertex without MACs still costs a
    little, as it does on a real device.
    """
    if profile is not None:
        return {v.id: float(profile.device.seconds(v)) for v in graph.vertices}
    from parawire.analysis.hypergraph import build_hypergraph

    hg = build_hypergraph(graph)
    return {v: float(w) for v, w in zip(hg.vertex_ids, hg.node_weights, strict=True)}
