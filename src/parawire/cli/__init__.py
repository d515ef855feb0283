"""The ``parawire`` command line: thin commands that parse, call the library and print.

Each command group lives in its own module of this package; ``main()`` turns every
``ParawireError`` into one line on stderr and exit code 1 (a traceback only with ``--debug``).

Commands are registered lazily: ``parawire --help`` reads the table below and imports no
command module (several import torch), and ``parawire NAME`` imports only NAME's module.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from typing import Any

import click

from parawire._version import __version__
from parawire.errors import ParawireError

# Command name -> (module of this package whose COMMANDS holds it, short help for the listing).
COMMAND_TABLE: dict[str, tuple[str, str]] = {
    "generate": ("arch_commands", "Generate an architecture from a graph generator."),
    "show": ("arch_commands", "Summarise an architecture: vertices, edges, depth, MACs."),
    "validate": ("arch_commands", "Check a spec file against every structural rule."),
    "train": ("train_commands", "Train SPEC_OR_MODEL and write checkpoints."),
    "eval": ("train_commands", "Top-1 test accuracy of SPEC_OR_MODEL with WEIGHTS."),
    "study": ("study_commands", "Sample, train, evaluate and analyse architectures."),
    "demo": ("study_commands", "A small study on the embedded digits data."),
    "plan": ("runtime_commands", "Choose a deployment on K ranks; write the plan folder."),
    "run": ("runtime_commands", "Run PLAN_OR_SPEC on K local processes and compare."),
    "worker": ("runtime_commands", "Run one rank of PLAN on this device."),
    "serve": ("serve_commands", "Serve PLAN over HTTP: POST /predict an image, GET /health."),
    "predict": ("serve_commands", "Classify image files with PLAN split over its devices."),
    "analyze": ("analysis_commands", "Choose and simulate a deployment on K devices."),
    "calibrate": ("calibrate_commands", "Measure compute and loopback speed as a profile."),
    "export": ("export_commands", "Write a deployment as ONNX models, one per device."),
    "latency": ("latency_commands", "Collect latencies; fit and use latency predictors."),
    "report": ("report_commands", "Write one HTML page of a results folder's tables and plots."),
    "search": ("search_commands", "Search accurate and fast architectures for K devices."),
}


def checks_out_first(command: click.Command) -> click.Command:
    """Make ``command`` check its ``--out`` before it runs (``parawire.cli._paths``): a file
    path for an option declared ``dir_okay=False``, a folder otherwise; one ConfigError line
    instead of a traceback after the work. A database URL (a store's) is left as it is."""
    param = next((p for p in command.params if p.name == "out"), None)
    original = command.callback
    if param is None or not isinstance(param.type, click.Path) or original is None:
        return command
    wants_file = not param.type.dir_okay

    def callback(**kwargs: object) -> object:
        from pathlib import Path

        from parawire.cli._paths import check_output_file, check_output_folder

        out = kwargs.get("out")
        if out is not None and "://" not in str(out):  # a database URL has no path to check
            check = check_output_file if wants_file else check_output_folder
            check(Path(str(out)), max(param.opts, key=len))
        return original(**kwargs)

    command.callback = callback
    return command


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command is looked up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(COMMAND_TABLE))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in COMMAND_TABLE:
            return self.commands.get(cmd_name)
        module = importlib.import_module(f"parawire.cli.{COMMAND_TABLE[cmd_name][0]}")
        for command in module.COMMANDS:
            if command.name == cmd_name:
                self.add_command(checks_out_first(command))
                return command
        raise LookupError(f"{module.__name__}.COMMANDS has no command {cmd_name!r}")

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command listing, its texts from ``COMMAND_TABLE``: no command module imported."""
        rows = [(name, short_help) for name, (_, short_help) in COMMAND_TABLE.items()]
        rows += [
            (name, command.get_short_help_str())
            for name, command in self.commands.items()
            if name not in COMMAND_TABLE and not command.hidden
        ]
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="parawire")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def app(ctx: click.Context, debug: bool) -> None:
    """Design, analyse and run concurrent CNN architectures split across devices."""
    ctx.obj = {"debug": debug}


def _one_line_warning(message: Any, category: type[Warning], *rest: Any, **kw: Any) -> None:
    """Warnings (e.g. a deprecated spelling) as one line, like the errors."""
    click.echo(f"parawire: warning: {' '.join(str(message).split())}", err=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``parawire`` console script; returns the exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    if argv is None and not debug:  # the console script (tests call main(argv) and record them)
        warnings.showwarning = _one_line_warning
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
