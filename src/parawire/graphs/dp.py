"""The distance-probability (DP) generator of the EDGE'23 paper.

Hadidi, Cao, Ryoo, Kim, "Reducing Inference Latency with Concurrent Architectures for Image
Recognition at Edge", IEEE EDGE 2023 (arXiv 2011.07092), Eq. 1: N vertices on a ring; two
vertices at ring distance d (1 for neighbours, at most N/2) are joined with probability
``min(1, alpha * P ** (beta * d))``. Because the probability decays with distance, the ring
breaks into locally dense clusters; each cluster becomes an independent lane between the input
and output vertices, which is what lets one inference spread over devices.

The paper gives no values for alpha, beta and P. The defaults (alpha=1, beta=1, P=0.5) were
chosen so that N = 40 breaks into several clusters; docs/generators.md gives the measured
component statistics over 1,000 seeds (`python benchmarks/dp_components.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from parawire.graphs._base import GraphGenerator, require
from parawire.graphs._registry import register_generator


def ring_distance(i: int, j: int, n: int) -> int:
    """Distance between vertices i and j on a ring of n vertices (neighbours: 1)."""
    d = abs(i - j) % n
    return min(d, n - d)


@register_generator("dp")
@dataclass(frozen=True)
class DistanceProbability(GraphGenerator):
    """Ring graph whose edge probability decays with ring distance (Eq. 1 of EDGE'23)."""

    alpha: float = 1.0  # scale of the edge probability
    beta: float = 1.0  # steepness of the decay with distance
    p: float = 0.5  # base probability, raised to the power beta * d

    def check(self) -> None:
        require(self.alpha >= 0.0, self.name, f"alpha must be >= 0, got {self.alpha}")
        require(self.beta >= 0.0, self.name, f"beta must be >= 0, got {self.beta}")
        require(0.0 <= self.p <= 1.0, self.name, f"p must be in [0, 1], got {self.p}")

    def edge_probability(self, d: int) -> float:
        """Probability of an edge between two vertices at ring distance ``d``."""
        return min(1.0, self.alpha * self.p ** (self.beta * d))

    def sample(self, seed: int) -> nx.Graph:
        rng = np.random.default_rng(seed)
        n = self.n
        g = nx.Graph()
        g.add_nodes_from(range(n))
        i, j = np.triu_indices(n, k=1)
        dist = np.minimum(j - i, n - (j - i))
        probs = np.minimum(1.0, self.alpha * self.p ** (self.beta * dist.astype(float)))
        keep = rng.random(len(i)) < probs
        g.add_edges_from(zip(i[keep].tolist(), j[keep].tolist(), strict=True))
        return g
