"""Shared fixtures: small, fast specs for every generator and staging mode."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest
import torch

import parawire
from parawire.arch import list_stagings
from parawire.graphs import list_generators

torch.set_num_threads(1)
# Hermetic: no user profile file (written by `parawire calibrate`) or data cache leaks into tests.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="parawire-test-cache-")
atexit.register(shutil.rmtree, os.environ["XDG_CACHE_HOME"], ignore_errors=True)
os.environ.pop("PARAWIRE_PROFILES", None)
os.environ.pop("PARAWIRE_CACHE", None)  # data sets too: decoded into the temporary cache

GENERATORS = list_generators()  # every registered generator and staging mode
STAGINGS = list_stagings()
SMALL_PARAMS: dict[str, dict[str, int]] = {
    "er": {"n": 12},
    "ba": {"n": 12, "m": 2},
    "ws": {"n": 12},
    "dp": {"n": 12},
    "chain": {"n": 9},
    "lanes": {"n": 12, "width": 3},
}


def small_spec(
    generator: str,
    staging: str = "probabilistic",
    seed: int = 0,
    size: int = 32,
    merge: str = "maps",
) -> parawire.ArchSpec:
    """A fast spec (12 vertices, 8 channels) of any generator, staging mode and merge mode."""
    cfg = parawire.StagingConfig(name=staging, channels=8, c_max=32, min_size=2, fb_stages=2)
    return parawire.generate(
        generator,
        seed=seed,
        staging=cfg,
        input_shape=(3, size, size),
        merge=merge,
        **SMALL_PARAMS.get(generator, {"n": 12}),
    )


@pytest.fixture(params=GENERATORS)
def generator_name(request: pytest.FixtureRequest) -> str:
    """Every registered reference generator."""
    return request.param


def run_two_workers(plan_dir: object) -> dict:
    """Run the plan in ``plan_dir`` as two `parawire worker` processes on loopback (3 runs,
    bounded waits), as on real devices; assert both exit 0 and return rank 0's JSON report."""
    import json
    import socket
    import subprocess
    import sys
    from pathlib import Path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = str(Path(sys.executable).with_name("parawire"))
    common = ["--world", "2", "--master", f"127.0.0.1:{port}", "--runs", "3", "--timeout", "30"]
    rank0 = subprocess.Popen(
        [exe, "worker", str(plan_dir), "--rank", "0", *common, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    rank1 = subprocess.run(
        [exe, "worker", str(plan_dir), "--rank", "1", *common],
        capture_output=True,
        text=True,
        timeout=120,
    )
    out, err = rank0.communicate(timeout=120)
    assert rank0.returncode == 0 and rank1.returncode == 0, (err, rank1.stderr)
    return json.loads(out.strip().splitlines()[-1])
