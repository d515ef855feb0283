"""Every wait is bounded: a rank that never joins, dies mid-run or a master that is not there
gives a RuntimeTimeoutError naming the rank within the timeout; no process is left behind."""

from __future__ import annotations

import multiprocessing
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch.multiprocessing as mp

from conftest import small_spec
from parawire.errors import RuntimeTimeoutError
from parawire.runtime import Plan, RunOptions
from parawire.runtime.group import StoreHost, connect_store, join_group
from parawire.runtime.launch import spawn_ranks

TIMEOUT = 3.0


def _children() -> list[int]:
    """Pids of this process's live children, from /proc (no psutil)."""
    me = str(os.getpid())
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            cmdline = (entry / "cmdline").read_bytes()
            if fields[1] == me and fields[0] != "Z" and b"resource_tracker" not in cmdline:
                out.append(int(entry.name))
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_master_fails_fast_naming_it() -> None:
    port = _free_port()  # nobody listens there
    start = time.monotonic()
    with pytest.raises(RuntimeTimeoutError, match=f"cannot reach the master.*127.0.0.1:{port}"):
        connect_store("127.0.0.1", port, rank=1, timeout=1.0)
    assert time.monotonic() - start < 10


def test_rank_that_never_joins_is_named() -> None:
    host = StoreHost("127.0.0.1", 0, 3, TIMEOUT)
    try:
        client = connect_store("127.0.0.1", host.port, rank=2, timeout=TIMEOUT)
        client.set("parawire/joined/2", "1")  # rank 2 arrives, rank 1 never does
        start = time.monotonic()
        with pytest.raises(RuntimeTimeoutError, match=r"rank\(s\) 1 of 3 did not join"):
            join_group(host.store, 0, 3, TIMEOUT)
        assert time.monotonic() - start < TIMEOUT + 2
    finally:
        host.close()


def test_listener_binds_loopback_only() -> None:
    host = StoreHost("127.0.0.1", 0, 2, TIMEOUT)
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
        local = [line.split()[1] for line in lines if line.split()[3] == "0A"]  # LISTEN
        assert f"0100007F:{host.port:04X}" in local
        assert f"00000000:{host.port:04X}" not in local
    finally:
        host.close()


def _dying_worker(rank: int, plan_dir: str, port: int, options: RunOptions) -> None:
    """Rank 1 dies after its first inference; rank 0 must notice and name it."""
    if rank == 1:
        import parawire.runtime.launch as launch

        original = launch.drive

        def die_after_one(engine, opts, images=None):  # type: ignore[no-untyped-def]
            engine.infer(None)
            os._exit(3)

        launch.drive = die_after_one  # type: ignore[assignment]
        assert original is not None
    from parawire.runtime.launch import _worker

    _worker(rank, plan_dir, port, options)


def test_dead_rank_mid_run_is_named_and_nothing_is_left(tmp_path: Path) -> None:
    spec = small_spec("lanes", size=16)
    placement = {v: i % 2 for i, v in enumerate(spec.topological_order)}
    placement[spec.input_node] = 0
    Plan(spec, placement, 2).save(tmp_path)
    options = RunOptions(runs=5, warmup=0, timeout=TIMEOUT)
    host = StoreHost("127.0.0.1", 0, 2, TIMEOUT)
    start = time.monotonic()
    try:
        context = mp.start_processes(
            _dying_worker,
            args=(str(tmp_path), host.port, options),
            nprocs=2,
            join=False,
            start_method="spawn",
        )
        for process in context.processes:  # each exits on its own: rank 0 within the timeout
            process.join(timeout=TIMEOUT + 30)
    finally:
        host.close()
    assert [p.exitcode for p in context.processes] == [1, 3]
    assert time.monotonic() - start < 60
    message = (tmp_path / "error-rank0.txt").read_text()
    assert "rank 1" in message
    assert multiprocessing.active_children() == []
    assert _children() == []


def test_spawn_ranks_raises_a_named_error_and_reaps_workers(tmp_path: Path) -> None:
    spec = small_spec("chain", size=16)
    Plan(spec, {v: i % 2 for i, v in enumerate(spec.topological_order)}, 2).save(tmp_path)
    options = RunOptions(runs=1, warmup=0, timeout=1.0)
    # the rendezvous port is closed: both workers fail to reach the master
    with pytest.raises(RuntimeTimeoutError, match="cannot reach the master"):
        spawn_ranks(tmp_path, 2, _free_port(), options)
    assert multiprocessing.active_children() == []
    assert _children() == []


@pytest.mark.slow  # the same check runs in-process in test_rank_that_never_joins_is_named
def test_worker_cli_rank_zero_alone_names_the_missing_rank(tmp_path: Path) -> None:
    spec = small_spec("chain", size=16)
    Plan(spec, dict.fromkeys(spec.topological_order, 0), 2).save(tmp_path)
    cmd = [
        str(Path(sys.executable).with_name("parawire")), "worker", str(tmp_path), "--rank", "0",
        "--world", "2", "--master", f"127.0.0.1:{_free_port()}", "--timeout", "2",
    ]  # fmt: skip
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "rank(s) 1 of 2 did not join" in proc.stderr
    assert time.monotonic() - start < 60
