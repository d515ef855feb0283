"""`parawire latency collect` and `parawire latency noise`: measured latencies, and how far
two measurements of the same architectures agree (the ceiling of any predictor).

parawire latency collect --samples 300 --devices 1 --clock cpu --out a.db
parawire latency collect --samples 300 --devices 1 --clock cpu --out b.db   # again: a retest
parawire latency noise a.db b.db

The library (torch, SQLAlchemy) is imported when a command runs, not for ``--help``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from parawire._io import dumps_strict
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


@click.command("collect")
@click.option(
    "-o", "--out", "out", required=True, help="SQLite file or SQLAlchemy URL of the store."
)
@click.option(
    "--samples",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="Architectures to sample (the job list extends without reshuffling).",
)
@click.option(
    "-n",
    "--devices",
    default="1",
    show_default=True,
    help="Devices (ranks) available: a deployment uses at most this many; a list (1,2,4) "
    "measures every architecture at each.",
)
@click.option(
    "--emulate",
    default=None,
    metavar="PROFILE",
    help="Emulate devices of this profile for k > 1 (runtime device emulation).",
)
@click.option(
    "--threads", type=click.IntRange(min=1), default=1, show_default=True, help="Per rank."
)
@click.option(
    "--repeats", type=click.IntRange(min=1), default=15, show_default=True, help="Timed runs."
)
@click.option(
    "--warmup",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Unmeasured runs first.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seeds the sampled architectures' draws (generator, size, width, staging...).",
)
@click.option(
    "--min-nodes", type=int, default=6, show_default=True, help="Fewest vertices sampled."
)
@click.option(
    "--max-nodes",
    type=int,
    default=32,
    show_default=True,
    help="Most vertices of a sampled spec (staging's vertices included).",
)
@click.option(
    "--processes",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Fresh processes each row is timed in (0: this process, for quick looks).",
)
@click.option(
    "--interleave",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Jobs whose fresh-process rounds are interleaved (rows are stored per batch).",
)
@click.option(
    "--dilation",
    default="1",
    show_default=True,
    help="With --emulate: run the emulation F times slower and divide the times by F, or "
    "auto (F from this machine and its load; docs/runtime.md, time dilation).",
)
@click.option(
    "--noise-threshold",
    type=click.FloatRange(min=0, min_open=True),
    default=0.10,
    show_default=True,
    help="Flag a row noisy when its processes' medians differ by more than this share.",
)
@click.option("--generators", default="", help="Comma-separated generators (default: all).")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds.")
@click.option(
    "--max-minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Stop starting new measurements after this long (rerun to continue).",
)
@click.option(
    "--clock",
    type=click.Choice(["wall", "cpu"]),
    default="wall",
    show_default=True,
    help="cpu: time k=1 inferences by thread CPU time (robust on a shared machine).",
)
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
    max_minutes: float | None,
    clock: str,
    processes: int,
    interleave: int,
    dilation: str,
    noise_threshold: float,
) -> None:
    """Measure sampled architectures into OUT; resumable (rerun to continue)."""
    from parawire.latency.collect import CollectConfig, collect
    from parawire.latency.store import LatencyStore

    if emulate is not None:
        from parawire.analysis.profiles import create_profile

        create_profile(emulate)  # an unknown profile fails before anything is measured
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
        clock=clock,
        processes=processes,
        interleave=interleave,
        dilation=dilation,
        noise_threshold=noise_threshold,
    )
    config.check()
    store = LatencyStore(out)
    with _progress("collect") as progress:
        budget = None if max_minutes is None else 60.0 * max_minutes
        summary = collect(store, config, progress, budget_s=budget)
    click.echo(
        f"{summary.measured} measured, {summary.skipped} already stored, "
        f"{len(summary.failed)} failed; {store.count()} rows in {out}"
        + (" (out of time: rerun to continue)" if summary.out_of_time else "")
    )
    for line in summary.failed:
        click.echo(f"  failed: {line}", err=True)
    store.close()


@click.command("noise")
@click.argument("first")
@click.argument("second")
@click.option(
    "--k", "devices", type=click.IntRange(min=1), default=None, help="Only rows of this k."
)
@click.option("--measured-on", "profile", default=None, help="Only rows of this label.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def noise_cmd(
    first: str, second: str, devices: int | None, profile: str | None, as_json: bool
) -> None:
    """Test-retest agreement of two stores measuring the same architectures: the ceiling for
    any predictor fitted on such labels."""
    from parawire.latency.noise import retest
    from parawire.latency.store import LatencyStore

    rows = []
    for target in (first, second):
        store = LatencyStore(target, create=False)
        rows.append(store.rows(devices=devices, profile=profile))
        store.close()
    result = retest(rows[0], rows[1])
    if as_json:
        click.echo(dumps_strict(result.to_dict()))
        return
    e = result.agreement
    click.echo(
        f"test-retest on {e.n} deployments measured in both: {e.within10:.1f}% within ±10%, "
        f"{e.within5:.1f}% within ±5%, MAPE {e.mape:.2f}%, Spearman {e.spearman:.3f}; median "
        f"{second} / {first} = {result.median_ratio:.3f}"
    )
    r = result.rescaled
    click.echo(
        f"with the median ratio divided out: {r.within10:.1f}% within ±10%, "
        f"{r.within5:.1f}% within ±5%, MAPE {r.mape:.2f}%"
    )
    click.echo(
        "no predictor fitted on these labels can be expected to do better than this "
        f"({result.only_first} rows only in {first}, {result.only_second} only in {second})"
    )
