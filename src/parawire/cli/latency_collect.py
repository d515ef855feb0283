"""`parawire latency collect` and `parawire latency noise`: measured latencies, and how far
two measurements of the same architectures agree (the ceiling of any predictor).

parawire latency collect --samples 300 --devices 1 --clock cpu --out a.db
parawire latency collect --samples 300 --devices 1 --clock cpu --out b.db   # again: a retest
parawire latency noise a.db b.db

The library (torch, SQLAlchemy) is imported when a command runs, not for ``--help``.
"""

from __future__ import annotations

from typing import Any

import click

from parawire._io import dumps_strict
from parawire.cli.latency_options import k_option, measured_on_option
from parawire.cli.options import (
    devices_option,
    dilation_option,
    emulate_option,
    generators_option,
    json_option,
    out_option,
    processes_option,
    repeats_option,
    samples_option,
    seed_option,
    threads_option,
    timeout_option,
    warmup_option,
)
from parawire.progress import progress_on_stderr


@click.command("collect")
@out_option("SQLite file or SQLAlchemy URL of the store.", file=True, required=True, url=True)
@samples_option(100, "Architectures to sample (the job list extends without reshuffling).")
@devices_option(
    default=1,
    note="; the k of every row (another -n into the same store adds that k's rows of the same "
    "architectures)",
)
@emulate_option(link="")
@threads_option()
@repeats_option(15, "Timed runs in each process.")
@warmup_option()
@seed_option("Seeds the sampled architectures' draws (generator, size, width, staging...).")
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
@processes_option("Fresh processes each row is timed in (medians over them).")
@click.option(
    "--in-process",
    is_flag=True,
    help="Time in this process instead, one round, no fresh processes (quick looks).",
)
@click.option(
    "--interleave",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Jobs whose fresh-process rounds are interleaved (rows are stored per batch).",
)
@dilation_option()
@click.option(
    "--noise-threshold",
    type=click.FloatRange(min=0, min_open=True),
    default=0.10,
    show_default=True,
    help="Flag a row noisy when its processes' medians differ by more than this share.",
)
@generators_option("", "Comma-separated generators (default: every registered one).")
@timeout_option("Seconds any wait of a measurement on several devices may last.", default=120.0)
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
    devices: int,
    generators: str,
    processes: int,
    in_process: bool,
    max_minutes: float | None,
    **settings: Any,
) -> None:
    """Measure sampled architectures into OUT; resumable (rerun to continue)."""
    from parawire.latency.collect import CollectConfig, collect
    from parawire.latency.store import LatencyStore

    config = CollectConfig(
        devices=(devices,),
        generators=tuple(g.strip() for g in generators.split(",") if g.strip()),
        processes=0 if in_process else processes,
        **settings,  # the other options, named as CollectConfig's fields
    )
    config.check()
    store = LatencyStore(out)
    with progress_on_stderr("latency collect") as progress:
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
@k_option()
@measured_on_option("Only rows of this measurement label (a profile name, or local-cputime).")
@json_option()
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
