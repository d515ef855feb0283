"""`parawire latency` through the command line: the shared options (issue 20, item 9) keep what
collect did before, a store URL stays a URL, a quick look runs in this process, and `fit --model`
lists the registered predictors."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from parawire.cli import app, main
from parawire.latency import list_predictors
from parawire.latency.store import LatencyStore

QUICK = ["--samples", "1", "--min-nodes", "4", "--max-nodes", "6", "--repeats", "2"]


def test_collect_into_a_store_url_in_this_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lat.db'}"
    assert main(["latency", "collect", "--out", url, *QUICK, "--warmup", "0", "--in-process"]) == 0
    assert (tmp_path / "lat.db").is_file()  # the URL's file, not a folder named "sqlite:"
    rows = LatencyStore(url).rows()
    assert [(r.key.devices, r.processes, r.repeats) for r in rows] == [(1, 1, 2)]


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [("--emulate", "rpi5-nope", "unknown profile"), ("--devices", "1,2", "'1,2'")],
)
def test_collect_refuses_at_parse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, said: str
) -> None:
    out = tmp_path / "lat.db"
    assert main(["latency", "collect", "--out", str(out), *QUICK, option, value]) != 0
    assert said in capsys.readouterr().err
    assert not out.exists()  # nothing measured, no store created


def test_fit_lists_the_predictors_and_suggests_one(capsys: pytest.CaptureFixture[str]) -> None:
    fit = app.get_command(click.Context(app), "latency").commands["fit"]  # type: ignore[union-attr]
    model = next(p for p in fit.params if p.name == "model")
    assert list(model.type.choices) == list_predictors()  # type: ignore[attr-defined]
    assert main(["latency", "fit", "nowhere.db", "-o", "p.pt", "--model", "hybrd"]) == 2
    assert "(did you mean 'hybrid'?)" in capsys.readouterr().err
