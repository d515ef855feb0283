"""What a vertex runs, operator by operator: the work list that per-kind calibration prices.

A vertex's MACs alone predict its time poorly: a depthwise convolution runs at a fraction of a
dense one's FLOP rate, batch norm, pooling and element-wise operators cost time in proportion to
the bytes they touch (no MACs at all; max pooling can cost more than the convolution before
it), and every operator call pays a fixed dispatch cost. So a
``Vertex`` carries its *work*: one ``(kind, amount)`` entry per operator call, in these kinds:

========== ========================================= ===================================
kind        operators                                 amount
========== ========================================= ===================================
conv1x1     dense 1x1 convolution (pointwise)         FLOPs (2 x MACs)
conv3x3     dense 3x3 convolution                     FLOPs
convkxk     dense convolution of any other kernel     FLOPs
dwconv      depthwise convolution (any kernel)        FLOPs
linear      linear layers, matrix products            FLOPs
bn          batch norm (inference)                    output elements
maxpool     max pooling (plain or adaptive)           input elements
avgpool     average pooling (plain or adaptive)       input elements
elementwise ReLU, add, mul, sigmoid, cat, mean, ...   output elements
call        views, flatten, dropout (eval), getitem   0 (the call's fixed cost only)
========== ========================================= ===================================

A calibrated ``DeviceProfile`` prices each kind as ``call_s[kind] + amount / rate[kind]``
(``parawire calibrate`` measures both per kind); spec vertices get their work list from the
spec (:func:`spec_vertex_work`, the same operators ``parawire.nn`` builds), traced models from
their fx nodes (``parawire.analysis.trace``).
"""

from __future__ import annotations

import math

from parawire.arch.spec import ArchSpec, Node

FLOP_KINDS = ("conv1x1", "conv3x3", "convkxk", "dwconv", "linear")
ELEMENT_KINDS = ("bn", "maxpool", "avgpool", "elementwise")
KINDS = (*FLOP_KINDS, *ELEMENT_KINDS, "call")

Work = tuple[tuple[str, int], ...]


def conv_kind(kernel: tuple[int, ...], groups: int, in_channels: int) -> str:
    """The work kind of a convolution: depthwise, or dense by kernel size class."""
    if groups > 1 and groups == in_channels:
        return "dwconv"
    if all(k == 1 for k in kernel):
        return "conv1x1"
    if all(k == 3 for k in kernel):
        return "conv3x3"
    return "convkxk"


def _sepconv_work(spec: ArchSpec, node: Node, fan_in: int, b: int) -> list[tuple[str, int]]:
    """Aggregation (sigmoid gates, a product and a sum per input), then ReLU, depthwise 3x3,
    pointwise 1x1, batch norm and the staging max-pool, as ``VertexBlock`` runs them."""
    h, w = spec.stem_size
    h, w = h // node.in_scale, w // node.in_scale
    cin, cout = node.in_channels, node.channels
    x, y = b * cin * h * w, b * cout * h * w
    work = [("elementwise", fan_in), ("call", 0)]  # sigmoid of the weights; the SepConv call
    work += [("call", 0)] * fan_in  # indexing one weight per input
    work += [("elementwise", x)] * (2 * fan_in)  # w_i * x_i, then the running sum
    work += [("elementwise", x), ("dwconv", 2 * x * 9), ("conv1x1", 2 * x * cout), ("bn", y)]
    if node.stage:
        work.append(("maxpool", y))
    return work


def spec_vertex_work(spec: ArchSpec, node: Node, batch: int = 1) -> Work:
    """Every operator call of one spec vertex at ``batch``, head included on the output vertex."""
    b = batch
    edges = spec.in_edges[node.id]
    work: list[tuple[str, int]] = [("call", 0)]  # the VertexBlock module call
    for e in edges:
        work.append(("call", 0))  # its ScalingBlock (a Sequential, called even when empty)
        c_src, h_src, w_src = spec.output_shape(e.src)
        if e.pool > 1:
            work.append(("maxpool", b * c_src * h_src * w_src))
        if e.project:
            pixels = b * (h_src // e.pool) * (w_src // e.pool)
            work += [
                ("conv1x1", 2 * pixels * c_src * node.in_channels),
                ("bn", pixels * node.in_channels),
            ]
    if node.op == "input":
        c_img, h, w = spec.input_shape
        first = min(spec.stem.stride, 2)
        ho, wo = (h - 1) // first + 1, (w - 1) // first + 1
        y = b * node.channels * ho * wo
        work += [("conv3x3", 2 * b * c_img * node.channels * 9 * ho * wo), ("bn", y)]
        work.append(("elementwise", y))
        if spec.stem.stride > first:
            work.append(("maxpool", y))
    elif node.op == "sepconv3x3":
        work += _sepconv_work(spec, node, len(edges), b)
    else:  # mean: stack then mean
        x = b * math.prod(spec.output_shape(node.id)) * len(edges)
        work += [("elementwise", x), ("elementwise", x)]
    if node.id in spec.pooled_vertices:  # ReLU, global pool, 1x1 projection, batch norm
        c, d = node.channels, spec.head_width
        y = b * c * math.prod(spec.spatial(node.id))
        work += [("elementwise", y), ("avgpool", y), ("conv1x1", 2 * b * c * d), ("bn", b * d)]
    if node.id == spec.output_node:  # the head (a Sequential): ReLU, pool, flatten, dropout, linear
        width = math.prod(spec.output_shape(node.id))
        work += [("call", 0), ("elementwise", b * width), ("avgpool", b * width)]
        work += [("call", 0), ("call", 0)]
        work.append(("linear", 2 * b * spec.output_shape(node.id)[0] * spec.num_classes))
    return tuple(work)
