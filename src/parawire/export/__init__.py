"""Export a plan as ONNX models, one per device (and step), with a manifest of the transfers.

    parawire export arch.json --devices 3 --format onnx -o out/     # place it as `plan` would
    parawire export runs/an/plan --format onnx -o out/              # an existing plan
    parawire export arch.json --whole --format onnx -o out/         # the whole network

    from parawire.export import export_onnx, run_export
    result = export_onnx(plan, "out/")                  # out/device0.onnx ... out/manifest.json
    logits = run_export("out/", image)                  # ONNX Runtime, in the manifest's order

How the pieces are cut and named: ``parawire.export.steps``; what each model computes, the wire
dtype and the exporter: ``parawire.export.pieces``; the manifest: ``parawire.export.manifest``;
running them on devices: docs/export.md.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from parawire._io import atomic_write_text, staged_folder
from parawire.export.manifest import (
    MANIFEST_FILE,
    build_manifest,
    check_manifest,
    load_manifest,
    step_file,
)
from parawire.export.pieces import (
    DEFAULT_OPSET,
    EXPORTERS,
    ExportError,
    check_export_options,
    default_opset,
    export_step,
)
from parawire.export.runner import load_sessions, run_export
from parawire.export.steps import Step, split_steps
from parawire.progress import ProgressFn
from parawire.runtime.plan import Plan

__all__ = [
    "DEFAULT_OPSET",
    "EXPORTERS",
    "MANIFEST_FILE",
    "ExportError",
    "ExportResult",
    "ProgressFn",
    "check_manifest",
    "default_opset",
    "export_onnx",
    "load_manifest",
    "load_sessions",
    "reference_logits",
    "run_export",
    "split_steps",
    "whole_plan",
]


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote."""

    folder: Path
    manifest: dict[str, Any]  # the document written as manifest.json
    files: tuple[str, ...]  # model files, in the manifest's order
    seconds: float  # wall time of the export (tracing, writing, checking)

    @property
    def steps_per_device(self) -> list[int]:
        """How many models each device runs per inference (1 unless it waits for itself)."""
        counts = [0] * self.manifest["devices"]
        for s in self.manifest["steps"]:
            counts[s["device"]] += 1
        return counts


def whole_plan(plan: Plan) -> Plan:
    """``plan``'s network, weights and seed on one device (the whole-model export)."""
    return Plan(
        spec=plan.require_spec("ONNX export"),
        placement=dict.fromkeys(plan.placement, 0),
        world=1,
        weights=plan.weights,
        seed=plan.seed,
        info={**plan.info, "whole": True},
        wire_dtype=plan.wire_dtype,
        scatter=plan.scatter,
    )


def export_onnx(
    plan: Plan,
    out: str | Path,
    *,
    opset: int | None = None,
    exporter: str = "torchscript",
    whole: bool = False,
    progress: ProgressFn | None = None,
    verify: Callable[[Path, dict[str, Any]], None] | None = None,
) -> ExportResult:
    """Write one ONNX model per device step of ``plan`` (the whole network with ``whole``)
    and ``manifest.json`` into ``out``; every model passes ``onnx.checker`` (full check).
    ``opset`` defaults to ``default_opset(exporter)``.

    Everything is written into a temporary folder beside ``out`` and moved in at the end, after
    ``verify(temporary folder, manifest)`` (a check of the models) passed: a failure (weights
    that do not fit, a vertex that cannot be exported, a failed check) leaves ``out`` as it was.
    """
    plan.require_spec("ONNX export")  # traced models: no per-vertex modules to export yet
    if whole:
        plan = whole_plan(plan)
    opset = default_opset(exporter) if opset is None else opset
    check_export_options(plan.wire_dtype, exporter, opset)
    plan.check_weights()  # run's check, from the header, before anything is traced or written
    start = time.perf_counter()
    with staged_folder(Path(out)) as stage:
        manifest, files, order = _export_into(stage, plan, opset, exporter, whole, progress)
        if verify is not None:
            verify(stage, manifest)
    return ExportResult(
        folder=Path(out),
        manifest=manifest,
        files=tuple(files[key] for key in order),
        seconds=time.perf_counter() - start,
    )


def _export_into(
    folder: Path,
    plan: Plan,
    opset: int,
    exporter: str,
    whole: bool,
    progress: ProgressFn | None,
) -> tuple[dict[str, Any], dict[tuple[int, int], str], list[tuple[int, int]]]:
    """(manifest, model file of every step, steps in order): the models and manifest.json
    written into ``folder``."""
    steps, order = split_steps(plan)
    by_key = {(s.device, s.index): s for s in steps}
    counts = {d: sum(s.device == d for s in steps) for d in range(plan.world)}
    files = {
        key: "model.onnx" if whole else step_file(s, counts, "device") for key, s in by_key.items()
    }
    states: dict[int, dict[str, torch.Tensor]] = {}
    for done, key in enumerate(order):
        step: Step = by_key[key]
        if progress is not None:
            progress(f"device {step.device} step {step.index}", done, len(order))
        if step.device not in states:
            states = {step.device: plan.state_dict(step.device)}  # one device's weights at once
        export_step(
            plan, step, states[step.device], folder / files[key], opset=opset, exporter=exporter
        )
    if progress is not None:
        progress("manifest", len(order), len(order))
    manifest = build_manifest(
        plan, steps, order, files, opset=opset, exporter=exporter, whole=whole
    )
    check_manifest(manifest)
    atomic_write_text(folder / MANIFEST_FILE, json.dumps(manifest, indent=1) + "\n")
    return manifest, files, list(order)


def reference_logits(plan: Plan, image: torch.Tensor) -> torch.Tensor:
    """PyTorch's logits for ``image`` as the plan's ranks compute them (``emulate_wire``:
    the same codec on every tensor that crosses devices), with the plan's weights."""
    from parawire.nn import build_model
    from parawire.runtime.wire import emulate_wire

    model = build_model(plan.spec)
    model.load_state_dict(plan.full_state())
    model.eval()
    with torch.inference_mode():
        return emulate_wire(
            model, image, plan.placement, wire_dtype=plan.wire_dtype, scatter=plan.scatter
        )
