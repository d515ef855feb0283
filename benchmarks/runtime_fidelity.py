"""Does the runtime run what the simulation predicts? Measured against simulated latency.

Two modes, in one table each (median of ``--runs`` inferences, batch 1, one thread per rank):

* ``emulated`` (the default): every rank runs each vertex for real, then waits until the
  profile's time for it has passed, and its sends go through the profile's emulated link
  (``parawire run --emulate PROFILE``). This runs k = 2..10 devices of a profile several times
  slower than this machine's cores on few cores. Columns: the emulated distributed p50, the
  emulated one-device p50 (same padding, one process), their ratio (speedup), the simulated
  makespan of the same placement and schedule, measured / simulated, and how many vertices
  computed longer for real than their emulated time (then the emulation is not faithful).
  With k ranks on fewer cores the run is time-dilated (``--dilation auto``, the default:
  ``parawire.runtime.dilation``): every emulated duration scaled by a factor so that real
  compute fits in it, the measured and simulated times divided by it again in the table.
* ``real``: the same specs on k real local processes with a free link, the placement and the
  simulation on ``--profile`` (this machine: ``local-cpu``, or the file ``parawire calibrate``
  wrote). Needs k free cores to mean anything.
* ``netns``: k ``parawire worker`` processes, each in its own Linux network namespace with its
  own address, joined by veth pairs through a bridge, each host's outgoing bandwidth limited by
  ``tc tbf`` to the ``--profiles`` link's, its latency emulated in the sender (``--link`` with
  that latency and no bandwidth limit). Compute is this machine's: the placement and the
  simulation use ``--profile``'s device (default ``local-cpu``) with the profile's link. Needs
  root (network namespaces).

The placement is the fastest simulated one on exactly k devices (``--select makespan``), so each
row really uses k ranks; the networks are 40-vertex specs (32 channels, 32x32 input) with pooled
merge and image scatter, seed 0; ``lanes`` has width k.

    .venv/bin/python benchmarks/runtime_fidelity.py --mode emulated            # ~10 min, 2 cores
    .venv/bin/python benchmarks/runtime_fidelity.py --mode real --ks 2 --generators dp,lanes
    sudo .venv/bin/python benchmarks/runtime_fidelity.py --mode netns --ks 2,4 --profiles rpi4-wifi
    .venv/bin/python benchmarks/runtime_fidelity.py --mode real --ks 2,4,8 --profile C#local-cpu
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

import torch

import parawire
from parawire.runtime import RunOptions, make_plan, run_local
from parawire.runtime.dilation import auto_dilation, dilated_profile_ref
from parawire.runtime.options import run_profile

GENERATORS = ("dp", "er", "ws", "lanes", "chain")
PROFILES = ("rpi4-wifi", "rpi4-ethernet", "t2micro")
KS = (2, 4, 6, 8, 10)


def make_spec(generator: str, k: int) -> parawire.ArchSpec:
    """The benchmark spec of one generator (lanes: one lane per device)."""
    params: dict[str, Any] = {"width": k} if generator == "lanes" else {}
    n = 40 if generator != "lanes" else 10 * k
    return parawire.generate(generator, seed=0, merge="pooled", n=n, **params)


def netns_row(generator: str, k: int, args: argparse.Namespace, profile: str) -> dict[str, Any]:
    """One row with every rank in its own network namespace (see the module docstring)."""
    import tempfile

    from parawire.analysis.profiles import create_profile
    from parawire.runtime.netns import HostLab, latency_only_link, run_workers
    from parawire.runtime.plan import simulate_plan

    spec = make_spec(generator, k)
    link = create_profile(profile).link
    predicted = run_profile(args.profile, profile)  # this machine's compute, the profile's link
    plan = make_plan(spec, k, profile=predicted, select="makespan")
    with tempfile.TemporaryDirectory(prefix="parawire-netns-") as tmp:
        plan_dir = str(plan.save(Path(tmp) / "plan"))
        latency = latency_only_link(str(Path(tmp) / "latency.toml"), link.latency_s)
        worker_args = ["--runs", str(args.runs), "--warmup", str(args.warmup), "--threads", "1",
                       "--timeout", "120", "--link", latency]  # fmt: skip
        with HostLab(plan.world, bandwidth_bytes_per_s=link.bandwidth_bytes_per_s) as lab:
            report = run_workers(lab, plan_dir, worker_args, timeout=600)
    simulated = simulate_plan(plan, predicted).makespan_s
    return {
        "mode": "netns",
        "generator": generator,
        "profile": predicted.name,
        "k": k,
        "ranks": plan.world,
        "p50_s": report["p50_s"],
        "single_p50_s": report["single_process_p50_s"],
        "speedup": report["single_process_p50_s"] / report["p50_s"],
        "simulated_s": simulated,
        "measured_over_simulated": report["p50_s"] / simulated,
        "over_emulated_time": 0,
        "vertices": len(spec.nodes),
        "max_abs_diff": report["max_abs_diff"],
        "order_as_planned": True,  # not traced across namespaces (separate reports per rank)
        "load_average": os.getloadavg()[0],
    }


def row(generator: str, k: int, args: argparse.Namespace, profile: str | None) -> dict[str, Any]:
    """One measured row: plan on exactly k ranks, run, compare with the simulation."""
    if args.mode == "netns":
        assert profile is not None
        return netns_row(generator, k, args, profile)
    spec = make_spec(generator, k)
    emulate = profile if args.mode == "emulated" else None
    predicted = run_profile(args.profile if emulate is None else None, None, emulate)
    plan = make_plan(spec, k, profile=predicted, select="makespan")
    factor = 1.0
    with tempfile.TemporaryDirectory(prefix="parawire-dilation-") as tmp:
        if emulate is not None and args.dilation != "1":
            auto = args.dilation == "auto"
            factor = auto_dilation(plan, emulate) if auto else float(args.dilation)
            emulate = dilated_profile_ref(emulate, factor, tmp)
        options = RunOptions(
            runs=args.runs,
            warmup=args.warmup,
            threads=1,
            timeout=120 * factor,
            emulate=emulate,
            processes=args.processes,
        )
        report = run_local(plan, options, profile=args.profile if emulate is None else None)
    return {
        "mode": args.mode,
        "generator": generator,
        "profile": profile or report.options["profile"],
        "k": k,
        "ranks": plan.world,
        "dilation": factor,
        "p50_s": report.p50_s / factor,
        "single_p50_s": report.single_process_p50_s / factor,
        "speedup": report.speedup,
        "speedup_interval": report.speedup_interval,
        "spread": report.spread,
        "simulated_s": report.simulated_makespan_s / factor,
        "measured_over_simulated": report.measured_over_simulated,
        "over_emulated_time": len(report.emulation.get("over_emulated_time", [])),
        "vertices": len(spec.nodes),
        "max_abs_diff": report.max_abs_diff,
        "order_as_planned": all(r["order_as_planned"] for r in report.ranks),
        "load_average": os.getloadavg()[0],
    }


def _interval(r: dict[str, Any]) -> str:
    """A row's speedup interval, ``[low, high]`` (empty where the row has none)."""
    low, high = r.get("speedup_interval") or (None, None)
    return "" if low is None else f"[{low:.2f}, {high:.2f}]"


def main() -> None:
    """Measure every row, print a markdown table and a JSON line per row."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("emulated", "real", "netns"), default="emulated")
    parser.add_argument("--generators", default=",".join(GENERATORS))
    parser.add_argument("--profiles", default=",".join(PROFILES), help="emulated, netns modes")
    parser.add_argument("--profile", default=None, help="real mode: placement + simulation")
    parser.add_argument("--ks", default=",".join(map(str, KS)))
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--processes", type=int, default=3, help="fresh processes per side (parawire.measure)"
    )
    parser.add_argument(
        "--dilation",
        default="auto",
        help="emulated mode: time dilation, a factor >= 1, or auto (parawire.runtime.dilation); "
        "1 turns it off",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    profiles = args.profiles.split(",") if args.mode != "real" else [None]
    start = time.time()
    rows = []
    for profile in profiles:
        for generator in args.generators.split(","):
            for k in (int(x) for x in args.ks.split(",")):
                rows.append(row(generator, k, args, profile))
                print(json.dumps(rows[-1]), flush=True)
    cores = os.cpu_count()
    print(f"\n{args.mode}, {platform.machine()}, {cores} cores, {time.time() - start:.0f}s")
    print(
        "| profile | generator | k | dilation | measured p50 ms | one device ms | speedup "
        "| simulated ms | measured / simulated | vertices over emulated time | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['profile']} | {r['generator']} | {r['k']} | {r.get('dilation', 1.0):g} "
            f"| {r['p50_s'] * 1e3:.2f} | "
            f"{r['single_p50_s'] * 1e3:.2f} | {r['speedup']:.2f} {_interval(r)} "
            f"| {r['simulated_s'] * 1e3:.2f} "
            f"| {r['measured_over_simulated']:.2f} | {r['over_emulated_time']}/{r['vertices']} "
            f"| {r['load_average']:.1f} |"
        )
    worst = max(abs(r["measured_over_simulated"] - 1) for r in rows)
    planned = all(r["order_as_planned"] for r in rows)
    print(f"\nworst |measured / simulated - 1| = {worst:.2f}; planned order everywhere: {planned}")


if __name__ == "__main__":
    main()
