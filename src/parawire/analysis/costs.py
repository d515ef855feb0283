"""Cost model of a spec: MACs, parameters and output bytes of every vertex, by shape propagation.

Counts follow what ``torch.utils.flop_counter`` counts (convolutions and linear layers; a FLOP
there is 2 MACs); batch norm, ReLU, pooling and the weighted sums are memory-bound and counted
as zero MACs. Parameters are exact: they equal the built module's. The stem belongs to the input
vertex, the classifier head to the output vertex (where the runtime executes them).
"""

from __future__ import annotations

import math

from parawire.analysis.graph import CostGraph, Vertex
from parawire.arch.spec import ArchSpec, Node
from parawire.errors import ConfigError

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}


def dtype_size(dtype: str) -> int:
    """Bytes per element of a dtype name."""
    try:
        return DTYPE_BYTES[dtype]
    except KeyError:
        raise ConfigError(
            f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPE_BYTES)}"
        ) from None


def _bn(c: int) -> int:
    return 2 * c


def vertex_costs(spec: ArchSpec, node: Node) -> tuple[int, int]:
    """(MACs, parameters) of one vertex at batch size 1, head included on the output vertex."""
    h_in, w_in = spec.stem_size
    h_in //= node.in_scale
    w_in //= node.in_scale
    macs = params = 0
    for e in spec.in_edges[node.id]:
        if e.project:
            cin = spec.node_map[e.src].channels
            macs += cin * node.in_channels * h_in * w_in
            params += cin * node.in_channels + _bn(node.in_channels)
    if node.op == "input":
        c_img, h, w = spec.input_shape
        first = min(spec.stem.stride, 2)
        ho, wo = (h - 1) // first + 1, (w - 1) // first + 1
        macs += c_img * node.channels * 9 * ho * wo
        params += c_img * node.channels * 9 + _bn(node.channels)
    elif node.op == "sepconv3x3":
        cin, cout = node.in_channels, node.channels
        macs += (cin * 9 + cin * cout) * h_in * w_in
        params += len(spec.in_edges[node.id]) + cin * 9 + cin * cout + _bn(cout)
    if node.id == spec.output_node:
        macs += node.channels * spec.num_classes
        params += node.channels * spec.num_classes + spec.num_classes
    return macs, params


def spec_costs(spec: ArchSpec, *, batch: int = 1, dtype: str = "float32") -> CostGraph:
    """The ``CostGraph`` of a spec for a given batch size and activation dtype."""
    nbytes = dtype_size(dtype)
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
                out_bytes=math.prod(shape) * nbytes,
                out_shape=shape,
                name=f"{n.op}:{n.id}",
            )
        )
    return CostGraph(
        vertices=tuple(vertices),
        edges=tuple((e.src, e.dst) for e in spec.edges),
        name=f"{spec.provenance.generator}:{spec.provenance.seed}",
        batch=batch,
        dtype_bytes=nbytes,
    )
