"""Cost model of a spec: MACs, parameters and output bytes of every vertex, by shape propagation.

A vertex's MACs and parameters are ``parawire.arch.footprint.vertex_costs`` (the one count,
which validation also bounds): what ``torch.utils.flop_counter`` counts, parameters exact. The
stem belongs to the input vertex, the classifier head to the output vertex.

What crosses the network is part of the cost graph (see ``CostGraph``): ``wire_dtype`` sets the
bytes of every tensor sent (int8 carries one float32 scale per tensor), ``scatter`` whether the
devices get the stem's output (``stem``, as EDGE'23 deploys) or the input image and run the stem
themselves (``image``: the image is 10x smaller than a 32-channel stem output).
"""

from __future__ import annotations

import dataclasses
import math

from parawire.analysis.graph import CostGraph, Vertex
from parawire.analysis.work import spec_vertex_work
from parawire.arch.footprint import vertex_costs
from parawire.arch.spec import ArchSpec
from parawire.errors import ConfigError

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}
WIRE_DTYPES = tuple(DTYPE_BYTES)  # dtypes a tensor may travel in between devices
INT8_SCALE_BYTES = 4  # int8 on the wire: one float32 scale per tensor (symmetric, per tensor)
SCATTERS = ("image", "stem")  # what the source vertex sends: the image, or the stem's output
DEFAULT_SCATTER = "image"


def dtype_size(dtype: str) -> int:
    """Bytes per element of a dtype name."""
    try:
        return DTYPE_BYTES[dtype]
    except KeyError:
        raise ConfigError(
            f"unknown wire dtype {dtype!r}; choose one of {', '.join(DTYPE_BYTES)}"
        ) from None


def wire_bytes(numel: int, dtype: str) -> int:
    """Bytes of one tensor of ``numel`` elements sent as ``dtype`` (int8: plus its scale)."""
    return numel * dtype_size(dtype) + (INT8_SCALE_BYTES if dtype == "int8" else 0)


def check_scatter(scatter: str) -> str:
    """``scatter`` itself, or ``ConfigError`` naming the choices."""
    if scatter not in SCATTERS:
        raise ConfigError(f"unknown scatter {scatter!r}; choose one of {', '.join(SCATTERS)}")
    return scatter


def deploy(
    graph: CostGraph, *, wire_dtype: str | None = None, scatter: str | None = None
) -> CostGraph:
    """``graph`` with another wire dtype and/or scatter mode (bytes recomputed).

    Works for any cost graph, traced ones included: a vertex's element count is its
    ``out_bytes`` over the computed element size.
    """
    if scatter is not None:
        check_scatter(scatter)
    if wire_dtype is None or wire_dtype == graph.wire_dtype:
        vertices, input_bytes = graph.vertices, graph.input_bytes
    else:
        old_extra = INT8_SCALE_BYTES if graph.wire_dtype == "int8" else 0
        old_size = dtype_size(graph.wire_dtype)

        def rescale(nbytes: int) -> int:
            return wire_bytes(max(0, nbytes - old_extra) // old_size, wire_dtype)

        vertices = tuple(
            dataclasses.replace(v, out_bytes=rescale(v.out_bytes)) for v in graph.vertices
        )
        input_bytes = rescale(graph.input_bytes) if graph.input_bytes else 0
    return dataclasses.replace(
        graph,
        vertices=vertices,
        wire_dtype=wire_dtype or graph.wire_dtype,
        input_bytes=input_bytes,
        replicate_source=graph.replicate_source if scatter is None else scatter == "image",
    )


def spec_costs(
    spec: ArchSpec,
    *,
    batch: int = 1,
    wire_dtype: str = "float32",
    scatter: str = DEFAULT_SCATTER,
) -> CostGraph:
    """The ``CostGraph`` of a spec for a batch size, a wire dtype and a scatter mode."""
    check_scatter(scatter)
    vertices = []
    for n in spec.nodes:
        macs, params = vertex_costs(spec, n)
        shape = (batch, *spec.output_shape(n.id))
        vertices.append(
            Vertex(
                id=n.id,
                op=n.op,
                macs=macs * batch,
                params=params,
                out_bytes=wire_bytes(math.prod(shape), wire_dtype),
                out_shape=shape,
                name=f"{n.op}:{n.id}",
                work=spec_vertex_work(spec, n, batch),
            )
        )
    return CostGraph(
        vertices=tuple(vertices),
        edges=tuple((e.src, e.dst) for e in spec.edges),
        name=f"{spec.provenance.generator}:{spec.provenance.seed}",
        batch=batch,
        wire_dtype=wire_dtype,
        input_shape=(batch, *spec.input_shape),
        input_bytes=wire_bytes(batch * math.prod(spec.input_shape), wire_dtype),
        replicate_source=scatter == "image",
    )
