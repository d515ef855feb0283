"""Scoring throughput: the default ``parawire.analyze`` of one 40-vertex architecture, timed.

Each measurement is the call search and study make for every candidate: the cost graph of a
generated spec analysed with the defaults (``analyze(graph, k, profile)``: every registered
partitioner on 1..k devices, the fastest simulated placement refined by single-vertex moves,
the paper's CS choice and the verdict beside it), one thread. With ``--reference REV`` the same
seeds are also analysed by the code of git revision REV, in a second process, the two processes
taking turns architecture by architecture, so that both see the same load on a shared machine;
the ratio of the medians is the speed-up of this code over REV's. Each call's CPU time (the
process's, which another job on a shared machine inflates far less than the wall-clock time) is
reported beside its wall-clock time, and so is the CPU time spent inside Mt-KaHyPar
(``kahypar_partition``: its partition and V-cycle calls): the part of a call no simulation
speed-up can shorten. ``--efforts full fast`` times this code's ``effort="fast"`` too, in a
process of its own, taking turns with the default call architecture by architecture.

    .venv/bin/python benchmarks/score_throughput.py --samples 200 --devices 4 8
    .venv/bin/python benchmarks/score_throughput.py --samples 50 --devices 4 8 --efforts full fast
    .venv/bin/python benchmarks/score_throughput.py --samples 50 --devices 4 8 --reference e529c3b
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

from reference_code import current_source, reference_source, source_env

WARM_UP_SEED = 10**6  # the first analysis of a process pays for imports and Mt-KaHyPar's set-up


def worker() -> None:
    """Answer each ``seed devices generator profile [effort]`` line with the milliseconds of one
    analyze (wall clock, then CPU) and the CPU time of the Mt-KaHyPar calls within it (no
    effort: the default call, which an older revision without the option also understands)."""
    import time

    import torch

    import parawire
    from parawire.analysis.costs import spec_costs
    from parawire.analysis.partitioners import kahypar

    solver = kahypar.kahypar_partition
    inside = [0.0]

    def timed_solver(*args: object, **kwargs: object) -> object:
        t = time.process_time()
        try:
            return solver(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            inside[0] += time.process_time() - t

    kahypar.kahypar_partition = timed_solver  # type: ignore[assignment]
    torch.set_num_threads(1)
    for line in sys.stdin:
        seed, devices, generator, profile, *effort = line.split()
        options = {"effort": effort[0]} if effort else {}
        graph = spec_costs(parawire.generate(generator, seed=int(seed), n=40))
        inside[0] = 0.0
        t0, c0 = time.perf_counter(), time.process_time()
        parawire.analyze(graph, int(devices), profile=profile, **options)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(wall * 1e3, cpu * 1e3, inside[0] * 1e3, flush=True)


class Worker:
    """A worker process importing parawire from one ``src/`` folder."""

    def __init__(self, src: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=source_env(src),
        )

    def time(
        self, seed: int, devices: int, generator: str, profile: str, effort: str = "full"
    ) -> tuple[float, float, float]:
        """Milliseconds of one analysis (wall clock, CPU), and Mt-KaHyPar's CPU within it."""
        assert self.process.stdin is not None and self.process.stdout is not None
        tail = "" if effort == "full" else f" {effort}"
        self.process.stdin.write(f"{seed} {devices} {generator} {profile}{tail}\n")
        self.process.stdin.flush()
        total, cpu, solver = self.process.stdout.readline().split()
        return float(total), float(cpu), float(solver)

    def close(self) -> None:
        """End the process (its standard input closes; it exits)."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=60)


def summary(times: list[float]) -> dict[str, float]:
    """Median, quartiles and architectures per minute of a list of milliseconds."""
    q = statistics.quantiles(times, n=4)
    median = statistics.median(times)
    return {"median_ms": median, "q1_ms": q[0], "q3_ms": q[2], "per_minute": 60e3 / median}


Series = dict[tuple[str, int], list[float]]  # (code, k) -> milliseconds, one per architecture


def _series(effort: str) -> str:
    """The name of this code's series with ``effort`` ("this code" for the default)."""
    return "this code" if effort == "full" else f"this code, effort {effort}"


def measure(args: argparse.Namespace) -> tuple[Series, Series, Series]:
    """(wall clock, CPU, Mt-KaHyPar's CPU) milliseconds of every architecture, per code and k."""
    times: Series = {}
    cpu: Series = {}
    solver: Series = {}
    with ExitStack() as stack:
        # one process per series: a process keeps the Mt-KaHyPar solutions of every hypergraph
        # it has seen, so a second call on the same architecture would reuse the first's
        calls = [(_series(e), current_source(), e) for e in args.efforts]
        if args.reference:
            ref_src = stack.enter_context(reference_source(args.reference))
            calls.append((args.reference, ref_src, "full"))
        workers = {name: Worker(src) for name, src, _ in calls}
        for (_, _, effort), w in zip(calls, workers.values(), strict=True):
            stack.callback(w.close)
            w.time(WARM_UP_SEED, max(args.devices), args.generator, args.profile, effort)
        for seed in range(args.samples):
            for k in args.devices:
                for name, _, effort in calls:  # taking turns: the same load for each
                    w = workers[name]
                    total, used, inside = w.time(seed, k, args.generator, args.profile, effort)
                    times.setdefault((name, k), []).append(total)
                    cpu.setdefault((name, k), []).append(used)
                    solver.setdefault((name, k), []).append(inside)
    return times, cpu, solver


def report(args: argparse.Namespace, times: Series, cpu: Series, solver: Series) -> None:
    """Print the medians per code and k, the ratios to the reference, and the rows as JSON."""
    print(f"machine: {platform.machine()} {platform.processor() or ''}, one thread")
    print(f"{args.samples} x {args.generator} (40 vertices), {args.profile}, default analyze")
    rows = []
    for (name, k), ms in times.items():
        row = {"code": name, "devices": k, **summary(ms)}
        row["cpu_median_ms"] = statistics.median(cpu[(name, k)])
        row["mtkahypar_cpu_median_ms"] = statistics.median(solver[(name, k)])
        rows.append(row)
        print(
            f"k={k} {name}: median {row['median_ms']:.1f} ms (quartiles {row['q1_ms']:.1f} / "
            f"{row['q3_ms']:.1f}), {row['per_minute']:.0f} architectures a minute; CPU "
            f"{row['cpu_median_ms']:.1f} ms, Mt-KaHyPar's {row['mtkahypar_cpu_median_ms']:.1f} "
            "ms of it (medians)"
        )
    others = [_series(e) for e in args.efforts if e != "full"]
    for name in others if "full" in args.efforts else []:
        for k in args.devices:
            ratios = [
                statistics.median(series[("this code", k)]) / statistics.median(series[(name, k)])
                for series in (times, cpu)
            ]
            print(
                f"k={k}: {name} {ratios[0]:.2f}x faster than the default (ratio of medians; "
                f"CPU time {ratios[1]:.2f}x)"
            )
    for name in [_series(e) for e in args.efforts] if args.reference else []:
        for k in args.devices:
            ratios = [
                statistics.median(series[(args.reference, k)])
                / statistics.median(series[(name, k)])
                for series in (times, cpu)
            ]
            print(
                f"k={k}: {name} {ratios[0]:.2f}x faster than {args.reference} (ratio of medians; "
                f"CPU time {ratios[1]:.2f}x)"
            )
    print(json.dumps(rows))


def main() -> None:
    """Time ``--samples`` architectures per device count (and per revision) and print it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--generator", default="dp")
    parser.add_argument("--devices", type=int, nargs="+", default=[4])
    parser.add_argument("--profile", default="rpi4-wifi")
    parser.add_argument("--reference", help="git revision to time beside this code")
    parser.add_argument(
        "--efforts", nargs="+", default=["full"], help="this code's efforts to time (full, fast)"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker()
        return
    report(args, *measure(args))


if __name__ == "__main__":
    main()
