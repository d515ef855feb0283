"""Vertices timed inside real network executions, in fresh processes (``parawire calibrate``).

An operator timed alone in a loop runs with warm caches, its weights and input resident and its
allocation recycled; inside a network it follows other operators that evicted them. A profile
fitted on operators and vertices timed alone predicted whole networks 1.3-3x too fast (on a
16-core host and on the 2-core development machine). Here every vertex is timed where it runs:
a forward pre-hook and a forward hook on each ``VertexBlock`` of a whole ``ArchNet`` (one clock
reading each, about a microsecond: the thread's CPU time with one thread, wall time with
several), over ``runs`` inferences after warm-up, in each of several fresh processes pinned to
one core. A vertex's figure is the median over processes of its per-process median: the
machine's speed moves over seconds (``benchmarks/process_spread.py``), so one process is one
sample of it.

The whole forward pass is timed too: what it takes beyond the sum of its vertices and head is
the cost of running a network vertex by vertex in Python (the loop, argument lists, freeing
tensors), the ``dispatch_s`` per vertex that a calibrated profile adds to every vertex.

The specs are :func:`context_specs`: every generator, both merges, 16 to 64 channels, 32 and 64
pixels, at calibration seeds (1000 + i) that no benchmark holds out.

Run as a script (one fresh process; what :func:`time_fresh_process` starts, and
``parawire calibrate`` through it, one process after another)::

    python -m parawire.analysis.in_context --runs 20 --threads 1
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from parawire.arch import generate
from parawire.arch.generate import StagingConfig
from parawire.arch.spec import ArchSpec
from parawire.errors import DataError, RuntimeTimeoutError

CONTEXT_SEED = 1000  # calibration specs use seeds 1000 + i: benchmarks hold out seeds below
# (generator, merge, stem channels, input side) of the specs timed in context
CONTEXT_SHAPES: tuple[tuple[str, str, int, int], ...] = (
    ("dp", "pooled", 32, 32),
    ("dp", "maps", 48, 64),
    ("er", "pooled", 16, 32),
    ("er", "maps", 32, 64),
    ("ws", "pooled", 64, 32),
    ("ws", "maps", 16, 32),
    ("ba", "pooled", 48, 32),
    ("ba", "maps", 32, 64),
    ("lanes", "pooled", 32, 64),
    ("lanes", "maps", 64, 32),
    ("chain", "pooled", 48, 32),
    ("chain", "maps", 16, 64),
)


@dataclass(frozen=True)
class ContextTimes:
    """In-context timings of :func:`context_specs`, medians over fresh processes."""

    vertex_s: list[dict[int, float]]  # per spec: vertex id -> seconds inside the network
    head_s: list[float]  # per spec: the classifier head
    forward_s: list[float]  # per spec: the whole forward pass
    dispatch_s: float  # per vertex: forward - (vertices + head), over vertices, median of specs
    process_spread: list[float]  # per spec: largest over smallest per-process forward median
    forward_by_process: list[list[float]]  # per spec: each process's forward median


def context_specs() -> list[ArchSpec]:
    """The specs timed in context (:data:`CONTEXT_SHAPES`, 40-vertex generators' defaults)."""
    specs = []
    for i, (name, merge, channels, side) in enumerate(CONTEXT_SHAPES):
        specs.append(
            generate(
                name,
                seed=CONTEXT_SEED + i,
                merge=merge,
                staging=StagingConfig(channels=channels),
                input_shape=(3, side, side),
            )
        )
    return specs


def time_in_context(spec: ArchSpec, runs: int, warmup: int = 5) -> dict[str, object]:
    """One process: each vertex's, the head's and the whole forward's median seconds over
    ``runs`` inferences of ``spec``'s network (batch 1, this process's torch settings)."""
    import torch

    from parawire.nn import build_model

    model = build_model(spec).eval()
    x = torch.randn(1, *spec.input_shape, generator=torch.Generator().manual_seed(0))
    starts: dict[str, float] = {}
    spent: dict[str, list[float]] = {}

    # one thread: the thread's CPU time, which leaves out the time other processes hold the
    # core (what a dedicated device core would not lose); several threads: wall time
    clock = time.thread_time if torch.get_num_threads() == 1 else time.perf_counter

    def before(name: str) -> Callable[..., None]:
        def hook(module: object, args: object) -> None:
            starts[name] = clock()

        return hook

    def after(name: str) -> Callable[..., None]:
        def hook(module: object, args: object, out: object) -> None:
            spent.setdefault(name, []).append(clock() - starts[name])

        return hook

    modules = {**{k: m for k, m in model.vertices.items()}, "head": model.head}
    for name, module in modules.items():
        module.register_forward_pre_hook(before(name))
        module.register_forward_hook(after(name))
    forward = []
    with torch.inference_mode():
        for i in range(warmup + runs):
            if i == warmup:
                spent.clear()
            t0 = clock()
            model(x)
            if i >= warmup:
                forward.append(clock() - t0)
    medians = {name: statistics.median(ts) for name, ts in spent.items()}
    return {
        "vertex_s": {k: v for k, v in medians.items() if k != "head"},
        "head_s": medians["head"],
        "forward_s": statistics.median(forward),
    }


def _child(runs: int, threads: int) -> None:
    """Script entry: time every context spec in this (fresh) process, print one JSON line."""
    from parawire._inference import inference_settings

    with inference_settings(threads):
        out = [time_in_context(spec, runs) for spec in context_specs()]
    print(json.dumps(out))


def child_command(runs: int, threads: int) -> list[str]:
    """The command line of one fresh timing process."""
    module = "parawire.analysis.in_context"
    return [sys.executable, "-m", module, "--runs", str(runs), "--threads", str(threads)]


def time_fresh_process(runs: int, threads: int, timeout: float) -> list[dict[str, Any]]:
    """One fresh process times every context spec (pinned to the cores of one rank,
    ``parawire.measure.core_sets``, when there are enough); its per-spec medians."""
    from parawire.measure import core_sets

    cores = core_sets(1, threads)
    cmd = child_command(runs, threads)
    if cores and shutil.which("taskset"):
        cmd = ["taskset", "-c", ",".join(map(str, cores[0])), *cmd]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeTimeoutError(
            f"in-context timing did not finish within {timeout:.0f} s; raise --timeout or "
            "calibrate on a quieter machine"
        ) from None
    if done.returncode:
        last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no output"
        raise DataError(f"in-context timing failed: {last}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def combine(docs: list[list[dict[str, Any]]]) -> ContextTimes:
    """Medians over processes (``docs``, one per process) of each spec's per-process medians."""
    vertex_s, head_s, forward_s, dispatch, spread, by_process = [], [], [], [], [], []
    for s in range(len(docs[0])):
        per = [doc[s] for doc in docs]
        vertices = {
            int(v): statistics.median(p["vertex_s"][v] for p in per) for v in per[0]["vertex_s"]
        }
        head = statistics.median(p["head_s"] for p in per)
        forwards = [p["forward_s"] for p in per]
        forward = statistics.median(forwards)
        vertex_s.append(vertices)
        head_s.append(head)
        forward_s.append(forward)
        dispatch.append(max(forward - sum(vertices.values()) - head, 0.0) / len(vertices))
        spread.append(max(forwards) / min(forwards))
        by_process.append(forwards)
    dispatch_s = statistics.median(dispatch)
    return ContextTimes(vertex_s, head_s, forward_s, dispatch_s, spread, by_process)


def main(argv: list[str] | None = None) -> None:
    """``python -m parawire.analysis.in_context``: see :func:`_child`."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    _child(args.runs, args.threads)


if __name__ == "__main__":
    main()
