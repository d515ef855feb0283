"""Single-device prediction of a calibrated profile against measured latency (issue 17, item 2).

Calibrates this machine (``parawire calibrate``'s code: vertices timed in context in fresh
processes, per-kind operator rates, the dispatch per vertex), unless ``--profile`` names a
profile already calibrated, then measures held-out networks the way parawire measures every
timing (``parawire.measure``): each network in ``--processes`` fresh processes (one after
another, each timing every network once, networks in an order that alternates between
processes; one thread, pinned to a core of its own when there is one to spare; float32
subnormals flushed; the thread's CPU time with one thread, so other processes on a shared
machine do not count), the figure being the median over processes of each process's median.

Held-out networks: ``--specs`` generated specs cycling through every generator, both merges,
16/32/64 stem channels and 32/64 pixels at seeds 1-99 (calibration uses seeds 1000+), and
torchvision resnet18, mobilenet_v2 and googlenet. Each is compared with the simulation's
single-device time under the calibrated profile.

Usage::

    python benchmarks/calibration_accuracy.py                        # about 8 minutes on 2 cores
    python benchmarks/calibration_accuracy.py --profile /tmp/cal.toml#local-cpu --processes 3
    python benchmarks/calibration_accuracy.py --json out.json --specs 30
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any

MODELS = ("torchvision:resnet18", "torchvision:mobilenet_v2", "torchvision:googlenet")
GENERATORS = ("dp", "er", "ba", "ws", "lanes", "chain")
CHANNELS = (16, 32, 64)
SIDES = (32, 64)


def held_out(count: int) -> list[dict[str, Any]]:
    """``count`` spec recipes cycling through generators, merges, widths and sizes."""
    out = []
    for i in range(count):
        out.append(
            {
                "generator": GENERATORS[i % len(GENERATORS)],
                "merge": ("pooled", "maps")[(i // len(GENERATORS)) % 2],
                "channels": CHANNELS[i % len(CHANNELS)],
                "side": SIDES[(i // 2) % len(SIDES)],
                "seed": 1 + i,
            }
        )
    return out


def build(case: dict[str, Any] | str) -> tuple[Any, Any, Any]:
    """(model, input, cost graph) of a recipe or a torchvision name."""
    import torch

    from parawire.analysis.costs import spec_costs
    from parawire.analysis.trace import from_module
    from parawire.arch import generate
    from parawire.arch.generate import StagingConfig
    from parawire.nn import build_model
    from parawire.nn.model_ref import resolve_model

    if isinstance(case, str):
        model, x = resolve_model(case)
        return model.eval(), x, from_module(model, x)
    spec = generate(
        case["generator"],
        seed=case["seed"],
        merge=case["merge"],
        staging=StagingConfig(channels=case["channels"]),
        input_shape=(3, case["side"], case["side"]),
    )
    x = torch.randn(1, *spec.input_shape, generator=torch.Generator().manual_seed(0))
    return build_model(spec).eval(), x, spec_costs(spec)


def name_of(case: dict[str, Any] | str) -> str:
    if isinstance(case, str):
        return case.split(":")[1]
    c = case
    return f"{c['generator']} {c['merge']} c{c['channels']} {c['side']}px s{c['seed']}"


def child(cases: list[Any], repeats: int, reverse: bool) -> None:
    """One fresh process: each case's median time of one forward pass, as JSON."""
    import torch

    from parawire._inference import inference_settings

    order = list(range(len(cases)))[:: -1 if reverse else 1]
    out: dict[int, float] = {}
    with inference_settings(1), torch.inference_mode():
        for i in order:
            model, x, _ = build(cases[i])
            times = []
            for r in range(repeats + 3):
                t0 = time.thread_time()
                model(x)
                if r >= 3:
                    times.append(time.thread_time() - t0)
            out[i] = statistics.median(times)
    print(json.dumps(out))


def measure(cases: list[Any], processes: int, repeats: int) -> list[list[float]]:
    """Per case, its median in each of ``processes`` fresh processes."""
    from parawire.measure import core_sets

    cores = core_sets(1, 1)
    per_case: list[list[float]] = [[] for _ in cases]
    for p in range(processes):
        cmd = [sys.executable, __file__, "--child", json.dumps(cases), "--repeats", str(repeats)]
        if p % 2:
            cmd.append("--reverse")
        if cores and shutil.which("taskset"):
            cmd = ["taskset", "-c", str(cores[0][0]), *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        if done.returncode:
            raise SystemExit(done.stderr.strip().splitlines()[-1])
        for i, secs in json.loads(done.stdout.strip().splitlines()[-1]).items():
            per_case[int(i)].append(secs)
    return per_case


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default=None, help="a calibrated profile (skip calibration)")
    ap.add_argument("--specs", type=int, default=30, help="held-out generated specs")
    ap.add_argument("--processes", type=int, default=3, help="fresh processes per network")
    ap.add_argument("--repeats", type=int, default=20, help="timed runs per network and process")
    ap.add_argument("--calibration-repeats", type=int, default=20)
    ap.add_argument("--json", help="write the rows to this file")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--reverse", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        child(json.loads(args.child), args.repeats, args.reverse)
        return 0

    from parawire.analysis.calibrate import calibrate
    from parawire.analysis.profiles import create_profile
    from parawire.analysis.simulate import single_device_seconds

    t0 = time.perf_counter()
    if args.profile:
        profile = create_profile(args.profile)
        calibration_s = 0.0
    else:
        profile = calibrate(repeats=args.calibration_repeats).to_profile()
        calibration_s = time.perf_counter() - t0
    cases: list[Any] = [*held_out(args.specs), *MODELS]
    measured = measure(cases, args.processes, args.repeats)
    rows = []
    load = os.getloadavg()[0]
    print(
        f"profile {profile.name} ({profile.source or 'calibrated now'}; calibration "
        f"{calibration_s:.0f} s); {args.processes} fresh processes per network, "
        f"{args.repeats} runs each; 1-minute load average {load:.2f} at the end"
    )
    print(f"{'network':<30}{'measured ms':>12}{'x procs':>8}{'predicted':>10}{'error':>8}")
    for case, times in zip(cases, measured, strict=True):
        _, _, graph = build(case)
        value = statistics.median(times)
        predicted = single_device_seconds(graph, profile)
        row = {
            "network": name_of(case),
            "measured_s": value,
            "process_s": times,
            "process_max_over_min": max(times) / min(times),
            "predicted_s": predicted,
            "error": predicted / value - 1,
        }
        rows.append(row)
        print(
            f"{row['network']:<30}{value * 1e3:>12.2f}{row['process_max_over_min']:>8.2f}"
            f"{predicted * 1e3:>10.2f}{row['error']:>+8.1%}"
        )
    specs = rows[: args.specs]
    within = sum(abs(r["error"]) <= 0.10 for r in specs)
    errors = sorted(abs(r["error"]) for r in specs)
    print(
        f"generated specs: {within}/{len(specs)} within 10% (target: 80%), median |error| "
        f"{statistics.median(errors):.1%}, worst {errors[-1]:.1%}; torchvision within 15%: "
        f"{sum(abs(r['error']) <= 0.15 for r in rows[args.specs :])}/{len(MODELS)}; "
        f"largest spread between processes x{max(r['process_max_over_min'] for r in rows):.2f}"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"args": vars(args), "load": load, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
