"""The classical random-graph generators used by RandWire, through networkx.

Xie, Kirillov, Girshick, He, "Exploring Randomly Wired Neural Networks for Image Recognition",
ICCV 2019 (https://arxiv.org/abs/1904.01569). Defaults are RandWire's: ER P=0.2, BA M=5,
WS K=4 P=0.75.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from parawire.graphs._base import GraphGenerator, require
from parawire.graphs._registry import register_generator


@register_generator("er")
@dataclass(frozen=True)
class ErdosRenyi(GraphGenerator):
    """Erdős–Rényi G(n, P): every pair of vertices is joined independently with probability P."""

    p: float = 0.2  # edge probability

    def check(self) -> None:
        require(0.0 <= self.p <= 1.0, self.name, f"p must be in [0, 1], got {self.p}")

    def sample(self, seed: int) -> nx.Graph:
        return nx.gnp_random_graph(self.n, self.p, seed=seed)


@register_generator("ba")
@dataclass(frozen=True)
class BarabasiAlbert(GraphGenerator):
    """Barabási–Albert preferential attachment: each new vertex attaches to M existing ones.

    networkx starts from a star on M+1 vertices, so every vertex after the first M+1 has degree
    at least M.
    """

    m: int = 5  # edges added with each new vertex

    def check(self) -> None:
        require(1 <= self.m < self.n, self.name, f"m must be in [1, n), got m={self.m} n={self.n}")

    def sample(self, seed: int) -> nx.Graph:
        return nx.barabasi_albert_graph(self.n, self.m, seed=seed)


@register_generator("ws")
@dataclass(frozen=True)
class WattsStrogatz(GraphGenerator):
    """Watts–Strogatz small world: a ring lattice of degree K, each edge rewired with P."""

    k: int = 4  # ring-lattice degree (K/2 neighbours on each side); even
    p: float = 0.75  # rewiring probability

    def check(self) -> None:
        require(
            2 <= self.k < self.n and self.k % 2 == 0,
            self.name,
            f"k must be even and in [2, n), got k={self.k} n={self.n}",
        )
        require(0.0 <= self.p <= 1.0, self.name, f"p must be in [0, 1], got {self.p}")

    def sample(self, seed: int) -> nx.Graph:
        return nx.watts_strogatz_graph(self.n, self.k, self.p, seed=seed)
