"""Each step of a plan as a ``torch.nn.Module``, exported to ONNX and checked.

A step's module (:class:`StepModule`) takes its inputs in the manifest's order, decodes the
received ones from the wire dtype to float32, runs its vertices with the modules and weights
of the distributed runtime (``build_vertex``, ``build_head``, ``Plan.state_dict``) and returns
its outputs in order, encoding the sent ones: the ONNX model computes what the rank computes
between two waits, the codec included (``parawire.runtime.wire``):

* ``float32``: tensors cross as they are;
* ``float16``: a ``Cast`` before the send and after the receive;
* ``int8``: the sender computes ``scale = max|x| / 127`` (1 for an all-zero or non-finite
  tensor, the smallest float32 step when the quotient underflows) and ``round(x / scale)``
  clamped to -127..127; the values (int8, the tensor's shape) and the scale (a float32 scalar,
  ``<name>_scale``) are two outputs, N + 4 bytes as in the runtime's one message;
* ``bfloat16`` is refused: ONNX Runtime's Python API cannot hand bfloat16 tensors to numpy.

Exporter: a registered one (``parawire.export.exporters``): the TorchScript-based
``torchscript`` by default, several times faster than ``dynamo`` (``torch.export``), which
gives the same logits (figures in docs/export.md).
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import torch
from torch import nn

from parawire.arch.spec import ArchSpec
from parawire.errors import ConfigError, ParawireError
from parawire.export.exporters import OnnxJob, create_exporter, list_exporters
from parawire.export.manifest import BATCH, port_type
from parawire.export.steps import IMAGE, Port, Step, scale_name
from parawire.nn import build_head, build_vertex
from parawire.runtime.plan import Plan
from parawire.runtime.wire import INT8_LEVELS, INT8_MIN_STEP

EXPORTERS = tuple(list_exporters())  # the registered exporters' names
DEFAULT_EXPORTER = "torchscript"  # several times faster than dynamo, the same logits
EXPORT_WIRE_DTYPES = ("float32", "float16", "int8")
EXAMPLE_BATCH = 2  # traced with 2 images so nothing specialises to a batch of 1
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colour codes in torch.export's reports
TORCH_WIRE = {"float32": torch.float32, "float16": torch.float16, "int8": torch.int8}


class ExportError(ParawireError):
    """A vertex (or a step) of the plan cannot be written as a valid ONNX model."""


def check_export_options(wire_dtype: str, exporter: str, opset: int) -> None:
    """``ConfigError`` for a wire dtype, exporter or opset the export cannot honour."""
    if wire_dtype not in EXPORT_WIRE_DTYPES:
        raise ConfigError(
            f"wire dtype {wire_dtype} cannot be exported: ONNX Runtime's Python API cannot hand "
            f"{wire_dtype} tensors to numpy; make the plan with --wire-dtype one of "
            f"{', '.join(EXPORT_WIRE_DTYPES)}"
        )
    writer = create_exporter(exporter)  # ConfigError naming the exporters
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < 1:
        raise ConfigError(f"--opset must be a positive integer, got {opset!r}")
    if opset < writer.min_opset:
        others = [n for n in EXPORTERS if create_exporter(n).min_opset <= opset]
        instead = f" or --exporter {' / '.join(others)}" if others else ""
        raise ConfigError(
            f"the {exporter} exporter writes ONNX opset {writer.min_opset} or later, not "
            f"{opset}; use --opset {writer.min_opset}{instead}"
        )


def default_opset(exporter: str) -> int:
    """The opset written unless one is asked for: the exporter's default (17; dynamo 18)."""
    return create_exporter(exporter).default_opset


DEFAULT_OPSET = default_opset(DEFAULT_EXPORTER)


def traced_to_wire(x: torch.Tensor, wire: str) -> tuple[torch.Tensor, ...]:
    """What is sent for float32 ``x``: (x,), (x as float16,) or (int8 values, float32 scale).

    The same arithmetic as ``parawire.runtime.wire.to_wire``, written with tensor ops only so
    that it traces to ONNX (``Where`` instead of Python branches on values).
    """
    if wire == "float32":
        return (x,)
    if wire != "int8":
        return (x.to(TORCH_WIRE[wire]),)
    peak = x.abs().amax(dim=tuple(range(x.dim())))  # every axis named: onnxscript needs them
    usable = torch.isfinite(peak) & (peak > 0)
    scale = torch.where(usable, peak / INT8_LEVELS, torch.ones_like(peak))
    scale = torch.where(scale > 0, scale, torch.full_like(scale, INT8_MIN_STEP))
    q = torch.round(x / scale).clamp(-INT8_LEVELS, INT8_LEVELS).to(torch.int8)
    return (q, scale)


def traced_from_wire(x: torch.Tensor, scale: torch.Tensor | None) -> torch.Tensor:
    """The float32 tensor a receiver computes with (``scale``: int8 only)."""
    x = x.to(torch.float32)
    return x if scale is None else x * scale


class StepModule(nn.Module):
    """One step: inputs in manifest order -> outputs in manifest order (module docstring)."""

    def __init__(self, spec: ArchSpec, step: Step, wire: str) -> None:
        super().__init__()
        self.spec, self.step, self.wire = spec, step, wire
        computed = [v for v in step.vertices if v != IMAGE]
        self.vertices = nn.ModuleDict({str(v): build_vertex(spec, v) for v in computed})
        self.head = build_head(spec) if step.head else None
        self.reads = {v: [e.src for e in spec.in_edges[v]] or [IMAGE] for v in computed}

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feeds = {p.name: x for p, x in zip(self.step.inputs, inputs, strict=True)}
        values: dict[int, torch.Tensor] = {}  # vertex (IMAGE: the image) -> float32 tensor
        for p in self.step.inputs:
            if p.part == "values":
                scale = feeds.get(scale_name(p.name)) if p.kind == "received" else None
                values[p.vertex] = traced_from_wire(feeds[p.name], scale)
        for v, module in self.vertices.items():
            values[int(v)] = module([values[u] for u in self.reads[int(v)]])
        sent: dict[int, tuple[torch.Tensor, ...]] = {}
        outputs = []
        for p in self.step.outputs:
            if p.kind == "logits":
                assert self.head is not None
                outputs.append(self.head(values[self.spec.output_node]))  # (B, classes)
            elif p.kind == "kept":
                outputs.append(values[p.vertex])
            else:
                if p.vertex not in sent:
                    sent[p.vertex] = traced_to_wire(values[p.vertex], self.wire)
                outputs.append(sent[p.vertex][1 if p.part == "scale" else 0])
        return tuple(outputs)


def step_module(plan: Plan, step: Step, state: dict[str, torch.Tensor]) -> StepModule:
    """The step's module with its weights from ``state`` (its device's slice), in eval mode."""
    module = StepModule(plan.spec, step, plan.wire_dtype)
    prefixes = tuple(f"vertices.{v}." for v in module.vertices) + (("head.",) if step.head else ())
    module.load_state_dict({k: t for k, t in state.items() if k.startswith(prefixes)})
    return module.eval()


def example(plan: Plan, port: Port) -> torch.Tensor:
    """A tensor of the port's shape and dtype to trace with (values do not matter)."""
    shape, dtype = port_type(plan, port)
    dims = [EXAMPLE_BATCH if d == BATCH else d for d in shape]
    if dtype == "int8":
        return torch.randint(-INT8_LEVELS, INT8_LEVELS + 1, dims, dtype=torch.int8)
    return torch.rand(dims).to(TORCH_WIRE[dtype]) + (1.0 if port.part == "scale" else 0.0)


def export_module(job: OnnxJob, target: str | Path | io.BytesIO, exporter: str) -> None:
    """Write ``job`` as ONNX to ``target`` with the exporter named ``exporter``."""
    writer = create_exporter(exporter)
    with warnings.catch_warnings(), torch.no_grad():
        # the TorchScript exporter warns that it is deprecated, and about zip() over the
        # aggregation weights (their number is fixed by the spec, so the trace is exact)
        warnings.simplefilter("ignore")
        writer.write(job, target)


def check_onnx(model: str | Path | bytes) -> None:
    """``onnx.checker`` with shape inference (``full_check``) on a file or serialized model."""
    import onnx

    proto = onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(str(model))
    onnx.checker.check_model(proto, full_check=True)


def export_step(
    plan: Plan,
    step: Step,
    state: dict[str, torch.Tensor],
    path: Path,
    *,
    opset: int,
    exporter: str,
) -> None:
    """Write ``step`` to ``path`` and check it; ``ExportError`` naming the vertex that fails."""
    module = step_module(plan, step, state)
    ports = [*step.inputs, *step.outputs]
    try:
        job = OnnxJob(
            module,
            tuple(example(plan, p) for p in step.inputs),
            input_names=[p.name for p in step.inputs],
            output_names=[p.name for p in step.outputs],
            batched=[p.name for p in ports if port_type(plan, p)[0]],
            opset=opset,
        )
        export_module(job, path, exporter)
        check_onnx(path)
    # the exporters and the checker raise many unrelated types (RuntimeError, their own
    # errors, ValidationError, InferenceError): each becomes one line naming the vertex
    except Exception as exc:
        path.unlink(missing_ok=True)
        diagnose(plan, step, opset=opset, exporter=exporter)
        raise ExportError(
            f"device {step.device} (vertices {list(module.vertices)}) cannot be exported to "
            f"ONNX opset {opset} with the {exporter} exporter: {_first_line(exc)}"
        ) from exc


class _VertexProbe(nn.Module):
    """One vertex alone, or the image (IMAGE), optionally with the wire encoding of its output,
    for diagnosis."""

    def __init__(self, spec: ArchSpec, vertex: int, wire: str | None) -> None:
        super().__init__()
        self.vertex = None if vertex == IMAGE else build_vertex(spec, vertex)
        self.wire = wire

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = inputs[0] if self.vertex is None else self.vertex(list(inputs))
        return (out,) if self.wire is None else traced_to_wire(out, self.wire)


def diagnose(plan: Plan, step: Step, *, opset: int, exporter: str) -> None:
    """Export the step's vertices one by one (with the wire encoding of those it sends, and
    of the image it forwards); ``ExportError`` naming the first that fails.

    Returns normally when every vertex exports on its own (the failure is in their assembly).
    """
    spec = plan.spec
    sent = {p.vertex for p in step.outputs if p.kind == "sent"}
    for v in step.vertices:
        if v == IMAGE:
            shapes = [spec.input_shape]
        else:
            shapes = [spec.output_shape(e.src) for e in spec.in_edges[v]] or [spec.input_shape]
        args = tuple(torch.rand(EXAMPLE_BATCH, *s) for s in shapes)
        wires = [None] + ([plan.wire_dtype] if v in sent and plan.wire_dtype != "float32" else [])
        for wire in wires if v != IMAGE else wires[1:]:
            probe = _VertexProbe(spec, v, wire).eval()
            n_out = 1 if wire != "int8" else 2
            buffer = io.BytesIO()
            try:
                inputs = [f"in{i}" for i in range(len(args))]
                outputs = [f"out{i}" for i in range(n_out)]
                job = OnnxJob(probe, args, inputs, outputs, [*inputs, "out0"], opset)
                export_module(job, buffer, exporter)
                check_onnx(buffer.getvalue())
            except Exception as exc:  # see export_step
                what = (
                    f"the image (on device {step.device})"
                    if v == IMAGE
                    else f"vertex {v} ({spec.node_map[v].op}, on device {step.device})"
                )
                if wire is not None:
                    what = f"the {wire} wire encoding of {what}"
                raise ExportError(
                    f"{what} cannot be exported to ONNX opset {opset} with the {exporter} "
                    f"exporter: {_first_line(exc)}; export with --opset {default_opset(exporter)}"
                ) from exc


def _first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message, at most 200 characters (for the
    torch.export-based exporter's long reports: the first cause of its exception summary)."""
    lines = [_ANSI.sub("", line).strip() for line in str(exc).splitlines()]
    lines = [line for line in lines if line]
    causes = [line for line in lines if line.startswith("<class ")]
    text = causes[0] if causes else lines[0] if lines else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
