"""`parawire latency`: measured latency data sets and learned latency predictors.

parawire latency collect --samples 300 --devices 1,2 --out latency.db
parawire latency collect --samples 40 --devices 4 --emulate rpi4-ethernet --out latency.db
parawire latency fit latency.db -o predictor.pt --model hybrid
parawire latency predict arch.json --devices 2 --predictor predictor.pt
parawire latency report latency.db --predictor predictor.pt --plot measured.png

The library (torch, SQLAlchemy) is imported when a command runs, not for ``--help``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from parawire.errors import ConfigError


def _devices(text: str) -> tuple[int, ...]:
    """``"1,2,4"`` -> (1, 2, 4); ConfigError on anything else."""
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError(
            f"--devices must be comma-separated integers like 1,2,4, got {text!r}"
        ) from None
    if not values:
        raise ConfigError("--devices needs at least one k, e.g. --devices 1,2")
    return values


@contextmanager
def _progress(what: str) -> Iterator[Callable[[int, int, str], None]]:
    """A progress callback: a rich bar on a terminal, a line every 10% otherwise."""
    if not sys.stderr.isatty():
        shown = [-1]

        def line(done: int, total: int, label: str) -> None:
            tenth = 10 * done // max(total, 1)
            if tenth != shown[0]:
                shown[0] = tenth
                click.echo(f"{what}: {done}/{total} ({label})", err=True)

        yield line
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
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(what, total=None)

        def update(done: int, total: int, label: str) -> None:
            bar.update(task, description=f"{what} {label}", completed=done, total=total)

        yield update


@click.group("latency")
def latency_group() -> None:
    """Collect measured latencies; fit, apply and evaluate latency predictors."""


@latency_group.command("collect")
@click.option("--out", "out", required=True, help="SQLite file or SQLAlchemy URL of the store.")
@click.option("--samples", type=click.IntRange(min=0), default=100, show_default=True)
@click.option("--devices", default="1", show_default=True, help="k values, e.g. 1,2,4.")
@click.option("--emulate", default=None, help="Emulate this device profile (runtime emulation).")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=15, show_default=True)
@click.option("--warmup", type=click.IntRange(min=0), default=3, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--min-nodes", type=int, default=6, show_default=True)
@click.option("--max-nodes", type=int, default=32, show_default=True)
@click.option("--generators", default="", help="Comma-separated generators (default: all).")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds.")
def collect_cmd(
    out: str,
    samples: int,
    devices: str,
    emulate: str | None,
    threads: int,
    repeats: int,
    warmup: int,
    seed: int,
    min_nodes: int,
    max_nodes: int,
    generators: str,
    timeout: float,
) -> None:
    """Measure sampled architectures into OUT; resumable (rerun to continue)."""
    from parawire.latency.collect import CollectConfig, collect
    from parawire.latency.store import LatencyStore

    if emulate is not None:
        from parawire.analysis.profiles import get_profile

        get_profile(emulate)  # an unknown profile fails before anything is measured
    config = CollectConfig(
        samples=samples,
        devices=_devices(devices),
        seed=seed,
        threads=threads,
        repeats=repeats,
        warmup=warmup,
        emulate=emulate,
        min_nodes=min_nodes,
        max_nodes=max_nodes,
        timeout=timeout,
        generators=tuple(g.strip() for g in generators.split(",") if g.strip()),
    )
    config.check()
    store = LatencyStore(out)
    with _progress("collect") as progress:
        summary = collect(store, config, progress)
    click.echo(
        f"{summary.measured} measured, {summary.skipped} already stored, "
        f"{len(summary.failed)} failed; {store.count()} rows in {out}"
    )
    for line in summary.failed:
        click.echo(f"  failed: {line}", err=True)
    store.close()


COMMANDS = [latency_group]
