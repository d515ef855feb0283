"""The ``torch.export``-based exporter, ``torch.onnx.export(..., dynamo=True)``.

It writes opset 18 or later; slower than the TorchScript exporter, same logits (docs/export.md).
"""

from __future__ import annotations

import inspect
import io
from pathlib import Path

import torch
from torch import nn

from parawire.export.exporters._base import Exporter, OnnxJob
from parawire.export.exporters._registry import register_exporter


@register_exporter("dynamo")
class DynamoExporter(Exporter):
    """``torch.onnx.export`` through ``torch.export`` with a dynamic batch dimension."""

    min_opset = 18  # the torch.export-based exporter writes no older opset
    default_opset = 18

    def write(self, job: OnnxJob, target: str | Path | io.BytesIO) -> None:
        batch = torch.export.Dim.DYNAMIC
        shapes: tuple = tuple(
            {0: batch} if name in job.batched else None for name in job.input_names
        )
        if _varargs(job.module):  # forward(*inputs): the varargs are one tuple for torch.export
            shapes = (shapes,)
        program = torch.onnx.export(
            job.module,
            job.args,
            dynamo=True,
            opset_version=job.opset,
            input_names=job.input_names,
            output_names=job.output_names,
            dynamic_shapes=shapes,
            verbose=False,
        )
        assert program is not None  # dynamo=True always returns the program
        if isinstance(target, io.BytesIO):
            target.write(program.model_proto.SerializeToString())
        else:
            program.save(str(target))


def _varargs(module: nn.Module) -> bool:
    """Whether ``module.forward`` takes its inputs as ``*args`` (parawire's step modules)."""
    kinds = [p.kind for p in inspect.signature(module.forward).parameters.values()]
    return kinds == [inspect.Parameter.VAR_POSITIONAL]
