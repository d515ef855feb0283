"""The command line reads the same everywhere: every option has help, shared options mean one
thing in every command, with one type and one default, and choices are listed (issue 9, item 15;
issue 20, item 9)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import click
import pytest

from parawire.analysis.partitioners import list_partitioners
from parawire.analysis.profiles import list_profiles
from parawire.cli import COMMAND_TABLE, app, main
from parawire.cli.options import DEFAULT_PROFILE, VARYING_DEFAULTS, SharedOption
from parawire.data import list_datasets
from parawire.train.recipes import list_recipes


def _commands() -> list[click.Command]:
    ctx = click.Context(app)
    names = sorted(COMMAND_TABLE)
    return [app.get_command(ctx, name) for name in names]  # type: ignore[misc]


def _options(name: str) -> list[tuple[str, click.Option]]:
    """(command, option) for every visible option of every command (subcommands included)."""
    out = []
    stack: list[tuple[str, click.Command]] = [(c.name or "", c) for c in _commands()]
    while stack:
        path, cmd = stack.pop()
        if isinstance(cmd, click.Group):
            stack.extend((f"{path} {n}", c) for n, c in cmd.commands.items())
        out.extend(
            (path, p)
            for p in cmd.params
            if isinstance(p, click.Option) and not p.hidden and (not name or name in p.opts)
        )
    return out


def test_every_option_of_every_command_has_help() -> None:
    missing = [f"{cmd} {opt.opts[-1]}" for cmd, opt in _options("") if not (opt.help or "").strip()]
    assert missing == []


@pytest.mark.parametrize(("name", "short"), [("--devices", "-n"), ("--out", "-o")])
def test_shared_options_have_one_short_form(name: str, short: str) -> None:
    found = _options(name)
    assert found, name
    assert [cmd for cmd, opt in found if short not in opt.opts] == []


def test_devices_means_devices_available_everywhere() -> None:
    for cmd, opt in _options("--devices"):
        assert "Devices (ranks) available" in (opt.help or ""), cmd


def test_seed_help_says_what_it_seeds() -> None:
    for cmd, opt in _options("--seed"):
        help_text = opt.help or ""
        assert "eed" in help_text and any(
            w in help_text for w in ("partitioner", "weight", "generator", "sampler", "draws")
        ), (cmd, help_text)


def test_profile_and_partitioner_list_their_choices() -> None:
    ctx = click.Context(app)
    for cmd, opt in _options("--profile"):
        shown = opt.make_metavar(ctx)
        assert all(p in shown for p in list_profiles()) and "FILE.toml" in shown, cmd
    for cmd, opt in _options("--partitioner"):
        assert isinstance(opt.type, click.Choice), cmd
        assert set(opt.type.choices) == set(list_partitioners()), cmd


def test_unknown_profile_is_refused_at_parse(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "cifarnet", "--profile", "nope"]) != 0
    err = capsys.readouterr().err
    assert "unknown profile 'nope'" in err and err.count("\n") == 1


def test_study_refuses_a_staging_mode_as_generator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["study", "--generators", "fb", "-o", str(tmp_path / "s")]) == 1
    err = capsys.readouterr().err
    assert "'fb' is a staging mode, not a generator; write GENERATOR:fb (e.g. ws:fb" in err
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("width", [2, 4, 5])
def test_lanes_with_fb_staging(tmp_path: Path, width: int) -> None:
    out = tmp_path / "lanes.json"
    args = ["generate", "lanes", "--staging", "fb", "--param", f"width={width}", "-o", str(out)]
    assert main(args) == 0
    spec = json.loads(out.read_text())
    sizes = [len(stage["nodes"]) - 2 for stage in spec["stages"]]  # without input and output
    assert len(sizes) == 3 and sum(sizes) == 40
    assert all(size % width == 0 for size in sizes), sizes


def _shared() -> dict[str, list[tuple[str, click.Option]]]:
    """Option name -> (command, option) for every name that two or more commands use."""
    uses: dict[str, list[tuple[str, click.Option]]] = defaultdict(list)
    for cmd, opt in _options(""):
        uses[max(opt.opts, key=len)].append((cmd, opt))
    return {name: found for name, found in uses.items() if len({c for c, _ in found}) > 1}


def _kind(opt: click.Option) -> tuple[object, ...]:
    """What an option accepts: its type (with choices and bounds), forms and arity."""
    t = opt.type
    choices = tuple(getattr(t, "choices", ()) or ())
    bounds = (getattr(t, "min", None), getattr(t, "max", None))
    return (type(t).__name__, choices, bounds, opt.is_flag, opt.multiple, tuple(sorted(opt.opts)))


def test_shared_options_are_found() -> None:
    shared = _shared()
    for name in ("--data", "--dataset", "--profile", "--seed", "--merge", "--threads", "--check"):
        assert name in shared, name


def test_an_option_of_several_commands_has_one_definition() -> None:
    stray = [
        f"{cmd} {name}"
        for name, found in _shared().items()
        for cmd, opt in found
        if not isinstance(opt, SharedOption)
    ]
    assert stray == []  # build it with parawire.cli.options.shared_option (or a factory there)


def test_an_option_has_one_type_everywhere() -> None:
    differ = {
        name: {cmd: _kind(opt) for cmd, opt in found}
        for name, found in _shared().items()
        if len({_kind(opt) for _, opt in found}) > 1
    }
    assert differ == {}


def test_an_option_has_one_default_unless_it_says_why() -> None:
    differ = {
        name: {cmd: (repr(opt.default), opt.required) for cmd, opt in found}
        for name, found in _shared().items()
        if name not in VARYING_DEFAULTS
        and len({(repr(opt.default), opt.required) for _, opt in found}) > 1
    }
    assert differ == {}
    assert set(VARYING_DEFAULTS) <= set(_shared())  # no reason kept for a default that agrees


def test_one_default_profile_and_run_measures_this_machine() -> None:
    defaults = {cmd: opt.default for cmd, opt in _options("--profile")}
    assert defaults.pop("run") is None
    assert set(defaults.values()) == {DEFAULT_PROFILE}, defaults
    run_help = next(opt.help or "" for cmd, opt in _options("--profile") if cmd == "run")
    assert "local-cpu" in run_help and "measures this machine" in run_help


@pytest.mark.parametrize(
    ("name", "names"), [("--dataset", list_datasets), ("--recipe", list_recipes)]
)
def test_registry_options_list_their_choices(name: str, names) -> None:
    found = _options(name)
    assert found
    for cmd, opt in found:
        assert isinstance(opt.type, click.Choice), cmd
        assert list(opt.type.choices) == names(), cmd


def test_link_and_emulate_list_the_profiles() -> None:
    ctx = click.Context(app)
    for name in ("--link", "--emulate"):
        for cmd, opt in _options(name):
            assert all(p in opt.make_metavar(ctx) for p in list_profiles()), (cmd, name)


def test_a_misspelled_dataset_is_refused_at_parse(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "--dataset", "digitz", "-o", "x"]) == 2
    assert "digits" in capsys.readouterr().err


def test_generate_makes_what_the_library_makes(tmp_path: Path) -> None:
    out = tmp_path / "arch.json"
    assert main(["generate", "dp", "--seed", "0", "-o", str(out)]) == 0
    from parawire.arch import generate

    assert json.loads(out.read_text())["merge"] == generate("dp", seed=0).merge
    helps = {cmd: opt.help or "" for cmd, opt in _options("--merge")}
    assert all("maps" in h and "pooled" in h for h in helps.values())
    defaults = {cmd: opt.default for cmd, opt in _options("--merge")}
    assert set(defaults) >= {"generate", "study"}
    assert set(defaults.values()) == {generate("dp", seed=0).merge}  # one default: the library's
    assert "--merge maps" in helps["study"]  # how to reproduce the paper's tables


def test_command_functions_stay_short() -> None:
    """A command parses, calls the library and prints: its function (decorators aside) stays
    within 60 lines; text and JSON output live in helpers (STYLE.md, issue 20)."""
    import ast

    import parawire.cli

    long = []
    for path in sorted(Path(parawire.cli.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef):
                continue
            if (node.end_lineno or node.lineno) - node.lineno + 1 > 60:
                long.append(f"{path.name}:{node.name}")
    assert long == []
