"""Latency prediction benchmark (issue 10): collect measured latencies on this machine, then fit
and evaluate every registered predictor on random and held-out-generator splits.

    nice -n 10 .venv/bin/python benchmarks/latency_prediction.py --db /tmp/latency.db \\
        --phase collect --k1-minutes 5 --k2-minutes 7 --k4-minutes 7
    nice -n 10 .venv/bin/python benchmarks/latency_prediction.py --db /tmp/latency.db \\
        --phase evaluate --out benchmarks/results/latency_prediction.json

Collect (resumable: rerun to continue, nothing is measured twice): k = 1 in this process
(1 thread, 3 warm-up, 15 timed inferences) by the wall clock and, separately, by the thread's
CPU clock (``local-cputime``: what the network costs, not how busy the machine was), k = 2
through the runtime on real loopback ranks, k = 4 through the runtime with every rank
emulating an ``rpi4-ethernet`` device. Each phase
stops starting new measurements after its time budget; the wall time of each phase is written
to ``DB.collect.json``.

Evaluate: for each (k, profile) group of rows, a seeded split by architecture (70/30) and a
held-out-generator split (each generator in turn held out; the figures pooled over the held-out
rows), each model fitted on the training rows and scored on the test rows: MAPE, share within
+-5% and +-10%, Spearman; prediction throughput (architectures per second, batched); and a
learning curve of the MLP and the hybrid on k = 1 (test error against training rows).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

PHASES = (  # name, devices, emulated profile, samples, time-budget option, clock
    ("k1", (1,), None, 2000, "k1_minutes", "wall"),
    ("k2", (2,), None, 200, "k2_minutes", "wall"),
    ("k4", (4,), "rpi4-ethernet", 200, "k4_minutes", "wall"),
    ("k1cpu", (1,), None, 2000, "k1cpu_minutes", "cpu"),
)


def run_collect(db: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run the three collection phases within their budgets; returns their timings."""
    from parawire.latency.collect import CollectConfig, collect
    from parawire.latency.store import LatencyStore

    timing_file = Path(db + ".collect.json")
    timings = json.loads(timing_file.read_text()) if timing_file.exists() else {}
    store = LatencyStore(db)
    for name, devices, emulate, samples, budget_opt, clock in PHASES:
        minutes = getattr(args, budget_opt)
        if minutes <= 0:
            continue
        config = CollectConfig(
            samples=samples,
            devices=devices,
            seed=args.seed,
            threads=1,
            repeats=args.repeats,
            warmup=3,
            emulate=emulate,
            max_nodes=args.max_nodes,
            clock=clock,
        )
        start = time.monotonic()

        def progress(
            done: int, total: int, label: str, name: str = name, start: float = start
        ) -> None:
            if done % 10 == 0:
                print(f"[{name}] {done} jobs ({time.monotonic() - start:.0f} s) {label}")

        summary = collect(store, config, progress, budget_s=60.0 * minutes)
        wall = time.monotonic() - start
        entry = timings.get(name, {"wall_s": 0.0, "measured": 0})
        entry["wall_s"] += wall
        entry["measured"] += summary.measured
        entry["failed"] = entry.get("failed", 0) + len(summary.failed)
        timings[name] = entry
        print(f"[{name}] {summary.measured} measured in {wall:.0f} s, {summary.failed[:3]}")
        timing_file.write_text(json.dumps(timings, indent=1))
    store.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="SQLite file (or SQLAlchemy URL)")
    parser.add_argument("--phase", choices=("collect", "evaluate", "all"), default="all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--max-nodes", type=int, default=32)
    parser.add_argument("--k1-minutes", type=float, default=5.0)
    parser.add_argument("--k2-minutes", type=float, default=7.0)
    parser.add_argument("--k4-minutes", type=float, default=7.0)
    parser.add_argument("--k1cpu-minutes", type=float, default=5.0)
    parser.add_argument("--out", default=None, help="JSON file for the evaluation figures")
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}"
    )
    if args.phase in ("collect", "all"):
        run_collect(args.db, args)


if __name__ == "__main__":
    main()
