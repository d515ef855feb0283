"""`parawire latency`: measured latency data sets and learned latency predictors.

parawire latency collect --samples 300 --devices 1 --out latency.db
parawire latency collect --samples 300 --devices 2 --out latency.db   # k = 2, same architectures
parawire latency collect --samples 40 --devices 4 --emulate rpi4-ethernet --out latency.db
parawire latency fit latency.db -o predictor.pt --model hybrid
parawire latency predict arch.json --devices 2 --predictor predictor.pt
parawire latency report latency.db --predictor predictor.pt --plot measured.png

The library (torch, SQLAlchemy) is imported when a command runs, not for ``--help``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from parawire._io import dumps_strict
from parawire.cli.deployment_options import wire_dtype_option
from parawire.cli.latency_collect import collect_cmd, noise_cmd
from parawire.cli.latency_options import k_option, measured_on_option
from parawire.cli.options import (
    LazyChoice,
    devices_option,
    epochs_option,
    json_option,
    out_option,
    predictor_option,
    seed_option,
    threads_option,
)
from parawire.errors import ConfigError

if TYPE_CHECKING:
    from parawire.latency import Predictor, Sample
    from parawire.latency.evaluate import Errors

_predictor = predictor_option("A predictor file from `parawire latency fit`.", required=True)


def _predictor_names() -> list[str]:
    from parawire.latency import list_predictors

    return list_predictors()


@click.group("latency")
def latency_group() -> None:
    """Collect measured latencies; fit, apply and evaluate latency predictors."""


def _error_table(title: str, rows: list[tuple[str, object, float]]):  # -> rich Table
    """A rich table of (label, Errors, predictions per second) rows."""
    from rich.table import Table

    table = Table(title=title)
    for col in ("", "n", "MAPE %", "within 5%", "within 10%", "Spearman", "arch/s"):
        table.add_column(col, justify="right" if col else "left")
    for label, e, rate in rows:
        table.add_row(
            label,
            str(e.n),
            f"{e.mape:.2f}",
            f"{e.within5:.1f}%",
            f"{e.within10:.1f}%",
            f"{e.spearman:.3f}",
            f"{rate:,.0f}",
        )
    return table


@latency_group.command("fit")
@click.argument("db")
@out_option(
    "The predictor file to write (safetensors weights with JSON metadata).",
    file=True,
    required=True,
)
@click.option(
    "--model",
    type=LazyChoice(_predictor_names),
    default="hybrid",
    show_default=True,
    help="A registered predictor (docs/latency.md).",
)
@k_option()
@measured_on_option("Only rows of this measurement label (a profile name, or local-cputime).")
@epochs_option(None, "Learned models: the most epochs (validation stops sooner; default 300).")
@seed_option(
    "Seeds the validation split (architectures held out for early stopping) and the "
    "learned models' initial weights and batch order."
)
@threads_option("torch threads while fitting (more only on a machine nothing else uses).")
@click.option("--exclude-noisy", is_flag=True, help="Leave out rows flagged noisy.")
@click.option(
    "--adapt",
    "source_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Transfer this fitted predictor to DB's device (one profile; 20-50 rows) instead of "
    "fitting a new one (--model is the file's).",
)
def fit_cmd(
    db: str,
    out: Path,
    model: str,
    devices: int | None,
    profile: str | None,
    epochs: int | None,
    seed: int,
    threads: int,
    exclude_noisy: bool,
    source_file: Path | None,
) -> None:
    """Fit a latency predictor on the measurements in DB (or, with --adapt, transfer a fitted
    one to DB's device); write it to OUT."""
    from parawire._inference import torch_threads
    from parawire.latency import load_samples, save_predictor
    from parawire.latency.store import LatencyStore
    from parawire.latency.training import FEW_ROWS

    predictor = _new_or_source(model, seed, epochs, threads, source_file)
    store = LatencyStore(db, create=False)
    samples = load_samples(store, devices=devices, profile=profile, include_noisy=not exclude_noisy)
    store.close()
    if not samples:
        raise ConfigError(f"{db} has no measurements to fit (k={devices}, profile={profile})")
    if source_file is not None:
        with torch_threads(threads):
            predictor.adapt(samples)
        save_predictor(predictor, out)
        click.echo(
            f"adapted {predictor.name} ({source_file}) to {', '.join(predictor.profiles)} on "
            f"{len(samples)} rows; wrote {out} (score it with `latency report` on others)"
        )
        return
    if len(samples) < FEW_ROWS:
        click.echo(
            f"warning: {len(samples)} rows is few (under {FEW_ROWS}): the fit and its "
            "validation figures are fragile; collect more with `parawire latency collect`",
            err=True,
        )
    with torch_threads(threads):
        predictor.fit(samples)
    save_predictor(predictor, out)
    click.echo(_fit_summary(predictor, samples, out))


def _new_or_source(
    model: str, seed: int, epochs: int | None, threads: int, source_file: Path | None
) -> Predictor:
    """A new predictor ``model`` (learned ones with ``epochs`` and ``threads``), or the one in
    ``source_file`` (to adapt, fine-tuning with ``threads``)."""
    from parawire.latency import create_predictor, load_predictor, predictor_class

    if source_file is not None:
        predictor = load_predictor(source_file)
        if "threads" in predictor.config:
            predictor.config["threads"] = threads
        return predictor
    options: dict[str, int] = {"epochs": epochs} if epochs is not None else {}
    if predictor_class(model).learned:
        options["threads"] = threads
    return create_predictor(model, seed=seed, **options)


def _fit_summary(predictor: Predictor, samples: list[Sample], out: Path) -> str:
    """One line: what was fitted, how validation chose its epochs, and its held-out figures."""
    head = (
        f"fitted {predictor.name} on {len(samples)} measurements of "
        f"{len(predictor.trained)} architectures ({', '.join(predictor.profiles)})"
    )
    limit = getattr(predictor, "size_limit", None)
    if limit is not None:
        head += f"; padded to {limit} vertices, it refuses larger specs (gnn and hybrid do not)"
    fit = getattr(predictor, "fit_result", {})
    if fit.get("val_rows"):
        return (
            f"{head}: kept epoch {fit['best_epoch']} of {fit['epochs_run']} run; validation "
            f"({fit['val_rows']} rows of held-out architectures) MAPE {fit['val_mape']:.2f}%, "
            f"{fit['val_within10']:.1f}% within 10%; wrote {out}"
        )
    from parawire.latency.evaluate import score

    errors, _ = score(predictor, samples)
    return (
        f"{head}: training MAPE {errors.mape:.2f}%, {errors.within10:.1f}% within 10% (its own "
        f"training rows, not a test: use `latency report` on others); wrote {out}"
    )


@latency_group.command("predict")
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@devices_option(default=1, note=" (the recommended deployment is predicted)")
@_predictor
@measured_on_option("Measurement label to predict for (default: the predictor's).")
@wire_dtype_option
@json_option()
def predict_cmd(
    spec: Path,
    devices: int,
    predictor: Path,
    profile: str | None,
    wire_dtype: str,
    as_json: bool,
) -> None:
    """Predict the latency of SPEC on K devices (the analysis' recommended placement)."""
    from parawire.arch import load_spec
    from parawire.latency import load_predictor, predict_spec

    result = predict_spec(
        load_predictor(predictor), load_spec(spec), devices, profile=profile, wire_dtype=wire_dtype
    )
    if as_json:
        click.echo(dumps_strict(result))
        return
    click.echo(
        f"{spec}: {result['predicted_s'] * 1e3:.3f} ms predicted by {result['predictor']} on "
        f"{result['devices_used']} of {devices} device(s) ({result['profile']}); simulation "
        f"{result['simulated_s'] * 1e3:.3f} ms ({result['simulation_profile']})"
    )


@latency_group.command("report")
@click.argument("db")
@_predictor
@k_option()
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the predicted-vs-measured plot here (PNG).")  # fmt: skip
@click.option(
    "--include-trained",
    is_flag=True,
    help="Keep rows of architectures the predictor was fitted on (left out by default).",
)
@json_option()
def report_cmd(
    db: str,
    predictor: Path,
    devices: int | None,
    plot: Path | None,
    include_trained: bool,
    as_json: bool,
) -> None:
    """Error table of a predictor on the measurements in DB, leaving out the architectures it
    was fitted on."""
    from rich.console import Console

    from parawire.latency import load_predictor, load_samples
    from parawire.latency.plot import plot_predicted_vs_measured
    from parawire.latency.store import LatencyStore

    fitted = load_predictor(predictor)
    store = LatencyStore(db, create=False)
    samples = [s for s in load_samples(store, devices=devices) if s.profile in fitted.profiles]
    store.close()
    trained = set(fitted.trained)
    left_out = 0 if include_trained else sum(s.digest in trained for s in samples)
    if not include_trained:
        samples = [s for s in samples if s.digest not in trained]
    if not samples:
        raise ConfigError(
            f"{db} has no measurements of {', '.join(fitted.profiles)} to score the predictor "
            f"on ({left_out} rows of architectures it was fitted on left out: --include-trained "
            "keeps them)"
        )
    rows = _report_rows(fitted, samples)
    if plot is not None:
        plot_predicted_vs_measured(
            fitted.predict(samples),
            [s.latency_s for s in samples],
            plot,
            f"{fitted.name} on {db} ({len(samples)} measurements)",
        )
    if as_json:
        doc = {label: {**e.to_dict(), "per_s": rate} for label, e, rate in rows}
        click.echo(dumps_strict({"predictor": fitted.name, "groups": doc,
                                 "trained_rows_left_out": left_out}))  # fmt: skip
        return
    Console().print(_error_table(f"{fitted.name} on {db}", rows))
    if left_out:
        click.echo(
            f"left out {left_out} rows of architectures the predictor was fitted on "
            "(--include-trained keeps them)"
        )
    if plot is not None:
        click.echo(f"wrote {plot}")


def _report_rows(predictor: Predictor, samples: list[Sample]) -> list[tuple[str, Errors, float]]:
    """One row per (k, profile) group of ``samples``, and one for all when there are several."""
    from parawire.latency.evaluate import score

    rows = []
    groups = sorted({(s.devices, s.profile) for s in samples})
    for k, prof in groups:
        part = [s for s in samples if (s.devices, s.profile) == (k, prof)]
        errors, rate = score(predictor, part)
        rows.append((f"k={k} {prof}", errors, rate))
    if len(groups) > 1:
        errors, rate = score(predictor, samples)
        rows.append(("all", errors, rate))
    return rows


latency_group.add_command(collect_cmd)
latency_group.add_command(noise_cmd)

COMMANDS = [latency_group]
