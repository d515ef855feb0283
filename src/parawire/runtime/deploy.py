"""A deployed network: its ranks started (or joined) once, then any number of inferences.

    with parawire.deploy("plan/", workers="local") as net:       # ranks 1..K-1 on this machine
        probs = net(images)                                        # (B, C, H, W) -> (B, classes)
        for probs in net.stream(frames):                           # pipelined, in order
            ...
    with parawire.deploy("plan/", master="192.168.1.10:29500") as net:   # `parawire worker`s

The front end (this process) hosts the rendezvous (the TCPStore, on the master address; on
127.0.0.1 for local workers), starts the driver (rank 0, ``parawire.runtime.serving``) in a
process of its own and, with ``workers="local"``, ranks 1..K-1. Requests from any thread go to
the driver in order through one pipe; a reader thread completes their futures. When the group is
not whole (a rank died, or has not joined yet), the driver declines requests and this process
answers them with the whole model on one device (``Answer.degraded``), when ``degrade`` is on:
the plan folder always holds the whole weights (or their seed). A request in flight when a rank
dies is answered with the one-line error (within ``timeout``), never with a wrong result. Local
workers that die are started again, and the group forms again around them.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp

from parawire.errors import ConfigError, RuntimeTimeoutError
from parawire.runtime.group import (
    IntrusionWatch,
    StoreHost,
    parse_address,
    run_store,
    wide_bind_warning,
)
from parawire.runtime.lifeline import exit_with_parent, quiet_torch_logs
from parawire.runtime.plan import Plan
from parawire.runtime.secret import load_secret
from parawire.runtime.serving import STOP_KEY, ServeOptions, drive_service, serve_worker

MAX_BATCH = 1024  # images per request: a bound on what one request may allocate on every rank
RESTART_DELAY_S = 0.5  # before a dead local worker or driver process is started again
WARNINGS_KEPT = 20  # recent warnings kept for health()


@dataclass(frozen=True)
class Answer:
    """The result of one request."""

    logits: torch.Tensor  # (B, classes), float32
    degraded: bool  # answered on one device because the group was not whole
    devices: int  # devices that computed it
    latency_s: float  # from submission to answer, in this process
    pipeline_s: float = float("nan")  # from the start of its inference to its logits (queueing
    # for the window excluded): what a streamed frame's latency is compared with

    @property
    def probs(self) -> torch.Tensor:
        """Class probabilities, (B, classes)."""
        return torch.softmax(self.logits, dim=1)


@dataclass
class _Request:
    future: Future[Answer]
    images: torch.Tensor
    started: float = field(default_factory=time.perf_counter)


def _local_worker(
    plan_dir: str, rank: int, host: str, port: int, options: ServeOptions, parent: int
) -> None:
    """A spawned local worker: serve ``rank`` until the driver ends or ``parent`` dies."""
    exit_with_parent(parent)
    plan = Plan.load(plan_dir)
    serve_worker(plan, rank, host, port, load_secret(plan_dir), options)


def _driver(
    plan_dir: str, host: str, port: int, conn: Any, options: ServeOptions, parent: int
) -> None:
    """The spawned driver process (rank 0)."""
    exit_with_parent(parent)
    drive_service(plan_dir, host, port, conn, options)


class Deployment:
    """A plan's ranks, started once; submit any number of requests (thread-safe)."""

    def __init__(
        self,
        plan: str | Path | Plan,
        *,
        workers: str = "local",
        master: str | None = None,
        bind: str | None = None,
        options: ServeOptions | None = None,
        degrade: bool = True,
        restart_workers: bool = True,
    ) -> None:
        if workers not in ("local", "remote"):
            raise ConfigError(f"workers must be 'local' or 'remote', got {workers!r}")
        quiet_torch_logs()
        self.options = options or ServeOptions()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if isinstance(plan, Plan):
            self._tmp = tempfile.TemporaryDirectory(prefix="parawire-deploy-")
            plan.save(self._tmp.name)
            plan = self._tmp.name
        self.plan_dir = str(plan)
        self.plan = Plan.load(self.plan_dir)
        secret = load_secret(self.plan_dir)  # refuse a folder without a secret before starting
        self.world = self.plan.world
        self.degrade, self.workers = degrade, workers
        self.restart_workers = restart_workers
        if workers == "local":
            host, port = "127.0.0.1", 0
        else:
            if master is None:
                raise ConfigError("remote workers need master=HOST:PORT (where they connect)")
            host, port = parse_address(master)
        self.warnings: deque[str] = deque(maxlen=WARNINGS_KEPT)
        if bind is not None and (line := wide_bind_warning(bind)) is not None:
            self._warn(line)
        self._host = StoreHost(bind or host, port, self.world, self.options.timeout)
        self._store = run_store(self._host.store, secret)
        self.host, self.port = host, self._host.port
        self._lock = threading.Lock()  # the pipe, the pending requests, the state below
        self._pending: dict[int, _Request] = {}
        self._ids = itertools.count()
        self._ready = threading.Event()
        self._closing = False
        self.generation = 0
        self.fatal: str | None = None
        self.lost: str | None = None  # why the group last fell apart
        self._model: torch.nn.Module | None = None
        self._model_lock = threading.Lock()
        self._one_device = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parawire-one")
        self._ctx = mp.get_context("spawn")
        self._locals: dict[int, Any] = {}
        self._intrusions = IntrusionWatch(self._host.store, self.world, secret, self._warn)
        self._start_driver()
        if workers == "local":
            for rank in range(1, self.world):
                self._start_local(rank)
        self._monitor = threading.Thread(target=self._watch, daemon=True)
        self._monitor.start()

    # ---- processes ----

    def _start_driver(self) -> None:
        """Start the driver process and the thread that reads its answers."""
        ours, theirs = self._ctx.Pipe()
        self._conn = ours
        args = (self.plan_dir, self.host, self.port, theirs, self.options, os.getpid())
        self._driver = self._ctx.Process(target=_driver, args=args, daemon=True)
        self._driver.start()
        theirs.close()
        self._reader = threading.Thread(target=self._read, args=(ours,), daemon=True)
        self._reader.start()

    def _start_local(self, rank: int) -> None:
        """Start local worker ``rank``."""
        args = (self.plan_dir, rank, self.host, self.port, self.options, os.getpid())
        process = self._ctx.Process(target=_local_worker, args=args, daemon=True)
        process.start()
        self._locals[rank] = process

    def _watch(self) -> None:
        """While the deployment is open: start again any local worker that died, and report
        processes without the run's secret that write to the rendezvous."""
        while not self._closing:
            time.sleep(RESTART_DELAY_S)
            self._intrusions.poll()
            for rank, process in list(self._locals.items()):
                if not process.is_alive() and not self._closing and self.restart_workers:
                    process.join(timeout=0)
                    code = process.exitcode
                    self._warn(f"local rank {rank} ended (exit code {code}); restarting")
                    self._start_local(rank)

    def local_pid(self, rank: int) -> int | None:
        """The process id of local worker ``rank`` (for tests and benchmarks that kill one)."""
        process = self._locals.get(rank)
        return None if process is None else process.pid

    # ---- answers from the driver ----

    def _read(self, conn: Any) -> None:
        """Complete requests with the driver's answers; a driver that died is started again."""
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            kind = message[0]
            if kind == "stopped":
                return
            self._on_message(kind, message)
            if kind == "fatal":
                return
        with self._lock:
            self._ready.clear()
            lost = list(self._pending.items())
            self._pending.clear()
            closing = self._closing
        for _, request in lost:
            request.future.set_exception(
                RuntimeTimeoutError("the driver process ended while the request was in flight")
            )
        if not closing:
            self._warn("the driver process ended unexpectedly; starting it again")
            time.sleep(RESTART_DELAY_S)
            self._start_driver()

    def _on_message(self, kind: str, message: tuple[Any, ...]) -> None:
        """One message of the driver (see ``parawire.runtime.serving``)."""
        if kind == "ready":
            self.generation, self.lost = message[1], None
            self._ready.set()
        elif kind == "lost":
            self._ready.clear()
            self.lost = message[1]
            self._warn(f"the group lost a rank: {message[1]}")
        elif kind == "warning":
            self._warn(message[1])
        elif kind == "fatal":
            self._ready.clear()
            self.fatal = message[1]
            self._warn(message[1])
        elif kind in ("result", "error", "declined"):
            with self._lock:
                request = self._pending.pop(message[1], None)
            if request is None:
                return
            if kind == "result":
                latency = time.perf_counter() - request.started
                answer = Answer(message[2], False, self.world, latency, message[3])
                request.future.set_result(answer)
            elif kind == "error":
                request.future.set_exception(RuntimeTimeoutError(message[2]))
            else:
                self._answer_on_one_device(request)

    def _warn(self, line: str) -> None:
        """Keep ``line`` for ``health()`` and print it once on stderr."""
        import sys

        self.warnings.append(line)
        print(f"parawire: warning: {line}", file=sys.stderr, flush=True)

    # ---- one device ----

    def _answer_on_one_device(self, request: _Request) -> None:
        """Answer ``request`` with the whole model here (degraded), or refuse it."""
        if not self.degrade:
            why = self.fatal or self.lost or "the ranks have not all joined yet"
            request.future.set_exception(
                RuntimeTimeoutError(f"the group of {self.world} ranks is not whole ({why})")
            )
            return
        self._one_device.submit(self._run_one_device, request)

    def _run_one_device(self, request: _Request) -> None:
        """The whole model in this process (its first use loads the plan's weights)."""
        try:
            with self._model_lock:
                if self._model is None:
                    from parawire.runtime.reference import full_model

                    self._model = full_model(self.plan)
                began = time.perf_counter()
                with torch.inference_mode():
                    logits = self._model(request.images)
            done = time.perf_counter()
            answer = Answer(logits, True, 1, done - request.started, done - began)
            request.future.set_result(answer)
        except Exception as exc:  # the caller gets every failure through its future
            request.future.set_exception(exc)

    # ---- the public face ----

    def ready(self) -> bool:
        """Whether the whole group is serving."""
        return self._ready.is_set()

    def wait_ready(self, timeout: float | None = None, stop_on_error: bool = True) -> bool:
        """Block until the whole group serves (True) or ``timeout`` passes (False); with
        ``stop_on_error``, also stop waiting (False) on an error no retry mends (``fatal``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ready.wait(0.1):
            if (stop_on_error and self.fatal) or (deadline and time.monotonic() > deadline):
                return False
        return True

    def health(self) -> dict[str, Any]:
        """Devices serving, whether degraded, the group's generation and recent warnings."""
        whole = self.ready()
        return {
            "world": self.world,
            "devices": self.world if whole else (1 if self.degrade else 0),
            "degraded": not whole,
            "generation": self.generation,
            "lost": self.lost,
            "error": self.fatal,
            "warnings": list(self.warnings),
        }

    def check_images(self, images: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """(images as a float32 batch, whether one image was given); one-line ``ConfigError``
        for a tensor of another shape."""
        shape = tuple(self.plan.graph.input_shape)
        if not isinstance(images, torch.Tensor):
            raise ConfigError(f"images must be a torch.Tensor, got {type(images).__name__}")
        single = images.dim() == len(shape)
        batch = images.unsqueeze(0) if single else images
        if batch.dim() != len(shape) + 1 or tuple(batch.shape[1:]) != shape:
            raise ConfigError(
                f"images must be of shape (B, {', '.join(map(str, shape))}) or one image of "
                f"shape {shape}, got {tuple(images.shape)}"
            )
        if not 1 <= len(batch) <= MAX_BATCH:
            raise ConfigError(f"a request holds 1 to {MAX_BATCH} images, got {len(batch)}")
        return batch.detach().to(torch.float32).contiguous(), single

    def submit(self, images: torch.Tensor) -> Future[Answer]:
        """Queue a request (thread-safe); its future gets the :class:`Answer` or the error."""
        batch, _ = self.check_images(images)
        request = _Request(Future(), batch)
        with self._lock:
            if self._closing:
                raise ConfigError("the deployment is closed")
            if self._ready.is_set():
                key = next(self._ids)
                self._pending[key] = request
                try:
                    self._conn.send(("infer", key, batch))
                    return request.future
                except (OSError, ValueError):
                    self._pending.pop(key, None)  # the driver is gone: one device answers
        self._answer_on_one_device(request)
        return request.future

    def infer(self, images: torch.Tensor) -> Answer:
        """Submit and wait (at most twice the timeout, plus the start of a lost driver)."""
        return self.submit(images).result(timeout=2 * self.options.timeout + 30)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Class probabilities of ``images`` ((B, C, H, W) -> (B, classes); one (C, H, W)
        image -> (classes,))."""
        _, single = self.check_images(images)
        probs = self.infer(images).probs
        return probs[0] if single else probs

    def stream(self, frames: Iterable[torch.Tensor], window: int | None = None) -> Iterator[Any]:
        """Probabilities of each frame, in order, with up to ``window`` (default the driver's)
        requests in flight: consecutive frames overlap across devices."""
        depth = max(1, window or self.options.window)
        flight: deque[tuple[Future[Answer], bool]] = deque()
        timeout = 2 * self.options.timeout + 30
        for frame in frames:
            _, single = self.check_images(frame)
            flight.append((self.submit(frame), single))
            if len(flight) >= depth:
                future, one = flight.popleft()
                probs = future.result(timeout=timeout).probs
                yield probs[0] if one else probs
        while flight:
            future, one = flight.popleft()
            probs = future.result(timeout=timeout).probs
            yield probs[0] if one else probs

    def close(self) -> None:
        """End the service: the driver tells every rank, local workers exit, nothing is left."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            with contextlib.suppress(OSError, ValueError):
                self._conn.send(("stop",))
        self._driver.join(timeout=self.options.timeout + 5)
        with contextlib.suppress(RuntimeError, OSError):
            self._store.set(STOP_KEY, "1")  # also when the driver could not say so
        for process in [self._driver, *self._locals.values()]:
            process.join(timeout=self.options.timeout + 5 if process is not self._driver else 0)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()
        with self._lock:
            for request in self._pending.values():
                request.future.set_exception(ConfigError("the deployment was closed"))
            self._pending.clear()
        self._one_device.shutdown(wait=True)
        self._host.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def deploy(plan: str | Path | Plan, *, wait: float | None = 120.0, **kwargs: Any) -> Deployment:
    """Start (or join) the ranks of ``plan`` and return the :class:`Deployment`.

    ``workers="local"`` (default) starts ranks 1..K-1 here; ``workers="remote",
    master="HOST:PORT"`` waits for ``parawire worker`` processes. With ``wait`` (seconds) it
    returns once the whole group serves, else raises a one-line error (and cleans up); with
    ``wait=None`` it returns at once (answers are degraded until the group is whole).
    """
    net = Deployment(plan, **kwargs)
    if wait is not None and not net.wait_ready(wait, stop_on_error=True):
        why = net.fatal or f"the {net.world} ranks did not all join within {wait:g}s"
        net.close()
        raise RuntimeTimeoutError(f"deploy: {why}")
    return net


__all__ = ["Answer", "Deployment", "deploy"]
