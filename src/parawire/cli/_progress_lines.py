"""Progress of `train` and `eval` off a terminal: plain lines at a bounded rate, with time left.

On a terminal the rich bars show progress (``parawire.cli._progress``, and the training loop's
own bar). In a log or a pipe a bar draws nothing, and an epoch of a real data set on a busy CPU
runs for minutes (one epoch of the README's CIFAR-10 command took 7 minutes without a word), so
these commands print a line when a phase starts, then at most one every ``every_s`` seconds and
one when it completes, each with the share done and the time left at the phase's rate so far.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import click

from parawire.cli._progress import ProgressFn, progress_on_stderr

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
    state = {"phase": "", "start": 0.0, "last": 0.0}

    def line(phase: str, done: int, total: int) -> None:
        now = clock()
        if phase != state["phase"]:
            state.update(phase=phase, start=now, last=now)
            echo(f"{command}: {phase}: {total} step(s)...")
            if done < total:
                return
        if done < total and now - state["last"] < every_s:
            return
        state["last"] = now
        elapsed = now - state["start"]
        share = f"{done}/{total} steps ({done / total:.0%})" if total else f"{done} steps"
        left = (
            "done"
            if done >= total
            else f"about {duration(elapsed / done * (total - done))} left"
            if done
            else "time left unknown"
        )
        echo(f"{command}: {phase}: {share}, {duration(elapsed)} elapsed, {left}")

    return line


def step_progress(command: str) -> AbstractContextManager[ProgressFn]:
    """The progress callback of ``command``: a rich bar on a terminal, these lines otherwise."""
    if sys.stderr.isatty():
        return progress_on_stderr(command)
    return nullcontext(progress_lines(command, lambda text: click.echo(text, err=True)))


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
