"""One contract suite over every registered partitioner, plus each one's own promises."""

from __future__ import annotations

import networkx as nx
import pytest

import parawire
from conftest import small_spec
from parawire.analysis.costs import spec_costs
from parawire.analysis.graph import CostGraph, Vertex
from parawire.analysis.hypergraph import Hypergraph, build_hypergraph
from parawire.analysis.metrics import device_flows, evaluate_placement
from parawire.analysis.partitioners import (
    EPS_SWEEP,
    Partitioner,
    acyclic_refinement,
    create_partitioner,
    list_partitioners,
    partitioner_class,
    sweep_eps,
)
from parawire.analysis.partitioners.kahypar import (
    VCYCLES,
    _initializer,
    _solver_for,
    _solver_of,
    kahypar_partition,
)
from parawire.analysis.profiles import create_profile
from parawire.errors import ConfigError

PROFILE = create_profile("rpi4-ethernet")


@pytest.fixture(params=list_partitioners())
def partitioner(request: pytest.FixtureRequest) -> Partitioner:
    """Every registered partitioner, with default options."""
    return create_partitioner(request.param)


@pytest.fixture(scope="module", params=["dp", "chain", "lanes", "er"])
def graph(request: pytest.FixtureRequest) -> CostGraph:
    """Small cost graphs of several shapes."""
    return spec_costs(small_spec(request.param, seed=3))


# --- the contract ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3])
def test_every_vertex_gets_a_device_in_range(
    partitioner: Partitioner, graph: CostGraph, n: int
) -> None:
    placement = partitioner.partition(graph, n, profile=PROFILE, seed=0)
    assert set(placement.assignment) == {v.id for v in graph.vertices}
    assert all(0 <= d < n for d in placement.assignment.values())
    assert placement.devices == n
    assert placement.partitioner == partitioner.name


def test_one_device_puts_everything_on_device_zero(
    partitioner: Partitioner, graph: CostGraph
) -> None:
    placement = partitioner.partition(graph, 1, profile=PROFILE)
    assert set(placement.assignment.values()) == {0}


def test_same_inputs_same_placement(partitioner: Partitioner, graph: CostGraph) -> None:
    a = partitioner.partition(graph, 3, profile=PROFILE, seed=5, eps=0.1)
    b = partitioner.partition(graph, 3, profile=PROFILE, seed=5, eps=0.1)
    assert a.assignment == b.assignment
    assert a.to_dict() == b.to_dict()


@pytest.mark.parametrize("n", [0, -1])
def test_too_few_devices_is_a_config_error(partitioner: Partitioner, n: int) -> None:
    graph = spec_costs(small_spec("dp"))
    with pytest.raises(ConfigError, match="devices must be an integer >= 1"):
        partitioner.partition(graph, n, profile=PROFILE)


def test_more_devices_than_vertices_is_a_config_error(partitioner: Partitioner) -> None:
    graph = spec_costs(small_spec("chain"))
    with pytest.raises(ConfigError, match="exceeds"):
        partitioner.partition(graph, len(graph.vertices) + 1, profile=PROFILE)


def test_profile_requirement_is_enforced(partitioner: Partitioner) -> None:
    graph = spec_costs(small_spec("dp"))
    if partitioner.needs_profile:
        with pytest.raises(ConfigError, match="needs a device/link profile"):
            partitioner.partition(graph, 2)
    else:
        partitioner.partition(graph, 2)


def test_sweep_gives_one_option_per_eps_when_eps_matters(partitioner: Partitioner) -> None:
    graph = spec_costs(small_spec("dp", seed=1))
    options = sweep_eps(partitioner, graph, 3, eps_values=(0.03, 0.3), profile=PROFILE)
    assert len(options) == (2 if partitioner.uses_eps else 1)
    assert [o.placement.eps for o in options] == ([0.03, 0.3] if partitioner.uses_eps else [None])


# --- the registry ---------------------------------------------------------------------------


def test_registry_lists_the_documented_partitioners() -> None:
    assert {"kahypar", "metis", "groups", "contiguous", "heft", "single"} <= set(
        list_partitioners()
    )
    assert list_partitioners("k*") == ["kahypar"]


def test_unknown_partitioner_and_option_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown partitioner 'nope'; choose one of"):
        partitioner_class("nope")
    with pytest.raises(ConfigError, match="bad option"):
        create_partitioner("single", colour="red")
    with pytest.raises(ConfigError, match="unknown refine"):
        create_partitioner("kahypar", refine="sideways")


# --- kahypar --------------------------------------------------------------------------------


def test_kahypar_lambda_matches_mtkahypar_km1() -> None:
    graph = spec_costs(parawire.generate("dp", seed=2))
    placement = create_partitioner("kahypar").partition(graph, 4, eps=0.1)
    hg = build_hypergraph(graph)
    gammas = hg.connectivity(placement.assignment)
    ours = sum(w * (g - 1) for w, g in zip(hg.edge_weights, gammas, strict=True))
    assert ours == placement.info["solver_km1"]
    assert placement.info["balanced"]
    metrics = evaluate_placement(graph, placement.assignment, 4, hypergraph=hg)
    assert metrics.delta_w - 1 == pytest.approx(placement.info["imbalance"])
    assert metrics.delta_w <= 1.1 + 4 * max(hg.node_weights) / sum(hg.node_weights)


def test_kahypar_reports_an_impossible_balance() -> None:
    # one vertex carries 90% of the work: no 2-way split can keep within 3% of the average
    edges = ((0, 1), (1, 2), (0, 3), (3, 2))
    macs = {0: 1, 1: 900, 2: 1, 3: 100}
    vertices = tuple(Vertex(v, "x", m, 0, 64) for v, m in macs.items())
    graph = CostGraph(vertices=vertices, edges=edges).check()
    placement = create_partitioner("kahypar").partition(graph, 2, eps=0.03)
    assert placement.info["balanced"] is False
    assert placement.info["imbalance"] > 0.5


def test_kahypar_other_seed_is_accepted_and_deterministic() -> None:
    graph = spec_costs(parawire.generate("er", seed=0))
    part = create_partitioner("kahypar")
    first = part.partition(graph, 4, seed=7).assignment
    _solver_for.cache_clear()  # else the second call is answered from memory
    assert part.partition(graph, 4, seed=7).assignment == first


def test_kahypar_solves_each_hypergraph_content_once() -> None:
    # analyze makes a new cost graph per call: equal content must still find the same solver
    first, second = (build_hypergraph(spec_costs(parawire.generate("dp", seed=4))) for _ in "ab")
    assert first is not second
    assert _solver_of(first) is _solver_of(second)
    other = build_hypergraph(spec_costs(parawire.generate("dp", seed=5)))
    assert _solver_of(other) is not _solver_of(first)


def _fresh_mtkahypar_blocks(
    hg: Hypergraph, n: int, eps: float, seed: int, initial: list[int] | None
) -> tuple[int, ...]:
    """The oracle: Mt-KaHyPar called as documented, with a new context and hypergraph."""
    import mtkahypar

    context = _initializer().context_from_preset(mtkahypar.PresetType.DETERMINISTIC)
    context.set_partitioning_parameters(n, eps, mtkahypar.Objective.KM1)
    context.logging = False
    mtkahypar.set_seed(seed)
    hypergraph = _initializer().create_hypergraph(
        context,
        hg.num_vertices,
        hg.num_edges,
        [list(p) for p in hg.pins],
        list(hg.node_weights),
        list(hg.edge_weights),
    )
    if initial is None:
        result = hypergraph.partition(context)
    else:
        result = hypergraph.create_partitioned_hypergraph(context, n, initial)
        result.improve_partition(context, VCYCLES)
    return tuple(result.block_id(i) for i in range(hg.num_vertices))


@pytest.mark.parametrize("generator", ["dp", "lanes"])
def test_kahypar_reused_hypergraph_partitions_as_a_fresh_one(generator: str) -> None:
    # one Mt-KaHyPar hypergraph serves every n, eps and start, in the order analyze asks them
    graph = spec_costs(parawire.generate(generator, seed=5))
    hg = build_hypergraph(graph)
    asked = [
        (n, eps, seed, [i % n for i in range(hg.num_vertices)] if start else None)
        for seed in (0, 3)
        for n in (2, 3, 4, 8)
        for eps in EPS_SWEEP
        for start in (False, True)
    ]
    for n, eps, seed, initial in asked:
        solution = kahypar_partition(hg, n, seed=seed, eps=eps, initial=initial)
        assert solution.blocks == _fresh_mtkahypar_blocks(hg, n, eps, seed, initial)
        assert kahypar_partition(hg, n, seed=seed, eps=eps, initial=initial) is solution


def test_acyclic_refinement_makes_device_flow_one_way() -> None:
    for seed in range(5):
        graph = spec_costs(parawire.generate("er", seed=seed))
        placement = create_partitioner("kahypar").partition(graph, 4, eps=0.1)
        refined = acyclic_refinement(graph, placement.assignment)
        assert nx.is_directed_acyclic_graph(device_flows(graph, refined))
        via_option = create_partitioner("kahypar", refine="acyclic").partition(graph, 4, eps=0.1)
        assert via_option.assignment == refined


# --- the others -----------------------------------------------------------------------------


def test_groups_puts_each_lane_on_its_own_device() -> None:
    graph = spec_costs(small_spec("lanes"))  # 3 lanes of 4
    placement = create_partitioner("groups").partition(graph, 3)
    lanes = [range(1, 5), range(5, 9), range(9, 13)]
    devices = [{placement.assignment[v] for v in lane} for lane in lanes]
    assert all(len(d) == 1 for d in devices)
    assert len(set.union(*devices)) == 3
    dedicated = create_partitioner("groups", dedicated_merge=True).partition(graph, 4)
    on_merge = [v for v, d in dedicated.assignment.items() if d == 0]
    assert on_merge == [graph.source, graph.sink]


def test_groups_keeps_a_staged_chain_together() -> None:
    graph = spec_costs(parawire.generate("ws", seed=0, staging="fb"))
    placement = create_partitioner("groups").partition(graph, 4)
    assert placement.info["groups"] == 1  # FB stage boundaries merge everything into one group


def test_contiguous_chunks_follow_the_topological_order() -> None:
    graph = spec_costs(parawire.generate("dp", seed=0))
    placement = create_partitioner("contiguous").partition(graph, 4)
    devices = [placement.assignment[v] for v in graph.topological_order]
    assert devices == sorted(devices)
    assert set(devices) == {0, 1, 2, 3}
    assert evaluate_placement(graph, placement.assignment, 4).delta_w < 1.3


def test_heft_keeps_a_chain_on_one_device_over_a_slow_link() -> None:
    graph = spec_costs(parawire.generate("chain", seed=0))
    placement = create_partitioner("heft").partition(graph, 4, profile=create_profile("rpi4-wifi"))
    assert len(set(placement.assignment.values())) == 1


def test_metis_balances_within_tolerance() -> None:
    graph = spec_costs(parawire.generate("dp", seed=4))
    placement = create_partitioner("metis").partition(graph, 4, eps=0.1)
    assert evaluate_placement(graph, placement.assignment, 4).delta_w < 1.25


def test_kahypar_starts_can_be_chosen_and_one_is_needed() -> None:
    graph = spec_costs(parawire.generate("dp", seed=3))
    hg = build_hypergraph(graph)
    groups = create_partitioner("groups").partition(graph, 3).assignment
    want = kahypar_partition(hg, 3, seed=0, eps=0.1, initial=hg.blocks(groups))
    got = create_partitioner("kahypar", scratch=False).partition(graph, 3, eps=0.1)
    assert got.info["start"] == "groups"
    assert tuple(got.assignment[v] for v in hg.vertex_ids) == want.blocks
    only = create_partitioner("kahypar", seed_groups=False).partition(graph, 3, eps=0.1)
    assert only.info["start"] == "scratch"
    with pytest.raises(ConfigError, match="no start left"):
        create_partitioner("kahypar", scratch=False, seed_groups=False)
