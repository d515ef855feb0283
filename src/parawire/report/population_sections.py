"""The report's sections of many networks: a study (tables, width and depth, accuracy against
latency, the best split's schedule), a search's Pareto front, and latency predictions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from parawire import _io
from parawire.errors import DataError
from parawire.filenames import (
    ANALYSIS_FILE,
    FRONT_JSON,
    SEARCH_CONFIG,
    STUDY_RESULTS,
    STUDY_TABLES,
    TRIALS_CSV,
)
from parawire.report import gather
from parawire.report.html import Picture, Section
from parawire.report.page import MAX_JSON_BYTES, ReportPage, architecture_picture
from parawire.report.run_sections import is_run
from parawire.report.tables import Table


def _best_split_row(rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The plain generated network whose recommended deployment is fastest relative to one
    device; of equal ones, the one the paper's choice splits best, then the first."""
    analysed = [
        r
        for r in rows
        if r.get("kind") == "generator"
        and ((r.get("analysis") or {}).get("full") or {}).get("placement")
    ]
    ranked = sorted(
        analysed,
        key=lambda r: (-r["analysis"]["speedup"], -r["analysis"].get("paper_speedup", 0)),
    )
    return ranked[0] if ranked else None


def _stored_table(t: Mapping[str, Any]) -> Table:
    """A table as tables.json stores it (``Table.to_dict``)."""
    return Table(
        t["name"],
        t["title"],
        tuple(t["columns"]),
        tuple(tuple(r) for r in t["rows"]),
        tuple(t.get("notes", ())),
    )


def study_sections(report: ReportPage, docs: dict[str, Any]) -> list[Section]:
    from parawire.arch.spec import ArchSpec
    from parawire.report.plots import pareto_figure, width_depth_figure

    doc = docs.get(STUDY_RESULTS)
    if not (isinstance(doc, Mapping) and "config" in doc and "rows" in doc):
        return []
    cfg, rows = doc["config"], doc["rows"]
    tables = [_stored_table(t) for t in docs.get(STUDY_TABLES) or []]
    section = Section(
        f"Study: {cfg['dataset']}, {cfg['samples']} samples per generator, {cfg['epochs']} "
        f"epochs, {len(rows)} networks",
        commands=[report.backend.study_command(cfg, str(report.folder))],
        command_note=f"Rebuilt from the configuration in {STUDY_RESULTS}.",
        tables=tables,
    )
    hists, etas = gather.study_histograms(rows)
    if hists:
        section.pictures.append(
            report.picture(
                "study-width-depth",
                width_depth_figure(hists, etas),
                f"Vertices at each depth, mean over each generator's architectures; eta at "
                f"{cfg['devices']} devices (longest path over vertices per device).",
            )
        )
    lat, acc, groups = gather.study_points(rows)
    if lat:
        section.pictures.append(
            report.picture(
                "study-pareto",
                pareto_figure(
                    lat,
                    acc,
                    groups,
                    title=f"Accuracy against latency on up to {cfg['devices']} {cfg['profile']} "
                    "devices",
                ),
                "Each generated network's test accuracy against the simulated latency of its "
                "recommended deployment; the front: no other network is both faster and more "
                "accurate (baselines are not specs and have no deployment).",
            )
        )
    best = _best_split_row(rows)
    if best is not None:
        full = best["analysis"]["full"]
        placement = {int(v): int(d) for v, d in full["placement"].items()}
        spec = ArchSpec.from_dict(best["spec"])
        section.pictures.append(
            architecture_picture(report, "study-architecture", spec, placement, full)
        )
        section.pictures.append(_study_schedule(report, spec, placement, full, best["job"]))
    return [section]


def _study_schedule(
    report: ReportPage, spec: Any, placement: dict[int, int], full: Mapping[str, Any], job: str
) -> Picture:
    from parawire.report.plots import gantt_figure

    sched = report.backend.study_schedule(spec, placement, full)
    fig = gantt_figure(
        sched.timeline,
        sched.devices,
        title=f"{job}: simulated on {full['profile']}, {sched.makespan_s * 1e3:.2f} ms, "
        f"{sched.speedup:.2f}x over one device",
        makespan_s=sched.makespan_s,
    )
    used = len(set(placement.values()))
    where = "keeps it on one device" if used == 1 else f"splits it over {used} devices"
    return report.picture(
        "study-schedule",
        fig,
        f"The simulated schedule of {job} (the architecture above), the network whose "
        f"recommended deployment gains most: it {where} of the {full['devices']} offered.",
    )


def _read_csv(path: Path, folder: Path) -> list[dict[str, str]]:
    """Rows of a CSV file with a header, as dicts, read inside ``folder`` only (``read_json``'s
    refusals); ``DataError`` when unreadable."""
    import csv
    import io

    text = _io.read_text(path, what="results file", limit=MAX_JSON_BYTES, inside=folder)
    try:
        return list(csv.DictReader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise DataError(f"cannot read {path} as CSV ({exc})") from exc


def _add_front_commands(section: Section, doc: Any) -> None:
    """The commands front.json records for each member (train it, analyse it)."""
    members = doc.get("front", []) if isinstance(doc, Mapping) else doc
    for member in members if isinstance(members, list) else []:
        cmds = member.get("commands") if isinstance(member, Mapping) else None
        if isinstance(cmds, Mapping):
            section.commands += [str(c) for c in cmds.values()]
    if section.commands:
        section.command_note = f"What to do with each front member ({FRONT_JSON}'s commands)."


def _add_search_settings(section: Section, config: Any) -> None:
    """search-config.json's settings as a table, when the folder holds it."""
    if isinstance(config, Mapping) and isinstance(config.get("config"), Mapping):
        section.tables.append(
            Table(
                "search-config",
                f"Search settings ({SEARCH_CONFIG})",
                ("setting", "value"),
                tuple((k, json.dumps(v)) for k, v in config["config"].items()),
            )
        )


def search_sections(report: ReportPage, docs: dict[str, Any]) -> list[Section]:
    from parawire.report.plots import pareto_figure

    if FRONT_JSON not in docs:
        return []
    doc = docs[FRONT_JSON]
    front = gather.front_points(doc)
    trials_file = report.folder / TRIALS_CSV
    trials = (
        gather.front_points(_read_csv(trials_file, report.folder)) if trials_file.is_file() else []
    )
    where = ""
    if isinstance(doc, Mapping) and doc.get("devices"):
        where = f" on {doc['devices']} {doc.get('profile', '')} devices"
    section = Section(
        f"Search: {len(front)} architectures on the front"
        + (f" of {len(trials)} feasible trials" if trials else "")
        + where,
        tables=[
            Table(
                "front",
                "Pareto front",
                ("architecture", "family", "accuracy %", "latency ms"),
                tuple((p.name, p.group, p.accuracy, p.latency_s * 1e3) for p in front),
            )
        ],
    )
    _add_front_commands(section, doc)
    _add_search_settings(section, docs.get(SEARCH_CONFIG))
    points = trials or front
    if points:
        section.pictures.append(
            report.picture(
                "search-pareto",
                pareto_figure(
                    [p.latency_s for p in points],
                    [p.accuracy for p in points],
                    [p.group or ("trial" if trials else "front") for p in points],
                    title=f"Search: accuracy against latency{where}",
                    xlabel="k-device latency of one inference (ms)",
                ),
                f"Every {'feasible trial' if trials else 'front member'} of the search; the "
                "black steps join the Pareto front.",
            )
        )
    return [section]


def latency_sections(report: ReportPage, docs: dict[str, Any]) -> list[Section]:
    from parawire.report.plots import predicted_measured_figure

    sections = []
    for name, doc in docs.items():
        if name in (ANALYSIS_FILE, STUDY_RESULTS, FRONT_JSON, SEARCH_CONFIG) or is_run(doc):
            continue
        found = gather.predictions(doc)
        if found is None:
            continue
        predicted, measured = found
        errors = [abs(p - m) / m for p, m in zip(predicted, measured, strict=True) if m > 0]
        stem = Path(name).stem
        sections.append(
            Section(
                f"Latency prediction ({name}): {len(measured)} measurements",
                tables=[
                    Table(
                        f"latency-{stem}",
                        "Prediction error",
                        ("measurements", "MAPE %", "within 5 %", "within 10 %"),
                        (
                            (
                                len(errors),
                                100 * sum(errors) / max(1, len(errors)),
                                100 * sum(e <= 0.05 for e in errors) / max(1, len(errors)),
                                100 * sum(e <= 0.10 for e in errors) / max(1, len(errors)),
                            ),
                        ),
                    )
                ],
                pictures=[
                    report.picture(
                        f"latency-{stem}",
                        predicted_measured_figure(predicted, measured),
                        f"Predicted against measured latency ({name}).",
                    )
                ],
            )
        )
    return sections
