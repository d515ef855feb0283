"""The results of a search: trial rows, the Pareto front, its table, JSON and spec files.

Gathering (``trial_rows``, ``pareto_front``) is separate from writing (``export``) and drawing
(``front_table``). The front holds the feasible finished trials that no other one beats on both
objectives (accuracy at least as high and latency at most as low, one of them strictly); each of
its members is written as a spec file in ``front/`` that ``parawire train``, ``analyze`` and
``run`` take as it is, with the wire dtype and the commands in ``front.json``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from parawire.arch.spec import ArchSpec
from parawire.filenames import FRONT_JSON, FRONT_MD, TRIALS_CSV
from parawire.report.tables import Table, to_markdown
from parawire.search.space import Choice

FRONT_DIR = "front"  # spec files of the front members
TRIAL_COLUMNS = (
    "number",
    "family",
    "n",
    "channels",
    "staging",
    "merge",
    "wire_dtype",
    "params",
    "feasible",
    "accuracy",
    "accuracy_fp32",
    "latency_ms",
    "single_device_ms",
    "devices_used",
    "train_seconds",
    "digest",
)


def trial_rows(trials: list[Any]) -> list[dict[str, Any]]:
    """One flat row per finished trial (``optuna.trial.FrozenTrial`` with our attributes)."""
    rows = []
    for t in sorted(trials, key=lambda t: t.number):
        choice, ev = t.user_attrs.get("choice"), t.user_attrs.get("evaluation")
        if not isinstance(choice, dict) or not isinstance(ev, dict):
            continue
        rows.append(
            {
                "number": t.number,
                "family": choice["family"],
                "n": choice["params"]["n"],
                "channels": choice["channels"],
                "staging": choice["staging"],
                "merge": choice["merge"],
                "wire_dtype": choice["wire_dtype"],
                "params": ev["params"],
                "macs": ev["macs"],
                "feasible": ev["feasible"],
                "accuracy": ev["accuracy"],
                "accuracy_fp32": ev["accuracy_fp32"],
                "latency_ms": 1e3 * ev["latency_s"],
                "single_device_ms": 1e3 * ev["single_device_s"],
                "devices_used": ev["devices_used"],
                "latency_source": ev.get("latency_source", "simulation"),
                "train_seconds": ev["train_seconds"],
                "digest": t.user_attrs.get("digest"),
                "choice": choice,
            }
        )
    return rows


def dominates(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """``a`` is at least as accurate and as fast as ``b``, and strictly better in one."""
    no_worse = a["accuracy"] >= b["accuracy"] and a["latency_ms"] <= b["latency_ms"]
    better = a["accuracy"] > b["accuracy"] or a["latency_ms"] < b["latency_ms"]
    return no_worse and better


def pareto_front(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The non-dominated feasible rows, fastest first (of equal points, the earliest trial)."""
    feasible = [r for r in rows if r["feasible"]]
    front, seen = [], set()
    for r in feasible:
        point = (r["accuracy"], r["latency_ms"])
        if point in seen or any(dominates(o, r) for o in feasible):
            continue
        seen.add(point)
        front.append(r)
    return sorted(front, key=lambda r: (r["latency_ms"], -r["accuracy"]))


def member_spec(row: dict[str, Any], input_shape: tuple[int, int, int], classes: int) -> ArchSpec:
    """The architecture of a trial row, regenerated from its choice (same choice, same spec)."""
    return Choice(**row["choice"]).spec(input_shape, classes)


def member_file(row: dict[str, Any]) -> str:
    """The front member's spec file name inside ``front/``."""
    return f"trial-{row['number']:05d}.json"


TABLE_COLUMNS = (
    "trial",
    "graph",
    "width",
    "staging",
    "merge",
    "wire",
    "params",
    "acc %",
    "latency ms",
    "devices",
)


def latency_kind(source: str) -> str:
    """``simulated`` or ``predicted``: what a trial's latency rests on (its ``source``)."""
    return "predicted" if source.startswith("predictor:") else "simulated"


def latency_notes(rows: list[dict[str, Any]], devices: int, profile: str) -> tuple[str, ...]:
    """What the table's latency and devices columns rest on, under the table."""
    sources = sorted({r.get("latency_source", "simulation") for r in rows}) or ["simulation"]
    how = "; ".join(
        f"predicted by the learned predictor {s.removeprefix('predictor:')}"
        if s.startswith("predictor:")
        else f"simulated (the schedule of one inference on {profile} devices, not measured)"
        for s in sources
    )
    return (
        f"latency ms: {how}.",
        f"devices: how many of the {devices} available devices each trial's placement uses.",
    )


def trial_cells(row: dict[str, Any]) -> tuple[Any, ...]:
    """One trial's cells under ``TABLE_COLUMNS`` (no accuracy for an over-budget trial)."""
    return (
        row["number"],
        f"{row['family']} n={row['n']}",
        row["channels"],
        row["staging"],
        row["merge"],
        row["wire_dtype"],
        row["params"],
        row["accuracy"] if row["feasible"] else None,
        row["latency_ms"],
        row["devices_used"],
    )


def front_table(front: list[dict[str, Any]], devices: int, profile: str, total: int) -> Table:
    """The Pareto front as a table (gathered data; ``to_rich``/``to_markdown`` draw it)."""
    return Table(
        "front",
        f"Pareto front: accuracy against the {_kinds(front)} latency on up to {devices} "
        f"devices of {profile}",
        (*TABLE_COLUMNS, "spec"),
        tuple((*trial_cells(r), f"{FRONT_DIR}/{member_file(r)}") for r in front),
        (
            f"{len(front)} of {total} finished trials are on the front.",
            *latency_notes(front, devices, profile),
        ),
    )


def _kinds(rows: list[dict[str, Any]]) -> str:
    """``simulated``, ``predicted`` or both, for a title."""
    found = sorted({latency_kind(r.get("latency_source", "simulation")) for r in rows})
    return " or ".join(found or ["simulated"])


def trials_table(rows: list[dict[str, Any]], folder: Path, devices: int, profile: str) -> Table:
    """Every finished trial of the search in ``folder`` as a table."""
    return Table(
        "trials",
        f"Finished trials of {folder}",
        TABLE_COLUMNS,
        tuple(map(trial_cells, rows)),
        latency_notes(rows, devices, profile),
    )


def export(
    folder: Path,
    rows: list[dict[str, Any]],
    front: list[dict[str, Any]],
    *,
    input_shape: tuple[int, int, int],
    classes: int,
    devices: int,
    profile: str,
    dataset: str,
) -> list[Path]:
    """Write ``front/*.json``, ``front.json``, ``front.md`` and ``trials.csv``; the spec paths.

    Every file is written whole and renamed into place, so a reader never sees half of one.
    """
    from parawire._io import atomic_write, write_csv, write_json

    out = folder / FRONT_DIR
    out.mkdir(parents=True, exist_ok=True)
    paths, members = [], []
    for r in front:
        spec = member_spec(r, input_shape, classes)
        path = out / member_file(r)
        atomic_write(path, lambda tmp, s=spec: tmp.write_text(s.to_json()))
        paths.append(path)
        rel = f"{FRONT_DIR}/{path.name}"
        members.append(
            {
                **{k: v for k, v in r.items() if k != "choice"},
                "spec": rel,
                "digest_now": spec.digest(),
                "choice": r["choice"],
                "commands": {
                    "train": f"parawire train {rel} --dataset {dataset} --out runs/{path.stem}",
                    "analyze": f"parawire analyze {rel} --devices {devices} --profile "
                    f"{profile} --wire-dtype {r['wire_dtype']}",
                    "run": f"parawire run {rel} --devices {devices} --emulate {profile} "
                    f"--wire-dtype {r['wire_dtype']}",
                },
            }
        )
    keep = {p.name for p in paths}
    for stale in out.glob("trial-*.json"):
        if stale.name not in keep:
            stale.unlink(missing_ok=True)
    write_json(folder / FRONT_JSON, {"devices": devices, "profile": profile, "front": members})
    table = front_table(front, devices, profile, len(rows))
    atomic_write(folder / FRONT_MD, lambda tmp: tmp.write_text(to_markdown(table)))
    write_csv(folder / TRIALS_CSV, TRIAL_COLUMNS, rows)
    return paths


def clear_front(folder: Path) -> None:
    """Remove an exported front (used when a search folder is reused from scratch)."""
    shutil.rmtree(folder / FRONT_DIR, ignore_errors=True)
