"""The EDGE'23 hypergraph of a cost graph: what a balanced partition of the network minimises.

Hadidi, Cao, Ryoo, Kim, "Reducing Inference Latency with Concurrent Architectures for Image
Recognition at Edge", IEEE EDGE 2023, Section III-C: one hypergraph vertex per DAG vertex, with a
weight proportional to its FLOPs; one hyperedge per vertex output, joining the producer and all
of its consumers, with a cost lambda proportional to the bytes of that output. A hyperedge cut
into gamma parts costs lambda * (gamma - 1): the producer sends its output once to every other
device that reads it. With image scatter (``CostGraph.replicate_source``) the source vertex's
hyperedge weighs the input image: that is what its device sends to the others.

Mt-KaHyPar takes positive int32 weights, so the exact costs (MACs, bytes) are scaled to integers
here, in one place (:func:`scale_weights`); the metrics use the exact bytes, the partitioner the
scaled integers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from parawire._memo import by_identity
from parawire.analysis.graph import CostGraph

WEIGHT_RESOLUTION = 1 << 20  # the scaled weights of a graph sum to about this (fits in int32)


def scale_weights(values: Sequence[int], resolution: int = WEIGHT_RESOLUTION) -> tuple[int, ...]:
    """Positive integers proportional to ``values``, summing to about ``resolution``.

    A zero value (a vertex without multiply-accumulates: pooling, the averaging output) becomes 1,
    the smallest weight Mt-KaHyPar accepts, so every vertex still counts for something. With
    ``resolution`` = 2**20 the total stays far inside int32 for any graph under 2**30 vertices.
    """
    total = sum(values)
    if total <= 0:
        return tuple(1 for _ in values)
    return tuple(max(1, round(v * resolution / total)) for v in values)


@dataclass(frozen=True)
class Hypergraph:
    """Vertices indexed 0..|V|-1 (in the cost graph's vertex order) and one hyperedge per output.

    ``pins[j]`` lists the vertex indices of hyperedge j, producer first; ``edge_bytes[j]`` is the
    exact size of the producer's output, ``edge_weights[j]`` its int32-scaled cost for the solver.
    """

    vertex_ids: tuple[int, ...]  # cost-graph vertex id of each hypergraph vertex index
    macs: tuple[int, ...]  # exact multiply-accumulates per vertex index
    node_weights: tuple[int, ...]  # positive int32 weights proportional to MACs (floor 1)
    pins: tuple[tuple[int, ...], ...]  # vertex indices per hyperedge, producer first
    edge_bytes: tuple[int, ...]  # exact bytes of each hyperedge's tensor
    edge_weights: tuple[int, ...]  # positive int32 costs proportional to bytes (floor 1)

    @cached_property
    def index(self) -> dict[int, int]:
        """Cost-graph vertex id -> hypergraph vertex index."""
        return {v: i for i, v in enumerate(self.vertex_ids)}

    @property
    def num_vertices(self) -> int:
        """Number of hypergraph vertices (= cost-graph vertices)."""
        return len(self.vertex_ids)

    @property
    def num_edges(self) -> int:
        """Number of hyperedges (= vertices that have at least one consumer)."""
        return len(self.pins)

    @property
    def min_edge_bytes(self) -> int:
        """U_c: the smallest communication of any hyperedge (at least 1 byte)."""
        return max(1, min(self.edge_bytes, default=1))

    def blocks(self, assignment: Mapping[int, int]) -> list[int]:
        """The device of every vertex index, from a cost-graph ``vertex id -> device`` map."""
        return [assignment[v] for v in self.vertex_ids]

    def connectivity(self, assignment: Mapping[int, int]) -> list[int]:
        """gamma_j: the number of distinct devices each hyperedge touches."""
        blocks = self.blocks(assignment)
        return [len({blocks[p] for p in pins}) for pins in self.pins]


def build_hypergraph(graph: CostGraph, resolution: int = WEIGHT_RESOLUTION) -> Hypergraph:
    """The hypergraph of ``graph``: FLOP-weighted vertices, byte-weighted output hyperedges.

    Built once per graph object (the partitioners and the metrics of every option share it).
    """
    return _hypergraph_of(graph, resolution)


@by_identity
def _hypergraph_of(graph: CostGraph, resolution: int) -> Hypergraph:
    ids = tuple(v.id for v in graph.vertices)
    index = {v: i for i, v in enumerate(ids)}
    pins: list[tuple[int, ...]] = []
    nbytes: list[int] = []
    for v in graph.vertices:
        consumers = graph.consumers[v.id]
        if consumers:
            pins.append((index[v.id], *(index[c] for c in consumers)))
            nbytes.append(int(graph.sent_bytes(v.id)))
    macs = tuple(int(v.macs) for v in graph.vertices)
    return Hypergraph(
        vertex_ids=ids,
        macs=macs,
        node_weights=scale_weights(macs, resolution),
        pins=tuple(pins),
        edge_bytes=tuple(nbytes),
        edge_weights=scale_weights(nbytes, resolution),
    )
