"""Statistical and structural properties of the graph generators and DAG rules."""

from __future__ import annotations

import subprocess
import sys

import networkx as nx
import numpy as np
import pytest

import parawire
from parawire.errors import ConfigError
from parawire.graphs import create_generator, dfs_order, list_generators, orient
from parawire.graphs.dp import ring_distance

SEEDS = range(200)


def test_registry_lists_all_six() -> None:
    assert list_generators() == ["ba", "chain", "dp", "er", "lanes", "ws"]


@pytest.mark.parametrize("name", list_generators())
def test_contract_seeded_simple_graph_on_n_vertices(name: str) -> None:
    gen = create_generator(name, n=20)
    a, b = gen.sample(7), gen.sample(7)
    assert sorted(a.nodes) == list(range(20))
    assert nx.utils.graphs_equal(a, b)
    assert not any(u == v for u, v in a.edges)
    if name not in ("chain", "lanes"):
        assert any(not nx.utils.graphs_equal(a, gen.sample(s)) for s in range(8, 12))


def test_er_density_matches_p() -> None:
    gen = create_generator("er", n=40, p=0.2)
    density = np.mean([nx.density(gen.sample(s)) for s in SEEDS])
    assert abs(density - 0.2) < 0.01  # sd of the mean ~0.0006


def test_ba_degrees_at_least_m_after_initial_star() -> None:
    m = 5
    gen = create_generator("ba", n=40, m=m)
    for s in range(50):
        g = gen.sample(s)
        # networkx seeds BA with a star on m+1 vertices; every later vertex brings m edges
        assert all(g.degree(v) >= m for v in range(m + 1, 40))


def test_ws_ring_lattice_degree_k_before_rewiring() -> None:
    g = create_generator("ws", n=40, k=4, p=0.0).sample(0)
    assert all(d == 4 for _, d in g.degree)
    assert all(ring_distance(u, v, 40) <= 2 for u, v in g.edges)


def test_dp_edge_frequency_follows_eq1() -> None:
    n, alpha, beta, p = 40, 1.0, 1.0, 0.5
    gen = create_generator("dp", n=n, alpha=alpha, beta=beta, p=p)
    counts = np.zeros(n // 2 + 1)
    for s in range(500):
        for u, v in gen.sample(s).edges:
            counts[ring_distance(u, v, n)] += 1
    pairs = np.array([0] + [n if d < n // 2 else n // 2 for d in range(1, n // 2 + 1)])
    for d in range(1, 6):
        expected = min(1.0, alpha * p ** (beta * d))
        observed = counts[d] / (pairs[d] * 500)
        sigma = np.sqrt(expected * (1 - expected) / (pairs[d] * 500))
        assert abs(observed - expected) < 4 * sigma + 1e-9, (d, observed, expected)


def test_dp_defaults_break_ring_into_clusters() -> None:
    gen = create_generator("dp")
    comps = [nx.number_connected_components(gen.sample(s)) for s in SEEDS]
    assert np.mean(comps) > 1.5


def test_dp_probability_is_capped_at_one() -> None:
    gen = create_generator("dp", alpha=10.0, p=0.9)
    assert gen.edge_probability(1) == 1.0


def test_dfs_orientation_on_hand_made_graph() -> None:
    # 0-3, 0-1, 1-2, 2-3, 3-4 ; DFS from 0: 0, 1, 2, 3, 4 (smaller ids first)
    g = nx.Graph([(0, 3), (0, 1), (1, 2), (2, 3), (3, 4), (5, 6)])
    assert dfs_order(g) == [0, 1, 2, 3, 4, 5, 6]
    assert sorted(orient(g, "dfs").edges) == [(0, 1), (0, 3), (1, 2), (2, 3), (3, 4), (5, 6)]


def test_dfs_orientation_differs_from_index_rule() -> None:
    # 0-2, 2-1: DFS visits 0, 2, 1, so 2 -> 1; the index rule gives 1 -> 2
    g = nx.Graph([(0, 2), (2, 1)])
    assert sorted(orient(g, "dfs").edges) == [(0, 2), (2, 1)]
    assert sorted(orient(g, "index").edges) == [(0, 2), (1, 2)]


@pytest.mark.parametrize("name", list_generators())
@pytest.mark.parametrize("orientation", ["dfs", "index"])
def test_generated_dags_have_single_input_output_and_full_paths(
    name: str, orientation: str
) -> None:
    for seed in range(10):
        spec = parawire.generate(name, seed=seed, orientation=orientation, n=40)
        g = spec.graph
        assert nx.is_directed_acyclic_graph(g)
        assert [v for v in g if g.in_degree(v) == 0] == [spec.input_node]
        assert [v for v in g if g.out_degree(v) == 0] == [spec.output_node]
        on_path = nx.descendants(g, spec.input_node) & nx.ancestors(g, spec.output_node)
        assert on_path | {spec.input_node, spec.output_node} == set(g.nodes)


def test_generation_is_deterministic_across_processes() -> None:
    names = ("er", "ba", "ws", "dp")
    code = (
        f"import parawire\nfor g in {names!r}: print(parawire.generate(g, seed=11).to_json(None))"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": str(i), "PATH": ""},
        ).stdout
        for i in (1, 2)
    }
    assert len(outs) == 1
    expected = "".join(parawire.generate(g, seed=11).to_json(None) + "\n" for g in names)
    assert outs.pop() == expected


def test_different_seeds_give_different_specs() -> None:
    assert parawire.generate("er", seed=1).digest() != parawire.generate("er", seed=2).digest()


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("er", {"p": 1.5}),
        ("ba", {"m": 0}),
        ("ws", {"k": 3}),
        ("dp", {"alpha": -1}),
        ("lanes", {"n": 10, "width": 3}),
        ("er", {"n": 0}),
        ("er", {"q": 1}),
        ("ba", {"m": "2.5"}),
    ],
)
def test_bad_parameters_raise_config_error(name: str, params: dict) -> None:
    with pytest.raises(ConfigError, match=name):
        create_generator(name, **params)


def test_unknown_generator() -> None:
    with pytest.raises(ConfigError, match="unknown generator 'xx'"):
        create_generator("xx")
