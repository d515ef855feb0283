"""`run` is not silent: progress while ranks start, warm up and measure; the load average it
ran under in its report, with a warning when the machine was busy."""

from __future__ import annotations

import os

import pytest

from conftest import small_spec
from parawire.progress import progress_on_stderr
from parawire.runtime import Plan, RunOptions, RunReport
from parawire.runtime.group import JOIN_KEY, StoreHost
from parawire.runtime.launch import _RunWatch
from parawire.runtime.rank import PROGRESS_KEY, run_rank
from parawire.runtime.run_report import load_warnings, machine_load


def _load(before: float, cores: int = 2, ranks: int = 2, threads: int = 1) -> dict:
    return {"load_1min": before, "load_1min_after": before, "cores": cores, "ranks": ranks,
            "threads": threads}  # fmt: skip


def test_a_busy_machine_and_oversubscribed_cores_are_warned_about() -> None:
    assert load_warnings(_load(0.5)) == []
    (busy,) = load_warnings(_load(14.0))
    assert "busy (1-minute load average 14.00 on 2 cores" in busy
    (shared,) = load_warnings(_load(0.5, ranks=4))
    assert "4 ranks x 1 thread(s) share 2 cores" in shared
    assert len(load_warnings(_load(3.0, ranks=2, threads=2))) == 2
    assert load_warnings({}) == []


def test_machine_load_reads_this_machine() -> None:
    """Against the OS: the cores this process may run on (taskset), the load average."""
    before = os.getloadavg()[0]
    load = machine_load()
    after = os.getloadavg()[0]
    assert load["cores"] == len(os.sched_getaffinity(0))
    assert min(before, after) <= load["load_1min"] <= max(before, after)


def test_the_report_carries_the_load_and_its_warnings() -> None:
    report = RunReport(devices=2, latencies_s=[0.01], single_latencies_s=[0.01], load=_load(9.0))
    doc = report.to_dict()
    assert doc["load"]["load_1min"] == 9.0 and doc["load"]["cores"] == 2
    assert doc["warnings"] == report.warnings and "busy" in doc["warnings"][0]


def test_the_launcher_shows_ranks_joining_then_rank_zero_phases() -> None:
    seen: list[tuple[str, int, int]] = []
    host = StoreHost("127.0.0.1", 0, 2, 5.0)
    try:
        watch = _RunWatch(host.store, 2, lambda *step: seen.append(step))
        host.store.set(JOIN_KEY.format(rank=0), "-")
        watch.poll(every=0)
        host.store.set(JOIN_KEY.format(rank=1), "-")
        host.store.set(PROGRESS_KEY, "measuring|3|20")
        watch.poll(every=0)
    finally:
        host.close()
    assert seen == [("starting ranks", 1, 2), ("starting ranks", 2, 2), ("measuring", 3, 20)]


def test_rank_zero_publishes_its_progress_between_inferences() -> None:
    spec = small_spec("chain", size=16)
    plan = Plan(spec, dict.fromkeys(spec.topological_order, 0), 1)
    host = StoreHost("127.0.0.1", 0, 1, 10.0)
    try:
        options = RunOptions(runs=4, warmup=2, timeout=10.0, paired=False)
        record = run_rank(plan, 0, "127.0.0.1", host.port, options, store=host.store,
                          publish_progress=True)  # fmt: skip
        assert len(record.latencies) == 4
        assert host.store.get(PROGRESS_KEY).decode() == "measuring|4|4"  # the last step
    finally:
        host.close()


def test_progress_off_a_terminal_is_a_line_per_phase_start_and_end(
    capsys: pytest.CaptureFixture,
) -> None:
    """Off a terminal a phase starts and ends with a line; steps between are not printed
    unless ``every_s`` passes (the clock here never lets it), so a log stays short."""
    with progress_on_stderr("run") as progress:
        for phase, total in (("starting ranks", 2), ("warm-up", 3), ("measuring", 20)):
            for done in range(total + 1):
                progress(phase, done, total)
            progress(phase, total, total)  # a repeated end is not shown twice
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(", ")[0] for line in lines] == [
        "run: starting ranks: 2 step(s)...",
        "run: starting ranks: 2/2 steps (100%)",
        "run: warm-up: 3 step(s)...",
        "run: warm-up: 3/3 steps (100%)",
        "run: measuring: 20 step(s)...",
        "run: measuring: 20/20 steps (100%)",
    ]
    assert all(line.endswith("done") for line in lines[1::2])
