"""One place for each concept: depth levels, critical path, placement check, parameter count,
model names, weights writer and atomic writes each live in one function (issue 9, item 13)."""

from __future__ import annotations

import re
from pathlib import Path

import networkx as nx
import pytest

import parawire
from parawire.analysis.costs import spec_costs
from parawire.analysis.metrics import depth_levels as graph_depth_levels
from parawire.analysis.metrics import t1_over_cp
from parawire.analysis.simulate import check_placement
from parawire.errors import ConfigError
from parawire.graphs.dag import critical_path_length, depth_levels

SRC = Path(parawire.__file__).parent


def _definitions(pattern: str) -> list[str]:
    """Source files (relative) whose text matches ``pattern``."""
    rx = re.compile(pattern, re.MULTILINE)
    return sorted(
        str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if rx.search(p.read_text("utf-8"))
    )


@pytest.mark.parametrize(
    ("pattern", "home"),
    [
        (r"^def upward_ranks\(", ["analysis/simulate.py"]),
        (r"^def (depth_levels|_levels)\(", ["analysis/metrics.py", "graphs/dag.py"]),
        (r"^def critical_path_length\(", ["graphs/dag.py"]),
        (r"^\s*def (check_placement|check_assignment|_check_placement)\(",
         ["analysis/simulate.py", "runtime/plan.py"]),
        (r"^def (count_params|count_parameters)\(", ["nn/model.py"]),
        (r"^def resolve_model\(", ["analysis/trace.py"]),
        (r"^def save_weights\(", ["weights.py"]),
        (r"os\.replace\(", ["_io.py"]),
    ],
)  # fmt: skip
def test_one_definition(pattern: str, home: list[str]) -> None:
    assert _definitions(pattern) == home


def test_metrics_and_plan_delegate() -> None:
    """The adapters named above hold no copy: they call the one implementation."""
    metrics = (SRC / "analysis/metrics.py").read_text()
    assert "return dag_depth_levels(graph.dag)" in metrics
    assert "check_placement(list(self.graph.vertex_ids)" in (SRC / "runtime/plan.py").read_text()


@pytest.mark.parametrize("seed", range(5))
def test_depth_levels_against_networkx(seed: int) -> None:
    spec = parawire.generate("dp", seed=seed, n=20)
    dag = spec.graph
    levels = depth_levels(dag)
    for v in dag:  # longest path from the input to v, by networkx on v's ancestors
        assert levels[v] == nx.dag_longest_path_length(dag.subgraph(nx.ancestors(dag, v) | {v}))
    graph = spec_costs(spec)
    assert graph_depth_levels(graph) == levels
    assert {d: sorted(vs) for d, vs in spec.levels().items()} == {
        d: sorted(v for v in dag if levels[v] == d) for d in set(levels.values())
    }


@pytest.mark.parametrize("seed", range(5))
def test_critical_path_against_networkx(seed: int) -> None:
    dag = parawire.generate("er", seed=seed, n=15).graph
    assert critical_path_length(dag, dict.fromkeys(dag, 1.0)) == nx.dag_longest_path_length(dag) + 1
    # vertex weights as the weights of each vertex's out-edges (plus the sink's own) in networkx
    cost = {v: float(1 + (v * 7) % 5) for v in dag}
    edged = nx.DiGraph()
    edged.add_weighted_edges_from((u, v, cost[u]) for u, v in dag.edges)
    sink = next(v for v in dag if dag.out_degree(v) == 0)
    expected = nx.dag_longest_path_length(edged) + cost[sink]
    assert critical_path_length(dag, cost) == pytest.approx(expected)


def test_t1_over_cp_of_a_chain_is_one() -> None:
    assert t1_over_cp(spec_costs(parawire.generate("chain", seed=0, n=8))) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("placement", "devices", "match"),
    [
        ({0: 0, 1: 0}, None, "vertex 2 has no rank"),
        ({0: 0, 1: 0, 2: 0, 9: 0}, None, "names vertex 9"),
        ({0: 0, 1: 0, 2: True}, None, "integers >= 0"),
        ({0: 0, 1: 3, 2: 0}, 2, "outside 0..1: only 2 ranks"),
    ],
)
def test_check_placement_messages(placement, devices, match) -> None:
    with pytest.raises(ConfigError, match=match):
        check_placement([0, 1, 2], placement, devices, unit="rank")
