"""The samplers a search can use, by name: ``nsga2`` (default), ``tpe`` and ``random``.

* ``nsga2``: Deb et al.'s NSGA-II (Optuna's ``NSGAIISampler``), the standard multi-objective
  evolutionary search; its population is sized from the trial budget so that a small search
  still evolves over a few generations.
* ``tpe``: Optuna's multi-objective TPE (Ozaki et al., GECCO 2020).
* ``random``: independent uniform draws, the first paper's own method (random samples of the
  generators, scored afterwards); it cannot steer by the parameter budget.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from parawire.registry import Registry
from parawire.search._base import SamplerFactory

if TYPE_CHECKING:  # imported where a sampler is made: the CLI lists the names without it
    import optuna

_SAMPLERS: Registry[SamplerFactory] = Registry("sampler")
register_sampler = _SAMPLERS.register  # function decorator: @register_sampler("name")
list_samplers = _SAMPLERS.names  # sorted names matching a glob pattern
DEFAULT_SAMPLER = "nsga2"
MIN_POPULATION = 4  # NSGA-II needs a few parents to cross over
MAX_POPULATION = 50  # Optuna's default population


def create_sampler(name: str, seed: int, budget: int = 100) -> optuna.samplers.BaseSampler:
    """A fresh sampler registered as ``name`` (``ConfigError`` listing the names otherwise)."""
    return _SAMPLERS.get(name)(seed, budget)


@register_sampler("nsga2")
def _nsga2(seed: int, budget: int) -> optuna.samplers.BaseSampler:
    import optuna

    population = max(MIN_POPULATION, min(MAX_POPULATION, budget // 4))
    return optuna.samplers.NSGAIISampler(population_size=population, seed=seed)


@register_sampler("tpe")
def _tpe(seed: int, budget: int) -> optuna.samplers.BaseSampler:
    import optuna

    startup = max(2, min(10, budget // 4))  # Optuna's default 10 would leave a small search random
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)


@register_sampler("random")
def _random(seed: int, budget: int) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)
