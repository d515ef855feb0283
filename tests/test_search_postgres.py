"""Two ``parawire search`` processes against one real PostgreSQL server share one study.

The server is started for the test on loopback (``postgres_server``) and removed after; the test
is skipped, with the reason, where no server can be started (no ``postgresql`` package, no
``postgres`` user). Marked slow (two search processes and a server start); ``.ci/run`` runs it.
"""

from __future__ import annotations

import pytest

from postgres_server import Unavailable, postgres_server
from search_helpers import assert_exact_budget, search_args, spawn, states

pytestmark = pytest.mark.slow


@pytest.fixture
def postgres_url():
    """The URL of a fresh database on a throw-away server."""
    try:
        with postgres_server() as url:
            yield url
    except Unavailable as exc:
        pytest.skip(f"no PostgreSQL server: {exc}")


def test_two_processes_share_one_postgresql_study(postgres_url, tmp_path) -> None:
    procs = [
        spawn(search_args(tmp_path / f"m{i}", 6, "--storage", postgres_url), tmp_path / f"log{i}")
        for i in range(2)
    ]  # two "machines": each its own folder, one study
    for i, proc in enumerate(procs):
        assert proc.wait(timeout=300) == 0, (tmp_path / f"log{i}").read_text()[-3000:]
    done = assert_exact_budget(postgres_url, 6)
    assert states(postgres_url) == {"COMPLETE": 6}
    numbers = sorted(
        int(line.split()[1].rstrip(":"))
        for i in range(2)
        for line in (tmp_path / f"log{i}").read_text().splitlines()
        if line.startswith("trial ")
    )
    assert numbers == sorted(t.number for t in done)  # each trial evaluated by one process
    for i in range(2):  # both folders record the study, password-free, and its front
        assert (
            "postgresql+psycopg://postgres@127.0.0.1"
            in (tmp_path / f"m{i}" / "search-config.json").read_text()
        )
        assert (tmp_path / f"m{i}" / "front.json").is_file()
