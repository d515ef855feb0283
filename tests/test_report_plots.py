"""The report's plots draw what their data says (counted on the figure's artists), and the
gathering functions read the commands' JSON and rebuild the commands that wrote it."""

from __future__ import annotations

import itertools
import random
import shlex
from pathlib import Path

import pytest
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

import parawire
from conftest import small_spec
from parawire.analysis.api import AnalysisResult
from parawire.analysis.costs import spec_costs
from parawire.analysis.graph import CostGraph
from parawire.analysis.metrics import depth_histogram
from parawire.analysis.simulate import TimelineEvent
from parawire.errors import ConfigError, DataError
from parawire.report import gather, plots
from parawire.study import reporting


@pytest.fixture(scope="module")
def analysed() -> tuple[CostGraph, AnalysisResult]:
    """A small dp spec split over 3 rpi4-wifi devices (image scatter) and its cost graph."""
    spec = small_spec("dp", seed=1)
    result = parawire.analyze(
        spec, devices=3, profile="rpi4-wifi", partitioner="kahypar", select="makespan"
    )
    assert result.devices_used > 1  # the test needs cross-device edges
    return spec_costs(spec, wire_dtype=result.wire_dtype, scatter=result.scatter), result


def _by_gid(fig, gid: str, kind: type) -> list:
    return [a for a in fig.findobj(kind) if a.get_gid() == gid]


def test_architecture_draws_every_vertex_edge_and_transfer(analysed) -> None:
    graph, result = analysed
    placement = result.placement
    fig = plots.architecture_figure(graph, placement)
    dots = _by_gid(fig, plots.GID_VERTICES, PathCollection)
    assert len(dots) == len(set(placement.values()))  # one scatter per device
    assert sum(len(d.get_offsets()) for d in dots) == len(graph.vertices)
    sizes = {len(d.get_offsets()) for d in dots}
    per_device = {list(placement.values()).count(d) for d in set(placement.values())}
    assert sizes == per_device
    (cross,) = _by_gid(fig, plots.GID_CROSS, LineCollection)
    (local,) = _by_gid(fig, plots.GID_LOCAL, LineCollection)
    n_cross = sum(placement[u] != placement[v] for u, v in graph.edges)
    assert len(cross.get_segments()) == n_cross > 0
    assert len(local.get_segments()) == len(graph.edges) - n_cross
    # oracle: the simulation sends each output once per receiving device, plus the logits home
    labels = [t for t in fig.findobj() if getattr(t, "get_gid", None) and t.get_gid() == "bytes"]
    home = placement[graph.source]
    back = placement[graph.sink] != home
    assert len(labels) == result.schedule.transfers - back
    # the vertex with the most MACs is drawn largest
    biggest = max(graph.vertices, key=lambda v: v.macs)
    assert max(s for d in dots for s in d.get_sizes()) == pytest.approx(630)
    assert biggest.macs > 0


def test_architecture_names_a_missing_vertex(analysed) -> None:
    graph, result = analysed
    partial = dict(result.placement)
    partial.pop(graph.sink)
    with pytest.raises(ConfigError, match=str(graph.sink)):
        plots.architecture_figure(graph, partial)


def test_gantt_has_a_bar_per_compute_and_per_transfer(analysed) -> None:
    _, result = analysed
    timeline = [e.to_dict() for e in result.schedule.timeline]  # the stored form a report reads
    fig = plots.gantt_figure(timeline, result.devices, makespan_s=result.makespan_s)
    compute = _by_gid(fig, plots.GID_COMPUTE, Rectangle)
    sent = _by_gid(fig, plots.GID_TRANSFER, Rectangle)
    assert len(compute) == sum(e["kind"] == "compute" for e in timeline)
    assert len(sent) == result.schedule.transfers > 0
    ends = [r.get_x() + r.get_width() for r in compute + sent]
    assert max(ends) == pytest.approx(result.makespan_s * 1e3)  # ms axis
    # each device's row holds exactly its busy time
    for d in range(result.devices):
        row = [r for r in compute if abs(r.get_y() + r.get_height() / 2 - d) < 1e-9]
        assert sum(r.get_width() for r in row) == pytest.approx(result.schedule.busy_s[d] * 1e3)


def test_width_depth_bars_are_the_mean_histograms() -> None:
    specs = {g: [small_spec(g, seed=s) for s in range(2)] for g in ("dp", "chain")}
    hists = {g: [depth_histogram(spec_costs(s)) for s in ss] for g, ss in specs.items()}
    fig = plots.width_depth_figure(hists, {"dp": 1.25})
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2
    for ax, (name, hs) in zip(axes, hists.items(), strict=True):
        depth = max(map(len, hs))
        mean = [sum(h[d] if d < len(h) else 0 for h in hs) / len(hs) for d in range(depth)]
        assert [p.get_height() for p in ax.patches] == pytest.approx(mean)
        assert ax.get_title().startswith(f"{name} (n=2")
    assert "eta 1.25" in axes[0].get_title()
    with pytest.raises(ConfigError):
        plots.width_depth_figure({})


def test_speedup_has_a_point_per_unit_and_the_ideal() -> None:
    units = [1, 2, 3, 4]
    series = {"paper": [1.0, 1.4, 1.7, 1.8], "parawire": [1.0, 1.6, 2.1, 2.3]}
    fig = plots.speedup_figure(units, series)
    lines = _by_gid(fig, plots.GID_POINTS, Line2D)
    assert [ln.get_label() for ln in lines] == list(series)
    for ln, values in zip(lines, series.values(), strict=True):
        assert list(ln.get_xdata()) == units and list(ln.get_ydata()) == values
    (ideal,) = _by_gid(fig, "ideal", Line2D)
    assert list(ideal.get_ydata()) == units
    with pytest.raises(ConfigError, match="3 values for 4 units"):
        plots.speedup_figure(units, {"short": [1, 2, 3]})


def _dominated(i: int, lat: list[float], acc: list[float]) -> bool:
    return any(
        lat[j] <= lat[i] and acc[j] >= acc[i] and (lat[j] < lat[i] or acc[j] > acc[i])
        for j in range(len(lat))
    )


@pytest.mark.parametrize("seed", range(5))
def test_pareto_front_is_exactly_the_non_dominated_points(seed: int) -> None:
    rng = random.Random(seed)
    lat = [rng.choice([0.01, 0.02, 0.03, 0.04]) for _ in range(25)]  # ties on purpose
    acc = [rng.choice([80.0, 85.0, 90.0]) for _ in range(25)]
    front = plots.pareto_front(lat, acc)
    undominated = {(lat[i], acc[i]) for i in range(25) if not _dominated(i, lat, acc)}
    assert {(lat[i], acc[i]) for i in front} == undominated
    assert len(front) == len(undominated)  # of equal points only one
    assert [lat[i] for i in front] == sorted(lat[i] for i in front)


def test_pareto_figure_draws_every_point_and_the_front() -> None:
    lat = [0.03, 0.01, 0.02, 0.05, 0.04]
    acc = [90.0, 80.0, 70.0, 95.0, 85.0]
    fig = plots.pareto_figure(lat, acc, ["dp", "dp", "er", "er", "ws"])
    points = _by_gid(fig, plots.GID_POINTS, PathCollection)
    assert [len(p.get_offsets()) for p in points] == [2, 2, 1]
    (front,) = _by_gid(fig, plots.GID_FRONT, Line2D)
    assert list(front.get_xdata()) == pytest.approx([10.0, 30.0, 50.0])  # ms
    assert list(front.get_ydata()) == [80.0, 90.0, 95.0]


def test_predicted_measured_points_and_error_in_the_title() -> None:
    predicted, measured = [0.010, 0.022, 0.030, 0.050], [0.010, 0.020, 0.033, 0.040]
    fig = plots.predicted_measured_figure(predicted, measured)
    (points,) = _by_gid(fig, plots.GID_POINTS, PathCollection)
    assert list(points.get_offsets()[:, 0]) == pytest.approx([m * 1e3 for m in measured])
    assert list(points.get_offsets()[:, 1]) == pytest.approx([p * 1e3 for p in predicted])
    # errors 0, 10, 9.09, 25 %: mean 11.0 %, 3 of 4 within 10 %
    title = fig.axes[0].get_title()
    assert "MAPE 11.0%" in title and "75% within 10%" in title
    with pytest.raises(ConfigError):
        plots.predicted_measured_figure([0.1], [0.1, 0.2])


def test_save_figure_writes_png_and_svg_the_same_every_time(tmp_path: Path) -> None:
    fig = plots.speedup_figure([1, 2], {"s": [1.0, 1.5]})
    first = plots.save_figure(fig, tmp_path / "a" / "speedup")
    assert [p.name for p in first] == ["speedup.png", "speedup.svg"]
    assert first[0].read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in first[1].read_bytes()[:500]
    second = plots.save_figure(fig, tmp_path / "b" / "speedup")
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes()
    assert plots.png_data_uri(fig).startswith("data:image/png;base64,iVBOR")


def test_human_units() -> None:
    assert plots.human_bytes(512) == "512 B"
    assert plots.human_bytes(12 * 1024) == "12.0 KiB"
    assert plots.human_bytes(3 * 2**20) == "3.0 MiB"
    assert plots.human_seconds(0.0123) == "12.3 ms"


# --- gathering ------------------------------------------------------------------------------


def test_timeline_round_trip(analysed) -> None:
    _, result = analysed
    docs = result.schedule.to_dict(timeline=True)["timeline"]
    assert gather.timeline_events(docs) == tuple(e.to_dict() for e in result.schedule.timeline)


def test_renaming_to_the_plan_ranks() -> None:
    assert gather.renaming({0: 2, 1: 0, 2: 2}, {0: 0, 1: 1, 2: 0}) == {2: 0, 0: 1}
    with pytest.raises(DataError, match="vertex 2"):
        gather.renaming({0: 2, 1: 0, 2: 2}, {0: 0, 1: 1, 2: 1})
    with pytest.raises(DataError, match="two of the analysis' devices"):
        gather.renaming({0: 0, 1: 1}, {0: 0, 1: 0})
    events = (TimelineEvent("transfer", 0, 2, 0.0, 1.0, dst=0, nbytes=8).to_dict(),)
    assert gather.renamed_events(events, {2: 0, 0: 1}) == (
        TimelineEvent("transfer", 0, 0, 0.0, 1.0, dst=1, nbytes=8).to_dict(),
    )


def _trace_docs(offsets: list[float]) -> list[dict]:
    """Two ranks, one run per offset: rank 0 runs vertex 0 then 1, rank 1 vertex 2."""
    return [
        {
            "starts": [100 + o for o in offsets],
            "traces": [
                [[0, 100 + o, 100.01 + o], [1, 100.01 + o, 100.02 + o + o / 100]] for o in offsets
            ],
        },
        {
            "starts": [100 + o for o in offsets],
            "traces": [[[2, 100.005 + o, 100.015 + o]] for o in offsets],
        },
    ]


def test_measured_events_take_the_median_run() -> None:
    docs = _trace_docs([0.0, 3.0, 1.0])  # run lengths grow with the offset: median is run 2
    assert gather.median_run(docs) == 2
    events = gather.measured_events(docs)
    assert [(e["device"], e["vertex"]) for e in events] == [(0, 0), (0, 1), (1, 2)]
    assert events[0]["start"] == pytest.approx(0.0) and events[1]["end"] == pytest.approx(0.03)
    assert gather.measured_events(docs, run=0)[1]["end"] == pytest.approx(0.02)


def test_front_points_read_the_search_front_and_trials() -> None:
    front = {
        "devices": 4,
        "front": [
            {"number": 3, "family": "dp", "accuracy": 91.0, "latency_ms": 12.0, "spec": "front/a"},
            {"number": 5, "family": "er", "accuracy": 93.0, "latency_ms": 20.0, "feasible": True},
        ],
    }
    points = gather.front_points(front)
    assert points == [
        gather.FrontPoint(91.0, 0.012, "front/a", "dp"),
        gather.FrontPoint(93.0, 0.020, "5", "er"),
    ]
    csv_rows = [
        {"number": "1", "accuracy": "80.5", "latency_ms": "7", "feasible": "False"},
        {"number": "2", "accuracy": "81", "latency_ms": "9", "feasible": "True"},
    ]
    assert gather.front_points(csv_rows) == [gather.FrontPoint(81.0, 0.009, "2")]
    nested = [{"values": {"accuracy": 70, "latency_s": 0.5}, "name": "x"}, {"accuracy": 1}]
    assert gather.front_points(nested) == [gather.FrontPoint(70.0, 0.5, "x")]


def test_predictions_read_lists_and_rows() -> None:
    assert gather.predictions({"predicted_s": [1, 2], "measured_s": [1.5, 2]}) == (
        [1.0, 2.0],
        [1.5, 2.0],
    )
    rows = {"rows": [{"predicted": 0.1, "measured": 0.2}, {"predicted": 0.3}]}
    assert gather.predictions(rows) == ([0.1], [0.2])
    assert gather.predictions({"p50_s": 1}) is None


def _parse(command, line: str) -> dict:
    """The parameters ``command`` (a click command) parses from ``line``."""
    words = shlex.split(line)[2:]
    return command.make_context(command.name, words).params


def test_study_command_parses_back_to_the_config(tmp_path: Path) -> None:
    from parawire.cli.study_commands import study_cmd
    from parawire.study.config import StudyConfig, demo_config

    demo = reporting.study_command(demo_config().to_dict(), "runs/my demo")
    assert demo == "parawire demo --out 'runs/my demo'"
    cfg = StudyConfig(
        samples=5,
        generators=("dp", "er"),
        merge="pooled",
        lr=0.05,
        large_baseline=False,
        stem_stride=2,
        select="cs",
    )
    line = reporting.study_command(cfg.to_dict(), str(tmp_path))
    params = _parse(study_cmd, line)
    assert params["samples"] == 5 and params["generators"] == "dp,er"
    assert params["merge"] == "pooled" and params["lr"] == 0.05 and params["stem_stride"] == 2
    assert params["large_baseline"] is False and params["select"] == "cs"
    for key, value in params.items():  # every other option at its default
        if key in ("out", "generators", "baselines", "staging_generators", "merge_generators"):
            continue
        if key in cfg.__dataclass_fields__:
            assert value == getattr(cfg, key), key


@pytest.mark.parametrize("merge", ["maps", "pooled"])
def test_study_command_keeps_the_merge(tmp_path: Path, merge: str) -> None:
    """The library's StudyConfig defaults to maps, the command line to pooled: the rebuild
    command names the merge either way, so it reruns the study that was run."""
    from parawire.cli.study_commands import study_cmd
    from parawire.study.config import StudyConfig

    line = reporting.study_command(StudyConfig(samples=2, merge=merge).to_dict(), str(tmp_path))
    assert _parse(study_cmd, line)["merge"] == merge


def test_analysis_and_run_commands_parse(analysed) -> None:
    from parawire.cli.analysis_commands import analyze_cmd
    from parawire.cli.runtime_commands import run_cmd

    _, result = analysed
    params = _parse(analyze_cmd, gather.analysis_command(result.to_dict(), "a.json", "out"))
    assert params["devices"] == 3 and params["select"] == "makespan"
    assert params["partitioner"] is None and str(params["out"]) == "out"  # kahypar: default
    other = {**result.to_dict(), "partitioner": "metis", "select": "cs", "wire_dtype": "int8"}
    params = _parse(analyze_cmd, gather.analysis_command(other, "a.json", "out"))
    assert params["partitioner"] == "metis" and params["wire_dtype"] == "int8"
    latency = {**other, "select": "latency", "partitioner": "heft+moves"}
    params = _parse(analyze_cmd, gather.analysis_command(latency, "a.json", "out"))
    assert params["partitioner"] is None and params["select"] == "latency"
    run = {
        "runs": 7,
        "warmup": 3,
        "batch": 1,
        "threads": 2,
        "link": "rpi4-wifi",
        "emulate": None,
        "check": {},
    }
    line = gather.run_command(run, "an/plan", "an/run.json")
    assert line.endswith("--json > an/run.json")
    params = _parse(run_cmd, line.split(" > ")[0])
    assert params["runs"] == 7 and params["threads"] == 2 and params["link"] == "rpi4-wifi"
    assert params["check"] == 0 and params["as_json"]


def test_every_combination_of_row_labels() -> None:
    kinds = ["generator", "greedy", "merge", "uniform", "baseline"]
    labels = {
        gather.row_label({"kind": k, "group": g, "merge": "pooled", "size": 48})
        for k, g in itertools.product(kinds, ["dp"])
    }
    assert labels == {"dp", "dp greedy", "dp pooled", "dp uniform 48px"}


def test_import_leaves_matplotlib_settings_alone() -> None:
    """Importing the plots switches no backend and sets no rcParam (issue 20, item 7)."""
    import subprocess
    import sys

    probe = (
        "import matplotlib; matplotlib.use('pdf'); salt = matplotlib.rcParams['svg.hashsalt']\n"
        "import parawire.report.plots\n"
        "print(matplotlib.get_backend(), matplotlib.rcParams['svg.hashsalt'] == salt)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["pdf", "True"]
