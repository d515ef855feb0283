"""Steady-state throughput of a placement: frames per second when inferences are pipelined.

When consecutive inferences overlap (``Deployment.stream``: frame i+1's first vertices run while
frame i's last ones still compute), each device repeats the same work every frame: its vertices
(``Schedule.busy_s``) and, on its outgoing link, its transfers (every ``transfer`` event of the
schedule it sends, back to back). In steady state the slowest of these resources sets the pace,
so one frame leaves every

    period = max(max over devices of busy_s[d], max over devices of link_s[d])

seconds, and throughput = 1 / period (the classic bottleneck bound of a pipeline whose stages
are the resources, each used once per frame). It is reached when enough frames are in flight,
about ``makespan / period`` of them (``frames_in_flight``); with fewer, throughput is
``window / makespan`` at most. It assumes one frame's work does not slow another's beyond
sharing the resource (no memory or cache effects) and reads only the schedule of one inference.

    sched = simulate(graph, placement, profile)
    steady_state(sched).frames_per_s
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from parawire.analysis.simulate import Schedule


@dataclass(frozen=True)
class Throughput:
    """The pipelined steady state of one schedule."""

    period_s: float  # seconds between consecutive frames in steady state
    frames_per_s: float  # 1 / period_s
    bottleneck: str  # the resource that sets the period, e.g. "device 2" or "link of device 0"
    frames_in_flight: float  # frames that must overlap to reach it (makespan / period)
    single_device_frames_per_s: float  # 1 / T_1: one device, one frame after another

    @property
    def speedup(self) -> float:
        """Frames per second over one device's."""
        return self.frames_per_s / self.single_device_frames_per_s

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "period_s": self.period_s,
            "frames_per_s": self.frames_per_s,
            "bottleneck": self.bottleneck,
            "frames_in_flight": self.frames_in_flight,
            "single_device_frames_per_s": self.single_device_frames_per_s,
            "speedup": self.speedup,
        }


def link_busy_s(schedule: Schedule) -> tuple[float, ...]:
    """Seconds each device's outgoing link is busy per inference (its transfers, back to back)."""
    busy = [0.0] * schedule.devices
    for event in schedule.timeline:
        if event.kind == "transfer":
            busy[event.device] += event.end - event.start
    return tuple(busy)


def steady_state(schedule: Schedule, window: int | None = None) -> Throughput:
    """The pipelined throughput of ``schedule``; with ``window`` (frames in flight at most),
    also bounded by ``window / makespan``."""
    resources = {f"device {d}": s for d, s in enumerate(schedule.busy_s)}
    resources |= {f"link of device {d}": s for d, s in enumerate(link_busy_s(schedule))}
    bottleneck, period = max(resources.items(), key=lambda item: item[1])
    if window is not None and schedule.makespan_s / window > period:
        bottleneck, period = f"{window} frames in flight", schedule.makespan_s / window
    single = 1 / schedule.single_device_s if schedule.single_device_s > 0 else math.inf
    if period <= 0:
        return Throughput(0.0, math.inf, bottleneck, 1.0, single)
    return Throughput(period, 1 / period, bottleneck, schedule.makespan_s / period, single)


def fastest_stream(results: list[Any]) -> Any:
    """The result (anything with a ``schedule``) of the highest steady-state throughput;
    ties to the lower latency, then to the earlier result."""
    return min(
        results,
        key=lambda r: (steady_state(r.schedule).period_s, r.schedule.makespan_s),
    )
