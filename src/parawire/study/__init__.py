"""``parawire study``: sample architectures per generator, train, analyse, compare.

Python API::

    from parawire.study import StudyConfig, run_study
    outcome = run_study(StudyConfig(dataset="digits", samples=2, epochs=3), Path("runs/s"))
"""

from parawire.study.config import BASELINE_GROUPS, GENERATOR_GROUPS, StudyConfig, demo_config
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
