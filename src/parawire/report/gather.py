"""Gathering a report's data from the JSON that parawire's commands write (pure functions).

Each function turns one stored document (``analyze --out``'s ``analysis.json`` and
``timeline.json``, ``run --json``'s object and the runtime's per-rank traces, a study's
``results.json``, a search front, predicted/measured latency lists) into the plain lists and
mappings that ``parawire.report.plots`` draws, and rebuilds the command that produced it from the
settings the document stores. No matplotlib here, no file system.
"""

from __future__ import annotations

import shlex
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from parawire.errors import DataError
from parawire.report.backend import EventDoc

Doc = Mapping[str, Any]


# --- schedules ------------------------------------------------------------------------------


def timeline_events(items: Iterable[Doc]) -> tuple[EventDoc, ...]:
    """``Schedule.to_dict(timeline=True)["timeline"]`` (or timeline.json's lists) checked and
    normalised: every event with its kind, vertex, device, start and end (transfers: dst,
    nbytes) of the right types; ``DataError`` when one is malformed."""
    try:
        return tuple(_event(e) for e in items)
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"malformed timeline event ({exc}); rewrite it with analyze --out") from exc


def _event(e: Doc, origin: float = 0.0) -> EventDoc:
    """One event checked and typed; times shifted to start at ``origin`` (seconds)."""
    doc = {
        "kind": str(e["kind"]),
        "vertex": int(e["vertex"]),
        "device": int(e["device"]),
        "start": float(e["start"]) - origin,
        "end": float(e["end"]) - origin,
    }
    if doc["kind"] == "transfer":
        doc["dst"] = None if e.get("dst") is None else int(e["dst"])
        doc["nbytes"] = int(e.get("nbytes", 0))
    return doc


def renaming(placement: Mapping[int, int], ranks: Mapping[int, int]) -> dict[int, int]:
    """Device -> rank such that ``placement`` renamed is ``ranks`` (a plan numbers the devices
    of its analysis with the image's device first: ``parawire.runtime.planner.input_first``);
    ``DataError`` when no such renaming exists (the plan is of another placement)."""
    rename: dict[int, int] = {}
    for v, d in placement.items():
        if rename.setdefault(d, ranks.get(v, -1)) != ranks.get(v, -1):
            raise DataError(f"vertex {v}: the plan's placement is not the analysis' renamed")
    if len(set(rename.values())) != len(rename):
        raise DataError("the plan puts two of the analysis' devices on one rank")
    return rename


def renamed_events(events: Iterable[EventDoc], rename: Mapping[int, int]) -> tuple[EventDoc, ...]:
    """``events`` with every device (sender and receiver) renamed; others keep their number."""
    return tuple(
        {
            **e,
            "device": rename.get(e["device"], e["device"]),
            **({"dst": rename.get(e["dst"], e["dst"])} if e.get("dst") is not None else {}),
        }
        for e in events
    )


def median_run(trace_docs: Sequence[Doc]) -> int:
    """The measured run whose latest-finishing rank ends at the median time (of those runs)."""
    runs = len(trace_docs[0]["traces"]) if trace_docs else 0
    if runs == 0:
        raise DataError("the traces hold no measured run")
    ends = [_run_end(trace_docs, r) for r in range(runs)]
    ordered = sorted(range(runs), key=lambda r: (ends[r], r))
    return ordered[(runs - 1) // 2]


def _run_end(trace_docs: Sequence[Doc], run: int) -> float:
    start = float(trace_docs[0]["starts"][run])
    return max(
        (float(e) - start for doc in trace_docs for _, _, e in doc["traces"][run]), default=0
    )


def measured_events(trace_docs: Sequence[Doc], run: int | None = None) -> list[EventDoc]:
    """One measured run as compute events, in seconds from rank 0's start of that run.

    ``trace_docs``: per rank, the runtime's trace (``{"starts": [...], "traces": [[[vertex,
    start, end], ...] per run]}``, perf_counter seconds, one clock for every local rank).
    ``run``: which measured run (default: the median one, ``median_run``).
    """
    try:
        chosen = median_run(trace_docs) if run is None else run
        start = float(trace_docs[0]["starts"][chosen])
        return [
            _event(
                {
                    "kind": "compute",
                    "vertex": v,
                    "device": rank,
                    "start": float(s) - start,
                    "end": float(e) - start,
                }
            )
            for rank, doc in enumerate(trace_docs)
            for v, s, e in doc["traces"][chosen]
        ]
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise DataError(f"malformed run trace ({exc})") from exc


# --- studies --------------------------------------------------------------------------------


def row_label(row: Doc) -> str:
    """The population a study row belongs to: its group, and its variant when not the plain
    one (``dp greedy``, ``dp pooled``, ``dp uniform 48px``)."""
    kind, group = row.get("kind"), str(row.get("group"))
    if kind == "greedy":
        return f"{group} greedy"
    if kind == "merge":
        return f"{group} {row.get('merge')}"
    if kind in ("uniform", "staged"):
        return f"{group} {kind} {row.get('size')}px"
    return group


def study_points(rows: Sequence[Doc]) -> tuple[list[float], list[float], list[str]]:
    """(simulated k-device latency in s, top-1 accuracy in %, label) of every analysed row:
    the generated networks (baselines are not specs, so they have no deployment)."""
    lat, acc, groups = [], [], []
    for row in rows:
        full = (row.get("analysis") or {}).get("full") or {}
        if full.get("makespan_s") is None or row.get("test_acc") is None:
            continue
        lat.append(float(full["makespan_s"]))
        acc.append(float(row["test_acc"]))
        groups.append(row_label(row))
    return lat, acc, groups


def study_histograms(rows: Sequence[Doc]) -> tuple[dict[str, list[list[int]]], dict[str, float]]:
    """Per generator group of the plain generated rows: their depth histograms and mean eta
    at the k devices offered (longest path over vertices per device, EDGE'23), whatever number
    of devices the recommended deployment uses."""
    hists: dict[str, list[list[int]]] = {}
    etas: dict[str, list[float]] = {}
    for row in rows:
        full = (row.get("analysis") or {}).get("full") or {}
        if row.get("kind") != "generator" or not full.get("depth_histogram"):
            continue
        hists.setdefault(str(row["group"]), []).append([int(x) for x in full["depth_histogram"]])
        eta_k = int(full["depth"]) * int(full["devices"]) / int(full["vertices"])
        etas.setdefault(str(row["group"]), []).append(eta_k)
    return hists, {g: statistics.fmean(v) for g, v in etas.items()}


# --- search fronts and latency predictions --------------------------------------------------

ACCURACY_KEYS = ("accuracy", "test_acc", "acc", "top1")  # first one present wins
LATENCY_KEYS = ("latency_s", "makespan_s", "latency")  # seconds
LATENCY_MS_KEYS = ("latency_ms",)


@dataclass(frozen=True)
class FrontPoint:
    """One architecture of a search: its accuracy (%), its k-device latency (s), a name."""

    accuracy: float
    latency_s: float
    name: str = ""
    group: str = ""  # the graph family, when the search records it


def _first(doc: Doc, keys: Sequence[str]) -> Any:
    return next((doc[k] for k in keys if doc.get(k) is not None), None)


def front_points(doc: Any) -> list[FrontPoint]:
    """The points of a search's front or trial list: a JSON list of objects (or an object whose
    ``front``, ``trials`` or ``points`` is one), each with an accuracy (``accuracy``,
    ``test_acc``...) and a latency (``latency_s``, ``makespan_s``, ``latency_ms``...), at the top
    level or under ``values``/``objectives``/``user_attrs`` (``parawire search``'s ``front.json``
    and the rows of its ``trials.csv``). Items lacking either, or marked not ``feasible``, are
    skipped."""
    items = doc
    if isinstance(doc, Mapping):
        items = next((doc[k] for k in ("front", "trials", "points") if k in doc), [])
    if not isinstance(items, list):
        raise DataError("a search front is a JSON list of objects with accuracy and latency")
    points = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            continue
        flat = dict(item)
        for nested in ("values", "objectives", "user_attrs", "metrics"):
            if isinstance(item.get(nested), Mapping):
                flat = {**item[nested], **flat}
        acc = _first(flat, ACCURACY_KEYS)
        lat = _first(flat, LATENCY_KEYS)
        if lat is None and _first(flat, LATENCY_MS_KEYS) not in (None, ""):
            lat = float(_first(flat, LATENCY_MS_KEYS)) / 1e3
        if acc in (None, "") or lat in (None, "") or str(flat.get("feasible")) == "False":
            continue
        name = str(_first(flat, ("name", "spec", "trial", "number", "id")) or f"#{i}")
        group = str(_first(flat, ("family", "generator", "group")) or "")
        points.append(FrontPoint(float(acc), float(lat), name, group))
    return points


def predictions(doc: Any) -> tuple[list[float], list[float]] | None:
    """(predicted, measured) latencies in seconds from a latency report: an object with lists
    ``predicted``/``measured`` (or ``predicted_s``/``measured_s``), or a list of objects with
    those keys (or under ``rows``); None when the document holds neither."""
    if isinstance(doc, Mapping):
        for p_key, m_key in (("predicted_s", "measured_s"), ("predicted", "measured")):
            p, m = doc.get(p_key), doc.get(m_key)
            if isinstance(p, list) and isinstance(m, list) and len(p) == len(m) and p:
                return [float(x) for x in p], [float(x) for x in m]
        doc = doc.get("rows")
    if isinstance(doc, list) and doc and all(isinstance(r, Mapping) for r in doc):
        pairs = [
            (_first(r, ("predicted_s", "predicted")), _first(r, ("measured_s", "measured")))
            for r in doc
        ]
        pairs = [(p, m) for p, m in pairs if p is not None and m is not None]
        if pairs:
            return [float(p) for p, _ in pairs], [float(m) for _, m in pairs]
    return None


# --- the commands that produced a folder ----------------------------------------------------


def command(*words: Any) -> str:
    """A shell command line: every word quoted where the shell needs it; None words dropped."""
    return " ".join(shlex.quote(str(w)) for w in words if w is not None)


def flag(name: str, value: Any, default: Any = None) -> list[Any]:
    return [] if value is None or value == default else [name, value]


def analysis_command(result: Doc, spec: str, out: str) -> str:
    """``parawire analyze`` with the options ``analysis.json`` records (defaults left out).

    The partitioner is named only where the selection is not ``latency`` (which tries them
    all), and ``--eps`` never (the chosen eps is one of the default sweep's)."""
    select = result.get("select")
    partitioner = str(result.get("partitioner", "")).split("+")[0] or None
    return command(
        "parawire",
        "analyze",
        spec,
        "--devices",
        result.get("devices"),
        *flag("--profile", result.get("profile"), "rpi4-wifi"),
        *flag("--select", select, "latency"),
        *(flag("--partitioner", partitioner, "kahypar") if select != "latency" else []),
        *flag("--wire-dtype", result.get("wire_dtype"), "float32"),
        *flag("--scatter", result.get("scatter"), "image"),
        "--out",
        out,
    )


def run_command(report: Doc, plan: str, out: str) -> str:
    """``parawire run PLAN ... --json > OUT`` with the options ``run --json`` records."""
    return (
        command(
            "parawire",
            "run",
            plan,
            *flag("--runs", report.get("runs"), 20),
            *flag("--warmup", report.get("warmup"), 3),
            *flag("--batch", report.get("batch"), 1),
            *flag("--threads", report.get("threads"), 1),
            *flag("--link", report.get("link")),
            *flag("--emulate", report.get("emulate")),
            *flag("--check", (report.get("check") or {}).get("images", 0), 100),
            "--json",
        )
        + f" > {shlex.quote(out)}"
    )
