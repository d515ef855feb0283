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

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parawire import _io
from parawire.errors import DataError
from parawire.filenames import (
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
    TRACE_FILE,
    TRIALS_CSV,
)
from parawire.report import gather
from parawire.report.backend import Backend
from parawire.report.html import Page, Picture, Section, render
from parawire.report.tables import Table

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TRACE_GLOB = TRACE_FILE.format(rank="*")  # every rank's trace
FRONT_FILE, TRIALS_FILE = FRONT_JSON, TRIALS_CSV  # search's
MAX_JSON_BYTES = 64 * 2**20  # larger JSON files are not read


class _Report:
    """The page being built, with every figure under a unique name."""

    def __init__(self, folder: Path, backend: Backend) -> None:
        self.folder = folder
        self.backend = backend  # what the folder does not store (costs, schedules, commands)
        self.figures: dict[str, Figure] = {}
        self.page = Page(title=f"parawire report: {folder}")

    def picture(self, name: str, fig: Figure, caption: str) -> Picture:
        """Keep ``fig`` under ``name`` and return it as an embedded picture."""
        from parawire.report.plots import png_data_uri

        if name in self.figures:
            raise AssertionError(f"two pictures named {name}")
        self.figures[name] = fig
        return Picture(name, png_data_uri(fig), caption)


def read_json(path: Path, folder: Path) -> Any:
    """Parsed JSON of ``path`` (``parawire._io.read_json``); ``DataError`` when it leads out of
    the reported ``folder`` (a link), is not a regular file, is too large or is not JSON."""
    return _io.read_json(path, what="results file", limit=MAX_JSON_BYTES, inside=folder)


def build_report(folder: Path, backend: Backend) -> tuple[Page, dict[str, Figure]]:
    """The page of ``folder`` and its figures by name; ``DataError`` if it holds no results.
    ``backend``: what the folder does not store (``parawire.study.reporting.AnalysisBackend``)."""
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder; give a folder written by parawire")
    report = _Report(folder, backend)
    docs = {p.name: read_json(p, folder) for p in sorted(folder.glob("*.json"))}
    builders: dict[str, Callable[[_Report, dict[str, Any]], list[Section]]] = {
        "analysis": _analysis_sections,
        "run": _run_sections,
        "study": _study_sections,
        "search": _search_sections,
        "latency": _latency_sections,
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


def _spec_of_plan(path: Path) -> tuple[Any, dict[str, Any]] | None:
    """(ArchSpec, plan JSON) of a plan folder, or None when absent or of a traced model (no
    spec to draw)."""
    from parawire.arch.spec import ArchSpec

    file = path / PLAN_FILE if path.is_dir() else path
    if not file.is_file():
        return None
    doc = read_json(file, path.parent)
    if isinstance(doc, dict) and "model" in doc and "spec" not in doc:
        return None
    try:
        return ArchSpec.from_dict(doc["spec"]), doc
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{file} is not a parawire plan ({exc})") from exc


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


def _architecture(
    report: _Report, name: str, spec: Any, placement: Mapping[int, int], r: Mapping[str, Any]
) -> Picture:
    from parawire.report.plots import architecture_figure

    graph = report.backend.cost_graph(spec, wire_dtype=r["wire_dtype"], scatter=r["scatter"])
    return report.picture(
        name,
        architecture_figure(graph, placement),
        f"The architecture by depth, each vertex on its device (dot area: MACs); red edges "
        f"cross devices, labelled with the bytes sent once per receiving device "
        f"({r['wire_dtype']}, {r['scatter']} scatter).",
    )


def _analysis_sections(report: _Report, docs: dict[str, Any]) -> list[Section]:
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
    plan = _spec_of_plan(folder / PLAN_DIR)
    if plan is not None:  # number the devices as the plan's ranks, which `run` executes
        ranks = {int(v): int(d) for v, d in plan[1]["placement"].items()}
        rename = gather.renaming(placement, ranks)
        placement = ranks
        section.pictures.append(
            _architecture(report, "analysis-architecture", plan[0], placement, r)
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


def _is_run(doc: Any) -> bool:
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


def _run_sections(report: _Report, docs: dict[str, Any]) -> list[Section]:
    from parawire.report.plots import gantt_figure, predicted_measured_figure

    folder = report.folder
    sections = []
    for name, run in docs.items():
        if not _is_run(run):
            continue
        stem = "run" if name == "run.json" else f"run-{Path(name).stem}"
        plan_dir = folder / PLAN_DIR
        plan = _spec_of_plan(plan_dir)
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
    report: _Report, stem: str, run: Mapping[str, Any], plan: tuple[Any, dict[str, Any]], gantt
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


# --- studies --------------------------------------------------------------------------------


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


def _study_sections(report: _Report, docs: dict[str, Any]) -> list[Section]:
    from parawire.arch.spec import ArchSpec
    from parawire.report.plots import pareto_figure, width_depth_figure

    doc = docs.get(STUDY_RESULTS)
    if not (isinstance(doc, Mapping) and "config" in doc and "rows" in doc):
        return []
    cfg, rows = doc["config"], doc["rows"]
    tables = [
        Table(
            t["name"],
            t["title"],
            tuple(t["columns"]),
            tuple(tuple(r) for r in t["rows"]),
            tuple(t.get("notes", ())),
        )
        for t in docs.get(STUDY_TABLES) or []
    ]
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
        section.pictures.append(_architecture(report, "study-architecture", spec, placement, full))
        section.pictures.append(_study_schedule(report, spec, placement, full, best["job"]))
    return [section]


def _study_schedule(
    report: _Report, spec: Any, placement: dict[int, int], full: Mapping[str, Any], job: str
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


# --- searches and latency predictions -------------------------------------------------------


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


def _search_sections(report: _Report, docs: dict[str, Any]) -> list[Section]:
    from parawire.report.plots import pareto_figure

    if FRONT_FILE not in docs:
        return []
    doc = docs[FRONT_FILE]
    front = gather.front_points(doc)
    trials_file = report.folder / TRIALS_FILE
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
    members = doc.get("front", []) if isinstance(doc, Mapping) else doc
    for member in members if isinstance(members, list) else []:
        cmds = member.get("commands") if isinstance(member, Mapping) else None
        if isinstance(cmds, Mapping):
            section.commands += [str(c) for c in cmds.values()]
    if section.commands:
        section.command_note = f"What to do with each front member ({FRONT_FILE}'s commands)."
    config = docs.get(SEARCH_CONFIG)
    if isinstance(config, Mapping) and isinstance(config.get("config"), Mapping):
        section.tables.append(
            Table(
                "search-config",
                f"Search settings ({SEARCH_CONFIG})",
                ("setting", "value"),
                tuple((k, json.dumps(v)) for k, v in config["config"].items()),
            )
        )
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


def _latency_sections(report: _Report, docs: dict[str, Any]) -> list[Section]:
    from parawire.report.plots import predicted_measured_figure

    sections = []
    for name, doc in docs.items():
        if name in (ANALYSIS_FILE, STUDY_RESULTS, FRONT_FILE, SEARCH_CONFIG) or _is_run(doc):
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
