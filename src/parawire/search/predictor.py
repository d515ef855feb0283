"""``--predictor FILE``: the learned latency predictor of ``parawire.latency`` as the objective.

Imported only when a search asks for it. The latency of a proposed architecture is the
predictor's differentiable latency (``parawire.latency.relaxed_latency``) with every edge
present (weight 1), on the placement the schedule analysis recommends: the same deployment the
simulation would time, timed by the learned model instead.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from parawire.arch.spec import ArchSpec
from parawire.errors import ConfigError


def _latency_module() -> Any:
    try:
        import parawire.latency as latency
    except ImportError as exc:
        raise ConfigError(
            f"--predictor needs parawire.latency, the learned latency predictor ({exc}); leave "
            "--predictor out to use the schedule simulation"
        ) from None
    if not hasattr(latency, "load_predictor"):
        raise ConfigError(
            "--predictor needs parawire.latency.load_predictor, which this installation lacks; "
            "leave --predictor out to use the schedule simulation"
        )
    return latency


@cache
def load(path: str) -> Any:
    """The fitted predictor in ``path`` (loaded once per process)."""
    if not Path(path).is_file():
        raise ConfigError(f"--predictor {path}: no such file; fit one with `parawire latency fit`")
    return _latency_module().load_predictor(path)


def check_predictor(path: str, profile: str) -> None:
    """Load ``path`` and check that it predicts for ``profile``, so that a bad file or a
    predictor fitted on another profile fails before the search starts."""
    load(path).check_profile(profile)


def predict_latency(
    path: str,
    spec: ArchSpec,
    *,
    devices: int,
    placement: dict[int, int],
    profile: str,
    wire_dtype: str,
) -> float:
    """The predictor's latency in seconds of ``spec`` deployed with ``placement``."""
    import torch

    latency = _latency_module()
    with torch.no_grad():
        value = latency.relaxed_latency(
            spec,
            torch.ones(len(spec.edges)),
            devices=devices,
            placement=placement,
            profile=profile,
            wire_dtype=wire_dtype,
            predictor=load(path),
        )
    return float(value)
