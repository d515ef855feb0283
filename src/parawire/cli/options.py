"""Every option that two or more commands share, defined once (issue 20, item 9).

An option's name means one thing with one type everywhere: ``--data`` is always a path,
``--dataset`` always lists the registered data sets, ``--profile`` defaults to
``DEFAULT_PROFILE`` wherever a deployment is placed. A command may pass its own default or help
(what the option is for *there*) only where ``VARYING_DEFAULTS`` says why;
``tests/test_cli_consistency.py`` checks names, short forms, types and defaults over every
command. The deployment choices (``--partitioner`` ... ``--scatter``) live in
``deployment_options``, the training ones (``--dataset-option``, ``--compile``) in
``training_options``; both build their options with ``shared_option`` too.

Choices come from the registries when a command module is imported, never for ``--help`` of
``parawire`` itself (the command table in ``parawire.cli`` imports no command module).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

# what analyze, study, search, plan and export place a deployment for unless told otherwise;
# `run` alone measures this machine, so its default is local-cpu
DEFAULT_PROFILE = "rpi4-wifi"
RUN_PROFILE = "local-cpu"

# option -> why its default (or whether it is required) differs between commands; every other
# shared option has one default everywhere (tests/test_cli_consistency.py)
VARYING_DEFAULTS: dict[str, str] = {
    "--out": "a file for some commands, a folder for others; required where nothing is printed",
    "--devices": "a spec needs it (plan, run, export: required or taken from the plan); "
    "analyze, study and search assume 4; latency collect and predict one device (k = 1)",
    "--profile": "`run` measures this machine (local-cpu); the others place for DEFAULT_PROFILE",
    "--epochs": "train uses the recipe's; a study, a proxy search and the finalists of the "
    "differentiable search train for their own lengths",
    "--lr": "the recipe's, except the differentiable search's supernet (no recipe)",
    "--batch-size": "the recipe's, except the differentiable search's supernet (no recipe)",
    "--channels": "a generated network's stem (32) vs the supernet's first stage (16)",
    "--stem-stride": "chosen from the image size for a generated network; the supernet's is 2",
    "--master": "a worker joins a rendezvous; serve and predict start local ranks without one",
    "--runs": "`worker` without --runs serves a driver instead of benchmarking",
    "--timeout": "latency collect (120 s) runs unattended for hours on a loaded machine, where "
    "a row that times out is lost until a rerun; the interactive commands give up sooner (60 s)",
    "--repeats": "calibrate times short micro-benchmarks (30 runs each); latency collect times "
    "whole networks, in each of --processes fresh processes (15 each)",
    "--samples": "a study trains every sample (3 per generator); latency collect only times "
    "them (100 in all)",
    "--generators": "a study compares the paper's generator groups (GENERATOR:STAGING "
    "included); latency collect samples every registered generator unless told",
    "--predictor": "latency predict and report apply a predictor (required); analyze and "
    "search add a prediction only when given one",
    "--check": "run compares 100 real test images (its accuracy), export 2 random images "
    "(ONNX Runtime against PyTorch)",
    "--weights": "eval needs trained weights; plan and export fall back to seeded untrained ones",
}


class SharedOption(click.Option):
    """An option built by ``shared_option``: the one definition behind its name."""


def shared_option(*decls: str, **attrs: Any) -> Decorator:
    """``click.option`` marked as the shared definition of its name (``SharedOption``)."""
    return click.option(*decls, cls=SharedOption, **attrs)


class Choice(click.Choice):
    """``click.Choice`` whose refusal also says which choice was probably meant."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter as exc:
            from parawire.registry import did_you_mean

            hint = did_you_mean(str(value), [str(c) for c in self.choices])
            if hint:
                exc.message = f"{exc.message.rstrip('.')}{hint}"
            raise


class LazyChoice(Choice):
    """``Choice`` whose choices are read when first needed (this command's ``--help`` or its
    parse), not when its module is imported: a registry that loads torch to list its names
    stays unloaded for the other commands of the group."""

    def __init__(self, names: Callable[[], Sequence[str]]) -> None:  # no super(): no choices yet
        self._names = names
        self.case_sensitive = True

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(self._names())


class ProfileParam(click.ParamType):
    """A profile name (the choices are listed) or a TOML file, checked at parse."""

    name = "profile"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[" + "|".join(_profile_names()) + "|FILE.toml]"  # as click.Choice lists them

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from parawire.analysis.profiles import create_profile

        create_profile(value)  # ConfigError naming the profiles: before any work starts
        return str(value)


def _profile_names() -> list[str]:
    from parawire.analysis.profiles import list_profiles

    return list_profiles()


# ----------------------------------------------------------------------------- deployments
def profile_option(default: str | None, purpose: str) -> Decorator:
    """``--profile``: the device and link profile that costs a deployment (``purpose`` says what
    for). ``default`` is ``DEFAULT_PROFILE``, or None for `run` (it measures this machine)."""
    why = "" if default is not None else f"; default {RUN_PROFILE}: `run` measures this machine"
    return shared_option(
        "--profile",
        type=ProfileParam(),
        default=default,
        show_default=default is not None,
        help=f"Device/link profile {purpose}: one of the names in brackets or a TOML file "
        f"(FILE.toml or FILE.toml#NAME, docs/profiles.md){why}.",
    )


def devices_option(*, default: int | None = 4, required: bool = False, note: str = "") -> Decorator:
    """``-n/--devices``: the devices (ranks) available; a deployment uses at most this many."""
    return shared_option(
        "--devices",
        "-n",
        type=click.IntRange(min=1),
        default=default,
        required=required,
        show_default=default is not None,
        help="Devices (ranks) available: a deployment uses at most this many" + note + ".",
    )


def link_option() -> Decorator:
    """``--link``: emulate a profile's link between local ranks."""
    return shared_option(
        "--link",
        type=ProfileParam(),
        default=None,
        help="Emulate the link of this profile between the local ranks (bandwidth, latency).",
    )


def emulate_option(link: str = " (unless --link)") -> Decorator:
    """``--emulate``: emulate a profile's devices (and link) on this machine; ``link`` says
    when the profile's link is not the one emulated (`run`, `worker`: unless --link)."""
    return shared_option(
        "--emulate",
        type=ProfileParam(),
        default=None,
        help="Emulate devices of this profile: every vertex runs for real, then waits until the "
        f"profile's time for it has passed; the profile's link is emulated too{link}.",
    )


def dilation_option() -> Decorator:
    """``--dilation F|auto``: run an emulation F times slower, then divide its times by F."""
    return shared_option(
        "--dilation",
        default="1",
        show_default=True,
        metavar="F|auto",
        help="With --emulate: run the emulation F times slower (every compute and transfer time "
        "x F) so that ranks sharing few cores still compute within their emulated times; auto "
        "picks F from this machine (docs/runtime.md, time dilation). The times printed and "
        "stored are the emulated device's (the dilated times divided by F).",
    )


def seed_option(what: str) -> Decorator:
    """``--seed``: one non-negative integer; ``what`` says what it seeds in this command."""
    return shared_option(
        "--seed", type=click.IntRange(min=0), default=0, show_default=True, help=what
    )


def out_option(
    help_text: str,
    *,
    file: bool = False,
    required: bool = False,
    default: Path | None = None,
    url: bool = False,
) -> Decorator:
    """``-o/--out``: where the command writes (a file or a folder, checked before any work);
    with ``url`` a file or a database URL, kept as the text given (``latency collect``)."""
    return shared_option(
        "-o",
        "--out",
        # checked by checks_out_first; a URL stays text (Path would fold sqlite:/// to sqlite:/)
        type=click.Path(dir_okay=not file, path_type=str if url else Path),
        default=default,
        show_default=default is not None,
        required=required,
        help=help_text,
    )


def json_option(help_text: str = "Print one JSON object instead of text.") -> Decorator:
    """``--json``: machine-readable output, passed as ``as_json``."""
    return shared_option("--json", "as_json", is_flag=True, help=help_text)


def weights_option(*, required: bool = False, help_text: str | None = None) -> Decorator:
    """``--weights``: trained weights (a safetensors file, or the run folder holding one)."""
    return shared_option(
        "--weights",
        type=click.Path(path_type=Path),
        default=None,
        required=required,
        help=help_text
        or "Trained weights (weights.safetensors, or the run folder of "
        "`parawire train`); default: seeded untrained weights, and the output says so.",
    )


def predictor_option(help_text: str, *, required: bool = False) -> Decorator:
    """``--predictor``: a latency predictor file written by `parawire latency fit`."""
    return shared_option(
        "--predictor",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        required=required,
        help=help_text,
    )


# ----------------------------------------------------------------------------- running ranks
def threads_option(help_text: str = "torch threads of each rank (process).") -> Decorator:
    """``--threads``: torch threads per process."""
    return shared_option(
        "--threads", type=click.IntRange(min=1), default=1, show_default=True, help=help_text
    )


def timeout_option(
    help_text: str = "Seconds any wait may last.", default: float = 60.0
) -> Decorator:
    """``--timeout``: the longest wait, in seconds (60 unless VARYING_DEFAULTS says why)."""
    return shared_option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=default,
        show_default=True,
        help=help_text,
    )


def runs_option(default: int | None = 20, help_text: str = "Measured runs.") -> Decorator:
    """``--runs``: measured inferences (after ``--warmup`` unmeasured ones)."""
    return shared_option(
        "--runs",
        type=click.IntRange(min=1),
        default=default,
        show_default=default is not None,
        help=help_text,
    )


def repeats_option(default: int, help_text: str) -> Decorator:
    """``--repeats``: timed runs of each measurement."""
    return shared_option(
        "--repeats", type=click.IntRange(min=1), default=default, show_default=True, help=help_text
    )


def warmup_option() -> Decorator:
    """``--warmup``: unmeasured runs before the measured ones."""
    return shared_option(
        "--warmup",
        type=click.IntRange(min=0),
        default=3,
        show_default=True,
        help="Unmeasured runs first.",
    )


def batch_option() -> Decorator:
    """``--batch``: images per inference."""
    return shared_option(
        "--batch", type=click.IntRange(min=1), default=1, show_default=True, help="Images per run."
    )


def processes_option(help_text: str) -> Decorator:
    """``--processes``: fresh processes whose medians are pooled."""
    return shared_option(
        "--processes", type=click.IntRange(min=1), default=3, show_default=True, help=help_text
    )


def master_option(*, required: bool = False, help_text: str) -> Decorator:
    """``--master HOST:PORT``: rank 0's rendezvous."""
    return shared_option(
        "--master", default=None, required=required, metavar="HOST:PORT", help=help_text
    )


def bind_option() -> Decorator:
    """``--bind``: the address rank 0's rendezvous listens on."""
    return shared_option(
        "--bind",
        default=None,
        help="Address the rendezvous listens on (default: the --master host). Never 0.0.0.0 on "
        "a shared network: the rendezvous and gloo have no encryption.",
    )


# ----------------------------------------------------------------------------- training
def dataset_option(help_text: str = "Data set (docs/training.md; digits ships with "
                   "scikit-learn).") -> Decorator:  # fmt: skip
    """``--dataset``: a registered data set (the choices are listed)."""
    from parawire.data import list_datasets

    return shared_option(
        "--dataset",
        type=Choice(list_datasets()),
        default="digits",
        show_default=True,
        help=help_text,
    )


def data_option() -> Decorator:
    """``--data``: where the data set's files are (a path, never a name)."""
    return shared_option(
        "--data",
        type=click.Path(path_type=Path),
        default=None,
        help="Data set location: a folder or archive (e.g. the CIFAR-10 archive); default: "
        "the data set's own cache or download.",
    )


def recipe_option(help_text: str) -> Decorator:
    """``--recipe``: a registered training recipe (the choices are listed)."""
    from parawire.train.recipes import list_recipes

    return shared_option(
        "--recipe",
        type=Choice(list_recipes()),
        default="modern",
        show_default=True,
        help=help_text,
    )


def epochs_option(default: int | None, help_text: str) -> Decorator:
    """``--epochs``: passes over the training set."""
    return shared_option(
        "--epochs",
        type=click.IntRange(min=1),
        default=default,
        show_default=default is not None,
        help=help_text,
    )


def lr_option(default: float | None, help_text: str) -> Decorator:
    """``--lr``: the learning rate of the network's weights."""
    return shared_option(
        "--lr",
        type=click.FloatRange(min=0, min_open=True),
        default=default,
        show_default=default is not None,
        help=help_text,
    )


def batch_size_option(default: int | None, help_text: str) -> Decorator:
    """``--batch-size``: images per training step."""
    return shared_option(
        "--batch-size",
        type=click.IntRange(min=1),
        default=default,
        show_default=default is not None,
        help=help_text,
    )


def device_option() -> Decorator:
    """``--device``: the torch device that trains or evaluates."""
    return shared_option(
        "--device", default=None, help="torch device (default: cuda if available, else cpu)."
    )


# ----------------------------------------------------------------------------- generated networks
def channels_option(default: int, help_text: str) -> Decorator:
    """``--channels``: the width the network starts with."""
    return shared_option(
        "--channels", type=click.IntRange(min=1), default=default, show_default=True, help=help_text
    )


def c_max_option() -> Decorator:
    """``--c-max``: the staging's channel limit."""
    return shared_option(
        "--c-max",
        type=click.IntRange(min=1),
        default=256,
        show_default=True,
        help="Staging channel limit.",
    )


def stem_stride_option(default: int | None, help_text: str) -> Decorator:
    """``--stem-stride``: the stem's downsampling."""
    return shared_option(
        "--stem-stride",
        type=click.IntRange(min=1),
        default=default,
        show_default=default is not None,
        help=help_text,
    )


def choice_option(name: str, choices: Sequence[str], default: str, help_text: str) -> Decorator:
    """An option taking one of ``choices`` (listed in ``--help``), ``default`` shown."""
    return shared_option(
        name, type=click.Choice(choices), default=default, show_default=True, help=help_text
    )


def merge_option(note: str = "") -> Decorator:
    """``--merge``: how the output vertex combines the sinks; the default is the library's
    (``parawire.generate``'s, read from its signature so that the two cannot drift apart) in
    every command; ``note`` adds what it means there (the paper used maps)."""
    import inspect

    from parawire.arch.generate import generate
    from parawire.arch.spec import MERGES

    return choice_option(
        "--merge",
        MERGES,
        inspect.signature(generate).parameters["merge"].default,
        "How the output vertex combines the sinks: maps (EDGE'23, the paper's: feature "
        "maps averaged) or pooled (each sink pooled and projected on its own device: far "
        f"less data to the merge; parawire.generate's default){note}.",
    )


def samples_option(default: int, help_text: str) -> Decorator:
    """``--samples``: how many architectures are sampled (seeds 0..N-1)."""
    return shared_option(
        "--samples", type=click.IntRange(min=0), default=default, show_default=True, help=help_text
    )


def generators_option(default: str, help_text: str) -> Decorator:
    """``--generators``: the generators sampled, comma-separated."""
    return shared_option(
        "--generators", default=default, show_default=bool(default), help=help_text
    )


def storage_option(help_text: str) -> Decorator:
    """``--storage``: the SQLAlchemy URL of a search's study."""
    return shared_option("--storage", default=None, help=help_text)


def check_option(default: int, help_text: str) -> Decorator:
    """``--check N``: images run split and compared with the whole model at the end (0: off)."""
    return shared_option(
        "--check", type=click.IntRange(min=0), default=default, show_default=True, help=help_text
    )
