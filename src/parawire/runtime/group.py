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
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import torch
import torch.distributed as dist

from parawire._inference import flush_subnormals
from parawire.errors import ConfigError, RuntimeTimeoutError
from parawire.runtime.link import _first_line
from parawire.runtime.secret import (
    HELLO_KEY,
    PUBLIC_KEYS,
    SECRET_ENV,
    SECRET_FILE,
    fingerprint,
    store_prefix,
)

WarnFn = Callable[[str], None]  # reports one line (a process without the secret, a wide bind)

JOIN_KEY = "parawire/joined/{rank}"  # value: the rank's plan digest
CHECKED_KEY = "parawire/checked/{rank}"  # set once the rank has read every digest
CHECK_GRACE_S = 5.0  # on a mismatch, how long rank 0 waits for every rank to read the digests


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


def prepare_rank_process(host: str, threads: int) -> None:
    """The settings of a rank's process, before it joins a group at ``host``: ``threads``
    torch threads, subnormals flushed (as the one-process reference and every timing,
    ``parawire._inference``), and gloo on the loopback interface when ``host`` is loopback."""
    torch.set_num_threads(threads)
    flush_subnormals()
    if is_loopback(host):
        use_loopback_for_gloo()


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


def missing_ranks(store: dist.Store, world: int, key: str = JOIN_KEY) -> list[int]:
    """Ranks that have not set ``key`` (default: announced themselves) in the store yet."""
    return [r for r in range(world) if not store.check([key.format(rank=r)])]


def _not_joined(rank: int, missing: list[int], world: int, timeout: float) -> str:
    """The one-line message naming the ranks that did not join."""
    names = ", ".join(str(r) for r in missing)
    return (
        f"rank {rank}: rank(s) {names} of {world} did not join within {timeout:g}s; "
        "start every worker with the same --master, --world and plan"
    )


def _other_plans(store: dist.Store, world: int, digest: str) -> dict[int, str]:
    """Rank -> the plan digest it announced, for every rank whose digest is not ``digest``."""
    announced = {r: store.get(JOIN_KEY.format(rank=r)).decode() for r in range(world)}
    return {r: d for r, d in announced.items() if d != digest}


def _await_keys(
    store: dist.Store,
    world: int,
    key: str,
    deadline: float,
    missing: list[int],
    watch: IntrusionWatch | None = None,
) -> None:
    """Poll until every rank has set ``key``; ``missing`` holds the ranks not seen at the last
    look (for the error when the store fails); ``TimeoutError`` past ``deadline``. ``watch``
    looks for processes without the run's secret while waiting."""
    while True:
        missing[:] = missing_ranks(store, world, key)
        if not missing:
            return
        if watch is not None:
            watch.poll()
        if time.monotonic() > deadline:
            raise TimeoutError(key)
        time.sleep(0.005)


class IntrusionWatch:
    """Reports, once per distinct line, public rendezvous keys written without the run's secret:
    a rank's hello with another secret's fingerprint, or the key names a run without a secret
    uses (what a process that tries to disturb a run writes). Reading is rate-limited."""

    def __init__(
        self, store: dist.Store, world: int, secret: str, warn: WarnFn | None = None
    ) -> None:
        self.store, self.world, self.mine = store, world, fingerprint(secret)
        self.warn = warn or _warn_on_stderr
        self.seen: set[str] = set()
        self.next = 0.0

    def poll(self, every: float = 0.25) -> list[str]:
        """Look (at most every ``every`` seconds); warn about and return new findings."""
        if time.monotonic() < self.next:
            return []
        self.next = time.monotonic() + every
        found = []
        try:
            for line in self._findings():
                if line not in self.seen:
                    self.seen.add(line)
                    self.warn(line)
                    found.append(line)
        except (RuntimeError, OSError):
            pass  # the store's own failure is reported by the join itself
        return found

    def _findings(self) -> list[str]:
        """Every public key that shows a process without this run's secret."""
        out = []
        for rank in range(self.world):
            hello = HELLO_KEY.format(rank=rank)
            if self.store.check([hello]):
                theirs = self.store.get(hello)[:64].decode("utf-8", "replace")
                if theirs != self.mine:
                    out.append(
                        f"a process without this run's secret announced itself as rank {rank} "
                        f"at the rendezvous (secret fingerprint {theirs!r}, this run's "
                        f"{self.mine!r}); ignored: copy the same {SECRET_FILE} (or "
                        f"{SECRET_ENV}) to every device, or find who else reaches this port"
                    )
            for key in (k.format(rank=rank) for k in PUBLIC_KEYS):
                if self.store.check([key]):
                    out.append(
                        f"a process without this run's secret wrote {key!r} to the "
                        "rendezvous; ignored (this run's keys need its secret)"
                    )
        return out


def _warn_on_stderr(line: str) -> None:
    """The default ``warn``: one line on stderr."""
    print(f"parawire: warning: {line}", file=sys.stderr, flush=True)


def wide_bind_warning(host: str) -> str | None:
    """A warning when ``host`` listens on every interface (``0.0.0.0``, ``::``), else None."""
    try:
        wide = ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        wide = host == ""
    if not wide:
        return None
    return (
        f"--bind {host or '*'} listens on every network interface: the rendezvous and gloo "
        "have no encryption, and anyone who reaches the port can connect; bind to the "
        "private network's address or use an SSH/WireGuard tunnel (docs/runtime.md, Security)"
    )


def _check_plans(store: dist.Store, rank: int, world: int, mine: str) -> None:
    """``ConfigError`` on every rank when any rank joined with another plan digest; rank 0
    then waits a little (``CHECKED_KEY``) so that each rank reads the digests first."""
    others: dict[int, str] = {}
    try:
        others = _other_plans(store, world, mine)
        store.set(CHECKED_KEY.format(rank=rank), "1")
        if others and rank == 0:
            _await_keys(store, world, CHECKED_KEY, time.monotonic() + CHECK_GRACE_S, [])
    except (RuntimeError, OSError) as exc:  # TimeoutError included: the grace ran out
        if not others:
            raise _lost_master(rank, exc) from exc
    if others:
        shown = ", ".join(f"rank {r} has {d}" for r, d in sorted(others.items()))
        raise ConfigError(
            f"rank {rank}: the ranks run different plans (plan digest {mine} here; {shown}); "
            "copy the same plan folder (plan.json and weights) to every device"
        )


def join_group(
    store: dist.Store,
    rank: int,
    world: int,
    timeout: float,
    digest: str = "",
    *,
    secret: str | None = None,
    group_timeout: float | None = None,
    warn: WarnFn | None = None,
    namespace: str = "",
) -> None:
    """Announce ``rank`` with its plan ``digest``, wait (bounded) for all others, refuse a
    rank that runs another plan, then initialise the gloo group.

    Every rank compares every digest once all have joined. On a mismatch rank 0 (which may
    host the store) waits a little until every rank has read the digests (``CHECKED_KEY``),
    so that each one reports the mismatch instead of losing the rendezvous.

    With the run ``secret`` (``parawire.runtime.secret``) every key of the join and of gloo's
    own rendezvous lives under the secret's namespace, so a process without it cannot disturb
    the join; rank 0 reports (through ``warn``, once per distinct line) a process that wrote a
    rank's public keys without the secret. ``group_timeout`` bounds gloo's own waits (default
    ``timeout``; a serving rank waits for its next request without limit). ``namespace``
    separates successive joins of one run (a serving group that forms again after a failure).
    """
    mine = digest or "-"
    missing: list[int] = list(range(world))
    watch = None
    if secret is not None:
        watch = IntrusionWatch(store, world, secret, warn)
        store.set(HELLO_KEY.format(rank=rank), fingerprint(secret))
        store = run_store(store, secret)
    if namespace:
        store = dist.PrefixStore(namespace, store)
    try:
        store.set(JOIN_KEY.format(rank=rank), mine)
        deadline = time.monotonic() + timeout
        _await_keys(store, world, JOIN_KEY, deadline, missing, watch if rank == 0 else None)
    except TimeoutError as exc:
        raise RuntimeTimeoutError(_not_joined(rank, missing, world, timeout)) from exc
    except (RuntimeError, OSError) as exc:  # the store is gone: rank 0 (its host) has left
        if missing and rank not in missing:
            raise RuntimeTimeoutError(
                _not_joined(rank, missing, world, timeout)
                + " (rank 0 stopped waiting and closed the rendezvous)"
            ) from exc
        raise _lost_master(rank, exc) from exc
    _check_plans(store, rank, world, mine)
    try:
        wait = timedelta(seconds=timeout if group_timeout is None else group_timeout)
        dist.init_process_group("gloo", store=store, rank=rank, world_size=world, timeout=wait)
    except (RuntimeError, OSError) as exc:
        raise RuntimeTimeoutError(
            f"rank {rank}: the process group did not form within {timeout:g}s: a rank left "
            f"after joining ({_first_line(exc)})"
        ) from exc


def _lost_master(rank: int, exc: BaseException) -> RuntimeTimeoutError:
    """The error of a rank whose rendezvous store went away while it was joining."""
    return RuntimeTimeoutError(
        f"rank {rank}: lost the master (rank 0's rendezvous) while joining "
        f"({_first_line(exc)}); check that rank 0 is still running"
    )


def run_store(store: dist.Store, secret: str) -> dist.Store:
    """``store`` seen through the namespace of the run that holds ``secret``."""
    return dist.PrefixStore(store_prefix(secret), store)


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
