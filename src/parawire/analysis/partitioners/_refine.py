"""Acyclic refinement: make data flow between devices one way only.

A km1 partition ignores edge direction, so device A may send to device B and later wait for B
to send back: the devices then run in lock step instead of side by side. The refinement orders
the devices by the mean topological position of their vertices and walks the vertices in
topological order, moving any vertex whose producer sits on a later device onto that producer's
device. Afterwards every tensor flows from an earlier device to a later (or the same) one, so the
device-level flow graph is acyclic (a pipeline), at the price of some balance.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from parawire.analysis.graph import CostGraph

if TYPE_CHECKING:
    from parawire.analysis.profiles import Profile

REFINEMENTS = ("none", "acyclic", "best")  # "best": the faster of none/acyclic, by simulation


def acyclic_refinement(graph: CostGraph, assignment: Mapping[int, int]) -> dict[int, int]:
    """The placement with every cross-device tensor flowing from an earlier device to a later."""
    position = {v: i for i, v in enumerate(graph.topological_order)}
    members: dict[int, list[int]] = {}
    for v, d in assignment.items():
        members.setdefault(d, []).append(position[v])
    order = sorted(members, key=lambda d: (sum(members[d]) / len(members[d]), d))
    rank = {d: r for r, d in enumerate(order)}
    device_at_rank = dict(enumerate(order))
    out = dict(assignment)
    for v in graph.topological_order:
        needed = max((rank[out[p]] for p in graph.producers[v]), default=-1)
        if rank[out[v]] < needed:
            out[v] = device_at_rank[needed]
    return out


def refine_placement(
    graph: CostGraph,
    assignment: dict[int, int],
    n: int,
    mode: str,
    profile: Profile | None,
) -> tuple[dict[int, int], str]:
    """(the placement to keep, which one it is: "none" or "acyclic") for a refinement mode.

    ``best`` simulates both on ``profile`` and keeps the shorter makespan (ties: unrefined);
    without a profile it keeps the unrefined placement.
    """
    if mode == "none" or (mode == "best" and profile is None):
        return assignment, "none"
    refined = acyclic_refinement(graph, assignment)
    if mode == "acyclic":
        return refined, "acyclic"
    from parawire.analysis.simulate import Simulator

    assert profile is not None
    sim = Simulator.of(graph, profile)
    before, after = sim.makespan(assignment), sim.makespan(refined)
    return (refined, "acyclic") if after < before else (assignment, "none")
