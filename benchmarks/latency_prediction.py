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


GROUPS = (  # label, k, measurement profile, held-out-generator split, learning curve
    ("k=1 real, wall clock", 1, "local", True, False),
    ("k=1 real, CPU clock", 1, "local-cputime", True, True),
    ("k=2 real loopback", 2, "local", False, False),
    ("k=4 emulated rpi4-ethernet", 4, "rpi4-ethernet", False, False),
)
LEARNED = ("mlp", "gnn", "hybrid")


def _fit_score(name: str, train: list, test: list, epochs: int, seed: int) -> dict[str, Any]:
    from parawire.latency import create_predictor
    from parawire.latency.evaluate import score

    # learned models pad to the largest spec of either side (a small training subset may hold
    # none of the test set's largest specs)
    largest = max(len(s.spec.nodes) for s in [*train, *test])
    options = {"epochs": epochs, "max_nodes": largest} if name in LEARNED else {}
    start = time.perf_counter()
    predictor = create_predictor(name, seed=seed, **options).fit(train)
    fit_s = time.perf_counter() - start
    errors, per_s = score(predictor, test)
    return {**errors.to_dict(), "per_s": per_s, "fit_s": fit_s, "train": len(train),
            "predicted": predictor.predict(test).tolist()}  # fmt: skip


def run_evaluate(db: str, args: argparse.Namespace) -> dict[str, Any]:
    """Every model on every group's random split (and held-out generators where marked)."""
    import numpy as np
    import torch

    from parawire.latency import errors, list_predictors, load_samples
    from parawire.latency.evaluate import hold_out_generator, split_by_architecture
    from parawire.latency.store import LatencyStore

    torch.set_num_threads(1)
    store = LatencyStore(db, create=False)
    models = list_predictors()
    result: dict[str, Any] = {"groups": {}, "learning_curve": {}}
    for label, k, profile, held_out, curve in GROUPS:
        if args.groups and args.groups not in label:
            continue
        samples = load_samples(store, devices=k, profile=profile)
        if len(samples) < 4:
            continue
        group: dict[str, Any] = {"rows": len(samples),
                                 "architectures": len({s.digest for s in samples})}  # fmt: skip
        train, test = split_by_architecture(samples, 0.3, seed=args.seed)
        group["random"] = {m: _fit_score(m, train, test, args.epochs, args.seed) for m in models}
        print(label, "random", {m: round(v["mape"], 1) for m, v in group["random"].items()})
        if held_out and not args.no_held_out:
            pooled: dict[str, dict[str, list[float]]] = {m: {"p": [], "m": []} for m in models}
            for generator in sorted({s.generator for s in samples}):
                tr, te = hold_out_generator(samples, generator)
                for m in models:
                    r = _fit_score(m, tr, te, args.epochs, args.seed)
                    pooled[m]["p"] += r["predicted"]
                    pooled[m]["m"] += [s.latency_s for s in te]
            group["held_out_generator"] = {
                m: errors(v["p"], v["m"]).to_dict() for m, v in pooled.items()
            }
            print(label, "held-out", {m: round(v["mape"], 1)
                                      for m, v in group["held_out_generator"].items()})  # fmt: skip
        if curve:
            sizes = [n for n in (25, 50, 100, 400) if n < len(train)] + [len(train)]
            rng = np.random.default_rng(args.seed)
            order = rng.permutation(len(train))
            result["learning_curve"][label] = {
                m: {str(n): _fit_score(m, [train[i] for i in order[:n]], test, args.epochs,
                                       args.seed)["mape"] for n in sizes}
                for m in ("mlp", "hybrid")
            }  # fmt: skip
            print(label, "learning curve", result["learning_curve"][label])
        for split in ("random",):
            for v in group[split].values():
                v.pop("predicted")
        result["groups"][label] = group
    store.close()
    return result


def markdown(result: dict[str, Any], timings: dict[str, Any]) -> str:
    """The tables of docs/latency.md."""
    lines = ["| phase | measurements | wall time |", "|---|---:|---:|"]
    for name, t in timings.items():
        lines.append(f"| {name} | {t['measured']} | {t['wall_s'] / 60:.1f} min |")
    for label, group in result["groups"].items():
        lines += ["", f"**{label}** ({group['rows']} rows, {group['architectures']} "
                  "architectures; random split 70/30 by architecture)", "",
                  "| model | train | test | MAPE % | within 5% | within 10% | Spearman | arch/s |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for m, v in group["random"].items():
            lines.append(
                f"| {m} | {v['train']} | {v['n']} | {v['mape']:.1f} | {v['within5']:.0f}% | "
                f"{v['within10']:.0f}% | {v['spearman']:.3f} | {v['per_s']:,.0f} |"
            )
        if "held_out_generator" in group:
            lines += ["", f"{label}, each generator held out in turn (pooled):", "",
                      "| model | test | MAPE % | within 5% | within 10% | Spearman |",
                      "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
            for m, v in group["held_out_generator"].items():
                lines.append(
                    f"| {m} | {v['n']} | {v['mape']:.1f} | {v['within5']:.0f}% | "
                    f"{v['within10']:.0f}% | {v['spearman']:.3f} |"
                )
    for label, curve in result["learning_curve"].items():
        sizes = list(next(iter(curve.values())))
        lines += [
            "",
            f"Learning curve, {label}: test MAPE % against training rows",
            "",
            "| model | " + " | ".join(sizes) + " |",
            "|---|" + "---:|" * len(sizes),
        ]
        for m, values in curve.items():
            lines.append(f"| {m} | " + " | ".join(f"{values[n]:.1f}" for n in sizes) + " |")
    return "\n".join(lines)


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
    parser.add_argument("--epochs", type=int, default=100, help="learned models' epochs")
    parser.add_argument("--groups", default="", help="evaluate only groups whose label has this")
    parser.add_argument("--no-held-out", action="store_true", help="skip held-out generators")
    parser.add_argument("--out", default=None, help="JSON file for the evaluation figures")
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}"
    )
    if args.phase in ("collect", "all"):
        run_collect(args.db, args)
    if args.phase in ("evaluate", "all"):
        start = time.monotonic()
        result = run_evaluate(args.db, args)
        result["evaluate_wall_s"] = time.monotonic() - start
        timing_file = Path(args.db + ".collect.json")
        timings = json.loads(timing_file.read_text()) if timing_file.exists() else {}
        result["collect"] = timings
        table = markdown(result, timings)
        print(table)
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(result, indent=1))
            Path(args.out).with_suffix(".md").write_text(table + "\n")


if __name__ == "__main__":
    main()
