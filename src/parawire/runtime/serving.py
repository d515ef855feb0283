"""Ranks that stay up: any number of inferences per group, and a group that forms again.

A serving group is the plan's ranks joined once (``parawire.runtime.group``) and then driven by
rank 0 (the driver) for as long as the service runs. Before each inference the driver sends
every other rank a one-number header (the batch size; 0: the service ends), so any batch size
runs and the workers wait for work without a deadline. The driver keeps up to ``window``
inferences started (``RankEngine.start``/``finish``): consecutive images overlap across devices
and the results still come back in order.

Every join of the group is a *generation* (a counter in the run's store namespace): when a rank
dies, the driver's waits fail (at once when the peer's socket closes, else at ``timeout``), it
answers the inferences in flight with that one-line error, increments the generation and
joins again; the surviving workers see their own waits fail and join the new generation too, and
a restarted worker joins whatever generation is current. While the group is not whole, the
driver declines requests (the front end, ``parawire.runtime.deploy``, then answers them on one
device).

    serve_worker(plan, rank, store, secret, ServeOptions())      # `parawire worker` (rank >= 1)
    drive_service(plan_dir, host, port, conn, ServeOptions())    # the driver process (rank 0)
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.connection import Connection
from typing import Any

import torch
import torch.distributed as dist

from parawire.errors import ConfigError, ParawireError, RuntimeTimeoutError
from parawire.runtime.engine import RankEngine, Started
from parawire.runtime.group import (
    abandon_group,
    connect_store,
    join_group,
    leave_group,
    prepare_rank_process,
    run_store,
)
from parawire.runtime.link import _first_line
from parawire.runtime.plan import Plan

SERVE_SLOTS = 8  # tags per message kind while serving: the most inferences in flight at once
CONTROL_TAG = 1 << 30  # the driver's header before each inference (above every vertex tag)
GENERATION_KEY = "serve/generation"  # in the run's namespace: the current join of the group
STOP_KEY = "serve/stop"  # set when the service ends for good
JOIN_ATTEMPT_S = 2.0  # a join attempt's length; the driver answers its front end in between
IDLE_S = 10 * 365 * 24 * 3600.0  # gloo's own timeout while a worker waits for its next request

LogFn = Callable[[str], None]


@dataclass(frozen=True)
class ServeOptions:
    """How a serving group runs (the same on every rank, except ``window``: the driver's)."""

    timeout: float = 60.0  # seconds any wait for a peer may last during an inference
    threads: int = 1  # torch threads per rank
    link: str | None = None  # link profile to emulate (e.g. "rpi4-wifi"); None: free link
    emulate: str | None = None  # device emulation: pad every vertex to this profile's time
    window: int = 4  # inferences the driver keeps in flight when they are queued (<= SERVE_SLOTS)


def _engine(plan: Plan, rank: int, options: ServeOptions) -> RankEngine:
    """This rank's engine for serving (batch set per inference by the header)."""
    from parawire.runtime.options import emulation_pads, resolve_link

    pads = emulation_pads(plan, options.emulate, 1) if options.emulate else None
    link = resolve_link(options.link or options.emulate)
    return RankEngine(plan, rank, timeout=options.timeout, link=link, pad=pads, slots=SERVE_SLOTS)


def _generation(store: dist.Store) -> int:
    """The current generation (0 before the driver's first join)."""
    if not store.check([GENERATION_KEY]):
        return 0
    return int(store.get(GENERATION_KEY))


def _join(
    store: dist.Store, plan: Plan, rank: int, secret: str, generation: int, timeout: float
) -> None:
    """One attempt at joining ``generation`` of the serving group (``RuntimeTimeoutError``
    when a rank is missing after ``timeout``)."""
    join_group(
        store,
        rank,
        plan.world,
        timeout,
        plan.digest(),
        secret=secret,
        group_timeout=IDLE_S,
        namespace=f"serve/{generation}/",
    )


def serve_worker(
    plan: Plan,
    rank: int,
    host: str,
    port: int,
    secret: str,
    options: ServeOptions,
    log: LogFn | None = None,
) -> str:
    """Serve rank ``rank`` (>= 1) of ``plan`` until the driver ends; returns why it ended.

    Joins every generation the driver starts; between generations (a rank died) it waits
    for the next one. ``log`` gets one line per event (joined, lost the group).
    """
    say = log or (lambda line: None)
    if rank < 1:
        raise ConfigError("serve_worker runs ranks >= 1; rank 0 is the driver (drive_service)")
    prepare_rank_process(host, options.threads)
    raw = connect_store(host, port, rank, options.timeout)
    store = run_store(raw, secret)
    served = 0  # the last generation this rank joined (or gave up on)
    while True:
        try:
            generation = _await_generation(store, served, options.timeout)
        except (RuntimeError, OSError) as exc:
            return f"the driver ended (its rendezvous is gone: {_first_line(exc)})"
        if generation is None:
            return "the driver ended the service"
        try:
            _join(raw, plan, rank, secret, generation, min(options.timeout, JOIN_ATTEMPT_S))
        except RuntimeTimeoutError:
            continue  # a rank is still missing: try again (the generation may have moved on)
        except (RuntimeError, OSError) as exc:
            return f"the driver ended (its rendezvous is gone: {_first_line(exc)})"
        say(f"rank {rank}: joined generation {generation} of {plan.world} ranks")
        served = generation
        engine = _engine(plan, rank, options)
        try:
            while (batch := _header()) > 0:
                engine.set_batch(batch)
                engine.infer(None)
        except (RuntimeError, ParawireError) as exc:
            say(f"rank {rank}: lost the group ({_first_line(exc)}); joining again")
            engine.outbox.close()
            abandon_group(options.timeout)
            continue
        engine.close()
        leave_group()
        return "the driver ended the service"


def _await_generation(store: dist.Store, after: int, timeout: float) -> int | None:
    """Wait for a generation newer than ``after`` (None: the service ended). A store that
    stops answering raises (the driver's process is gone)."""
    while True:
        if store.check([STOP_KEY]):
            return None
        generation = _generation(store)
        if generation > after:
            return generation
        time.sleep(0.05)


def _header() -> int:
    """Wait (without a deadline: the service may idle) for the driver's next header."""
    header = torch.zeros(1, dtype=torch.int64)
    dist.irecv(header, 0, tag=CONTROL_TAG).wait()
    return int(header[0])


def _send_headers(world: int, batch: int, timeout: float) -> None:
    """Rank 0: tell every other rank the next inference's batch (0: the service ends)."""
    header = torch.tensor([batch], dtype=torch.int64)
    works = [dist.isend(header, r, tag=CONTROL_TAG) for r in range(1, world)]
    for work in works:
        work.wait(timeout=timedelta(seconds=timeout))


# Messages between the front end and the driver process (multiprocessing Connection; both are
# parawire's own processes):
#   front end -> driver: ("infer", id, images) | ("stop",)
#   driver -> front end: ("ready", generation) | ("result", id, logits, seconds in the group)
#                        | ("error", id, line)
#                        | ("declined", id) | ("lost", line) | ("warning", line) | ("fatal", line)
#                        | ("stopped",)


class _Stop(Exception):
    """The front end asked the driver to end the service."""


def drive_service(
    plan_dir: str, host: str, port: int, conn: Connection, options: ServeOptions
) -> None:
    """The driver process: join the group (again after every failure), run the front end's
    requests on it, answer each on ``conn``, until the front end says stop."""
    from parawire.runtime.secret import load_secret

    try:
        plan = Plan.load(plan_dir)
        secret = load_secret(plan_dir)
        prepare_rank_process(host, options.threads)
        raw = connect_store(host, port, 0, options.timeout)
    except ParawireError as exc:
        conn.send(("fatal", " ".join(str(exc).split())))
        return
    store = run_store(raw, secret)
    try:
        while True:
            generation = store.add(GENERATION_KEY, 1)
            _join_driver(conn, raw, plan, secret, generation, options.timeout)
            conn.send(("ready", generation))
            engine = _engine(plan, 0, options)
            lost = _serve(conn, engine, plan.world, options)
            if lost is None:
                engine.close()
                leave_group()
                break
            conn.send(("lost", lost))
            engine.outbox.close()
            abandon_group(options.timeout)
    except _Stop:
        pass
    except ConfigError as exc:  # another plan on a rank: nothing a retry can mend
        conn.send(("fatal", " ".join(str(exc).split())))
        return
    store.set(STOP_KEY, "1")
    conn.send(("stopped",))


def _join_driver(
    conn: Connection, raw: dist.Store, plan: Plan, secret: str, generation: int, timeout: float
) -> None:
    """Join ``generation`` as rank 0, declining the front end's requests until the group is
    whole (it answers them on one device); ``_Stop`` when told to stop meanwhile."""

    def warn(line: str) -> None:
        conn.send(("warning", line))

    while True:
        _decline_pending(conn)
        try:
            join_group(
                raw,
                0,
                plan.world,
                min(timeout, JOIN_ATTEMPT_S),
                plan.digest(),
                secret=secret,
                group_timeout=IDLE_S,
                namespace=f"serve/{generation}/",
                warn=warn,
            )
            return
        except RuntimeTimeoutError:
            continue


def _decline_pending(conn: Connection) -> None:
    """Answer every queued request with "declined" (``_Stop`` on a stop)."""
    while conn.poll(0):
        message = conn.recv()
        if message[0] == "stop":
            raise _Stop
        conn.send(("declined", message[1]))


def _serve(conn: Connection, engine: RankEngine, world: int, options: ServeOptions) -> str | None:
    """Run requests until told to stop (None) or the group fails (its one-line error, after
    every request in flight has been answered with it)."""
    window = max(1, min(options.window, SERVE_SLOTS))
    flight: collections.deque[tuple[Any, Started, float]] = collections.deque()
    starting: list[Any] = []
    try:
        while True:
            if flight and (len(flight) >= window or not conn.poll(0)):
                request, started, began = flight.popleft()
                logits = engine.finish(started)
                conn.send(("result", request, logits, time.perf_counter() - began))
                continue
            message = conn.recv()
            if message[0] == "stop":
                _send_headers(world, 0, options.timeout)
                return None
            _, request, images = message
            starting.append(request)  # answered with the error if the start fails
            engine.set_batch(len(images))
            _send_headers(world, len(images), options.timeout)
            began = time.perf_counter()
            flight.append((request, engine.start(images), began))
            starting.clear()
    except (RuntimeError, ParawireError) as exc:
        line = " ".join(str(exc).split()) if isinstance(exc, ParawireError) else _first_line(exc)
        for request in [r for r, _, _ in flight] + starting:
            conn.send(("error", request, line))
        return line
