"""METIS (through ``pymetis``) on the clique expansion of the EDGE'23 hypergraph.

Karypis, Kumar, "A Fast and High Quality Multilevel Scheme for Partitioning Irregular Graphs",
SIAM J. Sci. Comput. 20(1), 1998. The paper names hMETIS (the hypergraph version, not on PyPI);
plain METIS needs a graph, so each hyperedge becomes a clique over its pins whose edges carry the
hyperedge's weight divided by (pins - 1), the usual clique-expansion normalisation (a hyperedge
cut in two then costs about its weight). The objective is edge cut, not km1, so expect more
communication than ``kahypar``: that gap is what the hypergraph model buys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from parawire._memo import by_identity
from parawire.analysis.graph import CostGraph
from parawire.analysis.hypergraph import Hypergraph, build_hypergraph
from parawire.analysis.partitioners._base import Partitioner
from parawire.analysis.partitioners._registry import register_partitioner

if TYPE_CHECKING:
    from parawire.analysis.profiles import Profile


@by_identity  # one expansion per hypergraph: every eps and device count asks for it
def clique_expansion(hg: Hypergraph) -> tuple[list[int], list[int], list[int]]:
    """CSR (xadj, adjncy, eweights) of the clique-expanded hypergraph; weights >= 1."""
    weights: dict[tuple[int, int], int] = {}
    for pins, w in zip(hg.pins, hg.edge_weights, strict=True):
        share = max(1, round(w / max(1, len(pins) - 1)))
        for i, a in enumerate(pins):
            for b in pins[i + 1 :]:
                if a != b:
                    key = (min(a, b), max(a, b))
                    weights[key] = weights.get(key, 0) + share
    neighbours: list[list[tuple[int, int]]] = [[] for _ in range(hg.num_vertices)]
    for (a, b), w in sorted(weights.items()):
        neighbours[a].append((b, w))
        neighbours[b].append((a, w))
    xadj, adjncy, eweights = [0], [], []
    for row in neighbours:
        for b, w in sorted(row):
            adjncy.append(b)
            eweights.append(w)
        xadj.append(len(adjncy))
    return xadj, adjncy, eweights


@register_partitioner("metis")
@dataclass(frozen=True)
class Metis(Partitioner):
    """k-way METIS edge-cut partition of the clique expansion (seeded; ufactor from eps)."""

    uses_eps = True

    def _partition(
        self, graph: CostGraph, n: int, *, profile: Profile | None, seed: int, eps: float
    ) -> tuple[dict[int, int], dict[str, Any]]:
        import pymetis

        hg = build_hypergraph(graph)
        xadj, adjncy, eweights = clique_expansion(hg)
        # METIS's ufactor is the allowed imbalance in thousandths (eps = 0.03 -> 30).
        options = pymetis.Options(seed=seed, ufactor=max(1, round(eps * 1000)))
        result = pymetis.part_graph(
            n,
            pymetis.CSRAdjacency(xadj, adjncy),
            vweights=list(hg.node_weights),
            eweights=eweights,
            options=options,
        )
        blocks = [int(b) for b in result.vertex_part]
        return dict(zip(hg.vertex_ids, blocks, strict=True)), {"edge_cut": int(result.edge_cuts)}
