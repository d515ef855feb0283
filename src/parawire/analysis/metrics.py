"""The EDGE'23 concurrency metrics (eta, delta_W, Lambda, CS) and the measures around them.

Hadidi, Cao, Ryoo, Kim, "Reducing Inference Latency with Concurrent Architectures for Image
Recognition at Edge", IEEE EDGE 2023, Section III-C, on n units:

* eta = max{d_i} / (|V| / n): the longest input-to-output path, in vertices, over the vertices
  per unit. |V| and the path count the SAME vertex set: every vertex of the cost graph, the input
  and output vertices included (they hold the stem and the classifier, i.e. real work). The
  paper's Figure 5 examples hold under this convention: 9 vertices with a longest path of 6 give
  6 / (9/3) = 2, a chain of 7 gives 7 / (7/3) = 3. ``include_io=False`` drops both end vertices
  from the path and from |V| (a chain still gives n).
* delta_W = max part weight / average part weight (1 = perfect balance), weights ~ FLOPs.
* Lambda = sum over cut hyperedges of lambda_j * (gamma_j - 1) (Eq. 3), in bytes; normalised
  Lambda' = Lambda / (U_c * n). The paper takes U_c as "the smallest edge communication in the
  generator"; taken per graph, that unit differs between the architectures being compared (FB's
  smallest tensor is 32 KiB, the other generators' 16 KiB, which halves FB's Lambda'). parawire
  uses one stated reference for every architecture of the same input instead: U_c = the bytes
  of one float32 input image (``CostGraph.reference_bytes``; 12 KiB at 3x32x32). ``u_c=``
  overrides it.
* CS = (delta_W^a * Lambda'^b * eta^c)^(1/3), a = c = 1, b = 1.5 (Eq. 4); lower is better.

No cut (Lambda = 0, i.e. n = 1 or every vertex on one device) would make CS = 0, the best score,
for the placement that distributes nothing. So Lambda is floored at U_c, one smallest transfer:
Lambda' = 1/n, and CS keeps ranking by balance (delta_W = n when one device does everything) and
by eta; ``comm_floored`` says when that happened. ``comm_bytes`` itself is always the real 0.

Beyond the paper: the normalised Shannon entropy of the part weights (its Figure 12's load
balance, 1 = perfect), the width/depth histogram (its Figure 10) and the parallelism bound
T1/CP (total work over critical-path work).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import networkx as nx

from parawire._memo import by_identity
from parawire.analysis.graph import CostGraph
from parawire.analysis.hypergraph import Hypergraph, build_hypergraph
from parawire.analysis.simulate import check_placement
from parawire.errors import ConfigError
from parawire.graphs.dag import critical_path_length, dag_depth
from parawire.graphs.dag import depth_levels as dag_depth_levels


@dataclass(frozen=True)
class ScoreWeights:
    """Exponents of the concurrency score (EDGE'23 Eq. 4)."""

    a: float = 1.0  # exponent of the load variability delta_W
    b: float = 1.5  # exponent of the normalised communication Lambda'
    c: float = 1.0  # exponent of eta


DEFAULT_WEIGHTS = ScoreWeights()  # the paper's a = c = 1, b = 1.5


def longest_path_vertices(graph: CostGraph, *, include_io: bool = True) -> int:
    """max{d_i}: vertices on the longest input-to-output path (both ends counted)."""
    length = _longest_path_edges(graph) + 1
    return length if include_io else max(1, length - 2)


@by_identity
def _longest_path_edges(graph: CostGraph) -> int:
    """Edges on the longest path of ``graph`` (once per graph object: every option asks)."""
    return dag_depth(graph.dag) - 1


def eta(graph: CostGraph, n: int, *, include_io: bool = True) -> float:
    """eta = max{d_i} / (|V| / n); see the module docstring for the |V| convention."""
    check_devices(n)
    count = len(graph.vertices) if include_io else max(1, len(graph.vertices) - 2)
    return longest_path_vertices(graph, include_io=include_io) * n / count


def depth_levels(graph: CostGraph) -> dict[int, int]:
    """Depth of every vertex: edges on the longest path from the input vertex (input: 0), the
    earliest step at which it can run (``parawire.graphs.dag.depth_levels``)."""
    return dag_depth_levels(graph.dag)  # type: ignore[return-value]


def depth_histogram(graph: CostGraph) -> list[int]:
    """Width/depth histogram (EDGE'23 Figure 10): number of vertices at each depth 0, 1, ..."""
    levels = depth_levels(graph)
    hist = [0] * (max(levels.values()) + 1)
    for d in levels.values():
        hist[d] += 1
    return hist


def t1_over_cp(graph: CostGraph, work: Mapping[int, float] | None = None) -> float:
    """Total work over critical-path work: no placement on free links beats this speedup.

    ``work`` maps vertex id -> cost (seconds on a device profile, say); MACs by default.
    """
    cost = work if work is not None else {v.id: float(v.macs) for v in graph.vertices}
    critical = critical_path_length(graph.dag, cost)
    total = sum(cost[v.id] for v in graph.vertices)
    return total / critical if critical > 0 else 1.0


def check_devices(n: int, graph: CostGraph | None = None) -> None:
    """Raise ``ConfigError`` unless 1 <= n (<= number of vertices when a graph is given)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"devices must be an integer >= 1, got {n!r}")
    if graph is not None and n > len(graph.vertices):
        raise ConfigError(
            f"devices={n} exceeds the {len(graph.vertices)} vertices of {graph.name or 'the graph'}"
            f"; use at most {len(graph.vertices)} devices"
        )


def part_weights(hg: Hypergraph, assignment: Mapping[int, int], n: int) -> list[int]:
    """Summed (scaled) vertex weight of each of the n devices."""
    weights = [0] * n
    for i, block in enumerate(hg.blocks(assignment)):
        weights[block] += hg.node_weights[i]
    return weights


def load_variability(weights: Sequence[float]) -> float:
    """delta_W: the heaviest part over the average part (1 = perfect balance)."""
    total = sum(weights)
    return max(weights) * len(weights) / total if total > 0 else 1.0


def balance_entropy(weights: Sequence[float]) -> float:
    """Shannon entropy of the load shares over log(n): 1 = perfect balance, 0 = one device."""
    n = len(weights)
    total = sum(weights)
    if n <= 1 or total <= 0:
        return 1.0
    h = -sum(w / total * math.log(w / total) for w in weights if w > 0)
    return max(0.0, h / math.log(n))


def communication_bytes(hg: Hypergraph, assignment: Mapping[int, int]) -> int:
    """Lambda = sum over hyperedges of bytes_j * (gamma_j - 1) (EDGE'23 Eq. 3)."""
    gammas = hg.connectivity(assignment)
    return sum(b * (g - 1) for b, g in zip(hg.edge_bytes, gammas, strict=True))


def concurrency_score(
    delta_w: float, comm_norm: float, eta_value: float, weights: ScoreWeights = DEFAULT_WEIGHTS
) -> float:
    """CS = (delta_W^a * Lambda'^b * eta^c)^(1/3) (EDGE'23 Eq. 4); lower is better."""
    return (delta_w**weights.a * comm_norm**weights.b * eta_value**weights.c) ** (1.0 / 3.0)


def device_flows(graph: CostGraph, assignment: Mapping[int, int]) -> nx.DiGraph:
    """The quotient graph: an edge a -> b when a tensor goes from device a to device b."""
    flows = nx.DiGraph()
    flows.add_nodes_from(set(assignment.values()))
    # each device pair once, in the order first met: a placement has far fewer pairs than
    # cut edges, and adding an edge to a networkx graph is what this function spent its time on
    pairs = dict.fromkeys(
        (assignment[src], assignment[dst])
        for src, dst in graph.edges
        if assignment[src] != assignment[dst]
    )
    flows.add_edges_from(pairs)
    return flows


@dataclass(frozen=True)
class PlacementMetrics:
    """How good one placement is, by the paper's measures and a few more."""

    devices: int  # n
    comm_bytes: int  # Lambda, bytes sent between devices (one copy per reading device)
    comm_norm: float  # Lambda' = max(Lambda, U_c) / (U_c * n)
    comm_floored: bool  # True when Lambda = 0 and U_c stood in for it in comm_norm
    delta_w: float  # max part weight / average part weight
    entropy: float  # normalised Shannon entropy of part weights (1 = perfect)
    eta: float  # longest path / (|V| / n)
    cs: float  # concurrency score, lower is better
    part_weights: tuple[int, ...]  # scaled FLOP weight per device
    transfers: int  # cross-device (tensor, reading device) pairs
    device_pairs_both_ways: int  # device pairs that send to each other (back and forth)
    acyclic: bool  # True when the device-level flow graph has no cycle

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        out = asdict(self)
        out["part_weights"] = list(self.part_weights)
        return out


def evaluate_placement(
    graph: CostGraph,
    assignment: Mapping[int, int],
    n: int,
    *,
    hypergraph: Hypergraph | None = None,
    weights: ScoreWeights = DEFAULT_WEIGHTS,
    include_io: bool = True,
    eta_value: float | None = None,
    u_c: int | None = None,
) -> PlacementMetrics:
    """Every placement metric of ``assignment`` (vertex id -> device in 0..n-1).

    ``hypergraph`` and ``eta_value`` may be passed in when scoring many placements of one graph;
    ``u_c`` (bytes) replaces the shared reference unit of communication (one float32 image).
    """
    check_devices(n)
    check_placement(graph, assignment, n)
    hg = hypergraph or build_hypergraph(graph)
    parts = part_weights(hg, assignment, n)
    gammas = hg.connectivity(assignment)
    lam = sum(b * (g - 1) for b, g in zip(hg.edge_bytes, gammas, strict=True))  # Eq. 3
    u_c = u_c if u_c is not None else graph.reference_bytes
    if u_c < 1:
        raise ConfigError(f"u_c must be a positive number of bytes, got {u_c}")
    comm_norm = max(lam, u_c) / (u_c * n)
    dw = load_variability(parts)
    if eta_value is None:
        eta_value = eta(graph, n, include_io=include_io)
    flows = device_flows(graph, assignment)
    transfers = sum(g - 1 for g in gammas)
    both_ways = sum(1 for a, b in flows.edges if a < b and flows.has_edge(b, a))
    return PlacementMetrics(
        devices=n,
        comm_bytes=lam,
        comm_norm=comm_norm,
        comm_floored=lam == 0,
        delta_w=dw,
        entropy=balance_entropy(parts),
        eta=eta_value,
        cs=concurrency_score(dw, comm_norm, eta_value, weights),
        part_weights=tuple(parts),
        transfers=transfers,
        device_pairs_both_ways=both_ways,
        acyclic=nx.is_directed_acyclic_graph(flows),
    )
