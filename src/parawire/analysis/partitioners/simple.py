"""Three placements that need no solver: ``single``, ``contiguous`` and the paper's ``groups``.

* ``single``: everything on device 0; the one-device baseline T1 every speedup is measured against.
* ``contiguous``: the topological order cut into n consecutive chunks of balanced work: layer-wise
  model parallelism (a pipeline), the only split a single-chain network really allows.
* ``groups``: the deployment of Hadidi, Cao, Ryoo, Kim, "Reducing Inference Latency with
  Concurrent Architectures for Image Recognition at Edge", IEEE EDGE 2023, Section V-A: the
  vertices fall into the connected components left when the input and output vertices are
  removed; the groups go largest first to the least-loaded unit (a min-heap of unit loads); one
  unit holds the input and the output merge.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from parawire._memo import by_identity
from parawire.analysis.graph import CostGraph
from parawire.analysis.partitioners._base import Partitioner, vertex_work
from parawire.analysis.partitioners._registry import register_partitioner
from parawire.graphs.components import clusters

if TYPE_CHECKING:
    from parawire.analysis.profiles import Profile


@register_partitioner("single")
@dataclass(frozen=True)
class Single(Partitioner):
    """Every vertex on device 0, whatever n is."""

    def _partition(
        self, graph: CostGraph, n: int, *, profile: Profile | None, seed: int, eps: float
    ) -> tuple[dict[int, int], dict[str, Any]]:
        return {v.id: 0 for v in graph.vertices}, {}


def split_sequence(work: list[float], n: int) -> list[int]:
    """Chunk index of each item when ``work`` is cut into at most n consecutive chunks.

    Minimises the heaviest chunk: a binary search on the bottleneck with a greedy fill, which is
    exact for the linear partition problem up to the search tolerance.
    """
    lo, hi = max(work), sum(work)
    for _ in range(60):
        mid = (lo + hi) / 2
        if _chunks_needed(work, mid) <= n:
            hi = mid
        else:
            lo = mid
        if hi - lo <= 1e-9 * max(hi, 1e-300):
            break
    chunks, load, current = [], 0.0, 0
    for w in work:
        if load + w > hi and load > 0:
            current, load = current + 1, 0.0
        load += w
        chunks.append(current)
    return chunks


def _chunks_needed(work: list[float], cap: float) -> int:
    count, load = 1, 0.0
    for w in work:
        if load + w > cap and load > 0:
            count, load = count + 1, 0.0
        load += w
    return count


@register_partitioner("contiguous")
@dataclass(frozen=True)
class Contiguous(Partitioner):
    """Topological order cut into n chunks of balanced work (profile seconds, else FLOPs)."""

    def _partition(
        self, graph: CostGraph, n: int, *, profile: Profile | None, seed: int, eps: float
    ) -> tuple[dict[int, int], dict[str, Any]]:
        work = vertex_work(graph, profile)
        order = list(graph.topological_order)
        chunks = split_sequence([work[v] for v in order], n)
        return dict(zip(order, chunks, strict=True)), {"chunks": max(chunks) + 1}


def component_groups(graph: CostGraph) -> list[list[int]]:
    """Vertex ids of each component left when the input and output vertices are removed."""
    return [list(c) for c in _components(graph)]


@by_identity
def _components(graph: CostGraph) -> tuple[tuple[int, ...], ...]:
    """``component_groups`` computed once per graph object (every device count asks)."""
    return tuple(tuple(c) for c in clusters(graph.dag, graph.source, graph.sink))


@register_partitioner("groups")
@dataclass(frozen=True)
class Groups(Partitioner):
    """EDGE'23 Section V-A: components largest-first onto a min-heap of unit loads.

    Device 0 holds the input and the output merge. With ``dedicated_merge`` it holds nothing
    else and the groups share the other n - 1 units, as the paper deploys them; by default device
    0 also joins the heap (starting with the input's and output's load), which is never slower
    in the schedule: the merge can only start after every group has finished anyway.
    ``unit_weights`` counts every vertex as one unit of work (the paper) instead of its FLOPs.
    """

    dedicated_merge: bool = False  # True: device 0 only runs the input and the output merge
    unit_weights: bool = False  # True: a group weighs its vertex count, not its work

    def _partition(
        self, graph: CostGraph, n: int, *, profile: Profile | None, seed: int, eps: float
    ) -> tuple[dict[int, int], dict[str, Any]]:
        work = vertex_work(graph, profile)
        if self.unit_weights:
            work = dict.fromkeys(work, 1.0)
        groups = component_groups(graph)
        assignment = {graph.source: 0, graph.sink: 0}
        merge_load = work[graph.source] + work[graph.sink]
        if self.dedicated_merge:
            heap = [(0.0, d) for d in range(1, n)]
        else:
            heap = [(merge_load, 0)] + [(0.0, d) for d in range(1, n)]
        heapq.heapify(heap)
        sized = sorted(groups, key=lambda g: (-sum(work[v] for v in g), g[0]))
        for group in sized:
            load, device = heapq.heappop(heap)
            for v in group:
                assignment[v] = device
            heapq.heappush(heap, (load + sum(work[v] for v in group), device))
        return assignment, {"groups": len(groups), "dedicated_merge": self.dedicated_merge}
