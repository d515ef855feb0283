"""Progress: the one callback type (:data:`ProgressFn`) and its one display on stderr.

Library functions with long phases (``run_local``, ``export_plan``, ``calibrate``) take a
``ProgressFn``; commands pass :func:`progress_on_stderr`'s. On a terminal it is a transient
rich bar (phase, bar, done of total, elapsed time); otherwise one line per new phase, so logs
stay short. stdout stays free for the command's result (``--json``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

ProgressFn = Callable[[str, int, int], None]  # (phase, steps done, steps in all)


@contextmanager
def progress_on_stderr(command: str) -> Iterator[ProgressFn]:
    """A progress callback for ``command``: a rich bar on a terminal, lines otherwise."""
    if not sys.stderr.isatty():
        phases: list[str] = []

        def line(phase: str, done: int, total: int) -> None:
            if not phases or phases[-1] != phase:
                phases.append(phase)
                click.echo(f"{command}: {phase} ({total} step(s))...", err=True)

        yield line
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(command, total=None)

        def update(phase: str, done: int, total: int) -> None:
            bar.update(task, description=phase, completed=done, total=total)

        yield update
