"""Event-driven simulation of one inference of a ``CostGraph`` placed on n identical devices.

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

The result types (``Schedule``, ``TimelineEvent``) live in ``parawire.analysis.schedule`` and are
re-exported here.
"""

from __future__ import annotations

import copy
import heapq
import math
from collections.abc import Collection, Mapping, Sequence

from parawire._memo import by_identity
from parawire.analysis.graph import CostGraph
from parawire.analysis.profiles import Profile
from parawire.analysis.schedule import RawEvent, Schedule, TimelineEvent
from parawire.errors import ConfigError
from parawire.graphs.dag import critical_path_length

__all__ = [
    "BOUND_SLACK",
    "Schedule",
    "Simulator",
    "TimelineEvent",
    "check_placement",
    "compute_seconds",
    "critical_path_seconds",
    "replica_devices",
    "simulate",
    "single_device_seconds",
    "transfer_seconds",
    "upward_ranks",
]


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
    return Simulator.of(graph, profile).schedule(placement, devices)


# event kinds: a vertex finished; its output arrived; the input image arrived; the logits
# arrived back on the source's device
_FINISH, _ARRIVE, _IMAGE, _RESULT = 0, 1, 2, 3


# a lower bound sums the same durations as the simulation in another order; this much relative
# rounding slack keeps it below the simulated makespan
BOUND_SLACK = 1e-12


class Simulator:
    """One cost graph priced on one profile, ready to simulate many placements of it.

    Everything that does not depend on the placement (compute and transfer seconds, consumers,
    input counts) is computed once here, in arrays indexed by topological position (position 0
    is the source, the last the sink), so that one simulation is a tight loop over lists. A
    placement chooser makes one ``Simulator`` and asks it for many makespans: ``makespan``
    caches them by placement, ``lower_bound`` rules moves out without simulating them. The
    schedule is the model of the module docstring, event for event: ``schedule`` returns the
    same ``Schedule`` (timeline included) as the per-run object simulator it replaced, which
    ``tests/reference_simulate.py`` keeps as the oracle (equal to the last bit, property-tested).
    """

    def __init__(self, graph: CostGraph, profile: Profile) -> None:
        self.graph, self.profile = graph, profile
        self.order: tuple[int, ...] = graph.topological_order  # position -> vertex id
        self.position = {v: i for i, v in enumerate(self.order)}  # vertex id -> position
        vertex, seconds = graph.vertex_map, profile.device.seconds
        self.cost = [seconds(vertex[v]) for v in self.order]
        self.nbytes = [graph.sent_bytes(v) for v in self.order]
        self.link_s = [profile.link.seconds(b) for b in self.nbytes]
        self.consumers = [tuple(self.position[w] for w in graph.consumers[v]) for v in self.order]
        self.inputs = [len(graph.producers[v]) for v in self.order]
        self.replicate = graph.replicate_source
        self.single_device_s = math.fsum(self.cost)
        self._spans: dict[tuple[int, ...], float] = {}  # placement (by position) -> makespan
        self._floors: dict[tuple[int, ...], float] = {}  # placement -> a lower bound found
        self._corners: dict[tuple[float, float], Simulator] = {}  # (compute, link) -> scaled

    @staticmethod
    def of(graph: CostGraph, profile: Profile) -> Simulator:
        """The simulator of this very graph and profile object, made once and then shared.

        Choosing a deployment simulates one graph on one profile hundreds of times, from the
        partitioners as well as the chooser: they all get the same simulator, with its caches.
        """
        return _shared_simulator(graph, profile)

    def with_profile(self, profile: Profile) -> Simulator:
        """The same graph priced on another profile (the structure is shared, not rebuilt)."""
        other = copy.copy(self)
        other.profile = profile
        if profile.device != self.profile.device:
            vertex, seconds = self.graph.vertex_map, profile.device.seconds
            other.cost = [seconds(vertex[v]) for v in self.order]
            other.single_device_s = math.fsum(other.cost)
        other.link_s = [profile.link.seconds(b) for b in self.nbytes]
        other._spans, other._floors, other._corners = {}, {}, {}
        return other

    def scaled(self, compute: float, link: float) -> Simulator:
        """This graph on ``profile.scaled(compute, link)`` (a corner of the profile's ranges),
        made once per corner and kept, with its makespan cache: the sure choice and the verdict
        ask for the same corners of the same placements."""
        if compute == 1 and link == 1:
            return self
        corner = self._corners.get((compute, link))
        if corner is None:
            corner = self._corners[(compute, link)] = self.with_profile(
                self.profile.scaled(compute, link)
            )
        return corner

    def by_position(self, placement: Mapping[int, int]) -> tuple[int, ...]:
        """The device of every vertex, in topological order (the form the methods below cache)."""
        return tuple(placement[v] for v in self.order)

    def schedule(self, placement: Mapping[int, int], devices: int | None = None) -> Schedule:
        """The simulated ``Schedule`` of ``placement`` (checked) on n devices, timeline included."""
        n = check_placement(self.graph, placement, devices)
        return self._run(self.by_position(placement), n, record=True)  # type: ignore[return-value]

    def makespan(self, placement: Mapping[int, int] | Sequence[int]) -> float:
        """The simulated latency of a placement (vertex id -> device, or devices by position).

        Cached by placement: asking again for one already simulated costs a dict lookup. The
        placement is not checked here (``schedule`` checks it): it comes from a partitioner.
        """
        p = tuple(placement) if isinstance(placement, Sequence) else self.by_position(placement)
        span = self._spans.get(p)
        if span is None:
            span = self._spans[p] = self._run(p, max(p) + 1, record=False)  # type: ignore[assignment]
        return span  # type: ignore[return-value]

    def makespan_below(self, p: Sequence[int], limit: float) -> float | None:
        """The makespan of placement ``p`` (devices by position) if it is below ``limit``, else
        None; a placement whose ``lower_bound`` already reaches ``limit`` is not simulated."""
        key = tuple(p)
        span = self._spans.get(key)
        if span is None:
            floor, rank = self._floors.get(key), None
            if floor is None or floor < limit:
                rank = self.ranks(key)
                floor = self._bound(key, rank, limit) * (1 - BOUND_SLACK)
                self._floors[key] = floor
            if floor >= limit:
                return None
            span = self._run(key, max(key) + 1, record=False, rank=rank)
            self._spans[key] = span  # type: ignore[assignment]
        return span if span < limit else None  # type: ignore[operator]

    def ranks(self, p: Sequence[int]) -> list[float]:
        """``upward_ranks`` of placement ``p`` (devices by position), by position."""
        cost, link_s, consumers = self.cost, self.link_s, self.consumers
        rank = [0.0] * len(cost)
        for i in range(len(cost) - 1, -1, -1):
            here, comm, tail = p[i], link_s[i], 0.0
            for w in consumers[i]:
                x = rank[w] + comm if p[w] != here else rank[w]
                if x > tail:
                    tail = x
            rank[i] = cost[i] + tail
        return rank

    def lower_bound(self, p: Sequence[int], limit: float = math.inf) -> float:
        """A makespan no schedule of placement ``p`` (devices by position) can beat.

        The largest of three bounds that hold for every event order of the model: the longest
        path of compute and of this placement's transfers (the source's upward rank); for
        each device, the earliest any of its vertices can start + all its compute + the
        shortest path any of them still has to the sink's end (a device runs its vertices one
        after another); and for each device's link, the earliest any of its sends can start +
        all of them + the shortest path from any of their readers to the sink's end (a link
        sends one tensor at a time). A logits transfer home is added to each when the sink is
        elsewhere (the link bound leaves that send out). The source's compute is left out of
        the device loads (with image scatter several devices run it), which only weakens the
        bound. The bounds come cheapest first; once one reaches ``limit`` it is returned.
        """
        return self._bound(p, self.ranks(p), limit)

    def _bound(self, p: Sequence[int], rank: Sequence[float], limit: float) -> float:
        """``lower_bound`` of placement ``p`` given its ``ranks`` (a simulation reuses them)."""
        cost, link_s, consumers = self.cost, self.link_s, self.consumers
        size = len(cost)
        home = link_s[-1] if p[-1] != p[0] else 0.0  # the logits' way back
        if rank[0] + home >= limit:
            return rank[0] + home
        earliest = [0.0] * size  # top level: the earliest start a vertex can have
        for i in range(size):
            ready_at, here = earliest[i] + cost[i], p[i]
            for w in consumers[i]:
                t = ready_at + link_s[i] if p[w] != here else ready_at
                if t > earliest[w]:
                    earliest[w] = t
        first: dict[int, float] = {}
        load: dict[int, float] = {}
        last: dict[int, float] = {}
        for i in range(1, size):
            d = p[i]
            start, tail = earliest[i], rank[i] - cost[i]
            if d in load:
                load[d] += cost[i]
                first[d] = min(first[d], start)
                last[d] = min(last[d], tail)
            else:
                load[d], first[d], last[d] = cost[i], start, tail
        bound = max([rank[0], *(first[d] + load[d] + last[d] for d in load)]) + home
        if bound >= limit:
            return bound
        return max(bound, self._link_bound(p, rank, earliest) + home)

    def _link_bound(self, p: Sequence[int], rank: Sequence[float], earliest: list[float]) -> float:
        """The link part of ``lower_bound``, up to the sink's end: per sending device, the
        earliest send + every send's duration + the shortest rank of a reader of any of them.
        """
        cost, link_s, consumers = self.cost, self.link_s, self.consumers
        first: dict[int, float] = {}
        busy: dict[int, float] = {}
        last: dict[int, float] = {}
        for i in range(len(cost) - 1):  # the sink's send, the logits home, is counted apart
            here, readers = p[i], None  # readers: device -> shortest rank of a reader there
            for w in consumers[i]:
                e = p[w]
                if e != here and (readers is None or rank[w] < readers.get(e, math.inf)):
                    readers = readers or {}
                    readers[e] = rank[w]
            if readers is None:
                continue
            # the image goes out at time 0; any other output once its vertex has run
            start = 0.0 if i == 0 and self.replicate else earliest[i] + cost[i]
            tail = min(readers.values())
            if here in busy:
                busy[here] += link_s[i] * len(readers)
                first[here] = min(first[here], start)
                last[here] = min(last[here], tail)
            else:
                busy[here], first[here], last[here] = link_s[i] * len(readers), start, tail
        return max((first[d] + busy[d] + last[d] for d in busy), default=0.0)

    def _sends(self, p: Sequence[int], rank: Sequence[float]) -> list[tuple[int, ...]]:
        """The devices each vertex's output goes to under placement ``p``, in send order.

        Every other device that hosts a consumer, the one whose most urgent consumer has the
        highest upward rank first (ties: the lower device); for the source with image scatter,
        the image's destinations; for a sink away from the source's device, that device.
        """
        consumers, size = self.consumers, len(self.cost)
        sends: list[tuple[int, ...]] = []
        for i in range(size):
            here, urgency = p[i], None  # most vertices send nothing: no dict for them
            for w in consumers[i]:
                e = p[w]
                if e != here:
                    if urgency is None:
                        urgency = {e: rank[w]}
                    elif rank[w] > urgency.get(e, -math.inf):
                        urgency[e] = rank[w]
            if urgency is None:
                sends.append(())
            elif len(urgency) > 1:
                sends.append(tuple(sorted(urgency, key=lambda e: (-urgency[e], e))))
            else:
                sends.append(tuple(urgency))
        if size and p[-1] != p[0]:
            sends[-1] = (p[0],)  # the logits go home
        return sends

    def _run(
        self, p: Sequence[int], n: int, *, record: bool, rank: Sequence[float] | None = None
    ) -> Schedule | float:
        """Process the events of placement ``p`` (devices by position) on n devices: the
        ``Schedule`` when ``record``, else the makespan alone (no timeline built). Every event
        at one instant is applied before idle devices pick their next vertex, so the order of
        events within an instant changes nothing. ``rank``: ``ranks(p)``, if known already."""
        cost, link_s, consumers = self.cost, self.link_s, self.consumers
        rank = self.ranks(p) if rank is None else rank
        sends, (by_priority, priority) = self._sends(p, rank), _priorities(rank)
        waiting = list(self.inputs)
        ready: list[list[int]] = [[] for _ in range(n)]
        running, link_free = [False] * n, [0.0] * n
        events: list[tuple[float, int, int, int, int]] = []  # (time, seq, kind, position, device)
        timeline: list[RawEvent] = []  # in the order events happen (record only)
        seq, makespan, now = 0, 0.0, 0.0
        push, pop = heapq.heappush, heapq.heappop
        sink, replicate = len(cost) - 1, self.replicate
        pending = self._time_zero(p, sends, priority, ready)
        while True:
            for i, d, targets, kind in pending:  # queue sends on d's link, FIFO
                for e in targets:
                    start = now if now >= link_free[d] else link_free[d]
                    end = link_free[d] = start + link_s[i]
                    push(events, (end, seq, kind, i, e))
                    seq += 1
                    if record:
                        timeline.append(("transfer", i, d, start, end, e))
            pending = []
            for d in range(n):  # every idle device starts its most urgent ready vertex
                if not running[d] and ready[d]:
                    i = by_priority[pop(ready[d])]
                    running[d] = True
                    push(events, (now + cost[i], seq, _FINISH, i, d))
                    seq += 1
                    if record:
                        timeline.append(("compute", i, d, now, now + cost[i], None))
            if not events:
                break
            now = events[0][0]
            while events and events[0][0] == now:  # the whole instant, then dispatch
                _, _, kind, i, d = pop(events)
                if kind == _IMAGE:
                    push(ready[d], priority[0])
                    continue
                if kind == _RESULT:
                    makespan = now if now > makespan else makespan
                    continue
                if kind == _FINISH:  # free the device; its sends go out after this instant
                    running[d] = False
                    makespan = now if now > makespan else makespan
                    if sends[i] and not (i == 0 and replicate):
                        pending.append((i, d, sends[i], _RESULT if i == sink else _ARRIVE))
                for w in consumers[i]:  # i's output is on d: count it for consumers there
                    if p[w] == d:
                        waiting[w] -= 1
                        if not waiting[w]:
                            push(ready[d], priority[w])
        self._check_ran(waiting)
        return self._schedule_of(timeline, makespan, n) if record else makespan

    def _schedule_of(self, events: list[RawEvent], makespan: float, n: int) -> Schedule:
        """The ``Schedule`` of a run on n devices from the events it recorded."""
        order, cost, nbytes = self.order, self.cost, self.nbytes
        return Schedule.from_events(events, makespan, n, self.single_device_s, order, cost, nbytes)

    def _time_zero(
        self, p: Sequence[int], sends: list[tuple[int, ...]], priority: list[int], ready: list
    ) -> list[tuple[int, int, tuple[int, ...], int]]:
        """Make the source ready at time 0 on its device, or (image scatter) on the devices of
        its consumers once the image arrives (the source's device runs it if it hosts one);
        returns the sends pending at time 0 (the image's, with scatter)."""
        home = p[0]
        if not self.replicate or home in {p[w] for w in self.consumers[0]}:
            heapq.heappush(ready[home], priority[0])
        return [(0, home, sends[0], _IMAGE)] if self.replicate else []

    def _check_ran(self, waiting: list[int]) -> None:
        """Raise unless every vertex ran (unreachable for a DAG; guards a malformed graph)."""
        if any(waiting):
            stuck = sorted(self.order[i] for i, c in enumerate(waiting) if c)
            raise ConfigError(f"graph {self.graph.name!r}: vertices {stuck[:8]} never ran")


def _priorities(rank: Sequence[float]) -> tuple[list[int], list[int]]:
    """(positions from the most urgent, the priority of each position): the ready queues hold
    priorities, 0 the highest upward rank, ties to the earlier vertex in topological order (a
    stable sort keeps ties in position order), as the module docstring orders them."""
    by_priority = sorted(range(len(rank)), key=rank.__getitem__, reverse=True)
    priority = [0] * len(rank)
    for j, i in enumerate(by_priority):
        priority[i] = j
    return by_priority, priority


@by_identity
def _shared_simulator(graph: CostGraph, profile: Profile) -> Simulator:
    """``Simulator.of``: one simulator per graph and profile object in use."""
    return Simulator(graph, profile)
