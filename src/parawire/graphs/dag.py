"""Measures of a DAG shared by the spec, the cost model and the analysis: depth levels and the
critical path. One home each, so that the spec's width, the analysis's depth histogram and the
simulation's critical path can never disagree.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import networkx as nx


def depth_levels(dag: nx.DiGraph) -> dict[Hashable, int]:
    """Depth of every vertex: edges on the longest path from a source (sources: 0).

    This is the earliest step at which a vertex can run, independent of any traversal order, so
    the vertices at one depth are exactly those that may run side by side: networkx's
    topological generations.
    """
    return {v: depth for depth, gen in enumerate(nx.topological_generations(dag)) for v in gen}


def dag_depth(dag: nx.DiGraph) -> int:
    """Vertices on the longest path of ``dag`` (0 when empty): the one longest-path count."""
    return nx.dag_longest_path_length(dag) + 1 if dag.number_of_nodes() else 0


def critical_path_length(dag: nx.DiGraph, cost: Mapping[Hashable, float]) -> float:
    """The largest sum of ``cost`` over the vertices of one source-to-sink path (0 when empty).

    Vertex-weighted, which ``nx.dag_longest_path_length`` (edge-weighted) is not; with every
    cost 1 it is the number of vertices on the longest path.
    """
    finish: dict[Hashable, float] = {}
    for v in nx.topological_sort(dag):
        finish[v] = cost[v] + max((finish[p] for p in dag.predecessors(v)), default=0.0)
    return max(finish.values(), default=0.0)
