"""Precision on the wire: how a tensor travels between devices, and the same in one process.

Every tensor sent between ranks (an output a vertex on another rank reads, the input image with
image scatter) is encoded in the plan's wire dtype before the send and decoded to float32 after
the receive; the vertices always compute in float32.

* ``float32``: as is (exact).
* ``float16`` / ``bfloat16``: a cast; relative error per element at most 2^-11 / 2^-8 (round to
  nearest), float16 saturating beyond 65504.
* ``int8``: symmetric per-tensor quantisation, ``scale = max|x| / 127``, ``q = round(x / scale)``;
  the float32 scale travels in the same message (4 bytes after the 1-byte elements), so one
  tensor is still one message. Absolute error per element at most ``scale / 2``.

:func:`emulate_wire` runs a whole model in one process with exactly the same encode/decode on
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

# Documented worst-case error of one round trip (encode then decode) per element, relative to
# the tensor's largest magnitude: the bound the tests hold every dtype to.
ERROR_BOUND = {"float32": 0.0, "float16": 2.0**-11, "bfloat16": 2.0**-8, "int8": 0.5 / INT8_LEVELS}


def check_wire_dtype(dtype: str) -> str:
    """``dtype`` itself, or ``ConfigError`` naming the choices."""
    if dtype not in WIRE_DTYPES:
        raise ConfigError(f"unknown wire dtype {dtype!r}; choose one of {', '.join(WIRE_DTYPES)}")
    return dtype


def encoded_buffer(shape: tuple[int, ...], dtype: str) -> torch.Tensor:
    """An empty receive buffer for a float32 tensor of ``shape`` sent as ``dtype``."""
    if dtype == "float32":
        return torch.empty(shape)
    if dtype == "int8":
        return torch.empty(math.prod(shape) + INT8_SCALE_BYTES, dtype=torch.int8)
    return torch.empty(shape, dtype=TORCH_DTYPES[dtype])


def encode(x: torch.Tensor, dtype: str) -> torch.Tensor:
    """The tensor to send for float32 ``x`` (contiguous; int8: elements then the scale)."""
    if dtype == "float32":
        return x.contiguous()
    if dtype == "int8":
        peak = float(x.abs().max()) if x.numel() else 0.0
        scale = peak / INT8_LEVELS if peak > 0 and math.isfinite(peak) else 1.0
        q = torch.round(x / scale).clamp_(-INT8_LEVELS, INT8_LEVELS).to(torch.int8).reshape(-1)
        tail = torch.tensor([scale], dtype=torch.float32).view(torch.int8)
        return torch.cat([q, tail])
    return x.to(TORCH_DTYPES[dtype]).contiguous()


def decode(buf: torch.Tensor, shape: tuple[int, ...], dtype: str) -> torch.Tensor:
    """The float32 tensor of ``shape`` that ``encode`` turned into ``buf``."""
    if dtype == "float32":
        return buf
    if dtype == "int8":
        scale = buf[-INT8_SCALE_BYTES:].clone().view(torch.float32)  # aligned copy
        return (buf[:-INT8_SCALE_BYTES].to(torch.float32) * scale).reshape(shape)
    return buf.to(torch.float32)


def roundtrip(x: torch.Tensor, dtype: str) -> torch.Tensor:
    """``decode(encode(x))``: what the receiving rank computes with."""
    return decode(encode(x, dtype), tuple(x.shape), dtype)


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
