"""Validating a spec: every rule :meth:`ArchSpec.validate` checks, each failure a one-line
``SpecError`` naming the node, edge or field and the fix (``docs/spec.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import networkx as nx

from parawire.arch.footprint import check_footprint
from parawire.arch.limits import (
    AGGREGATIONS,
    MAX_CHANNELS,
    MAX_CLASSES,
    MAX_EDGES,
    MAX_INPUT_SIDE,
    MAX_NODE_ID,
    MAX_NODES,
    MERGES,
    OPS,
    SCHEMA_VERSION,
)
from parawire.arch.typed_json import show, typed
from parawire.errors import SpecError

if TYPE_CHECKING:
    from parawire.arch.spec import ArchSpec, Edge


def _is_pow2(x: int) -> bool:
    return x >= 1 and (x & (x - 1)) == 0


def _check_range(what: str, value: int, high: int, fix: str) -> None:
    if not 1 <= value <= high:
        raise SpecError(
            f"{what} must be a positive integer no larger than {high:,}, got {show(value)}; {fix}"
        )


def validate_spec(spec: ArchSpec) -> None:
    """Raise ``SpecError`` naming the first offending node, edge or field."""
    _validate_fields(spec)
    _validate_nodes(spec)
    _validate_graph(spec)
    _validate_edges(spec)
    _validate_stages(spec)
    check_footprint(spec)  # last: it needs the structure above to hold


def _validate_fields(spec: ArchSpec) -> None:
    """The version, the caps, every field's type, the input, stem, head and modes."""
    if spec.schema_version != SCHEMA_VERSION:
        raise SpecError(
            f"unknown schema_version {show(spec.schema_version)}: this parawire reads version "
            f"{SCHEMA_VERSION}"
        )
    for key, items, cap in (("nodes", spec.nodes, MAX_NODES), ("edges", spec.edges, MAX_EDGES)):
        if len(items) > cap:
            raise SpecError(
                f"spec has {len(items)} {key}, over the limit of {cap:,}; "
                "use a smaller generator size (docs/generators.md, size caps)"
            )
    typed(spec, type(spec), "spec")  # every field of the type its annotation says
    if len(spec.nodes) == 0 or len(spec.stages) == 0:
        raise SpecError("spec has no nodes or no stages; generate one with `parawire generate`")
    c, h, w = spec.input_shape
    _check_range("input_shape[0]", c, MAX_CHANNELS, "use e.g. [3, 32, 32]")
    _check_range("input_shape[1]", h, MAX_INPUT_SIDE, "use e.g. [3, 32, 32]")
    _check_range("input_shape[2]", w, MAX_INPUT_SIDE, "use e.g. [3, 32, 32]")
    _check_range("num_classes", spec.num_classes, MAX_CLASSES, "set the number of output classes")
    _check_range("stem.channels", spec.stem.channels, MAX_CHANNELS, "set the stem width")
    if not _is_pow2(spec.stem.stride) or spec.stem.stride > min(h, w):
        raise SpecError(
            f"stem.stride must be a power of two no larger than the {h}x{w} input, "
            f"got {show(spec.stem.stride)}"
        )
    if not 0.0 <= spec.head.dropout < 1.0:
        raise SpecError(f"head.dropout must be in [0, 1), got {spec.head.dropout!r}")
    if spec.aggregation not in AGGREGATIONS:
        raise SpecError(
            f"unknown aggregation {show(spec.aggregation)}; use one of {', '.join(AGGREGATIONS)}"
        )
    if spec.merge not in MERGES:
        raise SpecError(f"unknown merge {show(spec.merge)}; use one of {', '.join(MERGES)}")


def _validate_nodes(spec: ArchSpec) -> None:
    """Unique ids in range; each node's operation, width, scale and staging."""
    seen: set[int] = set()
    for n in spec.nodes:
        if n.id in seen:
            raise SpecError(f"node id {n.id} appears more than once; node ids must be unique")
        if not 0 <= n.id <= MAX_NODE_ID:
            raise SpecError(f"node id {show(n.id)} is out of range; use ids 0 to {MAX_NODE_ID}")
        seen.add(n.id)
    for n in spec.nodes:
        if n.op not in OPS:
            raise SpecError(
                f"node {n.id}: unknown operation {show(n.op)}; use one of {', '.join(OPS)}"
            )
        _check_range(f"node {n.id}: channels", n.channels, MAX_CHANNELS, "fix the node's width")
        if not _is_pow2(n.scale):
            raise SpecError(f"node {n.id}: scale must be a power of two >= 1, got {n.scale!r}")
        if n.stage and (n.op != "sepconv3x3" or n.channels % 2 or n.scale < 2):
            raise SpecError(
                f"node {n.id}: stage=True needs a sepconv3x3 node with even channels and "
                "scale >= 2 (it doubles channels and halves resolution)"
            )
        h, w = spec.stem_size
        if h // n.scale < 1 or w // n.scale < 1:
            raise SpecError(
                f"node {n.id}: scale {n.scale} leaves no pixels of the {h}x{w} stem output; "
                "lower the scale or raise the input size"
            )


def _validate_graph(spec: ArchSpec) -> None:
    """Edges between known nodes, once each, and no cycle."""
    node_map = spec.node_map
    for e in spec.edges:
        for end in (e.src, e.dst):
            if end not in node_map:
                raise SpecError(
                    f"edge {e.src}->{e.dst} refers to unknown node {end}; "
                    "add the node or remove the edge"
                )
    g = spec.graph
    if len(g.edges) != len(spec.edges):
        raise SpecError("duplicate edges: each (src, dst) pair may appear once")
    if not nx.is_directed_acyclic_graph(g):
        cycle = nx.find_cycle(g)
        path = " -> ".join(str(u) for u, _ in cycle) + f" -> {cycle[0][0]}"
        raise SpecError(f"the graph has a cycle ({path}); remove one of its edges")


def _validate_edges(spec: ArchSpec) -> None:
    """Each edge's pooling and projection fit the scales and widths it joins."""
    node_map = spec.node_map
    pooled = spec.pooled_vertices
    for e in spec.edges:
        src, dst = node_map[e.src], node_map[e.dst]
        if e.src in pooled:
            _validate_pooled_edge(spec, e)
            continue
        if not _is_pow2(e.pool):
            raise SpecError(f"edge {e.src}->{e.dst}: pool must be a power of two, got {e.pool!r}")
        if src.scale * e.pool != dst.in_scale:
            raise SpecError(
                f"edge {e.src}->{e.dst}: scales do not agree (node {e.src} outputs scale "
                f"{src.scale}, pooled x{e.pool}, but node {e.dst} takes scale {dst.in_scale}); "
                "set the edge's pool to the ratio of the scales"
            )
        if src.channels != dst.in_channels and not e.project:
            raise SpecError(
                f"edge {e.src}->{e.dst}: channels do not agree (node {e.src} outputs "
                f"{src.channels}, node {e.dst} takes {dst.in_channels}) and the edge has no "
                "1x1 projection; set project=true on the edge"
            )


def _validate_pooled_edge(spec: ArchSpec, e: Edge) -> None:
    """A pooled-merge sink feeds only the output vertex, through no scaling block."""
    if e.dst != spec.output_node:
        raise SpecError(
            f"edge {e.src}->{e.dst}: with merge 'pooled', node {e.src} feeds the output vertex "
            f"{spec.output_node} and may feed nothing else; route it through another vertex"
        )
    if e.pool != 1 or e.project:
        raise SpecError(
            f"edge {e.src}->{e.dst}: with merge 'pooled' the output vertex's inputs are "
            "projected vectors; set pool=1 and project=false on the edge"
        )
    if spec.node_map[spec.output_node].op != "mean":
        raise SpecError(
            f"merge 'pooled' needs a 'mean' output vertex, node {spec.output_node} is "
            f"{spec.node_map[spec.output_node].op!r}"
        )


def _validate_stages(spec: ArchSpec) -> None:
    g = spec.graph
    seen: dict[int, int] = {}
    for st in spec.stages:
        for v in st.nodes:
            if v not in spec.node_map:
                raise SpecError(f"stage {st.index} lists unknown node {v}")
            if v in seen:
                raise SpecError(f"node {v} is in stages {seen[v]} and {st.index}; one stage each")
            seen[v] = st.index
    missing = [n.id for n in spec.nodes if n.id not in seen]
    if missing:
        raise SpecError(f"node {missing[0]} belongs to no stage; add it to a stage's nodes")

    reach = nx.descendants(g, spec.input_node) | {spec.input_node}
    coreach = nx.ancestors(g, spec.output_node) | {spec.output_node}
    for n in spec.nodes:
        if n.id not in reach or n.id not in coreach:
            raise SpecError(
                f"node {n.id} is not on any input-to-output path; connect it or remove it"
            )

    inputs = [n.id for n in spec.nodes if n.op == "input"]
    if len(inputs) != 1 or inputs[0] != spec.input_node:
        raise SpecError(
            f"the network needs exactly one 'input' node, the first stage's input; found {inputs}"
        )
    for st in spec.stages:
        members = set(st.nodes)
        _one_end(st.index, members, g.predecessors, st.input, ("input", "predecessor", "from"))
        _one_end(st.index, members, g.successors, st.output, ("output", "successor", "to"))
        for v in members:
            for p in g.predecessors(v):
                if p not in members and v != st.input:
                    raise SpecError(
                        f"edge {p}->{v} enters stage {st.index} at node {v}, not at its input "
                        f"{st.input}; route it through the stage input"
                    )
            for q in g.successors(v):
                if q not in members and v != st.output:
                    raise SpecError(
                        f"stage {st.index} has more than one output node (edge {v}->{q} leaves "
                        f"the stage from node {v}, not from its output {st.output}); "
                        "route it through the stage output"
                    )


def _one_end(
    stage: int,
    members: set[int],
    neighbours: Callable[[int], Iterable[int]],
    end: int,
    words: tuple[str, str, str],
) -> None:
    """``SpecError`` unless ``end`` is the one member without ``neighbours`` in the stage
    (``words``: the end's name, its neighbour's, and the preposition of the fix)."""
    name, neighbour, preposition = words
    ends = sorted(v for v in members if not any(n in members for n in neighbours(v)))
    if ends != [end]:
        extra = [v for v in ends if v != end]
        raise SpecError(
            f"stage {stage} has more than one {name} node (node {extra[0] if extra else '?'}"
            f" has no {neighbour} inside the stage, besides {name} {end}); "
            f"connect it {preposition} the stage {name}"
        )
