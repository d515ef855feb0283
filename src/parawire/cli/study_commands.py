"""`parawire study` and `parawire demo`: compare generators and baselines, trained and analysed."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from parawire.cli.deployment_options import announce_profile, deployment_options
from parawire.cli.options import (
    DEFAULT_PROFILE,
    batch_size_option,
    c_max_option,
    channels_option,
    data_option,
    dataset_option,
    device_option,
    devices_option,
    epochs_option,
    generators_option,
    lr_option,
    merge_option,
    out_option,
    profile_option,
    recipe_option,
    samples_option,
    seed_option,
    stem_stride_option,
)
from parawire.cli.training_options import compile_option, dataset_options_option
from parawire.report import to_rich
from parawire.study import BASELINE_GROUPS, GENERATOR_GROUPS, StudyConfig, demo_config, run_study
from parawire.study.runner import StudyOutcome, throughput_line


def _names(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def _report(outcome: StudyOutcome, out: Path) -> None:
    console = Console()
    if not console.is_terminal:  # logs and pipes: wide enough that no table cell is cut
        console = Console(width=160)
    for table in outcome.tables:
        console.print(to_rich(table))
    if outcome.trained:
        console.print(throughput_line(outcome.rows, outcome.gpu))
    console.print(
        f"{len(outcome.rows)} networks ({outcome.trained} trained now) in "
        f"{outcome.seconds:.0f}s; tables in {out / 'tables.md'}, rows in {out / 'results.csv'}"
    )


@click.command("study")
@dataset_option("Data set every network trains on (docs/training.md).")
@data_option()
@dataset_options_option
@samples_option(3, "Architectures per generator.")
@epochs_option(10, "Epochs of every network.")
@out_option("Study folder (a rerun into it trains only what is missing).", required=True)
@generators_option(
    ",".join(GENERATOR_GROUPS),
    "Generator groups, comma-separated: a generator (probabilistic staging) or "
    "GENERATOR:STAGING (ws:fb = ws with RandWire's fixed stages).",
)
@click.option(
    "--baselines",
    default=",".join(BASELINE_GROUPS),
    show_default=True,
    help="Baselines, comma-separated: cifarnet, resnet20, resnet50, or resnet (resnet20 up to "
    "64 px, resnet50 above).",
)
@click.option("--staging-generators", default="dp", show_default=True, help="Greedy vs prob.")
@merge_option(
    "; the paper's tables (and this project's studies of them) used maps: pass "
    "--merge maps to reproduce them"
)
@click.option(
    "--merge-generators",
    default="",
    show_default=True,
    help="Generator groups also trained with the other merge mode (comparison table).",
)
@click.option(
    "--large-size", type=int, default=64, show_default=True, help="Table I input (0: off)."
)
@click.option(
    "--uniform-samples",
    type=int,
    default=3,
    show_default=True,
    help="Architectures per cell of Table I (at most --samples).",
)
@click.option(
    "--large-baseline/--no-large-baseline",
    default=True,
    show_default=True,
    help="Also train the ResNet at --large-size (Table I).",
)
@devices_option(default=4)
@profile_option(DEFAULT_PROFILE, "of the devices each network's deployment is analysed on")
@deployment_options(eps=False)
@recipe_option("Training recipe of every network (docs/training.md).")
@batch_size_option(None, "Override the recipe's (fitted) batch size.")
@lr_option(None, "Override the recipe's learning rate.")
@seed_option(
    "Training seed of every network (weights, batch order, augmentation, dropout); the "
    "architectures use seeds 0..samples-1."
)
@click.option("--vertices", type=int, default=40, show_default=True, help="Vertices per graph.")
@channels_option(32, "Stem width.")
@c_max_option()
@stem_stride_option(None, "Stem downsampling (default: chosen from the image size).")
@click.option("--param-samples", type=int, default=1000, show_default=True, help="Table IV.")
@device_option()
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Networks trained at once (processes sharing the GPU or the cores); 0: as many as "
    "the GPU holds (by its SMs, memory and the CPU cores), 1 on a CPU.",
)
@compile_option
def study_cmd(
    out: Path,
    generators: str,
    baselines: str,
    staging_generators: str,
    merge_generators: str,
    data: Path | None,
    deployment: dict[str, Any],
    **kw: Any,
) -> None:
    """Sample, train, evaluate and analyse architectures per generator; write the tables."""
    cfg = StudyConfig(
        generators=_names(generators),
        baselines=_names(baselines),
        staging_generators=_names(staging_generators),
        merge_generators=_names(merge_generators),
        data=None if data is None else str(data),
        **deployment,
        **kw,
    )
    outcome = run_study(cfg, out, log=click.echo)
    announce_profile("study", cfg.profile)
    _report(outcome, out)


@click.command("demo")
@out_option(
    "Study folder (a second run into it trains nothing and only prints).",
    default=Path("runs/demo"),
)
@epochs_option(None, "Override the demo's epochs.")
def demo_cmd(out: Path, epochs: int | None) -> None:
    """A small study on the embedded digits data (every generator, 2 samples, small nets)."""
    import torch

    torch.set_num_threads(1)  # tiny networks: per-op overhead dominates, threads only contend
    cfg = demo_config()
    if epochs is not None:
        cfg = dataclasses.replace(cfg, epochs=epochs)
    t0 = time.perf_counter()
    _report(run_study(cfg, out, log=click.echo), out)
    from parawire.study.reporting import write_report

    page, _ = write_report(out)
    click.echo(f"demo finished in {time.perf_counter() - t0:.0f}s; report: {page}")


COMMANDS = [study_cmd, demo_cmd]
