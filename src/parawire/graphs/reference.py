"""Reference wirings for comparisons: one chain (ResNet/VGG-like) and independent lanes."""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from parawire.graphs._base import GraphGenerator, require
from parawire.graphs._registry import register_generator


@register_generator("chain")
@dataclass(frozen=True)
class Chain(GraphGenerator):
    """n vertices in one line: every layer waits for the previous one (no concurrency)."""

    def sample(self, seed: int) -> nx.Graph:
        return nx.path_graph(self.n)


@register_generator("lanes")
@dataclass(frozen=True)
class Lanes(GraphGenerator):
    """``width`` equal, independent chains of n / width vertices: the ideal distributable case."""

    width: int = 4  # number of independent lanes; must divide n

    def check(self) -> None:
        require(self.width >= 1, self.name, f"width must be >= 1, got {self.width}")
        require(
            self.n % self.width == 0,
            self.name,
            f"width must divide n (n={self.n}, width={self.width})",
        )

    def size_unit(self) -> int:
        """Lanes of equal length: every graph has a multiple of ``width`` vertices."""
        return self.width

    def sample(self, seed: int) -> nx.Graph:
        length = self.n // self.width
        g = nx.Graph()
        g.add_nodes_from(range(self.n))
        for lane in range(self.width):
            start = lane * length
            nx.add_path(g, range(start, start + length))
        return g
