"""One rank of a run: join the group, drive warm-up, measured and check inferences, leave.

``run_rank`` is what each process of ``run_local`` and each ``parawire worker`` runs; rank 0
publishes its progress to the rendezvous store (``PROGRESS_KEY``) for the launcher to show.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from parawire.errors import ParawireError
from parawire.progress import ProgressFn
from parawire.runtime.check import chunk_sizes
from parawire.runtime.engine import RankEngine
from parawire.runtime.group import (
    abandon_group,
    connect_store,
    join_group,
    leave_group,
    prepare_rank_process,
    run_store,
)
from parawire.runtime.options import RunOptions, emulation_pads, resolve_link
from parawire.runtime.plan import Plan
from parawire.runtime.reference import (
    full_model,
    make_image,
    padded_forward,
    plan_model,
    plan_state,
)

PROGRESS_KEY = "parawire/progress"  # rank 0 -> launcher: "phase|done|total" (run_local)


@dataclass
class RankRecord:
    """What one rank measured: latencies and logits on rank 0, a trace on every rank."""

    latencies: list[float] = field(default_factory=list)  # distributed, measured runs
    single: list[float] = field(default_factory=list)  # whole model in rank 0's process
    logits: torch.Tensor | None = None  # of the last inference
    checked: torch.Tensor | None = None  # logits of the check images
    starts: list[float] = field(default_factory=list)  # perf_counter() at each run's start
    traces: list[list[tuple[int, float, float]]] = field(default_factory=list)  # per run
    overruns: list[int] = field(default_factory=list)  # vertices over their emulated time
    max_abs_diff: float = math.nan  # rank 0, paired: last logits vs the whole model's
    breakdowns: list[dict[str, float]] = field(default_factory=list)  # per run (engine.PARTS)

    def trace_doc(self) -> dict[str, Any]:
        """JSON-ready trace of the measured runs."""
        return {
            "starts": self.starts,
            "traces": self.traces,
            "overruns": self.overruns,
            "breakdown": self.breakdowns,
        }


def drive(
    engine: RankEngine,
    options: RunOptions,
    check_images: torch.Tensor | None = None,
    progress: ProgressFn | None = None,
) -> RankRecord:
    """Warm-up plus measured inferences, then the check (see :class:`RankRecord`). Rank 0
    must hold ``options.check`` check images (every rank runs their chunks).

    With ``options.paired`` rank 0 follows every distributed inference with one of the whole
    model in its own process (the other ranks then sit blocked on their receives), so both are
    measured under the same machine load: a fair speedup on a shared machine. Under device
    emulation that model is padded vertex by vertex as the ranks are. ``progress`` is called
    between inferences (outside the timed parts).
    """
    image, model, padded = None, None, None
    record = RankRecord()
    pads = engine.pad
    if engine.rank == 0:
        image = make_image(engine.graph.input_shape, options.batch, options.seed)
        if options.paired:
            state = plan_state(engine.plan)
            model = full_model(engine.plan, state)
            padded = plan_model(engine.plan, state) if pads is not None else model
    for i in range(options.warmup + options.runs):
        if i == options.warmup:
            engine.overruns.clear()  # first calls pay one-off costs: count measured runs only
        start = time.perf_counter()
        record.logits = engine.infer(image)
        if i >= options.warmup:
            record.latencies.append(time.perf_counter() - start)
            record.starts.append(engine.started)
            record.traces.append(engine.trace)
            record.breakdowns.append(engine.times)
        if padded is not None:
            start = time.perf_counter()
            with torch.inference_mode():
                padded_forward(padded, image, pads)
            if i >= options.warmup:
                record.single.append(time.perf_counter() - start)
        if progress is not None:
            if i < options.warmup:
                progress("warm-up", i + 1, options.warmup)
            else:
                progress("measuring", i + 1 - options.warmup, options.runs)
    if progress is not None and options.check:
        progress("check images", 0, options.check)
    record.overruns = sorted(engine.overruns)
    if model is not None and record.logits is not None:
        with torch.inference_mode():
            record.max_abs_diff = float((record.logits - model(image)).abs().max())
    record.checked = _run_check(engine, options, check_images)
    engine.set_batch(options.batch)
    return record


def _run_check(
    engine: RankEngine, options: RunOptions, images: torch.Tensor | None
) -> torch.Tensor | None:
    """Every rank: the check's chunked inferences; rank 0 returns their logits."""
    if engine.rank == 0 and options.check and (images is None or len(images) != options.check):
        raise ParawireError(f"rank 0 needs {options.check} check images")
    parts = []
    start = 0
    for size in chunk_sizes(options.check):
        engine.set_batch(size)
        if engine.rank == 0:
            assert images is not None
            parts.append(engine.infer(images[start : start + size]))
        else:
            engine.infer(None)
        start += size
    return torch.cat(parts) if parts else None


def run_rank(
    plan: Plan,
    rank: int,
    host: str,
    port: int,
    options: RunOptions,
    *,
    store: Any = None,
    check_images: torch.Tensor | None = None,
    publish_progress: bool = False,
    secret: str | None = None,
) -> RankRecord:
    """Join the group at ``host:port``, run ``options`` on this rank, leave cleanly.

    Joining compares the plan's digest with every other rank's (a rank with another plan or
    other weights is refused on every rank). With ``publish_progress`` rank 0 writes its
    progress to the rendezvous store (``PROGRESS_KEY``), where a launcher can show it. With
    the run ``secret`` every key lives in the secret's namespace (``parawire.runtime.secret``).
    """
    prepare_rank_process(host, options.threads)
    if store is None:
        store = connect_store(host, port, rank, options.timeout)
    join_group(store, rank, plan.world, options.timeout, plan.digest(), secret=secret)
    if secret is not None:
        store = run_store(store, secret)
    progress = _store_progress(store) if publish_progress and rank == 0 else None
    try:
        pads = None
        if options.emulate is not None:
            pads = emulation_pads(plan, options.emulate, options.batch)
        engine = RankEngine(
            plan,
            rank,
            batch=options.batch,
            timeout=options.timeout,
            link=resolve_link(options.link or options.emulate),
            pad=pads,
        )
        result = drive(engine, options, check_images, progress)
        engine.close()
    except BaseException:
        abandon_group(options.timeout)  # peers may be dead: never wait on them unbounded
        raise
    leave_group()
    return result


def _store_progress(store: Any, every: float = 0.1) -> ProgressFn:
    """A progress callback that writes ``phase|done|total`` to ``store`` (at most every
    ``every`` seconds, and at each phase's end)."""
    last = [0.0]

    def publish(phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= every or done >= total:
            last[0] = now
            store.set(PROGRESS_KEY, f"{phase}|{done}|{total}")

    return publish
