"""One call from a spec to its predicted latency, beside the simulation's (CLI and analyze)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from parawire.arch.spec import ArchSpec
from parawire.errors import ConfigError
from parawire.latency._base import Predictor, prior_profile
from parawire.latency.features import sample_of


def measurement_profile(predictor: Predictor, profile: str | None) -> str:
    """The measurement profile to predict for: ``profile``, or the predictor's only one."""
    if profile is not None:
        return predictor.check_profile(profile)
    if len(predictor.profiles) != 1:
        raise ConfigError(
            f"the predictor was fitted on {', '.join(predictor.profiles)}; choose one with "
            "--profile"
        )
    return predictor.profiles[0]


def predict_spec(
    predictor: Predictor,
    spec: ArchSpec,
    devices: int,
    *,
    profile: str | None = None,
    wire_dtype: str = "float32",
    placement: Mapping[int, int] | None = None,
) -> dict[str, Any]:
    """The predicted latency of ``spec`` on ``devices`` with ``placement`` (default: the one
    the analysis recommends on the measurement's simulation profile), and the simulation's."""
    from parawire.analysis.costs import spec_costs
    from parawire.analysis.profiles import create_profile
    from parawire.analysis.simulate import simulate
    from parawire.latency.differentiable import recommended_placement

    name = measurement_profile(predictor, profile)
    prior = prior_profile(name)
    if placement is None:
        placement = recommended_placement(spec, devices, prior, wire_dtype)
    placement = {int(v): int(d) for v, d in placement.items()}
    sample = sample_of(spec, devices, placement, name, wire_dtype)
    predicted = float(predictor.predict([sample])[0])
    graph = spec_costs(spec, wire_dtype=wire_dtype)
    simulated = simulate(graph, placement, create_profile(prior), devices).makespan_s
    return {
        "predictor": predictor.name,
        "profile": name,
        "devices": devices,
        "devices_used": len(set(placement.values())),
        "wire_dtype": wire_dtype,
        "predicted_s": predicted,
        "simulated_s": simulated,
        "simulation_profile": prior,
        "placement": {str(v): d for v, d in sorted(placement.items())},
    }
