"""The plan makers: choose where each vertex of a network runs and wrap it as a :class:`Plan`.

``make_plan`` analyses a spec or a named model (``parawire.analyze`` with the same options) and
keeps the fastest simulated deployment, its ranks relabelled with the input vertex on rank 0
(the driver, ``input_first``) and its schedule stored; ``load_plan_or_spec`` reads what a user
gives the runtime (a plan folder, a spec file or a model name) as a plan.

    plan = make_plan(spec, devices=4, profile="rpi4-wifi")   # the fastest simulated deployment
    plan = make_plan("cifarnet", devices=2)                   # a baseline, traced
    plan = load_plan_or_spec("plan/", devices=None)           # a plan folder as it is
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from parawire.analysis.costs import DEFAULT_SCATTER
from parawire.arch.spec import ArchSpec
from parawire.errors import ConfigError, DataError, SpecError
from parawire.nn.model_ref import ModelRef, model_or_file
from parawire.runtime.graph import RunGraph, graph_of
from parawire.runtime.plan import Plan, plan_file, read_plan_json, with_schedule


def input_first(placement: Mapping[int, int], spec: ArchSpec | RunGraph) -> dict[int, int]:
    """Relabel ranks 0..m-1 (m = ranks in use) with the input vertex on rank 0 (the driver).

    Rank labels are interchangeable; the other ranks keep their relative order, and ranks that
    hold no vertex are dropped (a deployment may use fewer devices than it was offered).
    """
    source = spec.input_node if isinstance(spec, ArchSpec) else spec.input_vertex
    first = placement[source]
    ranks = [first, *sorted({r for r in placement.values()} - {first})]
    rename = {r: i for i, r in enumerate(ranks)}
    return {v: rename[r] for v, r in placement.items()}


Network = ArchSpec | ModelRef  # what a plan runs: a generated spec, or a traced named model


def plan_from_analysis(
    network: Network,
    result: Any,
    *,
    profile: Any = None,
    weights: str | Path | None = None,
    seed: int = 0,
) -> Plan:
    """The plan that runs ``result`` (an ``AnalysisResult`` of ``network``, a spec or a traced
    model): its placement on the ranks it uses, its wire dtype and scatter mode, how it was
    chosen, and its schedule as simulated on ``profile`` (the one analysed: a Profile, or by
    default ``result.profile``)."""
    is_spec = isinstance(network, ArchSpec)
    placement = input_first(result.placement, graph_of(network))
    plan = Plan(
        spec=network if is_spec else None,
        model=None if is_spec else network,
        placement=placement,
        world=max(placement.values()) + 1,
        weights=Path(weights) if weights is not None else None,
        seed=seed,
        info={
            "partitioner": result.partitioner,
            "eps": result.eps,
            "select": result.select,
            "effort": result.effort,
            "profile": result.profile,
            "devices_offered": result.devices,
            "simulated_makespan_s": result.makespan_s,
            "simulated_speedup": result.speedup,
        },
        wire_dtype=result.wire_dtype,
        scatter=result.scatter,
    )
    return with_schedule(plan, profile if profile is not None else result.profile)


def make_plan(
    network: ArchSpec | ModelRef | str,
    devices: int,
    *,
    partitioner: str | None = None,
    select: str = "latency",
    profile: Any = None,
    wire_dtype: str = "float32",
    scatter: str = DEFAULT_SCATTER,
    eps: Any = None,
    weights: str | Path | None = None,
    seed: int = 0,
    effort: str = "full",
) -> Plan:
    """Choose a deployment of ``network`` on up to ``devices`` ranks (``parawire.analyze`` with
    the same options) and wrap it as a plan; ``profile`` defaults to ``local-cpu``.

    ``network``: a spec, or a model name (``cifarnet``, ``torchvision:resnet18``) or
    ``ModelRef``, traced as ``analyze`` traces it (a baseline with trained ``weights`` takes
    the input shape and classes it was trained for, from the weights file's metadata).
    """
    from parawire.analysis.api import analyze
    from parawire.analysis.partitioners import EPS_SWEEP

    if isinstance(network, str):
        network = model_for(network, weights)
    graph = graph_of(network)
    vertices = len(graph.vertex_ids)
    if devices < 1:
        raise ConfigError(f"--devices must be >= 1, got {devices}")
    if devices > vertices:
        raise ConfigError(f"{devices} devices for {vertices} vertices: use at most {vertices}")
    from parawire.analysis.profiles import create_profile

    prof = create_profile(profile if profile is not None else "local-cpu")
    result = analyze(
        network if isinstance(network, ArchSpec) else graph.costs(),
        devices,
        prof,
        partitioner,
        select=select,
        wire_dtype=wire_dtype,
        scatter=scatter,
        eps=eps if eps is not None else EPS_SWEEP,
        seed=seed,
        effort=effort,
    )
    return plan_from_analysis(network, result, profile=prof, weights=weights, seed=seed)


def model_for(name: str, weights: str | Path | None = None) -> ModelRef:
    """The model ``name`` as a plan runs it: with the input shape and classes a baseline was
    trained for when ``weights`` (``parawire train``'s) record them, else ``analyze``'s."""
    ref = ModelRef.named(name)
    if weights is None:
        return ref
    from parawire.weights import load_weights

    _, meta = load_weights(Path(weights))
    if not isinstance(meta.get("model"), dict) or meta["model"].get("spec"):
        return ref  # no record, or a spec's weights: the run's check says whether they fit
    try:
        trained = ModelRef.from_dict(meta["model"])
    except DataError as exc:
        raise DataError(f"{weights}: malformed model metadata ({exc})") from None
    if trained.name != ref.name:
        raise ConfigError(
            f"{weights} holds weights of {trained.name!r}, not of {name!r}; plan "
            f"{trained.name} with them or give the weights of {name}"
        )
    return trained


def load_plan_or_spec(path: str | Path, devices: int | None, **choice: Any) -> Plan:
    """A plan folder/file as is, a spec placed by ``make_plan(spec, devices, **choice)``, or
    a model name (a baseline such as ``cifarnet``, ``torchvision:NAME``) placed likewise."""
    found = model_or_file(path)
    if isinstance(found, str):
        if devices is None:
            raise ConfigError(f"a model needs --devices K (e.g. parawire run {found} -n 2)")
        return make_plan(found, devices, **choice)
    file = plan_file(found)
    data = read_plan_json(file, f"no plan or spec at {path}")
    if isinstance(data, dict) and "plan_version" in data:
        plan = Plan.from_file_data(data, file)
        if devices is not None and devices != plan.world:
            raise ConfigError(
                f"the plan is for {plan.world} devices, not {devices}; drop --devices or "
                "make a new plan"
            )
        return plan
    if devices is None:
        raise ConfigError("a spec needs --devices K (or pass a plan made by `parawire plan`)")
    try:
        spec = ArchSpec.from_dict(data).validate()
    except SpecError as exc:
        raise DataError(f"{file} is neither a plan nor a valid spec: {exc}") from exc
    return make_plan(spec, devices, **choice)


def load_network(path_or_name: str | Path) -> ArchSpec | str:
    """A spec file's spec, or the model's name (what ``make_plan`` takes)."""
    found = model_or_file(path_or_name)
    if isinstance(found, str):
        return found
    from parawire.arch import load_spec

    return load_spec(found)
