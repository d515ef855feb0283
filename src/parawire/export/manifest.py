"""The export's ``manifest.json``: every step's model file, inputs and outputs, the transfers
between devices, and an order that runs every step after the steps it reads from.

The manifest is what an edge engineer's code follows (docs/export.md); :func:`check_manifest`
holds it to the rules that make it runnable: every input has exactly one producer, and every
producer runs before its consumer in ``order`` (and on a device, its steps in their order).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from parawire._io import read_json
from parawire.analysis.costs import INT8_SCALE_BYTES, dtype_size
from parawire.errors import DataError
from parawire.export.steps import IMAGE, Port, Step, tensor
from parawire.filenames import MANIFEST_FILE
from parawire.runtime.plan import Plan

MANIFEST_FORMAT = "parawire-onnx"
MANIFEST_VERSION = 1
BATCH = "batch"  # the name of every tensor's first (dynamic) dimension


def port_type(plan: Plan, port: Port) -> tuple[list[Any], str]:
    """(shape with the batch dimension first, dtype) of a port's tensor.

    Tensors on the wire travel in the plan's wire dtype (int8: values and a float32 scalar
    scale); everything that stays on a device is float32.
    """
    spec = plan.spec
    if port.part == "scale":
        return [], "float32"
    if port.kind == "logits":
        return [BATCH, spec.num_classes], "float32"
    shape = spec.input_shape if port.vertex == IMAGE else spec.output_shape(port.vertex)
    on_wire = port.kind in ("sent", "received")
    return [BATCH, *shape], plan.wire_dtype if on_wire else "float32"


def step_file(step: Step, counts: dict[int, int], prefix: str) -> str:
    """``device<d>.onnx``, or ``device<d>-step<i>.onnx`` for a device of several steps."""
    if counts[step.device] == 1:
        return f"{prefix}{step.device}.onnx"
    return f"{prefix}{step.device}-step{step.index}.onnx"


def build_manifest(
    plan: Plan,
    steps: list[Step],
    order: list[tuple[int, int]],
    files: dict[tuple[int, int], str],
    *,
    opset: int,
    exporter: str,
    whole: bool,
) -> dict[str, Any]:
    """The manifest document of an export (plain JSON)."""
    spec = plan.spec
    return {
        "format": MANIFEST_FORMAT,
        "manifest_version": MANIFEST_VERSION,
        "whole": whole,
        "devices": plan.world,
        "opset": opset,
        "exporter": exporter,
        "wire_dtype": plan.wire_dtype,
        "scatter": plan.scatter,
        "merge": spec.merge,
        "image": {"device": 0, "name": "image", "shape": [BATCH, *spec.input_shape]},
        "logits": {
            "device": plan.placement[spec.output_node],
            "name": "logits",
            "shape": [BATCH, spec.num_classes],
        },
        "steps": [_step_doc(plan, s, files[(s.device, s.index)]) for s in steps],
        "order": [list(key) for key in order],
        "transfers": _transfers(plan, steps),
        "plan": {
            "placement": {str(v): r for v, r in sorted(plan.placement.items())},
            "vertices_of": {str(r): list(plan.vertices_of(r)) for r in range(plan.world)},
            "send_order": {str(v): list(rs) for v, rs in plan.execution["sends"].items()},
            "info": plan.info,
        },
    }


def _step_doc(plan: Plan, step: Step, file: str) -> dict[str, Any]:
    """One step of the manifest: its model file, vertices and typed ports."""
    return {
        "device": step.device,
        "index": step.index,
        "file": file,
        "vertices": [v for v in step.vertices if v != IMAGE],
        "head": step.head,
        "inputs": [_port_doc(plan, p, "from") for p in step.inputs],
        "outputs": [_port_doc(plan, p, "to") for p in step.outputs],
    }


def _port_doc(plan: Plan, port: Port, peer_key: str) -> dict[str, Any]:
    """A step's input or output: its tensor, shape and dtype (and peer, for transfers)."""
    shape, dtype = port_type(plan, port)
    doc: dict[str, Any] = {
        "name": port.name,
        "kind": port.kind,
        "tensor": tensor(port.vertex),
        "vertex": None if port.vertex == IMAGE else port.vertex,
    }
    if port.kind in ("sent", "received"):
        doc[peer_key] = port.peer
        doc["part"] = port.part
    return {**doc, "shape": shape, "dtype": dtype}


def _transfers(plan: Plan, steps: list[Step]) -> list[dict[str, Any]]:
    """Every tensor sent between devices: which output feeds which input, and its bytes."""
    transfers = []
    for step in steps:
        for port in step.outputs:
            if port.kind != "sent":
                continue
            receiver = next(
                p
                for s in steps
                if s.device == port.peer
                for p in s.inputs
                if p.kind == "received"
                and p.vertex == port.vertex
                and p.peer == step.device
                and p.part == port.part
            )
            shape, dtype = port_type(plan, port)
            nbytes = (
                INT8_SCALE_BYTES
                if port.part == "scale"
                else math.prod(shape[1:]) * dtype_size(dtype)
            )
            transfers.append(
                {
                    "tensor": tensor(port.vertex),
                    "vertex": None if port.vertex == IMAGE else port.vertex,
                    "part": port.part,
                    "from": step.device,
                    "to": port.peer,
                    "output": port.name,
                    "input": receiver.name,
                    "shape": shape,
                    "dtype": dtype,
                    "bytes_per_image": nbytes,
                }
            )
    return transfers


def load_manifest(folder: str | Path) -> dict[str, Any]:
    """Read and check ``manifest.json`` of an export folder."""
    file = Path(folder) / MANIFEST_FILE
    if not file.exists():
        raise DataError(f"no {MANIFEST_FILE} in {folder}; export with `parawire export`")
    doc = read_json(file, what="export manifest", inside=Path(folder))
    check_manifest(doc)
    return doc


def check_manifest(doc: Any) -> None:
    """Raise ``DataError`` unless the manifest is runnable: every step input has exactly one
    producer (the image, an earlier step of its device, or one transfer from a step of another
    device), every transfer links a sent output to a received input, and ``order`` lists every
    step once, each after every step it reads from and after its device's earlier steps."""
    if not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT:
        raise DataError(f"not a parawire ONNX manifest (format {MANIFEST_FORMAT!r} expected)")
    try:
        _check(doc)
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"malformed manifest: {exc!r}; export again") from None


def _check(doc: dict[str, Any]) -> None:
    steps = {(s["device"], s["index"]): s for s in doc["steps"]}
    order = [tuple(key) for key in doc["order"]]
    if sorted(order) != sorted(steps) or len(set(order)) != len(order):
        raise DataError("the manifest's order does not list every step exactly once")
    position = {key: i for i, key in enumerate(order)}
    for d, i in steps:
        if i > 0 and position[(d, i - 1)] > position[(d, i)]:
            raise DataError(f"the manifest runs step {i} of device {d} before step {i - 1}")
    made: dict[tuple[int, str], list[tuple[int, int]]] = {}  # (device, output) -> steps
    for key, s in steps.items():
        for out in s["outputs"]:
            made.setdefault((key[0], out["name"]), []).append(key)
    feeds = {(t["to"], t["input"]): [] for t in doc["transfers"]}
    for t in doc["transfers"]:
        feeds[(t["to"], t["input"])].append(t)
        if len(made.get((t["from"], t["output"]), [])) != 1:
            raise DataError(
                f"transfer {t['output']} -> {t['input']}: device {t['from']} has no single "
                "step with that output"
            )
    for key, s in steps.items():
        d = key[0]
        for port in s["inputs"]:
            name, kind = port["name"], port["kind"]
            if kind == "image":
                if d != doc["image"]["device"] or name != doc["image"]["name"]:
                    raise DataError(f"device {d} takes the image, which device 0 holds")
                continue
            if kind == "kept":
                producers = made.get((d, name), [])
            else:
                links = feeds.get((d, name), [])
                if len(links) != 1:
                    raise DataError(
                        f"input {name} of device {d} has {len(links)} transfers, not exactly one"
                    )
                producers = made.get((links[0]["from"], links[0]["output"]), [])
            if len(producers) != 1:
                raise DataError(f"input {name} of device {d} has no single producing step")
            if position[producers[0]] >= position[key]:
                raise DataError(
                    f"input {name} of device {d} step {key[1]} is made by step "
                    f"{producers[0][1]} of device {producers[0][0]}, which the order runs later"
                )
    for (d, name), links in feeds.items():
        readers = [
            p for s in steps.values() if s["device"] == d for p in s["inputs"] if p["name"] == name
        ]
        if len(links) != 1 or len(readers) != 1:
            raise DataError(f"transfer to {name} on device {d} reaches no single step input")
    logits = doc["logits"]
    if len(made.get((logits["device"], logits["name"]), [])) != 1:
        raise DataError(f"no single step of device {logits['device']} computes the logits")
