"""The study's k-device analysis of one architecture, delegated to ``parawire.analysis.api``."""

from __future__ import annotations

from typing import Any

from parawire.arch.spec import ArchSpec
from parawire.study.config import StudyConfig


def analyze_for_study(spec: ArchSpec, cfg: StudyConfig) -> dict[str, Any]:
    """The recommended deployment of ``spec`` on up to ``cfg.devices`` devices of
    ``cfg.profile`` (speedup, devices used, communication, eta, CS) and the paper's CS choice."""
    from parawire.analysis.api import analyze

    result = analyze(
        spec,
        devices=cfg.devices,
        profile=cfg.profile,
        partitioner=cfg.partitioner,
        select=cfg.select,
        wire_dtype=cfg.wire_dtype,
        scatter=cfg.scatter,
    )
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
