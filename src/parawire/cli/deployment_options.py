"""The options that choose a deployment, shared by `analyze`, `plan` and `run`.

The same words mean the same choice everywhere, so that what `analyze` recommends is what
`plan` writes and `run` executes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from parawire.analysis.costs import DEFAULT_SCATTER, SCATTERS, WIRE_DTYPES
from parawire.analysis.deployment import DEFAULT_EFFORT, DEFAULT_SELECTION, EFFORTS, SELECTIONS
from parawire.analysis.partitioners import EPS_SWEEP, list_partitioners
from parawire.cli.option_groups import grouped
from parawire.cli.options import (  # noqa: F401  (re-exported: the deployment's options)
    DEFAULT_PROFILE,
    Choice,
    Decorator,
    ProfileParam,
    choice_option,
    devices_option,
    profile_option,
    shared_option,
)
from parawire.errors import ConfigError


def parse_eps(text: str) -> list[float]:
    """``"0.03,0.1"`` -> ``[0.03, 0.1]``, with one clear error for anything else."""
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--eps takes comma-separated numbers, got {text!r}") from None
    if not values or min(values) < 0 or any(v != v or v == float("inf") for v in values):
        raise ConfigError(f"--eps needs finite values >= 0, got {text!r}")
    return values


def announce_profile(command: str, profile: str | None, fallback: str = "local-cpu") -> None:
    """First line of a command's output (stderr): the profile it used, who chose it
    (``--profile``, or the command's default) and the file its figures came from (a user file
    may shadow a built-in profile). Printed once the work has succeeded, so that a refusal
    stays one line."""
    from parawire.analysis.profiles import profile_origin

    ctx = click.get_current_context(silent=True)
    source = ctx.get_parameter_source("profile") if ctx is not None else None
    given = source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")
    origin = "from --profile" if given else f"the default of `parawire {command}`"
    name = profile or fallback
    click.echo(f"parawire {command}: profile {name} ({origin}; {profile_origin(name)})", err=True)


PARTITIONER_SEED_HELP = "Seeds the partitioners (kahypar, metis)."
PLAN_SEED_HELP = (
    "Seeds the partitioners (kahypar, metis) and the untrained weights a plan without "
    "--weights runs."
)


wire_dtype_option = choice_option(
    "--wire-dtype",
    WIRE_DTYPES,
    "float32",
    "Precision of the tensors sent between devices (int8: per-tensor scale).",
)


effort_option = choice_option(
    "--effort",
    tuple(EFFORTS),
    DEFAULT_EFFORT,
    "How hard the placement is searched. full: every partitioner start; fast: without "
    "kahypar's from-scratch start, about 3.5x cheaper, some choices differ (for scoring many "
    "networks).",
)


def deployment_options(command: Callable[..., Any] | None = None, *, eps: bool = True) -> Any:
    """Decorate a command with --partitioner, --select, --eps (unless ``eps=False``),
    --wire-dtype and --scatter, handed to it as one argument ``deployment``: the keyword
    arguments of ``analyze`` / ``make_plan`` (``deployment_kwargs``). Use as
    ``@deployment_options`` or ``@deployment_options(...)``."""
    options = [
        shared_option(
            "--partitioner",
            type=Choice(list_partitioners()),
            default=None,
            help="Restrict the placement to this partitioner (default: every partitioner "
            "for --select latency, kahypar for cs and makespan).",
        ),
        choice_option(
            "--select",
            SELECTIONS,
            DEFAULT_SELECTION,
            "latency: the fastest simulated placement on at most --devices devices (fewer "
            "when faster); cs: the paper's lowest concurrency score on exactly --devices; "
            "makespan: the fastest placement of one partitioner on exactly --devices.",
        ),
        *([_eps_option()] if eps else []),
        effort_option,
        wire_dtype_option,
        choice_option(
            "--scatter",
            SCATTERS,
            DEFAULT_SCATTER,
            "image: devices get the input image and run the stem themselves; stem: they "
            "get the stem's output (the paper's deployment).",
        ),
    ]
    decorate = grouped("deployment", options, deployment_kwargs)
    return decorate if command is None else decorate(command)


def _eps_option() -> Decorator:
    return shared_option(
        "--eps",
        default=",".join(str(e) for e in EPS_SWEEP),
        show_default=True,
        help="Balance tolerances swept by kahypar and metis (comma-separated).",
    )


def deployment_kwargs(
    partitioner: str | None,
    select: str,
    effort: str,
    wire_dtype: str,
    scatter: str,
    eps: str | None = None,
) -> dict[str, Any]:
    """The keyword arguments of ``analyze`` / ``make_plan`` (and ``StudyConfig``'s fields,
    without ``eps``) for the deployment options."""
    kwargs = {
        "partitioner": partitioner,
        "select": select,
        "effort": effort,
        "wire_dtype": wire_dtype,
        "scatter": scatter,
    }
    return kwargs if eps is None else {**kwargs, "eps": parse_eps(eps)}
