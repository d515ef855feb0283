"""Search: a tiny search completes and exports a valid front; budgets; settings; the CLI."""

from __future__ import annotations

import dataclasses
import json
import random
import sqlite3
from pathlib import Path

import pytest
import torch

import parawire
from parawire.cli import main
from parawire.errors import ConfigError, DataError
from parawire.search import SearchConfig, SearchSpace, create_space, pareto_front, run_search
from parawire.search.coordination import default_storage_url
from parawire.search.front import dominates
from parawire.search.space import Choice, smallest_corner
from search_helpers import TINY_DATASET_OPTIONS, assert_exact_budget, search_args, states

TINY = SearchConfig(
    dataset="synthetic",
    dataset_options=TINY_DATASET_OPTIONS,
    trials=6,
    epochs=1,
    devices=4,
    profile="rpi4-ethernet",
    space_name="tiny",
    space=create_space("tiny"),
)


@pytest.fixture(scope="module")
def tiny_search(tmp_path_factory: pytest.TempPathFactory):
    """One finished tiny search (synthetic data, 1 epoch, 6 trials), shared by the tests."""
    out = tmp_path_factory.mktemp("search")
    return out, run_search(TINY, out)


def test_tiny_search_completes_and_exports_the_front(tiny_search) -> None:
    out, outcome = tiny_search
    assert outcome.evaluated == 6 and len(outcome.rows) == 6
    assert_exact_budget(default_storage_url(out), 6)
    front = json.loads((out / "front.json").read_text())["front"]
    assert [m["number"] for m in front] == [r["number"] for r in outcome.front]
    assert len(front) >= 1
    for member in front:
        spec = parawire.load_spec(out / member["spec"])  # validated on load
        assert spec.digest() == member["digest"]  # regenerated exactly from the stored choice
        assert spec.input_shape == (3, 16, 16)
        assert set(member["commands"]) == {"train", "analyze", "run"}
    # no front member is beaten on both objectives by any finished trial
    for member in outcome.front:
        assert not any(dominates(r, member) for r in outcome.rows if r["feasible"])
    assert sorted(p.name for p in (out / "front").iterdir()) == sorted(
        Path(m["spec"]).name for m in front
    )
    header = (out / "trials.csv").read_text().splitlines()[0]
    assert header.startswith("number,family,n,")


def test_a_front_member_trains_and_analyses_through_the_cli(tiny_search, tmp_path) -> None:
    out, outcome = tiny_search
    spec = str(out / "front" / f"trial-{outcome.front[0]['number']:05d}.json")
    assert (
        main(
            [
                "analyze",
                spec,
                "--devices",
                "4",
                "--profile",
                "rpi4-ethernet",
                "--out",
                str(tmp_path / "an"),
            ]
        )
        == 0
    )
    args = ["train", spec, "--dataset", "synthetic", "--epochs", "1", "--out", str(tmp_path / "t")]
    assert main(args) != 0  # the spec takes 16x16 images, the CLI's synthetic data is 32x32
    assert main(["search", "show", str(out)]) == 0


def test_rerun_of_a_finished_search_trains_nothing_and_extending_it_adds_trials(
    tiny_search, tmp_path
) -> None:
    out, first = tiny_search
    torch.set_num_threads(1)
    again = run_search(dataclasses.replace(TINY, threads=2), out)
    assert torch.get_num_threads() == 1  # the search's threads are its own, restored after
    assert again.evaluated == 0 and [r["number"] for r in again.rows] == [
        r["number"] for r in first.rows
    ]
    copy = tmp_path / "copy"
    copy.mkdir()
    with (
        sqlite3.connect(out / "search.sqlite") as src,
        sqlite3.connect(copy / "search.sqlite") as dst,
    ):
        src.backup(dst)  # the write-ahead log included
    more = run_search(dataclasses.replace(TINY, trials=7), copy)
    assert more.evaluated == 1 and len(more.rows) == 7


def test_other_settings_on_the_same_storage_are_refused(tiny_search) -> None:
    out, _ = tiny_search
    with pytest.raises(DataError, match=r"other settings.*epochs: 1 -> 2"):
        run_search(dataclasses.replace(TINY, epochs=2), out)


def test_the_fast_effort_scores_trials_and_is_part_of_the_settings(
    tiny_search, monkeypatch
) -> None:
    from parawire.analysis import api
    from parawire.search.evaluate import latency

    out, _ = tiny_search
    fast = dataclasses.replace(TINY, effort="fast")
    assert "effort" not in TINY.settings() and fast.settings()["effort"] == "fast"
    with pytest.raises(DataError, match=r"other settings.*effort"):
        run_search(fast, out)
    with pytest.raises(ConfigError, match="unknown effort 'quick'"):
        dataclasses.replace(TINY, effort="quick").check()
    seen: list[str] = []
    analyze = api.analyze
    monkeypatch.setattr(
        api, "analyze", lambda *a, **kw: seen.append(kw["effort"]) or analyze(*a, **kw)
    )
    spec = parawire.generate("dp", seed=0, n=12)
    assert latency(spec, fast, "float32").seconds > 0 and seen == ["fast"]


def test_infeasible_budget_is_one_line_before_any_training(tmp_path, capsys) -> None:
    out = tmp_path / "s"
    assert main(search_args(out, 6, "--max-params", "50")) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--max-params 50 is below the smallest network" in err
    assert not out.exists()  # nothing written, nothing trained
    smallest = min(
        parawire.analysis.costs.spec_costs(c.spec((3, 16, 16), 10)).total_params
        for c in smallest_corner(create_space("tiny"))
    )
    with pytest.raises(ConfigError, match="below the smallest"):
        run_search(dataclasses.replace(TINY, max_params=smallest - 1), tmp_path / "t")


def test_budget_marks_trials_over_it_infeasible_and_keeps_them_off_the_front(tmp_path) -> None:
    cfg = dataclasses.replace(TINY, trials=4, max_params=1500, sampler="random", seed=3)
    outcome = run_search(cfg, tmp_path)
    over = [r for r in outcome.rows if r["params"] > 1500]
    assert all(not r["feasible"] and r["train_seconds"] == 0.0 for r in over)
    assert all(r["params"] <= 1500 for r in outcome.front)


def test_pareto_front_matches_brute_force() -> None:
    rng = random.Random(0)
    rows = [
        {
            "number": i,
            "accuracy": rng.choice([10.0, 20.0, 30.0]),
            "latency_ms": rng.random(),
            "feasible": rng.random() < 0.8,
        }
        for i in range(60)
    ]
    front = pareto_front(rows)
    feasible = [r for r in rows if r["feasible"]]
    expected = {
        r["number"]
        for r in feasible
        if not any(
            o["accuracy"] >= r["accuracy"]
            and o["latency_ms"] <= r["latency_ms"]
            and o is not r
            and (o["accuracy"], o["latency_ms"]) != (r["accuracy"], r["latency_ms"])
            for o in feasible
        )
    }
    assert {r["number"] for r in front} == expected
    assert [r["latency_ms"] for r in front] == sorted(r["latency_ms"] for r in front)
    accs = [r["accuracy"] for r in front]
    assert accs == sorted(accs)  # slower members are only on the front when more accurate


def test_space_checks_and_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match="ba_m"):
        SearchSpace(vertices=(3, 8), ba_m=(1, 4)).check()
    with pytest.raises(ConfigError, match="families"):
        SearchSpace(families=("nope",)).check()
    path = tmp_path / "space.json"
    path.write_text(json.dumps({**create_space("tiny").to_dict(), "families": ["dp"]}))
    assert create_space(str(path)).families == ("dp",)
    path.write_text(json.dumps({"vertex": [4, 8]}))
    with pytest.raises(ConfigError, match="unknown fields"):
        create_space(str(path))
    with pytest.raises(ConfigError, match="unknown search space"):
        create_space("huge")


def test_choice_regenerates_the_same_spec() -> None:
    choice = Choice("dp", {"n": 7, "alpha": 1.0, "beta": 1.0, "p": 0.5}, channels=8, arch_seed=5)
    again = Choice(**json.loads(json.dumps(choice.to_dict())))
    assert choice.spec((3, 16, 16), 10).digest() == again.spec((3, 16, 16), 10).digest()


def test_show_without_a_search_is_one_line(tmp_path, capsys) -> None:
    assert main(["search", "show", str(tmp_path)]) == 1
    assert "holds no search" in capsys.readouterr().err
    assert main(["search", "--trials", "2"]) == 1  # no --out


def test_a_dead_processs_running_trial_is_failed_queued_again_and_rerun(tmp_path) -> None:
    """What a rerun after SIGKILL finds: a RUNNING trial whose owner process is gone."""
    import subprocess
    import sys

    import optuna

    from parawire.search.coordination import OWNER_ATTR, open_storage, this_process
    from parawire.search.space import suggest

    cfg = dataclasses.replace(TINY, trials=2, sampler="random")
    run_search(cfg, tmp_path)
    url = default_storage_url(tmp_path)
    study = optuna.load_study(study_name="parawire-search", storage=open_storage(url, 30, 120))
    trial = study.ask()  # as a killed process leaves it: RUNNING, owner gone
    suggest(trial, cfg.space)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    trial.set_user_attr(OWNER_ATTR, {**this_process(), "pid": child.pid, "start": None})
    outcome = run_search(dataclasses.replace(cfg, trials=3), tmp_path)
    assert outcome.failed == [trial.number] and outcome.evaluated == 1
    done = assert_exact_budget(url, 3)
    retry = [t for t in done if t.system_attrs.get("failed_trial") == trial.number]
    assert len(retry) == 1 and retry[0].params == trial.params
    assert study.get_trials()[trial.number].state.name == "FAIL"


def test_a_missing_predictor_file_is_one_line_before_anything_is_written(tmp_path, capsys) -> None:
    out = tmp_path / "s"
    assert main(search_args(out, 2, "--predictor", str(tmp_path / "none.pt"))) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file" in err
    assert not out.exists()


def test_the_learned_predictor_gives_the_latency_objective(tmp_path) -> None:
    from parawire.latency import Sample, create_predictor, save_predictor
    from parawire.search.evaluate import latency

    specs = [Choice("dp", {"n": 6 + i, "alpha": 1.0, "beta": 1.0, "p": 0.5}, channels=4,
                    arch_seed=i).spec((3, 16, 16), 10) for i in range(6)]  # fmt: skip
    cfg = dataclasses.replace(TINY, trials=2, sampler="random")
    samples = []
    for spec in specs:
        simulated = latency(spec, cfg, "float32")
        samples.append(Sample(spec, 4, simulated.placement, "float32", "rpi4-ethernet",
                              2.0 * simulated.seconds, "dp"))  # fmt: skip
    path = save_predictor(create_predictor("simulation").fit(samples), tmp_path / "p.pt")
    with_predictor = dataclasses.replace(cfg, predictor=str(path))
    doubled = latency(specs[0], with_predictor, "float32")
    assert doubled.source.startswith("predictor:")
    assert doubled.seconds == pytest.approx(2.0 * latency(specs[0], cfg, "float32").seconds, 0.05)
    outcome = run_search(with_predictor, tmp_path / "s")
    assert len(outcome.rows) == 2
    with pytest.raises(ConfigError, match="fitted on measurements of rpi4-ethernet"):
        run_search(dataclasses.replace(with_predictor, profile="rpi4-wifi"), tmp_path / "w")
    assert not (tmp_path / "w").exists()


def test_a_failed_proposal_is_recorded_and_the_search_goes_on(tmp_path, monkeypatch) -> None:
    from parawire.errors import TrainingError
    from parawire.search import evaluate

    real, calls = evaluate.evaluate_choice, []

    def diverge_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise TrainingError("training diverged in epoch 1")
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluate, "evaluate_choice", diverge_once)
    outcome = run_search(dataclasses.replace(TINY, trials=2, sampler="random"), tmp_path)
    assert outcome.evaluated == 2 and len(calls) == 3
    assert states(default_storage_url(tmp_path)) == {"COMPLETE": 2, "FAIL": 1}
