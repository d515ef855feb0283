"""Any PyTorch model -> ``CostGraph``, by torch.fx symbolic tracing and shape propagation.

Fusion rule (one vertex per "heavy" operator and the cheap operators that follow it):

* heavy operators are convolutions (``nn.Conv*``, ``F.conv*``), linear layers (``nn.Linear``,
  ``F.linear``) and matrix products (``matmul``, ``mm``, ``bmm``, ``addmm``): the operators
  ``torch.utils.flop_counter`` counts, and the ones worth scheduling on their own;
* every other call (ReLU, batch norm, add, pooling, flatten, view, cat, getitem, dropout, LRN...)
  is memory-bound and joins the vertex of its producers. With inputs from several vertices (a
  residual add, an Inception cat) it joins the one created last only if all the others are
  already its ancestors (so fusing adds no dependency: a ResNet identity add joins the block's
  last convolution); otherwise it starts a zero-MAC ``merge`` vertex of its own (a ResNet
  downsampling add, an Inception cat), which keeps parallel branches parallel. A cheap node
  always lands in a vertex created no earlier than any of its inputs', so every edge between
  vertices runs from an earlier vertex to a later one: the result is a DAG;
* the graph input (fx placeholder) is the single source vertex (op ``input``), and the fx output
  node is the single sink vertex (op ``output``); cheap nodes fed only by the input join it.

A vertex's MACs are those of its heavy operator, computed from shapes (convolution: output
elements x input channels per group x kernel size; linear: output elements x input features),
which is what ``torch.utils.flop_counter`` counts (FLOPs / 2). Parameters are exact: each module
or attribute parameter belongs to the first vertex that uses it. ``out_bytes`` is the bytes of
the tensors a vertex hands to other vertices (usually one tensor), from shape and dtype.
Vertex kinds (``Vertex.op``): ``input``, ``conv``, ``dwconv`` (depthwise), ``linear``, ``matmul``,
``merge`` and ``output``.

Usage::

    from parawire.analysis.trace import from_module
    from parawire.nn.model_ref import resolve_model
    graph = from_module(*resolve_model("torchvision:resnet50"))
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp, TensorMetadata

from parawire.analysis.graph import CostGraph, Vertex
from parawire.analysis.work import conv_kind
from parawire.errors import ConfigError

_CONV_MODULES = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_MATMUL_FUNCTIONS = {torch.matmul, torch.mm, torch.bmm, operator.matmul, torch.addmm}
_CONV_FUNCTIONS = {F.conv1d, F.conv2d, F.conv3d, torch.conv1d, torch.conv2d, torch.conv3d}
_LINEAR_FUNCTIONS = {F.linear}


@dataclass
class _Group:
    """A vertex under construction: one heavy fx node plus the cheap nodes fused into it."""

    index: int
    op: str
    name: str
    macs: int = 0
    params: int = 0
    nodes: list[torch.fx.Node] = field(default_factory=list)
    work: tuple[tuple[str, int], ...] = ()  # its nodes' work entries (parawire.analysis.work)
    ancestors: set[int] = field(default_factory=set)  # indices of groups it depends on


def _tensor_metas(meta: Any) -> Iterator[TensorMetadata]:
    """Every TensorMetadata in a (possibly nested) ShapeProp result."""
    if isinstance(meta, TensorMetadata):
        yield meta
    elif isinstance(meta, (list, tuple)):
        for m in meta:
            yield from _tensor_metas(m)
    elif isinstance(meta, dict):
        for m in meta.values():
            yield from _tensor_metas(m)


def _node_bytes(node: torch.fx.Node) -> int:
    """Bytes of the tensors a node produces."""
    total = 0
    for m in _tensor_metas(node.meta.get("tensor_meta")):
        total += math.prod(m.shape) * torch.empty((), dtype=m.dtype).element_size()
    return total


def _node_shape(node: torch.fx.Node) -> tuple[int, ...]:
    """Shape of a node's (first) output tensor."""
    metas = list(_tensor_metas(node.meta.get("tensor_meta")))
    return tuple(metas[0].shape) if metas else ()


def _shape_of(arg: Any) -> tuple[int, ...]:
    return _node_shape(arg) if isinstance(arg, torch.fx.Node) else tuple(torch.as_tensor(arg).shape)


def _conv_macs(out_shape: tuple[int, ...], weight_shape: tuple[int, ...]) -> int:
    """Output elements x (input channels per group) x kernel size."""
    return math.prod(out_shape) * math.prod(weight_shape[1:])


def _heavy_kind(gm: torch.fx.GraphModule, node: torch.fx.Node) -> tuple[str, int] | None:
    """(vertex op, MACs) if ``node`` is a heavy operator, else None."""
    out = _node_shape(node)
    if node.op == "call_module":
        mod = gm.get_submodule(str(node.target))
        if isinstance(mod, _CONV_MODULES):
            depthwise = mod.groups > 1 and mod.groups == mod.in_channels
            return ("dwconv" if depthwise else "conv"), _conv_macs(out, tuple(mod.weight.shape))
        if isinstance(mod, nn.Linear):
            return "linear", math.prod(out) * mod.in_features
        return None
    if node.op != "call_function":
        return None
    if node.target in _CONV_FUNCTIONS:
        weight = _shape_of(node.args[1] if len(node.args) > 1 else node.kwargs["weight"])
        groups = node.args[6] if len(node.args) > 6 else node.kwargs.get("groups", 1)
        return ("dwconv" if groups > 1 and groups == weight[0] else "conv"), _conv_macs(out, weight)
    if node.target in _LINEAR_FUNCTIONS:
        weight = _shape_of(node.args[1] if len(node.args) > 1 else node.kwargs["weight"])
        return "linear", math.prod(out) * weight[-1]
    if node.target in _MATMUL_FUNCTIONS:
        a = node.args[1] if node.target is torch.addmm else node.args[0]
        return "matmul", math.prod(out) * _shape_of(a)[-1]
    return None


_MAXPOOL_MODULES = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool2d)
_AVGPOOL_MODULES = (
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
)
_MAXPOOL_FUNCTIONS = {
    F.max_pool1d,
    F.max_pool2d,
    F.max_pool3d,
    F.adaptive_max_pool2d,
    torch.max_pool2d,
}
_AVGPOOL_FUNCTIONS = {
    F.avg_pool1d,
    F.avg_pool2d,
    F.avg_pool3d,
    F.adaptive_avg_pool1d,
    F.adaptive_avg_pool2d,
}
_BN_MODULES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_CALL_MODULES = (nn.Dropout, nn.Dropout2d, nn.Flatten, nn.Identity, nn.Unflatten)
_CALL_FUNCTIONS = {
    torch.flatten,
    torch.reshape,
    operator.getitem,
    getattr,
    F.dropout,
    torch.transpose,
    torch.squeeze,
    torch.unsqueeze,
}
_CALL_METHODS = {
    "view",
    "reshape",
    "flatten",
    "size",
    "dim",
    "contiguous",
    "transpose",
    "permute",
    "squeeze",
    "unsqueeze",
    "expand",
    "chunk",
    "split",
}


def _node_work(gm: torch.fx.GraphModule, node: torch.fx.Node) -> tuple[str, int] | None:
    """The work entry (``parawire.analysis.work``) of one fx node, or None if it runs nothing
    (placeholders, constants, the output)."""
    out_elements = math.prod(_node_shape(node)) if _node_shape(node) else 0
    first = node.all_input_nodes[0] if node.all_input_nodes else None
    in_elements = math.prod(_node_shape(first)) if first is not None else out_elements
    heavy = _heavy_kind(gm, node)
    if heavy is not None:
        op, macs = heavy
        return _heavy_work_kind(gm, node, op), 2 * macs
    if node.op == "call_module":
        module = gm.get_submodule(str(node.target))
        if isinstance(module, _BN_MODULES):
            return "bn", out_elements
        if isinstance(module, _MAXPOOL_MODULES):
            return "maxpool", in_elements
        if isinstance(module, _AVGPOOL_MODULES):
            return "avgpool", in_elements
        if isinstance(module, _CALL_MODULES):
            return "call", 0
        return "elementwise", out_elements
    if node.op == "call_function":
        if node.target is F.batch_norm:
            return "bn", out_elements
        if node.target in _MAXPOOL_FUNCTIONS:
            return "maxpool", in_elements
        if node.target in _AVGPOOL_FUNCTIONS:
            return "avgpool", in_elements
        if node.target in _CALL_FUNCTIONS:
            return "call", 0
        return "elementwise", out_elements
    if node.op == "call_method":
        if node.target in _CALL_METHODS:
            return "call", 0
        return "elementwise", out_elements
    return None


def _heavy_work_kind(gm: torch.fx.GraphModule, node: torch.fx.Node, op: str) -> str:
    """The work kind of a heavy node: a convolution by kernel class, else ``linear``."""
    if op not in ("conv", "dwconv"):
        return "linear"
    if node.op == "call_module":
        mod = gm.get_submodule(str(node.target))
        return conv_kind(tuple(mod.kernel_size), mod.groups, mod.in_channels)
    weight = _shape_of(node.args[1] if len(node.args) > 1 else node.kwargs["weight"])
    groups = node.args[6] if len(node.args) > 6 else node.kwargs.get("groups", 1)
    return conv_kind(tuple(weight[2:]), groups, weight[1] * groups)


def _new_group(
    groups: list[_Group], op: str, name: str, producers: list[_Group], macs: int = 0
) -> _Group:
    """Append a vertex fed by ``producers``; its ancestors are theirs plus themselves."""
    ancestors = {g.index for g in producers}
    for g in producers:
        ancestors |= g.ancestors
    group = _Group(len(groups), op, name, macs=macs, ancestors=ancestors)
    groups.append(group)
    return group


def _params_of(gm: torch.fx.GraphModule, node: torch.fx.Node) -> list[torch.nn.Parameter]:
    """Parameters a node reads directly (a leaf module's own, or a get_attr parameter)."""
    if node.op == "call_module":
        return list(gm.get_submodule(str(node.target)).parameters())
    if node.op == "get_attr":
        obj: Any = gm
        for part in str(node.target).split("."):
            obj = getattr(obj, part)
        return [obj] if isinstance(obj, nn.Parameter) else []
    return []


def _trace(module: nn.Module, example_input: torch.Tensor) -> torch.fx.GraphModule:
    """fx-trace ``module`` and annotate every node with its output shape."""
    try:
        gm = torch.fx.symbolic_trace(module)
    except Exception as exc:  # fx raises many kinds for untraceable control flow
        raise ConfigError(
            f"torch.fx cannot trace {type(module).__name__}: {type(exc).__name__}: {exc}; "
            "make its forward free of data-dependent control flow"
        ) from None
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise ConfigError(
            f"{type(module).__name__} takes {len(placeholders)} inputs; from_module needs exactly 1"
        )
    with torch.no_grad():
        ShapeProp(gm).propagate(example_input)
    return gm


@dataclass(frozen=True)
class TracedModule:
    """A traced model, its cost graph, and which fx nodes each vertex of the graph runs: what
    the distributed runtime executes (``parawire.runtime.graph``)."""

    module: torch.fx.GraphModule  # the traced model, every node annotated by ShapeProp
    graph: CostGraph
    nodes: dict[int, tuple[torch.fx.Node, ...]]  # vertex id -> its fx nodes, in graph order
    # vertex id -> the nodes of it that other vertices read (the sink: the output's inputs)
    exported: dict[int, tuple[torch.fx.Node, ...]]


def from_module(
    module: nn.Module, example_input: torch.Tensor, *, name: str | None = None
) -> CostGraph:
    """Trace ``module`` (put in eval mode) on ``example_input`` into a ``CostGraph``."""
    return trace_module(module, example_input, name=name).graph


def trace_module(
    module: nn.Module, example_input: torch.Tensor, *, name: str | None = None
) -> TracedModule:
    """:func:`from_module`, keeping the traced module and each vertex's fx nodes."""
    module.eval()
    gm = _trace(module, example_input)
    nodes = list(gm.graph.nodes)
    source = _Group(0, "input", "input")
    groups = [source]
    group_of: dict[torch.fx.Node, _Group] = {}
    seen_params: set[int] = set()
    sink_inputs: list[_Group] = []
    for node in nodes:
        producer_groups = [group_of[a] for a in node.all_input_nodes if a in group_of]
        if node.op == "placeholder":
            group = source
        elif node.op == "output":
            sink_inputs = producer_groups
            continue
        elif node.op == "get_attr":  # a constant or parameter: belongs to its users, no vertex
            continue
        elif (heavy := _heavy_kind(gm, node)) is not None:
            group = _new_group(groups, heavy[0], node.name, producer_groups, macs=heavy[1])
        else:
            group = max(producer_groups, key=lambda g: g.index, default=source)
            others = {g.index for g in producer_groups} - {group.index}
            if not others <= group.ancestors:  # fusing would serialise parallel branches
                group = _new_group(groups, "merge", node.name, producer_groups)
        group.nodes.append(node)
        group_of[node] = group
        if (entry := _node_work(gm, node)) is not None and node.op != "placeholder":
            group.work = (*group.work, entry)
    for node in nodes:  # parameters: first use wins (shared modules counted once)
        owner = (
            node if node.op != "get_attr" else next((u for u in node.users if u in group_of), None)
        )
        if owner is None or owner not in group_of:
            continue
        for p in _params_of(gm, node):
            if id(p) not in seen_params:
                seen_params.add(id(p))
                group_of[owner].params += p.numel()
    graph, exported = _assemble(nodes, groups, group_of, sink_inputs, name or type(module).__name__)
    vertex_nodes = {g.index: tuple(g.nodes) for g in groups}
    vertex_nodes[graph.sink] = ()
    return TracedModule(gm, graph, vertex_nodes, exported)


def _edges(
    nodes: list[torch.fx.Node],
    groups: list[_Group],
    group_of: dict[torch.fx.Node, _Group],
    sink_inputs: list[_Group],
    output: torch.fx.Node,
) -> tuple[set[tuple[int, int]], dict[int, dict[torch.fx.Node, None]]]:
    """The edges between fused groups (the output vertex is ``len(groups)``), and the nodes each
    group hands to others, in the order they are first read."""
    sink_id = len(groups)
    edges: set[tuple[int, int]] = set()
    exported: dict[int, dict[torch.fx.Node, None]] = {g.index: {} for g in groups}
    for node in nodes:
        for arg in node.all_input_nodes:
            if arg not in group_of:
                continue
            src = group_of[arg].index
            dst = sink_id if node is output else group_of[node].index
            if src != dst:
                edges.add((src, dst))
                exported[src][arg] = None
    edges |= {(g.index, sink_id) for g in sink_inputs}
    # a vertex whose outputs nobody reads (dead code) still must reach the single sink
    has_out = {s for s, _ in edges}
    edges |= {(g.index, sink_id) for g in groups if g.index not in has_out}
    return edges, exported


def _check_one_input(graph: CostGraph, name: str) -> None:
    """``ConfigError`` saying what to do when parts of a traced model start from no input."""
    sources = [v for v in graph.dag if graph.dag.in_degree(v) == 0]
    if len(sources) > 1:  # the check below would name graph internals, not what to do
        raise ConfigError(
            f"{name} cannot be split into a deployment: {len(sources) - 1} part(s) of its traced "
            "graph start from no input (tensors the model builds itself, such as swin_v2's "
            "relative position tables); analyze a model without them, e.g. torchvision:swin_t, "
            "torchvision:vit_b_16 or torchvision:resnet50"
        )


def _assemble(
    nodes: list[torch.fx.Node],
    groups: list[_Group],
    group_of: dict[torch.fx.Node, _Group],
    sink_inputs: list[_Group],
    name: str,
) -> tuple[CostGraph, dict[int, tuple[torch.fx.Node, ...]]]:
    """Vertices and edges from the fused groups, plus the output vertex; and the nodes each
    vertex hands to others (the output vertex: those the model returns)."""
    sink_id = len(groups)
    output = next(n for n in nodes if n.op == "output")
    edges, exported = _edges(nodes, groups, group_of, sink_inputs, output)
    vertices = [
        Vertex(
            id=g.index,
            op=g.op,
            macs=g.macs,
            params=g.params,
            out_bytes=sum(_node_bytes(n) for n in exported[g.index]),
            out_shape=_node_shape(list(exported[g.index])[-1]) if exported[g.index] else (),
            name=g.name,
            work=g.work,
        )
        for g in groups
    ]
    out_meta = list(output.all_input_nodes)
    vertices.append(
        Vertex(
            id=sink_id,
            op="output",
            macs=0,
            params=0,
            out_bytes=sum(_node_bytes(n) for n in out_meta),
            out_shape=_node_shape(out_meta[0]) if out_meta else (),
            name="output",
        )
    )
    batch_shape = _node_shape(next(n for n in nodes if n.op == "placeholder"))
    dtype_bytes = next(
        (torch.empty((), dtype=m.dtype).element_size()
         for n in nodes for m in _tensor_metas(n.meta.get("tensor_meta"))),
        4,
    )  # fmt: skip
    graph = CostGraph(
        vertices=tuple(vertices),
        edges=tuple(sorted(edges)),
        name=name,
        batch=batch_shape[0] if batch_shape else 1,
        dtype_bytes=dtype_bytes,
    )
    _check_one_input(graph, name)
    graph.check()
    handed = {v: tuple(ns) for v, ns in exported.items()}
    handed[sink_id] = tuple(out_meta)
    return graph, handed
