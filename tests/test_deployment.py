"""Deployment choices: wire dtypes, image scatter, the latency selection, the shared U_c."""

from __future__ import annotations

import dataclasses
import math
import random

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

import parawire
from conftest import GENERATORS, small_spec
from parawire.analysis.api import analyze
from parawire.analysis.costs import SCATTERS, WIRE_DTYPES, deploy, spec_costs, wire_bytes
from parawire.analysis.deployment import REFINE_PASSES
from parawire.analysis.graph import CostGraph, Vertex
from parawire.analysis.metrics import evaluate_placement
from parawire.analysis.profiles import (
    DeviceProfile,
    LinkProfile,
    Profile,
    create_profile,
    list_profiles,
)
from parawire.analysis.simulate import simulate
from parawire.errors import ConfigError
from parawire.runtime.plan import seeded_state_dict
from parawire.runtime.wire import (
    ERROR_BOUND,
    INT8_FLOOR,
    emulate_wire,
    roundtrip,
    to_wire,
    wire_buffer,
)
from reference_simulate import simulate as reference_simulate

# 1 MAC = 2 FLOPs at 2 FLOP/s: a vertex of m MACs takes m seconds; a tensor of b bytes takes
# 1 + b / 10 seconds to move.
UNIT = Profile("unit", DeviceProfile("unit", 2.0), LinkProfile("unit", 10.0, 1.0))

# Measured worst logits error relative to max |logit| (every generator and merge mode, random
# weights, 3 ranks round robin): float16 1.0e-4, bfloat16 7.3e-4, int8 2.1e-3. The bounds the
# suite holds them to, with margin:
LOGIT_BOUND = {"float32": 0.0, "float16": 1e-3, "bfloat16": 1e-2, "int8": 2e-2}


# --- the wire codec ------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False, width=32),
        min_size=1,
        max_size=64,
    ),
    dtype=st.sampled_from(WIRE_DTYPES),
)
@example(values=[2.0**-149], dtype="int8")  # the scale underflows to zero
@example(values=[3 * 2.0**-140, -(2.0**-135)], dtype="int8")  # a subnormal scale
@example(values=[1e-38, 2e-40], dtype="int8")
def test_roundtrip_error_is_within_the_documented_bound(values: list[float], dtype: str) -> None:
    x = torch.tensor(values, dtype=torch.float32).reshape(1, -1, 1, 1)
    peak = float(x.abs().max())
    error = float((roundtrip(x, dtype) - x).abs().max())
    # float16 / bfloat16 round relative to each element; below the normal range an absolute
    # floor of one subnormal step applies; int8 has a floor when its scale is subnormal
    floor = {"float16": 2.0**-24, "bfloat16": 2.0**-133, "int8": INT8_FLOOR}.get(dtype, 0.0)
    assert error <= ERROR_BOUND[dtype] * peak + floor


@pytest.mark.parametrize("dtype", WIRE_DTYPES)
@pytest.mark.parametrize("shape", [(1, 8, 4, 4), (2, 3, 5, 7), (1, 13, 1, 1)])
def test_message_bytes_are_the_cost_models(dtype: str, shape: tuple[int, ...]) -> None:
    x = torch.randn(shape)
    message = to_wire(x, dtype)
    nbytes = message.numel() * message.element_size()
    assert nbytes == wire_bytes(math.prod(shape), dtype)
    buffer = wire_buffer(shape, dtype)
    assert buffer.shape == message.shape and buffer.dtype == message.dtype


def test_int8_of_zeros_and_float32_are_exact() -> None:
    zeros = torch.zeros(1, 4, 2, 2)
    assert torch.equal(roundtrip(zeros, "int8"), zeros)
    x = torch.randn(1, 4, 3, 3)
    assert torch.equal(roundtrip(x, "float32"), x)


def _model(spec: parawire.ArchSpec) -> torch.nn.Module:
    model = parawire.build_model(spec)
    model.load_state_dict(seeded_state_dict(spec, 0))
    return model.eval()


@pytest.mark.parametrize("merge", ["maps", "pooled"])
@pytest.mark.parametrize("generator", GENERATORS)
def test_wire_dtypes_stay_within_their_logit_bound(generator: str, merge: str) -> None:
    spec = small_spec(generator, seed=1, merge=merge)
    model = _model(spec)
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    place = {v: i % 3 for i, v in enumerate(spec.topological_order)}
    with torch.inference_mode():
        reference = model(x)
        peak = float(reference.abs().max())
        for dtype in WIRE_DTYPES:
            for scatter in SCATTERS:
                got = emulate_wire(model, x, place, wire_dtype=dtype, scatter=scatter)
                error = float((got - reference).abs().max())
                assert error <= LOGIT_BOUND[dtype] * peak, (dtype, scatter, error / peak)


def test_emulation_sends_what_the_placement_cuts() -> None:
    spec = small_spec("dp", seed=2)
    model = _model(spec)
    x = torch.randn(1, 3, 32, 32)
    with torch.inference_mode():
        one_rank = emulate_wire(model, x, dict.fromkeys(spec.topological_order, 0),
                                wire_dtype="int8", scatter="image")  # fmt: skip
        assert torch.equal(one_rank, model(x))  # nothing crosses: nothing is quantised
        split = {v: i % 2 for i, v in enumerate(spec.topological_order)}
        assert not torch.equal(
            emulate_wire(model, x, split, wire_dtype="int8", scatter="image"), model(x)
        )


# --- cost graph, hypergraph, simulation with image scatter -------------------------------------


def fork() -> CostGraph:
    """0 -> {1, 2} -> 3; the image is 20 bytes, the source's output 100."""
    vertices = (
        Vertex(0, "input", 1, 0, 100),
        Vertex(1, "x", 4, 0, 10),
        Vertex(2, "x", 4, 0, 10),
        Vertex(3, "x", 1, 0, 5),
    )
    edges = ((0, 1), (0, 2), (1, 3), (2, 3))
    return CostGraph(vertices, edges, input_shape=(1, 5), input_bytes=20)


def test_stem_scatter_sends_the_stem_output() -> None:
    s = simulate(fork(), {0: 0, 1: 0, 2: 1, 3: 0}, UNIT)
    # 0 runs [0, 1]; its 100 B reach device 1 at 1 + 11 = 12; 2 runs [12, 16]; its 10 B arrive
    # at 16 + 2 = 18; 3 runs [18, 19]
    assert s.makespan_s == pytest.approx(19.0)
    assert s.bytes_moved == 110 and s.transfers == 2


def test_image_scatter_replicates_the_source() -> None:
    graph = dataclasses.replace(fork(), replicate_source=True)
    s = simulate(graph, {0: 0, 1: 0, 2: 1, 3: 0}, UNIT)
    # the 20 B image reaches device 1 at 0 + 3 = 3; its own copy of 0 runs [3, 4]; 2 [4, 8];
    # 10 B back at 10; 3 runs [10, 11]
    assert s.makespan_s == pytest.approx(11.0)
    assert s.bytes_moved == 30 and s.transfers == 2
    assert sum(s.busy_s) == pytest.approx(1 + 1 + 4 + 4 + 1)  # the stem twice
    image = [e for e in s.timeline if e.kind == "transfer" and e.vertex == 0]
    assert [(e.start, e.end, e.nbytes) for e in image] == [(0.0, 3.0, 20)]


def test_the_logits_travel_back_to_the_image_holder() -> None:
    s = simulate(fork(), {0: 0, 1: 1, 2: 1, 3: 1}, UNIT)
    # 0 [0, 1]; 100 B at 12; 1 and 2 on device 1 [12, 20]; 3 [20, 21]; 5 B back: 21 + 1.5
    assert s.makespan_s == pytest.approx(22.5)


def test_hypergraph_and_score_charge_the_image() -> None:
    graph = dataclasses.replace(fork(), replicate_source=True)
    metrics = evaluate_placement(graph, {0: 0, 1: 0, 2: 1, 3: 0}, 2)
    assert metrics.comm_bytes == 20 + 10  # the image once, vertex 2's output once
    stem = evaluate_placement(fork(), {0: 0, 1: 0, 2: 1, 3: 0}, 2)
    assert stem.comm_bytes == 100 + 10


@pytest.mark.parametrize("dtype", WIRE_DTYPES)
def test_spec_costs_in_each_wire_dtype_agree_with_deploy(dtype: str) -> None:
    spec = small_spec("er", seed=4, merge="pooled")
    direct = spec_costs(spec, wire_dtype=dtype, scatter="stem")
    converted = deploy(spec_costs(spec), wire_dtype=dtype, scatter="stem")
    assert direct == converted
    assert direct.image_bytes == wire_bytes(3 * 32 * 32, dtype)
    for v in direct.vertices:
        assert v.out_bytes == wire_bytes(math.prod(v.out_shape), dtype)


def test_image_scatter_moves_less_than_stem_scatter() -> None:
    spec = parawire.generate("dp", seed=5)
    stem = analyze(spec, 4, "rpi4-wifi", select="makespan", scatter="stem")
    image = analyze(spec, 4, "rpi4-wifi", select="makespan", scatter="image")
    assert image.makespan_s < stem.makespan_s


# --- choosing the deployment --------------------------------------------------------------


@pytest.mark.parametrize("profile", list_profiles())
@pytest.mark.parametrize("generator", [*GENERATORS, "fb"])
def test_latency_choice_is_never_slower_than_one_device(generator: str, profile: str) -> None:
    name, staging = ("ws", "fb") if generator == "fb" else (generator, "probabilistic")
    spec = small_spec(name, staging, seed=2)
    result = analyze(spec, 4, profile)
    assert result.speedup >= 1.0 - 1e-12
    assert 1 <= result.devices_used <= 4
    low, high = result.verdict.speedup_range
    # a split is recommended only when surely faster; one device is exactly one device
    assert low > 1.0 if result.devices_used > 1 else low == high == pytest.approx(1.0)
    # with the profile's figures taken as exact, never slower than the paper's choice
    exact = dataclasses.replace(
        create_profile(profile), compute_range=(1.0, 1.0), link_range=(1.0, 1.0), spread=1.0
    )
    taken = analyze(spec, 4, exact)
    assert taken.makespan_s <= taken.paper["makespan_s"] + 1e-12
    assert result.makespan_s >= taken.makespan_s - 1e-12


def test_chain_on_wifi_stays_on_one_device_and_says_so() -> None:
    result = analyze(parawire.generate("chain", seed=0), 4, "rpi4-wifi")
    assert result.devices_used == 1 and result.speedup == pytest.approx(1.0)
    assert "best: 1 of 4 devices" in result.verdict.text
    assert result.verdict.bound == "link-bound"


def test_lanes_on_a_free_link_use_every_device() -> None:
    spec = parawire.generate("lanes", seed=0, staging="uniform", n=40, width=4)
    result = analyze(spec, 4, "ideal")
    assert result.devices_used == 4 and result.speedup > 3.0
    assert "best: 4 of 4 devices" in result.verdict.text


def test_break_even_bandwidth_is_where_the_split_matches_one_device() -> None:
    spec = parawire.generate("dp", seed=5, merge="pooled")
    result = analyze(spec, 4, "rpi4-wifi", scatter="image")
    even = result.verdict.break_even_bandwidth
    assert even is not None and 0 < even < 5e6  # splitting pays on this 5 MB/s link
    assert "break-even bandwidth" in result.verdict.text


def test_cs_selection_is_the_papers_at_exactly_k() -> None:
    spec = parawire.generate("ws", seed=1, staging="fb")
    result = analyze(spec, 4, "rpi4-ethernet", select="cs")
    assert result.partitioner == "kahypar" and result.select == "cs"
    assert len(result.options) == 4  # the eps sweep, all at k = 4
    usable = [o for o in result.options if not o["near_idle"]]
    assert usable, "the default sweep keeps an option without a near-idle unit"
    assert result.cs == pytest.approx(min(o["cs"] for o in usable), abs=1e-3)


def test_bad_choices_are_one_line_errors() -> None:
    spec = small_spec("dp")
    for call, words in [
        (lambda: analyze(spec, 2, select="fastest"), "unknown select"),
        (lambda: analyze(spec, 2, wire_dtype="int4"), "unknown wire dtype"),
        (lambda: analyze(spec, 2, scatter="pixels"), "unknown scatter"),
        (lambda: analyze(spec, 2, effort="quick"), "unknown effort"),
    ]:
        with pytest.raises(ConfigError, match=words) as info:
            call()
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("select", ["latency", "cs"])
def test_fast_effort_drops_only_kahypars_from_scratch_start(monkeypatch, select: str) -> None:
    from parawire.analysis.partitioners import kahypar

    starts: list[str] = []
    solver = kahypar.kahypar_partition

    def counted(*args, initial=None, **kwargs):
        starts.append("scratch" if initial is None else "groups")
        return solver(*args, initial=initial, **kwargs)

    monkeypatch.setattr(kahypar, "kahypar_partition", counted)
    spec = small_spec("dp", seed=4)
    full = analyze(spec, 4, "rpi4-wifi", select=select)
    assert full.effort == "full" and "scratch" in starts and "groups" in starts
    starts.clear()
    fast = analyze(spec, 4, "rpi4-wifi", select=select, effort="fast")
    assert fast.effort == "fast" and fast.to_dict()["effort"] == "fast"
    assert "scratch" not in starts and "groups" in starts  # every other start is kept
    assert fast.paper["partitioner"] == "kahypar" and fast.paper["devices_used"] >= 1
    if select == "latency":  # still never slower (simulated) than one device
        assert fast.speedup >= 1.0 - 1e-12 and len({*fast.placement}) == len(full.placement)
        from parawire.runtime.planner import make_plan

        assert make_plan(spec, 2, select=select, effort="fast").info["effort"] == "fast"


# --- a fair concurrency score ---------------------------------------------------------------


def test_cs_uses_one_reference_unit_of_communication() -> None:
    for generator, staging in [("dp", "probabilistic"), ("ws", "fb"), ("er", "probabilistic")]:
        spec = parawire.generate(generator, seed=0, staging=staging)
        graph = spec_costs(spec)
        assert graph.reference_bytes == 4 * 3 * 32 * 32  # one float32 input image
        result = analyze(spec, 4, "rpi4-ethernet", select="cs")
        assert result.comm_norm == pytest.approx(
            max(result.comm_bytes, graph.reference_bytes) / (graph.reference_bytes * 4)
        )


def _relabelled(graph: CostGraph, seed: int) -> tuple[CostGraph, dict[int, int]]:
    """The same graph with vertex ids permuted and vertices and edges listed in another order."""
    ids = [v.id for v in graph.vertices]
    new_ids = random.Random(seed).sample(range(1000, 1000 + 3 * len(ids)), len(ids))
    rename = dict(zip(ids, new_ids, strict=True))
    vertices = [dataclasses.replace(v, id=rename[v.id]) for v in graph.vertices]
    random.Random(seed + 1).shuffle(vertices)
    edges = [(rename[a], rename[b]) for a, b in graph.edges]
    random.Random(seed + 2).shuffle(edges)
    return dataclasses.replace(graph, vertices=tuple(vertices), edges=tuple(edges)), rename


@pytest.mark.parametrize("generator", ["dp", "er", "lanes"])
def test_cs_is_unchanged_by_renaming_or_reordering_vertices(generator: str) -> None:
    spec = small_spec(generator, seed=3)
    graph = spec_costs(spec)
    placement = {v: i % 3 for i, v in enumerate(spec.topological_order)}
    original = evaluate_placement(graph, placement, 3)
    for seed in range(3):
        other, rename = _relabelled(graph, seed)
        moved = evaluate_placement(other, {rename[v]: d for v, d in placement.items()}, 3)
        assert moved.cs == pytest.approx(original.cs, rel=1e-12)
        assert moved.comm_bytes == original.comm_bytes
        assert moved.eta == pytest.approx(original.eta)


def test_refinement_only_keeps_faster_placements() -> None:
    from parawire.analysis.deployment import candidates, fastest, refine
    from parawire.analysis.partitioners import list_partitioners
    from parawire.analysis.profiles import create_profile

    profile = create_profile("rpi4-wifi")
    spec = parawire.generate("dp", seed=5, merge="pooled")
    graph = spec_costs(spec, wire_dtype="float16")
    start = fastest(candidates(graph, 4, profile, list_partitioners()))
    better = refine(graph, start, profile, 4)
    assert better.schedule.makespan_s < start.schedule.makespan_s  # measured: 1.73x -> 1.94x
    assert better.placement.partitioner == f"{start.placement.partitioner}+moves"
    again = refine(graph, better, profile, 4)
    assert again.schedule.makespan_s <= better.schedule.makespan_s
    assert simulate(graph, better.placement.assignment, profile, 4).makespan_s == pytest.approx(
        better.schedule.makespan_s
    )


def _refine_every_move(graph, assignment, profile, devices):
    """The refinement as it was before moves were bounded: every move simulated (reference)."""
    assignment = dict(assignment)
    best = reference_simulate(graph, assignment, profile, devices).makespan_s
    for _ in range(REFINE_PASSES):
        improved = False
        for v in graph.topological_order:
            here = assignment[v]
            for d in range(devices):
                if d == here:
                    continue
                assignment[v] = d
                span = reference_simulate(graph, assignment, profile, devices).makespan_s
                if span < best * (1 - 1e-9):
                    best, here, improved = span, d, True
                else:
                    assignment[v] = here
        if not improved:
            break
    return assignment, best


@pytest.mark.parametrize(
    ("generator", "profile", "devices", "seed"),
    [
        ("dp", "rpi4-wifi", 3, 0),
        ("er", "t2micro", 4, 1),
        ("lanes", "rpi4-ethernet", 3, 2),
        ("ws", "ideal", 2, 3),
        ("dp", "local-cpu", 4, 4),
    ],
)
def test_bounded_refinement_keeps_the_moves_of_the_exhaustive_one(
    generator: str, profile: str, devices: int, seed: int
) -> None:
    from parawire.analysis.deployment import Candidate, refine
    from parawire.analysis.partitioners import Placement
    from parawire.analysis.profiles import create_profile
    from parawire.analysis.simulate import Simulator

    prof = create_profile(profile)
    graph = spec_costs(small_spec(generator, seed=seed))
    rng = random.Random(seed)
    start = {v.id: rng.randrange(devices) for v in graph.vertices}  # a poor start: many moves
    sim = Simulator.of(graph, prof)
    candidate = Candidate(
        Placement(start, devices, "random"),
        evaluate_placement(graph, start, devices),
        sim.makespan(start),
        sim,
    )
    want, want_span = _refine_every_move(graph, start, prof, devices)
    got = refine(graph, candidate, prof, devices)
    assert got.makespan_s == want_span
    assert got.placement.assignment == want or got.placement.assignment == start == want
    assert got.schedule.makespan_s == want_span


# --- what the profile cannot vouch for: the speedup's range and the sure choice ---------------


def test_profile_ranges_round_trip_and_are_checked(tmp_path):
    from parawire.analysis.profiles import create_profile, load_profiles, save_profile
    from parawire.errors import ConfigError

    wifi = create_profile("rpi4-wifi")
    assert wifi.estimate and wifi.compute_range[0] < 1 < wifi.compute_range[1]
    assert not create_profile("ideal").estimate and create_profile("ideal").exact
    path = save_profile(dataclasses.replace(wifi, name="copy"), tmp_path / "p.toml")
    assert load_profiles(path)["copy"] == dataclasses.replace(wifi, name="copy")
    with pytest.raises(ConfigError, match="compute_range"):
        dataclasses.replace(wifi, compute_range=(1.2, 1.5))
    with pytest.raises(ConfigError, match="spread"):
        dataclasses.replace(wifi, spread=0.5)


def test_speedup_range_brackets_the_simulated_speedup():
    from parawire.analysis.deployment import candidates, fastest, speedup_range
    from parawire.analysis.partitioners import list_partitioners
    from parawire.analysis.profiles import create_profile

    graph = spec_costs(small_spec("lanes", size=16))
    profile = create_profile("rpi4-ethernet")
    pool = candidates(graph, 3, profile, list_partitioners())
    best = fastest([c for c in pool if c.devices_used > 1])
    low, high = speedup_range(graph, best, profile)
    assert low < best.speedup < high
    exact = dataclasses.replace(
        profile, compute_range=(1.0, 1.0), link_range=(1.0, 1.0), spread=1.0
    )
    assert speedup_range(graph, best, exact) == (best.speedup, best.speedup)
    # a wider link range can only widen the range
    wide = dataclasses.replace(profile, link_range=(0.5, 4.0))
    w_low, w_high = speedup_range(graph, best, wide)
    assert w_low <= low and w_high >= high


def test_the_recommendation_splits_only_when_surely_faster():
    from parawire.analysis.profiles import create_profile

    spec = small_spec("lanes", size=16)
    profile = create_profile("rpi4-ethernet")
    exact = dataclasses.replace(
        profile, compute_range=(1.0, 1.0), link_range=(1.0, 1.0), spread=1.0
    )
    sure = parawire.analyze(spec, devices=3, profile=exact)
    assert sure.devices_used > 1  # exact figures: the fastest split
    low, _ = sure.verdict.speedup_range
    assert low == pytest.approx(sure.speedup)
    # devices that may differ by more than the split gains: one device, said so
    unsure = parawire.analyze(
        spec, devices=3, profile=dataclasses.replace(exact, spread=sure.speedup * 1.1)
    )
    assert unsure.devices_used == 1
    assert "is not surely faster" in unsure.verdict.text


def test_an_estimated_profile_says_so():
    result = parawire.analyze(small_spec("dp", size=16), devices=2, profile="t2micro")
    assert result.verdict.estimate
    assert "t2micro's figures are estimates, not measured on the device" in result.verdict.text
    low, high = result.verdict.speedup_range
    assert low <= result.speedup <= high


def _plain_break_even(graph, splits, profile, t1):
    """The break-even bisection as it stood before its pruning: every split bisected fully."""
    from parawire.analysis.deployment import _with_bandwidth
    from parawire.analysis.simulate import Simulator

    def slower(c, bw):
        sim = Simulator(graph, _with_bandwidth(profile, bw))
        return sim.makespan(c.placement.assignment) > t1

    best = None
    for c in sorted(splits, key=lambda c: c.makespan_s)[:3]:
        hi, lo = 1e15, 1e3
        if slower(c, hi):
            continue
        if not slower(c, lo):
            return lo
        for _ in range(40):
            mid = math.sqrt(lo * hi)
            hi, lo = (mid, lo) if not slower(c, mid) else (hi, mid)
            if hi / lo < 1.01:
                break
        best = hi if best is None else min(best, hi)
    return best


@pytest.mark.parametrize(
    ("generator", "profile", "seed"),
    [("dp", "rpi4-wifi", 0), ("er", "t2micro", 1), ("lanes", "rpi4-ethernet", 2)],
)
def test_pruned_break_even_bisection_gives_the_plain_ones_answer(generator, profile, seed):
    from parawire.analysis.deployment import break_even_bandwidth, candidates
    from parawire.analysis.partitioners import list_partitioners

    prof = create_profile(profile)
    graph = spec_costs(small_spec(generator, seed=seed))
    splits = [c for c in candidates(graph, 4, prof, list_partitioners()) if c.devices_used > 1]
    t1 = splits[0].simulator.single_device_s
    want = _plain_break_even(graph, splits, prof, t1)
    assert break_even_bandwidth(graph, splits, prof, t1) == want
