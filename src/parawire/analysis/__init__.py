"""Concurrency analysis: costs, hypergraph, partitioning, schedule simulation and score."""

from parawire.analysis.costs import spec_costs
from parawire.analysis.graph import CostGraph, Vertex

__all__ = ["CostGraph", "Vertex", "spec_costs"]
