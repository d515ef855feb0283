"""The analysis graph: a DAG of vertices weighted by compute, parameters and output bytes.

Every analysis (concurrency score, partitioning, schedule simulation) works on a ``CostGraph``,
built either from an architecture spec (``parawire.analysis.costs.spec_costs``) or from any
PyTorch model traced with torch.fx (``parawire.analysis.from_module``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import networkx as nx

from parawire.errors import ConfigError


@dataclass(frozen=True)
class Vertex:
    """One unit of work that runs on a single device."""

    id: int
    op: str  # operation kind, for per-operation device profiles (e.g. "sepconv3x3", "conv")
    macs: int  # multiply-accumulates of one inference at the graph's batch size
    params: int  # trainable parameters held by this vertex
    out_bytes: int  # bytes of the output tensor sent to consumers on other devices (wire dtype)
    out_shape: tuple[int, ...] = ()  # shape of that tensor, batch dimension included
    name: str = ""  # human-readable label (spec node id or fx node name)
    # every operator call it runs, as (kind, amount) (see ``parawire.analysis.work``); priced
    # by calibrated profiles, empty where unknown (then MACs and the op's rate price it)
    work: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class CostGraph:
    """Vertices plus data dependencies ``(src, dst)``; one source and one sink vertex.

    Deployment choices that change what crosses the network are part of the graph, so that the
    hypergraph, the concurrency score, the partitioners and the schedule simulation all see the
    same bytes: ``wire_dtype`` (every ``out_bytes`` is in it) and ``replicate_source`` (image
    scatter: every device that hosts a consumer of the source vertex runs the source itself,
    from the input image sent to it, instead of receiving the source's output).
    """

    vertices: tuple[Vertex, ...]
    edges: tuple[tuple[int, int], ...]
    name: str = ""
    batch: int = 1
    dtype_bytes: int = 4  # bytes per element of the tensors as computed (float32: 4)
    wire_dtype: str = "float32"  # dtype of tensors sent between devices (``out_bytes``)
    input_shape: tuple[int, ...] = ()  # the network input, batch included (() = unknown)
    input_bytes: int = 0  # bytes of that input on the wire (0 = the source's out_bytes)
    replicate_source: bool = False  # image scatter: consumers' devices run the source

    @cached_property
    def vertex_map(self) -> dict[int, Vertex]:
        """Vertex id -> vertex."""
        return {v.id: v for v in self.vertices}

    @cached_property
    def dag(self) -> nx.DiGraph:
        """The dependencies as a networkx DiGraph."""
        g = nx.DiGraph()
        g.add_nodes_from(v.id for v in self.vertices)
        g.add_edges_from(self.edges)
        return g

    @cached_property
    def topological_order(self) -> tuple[int, ...]:
        """Deterministic topological order (smallest id first among ready vertices)."""
        return tuple(nx.lexicographical_topological_sort(self.dag))

    @cached_property
    def consumers(self) -> dict[int, tuple[int, ...]]:
        """Vertex id -> ids of the vertices that read its output."""
        return {v: tuple(sorted(self.dag.successors(v))) for v in self.dag.nodes}

    @cached_property
    def producers(self) -> dict[int, tuple[int, ...]]:
        """Vertex id -> ids of the vertices whose outputs it reads."""
        return {v: tuple(sorted(self.dag.predecessors(v))) for v in self.dag.nodes}

    @property
    def source(self) -> int:
        """The vertex without producers (the network input)."""
        return self.topological_order[0]

    @property
    def sink(self) -> int:
        """The vertex without consumers (the network output)."""
        return self.topological_order[-1]

    @property
    def image_bytes(self) -> int:
        """Bytes the source vertex's devices receive: the input image (wire dtype)."""
        return self.input_bytes or self.vertex_map[self.source].out_bytes

    @property
    def reference_bytes(self) -> int:
        """One float32 input image: the shared unit of communication (U_c) of the score."""
        if self.input_shape:
            return 4 * math.prod(self.input_shape)
        return max(1, self.vertex_map[self.source].out_bytes * 4 // self.dtype_bytes)

    def source_bytes(self) -> int:
        """Bytes that leave the source vertex's device per consumer device."""
        if self.replicate_source:
            return self.image_bytes
        return self.vertex_map[self.source].out_bytes

    def sent_bytes(self, vertex: int) -> int:
        """Bytes sent once to each other device that consumes ``vertex``."""
        if vertex == self.source:
            return self.source_bytes()
        return self.vertex_map[vertex].out_bytes

    @property
    def total_macs(self) -> int:
        """MACs of the whole network."""
        return sum(v.macs for v in self.vertices)

    @property
    def total_params(self) -> int:
        """Parameters of the whole network."""
        return sum(v.params for v in self.vertices)

    def check(self) -> CostGraph:
        """Raise ``ConfigError`` unless this is a DAG with one source and one sink."""
        if not nx.is_directed_acyclic_graph(self.dag):
            raise ConfigError(f"cost graph {self.name!r} has a cycle")
        sources = [v for v in self.dag if self.dag.in_degree(v) == 0]
        sinks = [v for v in self.dag if self.dag.out_degree(v) == 0]
        if len(sources) != 1 or len(sinks) != 1:
            raise ConfigError(
                f"cost graph {self.name!r} needs one source and one sink, "
                f"found sources {sources[:5]} and sinks {sinks[:5]}"
            )
        return self
