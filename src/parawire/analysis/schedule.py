"""The result of a simulated inference: its ``Schedule`` and the ``TimelineEvent`` intervals.

``parawire.analysis.simulate`` computes them (the model is in its docstring); the runtime's
plans, the reports and the latency models read them::

    from parawire.analysis.simulate import simulate
    sched = simulate(graph, placement, profile)
    print(sched.makespan_s, sched.device_orders())
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# what a simulation records as it goes: (kind, topological position, device, start, end,
# receiving device or None); ``Schedule.from_events`` turns them into ``TimelineEvent``s
RawEvent = tuple[str, int, int, float, float, int | None]


@dataclass(frozen=True)
class TimelineEvent:
    """One interval of the schedule: a vertex computing, or its output travelling."""

    kind: str  # "compute" or "transfer"
    vertex: int  # the vertex computed, or whose output is sent
    device: int  # the device computing, or sending
    start: float  # seconds from the start of the inference
    end: float  # seconds from the start of the inference
    dst: int | None = None  # transfers: the receiving device
    nbytes: int = 0  # transfers: bytes moved

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (``dst`` and ``nbytes`` only for transfers)."""
        d: dict[str, Any] = {
            "kind": self.kind,
            "vertex": self.vertex,
            "device": self.device,
            "start": self.start,
            "end": self.end,
        }
        if self.kind == "transfer":
            d["dst"] = self.dst
            d["nbytes"] = self.nbytes
        return d


@dataclass(frozen=True)
class Schedule:
    """The simulated execution of one inference."""

    makespan_s: float  # time from input available to output computed (T_n)
    busy_s: tuple[float, ...]  # compute seconds per device
    bytes_moved: int  # bytes of all cross-device transfers
    transfers: int  # number of cross-device transfers
    comm_s: float  # summed duration of all transfers (link occupancy)
    single_device_s: float  # T_1: the same graph on one device of the same profile
    timeline: tuple[TimelineEvent, ...]  # every compute and transfer, in start order
    devices: int  # n

    @classmethod
    def from_events(
        cls,
        events: Sequence[RawEvent],
        makespan_s: float,
        devices: int,
        single_device_s: float,
        order: Sequence[int],
        cost: Sequence[float],
        nbytes: Sequence[int],
    ) -> Schedule:
        """The schedule of a simulation's ``events``, in the order they happened; ``order``,
        ``cost`` and ``nbytes`` give each topological position's vertex id, compute seconds and
        bytes sent. Sums are taken in event order, as the simulation's own would be."""
        busy = [0.0] * devices
        timeline: list[TimelineEvent] = []
        transfers = bytes_moved = 0
        comm_s = 0.0
        for kind, i, d, start, end, dst in events:
            if dst is None:
                busy[d] += cost[i]
                timeline.append(TimelineEvent(kind, order[i], d, start, end))
            else:
                timeline.append(TimelineEvent(kind, order[i], d, start, end, dst, nbytes[i]))
                transfers += 1
                bytes_moved += nbytes[i]
                comm_s += end - start
        timeline.sort(key=lambda e: (e.start, e.kind != "compute", e.device, e.vertex))
        return cls(
            makespan_s, tuple(busy), bytes_moved, transfers, comm_s, single_device_s,
            tuple(timeline), devices,
        )  # fmt: skip

    @property
    def speedup(self) -> float:
        """S_n = T_1 / T_n (1.0 when both are zero)."""
        if self.makespan_s == 0:
            return 1.0
        return self.single_device_s / self.makespan_s

    @property
    def utilization(self) -> tuple[float, ...]:
        """Busy fraction of each device over the makespan."""
        if self.makespan_s == 0:
            return tuple(0.0 for _ in self.busy_s)
        return tuple(b / self.makespan_s for b in self.busy_s)

    def device_orders(self) -> dict[int, tuple[int, ...]]:
        """Device -> the vertices it computes, in the order it starts them (replicas too)."""
        orders: dict[int, list[int]] = {d: [] for d in range(self.devices)}
        for e in self.timeline:
            if e.kind == "compute":
                orders[e.device].append(e.vertex)
        return {d: tuple(vs) for d, vs in orders.items()}

    def send_orders(self) -> dict[int, tuple[int, ...]]:
        """Vertex -> the devices its output (or, replicated, the image) goes to, in send order.

        A vertex is sent from one device only (the source's image from the source's device).
        """
        sends: dict[int, list[int]] = {}
        for e in self.timeline:
            if e.kind == "transfer" and e.dst is not None:
                sends.setdefault(e.vertex, []).append(e.dst)
        return {v: tuple(ds) for v, ds in sends.items()}

    def finish_times(self) -> tuple[float, ...]:
        """When each device ends its last computation (0 for an idle device)."""
        ends = [0.0] * self.devices
        for e in self.timeline:
            if e.kind == "compute":
                ends[e.device] = max(ends[e.device], e.end)
        return tuple(ends)

    def to_dict(self, *, timeline: bool = True) -> dict[str, Any]:
        """Plain JSON-able dict; ``timeline=False`` leaves the events out."""
        d: dict[str, Any] = {
            "makespan_s": self.makespan_s,
            "single_device_s": self.single_device_s,
            "speedup": self.speedup,
            "devices": self.devices,
            "busy_s": list(self.busy_s),
            "bytes_moved": self.bytes_moved,
            "transfers": self.transfers,
            "comm_s": self.comm_s,
        }
        if timeline:
            d["timeline"] = [e.to_dict() for e in self.timeline]
        return d
