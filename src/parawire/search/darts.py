"""Differentiable wiring search: DARTS over the edges of a dense DAG, with a latency term.

Liu, Simonyan, Yang, "DARTS: Differentiable Architecture Search", ICLR 2019 (arXiv
1806.09055), applied to wiring as Xu et al., "Latency-Aware Differentiable Neural Architecture
Search" (arXiv 2001.06392) apply it with a latency loss:

* **Supernet** (:func:`supernet_spec`): ``nodes`` sepconv vertices, every forward edge
  ``i -> j`` (i < j), the input vertex feeding every vertex and every vertex feeding the
  output vertex (merge ``maps``: a mean of maps). With ``stages`` > 1 the vertices are staged
  the way generated specs are (``parawire.arch.generate``): they fall in ``stages`` consecutive
  levels of near-equal size, the first vertex of each level after the first stages (2x2
  max-pool, channels x2), so level ``s`` runs at ``channels * 2**s`` channels and 1/2**s of
  the stem's resolution, and every edge that crosses levels carries the scaling block
  (max-pool, 1x1 projection) that its ends need. Each edge ``e`` has one architecture logit
  ``a_e`` and gate ``g_e = sigmoid(a_e)``: the vertices' own sigmoid aggregation weights are the
  gates of their in-edges, and the output vertex becomes a gated mean ``sum g x / sum g``.
* **Loss** of the architecture step: cross-entropy on held-out training images
  ``+ lambda * L(g) / L(1) + mu * mean(g)``, where ``L`` is the k-device latency of the relaxed
  architecture (``parawire.latency.relaxed_latency``, differentiable in the gates) on the
  deployment that spreads the supernet over all k devices (``analyze(select="makespan")``),
  divided by the supernet's own latency so that ``lambda`` is free of units; ``mu`` is the
  optional sparsity weight.
* **Alternation** (first-order DARTS): each step updates the network weights on a batch of one
  half of the training split, then the architecture logits on a batch of the other half.
* **Discretisation** (:func:`discretise`): keep the edges whose gate is at least ``threshold``,
  always keep the strongest input-to-output path (so the network is never empty) and, with
  ``per_vertex``, each vertex's strongest in- and out-edge; drop the vertices no longer on an
  input-to-output path; the result is a valid spec.

A sweep over ``lambda`` (:func:`sweep`) trains each discretised network from scratch with the
same budget and gives an accuracy/latency curve.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import torch
from torch import nn

from parawire._version import __version__
from parawire.arch.spec import ArchSpec, Provenance, Stage
from parawire.data import ImageSplits, make_batches
from parawire.errors import ConfigError
from parawire.filenames import DIFF_FILE
from parawire.report.tables import Table
from parawire.search.supernet import Supernet, supernet_spec

Log = Callable[[str], None]


@dataclass(frozen=True)
class DiffConfig:
    """One differentiable wiring search (``parawire search diff``)."""

    nodes: int = 8  # sepconv vertices of the supernet
    channels: int = 16  # width of the first level's vertices (the stem's width)
    stages: int = 1  # resolution levels: each after the first halves the maps, doubles width
    stem_stride: int = 2  # stem downsampling (2: 16x16 maps on 32x32 images)
    devices: int = 4  # k of the latency term
    profile: str = "rpi4-wifi"  # device/link profile of the latency term
    wire_dtype: str = "float32"  # dtype on the wire in the latency term
    lam: float = 1.0  # weight of the normalised latency term
    sparsity: float = 0.0  # weight of the mean gate (pushes every edge off)
    search_epochs: int = 4  # epochs of alternating updates
    batch_size: int = 32  # images per step (each half of the training split)
    lr: float = 0.05  # SGD learning rate of the network weights (cosine to 0)
    arch_lr: float = 0.05  # Adam learning rate of the architecture logits
    threshold: float = 0.5  # discretisation: keep edges whose gate is at least this
    per_vertex: bool = False  # discretisation: each vertex keeps its strongest in- and out-edge
    seed: int = 0  # data split, initialisation and batch order

    def check(self) -> DiffConfig:
        """Raise ``ConfigError`` on an out-of-range value; returns self."""
        for name in (
            "nodes", "channels", "stages", "stem_stride", "devices", "search_epochs", "batch_size"
        ):  # fmt: skip
            if type(getattr(self, name)) is not int or getattr(self, name) < 1:
                raise ConfigError(f"differentiable search: {name} must be a whole number >= 1")
        if self.nodes < 2:
            raise ConfigError("differentiable search: the supernet needs at least 2 nodes")
        if self.stages > self.nodes:
            raise ConfigError(
                f"differentiable search: {self.stages} stages need at least as many nodes, got "
                f"{self.nodes}; raise --nodes or lower --stages"
            )
        for name in ("lam", "sparsity", "lr", "arch_lr"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"differentiable search: {name} must be a number >= 0")
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError("differentiable search: threshold must lie in (0, 1)")
        return self


def spread_placement(spec: ArchSpec, cfg: DiffConfig) -> dict[int, int]:
    """The supernet's deployment on all k devices: the fastest simulated placement of the
    paper's partitioner at exactly k (``analyze(select="makespan")``). On fewer devices the
    wiring would not change the latency, and the latency term would teach nothing."""
    from parawire.analysis.api import analyze

    if cfg.devices == 1:
        return {n.id: 0 for n in spec.nodes}
    k = min(cfg.devices, len(spec.nodes))
    result = analyze(spec, k, cfg.profile, select="makespan", wire_dtype=cfg.wire_dtype)
    return dict(result.placement)


@dataclass
class DiffResult:
    """What one differentiable search ended with."""

    lam: float  # the latency weight it ran with
    gates: list[float]  # final gate of every supernet edge (spec order)
    relaxed_latency_s: float  # L(g) at the end, on the spread placement
    supernet_latency_s: float  # L(1): every edge present
    history: list[dict[str, float]] = field(default_factory=list)  # per step: losses, latency
    spec: ArchSpec | None = None  # the discretised architecture
    seconds: float = 0.0  # wall time of the search


def _halves(splits: ImageSplits, seed: int) -> tuple[ImageSplits, ImageSplits]:
    """The training split cut in two seeded halves: network weights, architecture."""
    n = len(splits.train_labels)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    a, b = order[: n // 2], order[n // 2 :]

    def part(idx: torch.Tensor) -> ImageSplits:
        return dataclasses.replace(
            splits, train_images=splits.train_images[idx], train_labels=splits.train_labels[idx]
        )

    return part(a), part(b)


class _BilevelStep:
    """One step of the bilevel search: the network's weights on one half of the training
    data, then the architecture (gates) on the other, against cross-entropy plus ``lam``
    times the relaxed latency (relative to the full supernet's) plus the gates' sparsity."""

    def __init__(
        self,
        model: Supernet,
        cfg: DiffConfig,
        steps: int,
        latency: Callable[[torch.Tensor], torch.Tensor],
        full: float,
    ) -> None:
        self.model, self.cfg, self.latency, self.full = model, cfg, latency, full
        self.opt_w = torch.optim.SGD(
            model.weight_parameters(), lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=5e-4
        )
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt_w, max(1, steps))
        self.opt_a = torch.optim.Adam(model.arch_parameters(), lr=cfg.arch_lr, betas=(0.5, 0.999))
        self.ce = nn.CrossEntropyLoss()

    def __call__(
        self, weights_batch: tuple[torch.Tensor, ...], arch_batch: tuple[torch.Tensor, ...]
    ) -> dict[str, float]:
        (xw, yw), (xa, ya) = weights_batch, arch_batch
        loss_w = self.ce(self.model(xw), yw)  # network weights on one half
        self.opt_w.zero_grad(set_to_none=True)
        loss_w.backward()
        self.opt_w.step()
        self.sched.step()
        gates = self.model.gates()  # architecture on the other half
        lat = self.latency(gates) / self.full
        loss_ce = self.ce(self.model(xa), ya)
        loss_a = loss_ce + self.cfg.lam * lat + self.cfg.sparsity * gates.mean()
        self.opt_a.zero_grad(set_to_none=True)
        loss_a.backward()
        self.opt_a.step()
        return {
            "loss_w": loss_w.item(),
            "ce_arch": loss_ce.item(),
            "latency_rel": lat.item(),
            "loss_arch": loss_a.item(),
        }


def search_wiring(splits: ImageSplits, cfg: DiffConfig, log: Log | None = None) -> DiffResult:
    """Run one differentiable wiring search (module docstring); CPU, seeded."""
    from parawire.latency.differentiable import relaxed_latency

    cfg.check()
    t0 = time.perf_counter()
    spec = supernet_spec(
        cfg.nodes,
        cfg.channels,
        splits.input_shape,
        splits.num_classes,
        cfg.stem_stride,
        cfg.stages,
    )
    placement = spread_placement(spec, cfg)

    def latency(gates: torch.Tensor) -> torch.Tensor:
        return relaxed_latency(
            spec,
            gates,
            devices=cfg.devices,
            placement=placement,
            profile=cfg.profile,
            wire_dtype=cfg.wire_dtype,
        )

    full = float(latency(torch.ones(len(spec.edges))))
    torch.manual_seed(cfg.seed)
    model = Supernet(spec)
    half_w, half_a = _halves(splits, cfg.seed)
    device = torch.device("cpu")
    batches_w, _ = make_batches(half_w, batch_size=cfg.batch_size, device=device)
    batches_a, _ = make_batches(half_a, batch_size=cfg.batch_size, device=device)
    steps = cfg.search_epochs * min(len(batches_w), len(batches_a))
    step = _BilevelStep(model, cfg, steps, latency, full)
    history: list[dict[str, float]] = []
    model.train()
    for epoch in range(cfg.search_epochs):
        pairs = zip(  # the halves differ by at most one batch: the shorter one ends the epoch
            batches_w.epoch(cfg.seed, epoch), batches_a.epoch(cfg.seed + 1, epoch), strict=False
        )
        history += [step(w, a) for w, a in pairs]
        if log:
            last = history[-1]
            log(
                f"lambda {cfg.lam:g} epoch {epoch + 1}/{cfg.search_epochs}: ce "
                f"{last['ce_arch']:.3f}, relaxed latency {last['latency_rel']:.3f} of the supernet"
            )
    with torch.no_grad():
        gates = model.gates()
        final = float(latency(gates))
    result = DiffResult(cfg.lam, gates.tolist(), final, full, history)
    result.spec = discretise(
        spec, gates.tolist(), cfg.threshold, _provenance(cfg), per_vertex=cfg.per_vertex
    )
    result.seconds = time.perf_counter() - t0
    return result


def _provenance(cfg: DiffConfig) -> Provenance:
    return Provenance(
        generator="darts",
        params={"nodes": cfg.nodes, "stages": cfg.stages, "lam": cfg.lam, "sparsity": cfg.sparsity,
                "devices": cfg.devices, "profile": cfg.profile, "threshold": cfg.threshold,
                "per_vertex": cfg.per_vertex},
        seed=cfg.seed,
        parawire_version=__version__,
    )  # fmt: skip


def discretise(
    spec: ArchSpec,
    gates: list[float],
    threshold: float,
    provenance: Provenance | None = None,
    *,
    per_vertex: bool = False,
) -> ArchSpec:
    """The supernet with only its strong edges (module docstring), renumbered and validated.

    ``per_vertex``: every vertex also keeps its strongest in-edge and its strongest out-edge
    (DARTS keeps the top in-edges of each node), so that no vertex is lost because all its gates
    sit just under the threshold: only edges go, the vertices stay.
    """
    src, dst = spec.input_node, spec.output_node
    g = nx.DiGraph()
    g.add_nodes_from(n.id for n in spec.nodes)
    for e, gate in zip(spec.edges, gates, strict=True):
        g.add_edge(e.src, e.dst, cost=-math.log(max(gate, 1e-12)))
    strongest = nx.shortest_path(g, src, dst, weight="cost")  # max product of gates (a DAG)
    keep = nx.DiGraph()
    keep.add_nodes_from(g.nodes)
    keep.add_edges_from(
        (e.src, e.dst) for e, gate in zip(spec.edges, gates, strict=True) if gate >= threshold
    )
    keep.add_edges_from(itertools.pairwise(strongest))
    if per_vertex:
        gate_of = {(e.src, e.dst): gate for e, gate in zip(spec.edges, gates, strict=True)}
        for v in g.nodes:
            if v != src:
                keep.add_edge(max(g.predecessors(v), key=lambda u: gate_of[(u, v)]), v)
            if v != dst:
                keep.add_edge(v, max(g.successors(v), key=lambda w: gate_of[(v, w)]))
    alive = (nx.descendants(keep, src) | {src}) & (nx.ancestors(keep, dst) | {dst})
    order = [v for v in spec.topological_order if v in alive]
    new_id = {v: i for i, v in enumerate(order)}
    nodes = tuple(dataclasses.replace(spec.node_map[v], id=new_id[v]) for v in order)
    edges = tuple(
        dataclasses.replace(e, src=new_id[e.src], dst=new_id[e.dst])
        for e in spec.edges
        if e.src in alive and e.dst in alive and keep.has_edge(e.src, e.dst)
    )
    last = new_id[dst]
    return dataclasses.replace(
        spec,
        nodes=nodes,
        edges=edges,
        stages=(Stage(0, 0, last, tuple(range(last + 1))),),
        provenance=provenance or spec.provenance,
    ).validate()


def finalist(
    spec: ArchSpec,
    splits: ImageSplits,
    *,
    epochs: int,
    devices: int,
    profile: str,
    wire_dtype: str = "float32",
    seed: int = 0,
    recipe: str = "modern",
) -> dict[str, Any]:
    """A discrete architecture trained from scratch for ``epochs`` and its recommended
    deployment on up to ``devices``: test accuracy, simulated latency, parameters."""
    from parawire.analysis.api import analyze
    from parawire.analysis.costs import spec_costs
    from parawire.nn.model_ref import ModelRef
    from parawire.train.loop import train_model
    from parawire.train.recipes import create_recipe

    trained = train_model(
        ModelRef.from_spec(spec), splits, create_recipe(recipe), epochs=epochs, seed=seed
    )
    # up to k devices: a network of fewer vertices cannot use more than it has
    result = analyze(spec, min(devices, len(spec.nodes)), profile, wire_dtype=wire_dtype)
    return {
        "accuracy": float(trained.test_acc),
        "latency_ms": 1e3 * float(result.makespan_s),
        "single_device_ms": 1e3 * float(result.single_device_s),
        "devices_used": int(result.devices_used),
        "params": int(spec_costs(spec).total_params),
        "vertices": len(spec.nodes),
        "edges": len(spec.edges),
        "train_seconds": float(trained.train_seconds),
    }


def sweep(
    splits: ImageSplits,
    cfg: DiffConfig,
    lambdas: list[float],
    *,
    epochs: int,
    log: Log | None = None,
) -> list[dict[str, Any]]:
    """One search per ``lambda``, each discretised network trained ``epochs`` from scratch:
    the accuracy/latency curve, one row per lambda (with the spec as a dict)."""
    rows = []
    for lam in lambdas:
        result = search_wiring(splits, dataclasses.replace(cfg, lam=lam), log)
        assert result.spec is not None
        row = finalist(
            result.spec,
            splits,
            epochs=epochs,
            devices=cfg.devices,
            profile=cfg.profile,
            wire_dtype=cfg.wire_dtype,
            seed=cfg.seed,
        )
        row |= {
            "lambda": lam,
            "relaxed_latency_ms": 1e3 * result.relaxed_latency_s,
            "supernet_latency_ms": 1e3 * result.supernet_latency_s,
            "search_seconds": result.seconds,
            "spec": result.spec.to_dict(),
        }
        rows.append(row)
        if log:
            log(
                f"lambda {lam:g}: {row['vertices'] - 2} vertices, {row['edges']} edges, "
                f"{row['accuracy']:.2f}% after {epochs} epochs, {row['latency_ms']:.3f} ms on "
                f"{row['devices_used']} device(s) of {cfg.profile}"
            )
    return rows


def sweep_table(rows: list[dict[str, Any]], cfg: DiffConfig) -> Table:
    """The accuracy/latency curve of a sweep as a table."""
    return Table(
        "diff",
        f"Differentiable wiring search: {cfg.nodes}-vertex supernet in {cfg.stages} stage(s), "
        f"{cfg.devices} devices of "
        f"{cfg.profile}",
        ("lambda", "vertices", "edges", "params", "acc %", "latency ms", "devices",
         "relaxed ms"),
        tuple(
            (r["lambda"], r["vertices"] - 2, r["edges"], r["params"], r["accuracy"],
             r["latency_ms"], r["devices_used"], r["relaxed_latency_ms"])
            for r in rows
        ),
        ("latency ms: the finalist's recommended deployment, simulated; relaxed ms: the "
         "supernet's relaxed latency at the final gates, on all devices",),
    )  # fmt: skip


def write_sweep(
    out: Path,
    splits: ImageSplits,
    cfg: DiffConfig,
    lambdas: list[float],
    *,
    epochs: int,
    log: Log | None = None,
) -> Table:
    """Run :func:`sweep` and write ``out/diff.json`` and ``out/diff/lambda-<value>.json``."""
    from parawire._io import atomic_write, write_json

    rows = sweep(splits, cfg, lambdas, epochs=epochs, log=log)
    for row in rows:
        spec = ArchSpec.from_dict(row.pop("spec"))
        path = out / "diff" / f"lambda-{row['lambda']:g}.json"
        atomic_write(path, lambda tmp, s=spec: tmp.write_text(s.to_json()))
        row["spec"] = f"diff/{path.name}"
    write_json(
        out / DIFF_FILE,
        {"config": dataclasses.asdict(cfg), "dataset": splits.name, "epochs": epochs,
         "rows": rows},
    )  # fmt: skip
    return sweep_table(rows, cfg)
