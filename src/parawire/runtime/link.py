"""Outgoing transfers of one rank: ``dist.isend``, optionally through an emulated slow link.

Without emulation a send is issued at once (gloo moves the data in its own threads while the
rank computes on). With ``link`` (any object with ``seconds(nbytes)``, e.g. a
``parawire.analysis.profiles.LinkProfile`` such as ``rpi4-wifi``'s), a sender thread holds each
send for ``latency + bytes / bandwidth`` before issuing it, one send after another: the rank's
outgoing link is busy for that long, exactly as in the schedule simulation, and computation
is never blocked.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from datetime import timedelta
from typing import Protocol

import torch
import torch.distributed as dist

from parawire.errors import RuntimeTimeoutError


class LinkModel(Protocol):
    """Seconds a message of ``nbytes`` occupies the link (latency + bytes / bandwidth)."""

    def seconds(self, nbytes: int) -> float: ...


class Outbox:
    """Issues ``isend``s and later waits for them, each wait bounded by ``timeout`` seconds."""

    def __init__(self, rank: int, timeout: float, link: LinkModel | None = None) -> None:
        self.rank = rank
        self.timeout = timeout
        self.link = link
        # (work, dst rank, what, tensor): the tensor stays referenced until its send completes
        self._works: list[tuple[dist.Work, int, str, torch.Tensor]] = []
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0  # sends queued but not yet issued
        self._error: BaseException | None = None
        self._queue: queue.Queue[tuple[torch.Tensor, int, int, str] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        if link is not None:
            self._thread = threading.Thread(target=self._run, name=f"link-rank{rank}", daemon=True)
            self._thread.start()

    def send(self, tensor: torch.Tensor, dst: int, tag: int, what: str) -> None:
        """Send ``tensor`` to rank ``dst`` (asynchronously); ``what`` names it in errors."""
        tensor = tensor.contiguous()
        if self._thread is None:
            self._works.append((dist.isend(tensor, dst, tag=tag), dst, what, tensor))
            return
        with self._lock:
            self._pending += 1
        self._queue.put((tensor, dst, tag, what))

    def _run(self) -> None:
        """Sender thread: hold each message for its link time, then issue it (FIFO)."""
        assert self.link is not None
        while (item := self._queue.get()) is not None:
            tensor, dst, tag, what = item
            try:
                nbytes = tensor.numel() * tensor.element_size()
                wait_until(time.perf_counter() + self.link.seconds(nbytes))
                work = dist.isend(tensor, dst, tag=tag)
            except BaseException as exc:  # reported by drain() on the rank's main thread
                with self._lock:
                    self._error = exc
                    self._pending -= 1
                    self._idle.notify_all()
                continue
            with self._lock:
                self._works.append((work, dst, what, tensor))
                self._pending -= 1
                self._idle.notify_all()

    def drain(self) -> None:
        """Wait until every send so far has been delivered; name the peer on a timeout."""
        deadline = time.monotonic() + self.timeout
        with self._lock:
            while self._pending and self._error is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeTimeoutError(
                        f"rank {self.rank}: the emulated link did not drain within "
                        f"{self.timeout:g}s ({self._pending} sends queued)"
                    )
                self._idle.wait(left)
            if self._error is not None:
                raise RuntimeTimeoutError(f"rank {self.rank}: a send failed: {self._error}")
            works, self._works = self._works, []
        for work, dst, what, _ in works:
            left = max(deadline - time.monotonic(), 0.001)
            try:
                work.wait(timeout=timedelta(seconds=left))
            except RuntimeError as exc:
                raise RuntimeTimeoutError(
                    f"rank {self.rank}: rank {dst} did not take {what} within "
                    f"{self.timeout:g}s: rank {dst} died, hangs or never joined "
                    f"({_first_line(exc)})"
                ) from exc

    def close(self) -> None:
        """Stop the sender thread (after the queued sends were issued)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=self.timeout)
            self._thread = None


_OVERSHOOT = [1e-4]  # running estimate of how late time.sleep wakes up on this machine


def wait_until(target: float) -> bool:
    """Block until ``time.perf_counter()`` reaches ``target``; False if it already had.

    ``time.sleep`` wakes 50-100 us late on an idle Linux machine (more under load), several
    percent of a millisecond vertex, so it is asked to wake that much earlier (a running
    estimate of its lateness) and the rest is waited out by yielding the core.
    """
    now = time.perf_counter()
    if now >= target:
        return False
    while now < target:
        ask = target - now - _OVERSHOOT[0]
        if ask > 0:
            time.sleep(ask)
            woke = time.perf_counter()
            late = max(0.0, woke - now - ask)
            _OVERSHOOT[0] = min(2e-3, 0.8 * _OVERSHOOT[0] + 0.2 * late)
        else:
            os.sched_yield()
            woke = time.perf_counter()
        now = woke
    return True


def _first_line(exc: BaseException) -> str:
    """First line of an exception's message (gloo's are long and multi-line)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
