"""Device emulation: every vertex padded to its emulated duration, measured against simulation."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest
import torch

from conftest import small_spec
from parawire.nn import build_model
from parawire.runtime import Plan, RunOptions, run_local
from parawire.runtime.link import wait_until
from parawire.runtime.options import emulation_pads
from parawire.runtime.reference import padded_forward, plan_model

PAD_S = 8e-3  # every vertex of the test profile takes 8 ms (far above its real compute)
PROFILE_TOML = f"""
[devices.slowpoke]
flops_per_s = 1.0e15
overhead_s = {PAD_S}

[links.slowlink]
bandwidth_bytes_per_s = 1.0e8
latency_s = 1.0e-3

[profiles.slowpoke]
device = "slowpoke"
link = "slowlink"
"""


@pytest.fixture
def profile(tmp_path: Path) -> str:
    path = tmp_path / "slow.toml"
    path.write_text(PROFILE_TOML)
    return f"{path}#slowpoke"


def test_wait_until_reaches_its_target_without_sleeping_long_past_it() -> None:
    late = []
    for _ in range(10):
        target = time.perf_counter() + 20e-3
        assert wait_until(target)
        late.append(time.perf_counter() - target)
    assert min(late) >= 0  # never early
    # ~0.1 ms late on an idle machine; the bound leaves room for a loaded CI machine and still
    # catches a wait that sleeps its whole span twice
    assert statistics.median(late) < 10e-3
    assert not wait_until(time.perf_counter() - 1.0)  # a past target: no wait, reported


def test_padded_forward_takes_the_emulated_time_and_keeps_the_logits(profile: str) -> None:
    spec = small_spec("dp", size=16)
    model = build_model(spec).eval()
    plan = Plan(spec, dict.fromkeys(spec.topological_order, 0), 1)
    padded = plan_model(plan, model.state_dict())
    pads = emulation_pads(plan, profile, 1)
    assert all(p == pytest.approx(PAD_S) for p in pads.values())
    x = torch.randn(1, 3, 16, 16)
    with torch.inference_mode():
        start = time.perf_counter()
        got = padded_forward(padded, x, pads)
        took = time.perf_counter() - start
        assert torch.equal(got, model(x))
    assert took >= len(spec.nodes) * PAD_S  # each pad is a floor; no ceiling on a busy machine


@pytest.mark.slow  # spawns ranks: about 50 s on 2 cores at load 14
def test_emulated_run_matches_its_simulation(profile: str) -> None:
    spec = small_spec("lanes", size=16)  # 3 lanes of 4: a split that pays
    placement = {v: i % 2 for i, v in enumerate(spec.topological_order)}
    placement[spec.input_node] = 0
    plan = Plan(spec, placement, 2)
    options = RunOptions(runs=5, warmup=1, emulate=profile, timeout=60)
    report = run_local(plan, options)
    # 8 ms pads dwarf the real compute (~0.2 ms); a loaded machine may still stall one or two
    assert len(report.emulation["over_emulated_time"]) <= 2, report.emulation
    assert report.options["profile"] == "slowpoke"
    assert 0.9 < report.measured_over_simulated < 2.0, report.to_dict()
    # the single-device baseline is emulated too: about |V| x 4 ms
    assert report.single_process_p50_s >= len(spec.nodes) * PAD_S
    for rank in report.ranks:
        assert rank["order_as_planned"]
        assert rank["measured_busy_s"] >= rank["simulated_busy_s"] * 0.99
        assert rank["measured_busy_s"] < rank["simulated_busy_s"] * 2.0 + 0.01
    assert report.max_abs_diff == 0.0


def test_a_dilated_profile_scales_every_duration_alike(profile: str) -> None:
    from parawire.analysis.costs import spec_costs
    from parawire.analysis.profiles import create_profile
    from parawire.analysis.simulate import simulate
    from parawire.errors import ConfigError

    base = create_profile("rpi4-wifi")
    slow = base.dilated(2.5)
    spec = small_spec("dp", size=16)
    graph = spec_costs(spec)
    placement = {v: i % 3 for i, v in enumerate(spec.topological_order)}
    assert simulate(graph, placement, slow).makespan_s == pytest.approx(
        2.5 * simulate(graph, placement, base).makespan_s
    )
    assert base.dilated(1) is base
    for bad in (0.5, float("inf"), float("nan")):
        with pytest.raises(ConfigError, match="dilation"):
            base.dilated(bad)


@pytest.mark.slow  # spawns ranks: about 45 s on 2 cores at load 14
def test_a_dilated_emulated_run_matches_its_dilated_simulation(
    profile: str, tmp_path: Path
) -> None:
    from parawire.runtime.dilation import auto_dilation, dilated_profile_ref

    spec = small_spec("lanes", size=16)
    placement = {v: i % 2 for i, v in enumerate(spec.topological_order)}
    placement[spec.input_node] = 0
    plan = Plan(spec, placement, 2)
    # 8 ms pads dwarf this machine's real compute: no dilation needed
    assert auto_dilation(plan, profile, cores=2) == 1.0
    assert auto_dilation(plan, profile, cores=1) == 1.0
    ref = dilated_profile_ref(profile, 2.0, tmp_path)
    report = run_local(plan, RunOptions(runs=3, warmup=1, emulate=ref, timeout=60))
    assert report.options["profile"] == "slowpoke-x2"
    # every vertex took twice its pad, and the simulation of the dilated profile says so
    assert report.single_process_p50_s >= 2 * len(spec.nodes) * PAD_S
    assert 0.9 < report.measured_over_simulated < 2.0, report.to_dict()
    assert report.max_abs_diff == 0.0
