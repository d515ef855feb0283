"""``analyze``/``compare``: reference networks, the paper's population claims, bad input."""

from __future__ import annotations

import json
import statistics
from functools import cache
from pathlib import Path

import pytest

import parawire
from conftest import small_spec
from parawire.analysis.api import AnalysisResult, analyze, compare
from parawire.analysis.costs import spec_costs
from parawire.analysis.partitioners import list_partitioners
from parawire.errors import ConfigError

REQUIRED_KEYS = {
    "cs",
    "eta",
    "delta_w",
    "comm_bytes",
    "comm_norm",
    "entropy",
    "speedup",
    "makespan_s",
    "single_device_s",
    "t1_over_cp",
    "depth",
    "placement",
    "devices_used",
    "select",
    "wire_dtype",
    "scatter",
    "paper",
    "verdict",
}
FAST_SEEDS = 20  # the default suite; the full 100 seeds run with -m slow
POPULATION_PROFILE = "rpi4-ethernet"  # distribution pays off at all on this link
POPULATIONS = {
    "dp": ("dp", "probabilistic"),
    "er": ("er", "probabilistic"),
    "ba": ("ba", "probabilistic"),
    "ws": ("ws", "probabilistic"),
    "fb": ("ws", "fb"),
}


def test_result_has_every_documented_field_and_is_json() -> None:
    spec = parawire.generate("dp", seed=0)
    result = analyze(spec, devices=4, profile="rpi4-ethernet", select="cs")
    data = json.loads(result.to_json())
    assert set(data) >= REQUIRED_KEYS
    assert len(data["placement"]) == len(spec.nodes)
    assert data["placement"] == {str(v): d for v, d in result.placement.items()}
    assert len(data["options"]) == 4  # the default eps sweep
    assert min(o["cs"] for o in data["options"]) == pytest.approx(result.cs, abs=1e-3)
    assert result.speedup == pytest.approx(result.single_device_s / result.makespan_s)
    assert "timeline" not in data["schedule"]
    assert result.to_dict(timeline=True)["schedule"]["timeline"]
    assert result.depth == len(result.depth_histogram)
    assert sum(result.depth_histogram) == len(spec.nodes)


def test_spec_file_and_cost_graph_give_the_same_answer(tmp_path: Path) -> None:
    spec = parawire.generate("er", seed=1)
    path = tmp_path / "arch.json"
    spec.save(path)
    from_file = analyze(str(path), devices=3, profile="t2micro")
    from_graph = analyze(spec_costs(spec), devices=3, profile="t2micro")
    assert from_file.to_dict() == from_graph.to_dict()


def test_one_device_gives_speedup_one() -> None:
    result = analyze(parawire.generate("dp", seed=2), devices=1, profile="rpi4-wifi")
    assert result.speedup == pytest.approx(1.0)
    assert result.comm_bytes == 0
    assert result.metrics.comm_floored


@pytest.mark.parametrize("profile", ["rpi4-ethernet", "local-cpu"])
def test_chain_never_speeds_up(profile: str) -> None:
    spec = parawire.generate("chain", seed=0)
    for n in range(1, 9):
        for result in compare(spec, devices=n, profile=profile):
            assert result.speedup <= 1.05, (n, result.partitioner, result.speedup)


@pytest.mark.parametrize("width", [2, 4, 8])
@pytest.mark.parametrize("partitioner", ["kahypar", "groups", "heft"])
def test_lanes_with_free_link_reach_the_lane_count(width: int, partitioner: str) -> None:
    # 20 vertices per lane: the stem runs alone before the lanes start (Amdahl), so short lanes
    # cap the speedup below 0.95 n whatever the placement (T1/CP is reported to show it).
    spec = parawire.generate("lanes", seed=0, staging="uniform", n=20 * width, width=width)
    result = analyze(spec, devices=width, profile="ideal", partitioner=partitioner)
    assert result.t1_over_cp >= 0.95 * width
    assert result.speedup >= 0.95 * width, result.to_dict()


@cache
def population(name: str, seeds: int) -> tuple[float, float]:
    """(mean CS, mean speedup) of one generator over ``seeds`` seeds, n = 4, the paper's
    method (kahypar, eps sweep, lowest CS)."""
    generator, staging = POPULATIONS[name]
    results = [
        analyze(
            parawire.generate(generator, seed=s, staging=staging, merge="maps"),  # the paper's
            4,
            POPULATION_PROFILE,
            select="cs",
        )
        for s in range(seeds)
    ]
    return (
        statistics.mean(r.cs for r in results),
        statistics.mean(r.speedup for r in results),
    )


def _populations(seeds: int) -> list:
    return [
        pytest.param("er", seeds),
        pytest.param("ba", seeds),
        pytest.param("ws", seeds),
        pytest.param("fb", seeds),
    ]


@pytest.mark.parametrize(("other", "seeds"), _populations(FAST_SEEDS))
def test_dp_has_lower_mean_cs(other: str, seeds: int) -> None:
    assert population("dp", seeds)[0] < population(other, seeds)[0]


@pytest.mark.parametrize("other", ["er", "ba", "ws", "fb"])
def test_dp_has_higher_mean_speedup(other: str) -> None:
    assert population("dp", FAST_SEEDS)[1] > population(other, FAST_SEEDS)[1]


@pytest.mark.slow
@pytest.mark.parametrize(("other", "seeds"), _populations(100))
def test_dp_has_lower_mean_cs_over_100_seeds(other: str, seeds: int) -> None:
    assert population("dp", seeds)[0] < population(other, seeds)[0]


@pytest.mark.slow
@pytest.mark.parametrize("other", ["er", "ba", "ws", "fb"])
def test_dp_has_higher_mean_speedup_over_100_seeds(other: str) -> None:
    assert population("dp", 100)[1] > population(other, 100)[1]


def test_resnet50_is_deeper_and_slower_to_distribute_than_dp() -> None:
    resnet = analyze("torchvision:resnet50", devices=4, profile=POPULATION_PROFILE, select="cs")
    dp_eta = statistics.mean(
        analyze(
            parawire.generate("dp", seed=s, merge="maps"), 4, POPULATION_PROFILE, select="cs"
        ).eta
        for s in range(FAST_SEEDS)
    )
    assert resnet.eta > dp_eta
    assert resnet.speedup < population("dp", FAST_SEEDS)[1]


def test_compare_runs_every_partitioner_on_one_graph() -> None:
    results = compare(parawire.generate("ba", seed=0), devices=4, profile="rpi4-ethernet")
    assert [r.partitioner for r in results] == list_partitioners()
    assert len({r.single_device_s for r in results}) == 1
    single = next(r for r in results if r.partitioner == "single")
    assert single.speedup == pytest.approx(1.0)


def test_select_makespan_picks_the_fastest_option() -> None:
    spec = parawire.generate("dp", seed=5)
    result = analyze(spec, 4, "rpi4-ethernet", select="makespan")
    assert result.makespan_s == min(o["makespan_s"] for o in result.options)


def _one_line_error(call) -> str:
    with pytest.raises(ConfigError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and message
    return message


def test_bad_inputs_give_one_clear_error(tmp_path: Path) -> None:
    spec = parawire.generate("dp", seed=0)
    assert "devices must be" in _one_line_error(lambda: analyze(spec, devices=0))
    assert "exceeds" in _one_line_error(lambda: analyze(spec, devices=len(spec.nodes) + 1))
    assert "unknown partitioner" in _one_line_error(lambda: analyze(spec, partitioner="hmetis"))
    assert "unknown profile" in _one_line_error(lambda: analyze(spec, profile="pi5-5g"))
    bad = tmp_path / "bad.toml"
    bad.write_text("[profiles.x\ndevice = 3\n")
    assert "bad.toml" in _one_line_error(lambda: analyze(spec, profile=str(bad)))
    assert "neither a spec file" in _one_line_error(lambda: analyze("no/such/arch.json"))
    assert "select" in _one_line_error(lambda: analyze(spec, select="fastest"))
    assert "cannot analyze" in _one_line_error(lambda: analyze(3.5))


def test_module_without_example_input_is_a_config_error() -> None:
    from torch import nn

    message = _one_line_error(lambda: analyze(nn.Linear(2, 2)))
    assert "example_input" in message


def test_result_type() -> None:
    assert isinstance(analyze(parawire.generate("chain", seed=0), 2, "ideal"), AnalysisResult)


def test_analyze_many_is_analyze_of_each_target() -> None:
    from parawire.analysis.api import analyze_many

    specs = [small_spec("dp", seed=1), small_spec("lanes", seed=2), small_spec("dp", seed=1)]
    many = analyze_many(specs, 3, "rpi4-ethernet", wire_dtype="float16")
    assert len(many) == len(specs)
    for spec, result in zip(specs, many, strict=True):
        one = analyze(spec, 3, "rpi4-ethernet", wire_dtype="float16")
        assert result.to_dict(timeline=True) == one.to_dict(timeline=True)
