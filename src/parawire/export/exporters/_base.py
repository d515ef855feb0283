"""The contract of an ONNX exporter: one ``torch.nn.Module`` in, one ONNX model out.

An exporter (``register_exporter("name")`` on a subclass of :class:`Exporter`) writes the module
of an :class:`OnnxJob`, traced with its example ``args``, as an ONNX model that

* names its inputs and outputs ``input_names`` / ``output_names``, in order;
* leaves the first axis of every tensor named in ``batched`` dynamic (any batch size);
* is written at ``opset`` (at least ``min_opset``; ``default_opset`` unless asked);
* computes what the module computes: ONNX Runtime within 1e-4 of PyTorch, for any batch.

``tests/test_exporters.py`` checks each registered exporter against this contract.
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn


@dataclass(frozen=True)
class OnnxJob:
    """One module to write as ONNX: what it is traced with and how its ports are named."""

    module: nn.Module
    args: tuple[torch.Tensor, ...]  # example inputs, traced with
    input_names: list[str]
    output_names: list[str]
    batched: list[str]  # the ports whose first axis stays dynamic
    opset: int


class Exporter(ABC):
    """Writes a module as an ONNX model (the module docstring states the contract)."""

    name: str = ""  # registry name, set by ``register_exporter``
    min_opset: int = 1  # the oldest opset it writes
    default_opset: int = 17  # the opset written unless one is asked for

    @abstractmethod
    def write(self, job: OnnxJob, target: str | Path | io.BytesIO) -> None:
        """Write ``job.module`` (traced with ``job.args``) to ``target`` as an ONNX model."""
