"""Clusters of a network DAG: the connected components left without its input and output.

EDGE'23 Section V-A deploys a network by these components: each one can run on its own
device, exchanging nothing with the others but the input it starts from and the output it
ends in. A chain has one; a dp graph several (its ring breaks into locally dense clusters).
"""

from __future__ import annotations

from collections.abc import Hashable

import networkx as nx


def clusters(dag: nx.DiGraph, source: Hashable, sink: Hashable) -> list[list[Hashable]]:
    """Sorted vertex lists of the weakly connected components of ``dag`` minus source and sink.

    Ordered by their smallest vertex, so the result is deterministic.
    """
    inner = dag.subgraph(v for v in dag if v not in (source, sink))
    return sorted((sorted(c) for c in nx.weakly_connected_components(inner)), key=lambda c: c[0])
