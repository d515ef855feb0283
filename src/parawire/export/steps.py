"""Cut a plan into the pieces one device runs in one go, and name what flows between them.

An exported device cannot pause in the middle of an ONNX model to wait for a tensor, as the
distributed engine pauses between vertices: a model runs when all of its inputs are there and
hands out all of its outputs at the end. So each device's vertices, in the plan's execution
order (``Plan.vertices_of``), are grouped into *steps*, one ONNX model each. A device runs as
one step unless one of the tensors it needs depends, through another device, on one of its own
earlier vertices (device 0 sends ``a`` to device 1, which sends back ``b`` that device 0
needs after ``a``): the order is cut there, else that model would wait for its own output.

The cut is greedy: walking each device's order, the next vertex joins the current step unless
that would close a cycle among the steps (a path from the step to the vertex through another
device). The steps then form a DAG, so running them in any topological order (``order``) never
waits for ever, and each device runs its steps in its own order.

Names, one per tensor and end (``t`` is ``image`` or ``v<id>``):

* ``image``: the input image, fed to device 0 (the driver, as in the runtime);
* ``<t>_to_d<r>``: an output sent to device ``r``; ``<t>_from_d<s>``: the input it becomes on
  the receiving device, sent by device ``s``; with ``int8`` on the wire each also has a
  ``<name>_scale`` companion (the float32 scale);
* ``<t>_kept``: an output a later step of the same device reads (it stays on the device);
* ``logits``: the classifier's output, on the output vertex's device.

This module is pure (no torch, no onnx): it is what the manifest records and what the tests
check the written manifest against.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

import networkx as nx

from parawire.runtime.plan import Plan, in_send_order

IMAGE = -1  # the input image as a pseudo-vertex: held by device 0 before anything runs
Unit = tuple[int, int]  # (device, vertex): a vertex as computed on one device (stems repeat)


@dataclass(frozen=True)
class Port:
    """One input or output of a step's model."""

    name: str  # the ONNX tensor name
    kind: str  # inputs: image, received, kept; outputs: sent, kept, logits
    vertex: int  # the vertex whose output it carries (IMAGE for the image; output vertex: logits)
    peer: int  # received: the sending device; sent: the receiving device; else this device
    part: str = "values"  # "values", or "scale" for the int8 scale that travels beside them


@dataclass(frozen=True)
class Step:
    """Vertices one device runs as one model, with the model's inputs and outputs in order."""

    device: int
    index: int  # position among the device's steps
    vertices: tuple[int, ...]  # the plan's order; IMAGE (device 0 only) is not computed
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]
    head: bool  # runs the classifier head after the output vertex


def tensor(vertex: int) -> str:
    """``image`` or ``v<id>``: the stem of every name a vertex's output takes."""
    return "image" if vertex == IMAGE else f"v{vertex}"


def received_name(vertex: int, source: int) -> str:
    return f"{tensor(vertex)}_from_d{source}"


def sent_name(vertex: int, target: int) -> str:
    return f"{tensor(vertex)}_to_d{target}"


def kept_name(vertex: int) -> str:
    return f"{tensor(vertex)}_kept"


def scale_name(name: str) -> str:
    """The int8 scale beside the tensor ``name``."""
    return f"{name}_scale"


class _Units:
    """The plan as units (device, vertex) with their producers, and device orders."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        spec = plan.spec
        self.order: dict[int, list[int]] = {
            d: ([IMAGE] if d == 0 else []) + list(plan.vertices_of(d)) for d in range(plan.world)
        }
        self.inputs = {v: [e.src for e in spec.in_edges[v]] or [IMAGE] for v in spec.node_map}

    def producer(self, device: int, u: int) -> Unit:
        """The unit whose output ``device`` reads as vertex ``u``: its own, or a sender's."""
        if u == IMAGE:
            return (0, IMAGE)
        if self.plan.runs_on(u, device):
            return (device, u)
        return (self.plan.placement[u], u)

    def sources(self, unit: Unit) -> list[Unit]:
        """Producers of the unit's inputs, in the module's input order (IMAGE has none)."""
        d, v = unit
        return [] if v == IMAGE else [self.producer(d, u) for u in self.inputs[v]]

    def units(self) -> Iterable[Unit]:
        for d, vs in self.order.items():
            for v in vs:
                yield (d, v)


def split_steps(plan: Plan) -> tuple[list[Step], list[tuple[int, int]]]:
    """The steps of every device and one order of (device, step index) that runs them all.

    ``int8`` on the wire gives every sent tensor a ``_scale`` companion port.
    """
    units = _Units(plan)
    groups = _group(units)
    order = _topological(units, groups)
    steps = _ports(plan, units, groups)
    return steps, order


def _group(units: _Units) -> dict[int, list[list[int]]]:
    """Device -> its steps as lists of vertices, cut where merging would close a cycle.

    The graph holds every unit, the data edges and each device's order; a step is contracted
    into its first unit. The next unit joins the step unless another path leads from the step
    to it (through another device): contracting an edge of a DAG keeps it acyclic exactly then.
    """
    graph = nx.DiGraph()
    graph.add_nodes_from(units.units())
    for d, vs in units.order.items():
        graph.add_edges_from(((d, a), (d, b)) for a, b in itertools.pairwise(vs))
    for unit in units.units():
        graph.add_edges_from((src, unit) for src in units.sources(unit))
    groups: dict[int, list[list[int]]] = {}
    for d, vs in units.order.items():
        steps: list[list[int]] = []
        for v in vs:
            unit = (d, v)
            if steps:
                head = (d, steps[-1][0])
                detours = [s for s in graph.successors(head) if s != unit]
                if not _reaches(graph, detours, unit):
                    nx.contracted_nodes(graph, head, unit, self_loops=False, copy=False)
                    steps[-1].append(v)
                    continue
            steps.append([v])
        groups[d] = steps
    return groups


def _reaches(graph: nx.DiGraph, starts: list[Unit], target: Unit) -> bool:
    """True when a path leads from one of ``starts`` to ``target`` (one search for all)."""
    seen, stack = set(starts), list(starts)
    while stack:
        node = stack.pop()
        if node == target:
            return True
        for nxt in graph.successors(node):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return False


def _topological(units: _Units, groups: dict[int, list[list[int]]]) -> list[tuple[int, int]]:
    """(device, step) in an order where every step comes after the steps it reads from."""
    step_of = _step_of(groups)
    graph = nx.DiGraph()
    for d, steps in groups.items():
        graph.add_nodes_from((d, i) for i in range(len(steps)))
        graph.add_edges_from(((d, i), (d, i + 1)) for i in range(len(steps) - 1))
    for unit in units.units():
        for src in units.sources(unit):
            if step_of[src] != step_of[unit]:
                graph.add_edge(step_of[src], step_of[unit])
    # earlier steps of every device first: the order a person reading the manifest expects
    return list(nx.lexicographical_topological_sort(graph, key=lambda s: (s[1], s[0])))


def _step_of(groups: dict[int, list[list[int]]]) -> dict[Unit, tuple[int, int]]:
    return {(d, v): (d, i) for d, steps in groups.items() for i, vs in enumerate(steps) for v in vs}


def _ports(plan: Plan, units: _Units, groups: dict[int, list[list[int]]]) -> list[Step]:
    """Every step with its named inputs and outputs (see the module docstring)."""
    wiring = _Wiring(plan, units, groups)
    head_device = plan.placement[plan.spec.output_node]
    result = []
    for d, steps in groups.items():
        for i, vs in enumerate(steps):
            outputs = wiring.outputs(d, i, vs) + wiring.kept_arrivals(d, i)
            head = plan.spec.output_node in vs and d == head_device
            result.append(Step(d, i, tuple(vs), _unique(wiring.inputs(d, i, vs)), outputs, head))
    return result


class _Wiring:
    """Who reads what between the steps of an export: each step's consumers, and where a
    tensor from another device first arrives (a tensor arrives at the first step of a device
    that reads it; later steps read it from that step, kept, so every transfer feeds exactly
    one model)."""

    def __init__(self, plan: Plan, units: _Units, groups: dict[int, list[list[int]]]) -> None:
        self.plan, self.units = plan, units
        self.int8 = plan.wire_dtype == "int8"
        self.step_of = _step_of(groups)
        self.consumers: dict[Unit, list[Unit]] = {}
        for unit in units.units():
            for src in units.sources(unit):
                self.consumers.setdefault(src, []).append(unit)
        self.arrival: dict[tuple[int, Unit], int] = {}
        self.readers: dict[tuple[int, Unit], set[int]] = {}
        for d, steps in groups.items():
            for i, vs in enumerate(steps):
                for src in (s for v in vs if v != IMAGE for s in units.sources((d, v))):
                    if src[0] != d:
                        self.arrival.setdefault((d, src), i)
                        self.readers.setdefault((d, src), set()).add(i)

    def inputs(self, d: int, i: int, vs: list[int]) -> list[Port]:
        """Step ``(d, i)``'s inputs: the image, tensors received, tensors kept by a step before."""
        inputs: list[Port] = []
        for v in vs:
            if v == IMAGE:
                inputs.append(Port("image", "image", IMAGE, 0))
                continue
            for s, u in self.units.sources((d, v)):
                if self.step_of[(s, u)] == (d, i):
                    continue
                if s == d or self.arrival[(d, (s, u))] != i:
                    inputs.append(Port(kept_name(u), "kept", u, d))
                    continue
                name = received_name(u, s)
                inputs.append(Port(name, "received", u, s))
                if self.int8:
                    inputs.append(Port(scale_name(name), "received", u, s, "scale"))
        return inputs

    def outputs(self, d: int, i: int, vs: list[int]) -> tuple[Port, ...]:
        """Step ``(d, i)``'s outputs: tensors sent (in send order), kept, and the logits."""
        spec, outputs = self.plan.spec, []
        for v in vs:
            elsewhere = [c for c in self.consumers.get((d, v), []) if self.step_of[c] != (d, i)]
            targets = {r for r, _ in elsewhere if r != d}
            sent_vertex = spec.input_node if v == IMAGE else v
            for r in in_send_order(targets, self.plan.send_order(sent_vertex)):
                name = sent_name(v, r)
                outputs.append(Port(name, "sent", v, r))
                if self.int8:
                    outputs.append(Port(scale_name(name), "sent", v, r, "scale"))
            if any(r == d for r, _ in elsewhere):
                outputs.append(Port(kept_name(v), "kept", v, d))
            if v == spec.output_node and d == self.plan.placement[spec.output_node]:
                outputs.append(Port("logits", "logits", v, d))
        return tuple(outputs)

    def kept_arrivals(self, d: int, i: int) -> tuple[Port, ...]:
        """Tensors that arrive at step ``(d, i)`` and that later steps of ``d`` read too."""
        return tuple(
            Port(kept_name(src[1]), "kept", src[1], d)
            for (dev, src), first in self.arrival.items()
            if dev == d and first == i and self.readers[(dev, src)] != {i}
        )


def _unique(ports: list[Port]) -> tuple[Port, ...]:
    """Ports without repeats (a tensor two vertices read is one input), first use first."""
    return tuple(dict.fromkeys(ports))
