"""The EDGE'23 experiment (its Figures 7 and 8) reproduced on sampled architectures.

For every generator (er, ba, ws, dp with probabilistic staging; FB = ws with fb staging), both
sizes (40 and 80 vertices) and 4, 6, 8 and 10 units: the median and quartiles of the
concurrency score, of the total communication in MB, and of the simulated inference time
normalised to FB (each architecture's time over FB's median at the same size and unit count),
with the kahypar eps sweep. Rows for ResNet-50, MobileNetV2, GoogLeNet (224x224) and CifarNet
(32x32), traced with torch.fx, follow. The paper uses 1,000 samples per generator:

    .venv/bin/python benchmarks/paper_experiment.py --samples 1000      # the full experiment
    .venv/bin/python benchmarks/paper_experiment.py --samples 30        # ~10 min on 2 cores
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

import torch

import parawire
from parawire.analysis.api import AnalysisResult, analyze, resolve_graph
from parawire.analysis.costs import spec_costs
from parawire.analysis.deployment import CS_DECIMALS, partition_options
from parawire.analysis.hypergraph import build_hypergraph
from parawire.analysis.metrics import evaluate_placement
from parawire.analysis.profiles import create_profile

GENERATORS = {  # label -> (generator, staging)
    "ER": ("er", "probabilistic"),
    "BA": ("ba", "probabilistic"),
    "WS": ("ws", "probabilistic"),
    "DP": ("dp", "probabilistic"),
    "FB": ("ws", "fb"),
}
MODELS = ("torchvision:resnet50", "torchvision:mobilenet_v2", "torchvision:googlenet")
MODELS_SMALL = ("cifarnet",)
PAPER = {"select": "cs", "scatter": "stem"}  # the paper's choice and deployment


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """(25th percentile, median, 75th percentile)."""
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def fmt(q: tuple[float, float, float], digits: int = 2) -> str:
    """``median [q1, q3]``."""
    return f"{q[1]:.{digits}f} [{q[0]:.{digits}f}, {q[2]:.{digits}f}]"


def run_population(
    label: str, size: int, units: Sequence[int], samples: int, profile: str
) -> dict[int, list[AnalysisResult]]:
    """Analyse ``samples`` architectures of one generator at every unit count."""
    generator, staging = GENERATORS[label]
    out: dict[int, list[AnalysisResult]] = {n: [] for n in units}
    for seed in range(samples):
        graph = spec_costs(
            parawire.generate(generator, seed=seed, staging=staging, n=size, merge="maps"),
            scatter="stem",
        )
        for n in units:
            out[n].append(analyze(graph, n, profile, **PAPER))
    return out


def ablation_cs(label: str, n: int, samples: int, profile: str) -> dict[str, float]:
    """Mean CS of one generator under each step of the fairness changes (see the docstring)."""
    generator, staging = GENERATORS[label]
    prof = create_profile(profile)
    steps: dict[str, list[float]] = {"per-graph U_c": [], "shared U_c": [], "+ no idle unit": [],
                                     "+ image scatter": []}  # fmt: skip
    for seed in range(samples):
        spec = parawire.generate(generator, seed=seed, staging=staging, merge="maps")
        for scatter in ("stem", "image"):
            graph = spec_costs(spec, scatter=scatter)
            options = partition_options(graph, n, "kahypar", prof)
            if scatter == "image":
                steps["+ image scatter"].append(_lowest_cs(options, skip_idle=True))
                continue
            own = build_hypergraph(graph).min_edge_bytes
            per_graph = [
                evaluate_placement(graph, o.placement.assignment, n, u_c=own).cs for o in options
            ]
            steps["per-graph U_c"].append(min(per_graph))
            steps["shared U_c"].append(_lowest_cs(options, skip_idle=False))
            steps["+ no idle unit"].append(_lowest_cs(options, skip_idle=True))
    return {k: statistics.fmean(v) for k, v in steps.items()}


def _lowest_cs(options: Sequence, *, skip_idle: bool) -> float:
    pool = [o for o in options if not (skip_idle and o.near_idle)] or list(options)
    return min(round(o.metrics.cs, CS_DECIMALS) for o in pool)


def main() -> None:
    """Run the experiment and print markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=30, help="architectures per generator")
    parser.add_argument("--sizes", default="40,80")
    parser.add_argument("--units", default="4,6,8,10")
    parser.add_argument("--profile", default="rpi4-ethernet")
    parser.add_argument("--no-models", action="store_true", help="skip the torchvision rows")
    parser.add_argument("--ablation", type=int, default=0, help="units: the fairness ablation")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.ablation:
        print(f"mean CS, {args.samples} samples, N = 40, n = {args.ablation}, {args.profile}\n")
        rows = {g: ablation_cs(g, args.ablation, args.samples, args.profile) for g in GENERATORS}
        steps = list(next(iter(rows.values())))
        print("| generator | " + " | ".join(steps) + " |")
        print("|---|" + "---|" * len(steps))
        for label, cs in rows.items():
            print(f"| {label} | " + " | ".join(f"{cs[s]:.2f}" for s in steps) + " |")
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    units = [int(u) for u in args.units.split(",")]
    start = time.perf_counter()
    print(f"profile {args.profile}, {args.samples} samples per generator, kahypar eps sweep\n")
    print("| N | units | generator | CS | comm MB | time / FB | speedup vs 1 device |")
    print("|---|---|---|---|---|---|---|")
    for size in sizes:
        results = {
            g: run_population(g, size, units, args.samples, args.profile) for g in GENERATORS
        }
        for n in units:
            fb_median = statistics.median(r.makespan_s for r in results["FB"][n])
            for label in GENERATORS:
                rs = results[label][n]
                cs = quartiles([r.cs for r in rs])
                mb = quartiles([r.comm_bytes / 1e6 for r in rs])
                norm = quartiles([r.makespan_s / fb_median for r in rs])
                sp = quartiles([r.speedup for r in rs])
                print(
                    f"| {size} | {n} | {label} | {fmt(cs)} | {fmt(mb, 3)} | {fmt(norm)} | "
                    f"{fmt(sp)} |",
                    flush=True,
                )
    if not args.no_models:
        print("\n| model | units | vertices | eta | CS | comm MB | speedup | T1/CP |")
        print("|---|---|---|---|---|---|---|---|")
        for model in MODELS + MODELS_SMALL:
            graph = resolve_graph(model)  # trace once, analyse at every unit count
            for n in units:
                if n > len(graph.vertices):
                    print(f"| {model} | {n} | {len(graph.vertices)} | more units than vertices |")
                    continue
                r = analyze(graph, n, args.profile, **PAPER)
                print(
                    f"| {model} | {n} | {r.vertices} | {r.eta:.2f} | {r.cs:.2f} | "
                    f"{r.comm_bytes / 1e6:.3f} | {r.speedup:.2f} | {r.t1_over_cp:.2f} |",
                    flush=True,
                )
    print(f"\nwall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
