"""Scoring throughput: one 40-vertex architecture scored on 4 devices, start to finish.

Each measurement builds the cost graph, runs the kahypar eps sweep (4 Mt-KaHyPar calls, each
with two starts), scores every option and simulates it on the profile: exactly what
``parawire.analyze`` does. Generating the spec is timed separately.

    .venv/bin/python benchmarks/score_throughput.py --samples 200
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

import parawire
from parawire.analysis.api import analyze
from parawire.analysis.costs import spec_costs


def main() -> None:
    """Time ``samples`` architectures and print median time and architectures per minute."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--generator", default="dp")
    parser.add_argument("--devices", type=int, default=4)
    parser.add_argument("--profile", default="rpi4-wifi")
    args = parser.parse_args()
    torch.set_num_threads(1)
    analyze(parawire.generate(args.generator, seed=10**6), args.devices, args.profile)  # warm-up
    gen_times, score_times = [], []
    for seed in range(args.samples):
        t0 = time.perf_counter()
        spec = parawire.generate(args.generator, seed=seed, n=40)
        t1 = time.perf_counter()
        analyze(spec_costs(spec), args.devices, args.profile, "kahypar")
        t2 = time.perf_counter()
        gen_times.append(t1 - t0)
        score_times.append(t2 - t1)
    median = statistics.median(score_times)
    q = statistics.quantiles(score_times, n=4)
    print(f"machine: {platform.machine()} {platform.processor() or ''}, torch threads 1")
    print(
        f"{args.samples} x {args.generator} (40 vertices), n={args.devices}, {args.profile}, "
        "kahypar eps sweep + simulation"
    )
    print(f"score: median {median * 1e3:.1f} ms (quartiles {q[0] * 1e3:.1f} / {q[2] * 1e3:.1f})")
    print(f"architectures per minute (scoring only): {60 / median:.0f}")
    print(f"generate: median {statistics.median(gen_times) * 1e3:.1f} ms")
    total = statistics.median([g + s for g, s in zip(gen_times, score_times, strict=True)])
    print(f"architectures per minute (generate + score): {60 / total:.0f}")


if __name__ == "__main__":
    main()
