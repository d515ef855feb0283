"""The EDGE'23 metrics on graphs built by hand (Figure 5) and a CS worked out by hand."""

from __future__ import annotations

import itertools
import math
import random

import networkx as nx
import pytest

from parawire.analysis.graph import CostGraph, Vertex
from parawire.analysis.hypergraph import WEIGHT_RESOLUTION, build_hypergraph, scale_weights
from parawire.analysis.metrics import (
    ScoreWeights,
    balance_entropy,
    communication_bytes,
    depth_histogram,
    device_flows,
    eta,
    evaluate_placement,
    load_variability,
    longest_path_vertices,
    t1_over_cp,
)
from parawire.errors import ConfigError


def hand_graph(
    edges: list[tuple[int, int]],
    macs: dict[int, int] | None = None,
    out_bytes: dict[int, int] | None = None,
) -> CostGraph:
    """A checked cost graph from edges; every vertex 1,000 MACs and 100 output bytes by default."""
    ids = sorted({v for e in edges for v in e})
    macs = macs or {}
    out_bytes = out_bytes or {}
    vertices = tuple(
        Vertex(id=v, op="x", macs=macs.get(v, 1000), params=0, out_bytes=out_bytes.get(v, 100))
        for v in ids
    )
    return CostGraph(vertices=vertices, edges=tuple(edges), name="hand").check()


def lanes_graph(lengths: list[int]) -> CostGraph:
    """Input vertex 0 -> independent chains of the given lengths -> one output vertex."""
    edges, next_id = [], 1
    ends = []
    for length in lengths:
        chain = list(range(next_id, next_id + length))
        edges.append((0, chain[0]))
        edges += list(itertools.pairwise(chain))
        ends.append(chain[-1])
        next_id += length
    edges += [(e, next_id) for e in ends]
    return hand_graph(edges)


def chain_graph(n: int) -> CostGraph:
    """n vertices in one line."""
    return hand_graph([(i, i + 1) for i in range(n - 1)])


# EDGE'23 Figure 5 (n = 3): (graph, |V|, longest path, eta)
FIGURE5 = [
    # 9 vertices: in -> 4-chain -> out (path 6) beside in -> 3-chain -> out
    (lambda: lanes_graph([4, 3]), 9, 6, 2.0),
    # 15 vertices: four lanes of 3 and one of 1 (path 5)
    (lambda: lanes_graph([3, 3, 3, 3, 1]), 15, 5, 1.0),
    # 15 vertices: lanes of 5, 5, 3 (path 7)
    (lambda: lanes_graph([5, 5, 3]), 15, 7, 1.4),
    # a chain of 7
    (lambda: chain_graph(7), 7, 7, 3.0),
]


@pytest.mark.parametrize(("make", "size", "path", "expected"), FIGURE5)
def test_eta_on_figure5_examples(make, size: int, path: int, expected: float) -> None:
    graph = make()
    assert len(graph.vertices) == size
    assert longest_path_vertices(graph) == path
    assert eta(graph, 3) == pytest.approx(expected, abs=1e-12)


def test_eta_without_io_vertices_keeps_chain_at_n() -> None:
    assert eta(chain_graph(7), 3, include_io=False) == pytest.approx(3.0)
    assert eta(lanes_graph([4, 3]), 3, include_io=False) == pytest.approx(4 * 3 / 7)


def test_eta_rejects_bad_device_counts() -> None:
    with pytest.raises(ConfigError, match="devices"):
        eta(chain_graph(3), 0)


def diamond() -> CostGraph:
    """0 -> {1, 2} -> 3; only 1 and 2 compute; outputs of 400, 200 and 100 bytes."""
    return hand_graph(
        [(0, 1), (0, 2), (1, 3), (2, 3)],
        macs={0: 0, 1: 100, 2: 100, 3: 0},
        out_bytes={0: 400, 1: 200, 2: 100, 3: 50},
    )


def test_concurrency_score_by_hand() -> None:
    graph = diamond()
    metrics = evaluate_placement(graph, {0: 0, 1: 0, 2: 1, 3: 0}, 2, u_c=100)
    # hyperedges: {0,1,2} 400 B cut in 2 parts, {1,3} 200 B uncut, {2,3} 100 B cut in 2 parts
    assert metrics.comm_bytes == 400 + 100
    assert metrics.comm_norm == pytest.approx(500 / (100 * 2))  # U_c = 100 B
    half = WEIGHT_RESOLUTION // 2  # vertices 1 and 2 each hold half the MACs; 0 and 3 weigh 1
    assert metrics.part_weights == (half + 2, half)
    delta_w = (half + 2) * 2 / (2 * half + 2)
    assert metrics.delta_w == pytest.approx(delta_w)
    assert metrics.eta == pytest.approx(3 * 2 / 4)
    expected = (delta_w * 2.5**1.5 * 1.5) ** (1 / 3)
    assert metrics.cs == pytest.approx(expected)
    assert metrics.cs == pytest.approx(1.80995, abs=1e-4)
    assert not metrics.comm_floored


def test_score_exponents_are_configurable() -> None:
    graph = diamond()
    metrics = evaluate_placement(
        graph, {0: 0, 1: 0, 2: 1, 3: 0}, 2, weights=ScoreWeights(1, 1, 1), u_c=100
    )
    assert metrics.cs == pytest.approx((metrics.delta_w * 2.5 * 1.5) ** (1 / 3))


def test_no_cut_floors_lambda_at_smallest_transfer() -> None:
    graph = diamond()
    metrics = evaluate_placement(graph, dict.fromkeys(range(4), 0), 2)
    assert metrics.comm_bytes == 0
    assert metrics.comm_floored
    assert metrics.comm_norm == pytest.approx(1 / 2)
    assert metrics.delta_w == pytest.approx(2.0)
    assert metrics.cs > 0
    assert metrics.entropy == 0.0


def test_entropy_and_load_variability() -> None:
    assert balance_entropy([5, 5, 5, 5]) == pytest.approx(1.0)
    assert balance_entropy([20, 0, 0, 0]) == 0.0
    assert 0 < balance_entropy([3, 1]) < 1
    assert balance_entropy([7]) == 1.0
    assert load_variability([5, 5, 5, 5]) == pytest.approx(1.0)
    assert load_variability([8, 4, 4, 4]) == pytest.approx(8 / 5)


def test_depth_histogram_and_t1_over_cp() -> None:
    assert depth_histogram(diamond()) == [1, 2, 1]
    assert depth_histogram(chain_graph(5)) == [1] * 5
    assert depth_histogram(lanes_graph([2, 1])) == [1, 2, 1, 1]
    assert t1_over_cp(diamond()) == pytest.approx(2.0)  # two equal branches side by side
    assert t1_over_cp(chain_graph(6)) == pytest.approx(1.0)


def test_hypergraph_weights_are_positive_int32_and_proportional() -> None:
    graph = diamond()
    hg = build_hypergraph(graph)
    assert hg.node_weights[0] == 1 and hg.node_weights[3] == 1  # zero MACs still weigh 1
    assert hg.node_weights[1] == hg.node_weights[2]
    assert sum(hg.node_weights) < 2**31
    assert hg.pins == ((0, 1, 2), (1, 3), (2, 3))  # producer first, one per consumed output
    assert hg.edge_bytes == (400, 200, 100)
    assert hg.edge_weights[0] == pytest.approx(4 * hg.edge_weights[2], rel=1e-4)
    big = scale_weights([10**15, 3 * 10**15, 0])
    assert big[1] == pytest.approx(3 * big[0], rel=1e-5) and big[2] == 1
    assert sum(big) < 2**31


def test_communication_counts_each_reading_device_once() -> None:
    graph = hand_graph([(0, 1), (0, 2), (0, 3), (1, 4), (2, 4), (3, 4)])
    hg = build_hypergraph(graph)
    # vertex 0's output read on devices 1 and 2 -> sent twice, not three times
    placement = {0: 0, 1: 1, 2: 2, 3: 2, 4: 0}
    assert communication_bytes(hg, placement) == 100 * 2 + 100 + 100 + 100
    assert math.isclose(evaluate_placement(graph, placement, 3).comm_norm, 500 / 300)


def test_back_and_forth_flow_is_reported() -> None:
    graph = chain_graph(4)
    metrics = evaluate_placement(graph, {0: 0, 1: 1, 2: 0, 3: 1}, 2)
    assert metrics.device_pairs_both_ways == 1
    assert not metrics.acyclic
    assert evaluate_placement(graph, {0: 0, 1: 0, 2: 1, 3: 1}, 2).acyclic


def test_bad_placement_is_rejected() -> None:
    with pytest.raises(ConfigError, match="no device"):
        evaluate_placement(chain_graph(3), {0: 0, 1: 0}, 2)
    with pytest.raises(ConfigError, match="outside"):
        evaluate_placement(chain_graph(3), {0: 0, 1: 0, 2: 5}, 2)


@pytest.mark.parametrize("seed", range(4))
def test_device_flows_has_an_edge_per_device_pair_that_sends(seed: int) -> None:
    edges = [(0, 1), (0, 2), (1, 3), (2, 3), (1, 4), (4, 3), (2, 4)]
    graph = hand_graph(edges)
    rng = random.Random(seed)
    assignment = {v: rng.randrange(3) for v in range(5)}
    want = nx.DiGraph()  # one add_edge per cut edge, as device_flows used to build it
    want.add_nodes_from(set(assignment.values()))
    for a, b in edges:
        if assignment[a] != assignment[b]:
            want.add_edge(assignment[a], assignment[b])
    got = device_flows(graph, assignment)
    assert list(got.nodes) == list(want.nodes) and list(got.edges) == list(want.edges)
    both = sum(1 for a, b in got.edges if a < b and got.has_edge(b, a))
    metrics = evaluate_placement(graph, assignment, 3)
    assert metrics.device_pairs_both_ways == both
    assert metrics.acyclic == nx.is_directed_acyclic_graph(want)
