"""How long each command of the README's "Use" section takes here (issue 20, item 11).

Runs the README's commands in order, in a fresh folder (so ``runs/an/plan`` exists when ``run``
needs it), each in a fresh process, and records its wall time, exit code and the machine's load
before and after. ``calibrate`` writes its profile into a private cache folder
(``XDG_CACHE_HOME``), never into the user's. Commands that need data this machine lacks (the
CIFAR-10 archive) are listed as not run unless ``--cifar10 PATH`` is given.

Usage::

    python benchmarks/command_times.py                        # every command; ~30 min on 2 cores
    python benchmarks/command_times.py --json out.json --only generate,show,analyze
    python benchmarks/command_times.py --cifar10 data/cifar10 # the CIFAR-10 lines too (hours)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# (label, the README's command after `parawire`); in the README's order, which they depend on
COMMANDS: tuple[tuple[str, str], ...] = (
    ("generate", "generate dp --seed 0 --merge pooled -o arch.json"),
    ("show", "show arch.json"),
    ("validate", "validate arch.json"),
    (
        "analyze",
        "analyze arch.json --devices 4 --profile rpi4-wifi --wire-dtype float16 --out runs/an",
    ),
    ("analyze ethernet", "analyze arch.json --devices 4 --profile rpi4-ethernet"),
    ("analyze resnet50", "analyze torchvision:resnet50 --devices 4 --compare"),
    ("calibrate", "calibrate"),
    ("run plan", "run runs/an/plan --link rpi4-wifi --runs 50"),
    ("run emulate", "run arch.json --devices 4 --emulate rpi4-ethernet --dilation auto"),
    ("run breakdown", "run arch.json --devices 2 --select makespan --breakdown"),
    ("export", "export runs/an/plan --format onnx -o runs/onnx"),
    ("run cifarnet", "run cifarnet --devices 2 --select makespan"),
    ("train digits", "train arch.json --dataset digits --epochs 10 --out runs/dp0"),
    (
        "train cifar10",
        "train arch.json --dataset cifar10 --data {cifar10} --epochs 40 --out runs/c10",
    ),
    (
        "study cifar10",
        "study --dataset cifar10 --data {cifar10} --samples 3 --epochs 40 --out runs/study",
    ),
    ("latency collect", "latency collect --samples 200 --devices 1 --out runs/lat.db"),
    ("latency fit", "latency fit runs/lat.db -o runs/predictor.pt"),
    (
        "search",
        "search --dataset digits --trials 40 --epochs 2 --devices 4 --profile rpi4-wifi "
        "--out runs/search",
    ),
    ("search show", "search show runs/search"),
    ("report", "report runs/an"),
)
RUN_PARAWIRE = "from parawire.cli import main; raise SystemExit(main())"


def load_1min() -> float:
    """The 1-minute load average (0.0 where the OS has none)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


def time_command(args: list[str], folder: Path, env: dict[str, str], timeout: float) -> dict:
    """Wall time, exit code and load around one command (a fresh interpreter)."""
    before = load_1min()
    t0 = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-c", RUN_PARAWIRE, *args],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        code, tail = done.returncode, (done.stderr.strip().splitlines() or [""])[-1]
    except subprocess.TimeoutExpired:
        code, tail = None, f"stopped after {timeout:g} s"
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "exit_code": code, "load_before": before,
            "load_after": load_1min(), "last_stderr_line": tail[:200]}  # fmt: skip


def machine() -> dict:
    """What the times were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="Comma-separated labels (default: all).")
    ap.add_argument("--cifar10", default=None, help="The CIFAR-10 archive or folder.")
    ap.add_argument("--timeout", type=float, default=1800.0, help="Seconds per command.")
    ap.add_argument("--json", default=None, help="Also write the results here.")
    args = ap.parse_args()
    wanted = {x.strip() for x in args.only.split(",") if x.strip()}
    rows = []
    with tempfile.TemporaryDirectory(prefix="parawire-command-times-") as tmp:
        folder = Path(tmp)
        env = {**os.environ, "XDG_CACHE_HOME": str(folder / "cache")}
        for label, command in COMMANDS:
            if wanted and label not in wanted:
                continue
            row = {"label": label, "command": f"parawire {command}"}
            if "{cifar10}" in command and args.cifar10 is None:
                rows.append({**row, "seconds": None, "why": "no CIFAR-10 here (--cifar10)"})
            else:
                filled = command.format(cifar10=args.cifar10)
                rows.append({**row, **time_command(filled.split(), folder, env, args.timeout)})
            print(json.dumps(rows[-1]), flush=True)
    doc = {"machine": machine(), "commands": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
    print("\n| command | seconds | exit | load before/after |\n|---|---:|---:|---|")
    for r in rows:
        secs = "not run" if r.get("seconds") is None else f"{r['seconds']:.1f}"
        load = f"{r['load_before']:.1f}/{r['load_after']:.1f}" if "load_before" in r else ""
        print(f"| `{r['command']}` | {secs} | {r.get('exit_code', '')} | {load} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
