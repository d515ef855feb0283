"""The EDGE'23 Figure 11: latency of one inference against the number of units, 1..10.

The paper deploys dp architectures on single-vCPU cloud instances (t2.micro) with its Section V
method: the clusters (connected components without input and output) go largest first onto n - 1
units (a min-heap of unit loads, every vertex one unit of work) and one more unit merges the
outputs; it reports that latency falls with more units and stops improving at 8 (imbalance).
Here, on the ``t2micro`` profile, for each unit count n:

* ``paper``: that deployment (``groups`` with ``dedicated_merge=True, unit_weights=True``;
  one unit for n = 1), the stem's output sent, maps merge (the paper's network);
* ``latency``: parawire's recommended deployment of the same network on at most n units
  (``select="latency"``, image scatter), and of its pooled-merge twin;

simulated (the median over ``--seeds`` architectures), and with ``--emulate`` also run: the same
plans on n local processes with every vertex padded to its t2micro time and the t2micro link
emulated (``parawire run --emulate t2micro``), one architecture (seed 0), time-dilated by the
factor in brackets where the units outnumber the cores (``parawire.runtime.dilation``).

    .venv/bin/python benchmarks/figure11.py --seeds 20                 # simulated, ~1 min
    .venv/bin/python benchmarks/figure11.py --seeds 20 --emulate       # + emulated runs, ~5 min
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import Any

import torch

import parawire
from parawire.analysis.api import analyze
from parawire.runtime import RunOptions, run_local
from parawire.runtime.dilation import auto_dilation, dilated_profile_ref
from parawire.runtime.planner import plan_from_analysis

PROFILE = "t2micro"
UNITS = range(1, 11)


def paper(spec: parawire.ArchSpec, n: int) -> Any:
    """The paper's Section V deployment on n units (one unit: everything on it)."""
    if n == 1:
        return analyze(spec, 1, PROFILE, "single", select="makespan", scatter="stem")
    return analyze(
        spec,
        n,
        PROFILE,
        "groups",
        select="makespan",
        scatter="stem",
        partitioner_options={"dedicated_merge": True, "unit_weights": True},
    )


def emulated(spec: parawire.ArchSpec, result: Any, runs: int) -> tuple[float, float]:
    """(median latency in seconds, time dilation) of ``result``'s plan on emulated t2micro
    units, time-dilated when there are more units than cores (``parawire.runtime.dilation``)
    and the latency divided by the dilation again."""
    plan = plan_from_analysis(spec, result)
    factor = auto_dilation(plan, PROFILE)
    with tempfile.TemporaryDirectory(prefix="parawire-fig11-") as tmp:
        emulate = dilated_profile_ref(PROFILE, factor, tmp)
        options = RunOptions(
            runs=runs, warmup=2, emulate=emulate, paired=False, timeout=120 * factor
        )
        return run_local(plan, options, baseline=False).p50_s / factor, factor


def main() -> None:
    """Simulate (and optionally run) every unit count; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--emulate", action="store_true", help="also run seed 0 emulated")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.time()
    specs = [parawire.generate("dp", seed=s, merge="maps") for s in range(args.seeds)]  # the paper
    pooled = [parawire.generate("dp", seed=s, merge="pooled") for s in range(args.seeds)]
    print(f"dp, 40 vertices, {args.seeds} seeds, profile {PROFILE}; latency in ms\n")
    head = "| units | paper (sim) | latency (sim) | latency, pooled (sim) | units used (pooled) |"
    if args.emulate:
        head += " paper (emulated, seed 0) | latency, pooled (emulated, seed 0) |"
    print(head)
    print("|---|---|---|---|---|" + ("---|---|" if args.emulate else ""))
    for n in UNITS:
        papers = [paper(s, n) for s in specs]
        mine = [analyze(s, n, PROFILE) for s in specs]
        pool = [analyze(s, n, PROFILE) for s in pooled]
        row = (
            f"| {n} | {statistics.median(r.makespan_s for r in papers) * 1e3:.1f} "
            f"| {statistics.median(r.makespan_s for r in mine) * 1e3:.1f} "
            f"| {statistics.median(r.makespan_s for r in pool) * 1e3:.1f} "
            f"| {statistics.median(r.devices_used for r in pool):.0f} |"
        )
        if args.emulate:
            (p_s, p_f), (l_s, l_f) = (
                emulated(specs[0], papers[0], args.runs),
                emulated(pooled[0], pool[0], args.runs),
            )
            row += f" {p_s * 1e3:.1f} (x{p_f:g}) | {l_s * 1e3:.1f} (x{l_f:g}) |"
        print(row, flush=True)
    print(f"\n{time.time() - start:.0f}s")


if __name__ == "__main__":
    main()
