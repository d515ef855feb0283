"""Measure this machine: a device profile from micro-benchmarks (``parawire calibrate``).

Compute: every vertex (``VertexBlock``) of three generated 40-vertex specs (dp, er, ws; default
staging, 32x32 input), batch 1, ``threads`` threads (1 by default, one per rank as the runtime
runs). The zero-MAC ``mean`` vertices give the per-vertex overhead (their median time), and a
least-squares fit of ``time = overhead_s + flops / rate`` through the ``sepconv3x3`` vertices
gives their effective FLOP/s: real vertices, with their in-degrees and scaling blocks, so the
rate absorbs per-input work. The stem (``input`` vertex) rate is its FLOPs over its time; a
dense 3x3 convolution gives the default rate (traced models' ``conv`` vertices and every op
without a rate of its own). ``mean`` vertices cost ``overhead_s``.

Link: torch.distributed gloo send/recv between two processes on 127.0.0.1, as the runtime
uses it. A ping-pong of a small tensor gives the latency (half a round trip); a ~4 MB tensor
gives the bandwidth from the extra time its bytes take.

Usage::

    parawire calibrate                      # writes local-cpu to ~/.cache/parawire/profiles.toml
    parawire calibrate --out my.toml --threads 4
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from parawire.analysis.costs import spec_costs
from parawire.analysis.profiles import DeviceProfile, LinkProfile, Profile
from parawire.arch import generate
from parawire.errors import ConfigError, DataError, RuntimeTimeoutError
from parawire.nn import build_vertex

CALIBRATION_SPECS = (("dp", 0), ("er", 0), ("ws", 0))  # 40-vertex specs whose vertices are timed
SMALL_BYTES = 256  # latency probe
LARGE_BYTES = 4 * 1024 * 1024  # bandwidth probe
COMPUTE_PHASE = "timing vertices and a dense convolution"  # progress phase names
LINK_PHASE = "timing gloo send/recv between two processes"

# Progress callback: (phase, steps done, steps in the phase); called before each step and once
# with done == total when the phase ends.
ProgressFn = Callable[[str, int, int], None]


def _no_progress(phase: str, done: int, total: int) -> None:
    """The default progress callback: report nothing."""


@dataclass(frozen=True)
class Calibration:
    """Figures measured on this machine."""

    flops_per_s: float  # dense 3x3 convolution, effective FLOP/s
    op_flops_per_s: dict[str, float]  # per vertex kind: sepconv3x3, input
    overhead_s: float  # fixed per-vertex time (intercept of the sepconv3x3 fit)
    latency_s: float  # one gloo message of SMALL_BYTES, one way
    bandwidth_bytes_per_s: float  # gloo payload throughput from the LARGE_BYTES probe
    threads: int  # torch threads used for the compute benchmarks
    samples: dict[str, list[float]] = field(
        default_factory=dict
    )  # raw lower-quartile timings, for reports

    def to_profile(self, name: str = "local-cpu") -> Profile:
        """The measured figures as a ``Profile`` (this machine's processes over loopback)."""
        stamp = time.strftime("%Y-%m-%d")
        return Profile(
            name=name,
            device=DeviceProfile(
                f"{name}-{self.threads}t", self.flops_per_s, self.op_flops_per_s, self.overhead_s
            ),
            link=LinkProfile("loopback-gloo", self.bandwidth_bytes_per_s, self.latency_s),
            description=f"this machine, {self.threads} thread(s) per process, gloo over loopback",
            source=f"measured by `parawire calibrate --threads {self.threads}` on {stamp}",
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return asdict(self)


def _typical_seconds(fn: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    """Lower-quartile wall time of ``fn()`` over ``repeats`` runs (robust to a busy machine)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.quantiles(times, n=4)[0] if len(times) > 1 else times[0]


def _spec_vertex_points(
    repeats: int, progress: ProgressFn = _no_progress, extra_steps: int = 0
) -> dict[str, list[tuple[float, float]]]:
    """Vertex kind -> (FLOPs, typical seconds) of every vertex of a few generated specs.

    Real vertices, not synthetic ones: their in-degrees, scaling blocks and sizes are those the
    simulation will be asked about, so the fitted overhead absorbs the per-input work (sigmoid
    weights, sums, max-pool and projections) that MACs alone do not show. ``progress`` hears of
    each vertex, out of the vertices plus ``extra_steps`` that the caller times afterwards.
    """
    points: dict[str, list[tuple[float, float]]] = {}
    gen = torch.Generator().manual_seed(0)
    specs = [generate(generator, seed=seed, n=40) for generator, seed in CALIBRATION_SPECS]
    total = sum(len(spec.nodes) for spec in specs) + extra_steps
    done = 0
    for spec in specs:
        costs = spec_costs(spec).vertex_map
        image = torch.randn(1, *spec.input_shape, generator=gen)
        for node in spec.nodes:
            progress(COMPUTE_PHASE, done, total)
            done += 1
            block = build_vertex(spec, node.id).eval()
            edges = spec.in_edges[node.id]
            xs = [torch.randn(1, *spec.output_shape(e.src), generator=gen) for e in edges]
            args = xs or [image]
            with torch.no_grad():
                secs = _typical_seconds(lambda b=block, a=args: b(a), repeats)
            points.setdefault(node.op, []).append((2.0 * costs[node.id].macs, secs))
    return points


def _fit(points: list[tuple[float, float]], overhead: float | None = None) -> tuple[float, float]:
    """(rate FLOP/s, overhead s) of the least-squares line seconds = overhead + flops / rate.

    With ``overhead`` given only the rate is fitted; otherwise both, the overhead constrained
    to be >= 0 (a line through the origin when the free fit's intercept is negative).
    """
    flops = np.array([p[0] for p in points], dtype=float)
    secs = np.array([p[1] for p in points], dtype=float)
    if overhead is None:
        slope, intercept = np.polyfit(flops, secs, 1) if len(points) > 1 else (0.0, -1.0)
        if intercept >= 0:
            overhead = float(intercept)
    if overhead is None or overhead < 0:
        overhead = 0.0
    slope = float(flops @ (secs - overhead) / (flops @ flops))
    if slope <= 0:  # noise swamped the size effect: fall back to the largest point's rate
        big = max(points)
        return big[0] / big[1], 0.0
    return 1.0 / slope, overhead


def measure_compute(
    threads: int = 1, repeats: int = 30, progress: ProgressFn = _no_progress
) -> dict[str, Any]:
    """Effective FLOP/s of the vertex operation, the stem and a dense convolution."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        points = _spec_vertex_points(repeats, progress, extra_steps=1)  # + the dense conv
        sep = points["sepconv3x3"]
        # the zero-MAC ``mean`` vertices measure the fixed cost of a vertex; the rate follows
        overhead = statistics.median(t for _, t in points["mean"]) if "mean" in points else None
        rate, overhead = _fit(sep, overhead)
        stem = points["input"]
        # one stem per network: FLOPs / time, the overhead not subtracted
        stem_rate = float(statistics.median(f / t for f, t in stem))
        conv = nn.Conv2d(64, 64, 3, padding=1, bias=False).eval()
        x = torch.randn(1, 64, 28, 28, generator=torch.Generator().manual_seed(0))
        total = sum(len(p) for p in points.values()) + 1
        progress(COMPUTE_PHASE, total - 1, total)
        with torch.no_grad():
            t_conv = _typical_seconds(lambda: conv(x), repeats)
        progress(COMPUTE_PHASE, total, total)
        dense_rate = 2.0 * 64 * 64 * 9 * 28 * 28 / t_conv
    finally:
        torch.set_num_threads(previous)
    return {
        "flops_per_s": dense_rate,
        "op_flops_per_s": {"sepconv3x3": rate, "input": stem_rate},
        "overhead_s": overhead,
        "samples": {
            "sepconv3x3_flops": [p[0] for p in sep],
            "sepconv3x3_s": [p[1] for p in sep],
            "input_s": [p[1] for p in stem],
            "mean_s": [p[1] for p in points.get("mean", [])],
            "dense_conv_s": [t_conv],
        },
    }


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def probe_command(rank: int, port: int, repeats: int, timeout: float) -> list[str]:
    """The command line of one rank of the gloo probe (``_gloo_probe.py`` run as a script)."""
    cmd = [sys.executable, str(Path(__file__).with_name("_gloo_probe.py")), "--rank", str(rank)]
    cmd += ["--port", str(port), "--small", str(SMALL_BYTES), "--large", str(LARGE_BYTES)]
    return [*cmd, "--repeats", str(repeats), "--timeout", str(timeout)]


def measure_link(repeats: int = 10, timeout: float = 30.0) -> dict[str, float]:
    """Latency and bandwidth of gloo send/recv between two local processes.

    The two ranks are plain subprocesses running ``_gloo_probe.py`` as a script (they import
    torch only, so they start in about a second); both are killed if they outlive ``timeout``.
    """
    port = _free_port()
    procs = [
        subprocess.Popen(
            probe_command(rank, port, repeats, timeout),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    deadline = time.monotonic() + timeout
    try:
        outputs = [p.communicate(timeout=max(deadline - time.monotonic(), 0.1)) for p in procs]
    except subprocess.TimeoutExpired:
        raise RuntimeTimeoutError(
            f"gloo link benchmark did not finish within {timeout:.0f} s; "
            "check that 127.0.0.1 is usable or raise --timeout"
        ) from None
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)
    if any(p.returncode for p in procs):
        err = next(o[1] for p, o in zip(procs, outputs, strict=True) if p.returncode)
        last = err.strip().splitlines()[-1] if err.strip() else "no error output"
        raise DataError(f"gloo link benchmark failed: {last}")
    figures = json.loads(outputs[0][0].strip().splitlines()[-1])
    extra = max(figures["large_s"] - figures["small_s"], 1e-9)
    return {
        "latency_s": figures["small_s"],
        "bandwidth_bytes_per_s": (LARGE_BYTES - SMALL_BYTES) / extra,
    }


def calibrate(
    threads: int = 1,
    repeats: int = 30,
    timeout: float = 60.0,
    progress: ProgressFn | None = None,
) -> Calibration:
    """Measure compute and link; ``repeats`` trades accuracy for time (30: about 15 s).

    ``progress(phase, done, total)`` hears of each step: ``COMPUTE_PHASE`` (one step per timed
    vertex, then the dense convolution), then ``LINK_PHASE`` (one step).
    """
    if threads < 1 or repeats < 1:
        raise ConfigError(f"threads and repeats must be >= 1, got {threads} and {repeats}")
    report = progress or _no_progress
    compute = measure_compute(threads, repeats, report)
    report(LINK_PHASE, 0, 1)
    link = measure_link(max(repeats // 3, 2), timeout)
    report(LINK_PHASE, 1, 1)
    return Calibration(threads=threads, **compute, **link)


def default_threads() -> int:
    """One thread: the runtime runs one thread per rank by default."""
    return int(os.environ.get("PARAWIRE_CALIBRATE_THREADS", "1"))
