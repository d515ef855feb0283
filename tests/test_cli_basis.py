"""Every number says what it rests on: estimated profiles and untrained weights are named,
`run --dilation` headlines the emulated device's times, `search` labels its latencies as
simulated and shows the devices each trial used (issue 20, item 10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import small_spec
from parawire.cli import main
from parawire.cli._basis import profile_note, weights_note
from parawire.cli.runtime_commands import _run_lines
from parawire.runtime import Plan
from parawire.runtime.launch import RunReport
from parawire.search.front import front_table, trials_table


def test_an_estimated_profile_is_named_and_a_measured_one_not() -> None:
    note = profile_note("rpi4-wifi")
    assert note is not None and "estimates" in note and "calibrate" in note
    assert profile_note("ideal") is None  # exact by definition
    assert profile_note(None) is None
    assert profile_note("a-profile-of-another-machine") is None  # a plan's, unknown here


def test_untrained_weights_are_named_and_trained_ones_not(tmp_path: Path) -> None:
    spec = small_spec("chain", size=16)
    plan = Plan(spec, dict.fromkeys(spec.topological_order, 0), 1, seed=7)
    note = weights_note(plan, "the plan")
    assert note is not None and "untrained" in note and "--seed 7" in note
    trained = Plan(spec, plan.placement, 1, weights=tmp_path / "weights.safetensors")
    assert weights_note(trained, "the plan") is None


def test_plan_and_analyze_say_the_plan_is_untrained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = str(small_spec("chain", size=16).save(tmp_path / "arch.json"))
    assert main(["plan", spec, "-n", "2", "-o", str(tmp_path / "p")]) == 0
    err = capsys.readouterr().err
    assert "note: profile rpi4-wifi: its figures are estimates" in err
    assert f"note: the plan in {tmp_path / 'p'} has untrained weights" in err
    assert main(["analyze", spec, "-n", "2", "--profile", "ideal", "-o", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert "has untrained weights" in err and "estimates" not in err


def _report() -> RunReport:
    """A run of 30 ms split and 60 ms in one process, measured 3x dilated."""
    return RunReport(
        devices=2,
        latencies_s=[0.03] * 5,
        single_latencies_s=[0.06] * 5,
        max_abs_diff=0.0,
        simulated_makespan_s=0.027,
        options={"threads": 1, "runs": 5, "batch": 1, "profile": "rpi4-wifi"},
        load={"pinned": False, "load_1min": 0.5, "load_1min_after": 0.5, "cores": 2},
        ranks=[
            {
                "rank": 0,
                "measured_busy_s": 0.024,
                "simulated_busy_s": 0.021,
                "measured_finish_s": 0.03,
                "simulated_finish_s": 0.027,
                "order_as_planned": True,
            },
        ],
        latencies_by_process=[[0.03] * 5],
        single_by_process=[[0.06] * 5],
    )


def test_run_headlines_the_emulated_devices_time_under_dilation() -> None:
    spec = small_spec("chain", size=16)
    plan = Plan(spec, dict.fromkeys(spec.topological_order, 0), 1)
    plain = "\n".join(_run_lines(plan, _report(), 1.0, False))
    assert "distributed  p50 30.000 ms" in plain and "dilation" not in plain
    dilated = "\n".join(_run_lines(plan, _report(), 3.0, False))
    assert "distributed  p50 10.000 ms" in dilated  # 30 ms measured 3x slower
    assert "one process  p50 20.000 ms" in dilated and "simulated    9.000 ms" in dilated
    assert "speedup      2.00x" in dilated  # ratios unchanged
    assert "busy 8.00 ms (simulated 7.00)" in dilated
    assert "the emulated device's" in dilated and "dilated distributed p50 was 30.000 ms" in dilated


def _row(number: int, source: str = "simulation") -> dict:
    return {
        "number": number, "family": "dp", "n": 8, "channels": 16, "staging": "greedy",
        "merge": "pooled", "wire_dtype": "float32", "params": 1000, "feasible": True,
        "accuracy": 90.0, "latency_ms": 2.0 + number, "devices_used": 2,
        "latency_source": source,
    }  # fmt: skip


def test_search_tables_say_the_latency_is_simulated_and_show_devices() -> None:
    table = front_table([_row(0), _row(1)], 4, "rpi4-wifi", 2)
    assert "simulated latency on up to 4 devices of rpi4-wifi" in table.title
    notes = " ".join(table.notes)
    assert "simulated (the schedule of one inference on rpi4-wifi devices, not measured)" in notes
    assert "how many of the 4 available devices" in notes
    assert "devices" in table.columns
    predicted = trials_table([_row(0, "predictor:p.json")], Path("s"), 4, "rpi4-wifi")
    assert "predicted by the learned predictor p.json" in " ".join(predicted.notes)
