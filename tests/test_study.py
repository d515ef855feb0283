"""Study: tables from a known results file, the SQLite store, extending a study, the CLI."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import pytest
import torch

from parawire.cli import main
from parawire.errors import ConfigError, DataError
from parawire.report import to_csv, to_markdown
from parawire.study import (
    StudyConfig,
    StudyStore,
    generators_table,
    merge_table,
    plan_jobs,
    run_study,
    stability_table,
    staging_table,
    uniform_table,
)


def row(kind, group, acc, params, *, size=32, sample=0, speedup=None, staging="probabilistic",
        merge="maps"):  # fmt: skip
    used = None if speedup is None else 3
    paper = None if speedup is None else speedup / 2
    return {"kind": kind, "group": group, "test_acc": acc, "params": params, "size": size,
            "sample": sample, "speedup": speedup, "staging": staging, "merge": merge,
            "devices_used": used, "paper_speedup": paper}  # fmt: skip


KNOWN = [
    row("generator", "dp", 80.0, 500_000, sample=0, speedup=2.0),
    row("generator", "dp", 90.0, 1_000_000, sample=1, speedup=3.0),
    row("generator", "er", 70.0, 2_000_000, speedup=1.5),
    row("baseline", "cifarnet", 75.0, 1_500_000, staging=""),
    row("greedy", "dp", 60.0, 2_000_000, sample=0, staging="greedy"),
    row("greedy", "dp", 50.0, 1_000_000, sample=1, staging="greedy"),
    row("uniform", "dp", 85.0, 250_000, staging="uniform"),
    row("uniform", "dp", 30.0, 250_000, size=64, staging="uniform"),
    row("staged", "dp", 77.0, 600_000, size=64),
    row("baseline", "resnet20", 66.0, 270_000, size=64, staging=""),
    row("merge", "dp", 82.0, 600_000, sample=0, speedup=2.4, merge="pooled"),
]


def test_generators_table_hand_checked() -> None:
    t = generators_table(KNOWN, 32, 4)
    rows = {r[0]: r for r in t.rows}
    assert list(rows) == ["dp", "er", "cifarnet"]
    # dp: n=2, params mean 0.75M, acc mean 85 best 90, acc/Mparam 160 and 90 -> mean 125 best 160
    assert rows["dp"] == pytest.approx(("dp", 2, 0.75, 85.0, 90.0, 125.0, 160.0, 2.5, 3, 1.25))
    assert rows["er"] == pytest.approx(("er", 1, 2.0, 70.0, 70.0, 35.0, 35.0, 1.5, 3, 0.75))
    assert rows["cifarnet"][:7] == pytest.approx(("cifarnet", 1, 1.5, 75.0, 75.0, 50.0, 50.0))
    assert rows["cifarnet"][7:] == (None, None, None)
    assert "rpi4-wifi" in t.columns[7]  # the speedup column names its profile
    md = to_markdown(t)
    assert "| dp | 2 | 0.750 | 85.00 | 90.00 | 125.00 | 160.00 | 2.50 | 3.00 | 1.25 |" in md
    assert "| cifarnet | 1 | 1.50 | 75.00 | 75.00 | 50.00 | 50.00 | - | - | - |" in md
    assert to_csv(t).splitlines()[1].startswith("dp,2,0.75,85.0,90.0,125.0,160.0,2.5")


def test_merge_table_pairs_the_same_seeds() -> None:
    t = merge_table(KNOWN, 32, 4, "rpi4-wifi")
    assert [r[:2] for r in t.rows] == [("dp", "maps"), ("dp", "pooled")]
    # only sample 0 was trained with both merges: 80% at 0.5M vs 82% at 0.6M
    assert t.rows[0][2:6] == pytest.approx((1, 0.5, 80.0, 80.0))
    assert t.rows[1][2:7] == pytest.approx((1, 0.6, 82.0, 82.0, 2.4))


def test_staging_table_hand_checked() -> None:
    t = staging_table(KNOWN, 32)
    assert t.rows[0] == pytest.approx(("dp", "greedy", 2, 1.5, 55.0, 40.0))  # 30 and 50 /Mparam
    assert t.rows[1] == pytest.approx(("dp", "probabilistic", 2, 0.75, 85.0, 125.0))


def test_uniform_table_hand_checked() -> None:
    t = uniform_table(KNOWN, 32, "dp")
    assert t.rows[0] == pytest.approx(("32x32", 1, 0.25, 85.0, 0.5, 80.0, "cifarnet", 75.0))
    assert t.rows[1] == pytest.approx(("64x64", 1, 0.25, 30.0, 0.6, 77.0, "resnet20", 66.0))


def test_stability_table_layout() -> None:
    cells = {
        "dp/greedy": {"mean": 2e6, "std": 1e5, "count": 10, "vertices": 40},
        "dp/probabilistic": {"mean": 1e6, "std": 3e5, "count": 10, "vertices": 40},
    }
    t = stability_table(cells)
    greedy = dict(zip(t.columns, t.rows[0], strict=True))
    assert greedy["dp mean (M)"] == 2.0 and greedy["dp std (M)"] == 0.1
    assert greedy["er mean (M)"] is None and greedy["samples"] == 10


def test_plan_and_config_checks() -> None:
    cfg = StudyConfig(samples=2, generators=("dp", "ws:fb"), baselines=("resnet",), large_size=224,
                      uniform_samples=1)  # fmt: skip
    ids = [j.id for j in plan_jobs(cfg, 32)]
    assert ids[:4] == ["generator/dp/32/s000", "generator/dp/32/s001", "generator/fb/32/s000",
                       "generator/fb/32/s001"]  # fmt: skip
    assert "baseline/resnet20/32/s000" in ids and "baseline/resnet50/224/s000" in ids
    assert "uniform/dp/224/s000" in ids and "uniform/dp/224/s001" not in ids
    with pytest.raises(ConfigError, match="unknown generator"):
        StudyConfig(generators=("xx",)).check()


def tiny(**kw) -> StudyConfig:
    base = dict(dataset="synthetic", samples=1, epochs=1, generators=("chain", "dp"),
                baselines=(), staging_generators=(), uniform_generator="", vertices=4,
                channels=4, c_max=8, param_samples=3, batch_size=128)  # fmt: skip
    return StudyConfig(**{**base, **kw})


def test_study_runs_extends_and_refuses_other_settings(tmp_path: Path) -> None:
    first = run_study(tiny(), tmp_path)
    assert first.trained == 2 and len(first.rows) == 2
    assert {r["job"] for r in first.rows} == {"generator/chain/32/s000", "generator/dp/32/s000"}
    assert all(len(r["digest"]) == 16 for r in first.rows)
    more = run_study(tiny(samples=2), tmp_path)
    assert more.trained == 2 and len(more.rows) == 4  # the first two came from the store
    saved = json.loads((tmp_path / "results.json").read_text())
    assert len(saved["rows"]) == 4
    env = saved["environment"]  # what decides the weights besides the seed (docs/training.md)
    assert env["threads"] == torch.get_num_threads() and env["torch"] == torch.__version__
    assert env["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert (tmp_path / "results.csv").read_text().startswith("job,kind,group")
    assert (tmp_path / "tables" / "generators.csv").is_file()
    assert "Parameter-size stability" in (tmp_path / "tables.md").read_text()
    assert len(StudyStore(tmp_path).rows()) == 4
    with pytest.raises(DataError, match="other settings"):
        run_study(tiny(epochs=2), tmp_path)


def test_parallel_workers_give_the_same_results_with_a_merge_table(tmp_path: Path) -> None:
    cfg = tiny(merge_generators=("dp",), param_samples=0)
    serial = run_study(cfg, tmp_path / "serial")
    parallel = run_study(dataclasses.replace(cfg, workers=2), tmp_path / "parallel")
    assert parallel.trained == serial.trained == 3
    key = ("job", "digest", "merge", "params", "test_acc", "speedup", "devices_used")
    assert [[r[k] for k in key] for r in parallel.rows] == [
        [r[k] for k in key] for r in serial.rows
    ]
    merges = {r["job"]: r["merge"] for r in serial.rows}
    assert merges == {"generator/chain/32/s000": "maps", "generator/dp/32/s000": "maps",
                      "merge/dp/32/s000": "pooled"}  # fmt: skip
    merge = next(t for t in serial.tables if t.name == "merge")
    assert [r[:2] for r in merge.rows] == [("dp", "maps"), ("dp", "pooled")]


def test_cli_study_good_and_bad(tmp_path: Path, capsys) -> None:
    out = tmp_path / "s"
    args = ["study", "--dataset", "synthetic", "--samples", "1", "--epochs", "1", "--out",
            str(out), "--generators", "chain", "--baselines", "", "--staging-generators", "",
            "--large-size", "0", "--vertices", "4", "--channels", "4", "--c-max", "8",
            "--param-samples", "2"]  # fmt: skip
    assert main(args) == 0
    assert "Generators vs baselines" in capsys.readouterr().out
    assert main([*args[:-2], "--param-samples", "2", "--generators", "xx"]) == 1
    assert "unknown generator" in capsys.readouterr().err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "study.sqlite").write_text("this is not sqlite at all, not even close")
    assert main(["study", "--out", str(tmp_path / "bad"), "--samples", "0"]) == 1
    assert "not a study database" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"profile": "nope"}, "unknown profile 'nope'"),
        ({"profile": "missing.toml"}, "does not exist"),
        ({"partitioner": "nope"}, "unknown partitioner 'nope'"),
        ({"devices": 1000}, "devices=1000 exceeds the 6 vertices"),
        ({"devices": 0}, "devices >= 1"),
        ({"select": "fastest"}, "unknown select 'fastest'"),
        ({"wire_dtype": "float8"}, "unknown wire dtype 'float8'"),
        ({"scatter": "input"}, "unknown scatter 'input'"),
        ({"dataset": "mnist"}, "unknown dataset 'mnist'"),
        ({"recipe": "nope"}, "unknown recipe 'nope'"),
        ({"lr": float("nan")}, "learning rate must be a finite number"),
        ({"batch_size": 0}, "batch size must be >= 1"),
        ({"uniform_generator": "fb"}, "unknown uniform generator 'fb'"),
        ({"generators": ("fb",)}, "'fb' is a staging mode, not a generator; write GENERATOR:fb"),
        ({"generators": ("ws:nope",)}, "unknown staging 'nope'"),
        ({"merge_generators": ("xyz",)}, "unknown generator 'xyz'"),
        ({"device": "bogus"}, "unknown device 'bogus'"),
        ({"effort": "quick"}, "unknown effort 'quick'"),
        pytest.param(
            {"device": "cuda"},
            "no CUDA GPU",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA"),
        ),
    ],
)
def test_bad_option_fails_before_anything_is_stored(tmp_path: Path, bad, message) -> None:
    folder = tmp_path / "s"
    with pytest.raises(ConfigError, match=message):
        run_study(tiny(**bad), folder)
    assert not folder.exists()  # no store, no settings: the corrected command starts clean


def test_cli_study_typo_leaves_the_folder_usable(tmp_path: Path, capsys) -> None:
    out = tmp_path / "s"
    args = ["study", "--dataset", "synthetic", "--samples", "1", "--epochs", "1", "--out",
            str(out), "--generators", "chain", "--baselines", "", "--staging-generators", "",
            "--large-size", "0", "--vertices", "4", "--channels", "4", "--c-max", "8",
            "--param-samples", "0"]  # fmt: skip
    for typo in (["--profile", "nope"], ["--devices", "1000"]):
        assert main([*args, *typo]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("parawire: error:")
        assert not out.exists()
    assert main(args) == 0  # the corrected command is not refused


def test_concurrent_first_starts_race_free(tmp_path: Path) -> None:
    # Several runs starting at once in a fresh folder: one settings row wins, every start with
    # the same settings goes on, every start with other settings gets the one-line DataError.
    # Before the fix about 1 round in 10 raised sqlite3.IntegrityError.
    for round_ in range(40):
        folder = tmp_path / f"s{round_}"
        barrier = threading.Barrier(8)
        outcomes: list[str] = []

        def start(epochs: int, folder: Path = folder, barrier=barrier, outcomes=outcomes) -> None:
            barrier.wait()
            try:
                StudyStore(folder).check_settings({"epochs": epochs, "seed": 0})
                outcomes.append(f"ok {epochs}")
            except DataError as exc:
                assert "other settings" in str(exc)
                outcomes.append(f"refused {epochs}")
            except Exception as exc:  # the race this test is about
                outcomes.append(repr(exc))

        threads = [threading.Thread(target=start, args=(1 + i % 2,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winner = next(o for o in outcomes if o.startswith("ok")).split()[1]
        loser = "1" if winner == "2" else "2"
        assert sorted(outcomes) == [f"ok {winner}"] * 4 + [f"refused {loser}"] * 4, outcomes


def test_a_bad_data_path_or_ungeneratable_network_stores_nothing(tmp_path: Path) -> None:
    from parawire.errors import ParawireError

    with pytest.raises(ParawireError):
        run_study(tiny(dataset="cifar10", data=str(tmp_path / "missing.tar.gz")), tmp_path / "a")
    assert not (tmp_path / "a").exists()
    with pytest.raises(ParawireError):  # fb splits 4 vertices into 3 graphs too small to wire
        run_study(tiny(generators=("ws:fb",)), tmp_path / "b")
    assert not (tmp_path / "b").exists()
    run_study(tiny(), tmp_path / "b")  # the corrected command is not refused


def test_the_studys_analyses_use_its_effort_and_a_fast_folder_is_its_own(monkeypatch) -> None:
    import parawire
    from parawire.analysis import api
    from parawire.study.analysis_step import analyses_for_study

    seen: list[str] = []
    many = api.analyze_many
    monkeypatch.setattr(
        api, "analyze_many", lambda *a, **kw: seen.append(kw["effort"]) or many(*a, **kw)
    )
    fast = tiny(effort="fast")
    rows = analyses_for_study([parawire.generate("dp", seed=0, n=12)], fast)
    assert seen == ["fast"] and rows[0]["full"]["effort"] == "fast"
    assert "effort" not in tiny().training_key() and fast.training_key()["effort"] == "fast"
