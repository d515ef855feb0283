"""CI checks what the README promises: `.ci/run` lints, checks formatting, then runs the tests."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_target(name: str) -> list[str]:
    """The recipe lines of Makefile target ``name``."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"{name}:", line))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_ci_runs_lint_then_the_readme_test_command() -> None:
    steps = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip().startswith("make ")
    ]
    assert steps == ["make lint", "make test"]
    lint = " ; ".join(make_target("lint"))
    assert "ruff check src tests" in lint and "ruff format --check src tests" in lint
    assert any("pytest" in line for line in make_target("test"))
