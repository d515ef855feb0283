"""Joining the gloo process group over TCP, with every wait bounded and every failure named.

Rendezvous is torch.distributed's TCPStore at ``HOST:PORT`` (what ``init_method="tcp://..."``
creates), opened explicitly so that (1) its listener binds to the given address only (127.0.0.1
for local runs) and (2) each rank announces itself under its own key, so a rank that never
joins is named in the error instead of an anonymous "timed out".
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
import time
from datetime import timedelta

import torch.distributed as dist

from parawire.errors import ConfigError, RuntimeTimeoutError

JOIN_KEY = "parawire/joined/{rank}"


def parse_address(text: str) -> tuple[str, int]:
    """``"HOST:PORT"`` -> ``(host, port)``, with a clear error when malformed."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"--master takes HOST:PORT (e.g. 192.168.1.10:29500), got {text!r}")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine's loopback interface."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def use_loopback_for_gloo() -> None:
    """Make gloo listen on the loopback interface only (``GLOO_SOCKET_IFNAME``)."""
    names = [name for _, name in socket.if_nameindex() if name.startswith("lo")]
    if names and "GLOO_SOCKET_IFNAME" not in os.environ:
        os.environ["GLOO_SOCKET_IFNAME"] = names[0]


class StoreHost:
    """The rendezvous listener: a TCPStore server bound to ``host:port`` (port 0: any free)."""

    def __init__(self, host: str, port: int, world: int, timeout: float) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except OSError as exc:
            self._socket.close()
            raise ConfigError(f"cannot listen on {host}:{port}: {exc}; pick another port") from exc
        self._socket.listen(128)
        self.host = host
        self.port = self._socket.getsockname()[1]
        self.store = dist.TCPStore(
            host,
            self.port,
            world,
            is_master=True,
            timeout=timedelta(seconds=timeout),
            wait_for_workers=False,
            master_listen_fd=self._socket.fileno(),
        )
        self._socket.detach()  # the store owns the listening descriptor now

    def close(self) -> None:
        """Stop listening."""
        del self.store


def wait_for_listener(host: str, port: int, rank: int, timeout: float) -> None:
    """Block until ``host:port`` accepts a TCP connection; one-line ``RuntimeTimeoutError`` when
    it does not within ``timeout`` seconds.

    Checked with a plain socket before the TCPStore client is made: the client's own timeout
    runs out only after about twice its value and prints pages of C++ frames.
    """
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RuntimeTimeoutError(
                f"rank {rank}: cannot reach the master (rank 0's rendezvous) at {host}:{port} "
                f"within {timeout:g}s; start rank 0 first or check --master ({last})"
            )
        try:
            with socket.create_connection((host, port), timeout=min(left, 1.0)):
                return
        except OSError as exc:
            last = exc.strerror or type(exc).__name__
            time.sleep(min(0.1, max(left, 0.0)))


def connect_store(host: str, port: int, rank: int, timeout: float) -> dist.TCPStore:
    """A client of the rendezvous store; ``RuntimeTimeoutError`` if the master is unreachable."""
    wait_for_listener(host, port, rank, timeout)
    try:
        return dist.TCPStore(host, port, is_master=False, timeout=timedelta(seconds=timeout))
    except (RuntimeError, OSError) as exc:
        raise RuntimeTimeoutError(
            f"rank {rank}: cannot reach the master (rank 0's rendezvous) at {host}:{port} "
            f"within {timeout:g}s; start rank 0 first or check --master "
            f"({str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__})"
        ) from exc


def missing_ranks(store: dist.Store, world: int) -> list[int]:
    """Ranks that have not announced themselves in the store yet."""
    return [r for r in range(world) if not store.check([JOIN_KEY.format(rank=r)])]


def join_group(store: dist.Store, rank: int, world: int, timeout: float) -> None:
    """Announce ``rank``, wait (bounded) for all others, then initialise the gloo group."""
    deadline = time.monotonic() + timeout
    try:
        store.set(JOIN_KEY.format(rank=rank), "1")
        while missing := missing_ranks(store, world):
            if time.monotonic() > deadline:
                names = ", ".join(str(r) for r in missing)
                raise RuntimeTimeoutError(
                    f"rank {rank}: rank(s) {names} of {world} did not join within {timeout:g}s; "
                    "start every worker with the same --master and --world"
                )
            time.sleep(0.005)
    except (RuntimeError, OSError) as exc:
        raise RuntimeTimeoutError(
            f"rank {rank}: lost the master (rank 0's rendezvous) while joining: {exc}"
        ) from exc
    dist.init_process_group(
        "gloo", store=store, rank=rank, world_size=world, timeout=timedelta(seconds=timeout)
    )


def leave_group() -> None:
    """Destroy the process group if this process has one (clean exit)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def abandon_group(timeout: float) -> None:
    """Destroy the process group after a failure, giving up after ``timeout`` seconds.

    Gloo may still hold receives posted for a peer that died or hangs; destroying the group
    runs in a daemon thread so that this rank reports its error and exits regardless.
    """
    if not dist.is_initialized():
        return
    thread = threading.Thread(target=dist.destroy_process_group, daemon=True)
    thread.start()
    thread.join(timeout=min(timeout, 5.0))
