"""Measure this machine: a device profile from micro-benchmarks (``parawire calibrate``).

Compute: every vertex (``VertexBlock``) of twelve generated specs (every generator, both
merges, 16-64 channels, 32 and 64 pixels; ``parawire.analysis.in_context``), timed INSIDE
whole-network inferences in several fresh processes (batch 1, ``threads`` threads: 1 by
default, one per rank as the runtime runs), not alone in a loop: a vertex timed alone ran
1.3-3x faster than inside its network. The zero-MAC ``mean`` vertices give the per-vertex
overhead (their median time), and a least-squares fit of ``time = overhead_s + flops / rate``
through the ``sepconv3x3`` vertices gives their effective FLOP/s (the profile's pricing by
vertex op, for uncalibrated callers). The stem (``input`` vertex) rate is its FLOPs over its
time; a dense 3x3 convolution gives the default rate. What a whole forward pass takes beyond
its vertices is ``dispatch_s``, added to every vertex.

Operators by kind (what a calibrated profile prices vertices with): every work kind of
``parawire.analysis.work`` (dense convolutions by kernel class, depthwise convolution, linear,
batch norm, max and average pooling, element-wise, plain calls) timed alone at generic sizes,
plus whole networks (24 random small CNNs, and the twelve specs above timed in context) and
the in-context vertices above, all reduced to work lists; one non-negative least-squares fit
(relative error, each of the three kinds of evidence weighing the same in total) gives each
kind's rate and per-call cost. The whole-network rows matter: operators in sequence pay for
dispatch, allocation and cold caches that a single operator in a loop does not, and a fit on
single operators alone under-predicted networks by a third or more. Every timing runs with
float32 subnormals flushed (``parawire._inference``).

Link: torch.distributed gloo send/recv between two processes on 127.0.0.1, as the runtime
uses it. A ping-pong of a small tensor gives the latency (half a round trip); a ~4 MB tensor
gives the bandwidth from the extra time its bytes take.

Usage::

    parawire calibrate                      # writes local-cpu to ~/.cache/parawire/profiles.toml
    parawire calibrate --out my.toml --threads 4
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from parawire._inference import inference_settings
from parawire.analysis.calibrate_link import measure_link
from parawire.analysis.calibrate_workloads import context_model, kind_cases
from parawire.analysis.costs import spec_costs
from parawire.analysis.in_context import (
    CONTEXT_SHAPES,
    ContextTimes,
    combine,
    context_specs,
    time_fresh_process,
)
from parawire.analysis.profiles import DeviceProfile, LinkProfile, Profile
from parawire.analysis.work import KINDS
from parawire.arch.spec import ArchSpec, Node
from parawire.errors import ConfigError, DataError
from parawire.nn import build_vertex
from parawire.progress import ProgressFn

CONTEXT_PHASE = "timing networks in context (fresh processes)"  # progress phase names
COMPUTE_PHASE = "fitting vertices, timing a dense convolution"
KINDS_PHASE = "timing operators by kind"
LINK_PHASE = "timing gloo send/recv between two processes"

WorkRow = tuple[tuple[tuple[str, int], ...], float]  # (work list, measured seconds)

# Progress callback: (phase, steps done, steps in the phase); called before each step and once
# with done == total when the phase ends.


def _no_progress(phase: str, done: int, total: int) -> None:
    """The default progress callback: report nothing."""


@dataclass(frozen=True)
class Calibration:
    """Figures measured on this machine."""

    flops_per_s: float  # dense 3x3 convolution, effective FLOP/s
    op_flops_per_s: dict[str, float]  # per vertex kind: sepconv3x3, input
    overhead_s: float  # fixed per-vertex time (intercept of the sepconv3x3 fit)
    dispatch_s: float  # per vertex: a network's forward beyond its vertices (in context)
    latency_s: float  # one gloo message of SMALL_BYTES, one way
    bandwidth_bytes_per_s: float  # gloo payload throughput from the LARGE_BYTES probe
    threads: int  # torch threads used for the compute benchmarks
    samples: dict[str, list[float]] = field(
        default_factory=dict
    )  # raw lower-quartile timings, for reports
    kind_rates: dict[str, float] = field(default_factory=dict)  # per work kind, see measure_kinds
    kind_call_s: dict[str, float] = field(default_factory=dict)
    kind_samples: dict[str, list[list[float]]] = field(default_factory=dict)  # (amount, s)
    processes: int = 1  # fresh processes the in-context timings are medians of
    context_spread: list[float] = field(default_factory=list)  # per spec: process max / min
    # what the profile cannot vouch for (``Profile``): whole networks' times in each fresh
    # process over their prediction (lowest, highest), the link probe's median over its best,
    # the median spread of one network between fresh processes
    compute_range: tuple[float, float] = (1.0, 1.0)
    link_range: tuple[float, float] = (1.0, 1.0)
    spread: float = 1.0

    def to_profile(self, name: str = "local-cpu") -> Profile:
        """The measured figures as a ``Profile`` (this machine's processes over loopback)."""
        stamp = time.strftime("%Y-%m-%d")
        return Profile(
            name=name,
            device=DeviceProfile(
                f"{name}-{self.threads}t",
                self.flops_per_s,
                self.op_flops_per_s,
                self.overhead_s,
                kind_rates=self.kind_rates,
                kind_call_s=self.kind_call_s,
                dispatch_s=self.dispatch_s,
            ),
            link=LinkProfile("loopback-gloo", self.bandwidth_bytes_per_s, self.latency_s),
            description=f"this machine, {self.threads} thread(s) per process, gloo over loopback",
            source=f"measured by `parawire calibrate --threads {self.threads}` on {stamp}",
            compute_range=self.compute_range,
            link_range=self.link_range,
            spread=self.spread,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return asdict(self)


def _typical_seconds(fn: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    """Lower-quartile time of ``fn()`` over ``repeats`` runs (robust to a busy machine).

    With one torch thread the clock is the thread's CPU time, which leaves out the time other
    processes hold the core (what a dedicated device core would not lose); with several
    threads, wall time (the other threads' CPU time would be missed).
    """
    clock = time.thread_time if torch.get_num_threads() == 1 else time.perf_counter
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.quantiles(times, n=4)[0] if len(times) > 1 else times[0]


def vertex_calls(
    spec: ArchSpec, gen: torch.Generator, batch: int = 1
) -> Iterator[tuple[Node, Callable[[], object]]]:
    """Each vertex of ``spec`` (its ``VertexBlock``, in eval mode) as a call on random inputs
    of the shapes it receives in the network, batch ``batch``: what timing a vertex runs."""
    image = torch.randn(batch, *spec.input_shape, generator=gen)
    for node in spec.nodes:
        block = build_vertex(spec, node.id).eval()
        shapes = [spec.output_shape(e.src) for e in spec.in_edges[node.id]]
        args = [torch.randn(batch, *shape, generator=gen) for shape in shapes] or [image]
        yield node, lambda b=block, a=args: b(a)


def context_points(
    context: ContextTimes, rows: list[WorkRow] | None = None
) -> dict[str, list[tuple[float, float]]]:
    """Vertex kind -> (FLOPs, seconds in context) of every vertex of the context specs.

    Real vertices, not synthetic ones: their in-degrees, scaling blocks and sizes are those the
    simulation will be asked about, so the fitted overhead absorbs the per-input work (sigmoid
    weights, sums, max-pool and projections) that MACs alone do not show. ``rows``, when given,
    receives each vertex's (work list, seconds) for :func:`fit_kinds`.
    """
    points: dict[str, list[tuple[float, float]]] = {}
    for spec, times in zip(context_specs(), context.vertex_s, strict=True):
        costs = spec_costs(spec).vertex_map
        for node in spec.nodes:
            secs = times[node.id]
            points.setdefault(node.op, []).append((2.0 * costs[node.id].macs, secs))
            if rows is not None:
                rows.append((costs[node.id].work, secs))
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


def _fit_relative(points: list[tuple[float, float]]) -> tuple[float, float]:
    """(rate, call seconds) minimising the relative error of ``call + amount / rate``.

    Relative, not absolute, least squares: an operator kind spans three orders of magnitude of
    time, and an absolute fit would ignore the small calls that dominate parawire's vertices.
    The call cost is constrained to be >= 0 (refit through the origin otherwise).
    """
    amount = np.array([p[0] for p in points], dtype=float)
    secs = np.array([p[1] for p in points], dtype=float)
    a = np.stack([1.0 / secs, amount / secs], axis=1)
    (call, inverse), *_ = np.linalg.lstsq(a, np.ones_like(secs), rcond=None)
    if call < 0 or inverse <= 0:
        call = 0.0
        inverse = float(np.sum(amount / secs) / np.sum((amount / secs) ** 2))
    if inverse <= 0:
        raise DataError(
            "operator timings do not grow with their size; calibrate on a quiet machine"
        )
    return 1.0 / inverse, float(call)


def fit_kinds(
    rows: list[WorkRow], weights: list[float] | None = None
) -> tuple[dict[str, float], dict[str, float]]:
    """(rate, call seconds) per work kind from timed work lists, by non-negative least squares
    on relative error: seconds ~ sum over calls of call_s[kind] + amount / rate[kind].

    Rows mix single operators (which pin the rates) with whole vertices and whole models
    (which carry the cost of operators running in sequence); ``weights`` (one per row, default
    equal) weigh each row's squared relative error. A kind whose amounts the fit explains
    entirely by its calls (rate = infinity) keeps the rate of its single-operator rows.
    """
    from scipy.optimize import nnls

    kinds = [k for k in KINDS if k != "call"]
    column = {k: i for i, k in enumerate(KINDS)}  # call counts, then amounts of the rated kinds
    width = len(KINDS) + len(kinds)
    x = np.zeros((len(rows), width))
    secs = np.array([t for _, t in rows], dtype=float)
    for r, (work, _) in enumerate(rows):
        for kind, amount in work:
            x[r, column[kind]] += 1.0
            if kind != "call":
                x[r, len(KINDS) + kinds.index(kind)] += amount
    scale = np.maximum(x.max(axis=0), 1e-30)  # columns of comparable size for the solver
    root = np.sqrt(np.ones(len(rows)) if weights is None else np.asarray(weights, dtype=float))
    a = (x / scale) / secs[:, None] * root[:, None]
    solution, _ = nnls(a, root, maxiter=50 * width)
    solution = solution / scale
    call_s = {k: float(solution[column[k]]) for k in KINDS}
    rates: dict[str, float] = {}
    for i, kind in enumerate(kinds):
        inverse = solution[len(KINDS) + i]
        if inverse > 0:
            rates[kind] = 1.0 / float(inverse)
        else:
            single = [(w[0][1], t) for w, t in rows if len(w) == 1 and w[0][0] == kind]
            if not single:
                raise DataError(f"no timing shows the cost of {kind} operators; re-run calibrate")
            rates[kind], _ = _fit_relative(single)
    return rates, call_s


def measure_kinds(
    threads: int = 1,
    repeats: int = 30,
    progress: ProgressFn = _no_progress,
    vertex_rows: list[WorkRow] | None = None,
    models: int = 24,
    context: ContextTimes | None = None,
) -> dict[str, Any]:
    """Rate and per-call cost of every work kind (``parawire.analysis.work.KINDS``).

    Three kinds of evidence, batch 1, ``threads`` threads: each kind's operators alone at
    several generic sizes; whole networks (``models`` random small CNNs, traced into work lists
    by ``parawire.analysis.trace``, and the ``context`` specs' forward passes, less their
    dispatch); and ``vertex_rows``, parawire vertices timed in context. :func:`fit_kinds` fits
    all rows, each kind of evidence weighing the same in total (:func:`balanced_weights`).
    """
    from parawire.analysis.trace import from_module

    rows: list[WorkRow] = list(vertex_rows or [])
    groups = ["vertex"] * len(rows)
    samples: dict[str, list[list[float]]] = {}
    if context is not None:
        for spec, forward in zip(context_specs(), context.forward_s, strict=True):
            work = tuple(w for v in spec_costs(spec).vertices for w in v.work)
            rows.append((work, forward - context.dispatch_s * len(spec.nodes)))
            groups.append("network")
            samples.setdefault("models", []).append([float(len(work)), forward])
    with inference_settings(threads):
        cases = kind_cases(torch.Generator().manual_seed(0))
        rng = np.random.default_rng(0)
        contexts = [(context_model(rng), None) for _ in range(models)]
        total = len(cases) + len(contexts)
        for i, (kind, amount, fn) in enumerate(cases):
            progress(KINDS_PHASE, i, total)
            with torch.no_grad():
                secs = _typical_seconds(fn, repeats)
            rows.append((((kind, int(amount)),), secs))
            groups.append("operator")
            samples.setdefault(kind, []).append([amount, secs])
        for i, ((model, x), _) in enumerate(contexts):
            progress(KINDS_PHASE, len(cases) + i, total)
            graph = from_module(model, x)
            work = tuple(w for v in graph.vertices for w in v.work)
            with torch.no_grad():
                secs = _typical_seconds(lambda m=model, x=x: m(x), max(3, repeats // 2))
            rows.append((work, secs))
            groups.append("network")
            samples.setdefault("models", []).append([float(len(work)), secs])
        progress(KINDS_PHASE, total, total)
    rates, call_s = fit_kinds(rows, balanced_weights(groups))
    return {"kind_rates": rates, "kind_call_s": call_s, "kind_samples": samples}


def balanced_weights(groups: list[str]) -> list[float]:
    """One weight per row: 1 / (rows of its group), so that each kind of evidence (single
    operators, vertices, whole networks) weighs the same in the fit whatever its row count.

    With equal row weights the 120 single operators, timed in a loop with warm caches,
    outvoted the 30-odd whole networks, and the fit under-predicted networks by a third.
    """
    counts = {g: groups.count(g) for g in set(groups)}
    return [1.0 / counts[g] for g in groups]


def measure_compute(
    context: ContextTimes,
    threads: int = 1,
    repeats: int = 30,
    progress: ProgressFn = _no_progress,
) -> dict[str, Any]:
    """Effective FLOP/s of the vertex operation (from ``context``), the stem and a dense
    convolution (timed here)."""
    rows: list[WorkRow] = []
    progress(COMPUTE_PHASE, 0, 1)
    points = context_points(context, rows)
    sep = points["sepconv3x3"]
    # the zero-MAC ``mean`` vertices measure the fixed cost of a vertex; the rate follows
    overhead = statistics.median(t for _, t in points["mean"]) if "mean" in points else None
    rate, overhead = _fit(sep, overhead)
    stem = points["input"]
    # one stem per network: FLOPs / time, the overhead not subtracted
    stem_rate = float(statistics.median(f / t for f, t in stem))
    with inference_settings(threads):
        conv = nn.Conv2d(64, 64, 3, padding=1, bias=False).eval()
        x = torch.randn(1, 64, 28, 28, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            t_conv = _typical_seconds(lambda: conv(x), repeats)
    progress(COMPUTE_PHASE, 1, 1)
    dense_rate = 2.0 * 64 * 64 * 9 * 28 * 28 / t_conv
    return {
        "flops_per_s": dense_rate,
        "op_flops_per_s": {"sepconv3x3": rate, "input": stem_rate},
        "overhead_s": overhead,
        "dispatch_s": context.dispatch_s,
        "samples": {
            "sepconv3x3_flops": [p[0] for p in sep],
            "sepconv3x3_s": [p[1] for p in sep],
            "input_s": [p[1] for p in stem],
            "mean_s": [p[1] for p in points.get("mean", [])],
            "dense_conv_s": [t_conv],
            "forward_s": list(context.forward_s),
        },
        "vertex_rows": rows,
    }


def calibrate(
    threads: int = 1,
    repeats: int = 30,
    timeout: float = 60.0,
    progress: ProgressFn | None = None,
    processes: int = 3,
) -> Calibration:
    """Measure compute and link; ``repeats`` trades accuracy for time (30: about a minute and
    a half on 2 cores), ``processes`` the fresh processes the in-context timings take medians of.

    ``progress(phase, done, total)`` hears of each step: ``CONTEXT_PHASE`` (one step per fresh
    process), ``COMPUTE_PHASE`` (the fit, the dense convolution), ``KINDS_PHASE`` (one step per
    timed operator or model), then ``LINK_PHASE`` (one step).
    """
    if threads < 1 or repeats < 1 or processes < 1:
        raise ConfigError(
            f"threads, repeats and processes must be >= 1, got {threads}, {repeats}, {processes}"
        )
    report = progress or _no_progress
    context = measure_context(processes, repeats, threads, timeout, report)
    compute = measure_compute(context, threads, repeats, report)
    kinds = measure_kinds(
        threads, repeats, report, vertex_rows=compute.pop("vertex_rows"), context=context
    )
    report(LINK_PHASE, 0, 1)
    link = measure_link(max(repeats // 3, 2), timeout)
    report(LINK_PHASE, 1, 1)
    result = Calibration(
        threads=threads,
        processes=processes,
        context_spread=list(context.process_spread),
        spread=statistics.median(context.process_spread),
        **compute,
        **kinds,
        **link,
    )
    return replace(result, compute_range=compute_range(result.to_profile(), context))


def compute_range(profile: Profile, context: ContextTimes) -> tuple[float, float]:
    """(lowest, highest) of each context network's time in each fresh process over what
    ``profile`` predicts for it: the residuals of the fit and the spread between processes,
    clamped to contain 1 (``Profile.compute_range``)."""
    from parawire.analysis.simulate import single_device_seconds

    ratios = [
        t / single_device_seconds(spec_costs(spec), profile)
        for spec, times in zip(context_specs(), context.forward_by_process, strict=True)
        for t in times
    ]
    return min(min(ratios), 1.0), max(max(ratios), 1.0)


def measure_context(
    processes: int, runs: int, threads: int, timeout: float, progress: ProgressFn = _no_progress
) -> ContextTimes:
    """The context specs timed in ``processes`` fresh processes, one after another (each
    bounded by ``timeout`` per spec it times), with progress."""
    docs = []
    for i in range(processes):
        progress(CONTEXT_PHASE, i, processes)
        docs.append(time_fresh_process(runs, threads, timeout * len(CONTEXT_SHAPES)))
    progress(CONTEXT_PHASE, processes, processes)
    return combine(docs)


def default_threads() -> int:
    """One thread: the runtime runs one thread per rank by default."""
    return int(os.environ.get("PARAWIRE_CALIBRATE_THREADS", "1"))
