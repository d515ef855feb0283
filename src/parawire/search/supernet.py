"""The supernet of the differentiable wiring search (``parawire.search.darts``, whose module
docstring gives the method): the dense DAG of every forward edge (``supernet_spec``), and its
module with one learned gate per edge (``Supernet``).
"""

from __future__ import annotations

import torch
from torch import nn

from parawire._version import __version__
from parawire.arch.spec import ArchSpec, Edge, Head, Node, Provenance, Stage, Stem
from parawire.errors import ConfigError


def level_of(vertex: int, nodes: int, stages: int) -> int:
    """The resolution level (0-based) of sepconv vertex ``vertex`` (1..nodes) among ``stages``
    near-equal consecutive levels."""
    return (vertex - 1) * stages // nodes


def supernet_spec(
    nodes: int,
    channels: int,
    input_shape: tuple[int, int, int],
    num_classes: int,
    stem_stride: int = 2,
    stages: int = 1,
) -> ArchSpec:
    """The dense DAG: input -> every vertex, every forward edge, every vertex -> output; with
    ``stages`` > 1 the vertices staged in levels (``parawire.search.darts``'s docstring)."""
    if not 1 <= stages <= nodes:
        raise ConfigError(f"the supernet's stages must lie in 1..{nodes} (its nodes), got {stages}")
    if min(input_shape[1:]) // stem_stride < 2 ** (stages - 1):
        raise ConfigError(
            f"{stages} stages halve the {input_shape[1]}x{input_shape[2]} input's "
            f"{min(input_shape[1:]) // stem_stride}-pixel stem maps below one pixel; lower "
            "--stages or --stem-stride"
        )
    out = nodes + 1
    vertices = [Node(0, "input", channels, 1)]
    for i in range(1, nodes + 1):
        level = level_of(i, nodes, stages)
        first = level > 0 and level_of(i - 1, nodes, stages) < level
        vertices.append(Node(i, "sepconv3x3", channels << level, 1 << level, first))
    vertices.append(Node(out, "mean", channels << (stages - 1), 1 << (stages - 1)))

    def edge(src: int, dst: int) -> Edge:  # the scaling block its ends need
        a, b = vertices[src], vertices[dst]
        return Edge(src, dst, pool=b.in_scale // a.scale, project=a.channels != b.in_channels)

    edges = [edge(0, j) for j in range(1, nodes + 1)]
    edges += [edge(i, j) for i in range(1, nodes + 1) for j in range(i + 1, nodes + 1)]
    edges += [edge(i, out) for i in range(1, nodes + 1)]
    return ArchSpec(
        input_shape=tuple(input_shape),  # type: ignore[arg-type]
        num_classes=num_classes,
        stem=Stem(channels=channels, stride=stem_stride),
        nodes=tuple(vertices),
        edges=tuple(edges),
        stages=(Stage(0, 0, out, tuple(range(out + 1))),),
        head=Head(),
        aggregation="sigmoid_weights",
        merge="maps",
        provenance=Provenance(
            generator="dense",
            params={"n": nodes, "stages": stages},
            parawire_version=__version__,
        ),
    ).validate()


class Supernet(nn.Module):
    """The supernet's module: ``ArchNet`` vertices, a gated output mean, one logit per edge."""

    def __init__(self, spec: ArchSpec) -> None:
        super().__init__()
        from parawire.nn import build_model

        self.spec = spec
        self.net = build_model(spec)
        out = spec.output_node
        self.out_logits = nn.Parameter(torch.zeros(len(spec.in_edges[out])))
        position = {}
        for v, edges in spec.in_edges.items():
            for p, e in enumerate(edges):
                position[(e.src, e.dst)] = (v, p)
        self._slots = [position[(e.src, e.dst)] for e in spec.edges]  # spec edge -> (v, index)
        self._order = spec.topological_order

    def _logits(self, v: int) -> torch.Tensor:
        if v == self.spec.output_node:
            return self.out_logits
        return self.net.vertices[str(v)].weight

    def arch_parameters(self) -> list[nn.Parameter]:
        """The edge logits: the sepconv vertices' aggregation weights and the output's gates."""
        return [self._logits(v) for v in self._order if v != self.spec.input_node]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every other parameter (convolutions, norms, head)."""
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def gates(self) -> torch.Tensor:
        """sigmoid(logit) of every edge, in ``spec.edges`` order."""
        logits = {v: self._logits(v) for v in self._order if v != self.spec.input_node}
        return torch.stack([logits[v][p] for v, p in self._slots]).sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, C, H, W)
        outputs: dict[int, torch.Tensor] = {}
        spec, vertices = self.spec, self.net.vertices
        for v in self._order:
            if v == spec.input_node:
                outputs[v] = vertices[str(v)]([x])
            elif v == spec.output_node:
                g = self.out_logits.sigmoid()
                adapters = vertices[str(v)].adapters  # the scaling blocks of the staged inputs
                xs = torch.stack(
                    [a(outputs[e.src]) for a, e in zip(adapters, spec.in_edges[v], strict=True)]
                )  # (E, B, C, H, W)
                outputs[v] = (g.view(-1, 1, 1, 1, 1) * xs).sum(0) / g.sum()
            else:
                outputs[v] = vertices[str(v)]([outputs[e.src] for e in spec.in_edges[v]])
        return self.net.head(outputs[spec.output_node])  # (B, num_classes)
