"""``parawire study``: sample architectures per generator, train, analyse, compare.

Python API::

    from parawire.study import StudyConfig, run_study
    outcome = run_study(StudyConfig(dataset="digits", samples=2, epochs=3), Path("runs/s"))

The names load on first use (module ``__getattr__``): ``parawire.study.config`` and ``.store``
stay importable without torch, which the training and analysis modules import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from parawire._lazy import lazy_names

if TYPE_CHECKING:
    from parawire.study.config import (
        BASELINE_GROUPS,
        GENERATOR_GROUPS,
        StudyConfig,
        demo_config,
    )
    from parawire.study.jobs import Job, plan_jobs
    from parawire.study.runner import StudyOutcome, build_tables, run_study
    from parawire.study.store import StudyStore
    from parawire.study.tables import (
        generators_table,
        merge_table,
        stability_table,
        staging_table,
        uniform_table,
    )

# Public name -> the module of this package that defines it.
_LAZY = {
    "BASELINE_GROUPS": "config",
    "GENERATOR_GROUPS": "config",
    "StudyConfig": "config",
    "demo_config": "config",
    "Job": "jobs",
    "plan_jobs": "jobs",
    "StudyOutcome": "runner",
    "build_tables": "runner",
    "run_study": "runner",
    "StudyStore": "store",
    "generators_table": "tables",
    "merge_table": "tables",
    "stability_table": "tables",
    "staging_table": "tables",
    "uniform_table": "tables",
}


__getattr__, __dir__ = lazy_names(__name__, {k: f"parawire.study.{m}" for k, m in _LAZY.items()})


__all__ = [
    "BASELINE_GROUPS",
    "GENERATOR_GROUPS",
    "Job",
    "StudyConfig",
    "StudyOutcome",
    "StudyStore",
    "build_tables",
    "demo_config",
    "generators_table",
    "merge_table",
    "plan_jobs",
    "run_study",
    "stability_table",
    "staging_table",
    "uniform_table",
]
