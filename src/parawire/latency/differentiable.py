"""Differentiable latency of a relaxed architecture (Xu et al., "Latency-Aware Differentiable
Neural Architecture Search", arXiv 2001.06392): a latency that autograd differentiates with
respect to one weight in [0, 1] per edge, so that a search can add ``lambda * latency`` to its
loss::

    w = torch.full((len(spec.edges),), 0.5, requires_grad=True)
    latency = relaxed_latency(spec, w, devices=2, profile="rpi4-ethernet")
    latency.backward()  # w.grad: how much each edge costs, in seconds per unit of weight

Without a predictor it is the schedule simulation (``parawire.analysis.simulate``) relaxed
analytically. The simulation is a list schedule: each device runs its vertices in one order,
each sending device sends in one FIFO order, and every event starts at the hard maximum of
what it waits for. We simulate once with every edge present, keep those orders (the event DAG
of :func:`schedule_events`) and replay them with tensors:

* a vertex starts at ``smax(device free, w_e * arrival_e for each in-edge e)``, where the
  arrival of an input placed elsewhere is the end of its transfer;
* its compute time is the profile's, with the MACs of each in-edge's 1x1 projection scaled by
  that edge's weight;
* a transfer of ``u``'s output to device ``d`` takes the link's time scaled by the largest
  weight of ``u``'s edges into ``d``, and starts at ``smax(u's end, the link's previous end)``;
* ``smax`` is a log-sum-exp whose temperature is ``SMOOTHNESS`` times the mean vertex time, so
  with every weight at 1 the replay reproduces the simulated makespan within a fraction of a
  percent (tested), and the gradient flows to every argument, mostly to the latest.

Lowering the weight of an edge on the critical path lowers the latency; an edge off it hardly
changes it. With a ``predictor`` the latency is that learned model's differentiable output
(``Predictor.relaxed``).
"""

from __future__ import annotations

import graphlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import torch

from parawire.analysis.costs import spec_costs
from parawire.analysis.graph import CostGraph
from parawire.analysis.profiles import Profile, create_profile
from parawire.analysis.simulate import Schedule, simulate
from parawire.arch.spec import ArchSpec
from parawire.errors import ConfigError

if TYPE_CHECKING:
    from parawire.latency._base import Predictor

__all__ = [
    "SMOOTHNESS",
    "RelaxedQuery",
    "ScheduleEvents",
    "recommended_placement",
    "relaxed_latency",
]

SMOOTHNESS = 0.01  # temperature of the smooth maximum, as a fraction of the mean vertex time


@dataclass(frozen=True)
class RelaxedQuery:
    """The deployment a relaxed latency is asked for: :func:`relaxed_latency`'s keywords as one
    value, what ``Predictor.relaxed`` and :func:`relaxed_simulation` take."""

    devices: int  # k: devices offered
    placement: Mapping[int, int] | None = None  # vertex id -> device; None: recommended
    profile: str | Profile = "rpi4-ethernet"  # simulated; a predictor's: a measurement profile
    wire_dtype: str = "float32"  # dtype of every tensor sent between devices


@dataclass(frozen=True)
class ScheduleEvents:
    """The simulated schedule of one deployment as an event DAG, for replay with tensors.

    An event is ``("c", vertex, device)`` (a computation) or ``("t", vertex, src, dst)`` (a
    transfer of ``vertex``'s output, or of the image when ``vertex`` is a replicated source).
    """

    order: tuple[tuple, ...]  # every event, each after all it waits for
    device_prev: Mapping[tuple, tuple | None]  # event -> the previous event on its device/link
    inputs: Mapping[tuple, tuple[tuple[int, tuple], ...]]  # compute -> (edge index, arrival)
    image_edges: Mapping[tuple, tuple[int, ...]]  # transfer -> edge indices it serves
    end: tuple  # the event whose end is the makespan (sink compute, or the logits' return)
    makespan_s: float  # the simulation's makespan, for reference


def recommended_placement(
    spec: ArchSpec, devices: int, profile: str | Profile, wire_dtype: str = "float32"
) -> dict[int, int]:
    """The placement ``parawire.analysis.analyze`` recommends for ``devices`` (cached)."""
    prof = create_profile(profile)
    return dict(_recommended(spec.digest(), spec.to_json(indent=None), devices, prof, wire_dtype))


@lru_cache(maxsize=256)
def _recommended(
    digest: str, spec_json: str, devices: int, profile: Profile, wire_dtype: str
) -> tuple[tuple[int, int], ...]:
    from parawire.analysis.api import analyze

    spec = ArchSpec.from_json(spec_json)
    if devices == 1:
        return tuple((n.id, 0) for n in spec.nodes)
    result = analyze(spec, devices, profile, wire_dtype=wire_dtype)
    return tuple(sorted(result.placement.items()))


def schedule_events(
    spec: ArchSpec, graph: CostGraph, schedule: Schedule, placement: Mapping[int, int]
) -> ScheduleEvents:
    """The event DAG of ``schedule`` (see :class:`ScheduleEvents`)."""
    edge_index = {(e.src, e.dst): i for i, e in enumerate(spec.edges)}
    source, sink = graph.source, graph.sink
    home = placement[source]
    computed_on: dict[int, set[int]] = {}
    device_prev: dict[tuple, tuple | None] = {}
    last: dict[tuple[str, int], tuple] = {}
    events: list[tuple] = []
    for ev in schedule.timeline:  # in start order: the device and link FIFO orders
        if ev.kind == "compute":
            key: tuple = ("c", ev.vertex, ev.device)
            computed_on.setdefault(ev.vertex, set()).add(ev.device)
            lane = ("c", ev.device)
        else:
            key = ("t", ev.vertex, ev.device, ev.dst)
            lane = ("t", ev.device)
        device_prev[key] = last.get(lane)
        last[lane] = key
        events.append(key)
    transfers = {(k[1], k[3]): k for k in events if k[0] == "t"}
    inputs: dict[tuple, tuple[tuple[int, tuple], ...]] = {}
    image_edges: dict[tuple, tuple[int, ...]] = {}
    deps: dict[tuple, set[tuple]] = {}
    for key in events:
        deps[key] = {device_prev[key]} - {None}  # type: ignore[arg-type]
        if key[0] == "c":
            v, d = key[1], key[2]
            if v == source and d != home:  # a replica runs when the image arrives
                deps[key].add(transfers[(source, d)])
            arrivals = []
            for e in spec.in_edges[v]:
                u = e.src
                here = d in computed_on[u]
                arrival = ("c", u, d) if here else transfers[(u, d)]
                arrivals.append((edge_index[(u, v)], arrival))
                deps[key].add(arrival)
            inputs[key] = tuple(arrivals)
        else:
            v, src, dst = key[1], key[2], key[3]
            served = [edge_index[(v, w)] for w in graph.consumers[v] if placement[w] == dst]
            image_edges[key] = tuple(served)
            if not (v == source and graph.replicate_source):
                deps[key].add(("c", v, src))
    order = tuple(graphlib.TopologicalSorter(deps).static_order())
    end = transfers.get((sink, home), ("c", sink, placement[sink]))
    return ScheduleEvents(order, device_prev, inputs, image_edges, end, schedule.makespan_s)


def edge_projection_macs(spec: ArchSpec) -> list[int]:
    """MACs of each edge's 1x1 projection at batch 1 (0 for an edge without one)."""
    h, w = spec.stem_size
    out = []
    for e in spec.edges:
        node = spec.node_map[e.dst]
        if not e.project:
            out.append(0)
            continue
        cin = spec.node_map[e.src].channels
        out.append(cin * node.in_channels * (h // node.in_scale) * (w // node.in_scale))
    return out


def _smax(values: list[torch.Tensor], tau: float) -> torch.Tensor:
    """Smooth maximum: ``tau * logsumexp(values / tau)``; the value itself for one argument."""
    if len(values) == 1:
        return values[0]
    return tau * torch.logsumexp(torch.stack(values) / tau, dim=0)


def _schedule_setup(
    spec: ArchSpec,
    devices: int,
    placement: Mapping[int, int] | None,
    prof: Profile,
    wire_dtype: str,
) -> tuple[CostGraph, dict[int, int], ScheduleEvents]:
    graph = spec_costs(spec, wire_dtype=wire_dtype)
    if placement is None:
        placement = recommended_placement(spec, devices, prof, wire_dtype)
    placement = {int(v): int(d) for v, d in placement.items()}
    schedule = simulate(graph, placement, prof, devices)
    return graph, placement, schedule_events(spec, graph, schedule, placement)


def check_edge_weights(spec: ArchSpec, edge_weights: torch.Tensor) -> torch.Tensor:
    """``edge_weights`` as a float tensor of one weight per spec edge; ``ConfigError`` if not."""
    if not isinstance(edge_weights, torch.Tensor) or edge_weights.shape != (len(spec.edges),):
        shape = tuple(edge_weights.shape) if isinstance(edge_weights, torch.Tensor) else "?"
        raise ConfigError(
            f"edge_weights must be a tensor of shape ({len(spec.edges)},), one weight per spec "
            f"edge in spec order; got shape {shape}"
        )
    return edge_weights if edge_weights.is_floating_point() else edge_weights.float()


def relaxed_simulation(
    spec: ArchSpec,
    edge_weights: torch.Tensor,
    query: RelaxedQuery,
    vertex_seconds: Mapping[int, float] | None = None,
) -> torch.Tensor:
    """The schedule simulation relaxed over edge weights (module docstring) on the deployment
    ``query`` (its profile a simulation profile): seconds, scalar.

    ``vertex_seconds`` replaces the profile's compute time of each vertex (a look-up table's),
    the schedule's orders staying the profile's.
    """
    w = check_edge_weights(spec, edge_weights)
    prof = create_profile(query.profile)
    graph, placement, events = _schedule_setup(
        spec, query.devices, query.placement, prof, query.wire_dtype
    )
    proj = torch.tensor(edge_projection_macs(spec), dtype=w.dtype)
    in_idx = spec.in_edges
    index = {(e.src, e.dst): i for i, e in enumerate(spec.edges)}
    device = prof.device
    base: dict[int, float] = {}
    proj_of: dict[int, list[int]] = {}
    for v in graph.vertices:
        ids = [index[(e.src, e.dst)] for e in in_idx[v.id]]
        proj_of[v.id] = [i for i in ids if proj[i] > 0]
        projected = sum(int(proj[i]) for i in proj_of[v.id])
        full = device.seconds(v) if vertex_seconds is None else float(vertex_seconds[v.id])
        base[v.id] = max(0.0, full - 2.0 * projected / device.rate(v.op))
    mean_time = max(sum(base.values()) / len(base), 1e-12)
    tau = SMOOTHNESS * mean_time
    zero = w.new_zeros(())
    end: dict[tuple, torch.Tensor] = {}
    for key in events.order:
        prev = events.device_prev[key]
        waits = [end[prev]] if prev is not None else [zero]
        if key[0] == "c":
            v = key[1]
            if v == graph.source and key[2] != placement[v]:
                waits.append(end[("t", v, placement[v], key[2])])
            waits += [w[i] * end[arrival] for i, arrival in events.inputs[key]]
            rate = device.rate(graph.vertex_map[v].op)
            cost = base[v] + (2.0 / rate) * (w[proj_of[v]] * proj[proj_of[v]]).sum()
            end[key] = _smax(waits, tau) + cost
        else:
            v, src = key[1], key[2]
            relayed = v == graph.source and graph.replicate_source
            if not relayed:
                waits.append(end[("c", v, src)])
            served = events.image_edges[key]
            scale = w[list(served)].max() if served else w.new_ones(())
            end[key] = _smax(waits, tau) + scale * prof.link.seconds(graph.sent_bytes(v))
    return end[events.end]


def relaxed_latency(
    spec: ArchSpec,
    edge_weights: torch.Tensor,
    *,
    devices: int,
    placement: Mapping[int, int] | None = None,
    profile: str | Profile = "rpi4-ethernet",
    wire_dtype: str = "float32",
    predictor: Predictor | None = None,
) -> torch.Tensor:
    """Latency in seconds (a scalar tensor) of ``spec`` with relaxed ``edge_weights`` on
    ``devices``, differentiable with respect to the weights (module docstring).

    ``edge_weights`` holds one weight in [0, 1] per entry of ``spec.edges``, in that order;
    ``placement`` defaults to the one ``parawire.analysis.analyze`` recommends for ``devices``;
    ``predictor`` (a fitted :class:`parawire.latency.Predictor`) replaces the relaxed
    simulation by the learned model.
    """
    if devices < 1:
        raise ConfigError(f"devices must be >= 1, got {devices}")
    query = RelaxedQuery(devices, placement, profile, wire_dtype)
    if predictor is None:
        return relaxed_simulation(spec, edge_weights, query)
    return predictor.relaxed(spec, check_edge_weights(spec, edge_weights), query)
