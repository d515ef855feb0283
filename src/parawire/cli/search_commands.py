"""`parawire search` (run, resume or join a latency-aware architecture search) and
`parawire search show DIR` (its Pareto front)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from parawire.cli.deployment_options import announce_profile, effort_option, wire_dtype_option
from parawire.cli.options import (
    DEFAULT_PROFILE,
    batch_size_option,
    channels_option,
    data_option,
    dataset_option,
    devices_option,
    epochs_option,
    lr_option,
    out_option,
    predictor_option,
    profile_option,
    recipe_option,
    seed_option,
    stem_stride_option,
    storage_option,
    threads_option,
)
from parawire.cli.training_options import compile_option, dataset_options_option
from parawire.errors import ConfigError
from parawire.search.samplers import list_samplers

SAMPLERS = tuple(list_samplers())  # the registry's names (Optuna itself is imported later)

SPACE_NAMES = ("tiny", "cpu", "paper")  # parawire.search.space.SPACES


def _console() -> Console:
    console = Console()
    return console if console.is_terminal else Console(width=160)


def _print_front(rows: list[dict], devices: int, profile: str) -> None:
    from parawire.report import to_rich
    from parawire.search.front import front_table, pareto_front

    console = _console()
    console.print(to_rich(front_table(pareto_front(rows), devices, profile, len(rows))))


def _data_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--dataset, --data and --dataset-option, the same for both searches."""
    for option in reversed(
        (
            dataset_option("Data set the networks train on (docs/training.md)."),
            data_option(),
            dataset_options_option,
        )
    ):
        command = option(command)
    return command


@click.group("search", invoke_without_command=True)
@_data_options
@click.option("--trials", type=int, default=40, show_default=True, help="Finished trials in all.")
@epochs_option(2, "Proxy training epochs.")
@devices_option(default=4, note=" (the latency objective's deployment)")
@profile_option(DEFAULT_PROFILE, "of the latency objective")
@out_option("The search folder (its SQLite study, the front and its specs). Required.")
@storage_option(
    "SQLAlchemy URL of the study (default: search.sqlite in --out); share one URL "
    "(e.g. postgresql://user@host/db) to run the search from many processes or machines."
)
@click.option(
    "--sampler",
    type=click.Choice(SAMPLERS),
    default="nsga2",
    show_default=True,
    help="Optuna sampler: NSGA-II (multi-objective), TPE, or random (the first paper's method).",
)
@seed_option("Seeds the sampler's draws, the generators and the proxy training's weights.")
@click.option("--max-params", type=int, default=None, help="Parameter budget (a constraint).")
@predictor_option(
    "Latency from this learned predictor (parawire latency fit) instead of the simulation."
)
@effort_option
@click.option(
    "--space",
    default="cpu",
    show_default=True,
    help=f"Search space: {', '.join(SPACE_NAMES)}, or a JSON file of SearchSpace fields.",
)
@recipe_option("Proxy training recipe (docs/training.md).")
@batch_size_option(None, "Proxy training batch (default: the recipe's).")
@lr_option(None, "Proxy training learning rate (default: the recipe's).")
@threads_option("torch threads of this process.")
@compile_option
@click.pass_context
def search_cmd(
    ctx: click.Context,
    out: Path | None,
    storage: str | None,
    space: str,
    dataset_options: tuple[tuple[str, int], ...],
    data: Path | None,
    predictor: Path | None,
    **kw,
) -> None:
    """Search architectures that are accurate and fast on K devices of a profile.

    Kill it at any time and rerun the same command: it resumes. Run the same command in
    several processes (one --storage URL for many machines) to share the work.
    """
    if ctx.invoked_subcommand is not None:
        return
    if out is None:
        raise ConfigError("parawire search needs --out DIR (the search folder)")
    from parawire.search import SearchConfig, create_space, run_search

    cfg = SearchConfig(
        space_name=space,
        space=create_space(space),
        dataset_options=dataset_options,
        data=None if data is None else str(data),
        predictor=None if predictor is None else str(predictor),
        **kw,
    )
    outcome = run_search(cfg, out, storage=storage, log=click.echo, progress=True)
    announce_profile("search", cfg.profile)
    _print_front(outcome.rows, cfg.devices, cfg.profile)
    click.echo(
        f"{len(outcome.rows)} trials finished ({outcome.evaluated} here) in "
        f"{outcome.seconds:.0f}s; front in {out / 'front.json'}, specs in {out / 'front'}/"
    )


@search_cmd.command("show")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@storage_option("The study's URL if not the folder's own file.")
@click.option("--all", "show_all", is_flag=True, help="Every finished trial, not just the front.")
def show_cmd(folder: Path, storage: str | None, show_all: bool) -> None:
    """The Pareto front (and with --all every trial) of the search in FOLDER."""
    from parawire.search import load_search

    meta, rows = load_search(folder, storage)
    cfg = meta["config"]
    if show_all:
        from parawire.report import to_rich
        from parawire.search.front import trials_table

        table = trials_table(rows, folder, cfg["devices"], cfg["profile"])
        _console().print(to_rich(table))
    _print_front(rows, cfg["devices"], cfg["profile"])
    click.echo(
        f"{len(rows)} of {cfg['trials']} trials finished; storage {meta['storage']}; "
        f"{cfg['dataset']}, {cfg['epochs']} epochs, sampler {cfg['sampler']}"
    )


@search_cmd.command("diff")
@_data_options
@click.option("--nodes", type=int, default=8, show_default=True, help="Supernet vertices.")
@channels_option(16, "The first stage's width.")
@click.option(
    "--stages",
    type=int,
    default=1,
    show_default=True,
    help="Supernet stages: each after the first halves the maps and doubles the width.",
)
@stem_stride_option(2, "The stem's stride.")
@devices_option(default=4, note=" (the relaxed latency's deployment)")
@profile_option(DEFAULT_PROFILE, "of the relaxed latency")
@wire_dtype_option
@click.option(
    "--lambdas",
    default="0,0.3,1,3",
    show_default=True,
    help="Latency weights to sweep (comma-separated): one search and one finalist each.",
)
@click.option("--sparsity", type=float, default=0.0, show_default=True, help="Mean-gate weight.")
@click.option(
    "--search-epochs", type=int, default=4, show_default=True, help="Supernet training epochs."
)
@epochs_option(4, "Finalists' training.")
@batch_size_option(32, "Training batch.")
@lr_option(0.05, "Learning rate of the network weights.")
@click.option("--arch-lr", type=float, default=0.05, show_default=True, help="Edge logits.")
@click.option("--threshold", type=float, default=0.5, show_default=True, help="Gate kept.")
@click.option(
    "--per-vertex/--no-per-vertex",
    default=False,
    show_default=True,
    help="Each vertex keeps its strongest in- and out-edge (only edges are pruned).",
)
@seed_option("Seeds the supernet's weights, the data order and the finalists' weights.")
@threads_option("torch threads of this process.")
@out_option("Folder for diff.json and the discretised specs.", required=True)
def diff_cmd(
    dataset: str,
    data: Path | None,
    dataset_options: tuple[tuple[str, int], ...],
    lambdas: str,
    epochs: int,
    threads: int,
    out: Path,
    **kw,
) -> None:
    """Differentiable wiring search: a dense supernet's edges, loss + lambda x latency.

    For each lambda: search, keep the strong edges, train the result from scratch for --epochs,
    simulate its deployment; writes OUT/diff.json (the accuracy/latency curve) and one spec per
    lambda in OUT/diff/.
    """
    import torch

    from parawire.data import load_dataset
    from parawire.search.darts import DiffConfig, write_sweep

    try:
        values = [float(x) for x in lambdas.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--lambdas {lambdas!r} must be comma-separated numbers") from None
    if not values:
        raise ConfigError("--lambdas needs at least one value, e.g. 0,1,3")
    cfg = DiffConfig(**kw).check()
    splits = load_dataset(dataset, root=data, **dict(dataset_options))
    torch.set_num_threads(threads)
    table = write_sweep(out, splits, cfg, values, epochs=epochs, log=click.echo)
    announce_profile("search diff", cfg.profile)
    from parawire.report import to_rich

    _console().print(to_rich(table))
    click.echo(f"curve in {out / 'diff.json'}, specs in {out / 'diff'}/")


COMMANDS = [search_cmd]
