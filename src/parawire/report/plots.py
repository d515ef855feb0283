"""The report's pictures, drawn with matplotlib: each function takes plain data and returns a
``Figure`` (no pyplot, no global state), which ``save_figure`` writes as PNG and SVG.

Gathering the data (``parawire.report.gather``) and drawing it (here) are separate steps, as in
Optuna's ``visualization``. The pictures:

* ``architecture_figure``: the network left to right by depth, vertices coloured by device and
  sized by compute, cross-device edges emphasised with the bytes they carry;
* ``gantt_figure``: a schedule (simulated, or measured from the runtime's traces), one row per
  device, transfers in a thin lane under their sender;
* ``width_depth_figure``: width against depth per generator (EDGE'23 Figure 10), with eta;
* ``speedup_figure``: speedup against units (EDGE'23 Figure 11);
* ``pareto_figure``: accuracy against k-device latency with the Pareto front;
* ``predicted_measured_figure``: predicted against measured latency.

matplotlib is imported by this module only, so ``parawire --help`` and the table commands never
load it::

    from parawire.report.plots import gantt_figure, save_figure
    events = [e.to_dict() for e in result.schedule.timeline]  # the stored JSON form
    fig = gantt_figure(events, devices=4, title="dp:0 on 4 devices")
    save_figure(fig, "docs/img/schedule")          # schedule.png and schedule.svg
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from parawire._io import atomic_write
from parawire.errors import ConfigError
from parawire.graphs.dag import depth_levels
from parawire.report.backend import CostGraphView, EventDoc

# Figures made directly (no pyplot) draw with Agg whatever the backend: none is switched here;
_STABLE = {"svg.hashsalt": "parawire"}  # stable SVG ids, set only while a figure is written

FORMATS = ("png", "svg")  # what save_figure writes
DPI = 110  # PNG resolution: sharp on a laptop screen, ~100 KB a picture
PALETTE = matplotlib.colormaps["tab10"]  # device d is PALETTE(d % 10)
CROSS_EDGE = "#d62728"  # colour of edges between devices
# gids on the artists that carry data, so that tests (and readers) find them by name
GID_VERTICES, GID_CROSS, GID_LOCAL, GID_BYTES = "vertices", "cross-edges", "local-edges", "bytes"
GID_COMPUTE, GID_TRANSFER, GID_FRONT, GID_POINTS = "compute", "transfer", "front", "points"


def device_color(device: int) -> tuple[float, float, float, float]:
    """The colour of one device, the same in every picture."""
    return PALETTE(device % 10)


def human_bytes(n: float) -> str:
    """12 KiB, 1.5 MiB: the size of a tensor on the wire."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" or n >= 100 else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def human_seconds(s: float) -> str:
    """A duration with a unit that keeps 3 significant digits (us, ms or s)."""
    if s < 1e-3:
        return f"{s * 1e6:.3g} us"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


# --- architecture ---------------------------------------------------------------------------


def layout_by_depth(graph: CostGraphView) -> dict[int, tuple[float, float]]:
    """Vertex -> (x, y): x its depth (longest path from the input), y spread evenly and centred
    within that depth, in topological order (so the drawing is the same every time)."""
    level = depth_levels(graph.dag)
    columns: dict[int, list[int]] = {}
    for v in graph.topological_order:
        columns.setdefault(level[v], []).append(v)
    pos: dict[int, tuple[float, float]] = {}
    for x, members in columns.items():
        for i, v in enumerate(members):
            pos[v] = (float(x), i - (len(members) - 1) / 2)
    return pos


def architecture_figure(
    graph: CostGraphView,
    placement: Mapping[int, int],
    *,
    title: str | None = None,
    label_bytes: bool = True,
) -> Figure:
    """The network drawn left to right by depth: one dot per vertex, coloured by its device and
    with an area proportional to its MACs; edges inside a device thin and grey, edges between
    devices thick and red, each output sent to another device labelled once with its bytes.

    Artists: one scatter per device (gid ``vertices``), one ``LineCollection`` for each edge
    kind (gids ``local-edges`` and ``cross-edges``), one text per transfer (gid ``bytes``).
    """
    missing = [v.id for v in graph.vertices if v.id not in placement]
    if missing:
        raise ConfigError(f"the placement misses vertices {missing[:8]}; give every vertex one")
    pos = layout_by_depth(graph)
    macs = {v.id: v.macs for v in graph.vertices}
    width = max(x for x, _ in pos.values()) + 1
    height = max((abs(y) for _, y in pos.values()), default=0) * 2 + 1
    fig = Figure(figsize=(min(16.0, 3 + 0.9 * width), min(10.0, 2.5 + 0.55 * height)))
    ax = fig.subplots()
    labelled = _draw_edges(ax, graph, placement, pos, label_bytes)
    _draw_vertices(ax, graph, placement, pos, macs)
    ax.set_xlim(-0.6, width - 0.4)
    ax.set_ylim(-height / 2 - 0.3, height / 2 + 0.3)
    ax.set_xlabel("depth (edges on the longest path from the input)")
    ax.set_yticks([])
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    total = sum(graph.sent_bytes(u) for u, _ in labelled)
    ax.set_title(
        title
        or f"{graph.name}: {len(graph.vertices)} vertices on "
        f"{len(set(placement.values()))} devices, {human_bytes(total)} between devices "
        "(area: MACs)",
        fontsize=10,
    )
    ax.legend(loc="upper left", fontsize=8, markerscale=0.5, frameon=False)
    fig.tight_layout()
    return fig


def _draw_edges(
    ax: Any,
    graph: CostGraphView,
    placement: Mapping[int, int],
    pos: Mapping[int, tuple[float, float]],
    label_bytes: bool,
) -> set[tuple[int, int]]:
    """Edges inside a device thin and grey, between devices thick and red, each output sent to
    another device labelled once with its bytes; the (vertex, device) sends labelled."""
    local, cross = [], []
    labelled: set[tuple[int, int]] = set()  # (vertex, device): one send per device, not per edge
    for u, v in graph.edges:
        segment = (pos[u], pos[v])
        if placement[u] == placement[v]:
            local.append(segment)
            continue
        cross.append(segment)
        if label_bytes and (u, placement[v]) not in labelled:
            labelled.add((u, placement[v]))
            (x0, y0), (x1, y1) = segment
            ax.text(
                (x0 + x1) / 2,
                (y0 + y1) / 2,
                human_bytes(graph.sent_bytes(u)),
                fontsize=7,
                color=CROSS_EDGE,
                ha="center",
                va="center",
                gid=GID_BYTES,
                zorder=4,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
            )
    ax.add_collection(LineCollection(local, colors="#999999", linewidths=0.8, gid=GID_LOCAL))
    ax.add_collection(
        LineCollection(cross, colors=CROSS_EDGE, linewidths=2.2, alpha=0.75, gid=GID_CROSS)
    )
    return labelled


def _draw_vertices(
    ax: Any,
    graph: CostGraphView,
    placement: Mapping[int, int],
    pos: Mapping[int, tuple[float, float]],
    macs: Mapping[int, float],
) -> None:
    """One scatter per device, each dot's area proportional to the vertex's MACs."""
    top = max(macs.values(), default=0) or 1
    for device in sorted(set(placement.values())):
        ids = [v for v in graph.topological_order if placement[v] == device]
        ax.scatter(
            [pos[v][0] for v in ids],
            [pos[v][1] for v in ids],
            s=[30 + 600 * macs[v] / top for v in ids],
            color=device_color(device),
            edgecolors="black",
            linewidths=0.5,
            zorder=3,
            label=f"device {device} ({len(ids)} vertices)",
            gid=GID_VERTICES,
        )


# --- schedules ------------------------------------------------------------------------------


def gantt_figure(
    events: Sequence[EventDoc],
    devices: int | None = None,
    *,
    title: str = "schedule",
    makespan_s: float | None = None,
) -> Figure:
    """A Gantt chart: one row per device with a bar per vertex computed, and under it a thin
    lane with a bar per transfer the device sends, coloured by the receiving device.

    ``events``: a simulated ``Schedule.timeline`` or measured events (compute only). Artists:
    one bar container per device and kind, labelled (and its bars' gid) ``compute`` or
    ``transfer``.
    """
    n = devices if devices is not None else 1 + max((e["device"] for e in events), default=0)
    end = max((e["end"] for e in events), default=0.0)
    scale, unit = (1e3, "ms") if end < 1 else (1.0, "s")
    fig = Figure(figsize=(11, 1.2 + 0.75 * n))
    ax = fig.subplots()
    for d in range(n):
        _device_row(ax, events, d, scale)
    if makespan_s is not None:
        ax.axvline(makespan_s * scale, color="black", linestyle="--", linewidth=1)
    ax.set_xlim(left=0)
    ax.set_yticks(range(n), [f"device {d}" for d in range(n)])
    ax.set_ylim(n - 0.4, -0.6)  # device 0 on top
    sends = any(e["kind"] == "transfer" for e in events)
    legend = "; hatched: transfers, coloured by the receiving device" if sends else ""
    ax.set_xlabel(f"time ({unit}){legend}")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def _device_row(ax: Any, events: Sequence[EventDoc], d: int, scale: float) -> None:
    """Device ``d``'s bars: one per vertex computed (its id inside when the row is not dense),
    and under them one per transfer it sends, hatched, coloured by the receiving device."""
    mine = [e for e in events if e["device"] == d and e["kind"] == "compute"]
    bars = ax.barh(
        [d] * len(mine),
        [(e["end"] - e["start"]) * scale for e in mine],
        left=[e["start"] * scale for e in mine],
        height=0.55,
        color=device_color(d),
        edgecolor="black",
        linewidth=0.4,
        label=GID_COMPUTE,
    )
    for patch in bars:
        patch.set_gid(GID_COMPUTE)
    if len(mine) <= 40:  # names stay readable; a dense row keeps only its bars
        for e in mine:
            ax.text(
                (e["start"] + e["end"]) / 2 * scale,
                d,
                str(e["vertex"]),
                ha="center",
                va="center",
                fontsize=6,
                clip_on=True,
            )
    sent = [e for e in events if e["device"] == d and e["kind"] == "transfer"]
    bars = ax.barh(
        [d + 0.42] * len(sent),
        [(e["end"] - e["start"]) * scale for e in sent],
        left=[e["start"] * scale for e in sent],
        height=0.2,
        color=[device_color(e.get("dst") if e.get("dst") is not None else d) for e in sent],
        edgecolor="black",
        linewidth=0.3,
        hatch="///",
        label=GID_TRANSFER,
    )
    for patch in bars:
        patch.set_gid(GID_TRANSFER)


# --- populations ----------------------------------------------------------------------------


def width_depth_figure(
    histograms: Mapping[str, Sequence[Sequence[int]]],
    eta: Mapping[str, float] | None = None,
) -> Figure:
    """Width against depth per generator (EDGE'23 Figure 10): for each name, the mean number of
    vertices at each depth over its architectures; wide and shallow is what distributes.

    ``histograms``: name -> one ``depth_histogram`` per architecture. ``eta``: name -> mean
    eta, shown in the panel's title. One bar per depth in each panel.
    """
    names = [k for k, hs in histograms.items() if hs]
    if not names:
        raise ConfigError("width_depth_figure needs at least one histogram")
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig = Figure(figsize=(3.6 * cols, 2.4 * rows + 0.4))
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True)
    for i, name in enumerate(names):
        ax = axes[i // cols][i % cols]
        hists = histograms[name]
        depth = max(len(h) for h in hists)
        mean = [sum(h[d] if d < len(h) else 0 for h in hists) / len(hists) for d in range(depth)]
        ax.bar(range(depth), mean, color=PALETTE(i % 10), edgecolor="black", linewidth=0.4)
        extra = f", eta {eta[name]:.2f}" if eta and name in eta else ""
        ax.set_title(f"{name} (n={len(hists)}{extra})", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    for j in range(len(names), rows * cols):
        axes[j // cols][j % cols].set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("depth")
    for row in axes:
        row[0].set_ylabel("width (vertices)")
    fig.suptitle("Width against depth (EDGE'23 Figure 10): mean over architectures", fontsize=10)
    fig.tight_layout()
    return fig


def speedup_figure(
    units: Sequence[int],
    series: Mapping[str, Sequence[float]],
    *,
    title: str = "Speedup against units (EDGE'23 Figure 11)",
    ideal: bool = True,
) -> Figure:
    """Speedup over one unit against the number of units: one line with a marker per unit for
    each series (e.g. the paper's deployment, parawire's), and the ideal speedup dashed."""
    if not series:
        raise ConfigError("speedup_figure needs at least one series")
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    for i, (name, values) in enumerate(series.items()):
        if len(values) != len(units):
            raise ConfigError(f"series {name!r} has {len(values)} values for {len(units)} units")
        ax.plot(units, values, marker="o", color=PALETTE(i % 10), label=name, gid=GID_POINTS)
    if ideal:
        ax.plot(units, units, linestyle="--", color="grey", linewidth=1, label="ideal", gid="ideal")
    ax.set_xlabel("units (devices)")
    ax.set_ylabel("speedup over one unit")
    ax.set_xticks(list(units))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def pareto_front(latency: Sequence[float], accuracy: Sequence[float]) -> list[int]:
    """Indices of the points no other point beats on both objectives (lower latency, higher
    accuracy), ordered by latency; of equal points the first is kept."""
    if len(latency) != len(accuracy):
        raise ConfigError(f"{len(latency)} latencies for {len(accuracy)} accuracies")
    order = sorted(range(len(latency)), key=lambda i: (latency[i], -accuracy[i], i))
    front: list[int] = []
    for i in order:
        if not front or accuracy[i] > accuracy[front[-1]]:
            front.append(i)
    return front


def pareto_figure(
    latency_s: Sequence[float],
    accuracy: Sequence[float],
    groups: Sequence[str] | None = None,
    *,
    title: str = "Accuracy against k-device latency",
    xlabel: str = "simulated latency of one inference (ms)",
) -> Figure:
    """Every architecture as a point (coloured by group), and the Pareto front (lower latency,
    higher accuracy) as a black step line through its members.

    Artists: one scatter per group (gid ``points``), one line for the front (gid ``front``)."""
    if len(latency_s) != len(accuracy) or (groups is not None and len(groups) != len(accuracy)):
        raise ConfigError("pareto_figure needs as many latencies, accuracies and groups")
    labels = list(groups) if groups is not None else [""] * len(accuracy)
    many = len(set(labels)) > 4  # the legend goes beside the axes, not over the points
    fig = Figure(figsize=(8.6 if many else 6.8, 4.4))
    ax = fig.subplots()
    names = list(dict.fromkeys(labels))
    colors = PALETTE if len(names) <= 10 else matplotlib.colormaps["tab20"]  # 20 distinct
    for i, group in enumerate(names):
        idx = [j for j, g in enumerate(labels) if g == group]
        ax.scatter(
            [latency_s[j] * 1e3 for j in idx],
            [accuracy[j] for j in idx],
            color=colors(i % colors.N),
            label=group or None,
            alpha=0.8,
            gid=GID_POINTS,
        )
    front = pareto_front(latency_s, accuracy)
    ax.plot(
        [latency_s[j] * 1e3 for j in front],
        [accuracy[j] for j in front],
        drawstyle="steps-post",
        color="black",
        marker="o",
        markerfacecolor="none",
        markersize=11,
        label=f"Pareto front ({len(front)})",
        gid=GID_FRONT,
    )
    ax.set_xlabel(xlabel)
    ax.set_ylabel("top-1 accuracy (%)")
    ax.grid(alpha=0.3)
    if many:
        ax.legend(fontsize=8, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    else:
        ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def predicted_measured_figure(
    predicted_s: Sequence[float],
    measured_s: Sequence[float],
    *,
    title: str = "Predicted against measured latency",
    band: float = 0.10,
) -> Figure:
    """One point per measurement; the diagonal (exact prediction) and a +-``band`` corridor.
    The title gives the mean absolute percentage error and the share within the corridor."""
    if len(predicted_s) != len(measured_s) or not measured_s:
        raise ConfigError("predicted_measured_figure needs as many (>= 1) predictions as measures")
    if min(measured_s) <= 0:
        raise ConfigError("measured latencies must be > 0")
    errors = [abs(p - m) / m for p, m in zip(predicted_s, measured_s, strict=True)]
    mape = 100 * sum(errors) / len(errors)
    within = 100 * sum(e <= band for e in errors) / len(errors)
    scale, unit = (1e3, "ms") if max(measured_s) < 1 else (1.0, "s")
    fig = Figure(figsize=(5.2, 5.0))
    ax = fig.subplots()
    ax.scatter(
        [m * scale for m in measured_s],
        [p * scale for p in predicted_s],
        color=PALETTE(0),
        edgecolors="black",
        linewidths=0.4,
        gid=GID_POINTS,
    )
    lo = min(*measured_s, *predicted_s) * scale * 0.9
    hi = max(*measured_s, *predicted_s) * scale * 1.1
    ax.plot([lo, hi], [lo, hi], color="black", linewidth=1, label="exact")
    ax.fill_between(
        [lo, hi],
        [lo * (1 - band), hi * (1 - band)],
        [lo * (1 + band), hi * (1 + band)],
        color="grey",
        alpha=0.2,
        label=f"within {band:.0%}",
    )
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel(f"measured ({unit})")
    ax.set_ylabel(f"predicted ({unit})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    ax.set_title(f"{title}\nMAPE {mape:.1f}%, {within:.0f}% within {band:.0%}", fontsize=10)
    fig.tight_layout()
    return fig


# --- files ----------------------------------------------------------------------------------


def save_figure(fig: Figure, stem: str | Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write ``fig`` as ``stem.png`` and ``stem.svg`` (or ``formats``); returns the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = stem.with_name(f"{stem.name}.{fmt}")
        with matplotlib.rc_context(_STABLE):
            atomic_write(
                path, lambda tmp, f=fmt: fig.savefig(tmp, format=f, dpi=DPI, metadata=_metadata(f))
            )
        paths.append(path)
    return paths


def png_data_uri(fig: Figure) -> str:
    """The figure as a ``data:image/png;base64,...`` URI, for a page that needs no other file."""
    buf = io.BytesIO()
    with matplotlib.rc_context(_STABLE):
        fig.savefig(buf, format="png", dpi=DPI, metadata=_metadata("png"))
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _metadata(fmt: str) -> dict[str, str | None]:
    """No creation date or software version in the files: the same data gives the same bytes."""
    if fmt == "svg":
        return {"Date": None, "Creator": None}
    if fmt == "png":
        return {"Software": None}
    return {}
