"""Distributed runtime: run one inference split across ranks with torch.distributed (gloo).

    from parawire.runtime import make_plan, run_local, RunOptions
    plan = make_plan(spec, devices=2)
    report = run_local(plan, RunOptions(runs=50))

See ``docs/runtime.md`` for the plan format, the engine and launching on real devices. The
names load on first use (module ``__getattr__``), so that light modules of this package
(``parawire.runtime.lifeline``) import without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from parawire._lazy import lazy_names

if TYPE_CHECKING:
    from parawire.runtime.engine import RankEngine
    from parawire.runtime.launch import run_local
    from parawire.runtime.link import LinkModel, Outbox
    from parawire.runtime.options import RunOptions
    from parawire.runtime.plan import Plan, seeded_state_dict
    from parawire.runtime.planner import load_plan_or_spec, make_plan
    from parawire.runtime.rank import run_rank
    from parawire.runtime.run_report import RunReport

# Public name -> the module of this package that defines it.
_LAZY = {
    "RankEngine": "engine",
    "RunOptions": "launch",
    "RunReport": "launch",
    "run_local": "launch",
    "run_rank": "launch",
    "LinkModel": "link",
    "Outbox": "link",
    "Plan": "plan",
    "load_plan_or_spec": "planner",
    "make_plan": "planner",
    "seeded_state_dict": "plan",
}

__getattr__, __dir__ = lazy_names(__name__, {k: f"parawire.runtime.{m}" for k, m in _LAZY.items()})

__all__ = [
    "LinkModel",
    "Outbox",
    "Plan",
    "RankEngine",
    "RunOptions",
    "RunReport",
    "load_plan_or_spec",
    "make_plan",
    "run_local",
    "run_rank",
    "seeded_state_dict",
]
