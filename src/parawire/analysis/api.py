"""``analyze``: how well one inference of a network distributes over n devices, and where to run.

One call resolves the network (a spec, a spec file, a cost graph, a PyTorch module or a model
name such as ``torchvision:resnet50``) into a cost graph with the deployment's wire dtype and
scatter mode, gathers candidate placements (``parawire.analysis.deployment``), simulates them on
a device/link profile, keeps the one the selection asks for and returns every figure in one
:class:`AnalysisResult`, with the paper's CS choice and a verdict beside it::

    import parawire
    result = parawire.analyze(parawire.generate("dp", seed=0), devices=4, profile="rpi4-wifi")
    print(result.speedup, result.devices_used, result.verdict.text)

``compare`` runs each registered partitioner on the same graph, side by side.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parawire.analysis.costs import DEFAULT_SCATTER, check_scatter, deploy, dtype_size, spec_costs
from parawire.analysis.deployment import (
    DEFAULT_EFFORT,
    DEFAULT_SELECTION,
    PAPER_PARTITIONER,
    SELECTIONS,
    Candidate,
    Verdict,
    candidates,
    check_effort,
    check_selection,
    choose,
    cs_choice,
    partition_options,
    refine,
    sure_choice,
    verdict,
)
from parawire.analysis.graph import CostGraph
from parawire.analysis.metrics import (
    DEFAULT_WEIGHTS,
    PlacementMetrics,
    ScoreWeights,
    check_devices,
    depth_histogram,
    longest_path_vertices,
    t1_over_cp,
)
from parawire.analysis.partitioners import EPS_SWEEP, list_partitioners
from parawire.analysis.profiles import Profile, create_profile
from parawire.analysis.simulate import Schedule, compute_seconds
from parawire.arch.spec import ArchSpec
from parawire.errors import ConfigError

__all__ = ["SELECTIONS", "AnalysisResult", "analyze", "analyze_many", "compare", "resolve_graph"]


@dataclass(frozen=True)
class AnalysisResult:
    """Every figure of one analysis; ``to_dict()`` is the JSON the CLI prints."""

    name: str  # the network analysed
    devices: int  # k: the devices available
    profile: str  # device/link profile name
    partitioner: str  # registry name of the partitioner of the chosen placement
    select: str  # how the placement was chosen (latency, cs, makespan)
    effort: str  # how hard the candidates were searched (full, fast)
    wire_dtype: str  # dtype of the tensors sent between devices
    scatter: str  # "image": devices run the stem from the image; "stem": they get its output
    vertices: int  # |V|, input and output vertices included
    devices_used: int  # devices the chosen placement puts work on (<= devices)
    cs: float  # concurrency score of the chosen placement (lower is better)
    eta: float  # longest path / (|V| / n) at the chosen placement's n
    delta_w: float  # max part weight / average part weight
    comm_bytes: int  # Lambda: bytes sent between devices
    comm_norm: float  # Lambda' = Lambda / (U_c n), U_c one float32 input image
    entropy: float  # normalised Shannon entropy of the part weights (1 = perfect balance)
    speedup: float  # S = T_1 / T by schedule simulation
    makespan_s: float  # T: simulated latency of one inference with the chosen placement
    single_device_s: float  # T_1: the same network on one device of the profile
    t1_over_cp: float  # parallelism bound: total work / critical-path work (profile seconds)
    depth: int  # vertices on the longest input-to-output path
    depth_histogram: tuple[int, ...]  # vertices at each depth (EDGE'23 Figure 10)
    placement: dict[int, int]  # vertex id -> device
    eps: float | None  # balance tolerance of the chosen option (None: not eps-driven)
    metrics: PlacementMetrics  # all placement metrics of the chosen option
    options: tuple[dict[str, Any], ...]  # the chosen partitioner's options at the chosen n
    paper: dict[str, Any]  # the paper's choice (kahypar, k devices, lowest CS): its figures
    candidates: int  # placements simulated to choose
    verdict: Verdict  # bound, break-even bandwidth, recommendation in words
    schedule: Schedule = field(repr=False)  # the simulated schedule (timeline included)

    def to_dict(self, *, timeline: bool = False) -> dict[str, Any]:
        """JSON-ready dict; ``timeline=True`` adds every compute and transfer interval."""
        schedule = self.schedule.to_dict(timeline=timeline)
        return {
            "name": self.name,
            "devices": self.devices,
            "devices_used": self.devices_used,
            "profile": self.profile,
            "partitioner": self.partitioner,
            "select": self.select,
            "effort": self.effort,
            "wire_dtype": self.wire_dtype,
            "scatter": self.scatter,
            "vertices": self.vertices,
            "cs": self.cs,
            "eta": self.eta,
            "delta_w": self.delta_w,
            "comm_bytes": self.comm_bytes,
            "comm_norm": self.comm_norm,
            "entropy": self.entropy,
            "speedup": self.speedup,
            "makespan_s": self.makespan_s,
            "single_device_s": self.single_device_s,
            "t1_over_cp": self.t1_over_cp,
            "depth": self.depth,
            "depth_histogram": list(self.depth_histogram),
            "eps": self.eps,
            "placement": {str(v): d for v, d in sorted(self.placement.items())},
            "metrics": self.metrics.to_dict(),
            "options": list(self.options),
            "paper": self.paper,
            "candidates": self.candidates,
            "verdict": self.verdict.to_dict(),
            "schedule": schedule,
        }

    def to_json(self, *, timeline: bool = False, indent: int | None = None) -> str:
        """The ``to_dict`` as a JSON string."""
        return json.dumps(self.to_dict(timeline=timeline), indent=indent)


def resolve_graph(
    target: Any,
    *,
    example_input: Any = None,
    batch: int = 1,
    wire_dtype: str | None = None,
    scatter: str | None = None,
) -> CostGraph:
    """A checked cost graph from a spec, spec path, cost graph, module or model name.

    ``wire_dtype`` and ``scatter`` default to float32 and image scatter for specs and models,
    and leave a given ``CostGraph`` as it is.
    """
    if wire_dtype is not None:
        dtype_size(wire_dtype)
    if scatter is not None:
        check_scatter(scatter)
    if isinstance(target, CostGraph):
        return deploy(target.check(), wire_dtype=wire_dtype, scatter=scatter)
    if isinstance(target, ArchSpec):
        return spec_costs(
            target,
            batch=batch,
            wire_dtype=wire_dtype or "float32",
            scatter=scatter or DEFAULT_SCATTER,
        ).check()
    if isinstance(target, (str, Path)):
        return _graph_from_name(str(target), batch=batch, wire_dtype=wire_dtype, scatter=scatter)
    import torch

    if isinstance(target, torch.nn.Module):
        if example_input is None:
            raise ConfigError(
                "analyzing a torch module needs example_input (e.g. torch.randn(1, 3, 224, 224))"
            )
        from parawire.analysis.trace import from_module

        graph = from_module(target, example_input).check()
        return deploy(graph, wire_dtype=wire_dtype, scatter=scatter or DEFAULT_SCATTER)
    raise ConfigError(
        f"cannot analyze a {type(target).__name__}; pass an ArchSpec, a spec JSON path, a "
        "CostGraph, a torch.nn.Module with example_input, or a model name like torchvision:resnet50"
    )


def _graph_from_name(
    text: str, *, batch: int, wire_dtype: str | None, scatter: str | None
) -> CostGraph:
    from parawire.nn.model_ref import ModelRef, model_or_file

    found = model_or_file(text)
    if isinstance(found, Path):
        from parawire.arch import load_spec

        return resolve_graph(load_spec(found), batch=batch, wire_dtype=wire_dtype, scatter=scatter)
    from parawire.analysis.trace import from_module

    ref = ModelRef.named(found)
    graph = from_module(ref.build(), ref.example(), name=found).check()
    return deploy(graph, wire_dtype=wire_dtype, scatter=scatter or DEFAULT_SCATTER)


def analyze(
    target: Any,
    devices: int = 4,
    profile: str | Profile = "rpi4-wifi",
    partitioner: str | None = None,
    *,
    select: str = DEFAULT_SELECTION,
    wire_dtype: str | None = None,
    scatter: str | None = None,
    example_input: Any = None,
    eps: Sequence[float] = EPS_SWEEP,
    seed: int = 0,
    weights: ScoreWeights = DEFAULT_WEIGHTS,
    partitioner_options: Mapping[str, Any] | None = None,
    batch: int = 1,
    refine_moves: bool = True,
    effort: str = DEFAULT_EFFORT,
) -> AnalysisResult:
    """Choose and simulate a deployment of ``target`` on up to ``devices``; see the module doc.

    ``select``: ``latency`` (default) keeps the fastest simulated placement among every
    partitioner's options on 1..k devices (only ``partitioner``'s, and one device, when one is
    named), then improves it by single-vertex moves while the simulated latency falls
    (``refine_moves``); ``cs`` the paper's choice (lowest concurrency score of
    ``partitioner``, default kahypar, at exactly k); ``makespan`` the fastest option of
    ``partitioner`` at exactly k. ``wire_dtype`` and ``scatter`` set what crosses the network
    (default float32, image). ``effort``: ``full`` (default) searches every partitioner start;
    ``fast`` skips kahypar's from-scratch start (its V-cycles from the component groups stay),
    about 3.5x cheaper, for scoring many candidates (search), and its choices may differ (the
    paper's choice too: it is then made from the same cheaper kahypar).
    """
    check_devices(devices)
    check_selection(select)
    check_effort(effort)
    prof = create_profile(profile)
    graph = resolve_graph(
        target, example_input=example_input, batch=batch, wire_dtype=wire_dtype, scatter=scatter
    )
    check_devices(devices, graph)
    common = {"eps": eps, "seed": seed, "weights": weights, "effort": effort}
    pool = _pool(graph, devices, prof, partitioner, select, partitioner_options, common)
    base = chosen = choose(pool, select, devices)
    if select == "latency" and refine_moves and chosen.devices_used > 1:
        chosen = refine(graph, chosen, prof, devices, weights=weights)
    if select == "latency":
        chosen = sure_choice(graph, [*pool, chosen], chosen, prof)
    paper_pool = [
        c for c in pool if c.placement.partitioner == PAPER_PARTITIONER
        and c.placement.devices == devices
    ] or partition_options(graph, devices, PAPER_PARTITIONER, prof, **common)  # fmt: skip
    paper = cs_choice(paper_pool)
    return _result(graph, devices, prof, select, effort, pool, base, chosen, paper)


def _pool(
    graph: CostGraph,
    devices: int,
    prof: Profile,
    partitioner: str | None,
    select: str,
    partitioner_options: Mapping[str, Any] | None,
    common: dict[str, Any],
) -> list[Candidate]:
    """The candidates ``select`` chooses among: every partitioner (or ``partitioner``) on
    1..k devices for ``latency``, else ``partitioner`` (default kahypar) at exactly k."""
    options = dict(partitioner_options or {}) if partitioner is not None else None
    if select == "latency":
        names = [partitioner] if partitioner is not None else list_partitioners()
        return candidates(graph, devices, prof, names, partitioner_options=options, **common)
    name = partitioner or PAPER_PARTITIONER
    return partition_options(graph, devices, name, prof, partitioner_options=options, **common)


def analyze_many(
    targets: Iterable[Any],
    devices: int = 4,
    profile: str | Profile = "rpi4-wifi",
    partitioner: str | None = None,
    **options: Any,
) -> list[AnalysisResult]:
    """``analyze`` of every target with the same settings, in order (search and study scoring).

    The profile is resolved and checked once; what else one analysis builds per process (the
    Mt-KaHyPar initializer and its contexts per k and eps) is made by the first target and
    reused by the rest, and each graph's own set-up (hypergraph, components, priced simulator)
    is made once and shared by every partitioner and device count. ``options`` are
    ``analyze``'s keyword options.
    """
    prof = create_profile(profile)
    return [analyze(target, devices, prof, partitioner, **options) for target in targets]


def _result(
    graph: CostGraph,
    devices: int,
    prof: Profile,
    select: str,
    effort: str,
    pool: Sequence[Candidate],
    base: Candidate,
    chosen: Candidate,
    paper: Candidate,
) -> AnalysisResult:
    """The result of ``chosen`` (``base`` refined, or ``base`` itself) among ``pool``."""
    m, schedule = chosen.metrics, chosen.schedule
    siblings = [
        c.summary()
        for c in pool
        if c.placement.partitioner == base.placement.partitioner
        and c.placement.devices == base.placement.devices
    ]
    return AnalysisResult(
        name=graph.name,
        devices=devices,
        profile=prof.name,
        partitioner=chosen.placement.partitioner,
        select=select,
        effort=effort,
        wire_dtype=graph.wire_dtype,
        scatter="image" if graph.replicate_source else "stem",
        vertices=len(graph.vertices),
        devices_used=chosen.devices_used,
        cs=m.cs,
        eta=m.eta,
        delta_w=m.delta_w,
        comm_bytes=m.comm_bytes,
        comm_norm=m.comm_norm,
        entropy=m.entropy,
        speedup=schedule.speedup,
        makespan_s=schedule.makespan_s,
        single_device_s=schedule.single_device_s,
        t1_over_cp=t1_over_cp(graph, compute_seconds(graph, prof)),
        depth=longest_path_vertices(graph),
        depth_histogram=tuple(depth_histogram(graph)),
        placement=dict(chosen.placement.assignment),
        eps=chosen.placement.eps,
        metrics=m,
        options=tuple(siblings),
        paper=paper.summary(),
        candidates=len(pool) + (chosen is not base),
        verdict=verdict(graph, [*pool, chosen], chosen, paper, prof, devices),
        schedule=schedule,
    )


def compare(
    target: Any,
    devices: int = 4,
    profile: str | Profile = "rpi4-wifi",
    partitioners: Sequence[str] | None = None,
    *,
    select: str = "makespan",
    wire_dtype: str | None = None,
    scatter: str | None = None,
    example_input: Any = None,
    eps: Sequence[float] = EPS_SWEEP,
    seed: int = 0,
    weights: ScoreWeights = DEFAULT_WEIGHTS,
    batch: int = 1,
    effort: str = DEFAULT_EFFORT,
) -> list[AnalysisResult]:
    """``analyze`` with each partitioner (all registered by default) on the same graph.

    Each row is that partitioner at exactly k devices, its option chosen by ``select``
    (``makespan`` by default; ``latency`` counts as ``makespan`` here, since a row is one
    partitioner at k).
    """
    check_devices(devices)
    check_selection(select)
    row_select = "makespan" if select == "latency" else select
    prof = create_profile(profile)
    names = list(partitioners) if partitioners is not None else list_partitioners()
    graph = resolve_graph(
        target, example_input=example_input, batch=batch, wire_dtype=wire_dtype, scatter=scatter
    )
    return [
        analyze(
            graph,
            devices,
            prof,
            name,
            select=row_select,
            eps=eps,
            seed=seed,
            weights=weights,
            effort=effort,
        )
        for name in names
    ]
