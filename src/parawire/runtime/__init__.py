"""Distributed runtime: run one inference split across ranks with torch.distributed (gloo).

    from parawire.runtime import make_plan, run_local, RunOptions
    plan = make_plan(spec, devices=2)
    report = run_local(plan, RunOptions(runs=50))

See ``docs/runtime.md`` for the plan format, the engine and launching on real devices.
"""

from parawire.runtime.engine import RankEngine
from parawire.runtime.launch import RunOptions, RunReport, run_local, run_rank
from parawire.runtime.link import LinkModel, Outbox
from parawire.runtime.plan import Plan, load_plan_or_spec, make_plan, seeded_state_dict

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
