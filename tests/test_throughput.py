"""Steady-state throughput of a placement (parawire.analysis.throughput) and analyze's objective."""

from __future__ import annotations

import json

import pytest

from conftest import small_spec
from parawire.analysis import create_profile, spec_costs
from parawire.analysis.simulate import simulate
from parawire.analysis.throughput import link_busy_s, steady_state
from parawire.cli import main


@pytest.mark.parametrize("devices", [1, 2, 3])
def test_period_is_the_busiest_resource(devices: int) -> None:
    spec = small_spec("dp")
    graph = spec_costs(spec)
    placement = {v.id: i % devices for i, v in enumerate(graph.vertices)}
    sched = simulate(graph, placement, create_profile("rpi4-wifi"), devices)
    flow = steady_state(sched)
    resources = list(sched.busy_s) + list(link_busy_s(sched))
    assert flow.period_s == max(resources)
    assert flow.frames_per_s == pytest.approx(1 / max(resources))
    assert sum(link_busy_s(sched)) == pytest.approx(sched.comm_s)
    assert flow.period_s <= sched.makespan_s + 1e-12  # pipelining never slows a frame rate
    if devices == 1:
        assert flow.speedup == pytest.approx(1.0)
    assert steady_state(sched, window=1).period_s == pytest.approx(sched.makespan_s)


def test_analyze_reports_throughput_and_chooses_for_it(tmp_path, capsys) -> None:
    spec = small_spec("dp")
    path = tmp_path / "arch.json"
    spec.save(path)
    got = {}
    for objective in ("latency", "throughput"):
        assert main(["analyze", str(path), "-n", "3", "--json", "--objective", objective]) == 0
        captured = capsys.readouterr()
        assert captured.err.startswith("parawire analyze: profile rpi4-wifi (the default")
        got[objective] = json.loads(captured.out.strip().splitlines()[-1])
        assert got[objective]["throughput"]["frames_per_s"] > 0
    assert (
        got["throughput"]["throughput"]["frames_per_s"]
        >= got["latency"]["throughput"]["frames_per_s"] - 1e-9
    )
