"""The ``parawire`` command line: thin commands that parse, call the library and print.

Each command group lives in its own module of this package; ``main()`` turns every
``ParawireError`` into one line on stderr and exit code 1 (a traceback only with ``--debug``).
"""

from __future__ import annotations

import sys

import click

from parawire._version import __version__
from parawire.errors import ParawireError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="parawire")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def app(ctx: click.Context, debug: bool) -> None:
    """Design, analyse and run concurrent CNN architectures split across devices."""
    ctx.obj = {"debug": debug}


def _register_commands() -> None:
    from parawire.cli import (
        analysis_commands,
        arch_commands,
        calibrate_commands,
        runtime_commands,
        study_commands,
        train_commands,
    )

    for module in (
        arch_commands,
        train_commands,
        study_commands,
        runtime_commands,
        analysis_commands,
        calibrate_commands,
    ):
        for command in module.COMMANDS:
            app.add_command(command)


_register_commands()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``parawire`` console script; returns the exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        app.main(args=args, prog_name="parawire", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except click.exceptions.Abort:
        click.echo("parawire: aborted", err=True)
        return 130
    except click.ClickException as exc:
        click.echo(f"parawire: error: {exc.format_message()}", err=True)
        return exc.exit_code or 2
    except ParawireError as exc:
        if debug:
            raise
        message = " ".join(str(exc).split())
        click.echo(f"parawire: error: {message}", err=True)
        return 1
    return 0
