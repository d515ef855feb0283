"""What a spec will allocate, from shapes alone: parameters, MACs and activation bytes.

Counts follow what ``torch.utils.flop_counter`` counts (convolutions and linear layers; a FLOP
there is 2 MACs); batch norm, ReLU, pooling and the weighted sums are memory-bound and counted
as zero MACs. Parameters are exact: they equal the built module's. The stem belongs to the input
vertex, the classifier head to the output vertex (where the runtime executes them).

Validation bounds the footprint (``MAX_PARAMETERS``, ``MAX_ACTIVATION_BYTES``), so that a spec
that passes ``validate`` can be built: 65,536 channels are valid widths, but a vertex of 65,536
in and out channels holds 4.3 billion weights (17 GiB as float32). Before building, a command
also checks what it will allocate against what this machine has free
(:func:`model_bytes`, ``parawire._memory.require_memory``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from parawire.errors import SpecError

if TYPE_CHECKING:
    from parawire.arch.spec import ArchSpec, Node

MAX_PARAMETERS = 2**28  # 268,435,456 weights (1 GiB float32): 45x RandWire's largest (5.6 M)
MAX_ACTIVATION_BYTES = 2**31  # float32 outputs of every vertex of one image, summed (2 GiB)
FLOAT_BYTES = 4  # a model is built in float32
TRAINING_COPIES = 4  # weights, gradients and Adam's two moments, each the size of the weights
TRAINING_ACTIVATIONS = 3  # outputs kept for the backward pass: conv, batch norm, ReLU per vertex


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
    if node.id in spec.pooled_vertices:  # ReLU, pool, 1x1 conv on the 1x1 map, batch norm
        macs += node.channels * spec.head_width
        params += node.channels * spec.head_width + _bn(spec.head_width)
    if node.id == spec.output_node:
        macs += node.channels * spec.num_classes
        params += node.channels * spec.num_classes + spec.num_classes
    return macs, params


@dataclass(frozen=True)
class Footprint:
    """What one image through the whole model allocates (float32, batch 1)."""

    parameters: int  # weights of the built model
    activation_bytes: int  # the image, the stem's full-resolution map and every vertex output
    largest_vertex: int  # id of the vertex holding the most parameters (named in refusals)

    @property
    def weight_bytes(self) -> int:
        """Bytes of the weights as float32."""
        return self.parameters * FLOAT_BYTES


def spec_footprint(spec: ArchSpec) -> Footprint:
    """The footprint of a structurally valid spec, in one pass over its vertices."""
    params, largest, most = 0, spec.input_node, -1
    c, h, w = spec.input_shape
    first = min(spec.stem.stride, 2)
    stem_map = spec.stem.channels * ((h - 1) // first + 1) * ((w - 1) // first + 1)
    elements = c * h * w + stem_map
    for n in spec.nodes:
        p = vertex_costs(spec, n)[1]
        params += p
        if p > most:
            largest, most = n.id, p
        elements += math.prod(spec.output_shape(n.id))
    return Footprint(params, elements * FLOAT_BYTES, largest)


def check_footprint(spec: ArchSpec) -> Footprint:
    """The spec's footprint; ``SpecError`` naming the cap and the fix when it is over one."""
    fp = spec_footprint(spec)
    if fp.parameters > MAX_PARAMETERS:
        node = spec.node_map[fp.largest_vertex]
        raise SpecError(
            f"the spec holds {fp.parameters:,} parameters ({fp.weight_bytes / 2**30:.1f} GiB as "
            f"float32), over the cap of {MAX_PARAMETERS:,}; its largest vertex, node {node.id}, "
            f"has {node.channels:,} channels: use fewer channels (e.g. generate --c-max 256)"
        )
    if fp.activation_bytes > MAX_ACTIVATION_BYTES:
        c, h, w = spec.input_shape
        raise SpecError(
            f"one {c}x{h}x{w} image through this spec makes {fp.activation_bytes / 2**30:.1f} GiB "
            f"of feature maps, over the cap of {MAX_ACTIVATION_BYTES / 2**30:.0f} GiB; use a "
            "smaller input size, fewer channels or fewer vertices"
        )
    return fp


def model_bytes(spec: ArchSpec, batch: int = 1, *, training: bool = False) -> int:
    """Bytes that building ``spec`` and running ``batch`` images through it allocates (float32;
    training: gradients, Adam's moments and the outputs kept for the backward pass too)."""
    fp = spec_footprint(spec)
    if training:
        kept = fp.activation_bytes * batch * TRAINING_ACTIVATIONS
        return fp.weight_bytes * TRAINING_COPIES + kept
    return fp.weight_bytes + fp.activation_bytes * batch
