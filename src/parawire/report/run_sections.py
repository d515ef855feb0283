"""The report's section of a run (``parawire run --json > DIR/run.json``): its figures, each
rank against the simulation, warnings, and the simulated and measured schedules.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from parawire.errors import DataError
from parawire.filenames import (
    PLAN_DIR,
    TRACE_GLOB,
)
from parawire.report import gather
from parawire.report.html import Picture, Section
from parawire.report.page import ReportPage, read_json, spec_of_plan
from parawire.report.tables import Table


def is_run(doc: Any) -> bool:
    return isinstance(doc, Mapping) and "p50_s" in doc and "ranks" in doc


def _run_table(run: Mapping[str, Any]) -> Table:
    ms = 1e3
    rows: list[tuple[str, Any]] = [
        ("ranks", run["devices"]),
        ("measured runs", run.get("runs")),
        ("fresh processes per side", run.get("processes", 1)),
        ("distributed p50 (ms)", run["p50_s"] * ms),
        ("distributed p50, 95% interval (ms)", _interval_text(run.get("p50_interval_s"), ms)),
        ("distributed p95 (ms)", run["p95_s"] * ms),
        ("one process p50 (ms)", run.get("single_process_p50_s", float("nan")) * ms),
        ("speedup", run.get("speedup")),
        ("speedup, 95% interval", _interval_text(run.get("speedup_interval"), 1.0)),
        ("processes differ (largest / smallest median)", _spread_text(run.get("spread"))),
        (f"simulated ({run.get('profile')}) (ms)", run["simulated_makespan_s"] * ms),
        ("measured / simulated", run.get("measured_over_simulated")),
        ("max |diff| vs one process", run.get("max_abs_diff")),
    ]
    check = run.get("check") or {}
    if check:
        rows.append(
            (f"check: top-1 agreement on {check['images']} images", check["top1_agreement"])
        )
    return Table("run", f"Run: {run.get('plan', '')}", ("figure", "value"), tuple(rows))


def _interval_text(interval: Any, scale: float) -> str:
    """``[low, high]`` of a run's bootstrap interval, scaled ("-" where the run has none)."""
    if not interval or any(x is None or x != x for x in interval):
        return "-"
    return f"[{interval[0] * scale:.3g}, {interval[1] * scale:.3g}]"


def _spread_text(spread: Any) -> str:
    """Each side's spread between fresh processes, e.g. "split x1.04, one process x1.21"."""
    if not spread:
        return "-"
    names = {"split": "split", "one_process": "one process"}
    return ", ".join(
        f"{names.get(side, side)} x{doc['max_over_min']:.2f}" for side, doc in spread.items()
    )


def run_warnings(run: Mapping[str, Any]) -> list[str]:
    """Why a run's measured figures may not be what its devices would give: the warnings it
    recorded (a busy machine, ranks sharing cores) and the vertices over their emulated time."""
    out = [str(w) for w in run.get("warnings") or []]
    emulation = run.get("emulation") or {}
    over = emulation.get("over_emulated_time") or []
    if over:
        out.append(
            f"{len(over)} of {emulation.get('vertices', '?')} vertices computed longer here than "
            f"on the emulated {emulation.get('profile', 'device')}: the emulation is not "
            "faithful for those (rerun with --dilation auto)"
        )
    if run.get("load") and not run["load"].get("pinned", True):
        out.append("the ranks were not pinned to cores of their own (too few cores)")
    return out


def _ranks_table(run: Mapping[str, Any]) -> Table:
    return Table(
        "ranks",
        "Per rank: measured (median over runs) against simulated",
        ("rank", "busy ms", "busy ms (sim)", "done at ms", "done at ms (sim)", "order as planned"),
        tuple(
            (
                r["rank"],
                r["measured_busy_s"] * 1e3,
                r["simulated_busy_s"] * 1e3,
                r["measured_finish_s"] * 1e3,
                r["simulated_finish_s"] * 1e3,
                "yes" if r.get("order_as_planned") else "NO",
            )
            for r in run["ranks"]
        ),
    )


def run_sections(report: ReportPage, docs: dict[str, Any]) -> list[Section]:
    from parawire.report.plots import gantt_figure, predicted_measured_figure

    folder = report.folder
    sections = []
    for name, run in docs.items():
        if not is_run(run):
            continue
        stem = "run" if name == "run.json" else f"run-{Path(name).stem}"
        plan_dir = folder / PLAN_DIR
        plan = spec_of_plan(plan_dir)
        section = Section(
            f"Run ({name}): {run['devices']} ranks, p50 {run['p50_s'] * 1e3:.2f} ms, "
            f"{run.get('speedup', float('nan')):.2f}x over one process",
            commands=[
                gather.run_command(run, str(plan_dir) if plan else "PLAN", str(folder / name))
            ],
            command_note=f"Rebuilt from {name}"
            + ("." if plan else "; PLAN is the plan folder that ran (not in this folder)."),
            tables=[_run_table(run), _ranks_table(run)],
        )
        ranks = run["ranks"]
        predicted = [r["simulated_finish_s"] for r in ranks] + [run["simulated_makespan_s"]]
        measured = [r["measured_finish_s"] for r in ranks] + [run["p50_s"]]
        warnings = run_warnings(run)
        section.text += [f"Warning: {w}." for w in warnings]
        section.pictures.append(
            report.picture(
                f"{stem}-predicted-measured",
                predicted_measured_figure(
                    predicted, measured, title=f"Simulated ({run.get('profile')}) against measured"
                ),
                "When each rank finishes (median over runs) and the whole inference (p50), "
                "simulated against measured." + "".join(f" Warning: {w}." for w in warnings),
            )
        )
        if plan is not None:
            section.pictures += _run_schedules(report, stem, run, plan, gantt_figure)
        sections.append(section)
    return sections


def _run_schedules(
    report: ReportPage, stem: str, run: Mapping[str, Any], plan: tuple[Any, dict[str, Any]], gantt
) -> list[Picture]:
    """The plan's simulated schedule and, when traces were kept, the measured one."""
    spec, doc = plan
    sched = report.backend.run_schedule(spec, doc, run, report.folder)
    pictures = [
        report.picture(
            f"{stem}-schedule",
            gantt(
                sched.timeline,
                sched.devices,
                title=f"Simulated schedule on {sched.profile}: {sched.makespan_s * 1e3:.2f} ms",
                makespan_s=sched.makespan_s,
            ),
            "The plan's schedule as simulated on the run's profile (ranks as in the plan).",
        )
    ]
    traces = run.get("traces") or [
        read_json(p, report.folder)
        for p in sorted(
            report.folder.glob(TRACE_GLOB), key=lambda p: int(p.stem.removeprefix("trace-rank"))
        )
    ]
    if traces:
        if len(traces) != sched.devices:
            raise DataError(f"{len(traces)} rank traces for a plan of {sched.devices} ranks")
        chosen = gather.median_run(traces)
        events = gather.measured_events(traces, chosen)
        end = max((e["end"] for e in events), default=0.0)
        pictures.append(
            report.picture(
                f"{stem}-measured-schedule",
                gantt(
                    events,
                    sched.devices,
                    title=f"Measured schedule (run {chosen + 1} of {len(traces[0]['traces'])}, "
                    f"the median): {end * 1e3:.2f} ms to the last vertex",
                ),
                "What each rank computed and when, as its trace recorded it (the median run); "
                "transfers are not traced, waits show as gaps.",
            )
        )
    return pictures
