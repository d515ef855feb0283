"""The command line reads the same everywhere: every option has help, shared options mean one
thing in every command, choices are listed (issue 9, item 15)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from parawire.analysis.partitioners import list_partitioners
from parawire.analysis.profiles import list_profiles
from parawire.cli import COMMAND_TABLE, app, main


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
