"""Distributed runtime benchmark: measured speedup of one split inference over one rank.

    .venv/bin/python benchmarks/runtime_speedup.py                 # k=2, 50 runs (free link)
    .venv/bin/python benchmarks/runtime_speedup.py --devices 4 --runs 50 --link-runs 20

For each architecture (batch 1, one thread per rank, channels 64, 32x32 input, maps merge): the
paper's placement (``parawire.analyze(..., select="cs", scatter="stem")``: kahypar, eps sweep,
lowest CS on exactly k ranks, local-cpu profile), as parawire chose before it chose by latency
(``benchmarks/runtime_fidelity.py`` measures the latency choice), runs on k local ranks with a free
link and with ``--link rpi4-wifi``; it reports the median latency against the same spec in one
process, the simulated makespan for the same placement (local-cpu profile), and the Spearman
rank correlation between the paper's concurrency score and the measured latency. CifarNet is not
an ArchSpec (the runtime executes specs), so it has no row; ``resnet-chain`` is a ``chain`` with
greedy staging (channels double and resolution halves down the chain, as in ResNet).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from typing import Any

import numpy as np
import torch

import parawire
from parawire.analysis.api import analyze
from parawire.runtime import Plan, RunOptions, run_local

ARCHS: dict[str, tuple[str, str, dict[str, int]]] = {  # name -> (generator, staging, params)
    "lanes": ("lanes", "uniform", {"n": 24}),  # width = k, set below
    "dp": ("dp", "probabilistic", {"n": 24}),
    "er": ("er", "probabilistic", {"n": 24}),
    "ba": ("ba", "probabilistic", {"n": 24}),
    "ws": ("ws", "probabilistic", {"n": 24}),
    "chain": ("chain", "probabilistic", {"n": 24}),
    "resnet-chain": ("chain", "greedy", {"n": 24}),
}


def make_spec(name: str, devices: int, channels: int, size: int) -> parawire.ArchSpec:
    """The benchmark spec of one architecture (seed 0)."""
    generator, staging, params = ARCHS[name]
    if generator == "lanes":
        params = {**params, "width": devices}
    cfg = parawire.StagingConfig(name=staging, channels=channels, c_max=4 * channels, min_size=4)
    return parawire.generate(
        generator, seed=0, staging=cfg, input_shape=(3, size, size), merge="maps", **params
    )


def ranks(values: list[float]) -> np.ndarray:
    """1-based ranks of ``values``, tied values sharing their average rank."""
    order = np.argsort(values, kind="stable")
    out = np.empty(len(values))
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        out[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman rank correlation: the Pearson correlation of the ranks (ties averaged)."""
    return float(np.corrcoef(ranks(x), ranks(y))[0, 1])


def measure(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """One architecture: analysis, free-link run, emulated-link run."""
    spec = make_spec(name, args.devices, args.channels, args.size)
    result = analyze(  # the paper's choice on exactly k ranks, the stem's output sent
        spec,
        devices=args.devices,
        profile="local-cpu",
        partitioner=args.partitioner,
        select="cs",
        scatter="stem",
    )
    plan = Plan(spec, dict(result.placement), args.devices, seed=0, scatter="stem")
    row: dict[str, Any] = {
        "arch": name,
        "vertices": len(spec.nodes),
        "cs": result.cs,
        "eta": result.eta,
        "sim_speedup": result.speedup,
    }
    free = run_local(plan, RunOptions(runs=args.runs, warmup=args.warmup, timeout=120))
    row.update(
        p50_s=free.p50_s,
        single_p50_s=free.single_process_p50_s,
        speedup=free.speedup,
        max_abs_diff=free.max_abs_diff,
        sim_makespan_s=free.simulated_makespan_s,
        measured_over_sim=free.measured_over_simulated,
    )
    if args.link_runs > 0:
        link_opts = RunOptions(runs=args.link_runs, warmup=1, timeout=120, link=args.link)
        slow = run_local(plan, link_opts, baseline=False)
        row.update(
            link_p50_s=slow.p50_s,
            link_speedup=free.single_process_p50_s / slow.p50_s,
            link_sim_makespan_s=slow.simulated_makespan_s,
        )
    return row


def main() -> None:
    """Parse, measure every architecture, print a markdown table and a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--link-runs", type=int, default=10)
    parser.add_argument("--link", default="rpi4-wifi")
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--partitioner", default="kahypar")
    parser.add_argument("--archs", default=",".join(ARCHS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.time()
    rows = []
    for name in args.archs.split(","):
        rows.append(measure(name, args))
        print(json.dumps(rows[-1]), flush=True)
    print(f"\nmachine: {platform.machine()} {platform.processor()}, {time.time() - start:.0f}s")
    print(
        "| arch | V | CS | 1 proc p50 ms | k-rank p50 ms | speedup | sim ms | measured/sim "
        f"| {args.link} p50 ms | {args.link} speedup | {args.link} sim ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['arch']} | {r['vertices']} | {r['cs']:.2f} | {r['single_p50_s'] * 1e3:.2f} "
            f"| {r['p50_s'] * 1e3:.2f} | {r['speedup']:.2f} | {r['sim_makespan_s'] * 1e3:.2f} "
            f"| {r['measured_over_sim']:.2f} | {r.get('link_p50_s', float('nan')) * 1e3:.1f} "
            f"| {r.get('link_speedup', float('nan')):.2f} "
            f"| {r.get('link_sim_makespan_s', float('nan')) * 1e3:.1f} |"
        )
    cs = [r["cs"] for r in rows]
    rho_latency = spearman(cs, [r["p50_s"] for r in rows])
    rho_speedup = spearman(cs, [r["speedup"] for r in rows])
    print(f"\nSpearman(CS, measured latency) = {rho_latency:.2f}")
    print(f"Spearman(CS, measured speedup) = {rho_speedup:.2f}")
    print(f"max |diff| over all runs = {max(r['max_abs_diff'] for r in rows):.2e}")
    print(json.dumps({"spearman_cs_latency": rho_latency, "spearman_cs_speedup": rho_speedup,
                      "rows": rows, "mean_measured_over_sim": float(np.mean(
                          [r["measured_over_sim"] for r in rows]))}))  # fmt: skip


if __name__ == "__main__":
    main()
