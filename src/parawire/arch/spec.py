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

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import networkx as nx

from parawire._io import atomic_write_text, parse_json, read_bounded
from parawire.arch.limits import (  # noqa: F401  (re-exported: where callers find them)
    AGGREGATIONS,
    MAX_CHANNELS,
    MAX_CLASSES,
    MAX_EDGES,
    MAX_INPUT_SIDE,
    MAX_JSON_DEPTH,
    MAX_NODE_ID,
    MAX_NODES,
    MAX_SPEC_BYTES,
    MERGES,
    OPS,
    READABLE_VERSIONS,
    SCHEMA_VERSION,
)
from parawire.arch.typed_json import is_int, show, typed
from parawire.arch.validate import validate_spec
from parawire.errors import SpecError


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
        if not is_int(version) or version not in READABLE_VERSIONS:
            raise SpecError(
                f"unknown schema_version {show(version)}: this parawire reads versions "
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
        return typed({**data, "schema_version": SCHEMA_VERSION}, cls, "spec")

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
