"""The study's k-device analysis of one architecture, delegated to ``parawire.analysis.api``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from parawire.arch.spec import ArchSpec
from parawire.study.config import StudyConfig


def analyze_for_study(spec: ArchSpec, cfg: StudyConfig) -> dict[str, Any]:
    """The recommended deployment of ``spec`` on up to ``cfg.devices`` devices of
    ``cfg.profile`` (speedup, devices used, communication, eta, CS) and the paper's CS choice."""
    return analyses_for_study([spec], cfg)[0]


def analyses_for_study(specs: Sequence[ArchSpec], cfg: StudyConfig) -> list[dict[str, Any]]:
    """``analyze_for_study`` of several specs in one batch (``parawire.analysis.analyze_many``)."""
    from parawire.analysis.api import analyze_many

    results = analyze_many(
        specs,
        devices=cfg.devices,
        profile=cfg.profile,
        partitioner=cfg.partitioner,
        select=cfg.select,
        effort=cfg.effort,
        wire_dtype=cfg.wire_dtype,
        scatter=cfg.scatter,
    )
    return [_figures(result) for result in results]


def _figures(result: Any) -> dict[str, Any]:
    """The study's row figures of one ``AnalysisResult``."""
    return {
        "speedup": float(result.speedup),
        "devices_used": int(result.devices_used),
        "paper_speedup": float(result.paper["speedup"]),
        "comm_bytes": float(result.comm_bytes),
        "eta": float(result.eta),
        "cs": float(result.cs),
        "paper_cs": float(result.paper["cs"]),
        "full": result.to_dict(),
    }
