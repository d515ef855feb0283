"""`parawire latency collect` through the command line: the shared options (issue 20, item 9)
keep what the command did before, a store URL stays a URL, and a quick look in this process."""

from __future__ import annotations

from pathlib import Path

import pytest

from parawire.cli import main
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
