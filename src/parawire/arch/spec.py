"""The architecture spec: one versioned, JSON-serializable description of a network.

Every stage of parawire (model builder, analysis, runtime, training, study) consumes an
``ArchSpec`` and returns plain results. The spec is a DAG of vertices ("nodes") with the
channel count and spatial scale of each vertex's output recorded explicitly, so that shapes,
costs and placements can be derived without building a model.

Conventions
-----------
* ``scale`` is the spatial divisor of a node's output relative to the stem output: a node with
  ``scale == 4`` on a 32x32 stem output produces 8x8 maps. Scales are powers of two.
* A ``sepconv3x3`` node with ``stage=True`` is a transformation (staging) block: its conv block
  doubles the channels and a 2x2 max-pool halves the resolution, so its *input* has
  ``channels // 2`` channels at ``scale // 2``.
* An edge whose producer does not match its consumer's input carries a scaling block: ``pool``
  (max-pool factor, down to the consumer's resolution) and ``project`` (1x1 convolution to the
  consumer's input channels).
* ``merge`` says how the network's output vertex combines its inputs (the sinks of the DAG):
  ``maps`` (EDGE'23): every sink's feature map is scaled to one shape and the maps are averaged,
  then the classifier head runs; ``pooled``: every sink ends in its own ReLU, global average
  pool and linear projection to the head's width (on the sink's own device), and the output
  vertex averages those vectors. ``pooled`` sends a vector, not a feature map, to the merge.

Schema history: version 2 added ``merge``; a version-1 document reads as ``merge = "maps"``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import networkx as nx

from parawire.errors import SpecError

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1 had no ``merge`` field (it always merged maps)
MAX_NODES = 100_000  # larger specs are rejected: nothing in parawire is meant for them
OPS = ("input", "sepconv3x3", "mean")
AGGREGATIONS = ("sigmoid_weights", "sigmoid_inputs")
MERGES = ("maps", "pooled")  # how the output vertex combines the DAG's sinks (module docstring)


@dataclass(frozen=True)
class Node:
    """One vertex of the DAG."""

    id: int
    op: str  # "input" (stem output), "sepconv3x3" (RandWire block) or "mean" (average merge)
    channels: int  # channels of this node's output tensor
    scale: int  # spatial divisor of the output relative to the stem output (power of two)
    stage: bool = False  # sepconv3x3 only: halve the resolution and double the channels

    @property
    def in_channels(self) -> int:
        """Channels every input must have after its scaling block."""
        return self.channels // 2 if self.stage else self.channels

    @property
    def in_scale(self) -> int:
        """Spatial scale every input must have after its scaling block."""
        return self.scale // 2 if self.stage else self.scale


@dataclass(frozen=True)
class Edge:
    """A data dependency ``src -> dst`` with its optional scaling block."""

    src: int
    dst: int
    pool: int = 1  # max-pool factor bringing src's output down to dst's input scale
    project: bool = False  # 1x1 conv from src.channels to dst.in_channels


@dataclass(frozen=True)
class Stage:
    """A group of nodes with exactly one input and one output node."""

    index: int
    input: int  # node id of the stage's single entry vertex
    output: int  # node id of the stage's single exit vertex
    nodes: tuple[int, ...]  # every node of the stage, input and output included


@dataclass(frozen=True)
class Stem:
    """3x3 convolution + BN + ReLU before the DAG (then max-pooling when ``stride > 2``)."""

    channels: int
    stride: int = 1  # total downsampling of the stem: 1, 2, 4, ...


@dataclass(frozen=True)
class Head:
    """Classifier after the network's output node: ReLU, global average pool, linear."""

    dropout: float = 0.0


@dataclass(frozen=True)
class Provenance:
    """Where a spec came from, so that it can be regenerated and cited."""

    generator: str
    params: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    staging: dict[str, Any] = field(default_factory=dict)
    orientation: str = "dfs"
    parawire_version: str = ""


@dataclass(frozen=True)
class ArchSpec:
    """A complete, serializable network description (see the module docstring)."""

    input_shape: tuple[int, int, int]  # (C, H, W) of one input image
    num_classes: int
    stem: Stem
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    stages: tuple[Stage, ...]
    head: Head = Head()
    aggregation: str = "sigmoid_weights"  # or "sigmoid_inputs" (the EDGE'23 text's variant)
    merge: str = "maps"  # or "pooled": sinks pooled and projected on their own device
    provenance: Provenance = Provenance(generator="custom")
    schema_version: int = SCHEMA_VERSION

    # --- derived views (cached; the spec is immutable) -------------------------------------

    @cached_property
    def node_map(self) -> dict[int, Node]:
        """Node id -> node."""
        return {n.id: n for n in self.nodes}

    @cached_property
    def graph(self) -> nx.DiGraph:
        """The DAG as a networkx graph (node attribute ``node``, edge attribute ``edge``)."""
        g = nx.DiGraph()
        for n in self.nodes:
            g.add_node(n.id, node=n)
        for e in self.edges:
            g.add_edge(e.src, e.dst, edge=e)
        return g

    @cached_property
    def in_edges(self) -> dict[int, tuple[Edge, ...]]:
        """Node id -> incoming edges, in spec order (this order fixes the module's inputs)."""
        result: dict[int, list[Edge]] = {n.id: [] for n in self.nodes}
        for e in self.edges:
            result.setdefault(e.dst, []).append(e)
        return {k: tuple(v) for k, v in result.items()}

    @cached_property
    def successors(self) -> dict[int, tuple[int, ...]]:
        """Node id -> consumer node ids, in spec order."""
        result: dict[int, list[int]] = {n.id: [] for n in self.nodes}
        for e in self.edges:
            result.setdefault(e.src, []).append(e.dst)
        return {k: tuple(v) for k, v in result.items()}

    @property
    def input_node(self) -> int:
        """Id of the network's input vertex (the stem output)."""
        return self.stages[0].input

    @property
    def output_node(self) -> int:
        """Id of the network's output vertex (feeds the classifier head)."""
        return self.stages[-1].output

    @cached_property
    def topological_order(self) -> tuple[int, ...]:
        """A deterministic topological order (smallest id first among ready nodes)."""
        return tuple(nx.lexicographical_topological_sort(self.graph))

    @property
    def stem_size(self) -> tuple[int, int]:
        """(H, W) of the stem output."""
        _, h, w = self.input_shape
        return h // self.stem.stride, w // self.stem.stride

    def spatial(self, node_id: int) -> tuple[int, int]:
        """(H, W) of the feature map a node computes (before any pooled projection)."""
        h, w = self.stem_size
        s = self.node_map[node_id].scale
        return h // s, w // s

    @cached_property
    def pooled_vertices(self) -> frozenset[int]:
        """``merge == "pooled"``: the output vertex's inputs, which end in a pooled projection."""
        if self.merge != "pooled":
            return frozenset()
        return frozenset(e.src for e in self.in_edges.get(self.output_node, ()))

    @property
    def head_width(self) -> int:
        """Channels the classifier head takes: the output vertex's channels."""
        return self.node_map[self.output_node].channels

    def output_shape(self, node_id: int) -> tuple[int, int, int]:
        """(C, H, W) of the tensor a node hands to its consumers, for batch size 1.

        A pooled-merge sink hands over its projected vector and the output vertex averages
        vectors: both are ``(head_width, 1, 1)``.
        """
        if node_id in self.pooled_vertices or (
            self.merge == "pooled" and node_id == self.output_node
        ):
            return (self.head_width, 1, 1)
        return (self.node_map[node_id].channels, *self.spatial(node_id))

    def depth(self) -> int:
        """Vertices on the longest input-to-output path."""
        return nx.dag_longest_path_length(self.graph) + 1

    def width(self) -> int:
        """Largest number of vertices at one depth (longest-path distance from the input)."""
        return max(len(v) for v in self.levels().values())

    def clusters(self) -> list[list[int]]:
        """Connected components without the input and output vertices (EDGE'23 Section V)."""
        from parawire.graphs.components import clusters

        return clusters(self.graph, self.input_node, self.output_node)

    def levels(self) -> dict[int, list[int]]:
        """Depth (longest path from the input, in edges) -> node ids at that depth."""
        dist: dict[int, int] = {}
        for v in self.topological_order:
            preds = list(self.graph.predecessors(v))
            dist[v] = 1 + max(dist[p] for p in preds) if preds else 0
        result: dict[int, list[int]] = {}
        for v, d in dist.items():
            result.setdefault(d, []).append(v)
        return dict(sorted(result.items()))

    # --- serialization ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dictionary (schema_version first)."""
        return {
            "schema_version": self.schema_version,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "aggregation": self.aggregation,
            "merge": self.merge,
            "stem": asdict(self.stem),
            "nodes": [asdict(n) for n in self.nodes],
            "edges": [asdict(e) for e in self.edges],
            "stages": [
                {"index": s.index, "input": s.input, "output": s.output, "nodes": list(s.nodes)}
                for s in self.stages
            ],
            "head": asdict(self.head),
            "provenance": asdict(self.provenance),
        }

    def to_json(self, indent: int | None = 1) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), indent=indent)

    def digest(self) -> str:
        """Short content hash of the structure (provenance excluded), for result tables."""
        d = self.to_dict()
        d.pop("provenance")
        blob = json.dumps(d, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def save(self, path: str | Path) -> Path:
        """Write the spec as JSON; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json() + "\n")
        return path

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArchSpec:
        """Inverse of :meth:`to_dict`; raises ``SpecError`` on a malformed document."""
        if not isinstance(data, Mapping):
            raise SpecError("not an architecture spec: expected a JSON object at the top level")
        version = data.get("schema_version")
        if version is None:
            raise SpecError(
                "not an architecture spec: no 'schema_version' field "
                "(create specs with `parawire generate`)"
            )
        if isinstance(version, bool) or version not in READABLE_VERSIONS:
            raise SpecError(
                f"unknown schema_version {version!r}: this parawire reads versions "
                f"{', '.join(map(str, READABLE_VERSIONS))}; regenerate the spec or upgrade parawire"
            )
        try:
            spec = cls(
                input_shape=tuple(int(x) for x in data["input_shape"]),  # type: ignore[arg-type]
                num_classes=int(data["num_classes"]),
                stem=Stem(**data["stem"]),
                nodes=tuple(Node(**n) for n in data["nodes"]),
                edges=tuple(Edge(**e) for e in data["edges"]),
                stages=tuple(
                    Stage(
                        index=int(s["index"]),
                        input=int(s["input"]),
                        output=int(s["output"]),
                        nodes=tuple(int(x) for x in s["nodes"]),
                    )
                    for s in data["stages"]
                ),
                head=Head(**data.get("head", {})),
                aggregation=str(data.get("aggregation", "sigmoid_weights")),
                merge=str(data.get("merge", "maps")),
                provenance=Provenance(**data.get("provenance", {"generator": "custom"})),
            )
        except KeyError as exc:
            raise SpecError(f"not an architecture spec: missing field {exc.args[0]!r}") from exc
        except (TypeError, ValueError) as exc:
            raise SpecError(f"not an architecture spec: {exc}") from exc
        if len(spec.input_shape) != 3:
            raise SpecError("input_shape must be [C, H, W] (three positive integers)")
        return spec

    @classmethod
    def from_json(cls, text: str) -> ArchSpec:
        """Parse JSON text; raises ``SpecError`` if it is not a spec."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"not an architecture spec: invalid JSON ({exc})") from exc
        return cls.from_dict(data)

    # --- validation ------------------------------------------------------------------------

    def validate(self) -> ArchSpec:
        """Check every structural rule; returns ``self`` or raises ``SpecError``."""
        validate_spec(self)
        return self


def load_spec(path: str | Path, *, validate: bool = True) -> ArchSpec:
    """Read a spec from a JSON file (validated by default)."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError as exc:
        raise SpecError(f"spec file not found: {path}") from exc
    except (IsADirectoryError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path} is not a JSON spec file") from exc
    spec = ArchSpec.from_json(text)
    return spec.validate() if validate else spec


def _is_pow2(x: int) -> bool:
    return x >= 1 and (x & (x - 1)) == 0


def _check_positive(what: str, value: int, fix: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise SpecError(f"{what} must be a positive integer, got {value!r}; {fix}")


def validate_spec(spec: ArchSpec) -> None:
    """Raise ``SpecError`` naming the first offending node, edge or field."""
    if spec.schema_version != SCHEMA_VERSION:
        raise SpecError(
            f"unknown schema_version {spec.schema_version!r}: this parawire reads version "
            f"{SCHEMA_VERSION}"
        )
    if len(spec.nodes) > MAX_NODES:
        raise SpecError(
            f"spec has {len(spec.nodes)} nodes, over the limit of {MAX_NODES}; "
            "use a smaller generator size"
        )
    if len(spec.nodes) == 0 or len(spec.stages) == 0:
        raise SpecError("spec has no nodes or no stages; generate one with `parawire generate`")
    for i, v in enumerate(spec.input_shape):
        _check_positive(f"input_shape[{i}]", v, "use e.g. [3, 32, 32]")
    _check_positive("num_classes", spec.num_classes, "set the number of output classes")
    _check_positive("stem.channels", spec.stem.channels, "set the stem width")
    if not _is_pow2(spec.stem.stride):
        raise SpecError(f"stem.stride must be a power of two, got {spec.stem.stride!r}")
    if not 0.0 <= spec.head.dropout < 1.0:
        raise SpecError(f"head.dropout must be in [0, 1), got {spec.head.dropout!r}")
    if spec.aggregation not in AGGREGATIONS:
        raise SpecError(
            f"unknown aggregation {spec.aggregation!r}; use one of {', '.join(AGGREGATIONS)}"
        )
    if spec.merge not in MERGES:
        raise SpecError(f"unknown merge {spec.merge!r}; use one of {', '.join(MERGES)}")

    ids = [n.id for n in spec.nodes]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise SpecError(f"node id {dup} appears more than once; node ids must be unique")
    node_map = spec.node_map
    for n in spec.nodes:
        if n.op not in OPS:
            raise SpecError(f"node {n.id}: unknown operation {n.op!r}; use one of {', '.join(OPS)}")
        _check_positive(f"node {n.id}: channels", n.channels, "channels count feature maps")
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

    _validate_stages(spec)


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
        sources = sorted(v for v in members if not any(p in members for p in g.predecessors(v)))
        sinks = sorted(v for v in members if not any(s in members for s in g.successors(v)))
        if sources != [st.input]:
            extra = [v for v in sources if v != st.input]
            raise SpecError(
                f"stage {st.index} has more than one input node (node {extra[0] if extra else '?'}"
                f" has no predecessor inside the stage, besides input {st.input}); "
                "connect it from the stage input"
            )
        if sinks != [st.output]:
            extra = [v for v in sinks if v != st.output]
            raise SpecError(
                f"stage {st.index} has more than one output node (node {extra[0] if extra else '?'}"
                f" has no successor inside the stage, besides output {st.output}); "
                "connect it to the stage output"
            )
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
