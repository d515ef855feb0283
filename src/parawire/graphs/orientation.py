"""DAG rules: turning an undirected graph into a DAG with one input and one output vertex."""

from __future__ import annotations

from collections.abc import Callable

import networkx as nx

from parawire.errors import ConfigError


def dfs_order(graph: nx.Graph) -> list[int]:
    """Vertex discovery order of the EDGE'23 depth-first search.

    The search starts at the lowest vertex id and always visits the smallest unvisited
    neighbour first; a disconnected graph restarts from its lowest unvisited vertex.
    """
    order: list[int] = []
    seen: set[int] = set()
    for root in sorted(graph.nodes):
        if root not in seen:
            found = list(nx.dfs_preorder_nodes(graph, root, sort_neighbors=sorted))
            order.extend(found)
            seen.update(found)
    return order


def orient_dfs(graph: nx.Graph) -> nx.DiGraph:
    """EDGE'23 rule: each edge points from the earlier-visited vertex to the later one."""
    rank = {v: i for i, v in enumerate(dfs_order(graph))}
    return _orient_by(graph, rank)


def orient_index(graph: nx.Graph) -> nx.DiGraph:
    """RandWire rule: each edge points from the lower to the higher vertex index."""
    return _orient_by(graph, {v: v for v in graph.nodes})


def _orient_by(graph: nx.Graph, rank: dict[int, int]) -> nx.DiGraph:
    dag = nx.DiGraph()
    dag.add_nodes_from(sorted(graph.nodes))
    for u, v in graph.edges:
        dag.add_edge(u, v) if rank[u] < rank[v] else dag.add_edge(v, u)
    return dag


ORIENTATIONS: dict[str, Callable[[nx.Graph], nx.DiGraph]] = {
    "dfs": orient_dfs,
    "index": orient_index,
}


def orient(graph: nx.Graph, rule: str = "dfs") -> nx.DiGraph:
    """Orient ``graph`` with a named rule (``dfs``: EDGE'23, ``index``: RandWire)."""
    try:
        return ORIENTATIONS[rule](graph)
    except KeyError:
        raise ConfigError(
            f"unknown orientation {rule!r}; choose one of {', '.join(ORIENTATIONS)}"
        ) from None
