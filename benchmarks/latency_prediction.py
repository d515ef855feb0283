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

Issue 21 (labels from `parawire latency collect`, fresh processes; BENCHMARKS.md, issue 21):

    python benchmarks/latency_prediction.py --phase heldout --train train.db --test test_a.db \\
        --retest test_b.db --out heldout.json    # every model, default options; the ceiling
    python benchmarks/latency_prediction.py --phase transfer --train train.db \\
        --target-train rpi_train.db --target-test rpi_test.db --out transfer.json
    python benchmarks/latency_prediction.py --phase fit-time --train train.db,test_a.db,test_b.db
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


HELDOUT_MODELS = ("hybrid", "gnn", "mlp", "lookup", "simulation", "flops")


def _samples(db: str, profile: str | None = None) -> list:
    from parawire.latency import load_samples
    from parawire.latency.store import LatencyStore

    store = LatencyStore(db, create=False)
    samples = load_samples(store, profile=profile)
    store.close()
    return samples


def _score(predictor: Any, test: list) -> dict[str, Any]:
    from parawire.latency.evaluate import score

    trained = set(predictor.trained)
    kept = [s for s in test if s.digest not in trained]
    errors, per_s = score(predictor, kept)
    return {**errors.to_dict(), "per_s": per_s, "left_out_trained": len(test) - len(kept)}


def _fitted(name: str, train: list, seed: int) -> tuple[Any, float]:
    """A predictor of ``name`` with its default options fitted on ``train``; the fit's time."""
    from parawire._inference import torch_threads
    from parawire.latency import create_predictor

    start = time.perf_counter()
    with torch_threads(1):
        predictor = create_predictor(name, seed=seed).fit(train)
    return predictor, time.perf_counter() - start


def run_heldout(args: argparse.Namespace) -> dict[str, Any]:
    """Issue 21: every model, default options, fitted on --train and scored on --test (another
    seed, never used in tuning; trained architectures left out); the test-retest ceiling of
    --test against --retest; and size extrapolation (fitted on the specs of at most
    --size-split vertices, scored on the larger test specs)."""
    from parawire.latency.noise import retest
    from parawire.latency.store import LatencyStore

    train, test = _samples(args.train), _samples(args.test)
    result: dict[str, Any] = {"train_rows": len(train), "test_rows": len(test), "models": {}}
    if args.retest:
        rows = []
        for db in (args.test, args.retest):
            store = LatencyStore(db, create=False)
            rows.append(store.rows())
            store.close()
        result["ceiling"] = retest(rows[0], rows[1]).to_dict()
        print("test-retest", result["ceiling"]["agreement"])
    for name in HELDOUT_MODELS:
        predictor, fit_s = _fitted(name, train, args.seed)
        entry = {**_score(predictor, test), "fit_s": fit_s}
        entry["fit"] = getattr(predictor, "fit_result", {})
        result["models"][name] = entry
        print(name, {k: round(v, 3) for k, v in entry.items() if isinstance(v, float)})
    result["gradient"] = {
        name: _gradient_check(_fitted(name, train, args.seed)[0], test[:20])
        for name in ("hybrid", "gnn", "mlp", "lookup", "simulation")
    }
    print("gradient", result["gradient"])
    small = [s for s in train if len(s.spec.nodes) <= args.size_split]
    large = [s for s in test if len(s.spec.nodes) > args.size_split]
    result["size"] = {"split": args.size_split, "train": len(small), "test": len(large)}
    for name in ("hybrid", "gnn", "lookup", "simulation"):
        predictor, _ = _fitted(name, small, args.seed)
        result["size"][name] = _score(predictor, large)
        print("larger specs", name, round(result["size"][name]["within10"], 1))
    return result


def _gradient_check(predictor: Any, samples: list) -> dict[str, float]:
    """At every edge weight 0.5: the share of edges with a positive gradient, and of edges
    whose weight raised to 1 lowers the relaxed latency (a monotonicity violation)."""
    import torch

    from parawire.latency import RelaxedQuery

    positive = violations = edges = 0
    for s in samples:
        w = torch.full((len(s.spec.edges),), 0.5, dtype=torch.float64, requires_grad=True)
        query = RelaxedQuery(s.devices, s.placement, s.profile, s.wire_dtype)
        value = predictor.relaxed(s.spec, w, query)
        value.backward()
        positive += int((w.grad > 0).sum())
        for e in range(len(s.spec.edges)):
            raised = w.detach().clone()
            raised[e] = 1.0
            with torch.no_grad():
                violations += int(predictor.relaxed(s.spec, raised, query) < value * (1 - 1e-9))
        edges += len(s.spec.edges)
    return {"edges": edges, "positive_gradient_share": positive / edges,
            "monotonicity_violations": violations}  # fmt: skip


def run_transfer(args: argparse.Namespace) -> dict[str, Any]:
    """Issue 21: fit on this machine's rows (--train), adapt to another device from its first
    n rows (--target-train), score on --target-test; beside it, the simulation baseline's
    factor fitted on the same n rows, and the hybrid fitted on those n rows alone."""
    import copy

    train = _samples(args.train)
    target_train, target_test = _samples(args.target_train), _samples(args.target_test)
    result: dict[str, Any] = {"source_rows": len(train), "target_test": len(target_test)}
    sources = {name: _fitted(name, train, args.seed)[0] for name in ("hybrid", "gnn")}
    for n in (10, 20, 50):
        if n > len(target_train):
            continue
        few = target_train[:n]
        row: dict[str, Any] = {}
        for name, source in sources.items():
            start = time.perf_counter()
            adapted = copy.deepcopy(source).adapt(few)
            row[f"{name} adapted"] = {**_score(adapted, target_test),
                                      "adapt_s": time.perf_counter() - start}  # fmt: skip
        row["simulation, factor on n rows"] = _score(_fitted("simulation", few, args.seed)[0],
                                                     target_test)  # fmt: skip
        row["hybrid on n rows alone"] = _score(_fitted("hybrid", few, args.seed)[0], target_test)
        result[str(n)] = row
        print(n, {k: round(v["within10"], 1) for k, v in row.items()})
    return result


def _fit_once(args: argparse.Namespace) -> None:
    """One fit of the default predictor on the first --rows rows of the --train stores, in
    this (fresh) process; prints its seconds as JSON."""
    from parawire._inference import torch_threads
    from parawire.latency import create_predictor

    rows = [s for db in args.train.split(",") for s in _samples(db)][: args.rows]
    start = time.perf_counter()
    with torch_threads(1):
        predictor = create_predictor("hybrid", seed=args.seed).fit(rows)
    print(json.dumps({"rows": len(rows), "fit_s": time.perf_counter() - start,
                      "epochs": predictor.fit_result.get("epochs_run")}))  # fmt: skip


def run_fit_time(args: argparse.Namespace) -> dict[str, Any]:
    """The default fit (hybrid) of --rows rows, in --repeat fresh processes, with the load."""
    import os
    import subprocess
    import sys

    runs = []
    for _ in range(args.repeat):
        cmd = [sys.executable, __file__, "--phase", "fit-once", "--train", args.train,
               "--rows", str(args.rows), "--seed", str(args.seed)]  # fmt: skip
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        runs.append({**json.loads(out.strip().splitlines()[-1]), "load": os.getloadavg()[0]})
        print(runs[-1])
    return {"runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None, help="SQLite file (or SQLAlchemy URL)")
    phases = ("collect", "evaluate", "all", "heldout", "transfer", "fit-time", "fit-once")
    parser.add_argument("--phase", choices=phases, default="all")
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
    parser.add_argument("--out", default=None, help="JSON file for the figures")
    parser.add_argument("--train", help="heldout, transfer, fit-time: training store(s)")
    parser.add_argument("--test", help="heldout: the test store (another --seed)")
    parser.add_argument("--retest", help="heldout: the test architectures measured again")
    parser.add_argument("--size-split", type=int, default=30, help="heldout: vertices")
    parser.add_argument("--target-train", help="transfer: the new device's rows to adapt on")
    parser.add_argument("--target-test", help="transfer: the new device's test rows")
    parser.add_argument("--rows", type=int, default=500, help="fit-time: rows fitted")
    parser.add_argument("--repeat", type=int, default=3, help="fit-time: fresh processes")
    args = parser.parse_args()
    if args.phase == "fit-once":
        _fit_once(args)
        return
    print(
        f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}"
    )
    issue21 = {"heldout": run_heldout, "transfer": run_transfer, "fit-time": run_fit_time}
    if args.phase in issue21:
        result = issue21[args.phase](args)
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(result, indent=1))
        return
    if args.db is None:
        parser.error(f"--phase {args.phase} needs --db")
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
