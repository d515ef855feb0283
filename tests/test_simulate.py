"""Schedule simulation: hand-checked cases and property tests over generated specs."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parawire
from parawire.analysis.costs import spec_costs
from parawire.analysis.graph import CostGraph, Vertex
from parawire.analysis.profiles import DeviceProfile, LinkProfile, Profile, list_profiles
from parawire.analysis.profiles import create_profile as profile_named
from parawire.analysis.simulate import (
    Simulator,
    critical_path_seconds,
    replica_devices,
    simulate,
    single_device_seconds,
)
from parawire.errors import ConfigError
from reference_simulate import simulate as reference_simulate

# 1 MAC = 2 FLOPs at 2 FLOP/s: a vertex of m MACs takes m seconds; a tensor of b bytes takes
# 1 + b/10 seconds to move.
UNIT = Profile("unit", DeviceProfile("u", 2.0), LinkProfile("l", 10.0, 1.0))


def diamond() -> CostGraph:
    """0 -> {1, 2} -> 3, each vertex 10 s, each output 10 bytes (2 s to move)."""
    vs = tuple(Vertex(i, "x", macs=10, params=0, out_bytes=10) for i in range(4))
    return CostGraph(vs, ((0, 1), (0, 2), (1, 3), (2, 3)), name="diamond")


def fan(k: int) -> CostGraph:
    """Vertex 0 feeds k consumers that all feed the sink."""
    vs = [Vertex(0, "x", 10, 0, 10)] + [Vertex(i, "x", 10, 0, 10) for i in range(1, k + 2)]
    edges = [(0, i) for i in range(1, k + 1)] + [(i, k + 1) for i in range(1, k + 1)]
    return CostGraph(tuple(vs), tuple(edges), name="fan")


def test_one_device_is_sequential():
    s = simulate(diamond(), dict.fromkeys(range(4), 0), UNIT)
    assert s.makespan_s == 40 and s.transfers == 0 and s.bytes_moved == 0
    assert s.single_device_s == 40 and s.speedup == 1.0 and s.busy_s == (40,)


def test_diamond_on_two_devices_by_hand():
    # 0 on dev 0 (0-10), 1 on dev 0 (10-20); 2 on dev 1 after its input arrives (12-22);
    # 2's output back to dev 0 (22-24); 3 on dev 0 (24-34).
    s = simulate(diamond(), {0: 0, 1: 0, 2: 1, 3: 0}, UNIT)
    assert s.makespan_s == pytest.approx(34)
    assert s.transfers == 2 and s.bytes_moved == 20 and s.comm_s == pytest.approx(4)
    computes = {e.vertex: (e.device, e.start, e.end) for e in s.timeline if e.kind == "compute"}
    assert computes == {0: (0, 0, 10), 1: (0, 10, 20), 2: (1, 12, 22), 3: (0, 24, 34)}
    assert s.busy_s == (30, 10)


def test_output_sent_once_per_device_not_per_consumer():
    g = fan(4)
    placement = {0: 0, 1: 1, 2: 1, 3: 1, 4: 1, 5: 1}
    s = simulate(g, placement, UNIT)
    sends_of_0 = [e for e in s.timeline if e.kind == "transfer" and e.vertex == 0]
    assert len(sends_of_0) == 1 and sends_of_0[0].dst == 1


def test_sends_from_one_device_are_serialised():
    g = fan(3)  # 0 on device 0 sends to devices 1, 2, 3: back to back on device 0's link
    s = simulate(g, {0: 0, 1: 1, 2: 2, 3: 3, 4: 0}, UNIT)
    sends = sorted((e.start, e.end) for e in s.timeline if e.kind == "transfer" and e.vertex == 0)
    assert sends == [(10, 12), (12, 14), (14, 16)]


def test_schedule_is_deterministic_and_serialisable():
    g = spec_costs(parawire.generate("dp", seed=3, n=20))
    placement = {v.id: v.id % 3 for v in g.vertices}
    a, b = simulate(g, placement, UNIT), simulate(g, placement, UNIT)
    assert a == b
    d = a.to_dict()
    assert d["makespan_s"] == a.makespan_s and len(d["timeline"]) == len(a.timeline)
    assert "timeline" not in a.to_dict(timeline=False)


@pytest.mark.parametrize(
    ("placement", "devices", "match"),
    [
        ({0: 0, 1: 0, 2: 0}, None, "misses"),
        ({0: 0, 1: 0, 2: 0, 3: 5}, 2, "only 2 devices"),
        ({0: 0, 1: 0, 2: 0, 3: -1}, None, ">= 0"),
        (dict.fromkeys(range(4), 0), 0, ">= 1"),
    ],
)
def test_bad_placement(placement, devices, match):
    with pytest.raises(ConfigError, match=match):
        simulate(diamond(), placement, UNIT, devices)


SMALL = {"er": {"n": 12}, "ba": {"n": 12, "m": 2}, "ws": {"n": 12}, "dp": {"n": 12},
         "chain": {"n": 8}, "lanes": {"n": 12, "width": 3}}  # fmt: skip
CONFIG = parawire.StagingConfig(channels=8, c_max=32, min_size=2)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    generator=st.sampled_from(sorted(SMALL)),
    seed=st.integers(0, 10_000),
    n=st.integers(1, 8),
    profile=st.sampled_from(list_profiles()),
    data=st.data(),
)
def test_makespan_bounds(generator, seed, n, profile, data):
    spec = parawire.generate(generator, seed=seed, staging=CONFIG, **SMALL[generator])
    g = spec_costs(spec)
    prof = profile_named(profile)
    ids = [v.id for v in g.vertices]
    devices = data.draw(st.lists(st.integers(0, n - 1), min_size=len(ids), max_size=len(ids)))
    placement = dict(zip(ids, devices, strict=True))
    s = simulate(g, placement, prof, n)
    t1 = single_device_seconds(g, prof)
    lower = max(critical_path_seconds(g, prof), t1 / n)
    # image scatter: every device with a consumer of the stem runs its own copy
    copies = len(replica_devices(g, placement))
    work = t1 + (copies - 1) * prof.device.seconds(g.vertex_map[g.source])
    tol = 1e-9 * (work + s.comm_s)
    assert s.makespan_s >= lower - tol
    assert s.makespan_s <= work + s.comm_s + tol
    assert sum(s.busy_s) == pytest.approx(work, rel=1e-12)
    if n == 1:
        assert s.makespan_s == pytest.approx(t1, rel=1e-12) and s.transfers == 0


@pytest.mark.parametrize("profile", list_profiles())
def test_single_device_speedup_is_one(profile):
    g = spec_costs(parawire.generate("dp", seed=1, staging=CONFIG, n=12))
    s = simulate(g, {v.id: 0 for v in g.vertices}, profile_named(profile))
    assert s.speedup == pytest.approx(1.0, rel=1e-12)


# --- the fast simulator against the one it replaced (tests/reference_simulate.py) ----------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    generator=st.sampled_from(sorted(SMALL)),
    seed=st.integers(0, 10_000),
    n=st.integers(1, 8),
    profile=st.sampled_from(list_profiles()),
    scatter=st.sampled_from(["image", "stem"]),
    wire_dtype=st.sampled_from(["float32", "float16", "int8"]),
    data=st.data(),
)
def test_schedule_equals_the_reference_simulator(
    generator, seed, n, profile, scatter, wire_dtype, data
):
    spec = parawire.generate(generator, seed=seed, staging=CONFIG, **SMALL[generator])
    g = spec_costs(spec, scatter=scatter, wire_dtype=wire_dtype)
    prof = profile_named(profile)
    ids = [v.id for v in g.vertices]
    devices = data.draw(st.lists(st.integers(0, n - 1), min_size=len(ids), max_size=len(ids)))
    placement = dict(zip(ids, devices, strict=True))
    want = reference_simulate(g, placement, prof, n)
    got = simulate(g, placement, prof, n)
    # the same floating-point operations in the same order: equal to the last bit
    assert got.makespan_s == want.makespan_s
    assert got.to_dict() == want.to_dict()
    assert got.device_orders() == want.device_orders()
    assert got.send_orders() == want.send_orders()
    sim = Simulator(g, prof)
    p = sim.by_position(placement)
    assert sim.makespan(placement) == sim.makespan(p) == want.makespan_s
    assert sim.lower_bound(p) <= want.makespan_s * (1 + 1e-12)
    limit = data.draw(st.floats(0.0, 2.0, allow_subnormal=False)) * want.makespan_s
    below = sim.makespan_below(p, limit)
    assert below == (want.makespan_s if want.makespan_s < limit else None)


def test_a_simulator_on_another_profile_is_a_fresh_one():
    g = spec_costs(parawire.generate("dp", seed=4, staging=CONFIG, n=12))
    placement = {v: i % 3 for i, v in enumerate(g.topological_order)}
    base = Simulator(g, profile_named("rpi4-wifi"))
    base.makespan(placement)  # fills its cache, which the other profile must not see
    for name in list_profiles():
        other = base.with_profile(profile_named(name))
        assert other.makespan(placement) == Simulator(g, profile_named(name)).makespan(placement)
        want = reference_simulate(g, placement, profile_named(name), 3)
        assert other.schedule(placement, 3).to_dict() == want.to_dict()


def test_shared_simulators_follow_the_objects_not_their_values():
    g = diamond()
    assert Simulator.of(g, UNIT) is Simulator.of(g, UNIT)
    twin = diamond()  # equal, but another object: another simulator
    assert Simulator.of(twin, UNIT) is not Simulator.of(g, UNIT)


@pytest.mark.parametrize("profile", ["rpi4-wifi", "t2micro"])
def test_a_corner_simulator_equals_a_fresh_one_on_the_scaled_profile(profile):
    g = spec_costs(parawire.generate("dp", seed=6, staging=CONFIG, n=12))
    placement = {v: i % 3 for i, v in enumerate(g.topological_order)}
    prof = profile_named(profile)
    base = Simulator(g, prof)
    assert base.scaled(1, 1) is base
    for compute, link in [(0.5, 2.0), (2.0, 0.5), (1.0, 3.0)]:
        corner = base.scaled(compute, link)
        assert base.scaled(compute, link) is corner  # made once, with its cache
        fresh = Simulator(g, prof.scaled(compute, link))
        assert corner.makespan(placement) == fresh.makespan(placement)
        assert corner.schedule(placement, 3).to_dict() == fresh.schedule(placement, 3).to_dict()
