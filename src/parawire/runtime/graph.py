"""What a plan runs: a graph of vertices, each a piece of torch code, seen one way for
generated specs and for traced models.

* :class:`SpecGraph`: an architecture spec (``parawire.arch``); one module per vertex
  (``parawire.nn.build_vertex``) and the classifier head after the output vertex. A vertex's
  value is one tensor, sent as it is.
* :class:`TracedGraph`: a named model (a baseline such as ``cifarnet``, or ``torchvision:NAME``)
  traced with torch.fx into the cost graph ``analyze`` simulates
  (``parawire.analysis.trace``: one heavy operator plus the cheap ones fused to it per vertex).
  Each vertex is a small fx ``GraphModule`` of its own nodes, taking the tensors its producers
  hand on and returning those it hands on (often one, sometimes several: a value read by two
  later vertices). Its value is that tuple; on the wire it travels as one message per
  destination, every tensor flattened per image and concatenated (split again on receipt, the
  shapes from the trace), so that the bytes are exactly the cost graph's ``out_bytes``. The
  trace is made at batch 1; tensors carry the batch first, so any batch runs.

The engine (``parawire.runtime.engine``) sees only this interface: vertex ids, in-edges,
successors, the input and output vertex, per-image message shapes, the codec of a message, and
:class:`Parts`, the modules of the vertices one rank runs.

    graph = plan.graph                      # SpecGraph or TracedGraph, from plan.json
    parts = graph.parts(plan.vertices_of(1), head=False)
    parts.load(plan.state_dict(1))
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from parawire.analysis.costs import spec_costs
from parawire.analysis.graph import CostGraph
from parawire.arch.spec import ArchSpec
from parawire.errors import ConfigError, DataError
from parawire.nn.model_ref import ModelRef
from parawire.runtime.wire import from_wire, to_wire

if TYPE_CHECKING:
    from parawire.analysis.trace import TracedModule


class Parts(nn.Module, ABC):
    """The modules of some vertices of a graph (and maybe its head), as one rank holds them."""

    @abstractmethod
    def run(self, vertex: int, args: list[Any]) -> Any:
        """The value of ``vertex`` from its producers' values (the input vertex: ``[image]``)."""

    @abstractmethod
    def finish(self, value: Any) -> torch.Tensor:
        """The logits, (B, classes), from the output vertex's value."""

    @abstractmethod
    def state_keys(self) -> set[str]:
        """The keys of the whole model's state dict that these parts hold."""

    @abstractmethod
    def load(self, state: Mapping[str, torch.Tensor]) -> None:
        """Load exactly :meth:`state_keys` from ``state`` (a slice of the whole state dict)."""


class RunGraph(ABC):
    """The contract the runtime needs of what a plan runs (see the module docstring)."""

    kind: ClassVar[str]  # "spec" or "model": the plan.json field that describes it

    vertex_ids: tuple[int, ...]  # every vertex, producers first
    input_vertex: int  # takes the image; on rank 0 (or, with image scatter, its consumers')
    output_vertex: int  # its value gives the logits (``Parts.finish``)
    input_shape: tuple[int, ...]  # (C, H, W) of one image
    num_classes: int  # logits per image

    @abstractmethod
    def inputs(self, vertex: int) -> tuple[int, ...]:
        """The producers of ``vertex``, in the order its module takes their values."""

    @abstractmethod
    def successors(self, vertex: int) -> tuple[int, ...]:
        """The vertices that read ``vertex``'s value."""

    @abstractmethod
    def message_shape(self, vertex: int) -> tuple[int, ...]:
        """Shape of one image's share of the message carrying ``vertex``'s value."""

    @abstractmethod
    def pack(self, vertex: int, value: Any, wire: str) -> torch.Tensor:
        """The message (wire dtype ``wire``) that carries ``value`` to another rank."""

    @abstractmethod
    def unpack(self, vertex: int, message: torch.Tensor, batch: int, wire: str) -> Any:
        """Inverse of :meth:`pack` on the receiving rank."""

    @abstractmethod
    def costs(
        self, batch: int = 1, wire_dtype: str = "float32", scatter: str = "image"
    ) -> CostGraph:
        """The cost graph ``analyze`` and the schedule simulation use (same vertex ids)."""

    @abstractmethod
    def parts(self, vertices: Iterable[int], *, head: bool) -> Parts:
        """Fresh modules of ``vertices`` (and of the head when ``head``), weights not loaded."""

    @abstractmethod
    def seeded_state(self, seed: int) -> dict[str, torch.Tensor]:
        """The whole model's state dict initialised from ``seed`` (the same in any process)."""

    @abstractmethod
    def whole_model(self) -> nn.Module:
        """The whole network in one module (image -> logits), weights not loaded: the oracle."""

    @abstractmethod
    def digest(self) -> str:
        """Short hash of the structure every rank must agree on."""

    @abstractmethod
    def to_doc(self) -> dict[str, Any]:
        """What plan.json stores under :attr:`kind`."""


# --- generated specs ------------------------------------------------------------------------


class SpecParts(Parts):
    """Vertex modules of a spec (keys ``vertices.<id>.*``) and maybe its head (``head.*``)."""

    def __init__(self, vertices: nn.ModuleDict, head: nn.Module | None) -> None:
        super().__init__()
        self.vertices, self.head = vertices, head  # str(vertex id) -> its VertexBlock

    def run(self, vertex: int, args: list[Any]) -> torch.Tensor:
        return self.vertices[str(vertex)](args)

    def finish(self, value: torch.Tensor) -> torch.Tensor:
        assert self.head is not None
        return self.head(value)

    def state_keys(self) -> set[str]:
        return set(self.state_dict())

    def load(self, state: Mapping[str, torch.Tensor]) -> None:
        self.load_state_dict(state, strict=True)


class SpecGraph(RunGraph):
    """A generated architecture spec, as the runtime sees it."""

    kind = "spec"

    def __init__(self, spec: ArchSpec) -> None:
        self.spec = spec
        self.vertex_ids = tuple(spec.topological_order)
        self.input_vertex, self.output_vertex = spec.input_node, spec.output_node
        self.input_shape = tuple(spec.input_shape)
        self.num_classes = spec.num_classes

    def inputs(self, vertex: int) -> tuple[int, ...]:
        return tuple(e.src for e in self.spec.in_edges[vertex])

    def successors(self, vertex: int) -> tuple[int, ...]:
        return tuple(self.spec.successors[vertex])

    def message_shape(self, vertex: int) -> tuple[int, ...]:
        return tuple(self.spec.output_shape(vertex))

    def pack(self, vertex: int, value: torch.Tensor, wire: str) -> torch.Tensor:
        return to_wire(value, wire)

    def unpack(self, vertex: int, message: torch.Tensor, batch: int, wire: str) -> torch.Tensor:
        return from_wire(message, (batch, *self.message_shape(vertex)), wire)

    def costs(
        self, batch: int = 1, wire_dtype: str = "float32", scatter: str = "image"
    ) -> CostGraph:
        return spec_costs(self.spec, batch=batch, wire_dtype=wire_dtype, scatter=scatter)

    def parts(self, vertices: Iterable[int], *, head: bool) -> SpecParts:
        from parawire.nn import build_head, build_vertex

        modules = nn.ModuleDict({str(v): build_vertex(self.spec, v) for v in vertices})
        return SpecParts(modules, build_head(self.spec) if head else None)

    def seeded_state(self, seed: int) -> dict[str, torch.Tensor]:
        from parawire.nn import build_model

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return build_model(self.spec).state_dict()

    def whole_model(self) -> nn.Module:
        from parawire.nn import build_model

        return build_model(self.spec)

    def digest(self) -> str:
        return self.spec.digest()

    def to_doc(self) -> dict[str, Any]:
        return self.spec.to_dict()


# --- traced models --------------------------------------------------------------------------


class TracedParts(Parts):
    """fx ``GraphModule``s of some vertices of a traced model, sharing one copy of its modules."""

    def __init__(self, modules: dict[int, torch.fx.GraphModule], keys: set[str]) -> None:
        super().__init__()
        self.vertices = nn.ModuleDict({str(v): m for v, m in modules.items()})
        self._keys = keys

    def run(self, vertex: int, args: list[Any]) -> tuple[torch.Tensor, ...]:
        # the input vertex gets [image]; any other the producers' tuples, flattened in order
        flat = [t for a in args for t in (a if isinstance(a, tuple) else (a,))]
        return self.vertices[str(vertex)](*flat)

    def finish(self, value: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return value[0]

    def state_keys(self) -> set[str]:
        return set(self._keys)

    def load(self, state: Mapping[str, torch.Tensor]) -> None:
        missing = sorted(self._keys - set(state))
        if missing or set(state) - self._keys:
            extra = sorted(set(state) - self._keys)
            raise DataError(
                f"the weights for these vertices do not fit the model ({len(missing)} missing, "
                f"e.g. {missing[:1]}, {len(extra)} extra, e.g. {extra[:1]}); remake the plan"
            )
        for module in self.vertices.values():
            # fx keeps a traced model's tensor constants as plain attributes, never in a
            # state dict: every key a vertex module has is the model's (checked above)
            module.load_state_dict({k: state[k] for k in module.state_dict()}, strict=True)


class TracedGraph(RunGraph):
    """A named model traced by torch.fx, as the runtime sees it (see the module docstring)."""

    kind = "model"

    def __init__(self, ref: ModelRef) -> None:
        from parawire.analysis.trace import trace_module

        self.ref = ref
        with torch.random.fork_rng(devices=[]):
            module = ref.build()
        self.traced = trace_module(module, ref.example(), name=ref.name)
        graph = self.traced.graph
        self.cost_graph = graph
        self.vertex_ids = graph.topological_order
        self.input_vertex, self.output_vertex = graph.source, graph.sink
        self.input_shape = tuple(ref.input_shape)
        self.num_classes = ref.num_classes
        # vertex -> per-image shapes of the tensors it hands on (one message, in this order)
        self.handed_shapes = {v: self._handed_shapes(v) for v in self.vertex_ids}
        self._state_keys = set(module.state_dict())

    def _handed_shapes(self, vertex: int) -> tuple[tuple[int, ...], ...]:
        """Per-image shapes of the tensors ``vertex`` hands on (checked: tensors, batch first)."""
        from torch.fx.passes.shape_prop import TensorMetadata

        shapes = []
        for node in self.traced.exported[vertex]:
            meta = node.meta.get("tensor_meta")
            if not isinstance(meta, TensorMetadata) or not meta.shape or meta.shape[0] != 1:
                what = "a tensor without a batch dimension" if meta else "a value that is no tensor"
                raise ConfigError(
                    f"{self.ref.name}: {node.name} (vertex {vertex}) hands {what} to another "
                    "vertex; the runtime sends only tensors of shape (B, ...)"
                )
            shapes.append(tuple(meta.shape[1:]))
        if vertex == self.traced.graph.sink and len(shapes) != 1:
            raise ConfigError(
                f"{self.ref.name} returns {len(shapes)} tensors; the runtime needs one (the logits)"
            )
        return tuple(shapes)

    def inputs(self, vertex: int) -> tuple[int, ...]:
        return self.cost_graph.producers[vertex]

    def successors(self, vertex: int) -> tuple[int, ...]:
        return self.cost_graph.consumers[vertex]

    def message_shape(self, vertex: int) -> tuple[int, ...]:
        return (sum(math.prod(s) for s in self.handed_shapes[vertex]),)

    def pack(self, vertex: int, value: tuple[torch.Tensor, ...], wire: str) -> torch.Tensor:
        batch = value[0].shape[0] if value else 1
        flat = torch.cat([t.reshape(batch, -1) for t in value], dim=1)  # a copy: never aliased
        if flat.shape[1:] != self.message_shape(vertex):
            raise ConfigError(
                f"{self.ref.name}: vertex {vertex} hands on {flat.shape[1]} values per image, "
                f"not the {self.message_shape(vertex)[0]} of its trace (batch 1): the model must "
                "treat the first dimension as the batch"
            )
        return to_wire(flat, wire)

    def unpack(
        self, vertex: int, message: torch.Tensor, batch: int, wire: str
    ) -> tuple[torch.Tensor, ...]:
        flat = from_wire(message, (batch, *self.message_shape(vertex)), wire)
        shapes = self.handed_shapes[vertex]
        pieces = flat.split([math.prod(s) for s in shapes], dim=1)
        return tuple(p.reshape(batch, *s) for p, s in zip(pieces, shapes, strict=True))

    def costs(
        self, batch: int = 1, wire_dtype: str = "float32", scatter: str = "image"
    ) -> CostGraph:
        from parawire.analysis.costs import deploy

        graph = self.cost_graph if batch == 1 else _traced_costs(self.ref, batch)
        return deploy(graph, wire_dtype=wire_dtype, scatter=scatter)

    def _modules(self, vertices: Iterable[int]) -> dict[int, torch.fx.GraphModule]:
        """One GraphModule per vertex over a private copy of the traced model's modules."""
        root = copy.deepcopy(self.traced.module)
        return {v: _vertex_module(root, self.traced, v, self.inputs(v)) for v in vertices}

    def parts(self, vertices: Iterable[int], *, head: bool) -> TracedParts:
        # no separate head: the output vertex's module returns the logits (``finish``)
        modules = self._modules(vertices)
        keys = {k for m in modules.values() for k in m.state_dict()} & self._state_keys
        return TracedParts(modules, keys)

    def seeded_state(self, seed: int) -> dict[str, torch.Tensor]:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.ref.build().state_dict()

    def whole_model(self) -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            return self.ref.build().eval()

    def digest(self) -> str:
        doc = {
            "model": self.ref.to_dict(),
            "vertices": {v: [n.name for n in self.traced.nodes[v]] for v in self.vertex_ids},
            "edges": self.cost_graph.edges,
        }
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_doc(self) -> dict[str, Any]:
        return self.ref.to_dict()


@functools.lru_cache(maxsize=8)
def _traced_costs(ref: ModelRef, batch: int) -> CostGraph:
    """The traced cost graph of ``ref`` at ``batch`` (traced anew: the same vertex ids)."""
    from parawire.analysis.trace import from_module

    with torch.random.fork_rng(devices=[]):
        module = ref.build()
    return from_module(module, ref.example(batch), name=ref.name)


@functools.lru_cache(maxsize=8)
def traced_graph(ref: ModelRef) -> TracedGraph:
    """The :class:`TracedGraph` of ``ref`` (cached: tracing costs a forward pass)."""
    return TracedGraph(ref)


def graph_of(network: ArchSpec | ModelRef) -> RunGraph:
    """What the runtime runs for ``network``: a spec's :class:`SpecGraph`, a model's (cached)
    :class:`TracedGraph`."""
    if isinstance(network, ArchSpec):
        return SpecGraph(network)
    if network.spec is not None:  # a spec runs as itself (a SpecGraph), never traced
        raise DataError("malformed plan: a traced model is named by its name, not a spec")
    return traced_graph(network)


def _vertex_module(
    root: nn.Module, traced: TracedModule, vertex: int, producers: tuple[int, ...]
) -> torch.fx.GraphModule:
    """The fx nodes of ``vertex`` as a GraphModule: placeholders for the tensors its producers
    hand on (in ``producers`` order), its nodes copied, the tensors it hands on returned."""
    graph = torch.fx.Graph()
    env: dict[torch.fx.Node, torch.fx.Node] = {}
    for u in producers:
        for node in traced.exported[u]:
            env[node] = graph.placeholder(node.name)

    def lookup(node: torch.fx.Node) -> torch.fx.Node:
        if node not in env and node.op == "get_attr":  # a constant: copied where it is used
            env[node] = graph.node_copy(node)
        return env[node]

    for node in traced.nodes[vertex]:
        if node.op == "placeholder":
            env[node] = graph.placeholder(node.name)
        else:
            env[node] = graph.node_copy(node, lookup)
    handed = traced.exported[vertex]
    graph.output(tuple(lookup(n) for n in handed))
    module = torch.fx.GraphModule(root, graph)
    return module.eval()
