"""Do parawire's recommendations hold on a real many-core host? (issue 17, item 5)

On the machine it runs on: ``parawire calibrate`` (vertices in context, fresh processes), then
for held-out networks (dp, lanes, er, chain at seeds no test or tuning uses, and torchvision
resnet18, a chain) the deployment parawire recommends on at most k ranks (k = 2, 4, 8 by
default; the calibrated profile for placement and simulation, free loopback link), each run
with parawire's measurement method (``parawire.measure``: ``--processes`` fresh processes per
side, split and one process interleaved, each rank pinned to a core of its own, medians with
95% bootstrap intervals). One table: ranks used, measured speedup and its interval, simulated
speedup, measured / simulated for the split and for one process, the spread between fresh
processes, and whether the ranks were pinned.

Meant for a host with at least 9 free cores (8 ranks and the launcher); on fewer cores the rows
whose ranks do not each get a core say so (``pinned`` no) and their speedups understate what
separate devices would give.

Usage::

    python benchmarks/real_hosts.py                          # under 8 minutes on 16 cores
    python benchmarks/real_hosts.py --ks 2 --networks dp,lanes,er,chain --json out.json
    python benchmarks/real_hosts.py --profile FILE#local-cpu --ks 2,4,8   # skip calibration
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

NETWORKS = ("dp", "lanes", "er", "chain", "torchvision:resnet18")
SEED = 21  # held out: no test, tuning or calibration uses it


def network(name: str, k: int) -> Any:
    """The spec (or model name) of one row: lanes one lane per rank, 32 channels, 32 px."""
    if name.startswith("torchvision:"):
        return name
    from parawire.arch import generate

    params: dict[str, Any] = {"width": k} if name == "lanes" else {}
    return generate(name, seed=SEED, merge="pooled", **params)


def row(name: str, k: int, profile: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Plan on at most k ranks with the calibrated profile, run, compare with the simulation."""
    from parawire.analysis.simulate import single_device_seconds
    from parawire.runtime import RunOptions, make_plan, run_local

    plan = make_plan(network(name, k), k, profile=profile)
    options = RunOptions(
        runs=args.runs, warmup=args.warmup, threads=1, timeout=120, processes=args.processes
    )
    report = run_local(plan, options, profile=args.profile_ref)
    t1 = single_device_seconds(plan.graph.costs(1, plan.wire_dtype, plan.scatter), profile)
    low, high = report.speedup_interval
    return {
        "network": name,
        "k": k,
        "ranks": plan.world,
        "speedup": report.speedup,
        "speedup_low": low,
        "speedup_high": high,
        "simulated_speedup": t1 / report.simulated_makespan_s,
        "p50_s": report.p50_s,
        "single_p50_s": report.single_process_p50_s,
        "simulated_s": report.simulated_makespan_s,
        "split_measured_over_simulated": report.measured_over_simulated,
        "single_measured_over_predicted": report.single_process_p50_s / t1,
        "split_spread": report.spread["split"]["max_over_min"],
        "single_spread": report.spread["one_process"]["max_over_min"],
        "pinned": report.load["pinned"],
        "breakdown": report.breakdown,
        "max_abs_diff": report.max_abs_diff,
        "load_before": report.load["load_1min"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ks", default="2,4,8")
    ap.add_argument("--networks", default=",".join(NETWORKS))
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--processes", type=int, default=3, help="fresh processes per side")
    ap.add_argument("--profile", default=None, help="a calibrated profile (skip calibration)")
    ap.add_argument("--calibration-repeats", type=int, default=20)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    from parawire.analysis.calibrate import calibrate
    from parawire.analysis.profiles import create_profile, save_profile

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="parawire-real-hosts-") as tmp:
        if args.profile is None:
            calibrated = calibrate(repeats=args.calibration_repeats).to_profile("here")
            path = save_profile(calibrated, Path(tmp) / "here.toml")
            args.profile_ref = f"{path}#here"
        else:
            args.profile_ref = args.profile
        profile = create_profile(args.profile_ref)
        calibration_s = time.perf_counter() - started
        print(f"calibration: {calibration_s:.0f} s, profile {args.profile_ref}", flush=True)
        rows = []
        for name in args.networks.split(","):
            for k in (int(k) for k in args.ks.split(",")):
                rows.append(row(name, k, profile, args))
                print(json.dumps(rows[-1]), flush=True)
    total_s = time.perf_counter() - started
    print(
        f"\n{platform.node()}: {os.cpu_count()} cores, {platform.processor() or platform.machine()}"
        f"; calibration {calibration_s:.0f} s, total {total_s:.0f} s; {args.runs} runs x "
        f"{args.processes} fresh processes per side, one thread per rank\n"
    )
    print(
        "| network | k | ranks | measured speedup [95%] | simulated | split meas/sim "
        "| one process meas/pred | process spread (split, one) | pinned |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['network']} | {r['k']} | {r['ranks']} | {r['speedup']:.2f}x "
            f"[{r['speedup_low']:.2f}, {r['speedup_high']:.2f}] | {r['simulated_speedup']:.2f}x "
            f"| {r['split_measured_over_simulated']:.2f} | "
            f"{r['single_measured_over_predicted']:.2f} | x{r['split_spread']:.2f}, "
            f"x{r['single_spread']:.2f} | {'yes' if r['pinned'] else 'no'} |"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"args": vars(args), "rows": rows, "total_s": total_s}, f, indent=1)


if __name__ == "__main__":
    main()
