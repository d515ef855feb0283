"""Ordinary mistakes give one line and a non-zero exit, never a traceback: output paths that
cannot be written, bad run options, damaged plan weights, a study database of another schema,
and a worker's own error surfacing in `run`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import click
import pytest

from conftest import small_spec
from parawire.cli import COMMAND_TABLE, app, main
from parawire.cli._paths import check_output_file, check_output_folder
from parawire.errors import ConfigError, DataError, RuntimeTimeoutError
from parawire.runtime import Plan, RunOptions


def _one_line_error(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    """Run ``parawire ARGS``; assert a non-zero exit with one line on stderr; return it."""
    assert main(args) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("parawire: error: ") and len(err.splitlines()) == 1, err
    return err


@pytest.fixture
def blocker(tmp_path: Path) -> Path:
    """A plain file where a folder is needed."""
    path = tmp_path / "a-file"
    path.write_text("not a folder")
    return path


def _out_commands() -> list[click.Command]:
    """Every command whose --out is a path."""
    ctx = click.Context(app)
    commands = [app.get_command(ctx, name) for name in COMMAND_TABLE]
    return [
        c
        for c in commands
        if c is not None
        and any(p.name == "out" and isinstance(p.type, click.Path) for p in c.params)
    ]


def test_every_command_checks_its_out_before_any_work(blocker: Path) -> None:
    commands = _out_commands()
    assert {"plan", "train", "study", "analyze", "generate"} <= {c.name for c in commands}
    for command in commands:
        assert command.callback is not None
        with pytest.raises(ConfigError, match="a-file is a file") as info:
            command.callback(out=blocker / "sub" / "x.json")  # refused before its own code runs
        assert "\n" not in str(info.value), command.name


def test_out_paths_are_checked_without_creating_anything(tmp_path: Path, blocker: Path) -> None:
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        check_output_folder(blocker)
    with pytest.raises(ConfigError, match="is a folder; give a file name"):
        check_output_file(tmp_path)
    new = tmp_path / "new" / "deeper"
    assert check_output_folder(new) == new and not (tmp_path / "new").exists()
    assert check_output_file(new / "x.json") == new / "x.json"


def test_an_unwritable_out_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.access", lambda path, mode: False)  # e.g. a read-only file system
    with pytest.raises(ConfigError, match=r"cannot write in .* \(permission denied or read-only"):
        check_output_folder(tmp_path / "out")


def test_plan_and_train_out_give_one_line(capsys, tmp_path: Path, blocker: Path) -> None:
    spec = str(small_spec("chain", size=16).save(tmp_path / "arch.json"))
    err = _one_line_error(capsys, ["plan", spec, "-n", "2", "-o", str(blocker)])
    assert "is a file, not a folder" in err
    err = _one_line_error(capsys, ["train", spec, "--out", str(blocker / "run")])
    assert "nothing can be written under it" in err
    err = _one_line_error(capsys, ["generate", "chain", "-o", str(tmp_path)])
    assert "is a directory" in err  # click checks dir_okay=False itself


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_run_and_worker_refuse_a_timeout_that_is_not_finite(capsys, tmp_path, value) -> None:
    spec = small_spec("chain", size=16)
    folder = Plan(spec, dict.fromkeys(spec.topological_order, 0), 1).save(tmp_path)
    for args in (["run", str(folder)], ["worker", str(folder), "--rank", "0", "--world", "1",
                                        "--master", "127.0.0.1:1"]):  # fmt: skip
        err = _one_line_error(capsys, [*args, "--timeout", value])
        assert "--timeout a finite number > 0" in err or ("'--timeout'" in err and "x>0" in err)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--dilation", "2"], "add --emulate PROFILE"),
        (["--emulate", "t2micro", "--dilation", "0.5"], "dilation must be a finite number >= 1"),
        (["--emulate", "t2micro", "--dilation", "fast"], "a number >= 1 or auto"),
    ],
)
def test_run_refuses_a_dilation_it_cannot_apply(capsys, tmp_path, extra, message) -> None:
    spec = small_spec("chain", size=16)
    folder = Plan(spec, dict.fromkeys(spec.topological_order, 0), 1).save(tmp_path)
    err = _one_line_error(capsys, ["run", str(folder), "--check", "0", *extra])
    assert message in err


def _plan_with_weights(folder: Path) -> Path:
    """A 2-rank plan folder with a weights file."""
    from safetensors.torch import save_file

    from parawire.runtime.plan import seeded_state_dict

    spec = small_spec("lanes", size=16)
    save_file(seeded_state_dict(spec, 0), str(folder.parent / "w.safetensors"))
    placement = {v: i % 2 for i, v in enumerate(spec.topological_order)}
    return Plan(spec, placement, 2, weights=folder.parent / "w.safetensors").save(folder)


def test_damaged_plan_weights_give_one_line(capsys, tmp_path: Path) -> None:
    folder = _plan_with_weights(tmp_path / "plan")
    weights = folder / "weights.safetensors"
    pristine = weights.read_bytes()
    weights.write_bytes(pristine[:100])  # truncated
    err = _one_line_error(capsys, ["run", str(folder), "--check", "0", "--timeout", "5"])
    assert "cannot read plan weights" in err
    with pytest.raises(DataError, match="cannot read plan weights") as info:
        Plan.load(folder).state_dict(1)  # what `parawire worker` reads on each device
    assert "\n" not in str(info.value)
    import torch
    from safetensors.torch import save_file

    save_file({"head.fc.weight": torch.zeros(2, 2)}, str(weights))  # another model's weights
    err = _one_line_error(capsys, ["run", str(folder), "--check", "0", "--timeout", "5"])
    assert "do not fit the plan's spec" in err
    weights.unlink()
    err = _one_line_error(capsys, ["run", str(folder), "--check", "0", "--timeout", "5"])
    assert "plan weights not found" in err


def test_a_study_database_of_another_schema_gives_one_line(tmp_path: Path) -> None:
    from parawire.study.store import DB_NAME, StudyStore

    with sqlite3.connect(tmp_path / DB_NAME) as db:
        db.execute("CREATE TABLE meta (x INTEGER)")  # right table name, wrong columns
    with pytest.raises(DataError, match="is not a study database of this version") as info:
        StudyStore(tmp_path)
    assert "\n" not in str(info.value)
    StudyStore(tmp_path / "fresh")
    StudyStore(tmp_path / "fresh")  # a database of this schema opens again


def test_a_worker_error_becomes_one_line_naming_its_rank(tmp_path: Path) -> None:
    import os
    import time

    from parawire.runtime.launch import SpawnJob, _errors, _worker, worker_error

    assert worker_error(1, ValueError("boom\nmore")) == "rank 1 failed: ValueError: boom"
    assert worker_error(0, DataError("bad  weights\n x")) == "bad weights x"
    spec = small_spec("chain", size=16)
    Plan(spec, dict.fromkeys(spec.topological_order, 0), 1).save(tmp_path)
    # rank 0 of a check run reads its images from a file the launcher writes: absent here, so
    # the worker fails with an error that is not parawire's own (before the fix: a traceback
    # on the terminal and "rank 0 exited with code 1"). A forked child runs it: no spawn.
    options = RunOptions(runs=1, warmup=0, check=5, timeout=5.0)
    pid = os.fork()
    if pid == 0:
        try:
            _worker(0, SpawnJob(str(tmp_path), 1, options, os.getppid()))
        finally:
            os._exit(99)
    deadline = time.monotonic() + 30
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    if done[0] == 0:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    assert done[0] == pid and os.waitstatus_to_exitcode(done[1]) == 1
    (message,) = _errors(tmp_path, [(0, 1)])
    assert message.startswith("rank 0 failed: ") and "check.safetensors" in message
    assert "\n" not in message


def test_errors_come_first_failed_first_and_silent_deaths_are_named(tmp_path: Path) -> None:
    import os

    from parawire.runtime.launch import _errors

    (tmp_path / "error-rank1.txt").write_text("rank 1 failed: ValueError: the cause")
    (tmp_path / "error-rank0.txt").write_text("rank 0: lost rank 1")
    os.utime(tmp_path / "error-rank1.txt", ns=(1, 1))  # written first
    failed = [(0, 1), (1, 1), (2, -9), (3, 1)]
    assert _errors(tmp_path, failed) == [
        "rank 1 failed: ValueError: the cause",
        "rank 0: lost rank 1",
        "rank 2 was killed by SIGKILL (out of memory?)",
        "rank 3 exited with code 1 without an error message",
    ]


@pytest.mark.slow  # one spawned worker: about 25 s on a busy 2-core machine
def test_a_worker_error_reaches_run_as_its_own_line(tmp_path: Path) -> None:
    from parawire.runtime.launch import spawn_ranks

    spec = small_spec("chain", size=16)
    Plan(spec, dict.fromkeys(spec.topological_order, 0), 1).save(tmp_path)
    with pytest.raises(RuntimeTimeoutError) as info:
        spawn_ranks(tmp_path, 1, 1, RunOptions(runs=1, warmup=0, check=5, timeout=5.0))
    message = str(info.value)
    assert message.startswith("distributed run failed: rank 0 failed: ")
    assert "check.safetensors" in message and "\n" not in message
