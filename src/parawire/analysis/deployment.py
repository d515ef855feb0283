"""Choosing a deployment: which placement, on how many of the k devices, and why.

The paper (EDGE'23) partitions a network at several balance tolerances and keeps the option with
the lowest concurrency score, always on all n units. A user at the edge wants the fastest
inference: on a slow link the fastest deployment may use fewer devices, down to one. So the
default selection (``latency``) gathers candidates from every registered partitioner, every eps
of the sweep and every device count 1..k, simulates each on the profile and keeps the fastest.
One device is always a candidate, so the recommendation is never slower (simulated) than one
device. ``cs`` is the paper's method (one partitioner, exactly k devices, lowest CS among the
options that leave no unit near idle), ``makespan`` the fastest option of one partitioner at k.

    cands = candidates(graph, 4, create_profile("rpi4-wifi"))
    best = choose(cands, "latency", devices=4)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from parawire.analysis.graph import CostGraph
from parawire.analysis.metrics import (
    DEFAULT_WEIGHTS,
    PlacementMetrics,
    ScoreWeights,
    evaluate_placement,
)
from parawire.analysis.partitioners import EPS_SWEEP, Placement, create_partitioner, sweep_eps
from parawire.analysis.profiles import LinkProfile, Profile
from parawire.analysis.simulate import BOUND_SLACK, Schedule, Simulator
from parawire.errors import ConfigError

SELECTIONS = ("latency", "cs", "makespan")  # how a deployment is chosen among the candidates
DEFAULT_SELECTION = "latency"
PAPER_PARTITIONER = "kahypar"  # the paper's method: hypergraph partitioning, eps sweep, CS
# how hard the candidates are searched: "full" runs every partitioner start (the choices issue
# 19 checked on 7,200 held-out cases); "fast" drops kahypar's from-scratch Mt-KaHyPar start and
# keeps its V-cycles from the component groups, about 3.5x less CPU per analysis, at the price of
# some choices (BENCHMARKS.md, "The fast effort level")
EFFORTS: dict[str, dict[str, dict[str, Any]]] = {
    "full": {},
    "fast": {"kahypar": {"scratch": False}},
}
DEFAULT_EFFORT = "full"
CS_DECIMALS = 3  # select="cs": scores equal to this many decimals count as a tie
NEAR_IDLE_SHARE = 0.25  # a unit below this share of the average load counts as near idle


@dataclass(frozen=True)
class Candidate:
    """One placement of the graph with its score and its simulated latency.

    Choosing needs only the makespan; the full schedule (timeline included) is simulated when
    something asks for it, which is one or two candidates of the dozens compared.
    """

    placement: Placement  # as the partitioner returned it (``devices`` = n it was asked for)
    metrics: PlacementMetrics  # the paper's metrics at that n
    makespan_s: float  # simulated latency of one inference on the profile
    simulator: Simulator = field(repr=False, compare=False)  # the graph on the profile

    @cached_property
    def schedule(self) -> Schedule:
        """The simulated schedule (the same simulation as ``makespan_s``, timeline included)."""
        return self.simulator.schedule(self.placement.assignment, self.placement.devices)

    @property
    def speedup(self) -> float:
        """T_1 / makespan, as ``Schedule.speedup`` (1.0 when both are zero)."""
        if self.makespan_s == 0:
            return 1.0
        return self.simulator.single_device_s / self.makespan_s

    @property
    def devices_used(self) -> int:
        """Devices that hold at least one vertex."""
        return len(set(self.placement.assignment.values()))

    @property
    def near_idle(self) -> bool:
        """True when some unit of the n carries under ``NEAR_IDLE_SHARE`` of the average load."""
        weights = self.metrics.part_weights
        mean = sum(weights) / len(weights)
        return len(weights) > 1 and min(weights) < NEAR_IDLE_SHARE * mean

    def summary(self) -> dict[str, Any]:
        """JSON-ready facts (no assignment, no timeline)."""
        return {
            "partitioner": self.placement.partitioner,
            "devices": self.placement.devices,
            "devices_used": self.devices_used,
            "eps": self.placement.eps,
            "cs": self.metrics.cs,
            "delta_w": self.metrics.delta_w,
            "near_idle": self.near_idle,
            "makespan_s": self.makespan_s,
            "speedup": self.speedup,
            "comm_bytes": self.metrics.comm_bytes,
        }


def check_selection(select: str) -> str:
    """``select`` itself, or ``ConfigError`` naming the choices."""
    if select not in SELECTIONS:
        raise ConfigError(f"unknown select {select!r}; choose one of {', '.join(SELECTIONS)}")
    return select


def check_effort(effort: str) -> str:
    """``effort`` itself, or ``ConfigError`` naming the levels."""
    if effort not in EFFORTS:
        raise ConfigError(f"unknown effort {effort!r}; choose one of {', '.join(EFFORTS)}")
    return effort


def partition_options(
    graph: CostGraph,
    n: int,
    partitioner: str,
    profile: Profile,
    *,
    eps: Sequence[float] = EPS_SWEEP,
    seed: int = 0,
    weights: ScoreWeights = DEFAULT_WEIGHTS,
    partitioner_options: dict[str, Any] | None = None,
    effort: str = DEFAULT_EFFORT,
) -> list[Candidate]:
    """Every eps option of one partitioner at n devices, scored and simulated (the
    partitioner made with ``effort``'s options, then ``partitioner_options``)."""
    settings = {**EFFORTS[check_effort(effort)].get(partitioner, {}), **(partitioner_options or {})}
    part = create_partitioner(partitioner, **settings)
    options = sweep_eps(part, graph, n, eps_values=eps, profile=profile, seed=seed, weights=weights)
    sim = Simulator.of(graph, profile)
    return [
        Candidate(o.placement, o.metrics, sim.makespan(o.placement.assignment), sim)
        for o in options
    ]


def candidates(
    graph: CostGraph,
    devices: int,
    profile: Profile,
    partitioners: Sequence[str],
    *,
    eps: Sequence[float] = EPS_SWEEP,
    seed: int = 0,
    weights: ScoreWeights = DEFAULT_WEIGHTS,
    device_counts: Sequence[int] | None = None,
    partitioner_options: dict[str, Any] | None = None,
    effort: str = DEFAULT_EFFORT,
) -> list[Candidate]:
    """Options of every named partitioner at each device count (default 1..k).

    At one device every partitioner gives the same placement, so n = 1 contributes one
    candidate (``single``).
    """
    counts = sorted(set(device_counts or range(1, devices + 1)))
    if not counts or counts[0] < 1 or counts[-1] > devices:
        raise ConfigError(f"device counts must lie in 1..{devices}, got {counts}")
    counts = [n for n in counts if n <= len(graph.vertices)]
    out: list[Candidate] = []
    for n in counts:
        names = ["single"] if n == 1 else [p for p in partitioners if p != "single"]
        for name in names:
            out.extend(
                partition_options(
                    graph,
                    n,
                    name,
                    profile,
                    eps=eps,
                    seed=seed,
                    weights=weights,
                    partitioner_options=partitioner_options if name != "single" else None,
                    effort=effort,
                )
            )
    return out


def cs_choice(options: Sequence[Candidate]) -> Candidate:
    """The paper's choice: lowest CS (ties broken by the faster schedule).

    Options that leave a unit near idle are skipped while any other option exists: a loose eps
    can park one vertex on a unit and cut a staged chain at its cheapest boundaries, which the
    score rewards although the unit does no work (see docs/analysis.md).
    """
    if not options:
        raise ConfigError("no partition options to choose from")
    pool = [c for c in options if not c.near_idle] or list(options)
    return min(pool, key=lambda c: (round(c.metrics.cs, CS_DECIMALS), c.makespan_s))


def fastest(options: Sequence[Candidate]) -> Candidate:
    """The candidate with the lowest simulated latency (ties: fewer devices, then lower CS)."""
    if not options:
        raise ConfigError("no partition options to choose from")
    return min(
        options,
        key=lambda c: (c.makespan_s, c.devices_used, c.metrics.cs),
    )


REFINE_PASSES = 4  # hill-climbing passes over every vertex (each pass: |V| x (k - 1) moves)


def refine(
    graph: CostGraph,
    start: Candidate,
    profile: Profile,
    devices: int,
    *,
    passes: int = REFINE_PASSES,
    weights: ScoreWeights = DEFAULT_WEIGHTS,
) -> Candidate:
    """``start`` improved by single-vertex moves, each kept only if the simulated latency falls.

    Partitioners optimise proxies (cut bytes, balance, a greedy list schedule); the simulation is
    what ``latency`` selects by, so a short local search on it finds what the proxies miss (a
    vertex that waits on one transfer in two, a device left idle at the end). Deterministic:
    vertices in topological order, devices in index order, first improvement kept. A move is
    simulated only when a lower bound on its makespan leaves room for an improvement
    (``Simulator.makespan_below``): the moves kept, and so the result, are the same as when
    every move is simulated.
    """
    n = max(start.placement.devices, devices)
    targets = range(min(devices, len(graph.vertices)))
    sim = Simulator.of(graph, profile)
    p = list(sim.by_position(start.placement.assignment))
    best = start.makespan_s
    for _ in range(passes):
        improved = False
        for i, here in enumerate(p):
            for d in targets:
                if d == here:
                    continue
                p[i] = d
                span = sim.makespan_below(p, best * (1 - 1e-9))
                if span is not None:
                    best, here, improved = span, d, True
                else:
                    p[i] = here
        if not improved:
            break
    if best >= start.makespan_s:
        return start
    assignment = dict(zip(sim.order, p, strict=True))
    placement = Placement(
        assignment=dict(sorted(assignment.items())),
        devices=n,
        partitioner=f"{start.placement.partitioner}+moves",
        eps=start.placement.eps,
        info={**start.placement.info, "refined_from_s": start.makespan_s},
    )
    metrics = evaluate_placement(graph, assignment, placement.devices, weights=weights)
    return Candidate(placement, metrics, best, sim)


SURE_TRIES = 4  # splits whose speedup range is checked before staying on one device


def speedup_range(graph: CostGraph, candidate: Candidate, profile: Profile) -> tuple[float, float]:
    """The lowest and highest speedup of ``candidate`` over one device when the real compute
    and transfer times lie anywhere within the profile's ranges (``Profile.compute_range``,
    ``link_range``: the four corners simulated, the placement fixed) and the one device and the
    split's devices differ by up to the profile's ``spread`` (the corners divided and
    multiplied by it). An exact profile, or one device, gives the simulated speedup twice."""
    if profile.exact or candidate.devices_used == 1:
        return candidate.speedup, candidate.speedup
    speedups = []
    base = Simulator.of(graph, profile)
    p = base.by_position(candidate.placement.assignment)
    for compute in sorted(set(profile.compute_range)):
        for link in sorted(set(profile.link_range)):
            sim = base.scaled(compute, link)
            span = sim.makespan(p)
            speedups.append(sim.single_device_s / span if span else 1.0)
    return min(speedups) / profile.spread, max(speedups) * profile.spread


def sure_choice(
    graph: CostGraph, options: Sequence[Candidate], chosen: Candidate, profile: Profile
) -> Candidate:
    """``chosen`` if it is one device or surely faster than one device (the low end of its
    :func:`speedup_range` above 1); else the next fastest split that is (of ``SURE_TRIES``),
    else one device: a recommendation never rests on what the profile cannot vouch for."""
    if chosen.devices_used == 1 or profile.exact:
        return chosen
    splits = sorted(
        (c for c in options if c.devices_used > 1 and c is not chosen), key=lambda c: c.makespan_s
    )
    for c in [chosen, *splits][:SURE_TRIES]:
        if speedup_range(graph, c, profile)[0] > 1.0:
            return c
    return min((c for c in options if c.devices_used == 1), key=lambda c: c.makespan_s)


def choose(options: Sequence[Candidate], select: str, devices: int) -> Candidate:
    """The deployment ``select`` picks: ``latency`` over every candidate, ``cs`` / ``makespan``
    over the candidates at exactly ``devices``."""
    check_selection(select)
    if select == "latency":
        return fastest(options)
    at_k = [c for c in options if c.placement.devices == devices] or list(options)
    return cs_choice(at_k) if select == "cs" else fastest(at_k)


@dataclass(frozen=True)
class Verdict:
    """What the analysis tells a user, in numbers and in one paragraph."""

    bound: str  # "link-bound", "compute-bound" or "single-chain"
    split_comm_s: float  # transfer time of the fastest split over >= 2 devices (link occupancy)
    single_device_s: float  # T1
    best_split_speedup: float  # speedup of the fastest split over >= 2 devices (nan: none)
    break_even_bandwidth: float | None  # bytes/s at which the best split matches one device
    link_bandwidth: float  # bytes/s of the profile's link
    text: str  # the paragraph printed after the tables
    # the chosen deployment's speedup when real times lie anywhere within the profile's ranges
    speedup_range: tuple[float, float] = (math.nan, math.nan)
    estimate: bool = False  # the profile's figures are estimates, not measured on the device

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "bound": self.bound,
            "split_comm_s": self.split_comm_s,
            "single_device_s": self.single_device_s,
            "best_split_speedup": self.best_split_speedup,
            "break_even_bandwidth": self.break_even_bandwidth,
            "link_bandwidth": self.link_bandwidth,
            "speedup_range": list(self.speedup_range),
            "estimate": self.estimate,
            "text": self.text,
        }


def _with_bandwidth(profile: Profile, bandwidth: float) -> Profile:
    link = LinkProfile(profile.link.name, bandwidth, profile.link.latency_s)
    return replace(profile, link=link)


def break_even_bandwidth(
    graph: CostGraph, splits: Sequence[Candidate], profile: Profile, t1: float
) -> float | None:
    """Lowest link bandwidth at which one of ``splits`` is as fast as one device.

    None when none is, even with unlimited bandwidth (latency and compute alone lose). A
    bisection on a log scale over each of the few fastest splits (their placements fixed). A
    split's bisection stops once its lower end passes the best bandwidth found so far: its own
    answer lies above that end, so it cannot lower the minimum (the result is the same).
    """

    base = Simulator.of(graph, profile)

    def slower(c: Candidate, bw: float) -> bool:
        """Whether ``c`` at bandwidth ``bw`` is slower than one device (a lower bound above
        T1 answers without simulating)."""
        sim = base.with_profile(_with_bandwidth(profile, bw))
        p = sim.by_position(c.placement.assignment)
        floor = sim.lower_bound(p, t1 / (1 - BOUND_SLACK))  # stops once above t1
        return floor * (1 - BOUND_SLACK) > t1 or sim.makespan(p) > t1

    best: float | None = None
    for c in sorted(splits, key=lambda c: c.makespan_s)[:3]:
        hi = 1e15
        if slower(c, hi):
            continue
        lo = 1e3
        if not slower(c, lo):
            return lo
        for _ in range(40):
            mid = math.sqrt(lo * hi)
            if not slower(c, mid):
                hi = mid
            else:
                lo = mid
            if hi / lo < 1.01 or (best is not None and lo >= best):
                break
        best = hi if best is None else min(best, hi)
    return best


def verdict(
    graph: CostGraph,
    options: Sequence[Candidate],
    chosen: Candidate,
    paper: Candidate,
    profile: Profile,
    devices: int,
) -> Verdict:
    """The plain-words conclusion: bound, break-even bandwidth, the recommendation with the
    range of its speedup, and what the profile's figures rest on."""
    t1 = chosen.simulator.single_device_s
    low, high = speedup_range(graph, chosen, profile)
    splits = [c for c in options if c.devices_used > 1]
    best_split = fastest(splits) if splits else None
    comm = best_split.schedule.comm_s if best_split else 0.0
    bw = profile.link.bandwidth_bytes_per_s
    even = break_even_bandwidth(graph, splits, profile, t1) if splits else None
    if best_split is None:
        bound = "single-chain"
    elif best_split.speedup < 1.0 or comm > t1 / max(best_split.devices_used, 1):
        bound = "link-bound"
    else:
        bound = "compute-bound"
    ms = 1e3
    rec = _recommendation(graph, chosen, best_split, profile, devices, (low, high))
    rec += f" (paper's CS choice: {paper.speedup:.2f}x on {paper.devices_used})"
    parts = [f"{bound} on {profile.name}"]
    if best_split is not None:
        parts.append(
            f"the fastest split moves {best_split.metrics.comm_bytes / 1e3:.1f} kB in "
            f"{comm * ms:.1f} ms of transfers against {t1 * ms:.1f} ms of compute on one device"
        )
    if even is not None:
        parts.append(
            f"break-even bandwidth about {even / 1e6:.2f} MB/s (this link: {bw / 1e6:.2f} MB/s)"
        )
    elif best_split is not None:
        parts.append("no bandwidth makes a split faster here (latency and compute alone lose)")
    text = "; ".join(parts) + ". " + rec + "."
    if profile.estimate:
        text += " " + estimate_note(profile)
    return Verdict(
        bound=bound,
        split_comm_s=comm,
        single_device_s=t1,
        best_split_speedup=best_split.speedup if best_split else math.nan,
        break_even_bandwidth=even,
        link_bandwidth=bw,
        text=text,
        speedup_range=(low, high),
        estimate=profile.estimate,
    )


def _recommendation(
    graph: CostGraph,
    chosen: Candidate,
    best_split: Candidate | None,
    profile: Profile,
    devices: int,
    speedups: tuple[float, float],
) -> str:
    """What to run on how many devices, in words, with the speedup's range where the profile's
    figures are not exact (a split that is not surely faster is named, not recommended)."""
    low, high = speedups
    used = chosen.devices_used
    ranged = "" if profile.exact else f", {low:.2f}-{high:.2f}x within the profile's ranges"
    if used == 1 and best_split is not None and best_split.speedup > 1.0:
        s_low, s_high = speedup_range(graph, best_split, profile)
        return (
            f"best: 1 of {devices} devices (the fastest split, {best_split.speedup:.2f}x on "
            f"{best_split.devices_used}, is not surely faster: {s_low:.2f}-{s_high:.2f}x "
            "within the profile's ranges)"
        )
    if used == 1:
        return f"best: 1 of {devices} devices (run on one device: every split is slower here)"
    return (
        f"best: {used} of {devices} devices, {chosen.speedup:.2f}x faster than one "
        f"device{ranged} ({chosen.placement.partitioner}"
        + (f", eps {chosen.placement.eps}" if chosen.placement.eps is not None else "")
        + ")"
    )


def estimate_note(profile: Profile) -> str:
    """The sentence saying that ``profile``'s figures are estimates, with their ranges."""
    return (
        f"{profile.name}'s figures are estimates, not measured on the device (ranges: "
        f"compute x{profile.compute_range[0]:g}-{profile.compute_range[1]:g}, link "
        f"x{profile.link_range[0]:g}-{profile.link_range[1]:g}, x{profile.spread:g} between "
        "devices); `parawire calibrate` on the device replaces them."
    )
