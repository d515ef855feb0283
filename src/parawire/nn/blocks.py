"""The building blocks of a parawire network, one ``nn.Module`` per spec vertex.

Every vertex is a self-contained module taking the list of its input tensors (in the order of
the spec's incoming edges) and returning one tensor, so that the distributed runtime can build
only the vertices a device owns. Vertex operation as in RandWire (Xie et al. 2019) and EDGE'23:
inputs summed with sigmoid-gated learnable weights, then ReLU, 3x3 depthwise-separable
convolution and batch norm.
"""

from __future__ import annotations

import torch
from torch import nn

from parawire.arch.spec import ArchSpec, Edge, Node
from parawire.nn.aggregations import create_aggregation


class ScalingBlock(nn.Sequential):
    """Adapts one input to its consumer: max-pool down, then 1x1 conv + BN to its channels."""

    def __init__(self, edge: Edge, in_channels: int, out_channels: int) -> None:
        layers: list[nn.Module] = []
        if edge.pool > 1:
            layers.append(nn.MaxPool2d(edge.pool))
        if edge.project:
            layers += [
                nn.Conv2d(in_channels, out_channels, 1, bias=False),
                nn.BatchNorm2d(out_channels),
            ]
        super().__init__(*layers)


class Stem(nn.Sequential):
    """3x3 conv + BN + ReLU (stride up to 2), then max-pooling for the rest of the stride."""

    def __init__(self, in_channels: int, channels: int, stride: int) -> None:
        first = min(stride, 2)
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, channels, 3, stride=first, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        ]
        if stride > first:
            layers.append(nn.MaxPool2d(stride // first))
        super().__init__(*layers)


class SepConv(nn.Sequential):
    """ReLU, 3x3 depthwise conv, 1x1 pointwise conv, BN; then 2x2 max-pool when staging."""

    def __init__(self, in_channels: int, out_channels: int, stage: bool) -> None:
        layers: list[nn.Module] = [
            nn.ReLU(),
            nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        if stage:
            layers.append(nn.MaxPool2d(2))
        super().__init__(*layers)


class PooledProjection(nn.Sequential):
    """A pooled-merge sink's tail: ReLU, global average pool, linear projection to the head's
    width, batch norm.

    Written as a 1x1 convolution on the 1x1 pooled map, so the vector stays ``(B, D, 1, 1)``
    like every other tensor between vertices. The batch norm plays the part of the one in the
    maps merge's scaling blocks: without it (a biased projection) the merge trained 4.8 points
    worse on digits. The ReLU keeps the sink's own batch-norm shift meaningful (without it the
    projection's batch norm would cancel that shift).
    """

    def __init__(self, channels: int, width: int) -> None:
        super().__init__(
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, width, 1, bias=False),
            nn.BatchNorm2d(width),
        )


class VertexBlock(nn.Module):
    """One spec vertex: scaling blocks on its inputs, aggregation, then its operation.

    A sink of a ``pooled``-merge spec also runs its :class:`PooledProjection`, so that only the
    projected vector leaves the device that computes the sink.
    """

    def __init__(self, spec: ArchSpec, node: Node) -> None:
        super().__init__()
        self.op = node.op
        self.aggregation = spec.aggregation
        edges = spec.in_edges[node.id]
        nodes = spec.node_map
        self.adapters = nn.ModuleList(
            ScalingBlock(e, nodes[e.src].channels, node.in_channels) for e in edges
        )
        if node.op == "input":
            self.body: nn.Module = Stem(spec.input_shape[0], node.channels, spec.stem.stride)
        elif node.op == "sepconv3x3":
            self.aggregate = create_aggregation(spec.aggregation)
            self.weight = nn.Parameter(self.aggregate.initial_weights(len(edges)))
            self.body = SepConv(node.in_channels, node.channels, node.stage)
        else:  # mean
            self.body = nn.Identity()
        self.pooled = (
            PooledProjection(node.channels, spec.head_width)
            if node.id in spec.pooled_vertices
            else None
        )

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        out = self._compute(inputs)
        return out if self.pooled is None else self.pooled(out)

    def _compute(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        if self.op == "input":
            return self.body(inputs[0])
        xs = [adapt(x) for adapt, x in zip(self.adapters, inputs, strict=True)]
        if self.op == "mean":
            return torch.stack(xs).mean(0)
        return self.body(self.aggregate.combine(self.weight, xs))


class Head(nn.Sequential):
    """ReLU, global average pooling, dropout and the linear classifier."""

    def __init__(self, channels: int, num_classes: int, dropout: float) -> None:
        super().__init__(
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(channels, num_classes),
        )
