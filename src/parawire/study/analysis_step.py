"""The study's k-device analysis of one architecture, delegated to ``parawire.analysis.api``."""

from __future__ import annotations

from typing import Any

from parawire.arch.spec import ArchSpec
from parawire.study.config import StudyConfig


def analyze_for_study(spec: ArchSpec, cfg: StudyConfig) -> dict[str, Any] | None:
    """Speedup, communication, eta and CS of ``spec`` on ``cfg.devices`` devices.

    Returns None when the analysis package is not installed in this build (the study then
    reports a dash and fills the values in on its next run).
    """
    try:
        from parawire.analysis.api import analyze
    except ImportError:
        return None
    result = analyze(spec, devices=cfg.devices, profile=cfg.profile, partitioner=cfg.partitioner)
    return {
        "speedup": float(result.speedup),
        "comm_bytes": float(result.comm_bytes),
        "eta": float(result.eta),
        "cs": float(result.cs),
        "full": result.to_dict(),
    }
