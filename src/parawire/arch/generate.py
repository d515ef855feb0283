"""From a generator name and a seed to a validated ``ArchSpec``.

The pipeline (EDGE'23 Section III): sample an undirected graph, orient it into a DAG (DFS rule by
default), add one input vertex before every vertex without predecessors and one output vertex
that averages every vertex without successors, then decide per vertex how channels and spatial
size evolve (staging), and record a scaling block on every edge whose ends disagree. With
``merge="pooled"`` the edges into the output vertex carry no scaling block: each sink pools and
projects its own output (``parawire.arch.spec``).

Staging modes:

* ``uniform``: constant channels, no downsampling (the paper's Table I baseline).
* ``greedy``: every conv block stages (2x2 max-pool, channels x2) while its input channels are
  below ``c_max`` and the result stays at least ``min_size`` pixels wide.
* ``probabilistic`` (default): the same, but each eligible block stages with probability
  ``stage_prob`` (the paper's probabilistic scaling block).
* ``fb``: RandWire's fixed stages: ``fb_stages`` random graphs in sequence (the ``n`` vertices
  split evenly between them), each graph at constant width, each stage after the first entered
  through a block that halves the resolution and doubles the channels. Every stage boundary is a
  single vertex: the single-chain-at-stage-boundaries baseline the paper calls FB.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import networkx as nx
import numpy as np

from parawire._version import __version__
from parawire.arch.spec import (
    AGGREGATIONS,
    MERGES,
    ArchSpec,
    Edge,
    Head,
    Node,
    Provenance,
    Stage,
    Stem,
)
from parawire.arch.staging import STAGINGS, create_staging, list_stagings
from parawire.errors import ConfigError
from parawire.graphs import create_generator, orient

__all__ = ["STAGINGS", "StagingConfig", "default_stem_stride", "generate"]


@dataclass(frozen=True)
class StagingConfig:
    """How channels and resolution evolve through the DAG."""

    name: str = "probabilistic"  # a registered staging mode (parawire.arch.staging)
    channels: int = 32  # stem output channels (width of the first vertices)
    c_max: int = 256  # no staging once a block's input has this many channels
    stage_prob: float = 0.5  # probabilistic: chance that an eligible block stages
    min_size: int = 4  # never downsample below this many pixels (height and width)
    fb_stages: int = 3  # fb: number of random graphs in sequence

    def check(self) -> None:
        """Raise ``ConfigError`` on an unknown mode or out-of-range value."""
        if self.name not in list_stagings():
            raise ConfigError(
                f"unknown staging {self.name!r}; choose one of {', '.join(list_stagings())}"
            )
        if self.channels < 1:
            raise ConfigError(f"channels must be >= 1, got {self.channels}")
        if self.c_max < self.channels:
            raise ConfigError(f"c_max ({self.c_max}) must be >= channels ({self.channels})")
        if not 0.0 <= self.stage_prob <= 1.0:
            raise ConfigError(f"stage_prob must be in [0, 1], got {self.stage_prob}")
        if self.min_size < 1:
            raise ConfigError(f"min_size must be >= 1, got {self.min_size}")
        if self.fb_stages < 1:
            raise ConfigError(f"fb_stages must be >= 1, got {self.fb_stages}")


def default_stem_stride(height: int, max_stem_size: int = 64) -> int:
    """Smallest power-of-two stem stride bringing the input to at most ``max_stem_size`` px."""
    stride = 1
    while height // stride > max_stem_size:
        stride *= 2
    return stride


def generate(
    name: str,
    *,
    seed: int = 0,
    staging: str | StagingConfig = "probabilistic",
    input_shape: tuple[int, int, int] = (3, 32, 32),
    num_classes: int = 10,
    orientation: str = "dfs",
    aggregation: str = "sigmoid_weights",
    merge: str = "pooled",
    dropout: float = 0.0,
    stem_stride: int | None = None,
    **params: Any,
) -> ArchSpec:
    """Generate a validated architecture spec.

    ``params`` are the generator's parameters (e.g. ``n=40, p=0.2`` for ``er``); ``staging`` is a
    mode name or a full :class:`StagingConfig`; ``merge`` is ``pooled`` (the default: each sink
    pooled and projected on its own device; no accuracy cost measured, see docs/analysis.md) or
    ``maps`` (EDGE'23). Same arguments, same spec, in any process.
    """
    cfg = staging if isinstance(staging, StagingConfig) else StagingConfig(name=staging)
    cfg.check()
    _check_options(aggregation, merge, input_shape, num_classes)
    gen = create_generator(name, **params)
    stride = stem_stride if stem_stride is not None else default_stem_stride(input_shape[1])
    stem_hw = min(input_shape[1], input_shape[2]) // stride
    if stem_hw < 1:
        raise ConfigError(f"stem stride {stride} is too large for input {input_shape}")

    builder = _Builder(cfg, stem_hw, np.random.default_rng([seed, 0x5A6E]))
    _add_stages(builder, name, gen, cfg, seed, orientation)

    edges = builder.edges
    if merge == "pooled":  # every sink pools and projects itself: no scaling block into the merge
        out = builder.stages[-1].output
        edges = [Edge(e.src, e.dst) if e.dst == out else e for e in edges]
    spec = ArchSpec(
        input_shape=tuple(input_shape),  # type: ignore[arg-type]
        num_classes=num_classes,
        stem=Stem(channels=cfg.channels, stride=stride),
        nodes=tuple(builder.nodes),
        edges=tuple(edges),
        stages=tuple(builder.stages),
        head=Head(dropout=dropout),
        aggregation=aggregation,
        merge=merge,
        provenance=Provenance(
            generator=name,
            params=gen.params(),
            seed=seed,
            staging=asdict(cfg),
            orientation=orientation,
            parawire_version=__version__,
        ),
    )
    return spec.validate()


def _check_options(
    aggregation: str, merge: str, input_shape: tuple[int, int, int], num_classes: int
) -> None:
    """``ConfigError`` for an unknown aggregation or merge, or a malformed input or head."""
    if aggregation not in AGGREGATIONS:
        raise ConfigError(
            f"unknown aggregation {aggregation!r}; choose one of {', '.join(AGGREGATIONS)}"
        )
    if merge not in MERGES:
        raise ConfigError(f"unknown merge {merge!r}; choose one of {', '.join(MERGES)}")
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise ConfigError(f"input_shape must be three positive integers (C, H, W): {input_shape}")
    if num_classes < 1:
        raise ConfigError(f"num_classes must be >= 1, got {num_classes}")


def _add_stages(
    builder: _Builder, name: str, gen: Any, cfg: StagingConfig, seed: int, orientation: str
) -> None:
    """The sampled graph as one stage, or (a sequence staging such as ``fb``) as
    ``cfg.fb_stages`` graphs in sequence, each of its share of ``n`` and its own seed."""
    if not create_staging(cfg.name).sequence:
        builder.add_stage(orient(gen.sample(seed), orientation), fixed_stage=False)
        return
    sizes = _split(gen.n, cfg.fb_stages, gen.size_unit())
    for s, size in enumerate(sizes):
        try:
            sub = create_generator(name, **{**gen.params(), "n": size})
        except ConfigError as exc:
            raise ConfigError(
                f"fb staging splits n={gen.n} into graphs of {sizes} vertices: {exc}"
            ) from exc
        sub_seed = int(np.random.SeedSequence([seed, s]).generate_state(1)[0])
        builder.add_stage(orient(sub.sample(sub_seed), orientation), fixed_stage=True)


def _split(n: int, parts: int, unit: int = 1) -> list[int]:
    """``n`` vertices in ``parts`` near-equal stages, each a multiple of ``unit`` (the last takes
    the remainder): 40 in 3 -> 13, 13, 14; with lanes of width 4 -> 12, 12, 16."""
    units = n // unit
    if units < parts:
        raise ConfigError(
            f"fb staging needs n >= fb_stages x {unit}, got n={n} fb_stages={parts}"
            if unit > 1
            else f"fb staging needs n >= fb_stages, got n={n} fb_stages={parts}"
        )
    base = [units // parts * unit] * parts
    base[-1] += n - sum(base)
    return base


class _Builder:
    """Accumulates nodes, edges and stages while DAGs are appended stage by stage."""

    def __init__(self, cfg: StagingConfig, stem_hw: int, rng: np.random.Generator) -> None:
        self.cfg = cfg
        self.stem_hw = stem_hw
        self.rng = rng
        self.nodes: list[Node] = []
        self.edges: list[Edge] = []
        self.stages: list[Stage] = []
        self._by_id: dict[int, Node] = {}

    def _add_node(self, node: Node) -> int:
        self.nodes.append(node)
        self._by_id[node.id] = node
        return node.id

    def _connect(self, src: int, dst: int) -> None:
        a, b = self._by_id[src], self._by_id[dst]
        self.edges.append(
            Edge(src, dst, pool=b.in_scale // a.scale, project=a.channels != b.in_channels)
        )

    def _may_stage(self, in_channels: int, in_scale: int) -> bool:
        return in_channels < self.cfg.c_max and self.stem_hw // (in_scale * 2) >= self.cfg.min_size

    def _decide(self, in_channels: int, in_scale: int) -> bool:
        draw = self.rng.random()  # drawn for every block so decisions do not shift each other
        rule = create_staging(self.cfg.name).vertex_staging
        if rule == "never" or not self._may_stage(in_channels, in_scale):
            return False
        return rule == "always" or draw < self.cfg.stage_prob

    def add_stage(self, dag: nx.DiGraph, *, fixed_stage: bool) -> None:
        """Append ``dag`` as one stage between a fresh input vertex and a fresh mean vertex."""
        first = len(self.nodes)
        if not self.stages:
            entry = self._add_node(Node(first, "input", self.cfg.channels, 1))
        else:
            prev = self._by_id[self.stages[-1].output]
            stage = fixed_stage and self._may_stage(prev.channels, prev.scale)
            factor = 2 if stage else 1
            entry = self._add_node(
                Node(first, "sepconv3x3", prev.channels * factor, prev.scale * factor, stage)
            )
            self._connect(prev.id, entry)
        offset = entry + 1
        ids: dict[int, int] = {v: offset + i for i, v in enumerate(sorted(dag.nodes))}
        for v in nx.lexicographical_topological_sort(dag):
            preds = [ids[u] for u in dag.predecessors(v)] or [entry]
            in_c = max(self._by_id[p].channels for p in preds)
            in_s = max(self._by_id[p].scale for p in preds)
            st = self._decide(in_c, in_s)
            self._add_node(
                Node(ids[v], "sepconv3x3", in_c * (2 if st else 1), in_s * (2 if st else 1), st)
            )
            for p in sorted(preds):
                self._connect(p, ids[v])
        sinks = sorted(ids[v] for v in dag.nodes if dag.out_degree(v) == 0)
        exit_id = offset + len(ids)
        self._add_node(
            Node(
                exit_id,
                "mean",
                max(self._by_id[s].channels for s in sinks),
                max(self._by_id[s].scale for s in sinks),
            )
        )
        for s in sinks:
            self._connect(s, exit_id)
        self.nodes.sort(key=lambda n: n.id)
        self.stages.append(
            Stage(len(self.stages), entry, exit_id, tuple(range(first, exit_id + 1)))
        )
