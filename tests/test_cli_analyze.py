"""`parawire analyze`: tables, --json, --compare, --out, and one error line for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import parawire
from parawire.analysis.partitioners import list_partitioners
from parawire.cli import main
from parawire.runtime import Plan


@pytest.fixture(scope="module")
def arch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved dp spec."""
    path = tmp_path_factory.mktemp("cli") / "arch.json"
    parawire.generate("dp", seed=0).save(path)
    return path


def test_analyze_prints_tables(arch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(arch), "--devices", "4", "--profile", "rpi4-ethernet"]) == 0
    out = capsys.readouterr().out
    assert "CS (lower is better)" in out and "speedup" in out and "paper's CS choice" in out
    assert "best: " in out and " of 4 devices" in out  # the verdict names the recommendation


def test_json_is_one_object_with_the_documented_fields(
    arch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["analyze", str(arch), "-n", "3", "--partitioner", "groups", "--select", "cs", "--json"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    for key in ("cs", "eta", "delta_w", "comm_bytes", "comm_norm", "entropy", "speedup"):
        assert isinstance(data[key], float | int)
    for key in ("makespan_s", "single_device_s", "t1_over_cp", "depth", "placement", "paper"):
        assert key in data
    assert data["partitioner"] == "groups" and data["devices"] == 3
    assert data["select"] == "cs" and data["verdict"]["text"]


def test_effort_fast_is_in_the_json_and_a_typo_is_one_line(
    arch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze", str(arch), "-n", "3", "--effort", "fast", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["effort"] == "fast" and data["paper"]["partitioner"] == "kahypar"
    assert main(["analyze", str(arch), "-n", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["effort"] == "full"
    assert main(["analyze", str(arch), "-n", "3", "--effort", "quick"]) != 0
    assert "quick" in capsys.readouterr().err


def test_compare_json_and_out_folder(
    arch: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    argv = ["analyze", str(arch), "--compare", "--json", "--out", str(out), "--eps", "0.03,0.3"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert sorted(data["compare"]) == list_partitioners()
    written = json.loads((out / "analysis.json").read_text())
    assert written["makespan_s"] == data["makespan_s"]  # the recommended deployment
    compared = json.loads((out / "compare.json").read_text())
    assert [r["partitioner"] for r in compared] == list_partitioners()
    (timeline,) = json.loads((out / "timeline.json").read_text()).values()
    assert max(e["end"] for e in timeline) == pytest.approx(data["makespan_s"])
    plan = Plan.load(out / "plan")  # the plan `run` executes is the analysed deployment
    assert plan.world == data["devices_used"]
    assert plan.info["simulated_makespan_s"] == data["makespan_s"]


def test_compare_table(arch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(arch), "--compare", "--profile", "ideal"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in list_partitioners())


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--devices", "0"], "0 is not in the range x>=1"),
        (["--devices", "1000"], "exceeds"),
        (["--partitioner", "hmetis"], "'hmetis' is not one of"),
        (["--profile", "pi5-5g"], "unknown profile"),
        (["--eps", "a,b"], "--eps takes"),
        (["--wire-dtype", "int4"], "'int4' is not one of"),
    ],
)
def test_bad_input_gives_one_line(
    arch: Path, args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze", str(arch), *args]) in (1, 2)
    err = capsys.readouterr().err.strip()
    assert expected in err and "\n" not in err and "Traceback" not in err


def test_malformed_profile_file_and_unknown_target(
    arch: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[profiles.x\n")
    assert main(["analyze", str(arch), "--profile", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert "bad.toml" in err and "\n" not in err
    assert main(["analyze", str(tmp_path / "missing.json")]) == 1
    err = capsys.readouterr().err.strip()
    assert "neither a spec file nor a model name" in err and "\n" not in err


def test_model_name_is_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "cifarnet", "--devices", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["name"] == "cifarnet"
    assert data["t1_over_cp"] == pytest.approx(1.0)  # a single chain: nothing to overlap


def test_old_baseline_spelling_still_works(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.warns(FutureWarning, match="write 'cifarnet'"):
        assert main(["analyze", "baseline:cifarnet", "--devices", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["t1_over_cp"] == pytest.approx(1.0)
