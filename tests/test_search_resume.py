"""Search resumption and sharing: SIGKILL and rerun, two processes on one SQLite file, dead
owners recognised."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from parawire.search.coordination import default_storage_url, owner_is_dead, this_process
from search_helpers import assert_exact_budget, search_args, spawn, states, trials

DEADLINE_S = 240  # generous: the test machine may be busy


def _wait(proc: subprocess.Popen, log) -> None:
    assert proc.wait(timeout=DEADLINE_S) == 0, log.read_text()[-3000:]


@pytest.mark.slow
def test_sigkill_and_rerun_finish_the_budget_and_lose_nothing(tmp_path) -> None:
    out, log = tmp_path / "s", tmp_path / "log"
    url = default_storage_url(out)
    proc = spawn(search_args(out, 6), log)
    deadline = time.monotonic() + DEADLINE_S
    try:  # kill it while a trial trains, after two have finished
        while proc.poll() is None and time.monotonic() < deadline:
            if (out / "search.sqlite").exists():
                now = trials(url)
                running = [t for t in now if t.state.name == "RUNNING"]
                complete = [t for t in now if t.state.name == "COMPLETE"]
                if len(complete) >= 2 and running and "choice" in running[0].user_attrs:
                    break
            time.sleep(0.05)
        assert proc.poll() is None, f"it finished before it could be killed: {log.read_text()}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    before = {t.number: (t.state.name, t.values) for t in trials(url)}
    killed = [n for n, (state, _) in before.items() if state == "RUNNING"]
    finished = {n: v for n, (state, v) in before.items() if state == "COMPLETE"}
    assert len(killed) == 1 and len(finished) >= 2

    rerun = spawn(search_args(out, 6), tmp_path / "log2")
    _wait(rerun, tmp_path / "log2")
    done = assert_exact_budget(url, 6)  # the same count as an uninterrupted run
    after = {t.number: t for t in trials(url)}
    for number, values in finished.items():  # nothing finished was lost or redone
        assert after[number].state.name == "COMPLETE" and after[number].values == values
    assert after[killed[0]].state.name == "FAIL"  # the killed trial: failed, then queued again
    retry = [t for t in done if t.system_attrs.get("failed_trial") == killed[0]]
    assert len(retry) == 1 and retry[0].params == after[killed[0]].params
    assert "queued again" in (tmp_path / "log2").read_text()


@pytest.mark.slow
def test_two_processes_on_one_sqlite_file_share_the_budget(tmp_path) -> None:
    out = tmp_path / "s"
    procs = [spawn(search_args(out, 8), tmp_path / f"log{i}") for i in range(2)]
    for i, proc in enumerate(procs):
        _wait(proc, tmp_path / f"log{i}")
    done = assert_exact_budget(default_storage_url(out), 8)
    assert states(default_storage_url(out)) == {"COMPLETE": 8}  # no failed, no spare trial
    lines = [
        line
        for i in range(2)
        for line in (tmp_path / f"log{i}").read_text().splitlines()
        if line.startswith("trial ")
    ]
    numbers = sorted(int(line.split()[1].rstrip(":")) for line in lines)
    assert numbers == sorted(t.number for t in done)  # each trial evaluated by one process


def test_owner_liveness() -> None:
    me = this_process()
    assert not owner_is_dead(me)
    assert not owner_is_dead({**me, "host": "elsewhere"})  # another machine: the heartbeat decides
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    owner = {**me, "pid": child.pid, "start": None}
    assert not owner_is_dead(owner)
    child.kill()  # a zombie until reaped: already dead
    time.sleep(0.2)
    assert owner_is_dead(owner)
    child.wait()
    assert owner_is_dead(owner)
    assert owner_is_dead({**me, "start": me["start"] + 1})  # this pid, another process's start
