"""Shared pieces of the search tests: a tiny search's arguments, its subprocess, its trials."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

# synthetic data of 64 16x16 images and the tiny space: one trial trains in a fraction of a second
TINY_DATA = ("--dataset", "synthetic", "--dataset-option", "num_train=64",
             "--dataset-option", "num_test=32", "--dataset-option", "image_size=16")  # fmt: skip
TINY_DATASET_OPTIONS = (("num_train", 64), ("num_test", 32), ("image_size", 16))


def search_args(out: Path, trials: int, *extra: str) -> list[str]:
    """``parawire search`` arguments of the tiny test search (1 epoch, k=4, rpi4-ethernet)."""
    return ["search", *TINY_DATA, "--trials", str(trials), "--epochs", "1", "--devices", "4",
            "--profile", "rpi4-ethernet", "--space", "tiny", "--out", str(out), *extra]  # fmt: skip


def spawn(args: list[str], log: Path) -> subprocess.Popen:
    """``parawire ARGS`` in a new Python process, its output in ``log``."""
    code = "import sys; from parawire.cli import main; sys.exit(main())"
    with log.open("w") as handle:
        return subprocess.Popen(
            [sys.executable, "-c", code, *args], stdout=handle, stderr=subprocess.STDOUT
        )


def trials(url: str) -> list[Any]:
    """Every trial of the search stored at ``url`` (FrozenTrial objects)."""
    import optuna

    from parawire.search.config import STUDY_NAME
    from parawire.search.coordination import open_storage
    from parawire.search.runner import quiet_optuna

    quiet_optuna()
    study = optuna.load_study(study_name=STUDY_NAME, storage=open_storage(url, 30, 120))
    return study.get_trials(deepcopy=False)


def states(url: str) -> dict[str, int]:
    """Trial count per state name."""
    counts: dict[str, int] = {}
    for t in trials(url):
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    return counts


def assert_exact_budget(url: str, budget: int) -> list[Any]:
    """Exactly ``budget`` COMPLETE trials, no RUNNING one, every COMPLETE one evaluated once
    (distinct trial numbers, each with its evaluation); returns the COMPLETE trials."""
    every = trials(url)
    done = [t for t in every if t.state.name == "COMPLETE"]
    assert len(done) == budget, {t.number: t.state.name for t in every}
    assert not [t for t in every if t.state.name == "RUNNING"]
    assert len({t.number for t in done}) == budget
    assert all("evaluation" in t.user_attrs and len(t.values) == 2 for t in done)
    return done
