"""Property tests: every generator x staging x seed x size gives a valid, buildable spec."""

from __future__ import annotations

import networkx as nx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parawire
from parawire.analysis import spec_costs
from parawire.arch import ArchSpec
from parawire.nn import build_model, count_parameters

specs = st.builds(
    lambda gen, staging, seed, n, orientation: parawire.generate(
        gen,
        seed=seed,
        staging=parawire.StagingConfig(staging, channels=8, c_max=64, fb_stages=2),
        orientation=orientation,
        n=n if gen != "lanes" else 4 * (n // 2),
        **({"width": 2} if gen == "lanes" else {"m": 2} if gen == "ba" else {}),
    ),
    gen=st.sampled_from(["er", "ba", "ws", "dp", "chain", "lanes"]),
    staging=st.sampled_from(["probabilistic", "greedy", "uniform", "fb"]),
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(12, 30),
    orientation=st.sampled_from(["dfs", "index"]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs)
def test_generated_spec_is_valid_acyclic_and_round_trips(spec: ArchSpec) -> None:
    g = spec.graph
    assert nx.is_directed_acyclic_graph(g)
    assert [v for v in g if g.in_degree(v) == 0] == [spec.input_node]
    assert [v for v in g if g.out_degree(v) == 0] == [spec.output_node]
    assert ArchSpec.from_json(spec.to_json()) == spec
    cfg = spec.provenance.staging
    for node in spec.nodes:
        assert node.channels <= 2 * cfg["c_max"]
        assert min(spec.spatial(node.id)) >= min(cfg["min_size"], spec.stem_size[0])
        if cfg["name"] == "uniform":
            assert node.channels == cfg["channels"] and node.scale == 1


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs)
def test_cost_model_parameters_equal_the_module(spec: ArchSpec) -> None:
    assert spec_costs(spec).total_params == count_parameters(build_model(spec))
