"""km1 direction and the acyclic refinement: how often kahypar's options send data both ways,
and what each ``refine`` mode does to the paper's choice.

For ``--seeds`` architectures of each generator (40 vertices, probabilistic staging, the maps
merge), n devices of ``--profile``, the paper's method (kahypar with the eps sweep, the option
with the lowest CS, the stem's output sent): the share of eps-sweep options whose device-level
flow has a cycle (``metrics.acyclic`` false), and the mean simulated speedup of the paper's
choice with ``refine`` = none, acyclic and best.

    .venv/bin/python benchmarks/refine_modes.py [--seeds 20] [--devices 4]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import parawire
from parawire.analysis.api import analyze
from parawire.analysis.costs import spec_costs
from parawire.analysis.deployment import partition_options
from parawire.analysis.partitioners import REFINEMENTS
from parawire.analysis.profiles import create_profile

GENERATORS = ("dp", "er")


def generator_row(generator: str, seeds: int, devices: int, profile: str) -> dict[str, float]:
    """Cyclic share of the options and mean speedup per refine mode, over ``seeds`` specs."""
    prof = create_profile(profile)
    cyclic: list[float] = []
    speedups: dict[str, list[float]] = {mode: [] for mode in REFINEMENTS}
    for seed in range(seeds):
        spec = parawire.generate(generator, seed=seed, n=40, merge="maps")
        graph = spec_costs(spec, scatter="stem")
        options = partition_options(graph, devices, "kahypar", prof)
        cyclic.extend(0.0 if o.metrics.acyclic else 1.0 for o in options)
        for mode in REFINEMENTS:
            result = analyze(
                graph,
                devices,
                prof,
                "kahypar",
                select="cs",
                scatter="stem",
                partitioner_options={"refine": mode},
            )
            speedups[mode].append(result.speedup)
    row = {"cyclic share": statistics.fmean(cyclic)}
    row.update({f"refine={m}": statistics.fmean(v) for m, v in speedups.items()})
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="architectures per generator")
    parser.add_argument("--devices", type=int, default=4)
    parser.add_argument("--profile", default="rpi4-ethernet")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    print(f"{args.seeds} seeds, n = {args.devices}, {args.profile}, mean speedup\n")
    rows = {g: generator_row(g, args.seeds, args.devices, args.profile) for g in GENERATORS}
    columns = list(next(iter(rows.values())))
    print("| generator | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for generator, row in rows.items():
        print(f"| {generator} | " + " | ".join(f"{row[c]:.2f}" for c in columns) + " |")
    print(f"\nwall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
