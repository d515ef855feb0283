"""Precision on the wire: how a tensor travels between devices, and the same in one process.

Every tensor sent between ranks (an output a vertex on another rank reads, the input image with
image scatter) is encoded in the plan's wire dtype before the send and decoded to float32 after
the receive; the vertices always compute in float32.

* ``float32``: as is (exact).
* ``float16`` / ``bfloat16``: a cast; relative error per element at most 2^-11 / 2^-8 (round to
  nearest), float16 saturating beyond 65504.
* ``int8``: symmetric per-tensor quantisation, ``scale = max|x| / 127``, ``q = round(x / scale)``;
  the float32 scale travels in the same message (4 bytes after the 1-byte elements), so one
  tensor is still one message. Absolute error per element at most ``scale / 2``, plus, for a
  tensor so small that its scale is a float32 subnormal (peak below 127 * 2^-126), at most
  ``INT8_FLOOR`` from rounding the scale itself.

:func:`emulate_wire` runs a whole model in one process with exactly the same to_wire/from_wire on
every tensor that a plan sends between ranks: the distributed logits equal its logits, which is
how accuracy on the wire is measured without launching ranks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from parawire.analysis.costs import INT8_SCALE_BYTES, WIRE_DTYPES, wire_bytes
from parawire.errors import ConfigError

TORCH_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}
INT8_LEVELS = 127  # symmetric: q in -127..127
INT8_MIN_STEP = 2.0**-149  # the smallest positive float32 (a subnormal)

# Documented worst-case error of one round trip (encode then decode) per element, relative to
# the tensor's largest magnitude: the bound the tests hold every dtype to.
# int8: half a step, plus float32 rounding of the scale, the quotient and the product.
ERROR_BOUND = {
    "float32": 0.0,
    "float16": 2.0**-11,
    "bfloat16": 2.0**-8,
    "int8": 0.5 / INT8_LEVELS + 2.0**-22,
}
# The absolute floor on top of ERROR_BOUND for int8: a subnormal scale is off by up to half a
# subnormal step, which the largest element (127 steps) multiplies.
INT8_FLOOR = (INT8_LEVELS + 1) * 2.0**-150


def check_wire_dtype(dtype: str) -> str:
    """``dtype`` itself, or ``ConfigError`` naming the choices."""
    if dtype not in WIRE_DTYPES:
        raise ConfigError(f"unknown wire dtype {dtype!r}; choose one of {', '.join(WIRE_DTYPES)}")
    return dtype


def wire_buffer(shape: tuple[int, ...], dtype: str) -> torch.Tensor:
    """An empty receive buffer for a float32 tensor of ``shape`` sent as ``dtype``."""
    if dtype == "float32":
        return torch.empty(shape)
    if dtype == "int8":
        return torch.empty(math.prod(shape) + INT8_SCALE_BYTES, dtype=torch.int8)
    return torch.empty(shape, dtype=TORCH_DTYPES[dtype])


def int8_scale(x: torch.Tensor) -> torch.Tensor:
    """The float32 step of ``x``'s int8 encoding: ``max|x| / 127``, never zero.

    It is computed in float32, the precision it travels in, so encoder and decoder use the same
    step. A tensor whose peak is so small that the step underflows to zero gets the smallest
    float32 step (2^-149), which represents every such element exactly; an all-zero, empty or
    non-finite tensor gets 1.
    """
    peak = x.detach().abs().max().to(torch.float32) if x.numel() else torch.tensor(0.0)
    if not (bool(torch.isfinite(peak)) and float(peak) > 0):
        return torch.tensor(1.0, dtype=torch.float32)
    scale = peak / INT8_LEVELS
    return scale if float(scale) > 0 else torch.tensor(INT8_MIN_STEP, dtype=torch.float32)


def to_wire(x: torch.Tensor, dtype: str) -> torch.Tensor:
    """The tensor to send for float32 ``x`` (contiguous; int8: elements then the scale)."""
    if dtype == "float32":
        return x.contiguous()
    if dtype == "int8":
        scale = int8_scale(x)
        q = torch.round(x / scale).clamp_(-INT8_LEVELS, INT8_LEVELS).to(torch.int8).reshape(-1)
        return torch.cat([q, scale.reshape(1).view(torch.int8)])
    return x.to(TORCH_DTYPES[dtype]).contiguous()


def from_wire(buf: torch.Tensor, shape: tuple[int, ...], dtype: str) -> torch.Tensor:
    """The float32 tensor of ``shape`` that ``to_wire`` turned into ``buf``."""
    if dtype == "float32":
        return buf
    if dtype == "int8":
        scale = buf[-INT8_SCALE_BYTES:].clone().view(torch.float32)  # aligned copy
        return (buf[:-INT8_SCALE_BYTES].to(torch.float32) * scale).reshape(shape)
    return buf.to(torch.float32)


def roundtrip(x: torch.Tensor, dtype: str) -> torch.Tensor:
    """``from_wire(to_wire(x))``: what the receiving rank computes with."""
    return from_wire(to_wire(x, dtype), tuple(x.shape), dtype)


def message_bytes(shape: tuple[int, ...], dtype: str) -> int:
    """Bytes of one message (the cost model's figure, checked against real buffers in tests)."""
    return wire_bytes(math.prod(shape), dtype)


def emulate_wire(
    model: torch.nn.Module,
    image: torch.Tensor,
    placement: Mapping[int, int],
    *,
    wire_dtype: str,
    scatter: str,
) -> torch.Tensor:
    """Logits of ``model`` (an ``ArchNet``) when every tensor crossing ranks goes through the
    wire codec, as the distributed runtime runs ``placement`` (vertex -> rank).

    Rank 0 holds the exact image. With image scatter every rank that runs the stem gets the
    image (through the codec unless it is rank 0); with ``stem`` scatter the stem runs on the
    input vertex's rank and its output crosses to the others.
    """
    check_wire_dtype(wire_dtype)
    spec = model.spec
    source = spec.input_node
    outputs: dict[int, torch.Tensor] = {}
    sent: dict[int, torch.Tensor] = {}  # vertex -> the decoded copy other ranks compute with
    stems: dict[bool, torch.Tensor] = {}  # stem output from the exact (True) / the sent image

    def stem(exact: bool) -> torch.Tensor:
        if exact not in stems:
            x = image if exact else roundtrip(image, wire_dtype)
            stems[exact] = model.vertices[str(source)]([x])
        return stems[exact]

    def value(u: int, rank: int) -> torch.Tensor:
        if u == source and scatter == "image":
            return stem(rank == 0)
        if placement[u] == rank:
            return outputs[u]
        if u not in sent:
            sent[u] = roundtrip(outputs[u], wire_dtype)
        return sent[u]

    for v in spec.topological_order:
        if v == source:
            outputs[v] = stem(placement[v] == 0)
            continue
        outputs[v] = model.vertices[str(v)]([value(e.src, placement[v]) for e in spec.in_edges[v]])
    return model.head(outputs[spec.output_node])
