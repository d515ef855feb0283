"""The README's pictures, each made by parawire's own commands, into docs/img.

    .venv/bin/python benchmarks/readme_pictures.py          # or: make pictures (minutes)

Runs, printing every command and keeping them in each folder's ``commands.txt`` (which
``parawire report`` shows):

1. ``parawire generate dp``, ``parawire analyze ... --out`` on 4 rpi4-wifi devices and ``parawire
   run`` of that plan on 4 emulated Raspberry Pis (``--emulate rpi4-wifi``), then ``parawire
   report`` of the folder: the architecture, the simulated schedule, the measured schedule and
   simulated-against-measured pictures. ``run --json`` prints no per-rank trace, so the run is
   made in this process (``parawire.cli.main``, the same command) and the traces of that same
   run are kept as ``trace-rank<r>.json``, the runtime's own format;
2. ``parawire demo`` (resumed if its folder already holds it) and ``parawire report`` of it: width
   against depth per generator, accuracy against latency with the Pareto front, and a screenshot
   of the page in headless Chromium;
3. speedup against units 1..10 on t2micro (EDGE'23 Figure 11): the paper's deployment and
   parawire's, as ``benchmarks/figure11.py`` computes them (median over ``--seeds`` dp specs).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMG = ROOT / "docs" / "img"
PARAWIRE = str(Path(sys.executable).with_name("parawire"))  # the venv's console script
# README picture -> (folder under --work, the report's figure name)
PICTURES = {
    "architecture": ("analysis", "analysis-architecture"),
    "schedule": ("analysis", "analysis-schedule"),
    "measured-schedule": ("analysis", "run-measured-schedule"),
    "predicted-measured": ("analysis", "run-predicted-measured"),
    "width-depth": ("demo", "study-width-depth"),
    "pareto": ("demo", "study-pareto"),
}


def sh(words: list[str], log: list[str], stdout: Path | None = None) -> None:
    """Run one parawire command (``parawire`` as typed by a person), log it, fail loudly."""
    line = shlex.join(["parawire", *words[1:]]) + (f" > {stdout}" if stdout else "")
    print(f"$ {line}", flush=True)
    log.append(line)
    if stdout is None:
        subprocess.run(words, check=True)
        return
    with stdout.open("w") as out:
        subprocess.run(words, check=True, stdout=out)


def run_with_traces(words: list[str], folder: Path, log: list[str]) -> None:
    """``parawire run ... --json > folder/run.json`` (the JSON holds the per-rank traces the
    report draws the measured schedule from)."""
    line = shlex.join(["parawire", *words]) + f" > {folder / 'run.json'}"
    print(f"$ {line}", flush=True)
    log.append(line)
    with (folder / "run.json").open("w") as out:
        subprocess.run([PARAWIRE, *words], check=True, stdout=out)


def figure11(seeds: int, out: Path) -> None:
    """Speedup over one t2micro unit against units, paper's deployment and parawire's."""
    sys.path.insert(0, str(Path(__file__).parent))
    import parawire
    from figure11 import PROFILE, UNITS, paper
    from parawire.report.plots import save_figure, speedup_figure

    specs = [parawire.generate("dp", seed=s, merge="maps") for s in range(seeds)]  # the paper's
    pooled = [parawire.generate("dp", seed=s, merge="pooled") for s in range(seeds)]
    series: dict[str, list[float]] = {
        "paper's deployment (Section V, maps merge)": [],
        "parawire's (latency select, maps)": [],
        "parawire's (latency select, pooled merge)": [],
    }
    for n in UNITS:
        rows = (
            [paper(s, n) for s in specs],
            [parawire.analyze(s, n, profile=PROFILE) for s in specs],
            [parawire.analyze(s, n, profile=PROFILE) for s in pooled],
        )
        for values, results in zip(series.values(), rows, strict=True):
            values.append(statistics.median(r.speedup for r in results))
        print(f"  units {n}: " + ", ".join(f"{v[-1]:.2f}x" for v in series.values()), flush=True)
    fig = speedup_figure(
        list(UNITS),
        series,
        title=f"EDGE'23 Figure 11 on {PROFILE}: simulated, median of {seeds} dp networks",
    )
    save_figure(fig, out)


def main() -> None:
    """Make every picture; print where they went."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("runs/pictures"), help="from the root")
    parser.add_argument("--seeds", type=int, default=5, help="dp specs of Figure 11")
    parser.add_argument("--runs", type=int, default=20, help="measured runs of the plan")
    args = parser.parse_args()
    t0 = time.time()
    os.chdir(ROOT)  # the commands name paths from the repository's root, as the README does
    from parawire.report.browser import check_page, screenshot

    work: Path = args.work
    IMG.mkdir(parents=True, exist_ok=True)
    an, demo = work / "analysis", work / "demo"
    log: list[str] = []
    work.mkdir(parents=True, exist_ok=True)
    arch = work / "arch.json"
    sh([PARAWIRE, "generate", "dp", "--seed", "0", "--merge", "pooled", "-o", str(arch)], log)
    sh([PARAWIRE, "analyze", str(arch), "--devices", "4", "--out", str(an)], log)
    run = ["run", str(an / "plan"), "--emulate", "rpi4-wifi", "--runs", str(args.runs)]
    run_with_traces([*run, "--check", "0", "--json"], an, log)
    (an / "commands.txt").write_text("\n".join(log) + "\n")
    figures = work / "figures"
    sh([PARAWIRE, "report", str(an), "--figures", str(figures)], log)

    log = []
    sh([PARAWIRE, "demo", "--out", str(demo)], log)
    (demo / "commands.txt").write_text("\n".join(log) + "\n")
    sh([PARAWIRE, "report", str(demo), "--figures", str(figures)], log)

    for name, (_, figure) in PICTURES.items():
        for fmt in ("png", "svg"):
            shutil.copy(figures / f"{figure}.{fmt}", IMG / f"{name}.{fmt}")
    print("speedup against units (Figure 11):", flush=True)
    figure11(args.seeds, IMG / "speedup-units")
    page = demo / "report.html"
    found = check_page(page)
    broken = [i["id"] for i in found["images"] if not i["naturalWidth"]]
    if broken:
        raise SystemExit(f"images that did not load in Chromium: {broken}")
    screenshot(page, IMG / "report.png", height=min(found["height"], 2200))
    print(f"wrote {len(list(IMG.iterdir()))} files to {IMG} in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
