"""Startup stays light: ``import parawire`` and ``parawire --help`` import no torch.

Each check runs in a fresh interpreter (this one has torch loaded by conftest) and reads
``sys.modules`` after the import or the help; the lazy command table is checked against the
command modules, so a command added to a module but not to the table fails here.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys

import click
import pytest

import parawire
import parawire.cli
import parawire.study
from parawire.cli import COMMAND_TABLE, app, main

# Imported only where used: each takes from 0.2 s (pymetis) to several seconds (torch).
HEAVY = ("torch", "torchvision", "mtkahypar", "pymetis", "sklearn", "matplotlib")


def heavy_imports(code: str) -> tuple[list[str], str]:
    """(heavy modules loaded after running ``code`` in a fresh interpreter, its stdout)."""
    probe = (
        f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    *out, last = done.stdout.strip().splitlines()
    return json.loads(last), "\n".join(out)


def test_import_parawire_is_light() -> None:
    loaded, _ = heavy_imports("import parawire, parawire.cli, parawire.study.config")
    assert loaded == []


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        ["generate", "--help"],
        ["show", "--help"],
        ["validate", "--help"],
        ["calibrate", "--help"],
        ["analyze", "--help"],
        ["plan", "--help"],
        ["run", "--help"],
        ["worker", "--help"],
        ["latency", "--help"],  # `latency fit --model` lists the predictors only when asked
    ],
)
def test_help_is_light(args: list[str]) -> None:
    loaded, out = heavy_imports(f"from parawire.cli import main\nmain({args!r})")
    assert loaded == []
    assert "Usage: parawire" in out or parawire.__version__ in out


def test_help_lists_every_command_without_importing_them(capsys) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name, (_, short_help) in COMMAND_TABLE.items():
        assert f"  {name} " in out and short_help in out


def test_command_table_matches_the_command_modules() -> None:
    modules = {
        info.name
        for info in pkgutil.iter_modules(parawire.cli.__path__)
        if info.name.endswith("_commands")
    }
    assert {module for module, _ in COMMAND_TABLE.values()} == modules
    for module_name in modules:
        module = importlib.import_module(f"parawire.cli.{module_name}")
        listed = {name for name, (where, _) in COMMAND_TABLE.items() if where == module_name}
        assert {command.name for command in module.COMMANDS} == listed, module_name
    with click.Context(app) as ctx:
        for name in COMMAND_TABLE:
            command = app.get_command(ctx, name)
            assert command is not None and command.name == name
        assert app.get_command(ctx, "nope") is None


def test_unknown_command_is_one_line(capsys) -> None:
    assert main(["nope"]) == 2
    assert "No such command 'nope'" in capsys.readouterr().err


def test_lazy_names_are_the_modules_own() -> None:
    from parawire.arch import ArchSpec, generate
    from parawire.graphs import list_generators
    from parawire.nn import build_model
    from parawire.study.runner import run_study

    assert parawire.generate is generate and parawire.ArchSpec is ArchSpec
    assert parawire.build_model is build_model and parawire.list_generators is list_generators
    assert parawire.study.run_study is run_study
    for package in (parawire, parawire.study):
        assert set(package.__all__) <= set(dir(package))
        for name in package.__all__:
            assert getattr(package, name) is not None
        with pytest.raises(AttributeError, match="no attribute 'nope'"):
            package.nope  # noqa: B018
