"""``parawire report DIR``: the report of a results folder, recognised by the files it holds.

==============  ===========================================================================
folder          files read
==============  ===========================================================================
analysis        ``analysis.json``, ``timeline.json``, ``compare.json``, ``plan/plan.json``
                (``parawire analyze SPEC --out DIR``)
run             a JSON object with ``p50_s`` and ``ranks`` (``parawire run ... --json >
                DIR/run.json``), ``plan/plan.json`` and the runtime's ``trace-rank<r>.json``
                (or a ``traces`` list in the run's JSON) when there
study           ``results.json`` and ``tables.json`` (``parawire study --out DIR``, ``parawire
                demo``)
search          ``front.json``, ``trials.csv`` and ``search-config.json`` (``parawire search
                --out DIR``); the points are read by ``parawire.report.gather.front_points``
latency         a JSON document with predicted and measured latencies
                (``parawire.report.gather.predictions``)
==============  ===========================================================================

A ``commands.txt`` in the folder is shown verbatim as the commands that produced it; otherwise
each part shows the command rebuilt from the settings its files record. One folder may hold
several kinds (an analysis with its run). Kinds whose files are absent are skipped.

    page, figures = build_report(Path("runs/demo"))
    write_report(Path("runs/demo"))          # runs/demo/report.html
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parawire import _io
from parawire.errors import DataError
from parawire.filenames import (  # noqa: F401  (the folder's files, re-exported)
    ANALYSIS_FILE,
    COMMANDS_FILE,
    COMPARE_FILE,
    FRONT_JSON,
    PLAN_DIR,
    PLAN_FILE,
    REPORT_FILE,
    SEARCH_CONFIG,
    STUDY_RESULTS,
    STUDY_TABLES,
    TIMELINE_FILE,
    TRACE_GLOB,
    TRIALS_CSV,
)
from parawire.report import gather
from parawire.report.backend import Backend
from parawire.report.html import Page, Section, render
from parawire.report.page import (
    MAX_JSON_BYTES,
    ReportPage,
    architecture_picture,
    read_json,
    spec_of_plan,
)
from parawire.report.population_sections import latency_sections, search_sections, study_sections
from parawire.report.run_sections import run_sections
from parawire.report.tables import Table

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FRONT_FILE, TRIALS_FILE = FRONT_JSON, TRIALS_CSV  # search's


def build_report(folder: Path, backend: Backend) -> tuple[Page, dict[str, Figure]]:
    """The page of ``folder`` and its figures by name; ``DataError`` if it holds no results.
    ``backend``: what the folder does not store (``parawire.study.reporting.AnalysisBackend``)."""
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder; give a folder written by parawire")
    report = ReportPage(folder, backend)
    docs = {p.name: read_json(p, folder) for p in sorted(folder.glob("*.json"))}
    builders: dict[str, Callable[[ReportPage, dict[str, Any]], list[Section]]] = {
        "analysis": _analysis_sections,
        "run": run_sections,
        "study": study_sections,
        "search": search_sections,
        "latency": latency_sections,
    }
    for kind, build in builders.items():
        try:
            report.page.sections += build(report, docs)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise DataError(
                f"{folder}: its {kind} files are not as parawire writes them ({type(exc).__name__}"
                f": {exc}); rewrite them with this version's command"
            ) from exc
    if not report.page.sections:
        raise DataError(
            f"{folder} holds no parawire results: expected {ANALYSIS_FILE} (analyze --out), a "
            f"run's JSON (run --json > {folder}/run.json), {STUDY_RESULTS} (study, demo), "
            f"{FRONT_FILE} (search) or predicted/measured latencies"
        )
    commands = folder / COMMANDS_FILE
    if commands.is_file():
        text = _io.read_text(commands, what="command list", limit=MAX_JSON_BYTES, inside=folder)
        lines = [ln for ln in text.splitlines() if ln.strip()]
        for section in report.page.sections:  # a rebuilt command already listed: shown once
            if section.commands and set(section.commands) <= set(lines):
                section.commands, section.command_note = [], ""
        report.page.sections.insert(
            0,
            Section(
                "How this folder was made",
                commands=lines,
                command_note=f"The commands that produced this folder ({COMMANDS_FILE}).",
            ),
        )
    report.page.intro = [
        f"Made with `parawire report {folder}` from the files in {folder}: "
        + ", ".join(s.title for s in report.page.sections)
        + "."
    ]
    return report.page, report.figures


def write_report(
    folder: Path, backend: Backend, out: Path | None = None, figures: Path | None = None
) -> tuple[Path, list[Path]]:
    """Write the page (default ``folder/report.html``) and, with ``figures``, every picture as
    PNG and SVG in that folder; returns the page's path and the pictures' paths."""
    from parawire.report.plots import save_figure

    page, figs = build_report(folder, backend)
    target = out if out is not None else folder / REPORT_FILE
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _io.atomic_write_text(target, render(page))
        saved = []
        if figures is not None:
            saved = [p for name, fig in figs.items() for p in save_figure(fig, figures / name)]
    except OSError as exc:
        raise DataError(f"cannot write the report ({exc})") from exc
    return target, saved


# --- analysis -------------------------------------------------------------------------------


def _analysis_table(r: Mapping[str, Any]) -> Table:
    paper = r.get("paper") or {}
    rows: list[tuple[str, Any]] = [
        ("deployment", f"{r['devices_used']} of {r['devices']} devices"),
        ("placement", f"{r['partitioner']}" + (f", eps {r['eps']}" if r.get("eps") else "")),
        ("wire / scatter", f"{r['wire_dtype']} / {r['scatter']}"),
        ("vertices", r["vertices"]),
        ("depth (longest path)", r["depth"]),
        ("eta", r["eta"]),
        ("delta_W", r["delta_w"]),
        ("communication (MB)", r["comm_bytes"] / 1e6),
        ("CS (lower is better)", r["cs"]),
        ("T1, one device (ms)", r["single_device_s"] * 1e3),
        ("Tn, simulated (ms)", r["makespan_s"] * 1e3),
        ("speedup", r["speedup"]),
        ("bound T1/CP", r["t1_over_cp"]),
    ]
    if paper:
        rows.append(("paper's CS choice: speedup", paper["speedup"]))
    return Table(
        "analysis",
        f"{r['name']} on up to {r['devices']} devices ({r['profile']})",
        ("metric", "value"),
        tuple(rows),
    )


def _options_table(r: Mapping[str, Any]) -> Table:
    rows = tuple(
        (
            f"{o['eps']}{'*' if o['eps'] == r.get('eps') else ''}",
            o["cs"],
            o["delta_w"],
            o["comm_bytes"] / 1e6,
            o["speedup"],
        )
        for o in r.get("options", ())
    )
    return Table(
        "options",
        f"{str(r['partitioner']).split('+')[0]}'s eps sweep (chosen option marked *)",
        ("eps", "CS", "delta_W", "comm MB", "speedup"),
        rows,
    )


def _compare_table(results: Sequence[Mapping[str, Any]]) -> Table:
    return Table(
        "compare",
        "Every partitioner at k devices (analyze --compare)",
        ("partitioner", "CS", "delta_W", "entropy", "comm MB", "Tn ms", "speedup"),
        tuple(
            (
                r["partitioner"],
                r["cs"],
                r["delta_w"],
                r["entropy"],
                r["comm_bytes"] / 1e6,
                r["makespan_s"] * 1e3,
                r["speedup"],
            )
            for r in results
        ),
    )


def _analysis_sections(report: ReportPage, docs: dict[str, Any]) -> list[Section]:
    from parawire.report.plots import gantt_figure

    doc = docs.get(ANALYSIS_FILE)
    if doc is None:
        return []
    r = doc[0] if isinstance(doc, list) else doc
    if not isinstance(r, Mapping) or "placement" not in r:
        raise DataError(f"{report.folder / ANALYSIS_FILE} is not analyze's JSON")
    folder = report.folder
    section = Section(
        f"Analysis: {r['name']} on up to {r['devices']} {r['profile']} devices",
        text=[r["verdict"]["text"]] if r.get("verdict") else [],
        commands=[gather.analysis_command(r, "ARCH.json", str(folder))],
        command_note=f"Rebuilt from {ANALYSIS_FILE}; ARCH.json is the spec {r['name']} "
        f"(stored in {PLAN_DIR}/{PLAN_FILE} when one was written).",
        tables=[_analysis_table(r)],
    )
    if len(r.get("options", ())) > 1:
        section.tables.append(_options_table(r))
    if isinstance(docs.get(COMPARE_FILE), list):
        section.tables.append(_compare_table(docs[COMPARE_FILE]))
    placement = {int(v): int(d) for v, d in r["placement"].items()}
    rename: dict[int, int] = {}
    plan = spec_of_plan(folder / PLAN_DIR)
    if plan is not None:  # number the devices as the plan's ranks, which `run` executes
        ranks = {int(v): int(d) for v, d in plan[1]["placement"].items()}
        rename = gather.renaming(placement, ranks)
        placement = ranks
        section.pictures.append(
            architecture_picture(report, "analysis-architecture", plan[0], placement, r)
        )
    timelines = docs.get(TIMELINE_FILE) or {}
    events = timelines.get(r["partitioner"]) if isinstance(timelines, Mapping) else None
    if events:
        fig = gantt_figure(
            gather.renamed_events(gather.timeline_events(events), rename),
            r["devices"],
            title=f"Simulated schedule on {r['profile']}: {r['makespan_s'] * 1e3:.2f} ms, "
            f"{r['speedup']:.2f}x over one device",
            makespan_s=r["makespan_s"],
        )
        section.pictures.append(
            report.picture(
                "analysis-schedule",
                fig,
                "The simulated schedule of one inference: a row per device, a bar per vertex "
                "(its id), transfers hatched under their sender and coloured by the receiver; "
                "dashed: the logits are back on the device that holds the image"
                + (" (device d: the plan's rank d)." if rename else "."),
            )
        )
    return [section]


# --- runs -----------------------------------------------------------------------------------


# --- studies --------------------------------------------------------------------------------


# --- searches and latency predictions -------------------------------------------------------
