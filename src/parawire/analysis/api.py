"""``analyze``: how well one inference of a network distributes over n devices, and where to run.

One call resolves the network (a spec, a spec file, a cost graph, a PyTorch module or a model
name such as ``torchvision:resnet50``) into a cost graph, partitions it (an eps sweep scored by
the EDGE'23 concurrency score), simulates the chosen placement on a device/link profile and
returns every figure in one :class:`AnalysisResult`::

    import parawire
    result = parawire.analyze(parawire.generate("dp", seed=0), devices=4, profile="rpi4-wifi")
    print(result.cs, result.speedup, result.placement)

``compare`` runs every registered partitioner on the same graph, side by side.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parawire.analysis.costs import spec_costs
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
from parawire.analysis.partitioners import (
    EPS_SWEEP,
    PartitionOption,
    create_partitioner,
    list_partitioners,
    sweep_eps,
)
from parawire.analysis.profiles import Profile, get_profile
from parawire.analysis.simulate import Schedule, compute_seconds, simulate
from parawire.arch.spec import ArchSpec
from parawire.errors import ConfigError

SELECTIONS = ("cs", "makespan")  # how the placement is chosen among the eps-sweep options
CS_DECIMALS = 3  # select="cs": scores equal to this many decimals count as a tie


@dataclass(frozen=True)
class AnalysisResult:
    """Every figure of one analysis; ``to_dict()`` is the JSON the CLI prints."""

    name: str  # the network analysed
    devices: int  # n
    profile: str  # device/link profile name
    partitioner: str  # registry name of the partitioner
    vertices: int  # |V|, input and output vertices included
    cs: float  # concurrency score of the chosen placement (lower is better)
    eta: float  # longest path / (|V| / n)
    delta_w: float  # max part weight / average part weight
    comm_bytes: int  # Lambda: bytes sent between devices
    comm_norm: float  # Lambda' = Lambda / (U_c n), floored at U_c when nothing is cut
    entropy: float  # normalised Shannon entropy of the part weights (1 = perfect balance)
    speedup: float  # S_n = T_1 / T_n by schedule simulation
    makespan_s: float  # T_n: simulated latency of one inference on n devices
    single_device_s: float  # T_1: the same network on one device of the profile
    t1_over_cp: float  # parallelism bound: total work / critical-path work (profile seconds)
    depth: int  # vertices on the longest input-to-output path
    depth_histogram: tuple[int, ...]  # vertices at each depth (EDGE'23 Figure 10)
    placement: dict[int, int]  # vertex id -> device
    eps: float | None  # balance tolerance of the chosen option (None: not eps-driven)
    metrics: PlacementMetrics  # all placement metrics of the chosen option
    options: tuple[dict[str, Any], ...]  # every eps-sweep option: metrics, makespan, speedup
    schedule: Schedule = field(repr=False)  # the simulated schedule (timeline included)

    def to_dict(self, *, timeline: bool = False) -> dict[str, Any]:
        """JSON-ready dict; ``timeline=True`` adds every compute and transfer interval."""
        schedule = self.schedule.to_dict(timeline=timeline)
        return {
            "name": self.name,
            "devices": self.devices,
            "profile": self.profile,
            "partitioner": self.partitioner,
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
    dtype: str = "float32",
) -> CostGraph:
    """A checked cost graph from a spec, spec path, cost graph, module or model name."""
    if isinstance(target, CostGraph):
        return target.check()
    if isinstance(target, ArchSpec):
        return spec_costs(target, batch=batch, dtype=dtype).check()
    if isinstance(target, (str, Path)):
        return _graph_from_name(str(target), batch=batch, dtype=dtype)
    import torch

    if isinstance(target, torch.nn.Module):
        if example_input is None:
            raise ConfigError(
                "analyzing a torch module needs example_input (e.g. torch.randn(1, 3, 224, 224))"
            )
        from parawire.analysis.trace import from_module

        return from_module(target, example_input).check()
    raise ConfigError(
        f"cannot analyze a {type(target).__name__}; pass an ArchSpec, a spec JSON path, a "
        "CostGraph, a torch.nn.Module with example_input, or a model name like torchvision:resnet50"
    )


def _graph_from_name(text: str, *, batch: int, dtype: str) -> CostGraph:
    path = Path(text)
    if path.is_file():
        from parawire.arch import load_spec

        return spec_costs(load_spec(path), batch=batch, dtype=dtype).check()
    if ":" in text and path.suffix != ".json":
        from parawire.analysis.trace import from_module, resolve_model

        module, example = resolve_model(text)
        return from_module(module, example, name=text).check()
    raise ConfigError(
        f"{text!r} is neither a spec file nor a model name; give an existing arch.json or a "
        "name such as torchvision:resnet50 or baseline:cifarnet"
    )


def _option_row(option: PartitionOption, schedule: Schedule) -> dict[str, Any]:
    return {**option.to_dict(), "makespan_s": schedule.makespan_s, "speedup": schedule.speedup}


def analyze(
    target: Any,
    devices: int = 4,
    profile: str | Profile = "rpi4-wifi",
    partitioner: str = "kahypar",
    *,
    example_input: Any = None,
    eps: Sequence[float] = EPS_SWEEP,
    seed: int = 0,
    weights: ScoreWeights = DEFAULT_WEIGHTS,
    select: str = "cs",
    partitioner_options: Mapping[str, Any] | None = None,
    batch: int = 1,
    dtype: str = "float32",
) -> AnalysisResult:
    """Partition ``target`` over ``devices``, score it, simulate it; see :class:`AnalysisResult`.

    ``eps`` are the balance tolerances swept (eps-driven partitioners only); ``select`` picks the
    option kept: "cs" (lowest concurrency score, the paper's choice) or "makespan" (fastest
    simulated schedule).
    """
    check_devices(devices)
    if select not in SELECTIONS:
        raise ConfigError(f"unknown select {select!r}; choose one of {', '.join(SELECTIONS)}")
    prof = get_profile(profile)
    part = create_partitioner(partitioner, **dict(partitioner_options or {}))
    graph = resolve_graph(target, example_input=example_input, batch=batch, dtype=dtype)
    return _analyze_graph(graph, devices, prof, part.name, part, eps, seed, weights, select)


def _analyze_graph(
    graph: CostGraph,
    devices: int,
    prof: Profile,
    name: str,
    part: Any,
    eps: Sequence[float],
    seed: int,
    weights: ScoreWeights,
    select: str,
) -> AnalysisResult:
    check_devices(devices, graph)
    options = sweep_eps(
        part, graph, devices, eps_values=eps, profile=prof, seed=seed, weights=weights
    )
    schedules = [simulate(graph, o.placement.assignment, prof, devices=devices) for o in options]
    if select == "cs":
        # Near-equal scores are common (uniform tensors tie km1; a weight-1 vertex moves):
        # scores equal to CS_DECIMALS decimals are broken by the faster schedule.
        best = min(
            range(len(options)),
            key=lambda i: (round(options[i].metrics.cs, CS_DECIMALS), schedules[i].makespan_s),
        )
    else:
        best = min(range(len(options)), key=lambda i: schedules[i].makespan_s)
    chosen, schedule = options[best], schedules[best]
    m = chosen.metrics
    return AnalysisResult(
        name=graph.name,
        devices=devices,
        profile=prof.name,
        partitioner=name,
        vertices=len(graph.vertices),
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
        options=tuple(_option_row(o, s) for o, s in zip(options, schedules, strict=True)),
        schedule=schedule,
    )


def compare(
    target: Any,
    devices: int = 4,
    profile: str | Profile = "rpi4-wifi",
    partitioners: Sequence[str] | None = None,
    *,
    example_input: Any = None,
    eps: Sequence[float] = EPS_SWEEP,
    seed: int = 0,
    weights: ScoreWeights = DEFAULT_WEIGHTS,
    select: str = "cs",
    batch: int = 1,
    dtype: str = "float32",
) -> list[AnalysisResult]:
    """``analyze`` with every partitioner (all registered by default) on the same graph."""
    check_devices(devices)
    if select not in SELECTIONS:
        raise ConfigError(f"unknown select {select!r}; choose one of {', '.join(SELECTIONS)}")
    prof = get_profile(profile)
    names = list(partitioners) if partitioners is not None else list_partitioners()
    parts = [create_partitioner(n) for n in names]
    graph = resolve_graph(target, example_input=example_input, batch=batch, dtype=dtype)
    return [
        _analyze_graph(graph, devices, prof, p.name, p, eps, seed, weights, select) for p in parts
    ]
