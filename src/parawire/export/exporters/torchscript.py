"""The TorchScript-based exporter, ``torch.onnx.export(..., dynamo=False)``: parawire's default.

With torch 2.14 it still works (it warns that it is deprecated) and is several times faster than
the ``torch.export``-based exporter, which gives the same logits (figures in docs/export.md).
"""

from __future__ import annotations

import io
from pathlib import Path

import torch
from torch import nn

from parawire.export.exporters._base import Exporter
from parawire.export.exporters._registry import register_exporter
from parawire.export.manifest import BATCH


@register_exporter("torchscript")
class TorchScriptExporter(Exporter):
    """``torch.onnx.export`` tracing the module with TorchScript."""

    min_opset = 1  # any: an opset too old for a vertex is named by the export (diagnose)
    default_opset = 17  # ONNX Runtime 1.14+, TensorRT 8.6+, onnx2tf read it

    def write(
        self,
        module: nn.Module,
        args: tuple[torch.Tensor, ...],
        target: str | Path | io.BytesIO,
        *,
        input_names: list[str],
        output_names: list[str],
        batched: list[str],
        opset: int,
    ) -> None:
        torch.onnx.export(
            module,
            args,
            target,
            dynamo=False,
            opset_version=opset,
            input_names=input_names,
            output_names=output_names,
            dynamic_axes={name: {0: BATCH} for name in batched},
        )
