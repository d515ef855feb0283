"""Contract of a search sampler: a factory of seeded Optuna samplers for a multi-objective study.

A sampler is registered by name (``@register_sampler("nsga2")``) as a function
``factory(seed, budget) -> optuna.samplers.BaseSampler`` where

* ``seed`` (int) seeds every random draw: the same seed over the same finished trials proposes
  the same parameters, another seed other ones;
* ``budget`` is the number of trials the search will finish (population-based samplers size
  their population from it).

The search records the parameter budget on every finished trial as an Optuna constraint
(``Trial.set_constraint``, feasible when <= 0): a sampler that can steer by constraints reads
them from the trials (NSGA-II and TPE do), one that cannot (random) ignores them, and the search
then only leaves infeasible trials out of the Pareto front.

The returned sampler must handle two objectives (accuracy maximised, latency minimised) and a
define-by-run space whose parameters depend on the generator family. The contract suite in
``tests/test_search_samplers.py`` runs over every registered name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import optuna


class SamplerFactory(Protocol):
    """What a registered sampler name maps to (see the module docstring)."""

    def __call__(self, seed: int, budget: int) -> optuna.samplers.BaseSampler: ...
