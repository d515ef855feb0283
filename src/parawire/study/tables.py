"""The seed's comparison tables, computed from result rows (pure functions, no training).

A result row is a dict with at least ``kind``, ``group``, ``staging``, ``size``, ``params``,
``test_acc`` (in %) and ``speedup`` (None when not analysed). Accuracy per parameter is accuracy
in % per million parameters.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from parawire.report.tables import Table

Row = dict[str, Any]
STABILITY_GENERATORS = ("er", "ba", "ws", "dp")
STABILITY_STAGINGS = ("greedy", "probabilistic")


def acc_per_mparam(row: Row) -> float:
    """Top-1 accuracy (%) per million parameters."""
    return float(row["test_acc"]) / (float(row["params"]) / 1e6)


def _mean(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.fmean(vals) if vals else None


def _stats(rows: list[Row]) -> list[Any]:
    """n, mean params (M), mean/best accuracy, mean/best accuracy per M params."""
    accs = [float(r["test_acc"]) for r in rows]
    apps = [acc_per_mparam(r) for r in rows]
    return [
        len(rows),
        statistics.fmean(float(r["params"]) for r in rows) / 1e6,
        statistics.fmean(accs),
        max(accs),
        statistics.fmean(apps),
        max(apps),
    ]


def _ordered_groups(rows: list[Row]) -> list[str]:
    seen: list[str] = []
    for r in rows:
        if r["group"] not in seen:
            seen.append(r["group"])
    return seen


def _deployment(rows: list[Row]) -> list[Any]:
    """Mean speedup of the recommended deployment, mean devices it uses, paper's CS choice."""
    return [
        _mean([r.get("speedup") for r in rows]),
        _mean([r.get("devices_used") for r in rows]),
        _mean([r.get("paper_speedup") for r in rows]),
    ]


def _deployment_columns(devices: int, profile: str) -> tuple[str, str, str]:
    return (
        f"speedup, best of <= {devices} {profile}",
        "devices used",
        f"paper's CS choice ({devices})",
    )


def _paired(
    rows: list[Row], variants: list[Row], size: int
) -> list[tuple[str, list[Row], list[Row]]]:
    """Per generator group of ``variants``: (group, its variant rows, the plain ``generator``
    rows of the same group, size and seeds), so a comparison pairs the same architectures."""
    out = []
    for group in _ordered_groups(variants):
        mine = [r for r in variants if r["group"] == group]
        samples = {r["sample"] for r in mine}
        same = [
            r
            for r in rows
            if r["kind"] == "generator" and r["group"] == group and r["size"] == size
            and r["sample"] in samples
        ]  # fmt: skip
        out.append((group, mine, same))
    return out


def generators_table(rows: list[Row], size: int, devices: int, profile: str = "rpi4-wifi") -> Table:
    """Seed Tables V/VI: generators (probabilistic staging; fb; chain) vs baselines."""
    chosen = [r for r in rows if r["kind"] in ("generator", "baseline") and r["size"] == size]
    out = []
    for kind in ("generator", "baseline"):
        kind_rows = [r for r in chosen if r["kind"] == kind]
        for group in _ordered_groups(kind_rows):
            grp = [r for r in kind_rows if r["group"] == group]
            out.append((group, *_stats(grp), *_deployment(grp)))
    return Table(
        "generators",
        f"Generators vs baselines ({size}x{size} input)",
        (
            "network",
            "n",
            "params (M)",
            "mean acc %",
            "best acc %",
            "mean acc/Mparam",
            "best acc/Mparam",
            *_deployment_columns(devices, profile),
        ),
        tuple(out),
        (
            "acc/Mparam: top-1 accuracy (%) per million parameters. Speedup: simulated latency "
            f"of one inference on one {profile} device over that of the fastest deployment on "
            f"at most {devices} (parawire analyze's recommendation), and of the paper's choice "
            f"(lowest concurrency score on all {devices}); baselines are not specs: -.",
        ),
    )


def merge_table(rows: list[Row], size: int, devices: int, profile: str = "rpi4-wifi") -> Table:
    """Merge modes: the same generators and seeds with feature-map and pooled merges."""
    other = [r for r in rows if r["kind"] == "merge" and r["size"] == size]
    out = []
    for group, variant, same in _paired(rows, other, size):
        for grp in (same, variant):
            if grp:
                n, params, mean_acc, best_acc, _, _ = _stats(grp)
                merge = grp[0].get("merge") or "?"
                out.append((group, merge, n, params, mean_acc, best_acc, *_deployment(grp)))
    return Table(
        "merge",
        "Merge: feature maps vs pooled vectors",
        (
            "generator",
            "merge",
            "n",
            "params (M)",
            "mean acc %",
            "best acc %",
            *_deployment_columns(devices, profile),
        ),
        tuple(out),
        (
            "Same generator and seeds under both merge modes. maps: the sinks' feature maps are "
            "averaged before the head (EDGE'23); pooled: each sink is pooled and projected on "
            "its own device and only vectors reach the merge.",
        ),
    )


def staging_table(rows: list[Row], size: int) -> Table:
    """Seed Tables II/III: greedy vs probabilistic staging, same generators and seeds."""
    out = []
    greedy = [r for r in rows if r["kind"] == "greedy" and r["size"] == size]
    for group, variant, prob in _paired(rows, greedy, size):
        for staging, grp in (("greedy", variant), ("probabilistic", prob)):
            if grp:
                n, params, mean_acc, _, mean_app, _ = _stats(grp)
                out.append((group, staging, n, params, mean_acc, mean_app))
    return Table(
        "staging",
        "Staging: greedy vs probabilistic",
        ("generator", "staging", "n", "params (M)", "mean acc %", "mean acc/Mparam"),
        tuple(out),
        ("Same generator and seeds under both stagings.",),
    )


def uniform_table(rows: list[Row], native_size: int, generator: str) -> Table:
    """Seed Table I: uniform channels vs staged, at the native and at a larger input."""
    out = []
    sizes = sorted({r["size"] for r in rows if r["kind"] == "uniform"})
    for size in sizes:
        uniform = [r for r in rows if r["kind"] == "uniform" and r["size"] == size]
        samples = {r["sample"] for r in uniform}
        staged_kind = "generator" if size == native_size else "staged"
        staged = [
            r
            for r in rows
            if r["kind"] == staged_kind and r["group"] == generator and r["size"] == size
            and r["sample"] in samples
        ]  # fmt: skip
        base = [r for r in rows if r["kind"] == "baseline" and r["size"] == size]
        best = max(base, key=lambda r: float(r["test_acc"])) if base else None
        out.append(
            (
                f"{size}x{size}",
                len(uniform),
                _mean([r["params"] / 1e6 for r in uniform]),
                _mean([r["test_acc"] for r in uniform]),
                _mean([r["params"] / 1e6 for r in staged]),
                _mean([r["test_acc"] for r in staged]),
                best["group"] if best else None,
                float(best["test_acc"]) if best else None,
            )
        )
    return Table(
        "uniform",
        f"Uniform channels vs staged ({generator})",
        (
            "input",
            "n",
            "uniform params (M)",
            "uniform acc %",
            "staged params (M)",
            "staged acc %",
            "baseline",
            "baseline acc %",
        ),
        tuple(out),
        ("staged = probabilistic staging, same seeds; baseline = best baseline at that size.",),
    )


def stability_table(cells: dict[str, dict[str, Any]]) -> Table:
    """Seed Table IV: mean and std of the parameter count (millions) per generator and staging."""
    out = []
    for staging in STABILITY_STAGINGS:
        row: list[Any] = [staging]
        for gen in STABILITY_GENERATORS:
            cell = cells.get(f"{gen}/{staging}")
            row += [cell["mean"] / 1e6, cell["std"] / 1e6] if cell else [None, None]
        count = next((c["count"] for c in cells.values()), 0)
        out.append((*row, count))
    cols = ["staging"]
    for gen in STABILITY_GENERATORS:
        cols += [f"{gen} mean (M)", f"{gen} std (M)"]
    first = next(iter(cells.values()), {})
    return Table(
        "param_stability",
        "Parameter-size stability (no training)",
        (*cols, "samples"),
        tuple(out),
        (
            f"{first.get('vertices', '?')}-vertex architectures, stem width "
            f"{first.get('channels', '?')}, c_max {first.get('c_max', '?')}, seeds 0..samples-1.",
        ),
    )
