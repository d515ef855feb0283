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
  pool, linear projection to the head's width and batch norm (on the sink's own device), and
  the output vertex averages those vectors. ``pooled`` sends a vector, not a feature map, to
  the merge.

Schema history: version 2 added ``merge``; a version-1 document reads as ``merge = "maps"``.

Loading is strict: every field is type-checked against the dataclass annotations below (no
string for a number, no bool for an int, no NaN or Infinity, no unknown field), sizes are
bounded (``MAX_*``), and a file over ``MAX_SPEC_BYTES`` is refused before it is parsed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import networkx as nx

from parawire._io import atomic_write_text, parse_json, read_bounded
from parawire.arch.footprint import check_footprint
from parawire.errors import SpecError

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1 had no ``merge`` field (it always merged maps)
# Size caps: what every command (analyze's partitioner sweep and local search above all) handles
# in reasonable time: analyze of a 512-vertex, 7,882-edge spec took 26 s on 4 devices here
# (BENCHMARKS.md, hostile inputs); 2,000 vertices took minutes. RandWire's networks have ~100.
MAX_NODES = 512  # vertices of one spec
MAX_EDGES = 8_192  # edges of one spec (a dense 512-vertex graph would have 130,816)
MAX_SPEC_BYTES = 64 * 2**20  # spec files are refused above this size, before parsing
MAX_CHANNELS = 65_536  # channels of the input, the stem and every vertex
MAX_INPUT_SIDE = 16_384  # input image height and width, in pixels
MAX_CLASSES = 1_000_000  # classifier outputs
MAX_NODE_ID = 2**31 - 1  # node ids are 0..MAX_NODE_ID (they travel as int32/int64 tensors)
MAX_JSON_DEPTH = 16  # nesting of the free-form provenance values (params, staging)
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
        from parawire.graphs.dag import dag_depth

        return dag_depth(self.graph)

    def width(self) -> int:
        """Largest number of vertices at one depth (longest-path distance from the input)."""
        return max(len(v) for v in self.levels().values())

    def clusters(self) -> list[list[int]]:
        """Connected components without the input and output vertices (EDGE'23 Section V)."""
        from parawire.graphs.components import clusters

        return clusters(self.graph, self.input_node, self.output_node)

    def levels(self) -> dict[int, list[int]]:
        """Depth (longest path from the input, in edges) -> node ids at that depth."""
        from parawire.graphs.dag import depth_levels

        depth = depth_levels(self.graph)
        result: dict[int, list[int]] = {}
        for v in self.topological_order:
            result.setdefault(depth[v], []).append(v)
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
        atomic_write_text(path, self.to_json() + "\n")
        return path

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArchSpec:
        """Inverse of :meth:`to_dict`; raises ``SpecError`` on a malformed or mistyped document."""
        if not isinstance(data, Mapping):
            raise SpecError("not an architecture spec: expected a JSON object at the top level")
        version = data.get("schema_version")
        if version is None:
            raise SpecError(
                "not an architecture spec: no 'schema_version' field "
                "(create specs with `parawire generate`)"
            )
        if not _is_int(version) or version not in READABLE_VERSIONS:
            raise SpecError(
                f"unknown schema_version {_show(version)}: this parawire reads versions "
                f"{', '.join(map(str, READABLE_VERSIONS))}; regenerate the spec or upgrade parawire"
            )
        for key, cap in (("nodes", MAX_NODES), ("edges", MAX_EDGES)):
            items = data.get(key)
            if isinstance(items, list) and len(items) > cap:
                raise SpecError(
                    f"spec has {len(items)} {key}, over the limit of {cap:,}; "
                    "use a smaller generator size (docs/generators.md, size caps)"
                )
        # a version-1 document reads as the current version (``merge`` defaults to "maps")
        return _typed({**data, "schema_version": SCHEMA_VERSION}, cls, "spec")

    @classmethod
    def from_json(cls, text: str | bytes) -> ArchSpec:
        """Parse JSON text; raises ``SpecError`` if it is not a spec (a key twice, NaN...)."""
        data = parse_json(text, origin="not an architecture spec", finite=True, error=SpecError)
        return cls.from_dict(data)

    # --- validation ------------------------------------------------------------------------

    def validate(self) -> ArchSpec:
        """Check every structural rule; returns ``self`` or raises ``SpecError``."""
        validate_spec(self)
        return self


def load_spec(path: str | Path, *, validate: bool = True) -> ArchSpec:
    """Read a spec from a JSON file (validated by default); at most ``MAX_SPEC_BYTES`` are read,
    and only from a regular file (``parawire._io.read_bounded``)."""
    data = read_bounded(path, what="spec file", limit=MAX_SPEC_BYTES, error=SpecError)
    spec = ArchSpec.from_json(data)
    return spec.validate() if validate else spec


# --- typed reading: JSON values -> the dataclasses above, every field checked -----------------


def _is_int(value: Any) -> bool:
    return type(value) is int  # not a bool (an int subclass)


def _show(value: Any) -> str:
    """A short rendering of a JSON value for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "an array"
    if _is_int(value) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


class _Mismatch(Exception):
    """A value does not fit its annotation; ``path`` collects its location, innermost first."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.path: list[str] = []


def _typed(value: Any, hint: Any, where: str) -> Any:
    """``value`` checked against the annotation ``hint`` (and converted to it); else SpecError.

    ``hint`` is one of the annotations the spec's dataclasses use: ``int``, ``float``, ``bool``,
    ``str``, ``X | None``, ``tuple[X, ...]``, ``tuple[X, Y, Z]``, ``dict[str, Any]`` (free-form
    JSON) or one of the dataclasses. A dataclass may come as a JSON object (it is built) or as an
    instance (it is checked and returned as is: how :func:`validate_spec` checks a spec built in
    Python).
    """
    try:
        return _checker(hint)(value)
    except _Mismatch as exc:
        raise SpecError(f"{where}{''.join(reversed(exc.path))} {exc}") from None


@cache
def _checker(hint: Any) -> Callable[[Any], Any]:
    """The check-and-convert function of one annotation (built once per annotation)."""
    if dataclasses.is_dataclass(hint):
        return _dataclass_checker(hint)  # type: ignore[arg-type]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is types.UnionType:  # X | None
        inner = _checker(next(a for a in args if a is not type(None)))
        return lambda value: None if value is None else inner(value)
    if origin is tuple:
        return _tuple_checker(args)
    if origin is dict:  # free-form JSON object
        return _json_object
    return {bool: _bool, int: _int, float: _float, str: _str}[hint]


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Mismatch(f"must be true or false, got {_show(value)}")
    return value


def _int(value: Any) -> int:
    if not _is_int(value):
        raise _Mismatch(f"must be an integer, got {_show(value)}")
    return value


def _float(value: Any) -> float:
    ok = (_is_int(value) and value.bit_length() <= 64) or (
        isinstance(value, float) and math.isfinite(value)
    )
    if not ok:
        raise _Mismatch(f"must be a finite number, got {_show(value)}")
    return float(value)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise _Mismatch(f"must be a string, got {_show(value)}")
    return value


def _tuple_checker(args: tuple[Any, ...]) -> Callable[[Any], tuple]:
    """``tuple[X, ...]`` (any length) or ``tuple[X, Y, Z]`` (exactly that many) from an array."""
    repeat = args[-1] is Ellipsis
    items = [_checker(a) for a in (args[:1] if repeat else args)]

    def check(value: Any) -> tuple:
        if not isinstance(value, (list, tuple)):
            raise _Mismatch(f"must be an array, got {_show(value)}")
        if not repeat and len(value) != len(items):
            raise _Mismatch(f"must be an array of {len(items)} items, got {len(value)}")
        out = []
        for i, v in enumerate(value):
            try:
                out.append(items[0 if repeat else i](v))
            except _Mismatch as exc:
                exc.path.append(f"[{i}]")
                raise
        return tuple(out)

    return check


def _dataclass_checker(cls: type) -> Callable[[Any], Any]:
    """A dataclass from a JSON object (no unknown field, every required one), or an instance."""
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    checks = {f.name: _checker(hints[f.name]) for f in fields}
    required = [
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]

    def check(value: Any) -> Any:
        given = isinstance(value, cls)
        if not given and not isinstance(value, Mapping):
            raise _Mismatch(f"must be an object, got {_show(value)}")
        items = {name: getattr(value, name) for name in checks} if given else value
        for name in items:
            if name not in checks:
                raise _Mismatch(
                    f"has unknown field {_show(name)}; its fields are {', '.join(checks)}"
                )
        for name in required:
            if name not in items:
                raise _Mismatch(f"is missing field {name!r}")
        kwargs = {}
        for name, v in items.items():
            try:
                kwargs[name] = checks[name](v)
            except _Mismatch as exc:
                exc.path.append(f".{name}")
                raise
        return value if given else cls(**kwargs)

    return check


def _json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _Mismatch(f"must be an object, got {_show(value)}")
    _check_json(value, 0)
    return dict(value)


def _check_json(value: Any, depth: int) -> None:
    """Free-form JSON: objects with string keys, arrays, strings, finite numbers, bools, null."""
    if depth > MAX_JSON_DEPTH:
        raise _Mismatch(f"is nested more than {MAX_JSON_DEPTH} levels deep")
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise _Mismatch(f"has a key that is not a string: {_show(key)}")
        entries = [(f".{key}", v) for key, v in value.items()]
    elif isinstance(value, (list, tuple)):
        entries = [(f"[{i}]", v) for i, v in enumerate(value)]
    else:
        if isinstance(value, float) and not math.isfinite(value):
            raise _Mismatch(f"must be a finite number, got {_show(value)}")
        if not (value is None or isinstance(value, (str, int, float))):
            raise _Mismatch(f"is not a JSON value: {_show(value)}")
        return
    for segment, v in entries:
        try:
            _check_json(v, depth + 1)
        except _Mismatch as exc:
            exc.path.append(segment)
            raise


def _is_pow2(x: int) -> bool:
    return x >= 1 and (x & (x - 1)) == 0


def _check_range(what: str, value: int, high: int, fix: str) -> None:
    if not 1 <= value <= high:
        raise SpecError(
            f"{what} must be a positive integer no larger than {high:,}, got {_show(value)}; {fix}"
        )


def validate_spec(spec: ArchSpec) -> None:
    """Raise ``SpecError`` naming the first offending node, edge or field."""
    if spec.schema_version != SCHEMA_VERSION:
        raise SpecError(
            f"unknown schema_version {_show(spec.schema_version)}: this parawire reads version "
            f"{SCHEMA_VERSION}"
        )
    for key, items, cap in (("nodes", spec.nodes, MAX_NODES), ("edges", spec.edges, MAX_EDGES)):
        if len(items) > cap:
            raise SpecError(
                f"spec has {len(items)} {key}, over the limit of {cap:,}; "
                "use a smaller generator size (docs/generators.md, size caps)"
            )
    _typed(spec, ArchSpec, "spec")  # every field of the type its annotation says
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
            f"got {_show(spec.stem.stride)}"
        )
    if not 0.0 <= spec.head.dropout < 1.0:
        raise SpecError(f"head.dropout must be in [0, 1), got {spec.head.dropout!r}")
    if spec.aggregation not in AGGREGATIONS:
        raise SpecError(
            f"unknown aggregation {_show(spec.aggregation)}; use one of {', '.join(AGGREGATIONS)}"
        )
    if spec.merge not in MERGES:
        raise SpecError(f"unknown merge {_show(spec.merge)}; use one of {', '.join(MERGES)}")

    seen: set[int] = set()
    for n in spec.nodes:
        if n.id in seen:
            raise SpecError(f"node id {n.id} appears more than once; node ids must be unique")
        if not 0 <= n.id <= MAX_NODE_ID:
            raise SpecError(f"node id {_show(n.id)} is out of range; use ids 0 to {MAX_NODE_ID}")
        seen.add(n.id)
    node_map = spec.node_map
    for n in spec.nodes:
        if n.op not in OPS:
            raise SpecError(
                f"node {n.id}: unknown operation {_show(n.op)}; use one of {', '.join(OPS)}"
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
    check_footprint(spec)  # last: it needs the structure above to hold


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
