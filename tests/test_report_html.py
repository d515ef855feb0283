"""`parawire report DIR`: one self-contained page per results folder, checked in headless
Chromium as a person would see it (every image decoded, every table there)."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import small_spec
from parawire.cli import main
from parawire.errors import DataError, ParawireError
from parawire.report import browser, folders, gather
from parawire.report.html import Page, Picture, Section, render
from parawire.report.tables import Table
from parawire.runtime.plan import Plan, simulate_plan
from parawire.study import reporting


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder holding every kind: `analyze --out`, a run's JSON with rank traces, a study,
    a search front and a latency report (run, study rows, front and latencies are made up
    from real specs and simulations: no training, no processes)."""
    root = tmp_path_factory.mktemp("report")
    spec_path = root / "arch.json"
    small_spec("dp", seed=1).save(spec_path)
    folder = root / "all"
    argv = [
        "analyze",
        str(spec_path),
        "-n",
        "3",
        "--partitioner",
        "kahypar",
        "--select",
        "makespan",
        "--out",
        str(folder),
    ]
    assert main(argv) == 0
    _fake_run(folder)
    _fake_study(folder)
    _fake_search(folder)
    (folder / "predictions.json").write_text(
        json.dumps({"predicted_s": [0.010, 0.021, 0.029], "measured_s": [0.011, 0.020, 0.031]})
    )
    run = json.loads((folder / "run.json").read_text())
    rebuilt = gather.run_command(run, str(folder / "plan"), str(folder / "run.json"))
    (folder / folders.COMMANDS_FILE).write_text(f"parawire analyze {spec_path} -n 3\n{rebuilt}\n")
    return folder


def _fake_run(folder: Path) -> None:
    """run.json and trace-rank<r>.json as the runtime writes them, from the plan's simulation
    on local-cpu stretched by 10 % (three runs)."""
    plan = Plan.load(folder / "plan")
    sched = simulate_plan(plan, "local-cpu")
    finish = sched.finish_times()
    ranks = [
        {
            "rank": r,
            "measured_busy_s": 1.1 * sched.busy_s[r],
            "measured_finish_s": 1.1 * finish[r],
            "simulated_busy_s": sched.busy_s[r],
            "simulated_finish_s": finish[r],
            "order_as_planned": True,
        }
        for r in range(plan.world)
    ]
    run = {
        "devices": plan.world,
        "p50_s": 1.1 * sched.makespan_s,
        "p95_s": 1.2 * sched.makespan_s,
        "mean_s": 1.1 * sched.makespan_s,
        "single_process_p50_s": sched.single_device_s,
        "speedup": sched.single_device_s / (1.1 * sched.makespan_s),
        "max_abs_diff": 0.0,
        "simulated_makespan_s": sched.makespan_s,
        "measured_over_simulated": 1.1,
        "runs": 3,
        "check": {},
        "ranks": ranks,
        "emulation": {"profile": "rpi4-wifi", "vertices": 42, "over_emulated_time": [3, 7]},
        "warnings": ["the machine was busy (1-minute load average 3.10 on 2 cores before the run)"],
        "processes": 3,
        "speedup_interval": [0.8, 0.95],
        "p50_interval_s": [1.0 * sched.makespan_s, 1.2 * sched.makespan_s],
        "spread": {"split": {"max_over_min": 1.04}, "one_process": {"max_over_min": 1.21}},
        "warmup": 1,
        "batch": 1,
        "threads": 1,
        "timeout": 60.0,
        "link": None,
        "paired": True,
        "emulate": None,
        "profile": "local-cpu",
        "plan": "3 ranks",
        "info": plan.info,
    }
    (folder / "run.json").write_text(json.dumps(run))
    starts = [10.0, 20.0, 30.0]
    for r in range(plan.world):
        runs = [
            [
                [e.vertex, s0 + 1.1 * e.start, s0 + 1.1 * e.end]
                for e in sched.timeline
                if e.kind == "compute" and e.device == r
            ]
            for s0 in starts
        ]
        doc = {"starts": starts, "traces": runs, "overruns": []}
        (folder / f"trace-rank{r}.json").write_text(json.dumps(doc))


def _fake_study(folder: Path) -> None:
    """results.json and tables.json of a study of 2 dp and 2 er specs (accuracies made up)."""
    from parawire.study.analysis_step import analyze_for_study
    from parawire.study.config import StudyConfig
    from parawire.study.tables import generators_table

    cfg = StudyConfig(samples=2, generators=("dp", "er"), baselines=(), devices=3)
    rows = []
    for i, (group, seed) in enumerate([("dp", 0), ("dp", 1), ("er", 0), ("er", 1)]):
        spec = small_spec(group, seed=seed)
        rows.append(
            {
                "job": f"generator/{group}/32/s{seed:03d}",
                "kind": "generator",
                "group": group,
                "staging": "probabilistic",
                "size": 32,
                "sample": seed,
                "params": 10_000 + i,
                "test_acc": 80.0 + 3 * i,
                "spec": spec.to_dict(),
                "analysis": analyze_for_study(spec, cfg),
            }
        )
        rows[-1]["speedup"] = rows[-1]["analysis"]["speedup"]
    (folder / "results.json").write_text(json.dumps({"config": cfg.to_dict(), "rows": rows}))
    table = generators_table(rows, 32, cfg.devices, cfg.profile)
    (folder / "tables.json").write_text(json.dumps([table.to_dict()]))


def _fake_search(folder: Path) -> None:
    """front.json and trials.csv in parawire search's layout."""
    trials = [
        {"number": i, "family": fam, "accuracy": acc, "latency_ms": lat, "feasible": ok}
        for i, (fam, acc, lat, ok) in enumerate(
            [
                ("dp", 90.0, 10.0, True),
                ("dp", 85.0, 12.0, True),
                ("er", 93.0, 20.0, True),
                ("er", 99.0, 5.0, False),
                ("ws", 80.0, 8.0, True),
            ]
        )
    ]
    with (folder / "trials.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, list(trials[0]))
        writer.writeheader()
        writer.writerows(trials)
    front = [
        {
            **t,
            "spec": f"front/trial-{t['number']:05d}.json",
            "commands": {"train": f"parawire train front/trial-{t['number']:05d}.json"},
        }
        for t in trials
        if t["number"] in (4, 0, 2)
    ]
    (folder / "front.json").write_text(
        json.dumps({"devices": 3, "profile": "rpi4-wifi", "front": front})
    )
    config = {"config": {"dataset": "digits", "trials": 5}, "storage": "sqlite:///search.sqlite"}
    (folder / "search-config.json").write_text(json.dumps(config))


@pytest.fixture(scope="module")
def built(results: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Page, dict, Path]:
    """The report of ``results`` (drawn once: the pictures take seconds), and its page file."""
    page, figures = reporting.build_report(results)
    path = tmp_path_factory.mktemp("page") / "report.html"
    path.write_text(render(page))
    return page, figures, path


def test_every_kind_of_folder_gets_its_section(built) -> None:
    page, figures, _ = built
    titles = [s.title for s in page.sections]
    assert titles[0] == "How this folder was made"  # commands.txt first
    for start in ("Analysis: ", "Run (run.json)", "Study: ", "Search: ", "Latency prediction"):
        assert sum(t.startswith(start) for t in titles) == 1, start
    commands = {s.title.split(":")[0].split(" (")[0]: s.commands for s in page.sections}
    assert len(commands["How this folder was made"]) == 2
    assert commands["Run"] == []  # rebuilt as commands.txt has it: shown once
    assert commands["Analysis"][0].startswith("parawire analyze ARCH.json")
    assert sorted(figures) == sorted(
        [
            "analysis-architecture",
            "analysis-schedule",
            "run-predicted-measured",
            "run-schedule",
            "run-measured-schedule",
            "study-width-depth",
            "study-pareto",
            "study-architecture",
            "study-schedule",
            "search-pareto",
            "latency-predictions",
        ]
    )
    pictures = [p.name for s in page.sections for p in s.pictures]
    assert sorted(pictures) == sorted(figures)


def test_a_run_shows_its_warnings_next_to_measured_against_simulated(built) -> None:
    page, _, _ = built
    (run,) = [s for s in page.sections if s.title.startswith("Run (run.json)")]
    (picture,) = [p for p in run.pictures if p.name == "run-predicted-measured"]
    assert "the machine was busy" in picture.caption
    assert "2 of 42 vertices computed longer here than on the emulated rpi4-wifi" in picture.caption
    assert any("the machine was busy" in t for t in run.text)
    cells = dict(run.tables[0].rows)
    assert cells["speedup, 95% interval"] == "[0.8, 0.95]"
    assert cells["processes differ (largest / smallest median)"] == "split x1.04, one process x1.21"


def test_the_pictures_hold_the_folder_data(built, results: Path) -> None:
    from matplotlib.collections import PathCollection
    from matplotlib.patches import Rectangle

    _, figures, _ = built
    plan = json.loads((results / "plan" / "plan.json").read_text())
    measured = [
        r for r in figures["run-measured-schedule"].findobj(Rectangle) if r.get_gid() == "compute"
    ]
    traces = [json.loads((results / f"trace-rank{r}.json").read_text()) for r in range(3)]
    assert len(measured) == sum(len(t["traces"][1]) for t in traces)
    # the median run (30 s) ends 1.1 x the simulated makespan after its start
    run = json.loads((results / "run.json").read_text())
    assert max(r.get_x() + r.get_width() for r in measured) == pytest.approx(run["p50_s"] * 1e3)
    groups = [
        c for c in figures["search-pareto"].findobj(PathCollection) if c.get_gid() == "points"
    ]
    assert sum(len(c.get_offsets()) for c in groups) == 4  # the infeasible trial left out
    study = [c for c in figures["study-pareto"].findobj(PathCollection) if c.get_gid() == "points"]
    assert [len(c.get_offsets()) for c in study] == [2, 2]
    dots = [
        c
        for c in figures["study-architecture"].findobj(PathCollection)
        if c.get_gid() == "vertices"
    ]
    rows = json.loads((results / "results.json").read_text())["rows"]
    best = max(rows, key=lambda r: r["analysis"]["speedup"])  # the network drawn
    assert sum(len(c.get_offsets()) for c in dots) == len(best["spec"]["nodes"])
    # the analysis' schedule is drawn with the plan's rank numbers: row r is rank r's busy time
    from matplotlib.patches import Rectangle as Bar

    bars = [b for b in figures["analysis-schedule"].findobj(Bar) if b.get_gid() == "compute"]
    for rank, busy in enumerate(plan["schedule"]["busy_s"]):
        row = [b for b in bars if abs(b.get_y() + b.get_height() / 2 - rank) < 1e-9]
        assert sum(b.get_width() for b in row) == pytest.approx(busy * 1e3)
    # Figure 10's eta is at the k devices offered, whatever the deployment uses (oracle: eta())
    from parawire.analysis.costs import spec_costs
    from parawire.analysis.metrics import eta
    from parawire.arch.spec import ArchSpec

    dp = [eta(spec_costs(ArchSpec.from_dict(r["spec"])), 3) for r in rows if r["group"] == "dp"]
    panel = figures["study-width-depth"].axes[0].get_title()
    assert panel == f"dp (n=2, eta {sum(dp) / 2:.2f})"
    dots = [
        c
        for c in figures["analysis-architecture"].findobj(PathCollection)
        if c.get_gid() == "vertices"
    ]
    assert sum(len(c.get_offsets()) for c in dots) == len(plan["placement"])


def test_the_page_is_self_contained(built, results: Path) -> None:
    text = built[2].read_text()
    srcs = re.findall(r'<img id="[^"]+" src="([^"]+)"', text)
    assert len(srcs) == 11 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "http://" not in text and "https://" not in text  # nothing to fetch
    assert "<script" not in text
    assert "parawire analyze ARCH.json --devices 3 --select makespan" in text  # rebuilt
    assert f"parawire run {results}/plan --runs 3 --warmup 1" in text
    assert "parawire train front/trial-00004.json" in text  # the search's own commands


def test_report_command_writes_the_page_and_the_pictures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "latency"
    folder.mkdir()
    rows = [{"predicted_s": 0.01 * i, "measured_s": 0.011 * i} for i in range(1, 6)]
    (folder / "report-rows.json").write_text(json.dumps({"rows": rows}))
    assert main(["report", str(folder), "--figures", str(tmp_path / "f")]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {folder / 'report.html'}"
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == [
        "latency-report-rows.png",
        "latency-report-rows.svg",
    ]
    text = (folder / "report.html").read_text()
    assert "Latency prediction (report-rows.json): 5 measurements" in text
    assert '<td class="num">9.09</td>' in text  # MAPE: every prediction 1/11 low


def test_a_folder_without_results_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.json").write_text('{"hello": 1}')
    assert main(["report", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("parawire: error: ") and "holds no parawire results" in err
    assert err.count("\n") == 1
    (tmp_path / "analysis.json").write_text("{not json")
    with pytest.raises(DataError, match=r"analysis\.json: invalid JSON"):
        reporting.build_report(tmp_path)
    (tmp_path / "analysis.json").write_text('{"placement": {"0": 0}, "name": "x"}')
    assert main(["report", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "its analysis files are not as parawire writes them (KeyError" in err
    assert err.count("\n") == 1


def test_file_names_match_the_commands_that_write_them() -> None:
    from parawire.cli import analysis_commands
    from parawire.runtime import launch, plan
    from parawire.search import front, runner

    assert folders.ANALYSIS_FILE == analysis_commands.ANALYSIS_FILE
    assert folders.TIMELINE_FILE == analysis_commands.TIMELINE_FILE
    assert folders.PLAN_DIR == analysis_commands.PLAN_DIR and folders.PLAN_FILE == plan.PLAN_FILE
    assert launch.TRACE_FILE.format(rank=0) == folders.TRACE_GLOB.replace("*", "0")
    assert folders.FRONT_FILE == front.FRONT_JSON and folders.TRIALS_FILE == front.TRIALS_CSV
    assert folders.SEARCH_CONFIG == runner.CONFIG_JSON


@pytest.mark.parametrize(
    ("profile", "link", "emulate"),
    [
        ("local-cpu", None, None),
        ("rpi4-wifi", "rpi4-ethernet", None),
        (None, None, "t2micro"),
        ("local-cpu", "rpi4-wifi", "rpi4-ethernet"),
    ],
)
def test_run_profile_matches_the_runtime(profile, link, emulate) -> None:
    from parawire.runtime.options import run_profile

    expected = run_profile(profile, link, emulate)
    doc = {"profile": expected.name, "link": link, "emulate": emulate}
    assert reporting.run_profile(doc, Path(".")) == expected


def test_html_escapes_and_marks_numbers() -> None:
    table = Table("t", "<b>title</b>", ("name", "value"), (("a<b", 1.5), ("c", None)))
    page = Page(
        "p", sections=[Section("s", tables=[table], pictures=[Picture("x", "data:,", 'a "cap"')])]
    )
    text = render(page)
    assert "&lt;b&gt;title&lt;/b&gt;" in text and "<td>a&lt;b</td>" in text
    assert '<td class="num">1.50</td>' in text and "<td>-</td>" in text
    assert 'alt="a &quot;cap&quot;"' in text


# --- in a browser ---------------------------------------------------------------------------

needs_chromium = pytest.mark.skipif(
    browser.find_chromium() is None,
    reason="Chromium is not installed (Debian: apt-get install chromium; `make test` tries "
    f"it as root) and {browser.ENV_VAR} names none",
)


@needs_chromium
def test_the_page_in_headless_chromium(built, results: Path, tmp_path: Path) -> None:
    page = built[2]
    found = browser.check_page(page)
    assert found["title"] == f"parawire report: {results}"
    images = found["images"]
    assert len(images) == 11
    assert all(i["complete"] and i["naturalWidth"] > 0 and i["naturalHeight"] > 0 for i in images)
    names = [t["name"] for t in found["tables"]]
    for name in ("analysis", "options", "run", "ranks", "generators", "front", "search-config"):
        assert name in names
    ranks = next(t for t in found["tables"] if t["name"] == "ranks")
    assert ranks["rows"] == 3 and ranks["columns"] == 6
    shot = browser.screenshot(page, tmp_path / "screenshot.png", height=min(found["height"], 6000))
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 10_000


@needs_chromium
def test_the_browser_check_sees_a_broken_image(tmp_path: Path) -> None:
    from parawire.report.plots import png_data_uri, speedup_figure

    good = Picture("good", png_data_uri(speedup_figure([1, 2], {"s": [1, 2]})), "a plot")
    bad = Picture("bad", "data:image/png;base64,bm90IGEgcG5n", "not a png")
    page = tmp_path / "p.html"
    page.write_text(render(Page("broken", sections=[Section("s", pictures=[good, bad])])))
    found = {i["id"]: i["naturalWidth"] for i in browser.check_page(page)["images"]}
    assert found["good"] > 0 and found["bad"] == 0


def test_chromium_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(browser.ENV_VAR, str(tmp_path / "no-such-browser"))
    assert browser.find_chromium() is None
    page = tmp_path / "p.html"
    page.write_text("<html><body></body></html>")
    with pytest.raises(ParawireError, match="no Chromium found"):
        browser.check_page(page)
    assert shutil.which("sh")  # the monkeypatch hid only the browser


@pytest.mark.slow  # trains a network: about a minute on a busy 2-core machine
def test_demo_writes_its_report_and_prints_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`parawire demo` (here shrunk to one dp network, one epoch) ends with its page's path."""
    import dataclasses

    from parawire.cli import study_commands
    from parawire.study.config import demo_config

    tiny = dataclasses.replace(
        demo_config(), generators=("dp",), baselines=(), staging_generators=(), samples=1,
        merge_generators=(), uniform_generator="", param_samples=0, epochs=1, vertices=6,
    )  # fmt: skip
    monkeypatch.setattr(study_commands, "demo_config", lambda: tiny)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.endswith(f"; report: {out / folders.REPORT_FILE}")
    text = (out / folders.REPORT_FILE).read_text()
    assert "Study: digits, 1 samples per generator, 1 epochs, 1 networks" in text
    assert "study-width-depth" in text and "study-pareto" in text
