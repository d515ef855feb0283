"""The schedule simulator as it stood before issue 19 (one object per run, dicts throughout),
kept verbatim as the oracle the fast simulator in ``parawire.analysis.simulate`` is tested
against (tests/test_simulate.py) and that ``benchmarks/choice_check.py`` documents.

Do not edit it to follow the model: it IS the reference. Its own docstring follows.

Event-driven simulation of one inference of a ``CostGraph`` placed on n identical devices.

The model (assumptions in ``docs/simulation.md``):

* a vertex runs on the device its placement names, for ``profile.device.seconds(vertex)``;
  a device runs one vertex at a time, never pre-empted;
* a vertex becomes ready when every producer's output is on its device: at once for a
  producer on the same device, after a transfer otherwise; the network input is on the
  source vertex's device at time 0;
* when a vertex finishes, its output is sent ONCE to every other device that consumes it
  (not once per consumer), each transfer taking ``latency + bytes / bandwidth``;
  transfers from one device go out one at a time, in the order they were issued (a FIFO
  per sending device), and do not stop that device from computing (asynchronous sends, as in
  the runtime's ``isend``); receiving costs nothing;
* among the ready vertices of an idle device the one with the highest upward rank (longest
  remaining path to the sink, compute plus this placement's transfers) runs first, ties to the
  earlier vertex in topological order: the schedule is deterministic;
* image scatter (``graph.replicate_source``): at time 0 the source's device sends the input
  image to every other device that hosts a consumer of the source (most urgent first, FIFO),
  and each such device runs its own copy of the source when the image arrives; the source's
  device runs it only if it hosts a consumer itself;
* the inference ends when the sink's output (the logits) is on the source's device, where the
  image came from: a sink on another device sends it back (one more transfer).

Usage::

    from parawire.analysis import spec_costs, create_profile
    from parawire.analysis.simulate import simulate
    sched = simulate(spec_costs(spec), placement, create_profile("rpi4-wifi"))
    print(sched.makespan_s, sched.speedup)
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from parawire.analysis.graph import CostGraph
from parawire.analysis.profiles import Profile
from parawire.errors import ConfigError
from parawire.graphs.dag import critical_path_length


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


def compute_seconds(graph: CostGraph, profile: Profile) -> dict[int, float]:
    """Vertex id -> compute time on one device of ``profile``."""
    seconds = profile.device.seconds
    return {v.id: seconds(v) for v in graph.vertices}


def single_device_seconds(graph: CostGraph, profile: Profile) -> float:
    """T_1: the whole graph on one device (the sum of all compute times)."""
    return math.fsum(compute_seconds(graph, profile).values())


def critical_path_seconds(graph: CostGraph, profile: Profile) -> float:
    """Compute time of the longest source-to-sink path, communication excluded."""
    return critical_path_length(graph.dag, compute_seconds(graph, profile))


def check_placement(
    vertices: CostGraph | Collection[int],
    placement: Mapping[int, int],
    devices: int | None = None,
    *,
    unit: str = "device",
) -> int:
    """Validate a placement (vertex id -> ``unit`` in 0..n-1) of ``vertices`` (a graph or vertex
    ids); return n (``devices``, or the highest unit used + 1). The one placement check: the
    partitioners, the metrics, the simulation and the runtime's plans all call it.
    """
    ids = {v.id for v in vertices.vertices} if isinstance(vertices, CostGraph) else set(vertices)
    missing = sorted(ids - set(placement))
    if missing:
        raise ConfigError(
            f"vertex {missing[0]} has no {unit} in the placement (it misses vertices "
            f"{missing[:8]}); place every vertex"
        )
    extra = sorted(set(placement) - ids)
    if extra:
        raise ConfigError(f"the placement names vertex {extra[0]}, which the graph lacks")
    used = set(placement.values())
    if any(not isinstance(d, int) or isinstance(d, bool) or d < 0 for d in used):
        raise ConfigError(f"placement {unit}s must be integers >= 0, got {sorted(map(str, used))}")
    n = devices if devices is not None else max(used, default=0) + 1
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"{unit}s must be >= 1, got {n!r}")
    if used and max(used) >= n:
        v = min(v for v, d in placement.items() if d >= n)
        raise ConfigError(
            f"vertex {v} is placed on {unit} {placement[v]}, outside 0..{n - 1}: only {n} "
            f"{unit}s; give more {unit}s or fix the placement"
        )
    return n


def upward_ranks(
    graph: CostGraph,
    compute: Mapping[int, float],
    comm: Mapping[int, float],
    placement: Mapping[int, int] | None = None,
) -> dict[int, float]:
    """The priority of every vertex: the longest time from its start to the sink's end.

    rank(v) = compute(v) + max over consumers w of (rank(w) + comm(v) if v's output must travel
    to w); with a ``placement`` only consumers on another device pay ``comm``, without one every
    edge does (HEFT, which ranks before placing). The one priority function of parawire: the
    simulation orders ready vertices by it, so the runtime, which executes the simulated order,
    does too.
    """
    rank: dict[int, float] = {}
    for v in reversed(graph.topological_order):
        tail = 0.0
        for w in graph.consumers[v]:
            travel = placement is None or placement[w] != placement[v]
            tail = max(tail, rank[w] + (comm[v] if travel else 0.0))
        rank[v] = compute[v] + tail
    return rank


def transfer_seconds(graph: CostGraph, profile: Profile) -> dict[int, float]:
    """Vertex id -> time its output takes to reach another device (the image, for a
    replicated source)."""
    link = profile.link.seconds
    return {v.id: link(graph.sent_bytes(v.id)) for v in graph.vertices}


def replica_devices(graph: CostGraph, placement: Mapping[int, int]) -> tuple[int, ...]:
    """Devices that run the source vertex: its own alone, or (image scatter) its consumers'."""
    if not graph.replicate_source:
        return (placement[graph.source],)
    return tuple(sorted({placement[w] for w in graph.consumers[graph.source]}))


def simulate(
    graph: CostGraph,
    placement: Mapping[int, int],
    profile: Profile,
    devices: int | None = None,
) -> Schedule:
    """Simulate one inference of ``graph`` with ``placement`` (vertex -> device) on n devices."""
    n = check_placement(graph, placement, devices)
    return _Simulation(graph, placement, profile, n).run()


class _Simulation:
    """State of one simulation run: ready queues, link queues and the event heap."""

    # event kinds: a vertex finished; its output arrived; the input image arrived; the logits
    # arrived back on the source's device
    _FINISH, _ARRIVE, _IMAGE, _RESULT = 0, 1, 2, 3

    def __init__(
        self, graph: CostGraph, placement: Mapping[int, int], profile: Profile, n: int
    ) -> None:
        self.graph, self.placement, self.n = graph, placement, n
        self.cost = compute_seconds(graph, profile)
        self.rank = upward_ranks(graph, self.cost, transfer_seconds(graph, profile), placement)
        self.topo_index = {v: i for i, v in enumerate(graph.topological_order)}
        self.consumers = graph.consumers
        self.link = profile.link.seconds
        # inputs not yet on the vertex's device
        self.waiting = {v: len(graph.producers[v]) for v in self.topo_index}
        self.ready: list[list[tuple[float, int, int]]] = [[] for _ in range(n)]
        self.running: list[int | None] = [None] * n
        self.link_free = [0.0] * n
        self.busy = [0.0] * n
        self.events: list[tuple[float, int, int, int, int]] = []  # (time, seq, kind, v, device)
        self.timeline: list[TimelineEvent] = []
        self.seq = 0
        self.bytes_moved = self.transfers = 0
        self.comm_s = self.makespan = 0.0

    def run(self) -> Schedule:
        """Process events until every vertex has run; return the schedule."""
        self._start_source()
        now = 0.0
        while True:
            self._dispatch(now)
            if not self.events:
                break
            now = self.events[0][0]
            while self.events and self.events[0][0] == now:  # the whole instant, then dispatch
                _, _, kind, v, d = heapq.heappop(self.events)
                if kind == self._ARRIVE:
                    self._deliver(v, d)
                elif kind == self._IMAGE:
                    self._make_ready(v, d)
                elif kind == self._RESULT:
                    self.makespan = max(self.makespan, now)
                else:
                    self._finish(v, d, now)
        if any(self.waiting.values()):  # unreachable for a DAG; guards a malformed graph
            stuck = sorted(v for v, c in self.waiting.items() if c)
            raise ConfigError(f"graph {self.graph.name!r}: vertices {stuck[:8]} never ran")
        self.timeline.sort(key=lambda e: (e.start, e.kind != "compute", e.device, e.vertex))
        return Schedule(
            makespan_s=self.makespan,
            busy_s=tuple(self.busy),
            bytes_moved=self.bytes_moved,
            transfers=self.transfers,
            comm_s=self.comm_s,
            single_device_s=math.fsum(self.cost.values()),
            timeline=tuple(self.timeline),
            devices=self.n,
        )

    def _push(self, time: float, kind: int, v: int, device: int) -> None:
        heapq.heappush(self.events, (time, self.seq, kind, v, device))
        self.seq += 1

    def _make_ready(self, v: int, device: int | None = None) -> None:
        d = self.placement[v] if device is None else device
        heapq.heappush(self.ready[d], (-self.rank[v], self.topo_index[v], v))

    def _start_source(self) -> None:
        """Time 0: the source is ready on its device, or (image scatter) the image goes out."""
        source = self.graph.source
        home = self.placement[source]
        replicas = replica_devices(self.graph, self.placement)
        if home in replicas:
            self._make_ready(source)
        if replicas == (home,):
            return
        urgency = self._urgency(source, home)
        self._send(source, home, sorted(urgency, key=lambda e: (-urgency[e], e)), 0.0, self._IMAGE)

    def _urgency(self, v: int, d: int) -> dict[int, float]:
        """Receiving device -> upward rank of its most urgent consumer of ``v`` (not on ``d``)."""
        urgency: dict[int, float] = {}
        for w in self.consumers[v]:
            e = self.placement[w]
            if e != d:
                urgency[e] = max(urgency.get(e, -math.inf), self.rank[w])
        return urgency

    def _send(self, v: int, d: int, targets: list[int], now: float, kind: int) -> None:
        """Queue ``v``'s outgoing data on ``d``'s link to each target device, in order."""
        nbytes = self.graph.sent_bytes(v)
        for e in targets:
            start = max(now, self.link_free[d])  # one send at a time per device (FIFO)
            end = start + self.link(nbytes)
            self.link_free[d] = end
            self.timeline.append(TimelineEvent("transfer", v, d, start, end, e, nbytes))
            self._push(end, kind, v, e)
            self.transfers += 1
            self.bytes_moved += nbytes
            self.comm_s += end - start

    def _dispatch(self, now: float) -> None:
        """Start the highest-priority ready vertex on every idle device."""
        for d in range(self.n):
            if self.running[d] is None and self.ready[d]:
                _, _, v = heapq.heappop(self.ready[d])
                self.running[d] = v
                end = now + self.cost[v]
                self.busy[d] += self.cost[v]
                self.timeline.append(TimelineEvent("compute", v, d, now, end))
                self._push(end, self._FINISH, v, d)

    def _deliver(self, v: int, device: int) -> None:
        """The output of ``v`` is now on ``device``: count it for v's consumers placed there."""
        for w in self.consumers[v]:
            if self.placement[w] == device:
                self.waiting[w] -= 1
                if self.waiting[w] == 0:
                    self._make_ready(w)

    def _finish(self, v: int, d: int, now: float) -> None:
        """``v`` ended on device ``d``: free the device, feed local consumers, queue sends."""
        self.running[d] = None
        self.makespan = max(self.makespan, now)
        self._deliver(v, d)
        if v == self.graph.source and self.graph.replicate_source:
            return  # every device that needs it runs its own copy
        home = self.placement[self.graph.source]
        if v == self.graph.sink and d != home:
            self._send(v, d, [home], now, self._RESULT)
            return
        urgency = self._urgency(v, d)
        self._send(v, d, sorted(urgency, key=lambda e: (-urgency[e], e)), now, self._ARRIVE)
