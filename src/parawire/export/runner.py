"""Run an exported folder with ONNX Runtime on one host, following its manifest.

Every step runs in the manifest's ``order``; a sent output is handed to the input its transfer
names on the receiving device, a kept one to the later step of its own device. This is what
``parawire export --check`` and the tests run; docs/export.md shows the same loop per device,
for real devices that exchange the tensors over their own links.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from parawire.export.manifest import load_manifest


def load_sessions(folder: str | Path, manifest: dict[str, Any]) -> dict[tuple[int, int], Any]:
    """One ONNX Runtime session per step, keyed by (device, step index), on the CPU."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: ORT warns about unused initialisers
    return {
        (s["device"], s["index"]): ort.InferenceSession(
            str(Path(folder) / s["file"]), options, providers=["CPUExecutionProvider"]
        )
        for s in manifest["steps"]
    }


def run_export(
    folder: str | Path,
    image: np.ndarray,
    *,
    manifest: dict[str, Any] | None = None,
    sessions: dict[tuple[int, int], Any] | None = None,
) -> np.ndarray:
    """The logits of ``image`` ((B, C, H, W) float32) computed by the exported steps."""
    manifest = manifest if manifest is not None else load_manifest(folder)
    sessions = sessions if sessions is not None else load_sessions(folder, manifest)
    steps = {(s["device"], s["index"]): s for s in manifest["steps"]}
    route = {(t["from"], t["output"]): (t["to"], t["input"]) for t in manifest["transfers"]}
    inbox: dict[tuple[int, str], np.ndarray] = {(0, "image"): image}  # (device, input) -> value
    kept: dict[tuple[int, str], np.ndarray] = {}  # read by later steps of the device, maybe many
    logits = None
    for device, index in manifest["order"]:
        step = steps[(device, index)]
        feeds = {
            p["name"]: kept[(device, p["name"])]
            if p["kind"] == "kept"
            else inbox.pop((device, p["name"]))
            for p in step["inputs"]
        }
        names = [p["name"] for p in step["outputs"]]
        for port, value in zip(
            step["outputs"], sessions[(device, index)].run(names, feeds), strict=True
        ):
            if port["kind"] == "sent":
                inbox[route[(device, port["name"])]] = value
            elif port["kind"] == "kept":
                kept[(device, port["name"])] = value
            else:
                logits = value
    assert logits is not None  # check_manifest: exactly one step computes the logits
    return logits
