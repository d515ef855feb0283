"""The parawire source of another git revision, importable in a subprocess, for benchmarks that
compare the current code with an older one in the same run (``choice_check.py``,
``score_throughput.py --reference``).

    with reference_source("e529c3b") as src:
        subprocess.run([sys.executable, ...], env=reference_env(src))
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import parawire
from parawire.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
# the last commit before the fast simulator and the bounded refinement (issue 19)
BEFORE_FAST_SIMULATOR = "e529c3b"


@contextlib.contextmanager
def reference_source(revision: str) -> Iterator[Path]:
    """A temporary folder holding ``src/`` of ``revision`` (``git archive``); yields its path."""
    try:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", revision, "src"],
            check=True,
            capture_output=True,
        ).stdout
    except subprocess.CalledProcessError as exc:
        raise ConfigError(
            f"cannot read revision {revision!r} of {REPO}: {exc.stderr.decode().strip()}"
        ) from None
    with tempfile.TemporaryDirectory(prefix="parawire-ref-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        yield Path(tmp) / "src"


def current_source() -> Path:
    """The ``src/`` folder this process imports parawire from."""
    return Path(parawire.__file__).resolve().parent.parent


def source_env(src: Path) -> dict[str, str]:
    """The environment of a subprocess that imports parawire from ``src`` (one thread)."""
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("PYTHONSTARTUP", None)
    return env


def run_worker(script: Path, src: Path, args: list[str], stdin: str) -> str:
    """Run ``script --worker ...`` with parawire from ``src``; return its standard output."""
    done = subprocess.run(
        [sys.executable, str(script), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=source_env(src),
        check=False,
    )
    if done.returncode != 0:
        raise ConfigError(f"worker on {src} failed: {done.stderr.strip().splitlines()[-1:]}")
    return done.stdout
