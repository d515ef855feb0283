"""The names of the files parawire writes into a folder, in one place.

Each command that writes a folder, and each that reads one back (``report``, ``run PLAN``,
``eval``, ``--resume``), names its files from here, so a reader and its writer cannot drift.
It imports nothing of parawire's: this module is the ground floor.
"""

from __future__ import annotations

import os
from pathlib import Path

# Trained weights (train, plan, run --out): safetensors with a SHA-256 in its metadata.
WEIGHTS_FILE = "weights.safetensors"
CHECKPOINT_FILE = "checkpoint.safetensors"  # train: model and optimiser, for --resume
CHECKPOINT_JSON = "checkpoint.json"  # train: a readable copy of the checkpoint's metadata
METRICS_FILE = "metrics.json"  # train: the history of each epoch
SPEC_FILE = "spec.json"  # train: the spec a run trained
PLAN_DIR = "plan"  # analyze --out: the plan folder beside the analysis
PLAN_FILE = "plan.json"  # a plan folder's description (runtime.plan)
MANIFEST_FILE = "manifest.json"  # export: what each piece holds and how they connect
ANALYSIS_FILE = "analysis.json"  # analyze --out: the JSON ``--json`` prints
TIMELINE_FILE = "timeline.json"  # analyze --out: every compute and transfer interval
COMPARE_FILE = "compare.json"  # analyze --compare --out
REPORT_FILE = "report.html"  # report: written into the folder it reads
STUDY_RESULTS = "results.json"  # study: one row a network
STUDY_RESULTS_CSV = "results.csv"  # study: the same rows as CSV
STUDY_TABLES = "tables.json"  # study: the tables, as data
STUDY_TABLES_MD = "tables.md"  # study: the tables, as Markdown
STUDY_TABLES_DIR = "tables"  # study: each table as CSV, ``tables/<name>.csv``
FRONT_JSON = "front.json"  # search: the Pareto front
FRONT_MD = "front.md"  # search: the front as a Markdown table
TRIALS_CSV = "trials.csv"  # search: every trial
DIFF_FILE = "diff.json"  # search --method diff: the relaxed search's result
SEARCH_CONFIG = "search-config.json"  # search: the settings, to resume or report
SECRET_FILE = "secret.token"  # a plan folder's run secret (mode 0600)
TRACE_FILE = "trace-rank{rank}.json"  # run: each rank's measured trace
RANK_TIMINGS_FILE = "rank-timings.json"  # run: a rank's timings, handed to its launcher
TRACE_GLOB = TRACE_FILE.format(rank="*")  # every rank's trace
COMMANDS_FILE = "commands.txt"  # optional: the exact commands that produced a folder
PROFILES_FILE = "profiles.toml"  # calibrate: the user's profiles, in the user cache folder


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/parawire`` (default ``~/.cache/parawire``): the user's profiles and,
    unless ``$PARAWIRE_CACHE`` says otherwise, the decoded data sets (the one home of both)."""
    cache_home = os.environ.get("XDG_CACHE_HOME")
    return (Path(cache_home).expanduser() if cache_home else Path.home() / ".cache") / "parawire"
