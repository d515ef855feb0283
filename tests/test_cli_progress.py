"""`train` and `eval` show progress and the time left also off a terminal, in lines at a
bounded rate (issue 20, item 11)."""

from __future__ import annotations

from pathlib import Path

import pytest

from parawire.cli import main
from parawire.progress import CountedBatches, duration, progress_lines


def test_duration_is_short() -> None:
    assert [duration(s) for s in (0.4, 45, 185, 3720)] == ["0s", "45s", "3m05s", "1h02m"]


def test_lines_at_a_bounded_rate_with_the_time_left() -> None:
    now = [0.0]
    lines: list[str] = []
    show = progress_lines("train", lines.append, every_s=30, clock=lambda: now[0])
    show("epoch 1/2", 1, 100)  # a new phase: one line
    for step, t in ((10, 10.0), (20, 20.0), (31, 31.0), (40, 40.0)):
        now[0] = t
        show("epoch 1/2", step, 100)
    now[0] = 100.0
    show("epoch 1/2", 100, 100)  # the end of a phase is always shown
    assert lines == [
        "train: epoch 1/2: 100 step(s)...",
        "train: epoch 1/2: 31/100 steps (31%), 31s elapsed, about 1m09s left",
        "train: epoch 1/2: 100/100 steps (100%), 1m40s elapsed, done",
    ]
    show("epoch 2/2", 1, 100)
    assert lines[-1] == "train: epoch 2/2: 100 step(s)..."


class _Batches:
    def __len__(self) -> int:
        return 3

    def epoch(self, seed: int = 0):
        yield from range(3)


def test_counted_batches_report_each_batch() -> None:
    seen: list[tuple[str, int, int]] = []
    counted = CountedBatches(_Batches(), lambda *a: seen.append(a), "test set")
    assert list(counted.epoch()) == [0, 1, 2] and len(counted) == 3
    assert seen == [("test set", 1, 3), ("test set", 2, 3), ("test set", 3, 3)]


def test_train_and_eval_print_progress_off_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    subset = "train_subset=200,test_subset=50"
    args = ["train", "cifarnet", "--dataset", "digits", "--epochs", "1", "--out", str(out),
            "--dataset-option", subset, "--batch-size", "32"]  # fmt: skip
    assert main(args) == 0
    err = capsys.readouterr().err  # captured: not a terminal
    assert "train: epoch 1/1: 6 step(s)..." in err  # 200 images in full batches of 32
    assert "train: epoch 1/1: 6/6 steps (100%)" in err and ", done" in err
    evaluated = ["eval", "cifarnet", "--weights", str(out), "--dataset", "digits",
                 "--dataset-option", "test_subset=50"]  # fmt: skip
    assert main(evaluated) == 0
    err = capsys.readouterr().err
    assert "eval: digits test set: 1 step(s)..." in err and "1/1 steps (100%)" in err
