"""Mt-KaHyPar on the EDGE'23 hypergraph: k-way, connectivity-minus-one (km1) objective.

Gottesbüren, Heuer, Sanders, Schlag, "Scalable High-Quality Hypergraph Partitioning", ACM TOPC
2024 (Mt-KaHyPar); PyPI ``mtkahypar``. km1 on byte-weighted hyperedges is exactly the paper's
Lambda = sum lambda_j (gamma_j - 1), so this solves the partition the concurrency score asks for
(the paper names hMETIS).

Pitfalls handled here:

* only the DETERMINISTIC preset is reproducible for a fixed seed, so it is the only one used;
* weights are int32: the hypergraph module scales FLOPs and bytes to integers;
* a hypergraph is tied to the preset of the context it was created with (not to k or eps): one
  Mt-KaHyPar hypergraph per architecture serves every k, eps and start (``_solver_of``);
* Mt-KaHyPar is initialised once per process (``_initializer``), a context made once per (k, eps);
* a call's cost is the solver's own work, not its set-up: measured on a 42-vertex hypergraph,
  building the hypergraph and reading the blocks take 1-3% of a ``partition`` call, which runs
  20 initial partitionings per bisection (about 1.5 ms of CPU per bisection even on 4 vertices).
  So what a call costs is saved only by not making it: each (k, eps, seed, start) is solved once
  per hypergraph content and remembered (the result is seeded, so a repeat would be the same),
  which saves the repeats of analyses of one architecture at several k or on several profiles;
* an impossible balance (one vertex heavier than the allowed part weight) comes back silently:
  the imbalance obtained is checked and reported (``info["balanced"]``);
* km1 ignores edge direction, so a device may send to another and later receive from it; the
  ``refine`` option can make the device-level flow acyclic (see ``_refine``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from parawire.analysis.graph import CostGraph
from parawire.analysis.hypergraph import Hypergraph, build_hypergraph
from parawire.analysis.metrics import load_variability, part_weights
from parawire.analysis.partitioners._base import DEFAULT_EPS, Partitioner
from parawire.analysis.partitioners._refine import REFINEMENTS, refine_placement
from parawire.analysis.partitioners._registry import register_partitioner
from parawire.analysis.partitioners.simple import Groups
from parawire.errors import ConfigError

if TYPE_CHECKING:
    import mtkahypar

    from parawire.analysis.profiles import Profile

THREADS = 1  # deterministic preset; one thread keeps runs cheap on small graphs
VCYCLES = 1  # V-cycles run when improving the component-group start


@functools.cache
def _initializer() -> mtkahypar.Initializer:
    """The process-wide Mt-KaHyPar initializer (initialising twice is an error in the library)."""
    import mtkahypar

    return mtkahypar.initialize(THREADS, False)


@functools.cache
def _context(n: int, eps: float) -> mtkahypar.Context:
    """The DETERMINISTIC-preset context for k = n and this eps (made once: it costs ~2 ms)."""
    import mtkahypar

    context = _initializer().context_from_preset(mtkahypar.PresetType.DETERMINISTIC)
    context.set_partitioning_parameters(n, eps, mtkahypar.Objective.KM1)
    context.logging = False
    return context


@dataclass(frozen=True)
class _Solution:
    blocks: tuple[int, ...]  # block of every hypergraph vertex
    imbalance: float  # Mt-KaHyPar's own imbalance figure
    km1: int  # connectivity - 1 on the scaled hyperedge weights
    start: str  # "scratch" or "groups" (V-cycles from the component groups)


@dataclass(frozen=True)
class _Solver:
    """Mt-KaHyPar's copy of one hypergraph, and the solutions found on it so far."""

    hypergraph: mtkahypar.Hypergraph  # built once, partitioned under any DETERMINISTIC context
    solved: dict[tuple[int, float, int, tuple[int, ...] | None], _Solution]  # (n, eps, seed, start)


RECENT_HYPERGRAPHS = 64  # solvers kept: the architectures a search or study is scoring


def _solver_of(hg: Hypergraph) -> _Solver:
    """The solver of ``hg``'s content: the weights and pins, all that Mt-KaHyPar sees.

    Keyed by content, not identity, so that analyses of one architecture at several device
    counts or on several profiles (each of which makes its own cost graph) share it.
    """
    return _solver_for(hg.num_vertices, hg.pins, hg.node_weights, hg.edge_weights)


@functools.lru_cache(maxsize=RECENT_HYPERGRAPHS)
def _solver_for(
    num_vertices: int,
    pins: tuple[tuple[int, ...], ...],
    node_weights: tuple[int, ...],
    edge_weights: tuple[int, ...],
) -> _Solver:
    """A solver whose Mt-KaHyPar hypergraph is made once for every n, eps and start
    (a partition leaves the hypergraph as it was: tested against fresh hypergraphs)."""
    hypergraph = _initializer().create_hypergraph(
        _context(2, DEFAULT_EPS),  # any context of the preset: the hypergraph depends on it alone
        num_vertices,
        len(pins),
        [list(p) for p in pins],
        list(node_weights),
        list(edge_weights),
    )
    return _Solver(hypergraph, {})


def kahypar_partition(
    hg: Hypergraph, n: int, *, seed: int, eps: float, initial: list[int] | None = None
) -> _Solution:
    """Mt-KaHyPar's k-way km1 partition: from scratch, or V-cycles improving ``initial``.

    Solved once per hypergraph and (n, eps, seed, initial): a repeat returns the first answer,
    which is what Mt-KaHyPar would compute again (the DETERMINISTIC preset and the seed fix it).
    """
    solver = _solver_of(hg)
    key = (n, eps, seed, None if initial is None else tuple(initial))
    known = solver.solved.get(key)
    if known is not None:
        return known
    import mtkahypar

    context = _context(n, eps)
    mtkahypar.set_seed(seed)
    if initial is None:
        result = solver.hypergraph.partition(context)
    else:
        result = solver.hypergraph.create_partitioned_hypergraph(context, n, initial)
        result.improve_partition(context, VCYCLES)
    blocks = tuple(result.block_id(i) for i in range(hg.num_vertices))
    start = "scratch" if initial is None else "groups"
    solution = _Solution(blocks, float(result.imbalance(context)), int(result.km1()), start)
    solver.solved[key] = solution
    return solution


@register_partitioner("kahypar")
@dataclass(frozen=True)
class KaHyPar(Partitioner):
    """Balanced k-way hypergraph partition minimising Lambda (DETERMINISTIC preset, seeded).

    Two starts: Mt-KaHyPar from scratch (``scratch``), and (``seed_groups``) Mt-KaHyPar's
    V-cycles improving the paper's component groups. km1 has many ties (every tensor of a
    uniform network weighs the same) and cannot tell a lane split along its length, which
    serialises two devices, from one lane per device; the component start supplies the latter.
    The balanced start with the lowest km1 wins; ties go to the shorter simulated schedule when
    a profile is given, else to the scratch start. The scratch start is the costly one (a
    ``partition`` call, 20 initial partitionings per bisection: 5-40 ms on a 42-vertex
    hypergraph); the groups start's V-cycle costs under a millisecond.
    """

    uses_eps = True
    refine: str = "none"  # "none", "acyclic", or "best" (the faster of both; needs a profile)
    seed_groups: bool = True  # also start from the component groups (see the class docstring)
    # also partition from scratch (the costly start): off only in analyze(effort="fast"), which
    # is about 3.5x cheaper but changes some choices (BENCHMARKS.md, "The fast effort level")
    scratch: bool = True

    def __post_init__(self) -> None:
        if not (self.scratch or self.seed_groups):
            raise ConfigError(
                "kahypar: no start left (scratch and seed_groups both off); turn one on"
            )
        if self.refine not in REFINEMENTS:
            raise ConfigError(
                f"kahypar: unknown refine {self.refine!r}; choose one of {', '.join(REFINEMENTS)}"
            )

    def _partition(
        self, graph: CostGraph, n: int, *, profile: Profile | None, seed: int, eps: float
    ) -> tuple[dict[int, int], dict[str, Any]]:
        hg = build_hypergraph(graph)
        solutions = [kahypar_partition(hg, n, seed=seed, eps=eps)] if self.scratch else []
        if self.seed_groups:
            groups = Groups().partition(graph, n, profile=profile).assignment
            solutions.append(
                kahypar_partition(hg, n, seed=seed, eps=eps, initial=hg.blocks(groups))
            )
        best = self._best(graph, hg, solutions, n, eps, profile)
        assignment = dict(zip(hg.vertex_ids, best.blocks, strict=True))
        parts = part_weights(hg, assignment, n)
        info: dict[str, Any] = {
            "start": best.start,
            "solver_imbalance": best.imbalance,
            "solver_km1": best.km1,
            "imbalance": load_variability(parts) - 1.0,
            "balanced": _balanced(parts, eps),
        }
        assignment, refined = refine_placement(graph, assignment, n, self.refine, profile)
        info["refined"] = refined
        return assignment, info

    @staticmethod
    def _best(
        graph: CostGraph,
        hg: Hypergraph,
        solutions: list[_Solution],
        n: int,
        eps: float,
        profile: Profile | None,
    ) -> _Solution:
        """Balanced first, then lowest km1; a km1 tie goes to the shorter simulated schedule."""

        def rank(s: _Solution) -> tuple[bool, int]:
            parts = part_weights(hg, dict(zip(hg.vertex_ids, s.blocks, strict=True)), n)
            return (not _balanced(parts, eps), s.km1)

        ranked = sorted(solutions, key=rank)
        tied = [s for s in ranked if rank(s) == rank(ranked[0])]
        if len(tied) == 1 or profile is None:
            return ranked[0]
        from parawire.analysis.simulate import Simulator

        sim = Simulator.of(graph, profile)

        def makespan(s: _Solution) -> float:
            return sim.makespan(dict(zip(hg.vertex_ids, s.blocks, strict=True)))

        return min(tied, key=makespan)


def _balanced(parts: list[int], eps: float) -> bool:
    """Mt-KaHyPar's bound: no block above (1 + eps) * ceil(W / n).

    The solver does not say when it could not keep it (one vertex heavier than the bound), so
    every result is checked here.
    """
    return max(parts) <= (1.0 + eps) * math.ceil(sum(parts) / len(parts))
