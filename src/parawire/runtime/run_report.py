"""What a run measured, as ``parawire run`` reports it: :class:`RunReport` (latencies, speedup
and their bootstrap intervals, the spread between processes), per-rank figures against the
simulation, and the machine's load with the warnings it gives.
"""

from __future__ import annotations

import math
import os
import statistics
from dataclasses import dataclass, field
from typing import Any

from parawire.measure import available_cores
from parawire.runtime.plan import Plan

BUSY_LOAD_PER_CORE = 1.0  # a 1-minute load average above this per core: the machine is busy


@dataclass
class RunReport:
    """Latencies of a distributed run against one process, plus the simulated makespan."""

    devices: int
    latencies_s: list[float]
    single_latencies_s: list[float] = field(default_factory=list)
    max_abs_diff: float = math.nan
    simulated_makespan_s: float = math.nan
    options: dict[str, Any] = field(default_factory=dict)
    check: dict[str, Any] = field(default_factory=dict)  # real images: diff, agreement, source
    ranks: list[dict[str, Any]] = field(default_factory=list)  # measured vs simulated per rank
    emulation: dict[str, Any] = field(default_factory=dict)  # profile, vertices over their time
    load: dict[str, Any] = field(default_factory=dict)  # the machine's load (machine_load)
    # per rank: {"starts": [...], "traces": [[[vertex, start, end], ...] per run], "overruns",
    # "breakdown": [{"compute_s", "wait_s", "send_s", "drain_s", "total_s"} per run]}
    traces: list[dict[str, Any]] = field(default_factory=list)
    # per fresh process, its measured runs (``parawire.measure``): split and one-process sides
    latencies_by_process: list[list[float]] = field(default_factory=list)
    single_by_process: list[list[float]] = field(default_factory=list)

    @property
    def p50_s(self) -> float:
        """Median latency of one distributed inference."""
        return statistics.median(self.latencies_s)

    @property
    def p95_s(self) -> float:
        """95th-percentile latency (nearest rank)."""
        return percentile(self.latencies_s, 95)

    @property
    def mean_s(self) -> float:
        """Mean latency."""
        return statistics.fmean(self.latencies_s)

    @property
    def single_process_p50_s(self) -> float:
        """Median latency of the same spec in one process with the same threads."""
        return statistics.median(self.single_latencies_s) if self.single_latencies_s else math.nan

    @property
    def speedup(self) -> float:
        """Single-process median over distributed median."""
        return self.single_process_p50_s / self.p50_s

    @property
    def measured_over_simulated(self) -> float:
        """Measured median over the simulated makespan (1.0: the simulation is exact)."""
        return self.p50_s / self.simulated_makespan_s

    def _split_samples(self) -> list[list[float]]:
        return self.latencies_by_process or [self.latencies_s]

    def _single_samples(self) -> list[list[float]]:
        return self.single_by_process or [self.single_latencies_s]

    @property
    def p50_interval_s(self) -> list[float]:
        """Bootstrap interval of :attr:`p50_s` (processes, then runs, resampled)."""
        from parawire.measure import median_interval

        return median_interval(self._split_samples()).as_list()

    @property
    def single_process_p50_interval_s(self) -> list[float]:
        """Bootstrap interval of :attr:`single_process_p50_s` ([NaN, NaN] without one)."""
        from parawire.measure import median_interval

        if not self.single_latencies_s:
            return [math.nan, math.nan]
        return median_interval(self._single_samples()).as_list()

    @property
    def speedup_interval(self) -> list[float]:
        """Bootstrap interval of :attr:`speedup` ([NaN, NaN] without a one-process side)."""
        from parawire.measure import ratio_interval

        if not self.single_latencies_s:
            return [math.nan, math.nan]
        return ratio_interval(self._single_samples(), self._split_samples()).as_list()

    @property
    def spread(self) -> dict[str, Any]:
        """Per side, each fresh process's median and the largest over the smallest."""
        from parawire.measure import process_spread

        out = {"split": process_spread(self._split_samples())}
        if self.single_latencies_s:
            out["one_process"] = process_spread(self._single_samples())
        return out

    @property
    def breakdown(self) -> list[dict[str, float]]:
        """Per rank, the median over measured runs of where its time went (see
        :func:`parawire.runtime.engine.breakdown_of`)."""
        return [median_breakdown(doc.get("breakdown", [])) for doc in self.traces]

    def to_dict(self) -> dict[str, Any]:
        """The JSON object ``parawire run --json`` prints."""
        return {
            "devices": self.devices,
            "p50_s": self.p50_s,
            "p50_interval_s": self.p50_interval_s,
            "p95_s": self.p95_s,
            "mean_s": self.mean_s,
            "single_process_p50_s": self.single_process_p50_s,
            "single_process_p50_interval_s": self.single_process_p50_interval_s,
            "speedup": self.speedup,
            "speedup_interval": self.speedup_interval,
            "processes": len(self._split_samples()),
            "spread": self.spread,
            "breakdown": self.breakdown,
            "max_abs_diff": self.max_abs_diff,
            "simulated_makespan_s": self.simulated_makespan_s,
            "measured_over_simulated": self.measured_over_simulated,
            "runs": len(self.latencies_s),
            "check": self.check,
            "ranks": self.ranks,
            "emulation": self.emulation,
            "load": self.load,
            "warnings": self.warnings,
            "traces": self.traces,
            **self.options,
        }

    @property
    def warnings(self) -> list[str]:
        """Why the measured figures may not be what ``devices`` devices would give."""
        return load_warnings(self.load)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def median_breakdown(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each part's median over ``runs`` (per-run dicts of seconds; {} without runs)."""
    if not runs:
        return {}
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def rank_figures(plan: Plan, docs: list[dict[str, Any]], schedule: Any) -> list[dict[str, Any]]:
    """Per rank: measured (median over runs) and simulated busy time and finish time, and
    whether every measured run executed the plan's order."""
    starts = docs[0]["starts"]
    simulated_finish = schedule.finish_times()
    out = []
    for rank, doc in enumerate(docs):
        busy = [sum(e - s for _, s, e in t) for t in doc["traces"]]
        finish = [
            max((e for _, _, e in t), default=s0) - s0
            for t, s0 in zip(doc["traces"], starts, strict=True)
        ]
        order = list(plan.vertices_of(rank))
        out.append(
            {
                "rank": rank,
                "measured_busy_s": statistics.median(busy) if busy else 0.0,
                "measured_finish_s": statistics.median(finish) if finish else 0.0,
                "simulated_busy_s": schedule.busy_s[rank],
                "simulated_finish_s": simulated_finish[rank],
                "order_as_planned": all([v for v, _, _ in t] == order for t in doc["traces"]),
            }
        )
    return out


def machine_load() -> dict[str, Any]:
    """The 1-minute load average and the cores this process may use (NaN where unknown)."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = math.nan
    return {"load_1min": load, "cores": len(available_cores())}


def load_warnings(load: dict[str, Any]) -> list[str]:
    """Warnings for a run's ``load`` record: a busy machine, or more busy threads than cores."""
    if not load:
        return []
    out = []
    cores, before = load["cores"], load["load_1min"]
    if before > BUSY_LOAD_PER_CORE * cores:
        out.append(
            f"the machine was busy (1-minute load average {before:.2f} on {cores} cores before "
            "the run): latencies and speedup are not those of an idle machine; rerun when it "
            "is quiet"
        )
    busy = load["ranks"] * load["threads"]
    if busy > cores:
        out.append(
            f"{load['ranks']} ranks x {load['threads']} thread(s) share {cores} cores: the ranks "
            "compete for cores, so the speedup understates what separate devices would give"
        )
    return out
