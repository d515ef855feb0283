"""`parawire calibrate`: measure this machine and write a device profile.

The measurement modules (torch) are imported when the command runs, not for ``--help``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from parawire._io import dumps_strict
from parawire.cli.options import (
    json_option,
    out_option,
    processes_option,
    repeats_option,
    threads_option,
    timeout_option,
)
from parawire.errors import ConfigError
from parawire.progress import progress_on_stderr

if TYPE_CHECKING:
    from parawire.analysis.calibrate import Calibration


@click.command("calibrate")
@out_option(
    "Profile file to write (default: the user's, ~/.cache/parawire/profiles.toml).", file=True
)
@threads_option("torch threads while timing (as `run --threads` gives each rank).")
@click.option(
    "--name",
    default="here",
    show_default=True,
    help="Name of the profile (then pass --profile NAME); a built-in's name needs --shadow.",
)
@click.option(
    "--shadow",
    is_flag=True,
    help="Allow --name to be a built-in profile's (local-cpu): every later command that names "
    "it then gets this machine's figures instead of the built-in ones.",
)
@repeats_option(30, "Timed runs per micro-benchmark (fewer: faster, noisier).")
@processes_option("Fresh processes that time the networks in context (medians over them).")
@timeout_option()
@json_option("Print the figures as one JSON object.")
def calibrate_cmd(
    out: Path | None,
    threads: int,
    name: str,
    shadow: bool,
    repeats: int,
    processes: int,
    timeout: float,
    as_json: bool,
) -> None:
    """Measure compute and gloo-loopback speed; write them as a profile (default name: here;
    a built-in's name, such as local-cpu, shadows the built-in and needs --shadow).

    Vertices are timed inside whole networks (every generator, both merges) in --processes
    fresh processes, each pinned to a core of its own when the machine has one to spare.
    """
    from parawire.analysis.calibrate import calibrate
    from parawire.analysis.profiles import save_profile, user_profile_file

    shadows = _refuse_silent_shadow(name, out, shadow)
    with progress_on_stderr("calibrate") as progress:
        result = calibrate(
            threads=threads,
            repeats=repeats,
            timeout=timeout,
            progress=progress,
            processes=processes,
        )
    path = save_profile(result.to_profile(name), out)
    if shadows:
        click.echo(
            f"parawire calibrate: profile {name!r} in {path} now shadows the built-in "
            f"{name!r} for every command that names it; delete its sections from that file "
            "to get the built-in back",
            err=True,
        )
    if as_json:
        click.echo(dumps_strict({**result.to_dict(), "profile": name, "file": str(path)}))
        return
    _print_result(result, threads)
    note = (
        " (the user profile file: create_profile finds it)" if path == user_profile_file() else ""
    )
    click.echo(f"wrote profile {name!r} to {path}{note}")


def _refuse_silent_shadow(name: str, out: Path | None, shadow: bool) -> bool:
    """Whether the profile about to be written shadows a built-in; ``ConfigError`` (before any
    minute is spent measuring) when it would and ``--shadow`` was not given."""
    from parawire.analysis.profiles import shadows_builtin, user_profile_file

    target = out if out is not None else user_profile_file()
    shadows = shadows_builtin(name, target)
    if shadows and not shadow:
        raise ConfigError(
            f"--name {name} would shadow the built-in profile {name!r} in every later command "
            f"(written to {target}); pass --shadow to do that, or choose another --name "
            "(e.g. the default, here, then --profile here)"
        )
    return shadows


def _print_result(result: Calibration, threads: int) -> None:
    """The measured figures as the table a person reads (``--json`` prints them whole)."""
    from parawire.analysis.work import FLOP_KINDS

    click.echo(f"compute ({threads} thread(s)):")
    click.echo(f"  dense 3x3 conv       {result.flops_per_s / 1e9:8.2f} GFLOP/s  (default rate)")
    for op, rate in sorted(result.op_flops_per_s.items()):
        click.echo(f"  {op:<20} {rate / 1e9:8.2f} GFLOP/s")
    click.echo(f"  per-vertex overhead  {result.overhead_s * 1e6:8.1f} us")
    click.echo(
        f"  dispatch per vertex  {result.dispatch_s * 1e6:8.1f} us  (running a network vertex "
        f"by vertex; in context, median of {result.processes} fresh processes, which differed "
        f"up to x{max(result.context_spread, default=1.0):.2f})"
    )
    click.echo("operators by kind (what the profile prices vertices with):")
    for kind, rate in result.kind_rates.items():
        unit = "GFLOP/s" if kind in FLOP_KINDS else "Gelem/s"
        call = result.kind_call_s.get(kind, 0.0) * 1e6
        click.echo(f"  {kind:<20} {rate / 1e9:8.2f} {unit}  + {call:6.1f} us per call")
    click.echo(f"  {'call':<20} {result.kind_call_s.get('call', 0.0) * 1e6:8.1f} us")
    click.echo("link (gloo send/recv, 127.0.0.1):")
    click.echo(f"  latency              {result.latency_s * 1e6:8.1f} us")
    click.echo(f"  bandwidth            {result.bandwidth_bytes_per_s / 1e9:8.2f} GB/s")


COMMANDS = [calibrate_cmd]
