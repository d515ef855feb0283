"""The TorchScript-based exporter, ``torch.onnx.export(..., dynamo=False)``: parawire's default.

With torch 2.14 it still works (it warns that it is deprecated) and is several times faster than
the ``torch.export``-based exporter, which gives the same logits (figures in docs/export.md).
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from parawire.export.exporters._base import Exporter, OnnxJob
from parawire.export.exporters._registry import register_exporter
from parawire.export.manifest import BATCH


@register_exporter("torchscript")
class TorchScriptExporter(Exporter):
    """``torch.onnx.export`` tracing the module with TorchScript."""

    min_opset = 1  # any: an opset too old for a vertex is named by the export (diagnose)
    default_opset = 17  # ONNX Runtime 1.14+, TensorRT 8.6+, onnx2tf read it

    def write(self, job: OnnxJob, target: str | Path | io.BytesIO) -> None:
        torch.onnx.export(
            job.module,
            job.args,
            target,
            dynamo=False,
            opset_version=job.opset,
            input_names=job.input_names,
            output_names=job.output_names,
            dynamic_axes={name: {0: BATCH} for name in job.batched},
        )
