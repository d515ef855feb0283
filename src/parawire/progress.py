"""Progress: the one callback type (:data:`ProgressFn`) and its one display on stderr.

Library functions with long phases (``run_local``, ``export_plan``, ``calibrate``, training, a
search) take a ``ProgressFn``; commands pass :func:`progress_on_stderr`'s. On a terminal it is a
transient rich bar (phase, bar, done of total, elapsed time, time left). In a log or a pipe a bar
draws nothing, and an epoch of a real data set on a busy CPU runs for minutes (one epoch of the
README's CIFAR-10 command took 7 minutes without a word), so there it prints a line when a phase
starts, then at most one every ``every_s`` seconds and one when the phase completes, each with the
share done and the time left at the phase's rate so far. stdout stays free for the command's
result (``--json``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import click

ProgressFn = Callable[[str, int, int], None]  # (phase, steps done, steps in all)

EVERY_S = 30.0  # seconds between progress lines in a log: ~14 lines for a 7-minute epoch


def duration(seconds: float) -> str:
    """``45s``, ``3m05s`` or ``1h02m``: a time, short."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def progress_lines(
    command: str,
    echo: Callable[[str], None],
    every_s: float = EVERY_S,
    clock: Callable[[], float] = time.monotonic,
) -> ProgressFn:
    """A ``(phase, done, total)`` callback printing through ``echo``: a line per new phase, then
    at most one every ``every_s`` seconds and one at the phase's end, with the time left."""
    return _Lines(command, echo, every_s, clock)


@dataclass
class _Lines:
    """The state of :func:`progress_lines`: the phase shown, when it started, the last line."""

    command: str
    echo: Callable[[str], None]
    every_s: float
    clock: Callable[[], float]
    phase: str = ""
    start: float = 0.0
    last: float = 0.0
    ended: bool = False

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = self.clock()
        if phase != self.phase:
            self.phase, self.start, self.last, self.ended = phase, now, now, False
            self.echo(f"{self.command}: {phase}: {total} step(s)...")
            if done < total:
                return
        if self.ended or (done < total and now - self.last < self.every_s):
            return
        self.last, self.ended = now, done >= total
        left = _time_left(now - self.start, done, total)
        self.echo(f"{self.command}: {phase}: {_share(done, total)}, {left}")


def _share(done: int, total: int) -> str:
    return f"{done}/{total} steps ({done / total:.0%})" if total else f"{done} steps"


def _time_left(elapsed: float, done: int, total: int) -> str:
    """``12s elapsed, about 1m09s left`` at the rate so far (``done`` once the phase ends)."""
    if done >= total:
        left = "done"
    elif done:
        left = f"about {duration(elapsed / done * (total - done))} left"
    else:
        left = "time left unknown"
    return f"{duration(elapsed)} elapsed, {left}"


@contextmanager
def progress_on_stderr(command: str, every_s: float = EVERY_S) -> Iterator[ProgressFn]:
    """A progress callback for ``command``: a rich bar on a terminal, lines otherwise."""
    if not sys.stderr.isatty():
        yield progress_lines(command, lambda text: click.echo(text, err=True), every_s)
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        "{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(command, total=None)
        shown = {"phase": ""}

        def update(phase: str, done: int, total: int) -> None:
            if phase != shown["phase"]:  # a new phase's rate starts afresh (the time left)
                bar.reset(task, total=total)
                shown["phase"] = phase
            bar.update(task, description=f"{command}: {phase}", completed=done, total=total)

        yield update


class CountedBatches:
    """Batches that report each one handed out to ``progress`` as ``(phase, done, total)``."""

    def __init__(self, batches: Any, progress: ProgressFn, phase: str) -> None:
        self.batches = batches  # anything with ``epoch(...)`` yielding batches and a ``len``
        self.progress = progress
        self.phase = phase

    def __len__(self) -> int:
        return len(self.batches)

    def epoch(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        """The wrapped batches' ``epoch``, reporting after each batch."""
        total = len(self.batches)
        for done, batch in enumerate(self.batches.epoch(*args, **kwargs), start=1):
            yield batch
            self.progress(self.phase, done, total)
