"""Mistakes a newcomer makes are recognised: a misspelled name gets "did you mean", a weights
file given where a spec belongs says to pass it as --weights, and no error message shows an
example path that exists only in the project's own checkout (issue 20, item 12)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import parawire
from parawire.cli import main
from parawire.data import create_dataset
from parawire.errors import ConfigError
from parawire.registry import did_you_mean

SRC = Path(parawire.__file__).parent


def _error(capsys: pytest.CaptureFixture[str], args: list[str], code: int = 1) -> str:
    assert main(args) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line
    return err


def test_did_you_mean_names_the_closest_choice_or_nothing() -> None:
    assert did_you_mean("dpp", ["ba", "dp", "er"]) == " (did you mean 'dp'?)"
    assert did_you_mean("rpi4-wify", ["local-cpu", "rpi4-wifi", "rpi4-ethernet"]) == (
        " (did you mean 'rpi4-wifi'?)"
    )
    assert did_you_mean("zzz", ["ba", "dp", "er"]) == ""


@pytest.mark.parametrize(
    ("args", "code", "meant"),
    [
        (["generate", "dpp"], 1, "'dp'"),
        (["analyze", "cifarnet", "--profile", "rpi4-wify"], 1, "'rpi4-wifi'"),
        (["train", "cifarnet", "--dataset", "digitz", "-o", "x"], 2, "'digits'"),
        (["analyze", "cifarnet", "--partitioner", "kahypr"], 2, "'kahypar'"),
    ],
)
def test_a_misspelled_name_gets_a_suggestion(
    capsys: pytest.CaptureFixture[str], args: list[str], code: int, meant: str
) -> None:
    assert f"did you mean {meant}?" in _error(capsys, args, code)


def test_the_registries_suggest_too() -> None:
    with pytest.raises(ConfigError, match=r"unknown dataset 'digitz' \(did you mean 'digits'\?\)"):
        create_dataset("digitz")


@pytest.mark.parametrize(
    "args",
    [
        ["analyze", "{w}"],
        ["plan", "{w}", "-n", "2", "-o", "{tmp}/p"],
        ["run", "{w}", "-n", "2"],
        ["export", "{w}", "-n", "2", "-o", "{tmp}/e"],
        ["train", "{w}", "-o", "{tmp}/t"],
        ["eval", "{w}", "--weights", "{w}"],
        ["show", "{w}"],
        ["validate", "{w}"],
    ],
)
def test_weights_given_as_the_spec_say_pass_them_as_weights(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str]
) -> None:
    weights = tmp_path / "weights.safetensors"
    save_file({"stem.weight": torch.zeros(2)}, str(weights))
    filled = [a.format(w=weights, tmp=tmp_path) for a in args]
    err = _error(capsys, filled)
    assert "holds weights, not an architecture" in err and "--weights" in err
    assert not any(p.exists() for p in tmp_path.iterdir() if p != weights)  # nothing written


def _raised_texts(path: Path) -> list[str]:
    """Every string constant inside a ``raise`` statement of one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.value
        for raised in ast.walk(tree)
        if isinstance(raised, ast.Raise)
        for node in ast.walk(raised)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def test_no_error_message_shows_a_path_of_the_checkout() -> None:
    checkout_only = ("../", "shared/data", "runs/")
    found = [
        f"{path.relative_to(SRC)}: {text!r}"
        for path in sorted(SRC.rglob("*.py"))
        for text in _raised_texts(path)
        if any(part in text for part in checkout_only)
    ]
    assert found == []


def test_the_layouts_of_a_data_set_are_part_of_its_errors() -> None:
    # the layouts text goes into every "data not found" error of the data set (raised later)
    from parawire.data.cifar10 import Cifar10

    assert "../" not in Cifar10.layouts and "shared/" not in Cifar10.layouts
