"""Real hosts: ranks in their own network namespaces, joined by veth pairs, as on real devices.

Skipped (with the reason) where network namespaces cannot be created (not root, no iproute2).
Only the test's own namespaces' addresses (192.0.2.0/24, never routed) are used; every
namespace is deleted afterwards, and every wait is bounded.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import small_spec
from parawire.errors import RuntimeTimeoutError
from parawire.runtime import Plan
from parawire.runtime.group import wait_for_listener
from parawire.runtime.netns import WORKER, HostLab, run_workers, unavailable

REASON = unavailable()
needs_netns = pytest.mark.skipif(REASON is not None, reason=REASON or "")


def _plan(tmp_path: Path) -> Path:
    spec = small_spec("lanes", size=16)
    placement = {v: i % 2 for i, v in enumerate(spec.topological_order)}
    placement[spec.input_node] = 0
    return Plan(spec, placement, 2).save(tmp_path / "plan")


def _namespaces() -> set[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10)
    return {line.split()[0] for line in listed.stdout.splitlines() if line.strip()}


@needs_netns
def test_two_hosts_move_real_bytes_and_give_the_single_process_logits(tmp_path: Path) -> None:
    plan_dir = _plan(tmp_path)
    before = _namespaces()
    with HostLab(2, bandwidth_bytes_per_s=5e7) as lab:
        assert lab.namespace(0) in _namespaces()
        sent = [lab.tx_bytes(r) for r in range(2)]
        report = run_workers(lab, str(plan_dir), ["--runs", "4", "--warmup", "1",
                                                   "--timeout", "30"], timeout=120)  # fmt: skip
        moved = [lab.tx_bytes(r) - sent[r] for r in range(2)]
    assert _namespaces() == before  # everything torn down
    assert report["world"] == 2 and report["p50_s"] > 0
    assert report["max_abs_diff"] <= 1e-5  # rank 0 compared with the whole model in its process
    # 5 inferences each way: far more than the handshakes; the image and the lanes' outputs
    assert min(moved) > 5 * 1000


@needs_netns
def test_a_worker_without_its_master_fails_within_its_timeout_in_one_line(tmp_path: Path) -> None:
    plan_dir = _plan(tmp_path)
    with HostLab(2) as lab:
        command = [*lab.exec_prefix(1), sys.executable, "-c", WORKER, "worker", str(plan_dir),
                   "--world", "2", "--rank", "1", "--master", f"{lab.address(0)}:29500",
                   "--runs", "1", "--timeout", "3"]  # fmt: skip
        env = {**os.environ, "GLOO_SOCKET_IFNAME": "eth0"}
        done = subprocess.run(command, capture_output=True, text=True, timeout=90, env=env)
    assert done.returncode == 1
    err = done.stderr.strip()
    assert "\n" not in err and "cannot reach the master" in err and "within 3s" in err


def test_waiting_for_a_missing_master_ends_at_the_timeout() -> None:
    with socket.socket() as s:  # a free port that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(RuntimeTimeoutError, match="cannot reach the master") as info:
        wait_for_listener("127.0.0.1", port, 1, 1.5)
    assert 1.5 <= time.monotonic() - start < 3.0
    assert "\n" not in str(info.value)
