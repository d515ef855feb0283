"""Spec -> ``torch.nn.Module``.

``build_model(spec)`` gives the whole network; ``build_vertex(spec, id)`` and
``build_head(spec)`` give the pieces one device needs, with the same parameter names
(``vertices.<id>.*``, ``head.*``) so that a full state dict can be split between devices.
"""

from __future__ import annotations

import torch
from torch import nn

from parawire._memory import require_memory
from parawire.arch.footprint import model_bytes, spec_footprint
from parawire.arch.spec import ArchSpec
from parawire.nn.blocks import Head, VertexBlock


def build_vertex(spec: ArchSpec, node_id: int) -> VertexBlock:
    """The module of one vertex (its scaling blocks and operation)."""
    return VertexBlock(spec, spec.node_map[node_id])


def build_head(spec: ArchSpec) -> Head:
    """The classifier that follows the network's output vertex."""
    out = spec.node_map[spec.output_node]
    return Head(out.channels, spec.num_classes, spec.head.dropout)


class ArchNet(nn.Module):
    """A network built from a spec: vertices executed in the spec's topological order."""

    def __init__(self, spec: ArchSpec) -> None:
        super().__init__()
        self.spec = spec
        self.vertices = nn.ModuleDict({str(n.id): build_vertex(spec, n.id) for n in spec.nodes})
        self.head = build_head(spec)
        self._order = spec.topological_order
        self._inputs = {v: [e.src for e in spec.in_edges[v]] for v in self._order}
        # after computing vertex v, these outputs are no longer needed
        last_use: dict[int, int] = {}
        for v in self._order:
            for u in self._inputs[v]:
                last_use[u] = v
        self._free_after: dict[int, list[int]] = {v: [] for v in self._order}
        for u, v in last_use.items():
            self._free_after[v].append(u)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, C, H, W)
        outputs: dict[int, torch.Tensor] = {}
        for v in self._order:
            args = [outputs[u] for u in self._inputs[v]] if self._inputs[v] else [x]
            outputs[v] = self.vertices[str(v)](args)
            for u in self._free_after[v]:
                del outputs[u]
        return self.head(outputs[self.spec.output_node])  # (B, num_classes)


def build_model(spec: ArchSpec) -> ArchNet:
    """Build the PyTorch module of a (validated) spec; ``ResourceError`` in one line, before
    allocating, when the model and one image's feature maps would not fit in free memory."""
    require_memory(
        model_bytes(spec.validate()),
        f"the model of this spec ({spec_footprint(spec).parameters:,} parameters)",
        "use a smaller spec (fewer channels or vertices) or a machine with more memory",
    )
    return ArchNet(spec)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
