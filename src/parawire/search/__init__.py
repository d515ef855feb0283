"""Latency-aware architecture search: accurate AND fast when one inference is split over k
devices (``parawire search``).

* Black-box multi-objective search with Optuna (``run_search``): generator family and its
  parameters, vertices, widths, staging, merge mode and wire dtype are proposed by a sampler
  (NSGA-II by default, TPE, random); each proposal is trained briefly (accuracy) and its
  recommended k-device deployment simulated (latency), under an optional parameter budget.
  Resumable and shareable: any number of processes, on one machine or many, run one search.
* The Pareto front as a table, JSON and spec files (``parawire.search.front``).

Python API::

    from parawire.search import SearchConfig, run_search
    outcome = run_search(SearchConfig(dataset="digits", trials=20, epochs=2), Path("runs/s"))

The names load on first use, so that the CLI's ``--help`` does not import torch or Optuna.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from parawire._lazy import lazy_names

if TYPE_CHECKING:
    from parawire.search.config import SearchConfig
    from parawire.search.front import pareto_front
    from parawire.search.runner import SearchOutcome, load_search, run_search
    from parawire.search.samplers import create_sampler, list_samplers, register_sampler
    from parawire.search.space import (
        SPACES,
        Choice,
        SearchSpace,
        create_space,
        list_spaces,
        register_space,
    )

# Public name -> the module of this package that defines it.
_LAZY = {
    "SearchConfig": "config",
    "pareto_front": "front",
    "SearchOutcome": "runner",
    "load_search": "runner",
    "run_search": "runner",
    "create_sampler": "samplers",
    "list_samplers": "samplers",
    "register_sampler": "samplers",
    "SPACES": "space",
    "Choice": "space",
    "SearchSpace": "space",
    "create_space": "space",
    "list_spaces": "space",
    "register_space": "space",
}

__getattr__, __dir__ = lazy_names(__name__, {k: f"parawire.search.{m}" for k, m in _LAZY.items()})

__all__ = [
    "SPACES",
    "Choice",
    "SearchConfig",
    "SearchOutcome",
    "SearchSpace",
    "create_sampler",
    "create_space",
    "list_samplers",
    "list_spaces",
    "load_search",
    "pareto_front",
    "register_sampler",
    "register_space",
    "run_search",
]
