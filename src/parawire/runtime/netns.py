"""Real hosts on one machine: each rank in its own Linux network namespace, joined by veth pairs.

A ``HostLab`` creates k namespaces, each holding one end of a veth pair renamed ``eth0`` with its
own address in 192.0.2.0/24 (TEST-NET-1, a documentation range that no network routes), and one
hub namespace whose bridge joins the other ends: k hosts on one switch. Each host's outgoing
traffic can be limited with a ``tc ... tbf`` token bucket to a link's bandwidth (the ``netem``
qdisc is not available in this kernel, so a link's latency stays emulated in the sender, with
``--link``). ``parawire worker`` then runs inside each namespace exactly as on real devices
(``ip netns exec NS parawire worker PLAN --rank r --master ADDR``): real TCP, real gloo, real
bytes through a real (virtual) interface.

Needs root (CAP_NET_ADMIN) and iproute2; ``unavailable()`` says why when they are missing. Every
command is bounded in time, and the namespaces (and with them every interface) are deleted on
exit, also after an error.

    with HostLab(2, bandwidth_bytes_per_s=5e6) as lab:
        lab.run(0, ["ip", "-br", "addr"])        # inside host 0
        lab.address(1)                           # "192.0.2.11"
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from parawire._io import atomic_write_text
from parawire.errors import ConfigError, RuntimeTimeoutError

SUBNET = "192.0.2"  # TEST-NET-1 (RFC 5737): never routed, safe inside private namespaces
FIRST_HOST = 10  # host i has address 192.0.2.(10 + i)
MAX_HOSTS = 64
COMMAND_TIMEOUT_S = 10.0


def _ip(*args: str, netns: str | None = None) -> list[str]:
    prefix = ["ip", "-n", netns] if netns else ["ip"]
    return [*prefix, *args]


def _run(command: Sequence[str]) -> str:
    """Run one iproute2/tc command (bounded); ``ConfigError`` with its stderr when it fails."""
    try:
        done = subprocess.run(
            list(command), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"`{' '.join(command)}` failed: {exc}") from exc
    if done.returncode != 0:
        raise ConfigError(f"`{' '.join(command)}` failed: {done.stderr.strip() or done.stdout}")
    return done.stdout


def unavailable() -> str | None:
    """Why network namespaces cannot be made here (None when they can)."""
    name = f"pwcheck{os.getpid()}"
    try:
        _run(["ip", "netns", "add", name])
    except ConfigError as exc:
        return f"cannot create a network namespace (root and iproute2 needed): {exc}"
    try:
        _run(["ip", "netns", "del", name])
    except ConfigError as exc:
        return str(exc)
    return None


class HostLab:
    """k hosts (network namespaces) on one bridge; see the module docstring."""

    def __init__(self, hosts: int, *, bandwidth_bytes_per_s: float | None = None) -> None:
        if not 1 <= hosts <= MAX_HOSTS:
            raise ConfigError(f"a host lab has 1..{MAX_HOSTS} hosts, got {hosts}")
        if bandwidth_bytes_per_s is not None and not bandwidth_bytes_per_s > 0:
            raise ConfigError(f"bandwidth must be > 0 bytes/s, got {bandwidth_bytes_per_s}")
        self.hosts = hosts
        self.bandwidth = bandwidth_bytes_per_s
        self.tag = f"pw{os.getpid() % 100000}"  # interface names stay under 15 characters
        self.hub = f"{self.tag}hub"
        self.created: list[str] = []

    def namespace(self, i: int) -> str:
        """Name of host i's namespace."""
        return f"{self.tag}h{i}"

    def address(self, i: int) -> str:
        """Host i's address."""
        return f"{SUBNET}.{FIRST_HOST + i}"

    def exec_prefix(self, i: int) -> list[str]:
        """The command prefix that runs a program inside host i."""
        return ["ip", "netns", "exec", self.namespace(i)]

    def run(self, i: int, command: Sequence[str]) -> str:
        """Run a short command inside host i; its stdout."""
        return _run([*self.exec_prefix(i), *command])

    def tx_bytes(self, i: int) -> int:
        """Bytes host i has sent through its interface so far."""
        info = json.loads(
            _run(_ip("-s", "-j", "link", "show", "dev", "eth0", netns=self.namespace(i)))
        )
        return int(info[0]["stats64"]["tx"]["bytes"])

    def __enter__(self) -> HostLab:
        try:
            self._create()
        except BaseException:
            self.close()
            raise
        return self

    def _create(self) -> None:
        _run(["ip", "netns", "add", self.hub])
        self.created.append(self.hub)
        _run(_ip("link", "add", "br0", "type", "bridge", netns=self.hub))
        _run(_ip("link", "set", "br0", "up", netns=self.hub))
        for i in range(self.hosts):
            ns, host_end, hub_end = self.namespace(i), f"{self.tag}a{i}", f"{self.tag}b{i}"
            _run(["ip", "netns", "add", ns])
            self.created.append(ns)
            _run(_ip("link", "add", host_end, "type", "veth", "peer", "name", hub_end))
            _run(_ip("link", "set", host_end, "netns", ns))
            _run(_ip("link", "set", hub_end, "netns", self.hub))
            _run(_ip("link", "set", host_end, "name", "eth0", netns=ns))
            _run(_ip("addr", "add", f"{self.address(i)}/24", "dev", "eth0", netns=ns))
            _run(_ip("link", "set", "eth0", "up", netns=ns))
            _run(_ip("link", "set", "lo", "up", netns=ns))
            _run(_ip("link", "set", hub_end, "master", "br0", netns=self.hub))
            _run(_ip("link", "set", hub_end, "up", netns=self.hub))
            if self.bandwidth is not None:
                rate = f"{int(self.bandwidth * 8)}bit"
                burst = f"{max(16_384, int(self.bandwidth / 100))}"  # 10 ms of traffic
                _run(
                    [*self.exec_prefix(i), "tc", "qdisc", "add", "dev", "eth0", "root", "tbf",
                     "rate", rate, "burst", burst, "latency", "100ms"]
                )  # fmt: skip

    def close(self) -> None:
        """Delete every namespace made (their interfaces go with them)."""
        for ns in reversed(self.created):
            subprocess.run(
                ["ip", "netns", "del", ns], capture_output=True, timeout=COMMAND_TIMEOUT_S
            )
        self.created.clear()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


WORKER = "import sys; from parawire.cli import main; sys.exit(main())"
MASTER_PORT = 29500  # inside host 0's fresh namespace nothing else listens


def run_workers(
    lab: HostLab, plan_dir: str, worker_args: Sequence[str], *, timeout: float
) -> dict[str, Any]:
    """``parawire worker`` for every rank of the plan in ``plan_dir``, rank r in host r; rank 0
    hosts the rendezvous on its own address. Returns rank 0's JSON report.

    ``worker_args`` (``--runs``, ``--timeout``, ``--link``...) go to every rank. Every worker is
    killed if the whole run outlasts ``timeout``; a failed rank's first error line is raised.
    """
    master = f"{lab.address(0)}:{MASTER_PORT}"
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "eth0"}
    base = [sys.executable, "-c", WORKER, "worker", plan_dir, "--world", str(lab.hosts)]
    procs = []
    for r in range(lab.hosts):
        extra = ["--bind", lab.address(0), "--json"] if r == 0 else []
        command = [*lab.exec_prefix(r), *base, "--rank", str(r), "--master", master, *extra]
        procs.append(
            subprocess.Popen(
                [*command, *worker_args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
        )
    deadline = time.monotonic() + timeout
    outputs: list[tuple[str, str]] = []
    try:
        for p in procs:
            left = max(0.1, deadline - time.monotonic())
            outputs.append(p.communicate(timeout=left))
    except subprocess.TimeoutExpired:
        raise RuntimeTimeoutError(
            f"the workers did not finish within {timeout:g}s in their namespaces"
        ) from None
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=COMMAND_TIMEOUT_S)
    failed = [
        f"rank {r}: {(err.strip().splitlines() or ['exit code ' + str(p.returncode)])[-1]}"
        for r, (p, (_, err)) in enumerate(zip(procs, outputs, strict=True))
        if p.returncode != 0
    ]
    if failed:
        raise RuntimeTimeoutError("workers in network namespaces failed: " + "; ".join(failed))
    return json.loads(outputs[0][0].strip().splitlines()[-1])


def latency_only_link(path: str, latency_s: float) -> str:
    """Write a profile whose link has ``latency_s`` and no bandwidth limit (the namespaces' tbf
    limits bandwidth); returns the ``--link`` argument naming it."""
    atomic_write_text(
        Path(path),
        "[devices.any]\nflops_per_s = 1.0e11\n\n"
        f"[links.latency-only]\nbandwidth_bytes_per_s = 1.0e15\nlatency_s = {latency_s!r}\n\n"
        '[profiles.latency-only]\ndevice = "any"\nlink = "latency-only"\n',
    )
    return f"{path}#latency-only"
