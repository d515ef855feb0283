"""HEFT list scheduling as a partitioner.

Topcuoglu, Hariri, Wu, "Performance-Effective and Low-Complexity Task Scheduling for
Heterogeneous Computing", IEEE TPDS 13(3), 2002: vertices in decreasing upward rank (own cost
plus the costliest path of compute and communication to the exit), each placed on the device
that finishes it earliest, with insertion into idle gaps. Costs come from the profile: compute
from the device, a tensor crossing devices pays the link's latency + bytes / bandwidth (links
are contention-free here, as in the paper; the schedule simulation serialises them). HEFT is
greedy: with a slow link it can end up slower than one device, which ``analyze`` reports
against T1.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from parawire.analysis.graph import CostGraph
from parawire.analysis.partitioners._base import Partitioner
from parawire.analysis.partitioners._registry import register_partitioner
from parawire.analysis.simulate import compute_seconds, transfer_seconds, upward_ranks

if TYPE_CHECKING:
    from parawire.analysis.profiles import Profile


class _DeviceTimeline:
    """Busy intervals of one device, kept sorted, with insertion into the first idle gap."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.ends: list[float] = []

    def earliest_start(self, ready: float, duration: float) -> float:
        """First time >= ready with ``duration`` of idle time after it."""
        start = ready
        i = bisect.bisect_right(self.ends, ready)
        while i < len(self.starts):
            if start + duration <= self.starts[i]:
                return start
            start = max(start, self.ends[i])
            i += 1
        return start

    def book(self, start: float, end: float) -> None:
        """Mark [start, end) busy."""
        i = bisect.bisect_left(self.starts, start)
        self.starts.insert(i, start)
        self.ends.insert(i, end)


@register_partitioner("heft")
@dataclass(frozen=True)
class Heft(Partitioner):
    """Earliest-finish-time list scheduling over homogeneous devices and one link type."""

    needs_profile = True

    def _partition(
        self, graph: CostGraph, n: int, *, profile: Profile | None, seed: int, eps: float
    ) -> tuple[dict[int, int], dict[str, Any]]:
        assert profile is not None  # enforced by Partitioner.partition
        compute = compute_seconds(graph, profile)
        comm = transfer_seconds(graph, profile)
        if graph.replicate_source:  # a remote consumer waits for the image, then its own stem
            comm[graph.source] += compute[graph.source]
        rank = upward_ranks(graph, compute, comm)
        position = {v: i for i, v in enumerate(graph.topological_order)}
        order = sorted(graph.topological_order, key=lambda v: (-rank[v], position[v]))
        timelines = [_DeviceTimeline() for _ in range(n)]
        device: dict[int, int] = {}
        finish: dict[int, float] = {}
        for v in order:
            best: tuple[float, int, float] | None = None
            for d in range(n):
                ready = max(
                    (finish[p] + (comm[p] if device[p] != d else 0.0) for p in graph.producers[v]),
                    default=0.0,
                )
                start = timelines[d].earliest_start(ready, compute[v])
                end = start + compute[v]
                if best is None or end < best[0]:
                    best = (end, d, start)
            end, d, start = best  # type: ignore[misc]
            timelines[d].book(start, end)
            device[v], finish[v] = d, end
        return device, {"heft_makespan_s": max(finish.values())}
