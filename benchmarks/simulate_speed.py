"""Time of one schedule simulation of a 40-vertex architecture (n = 4, round-robin placement).

Run: .venv/bin/python benchmarks/simulate_speed.py [--archs 50] [--repeats 20]
Prints one JSON object: median and p90 milliseconds per simulation over `--archs` dp specs, and
the single-device time T_1 and T_1/CP of the traced torchvision/baseline models (inception_v3 at
299x299, the others at 224x224, CifarNet at 32x32) on every built-in profile.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

import parawire
from parawire.analysis.costs import spec_costs
from parawire.analysis.profiles import create_profile, list_profiles
from parawire.analysis.simulate import critical_path_seconds, simulate, single_device_seconds
from parawire.analysis.trace import from_module
from parawire.nn.model_ref import resolve_model

MODELS = ["torchvision:resnet50", "torchvision:mobilenet_v2", "torchvision:googlenet",
          "torchvision:inception_v3", "cifarnet"]  # fmt: skip


def sim_times(archs: int, repeats: int) -> list[float]:
    """Per-architecture median seconds of ``simulate`` (graph construction excluded)."""
    profile = create_profile("rpi4-wifi")
    out = []
    for seed in range(archs):
        g = spec_costs(parawire.generate("dp", seed=seed, n=40))
        placement = {v: i % 4 for i, v in enumerate(g.topological_order)}
        simulate(g, placement, profile, 4)  # warm the graph's cached properties
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            simulate(g, placement, profile, 4)
            times.append(time.perf_counter() - t0)
        out.append(statistics.median(times))
    return out


def model_rows() -> list[dict[str, object]]:
    """T1 and T1/CP of traced models per profile."""
    rows = []
    for name in MODELS:
        g = from_module(*resolve_model(name), name=name)
        for prof in list_profiles():
            p = create_profile(prof)
            t1 = single_device_seconds(g, p)
            rows.append({"model": name, "vertices": len(g.vertices), "profile": prof,
                         "t1_s": t1, "t1_over_cp": t1 / critical_path_seconds(g, p)})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--archs", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    t = sim_times(args.archs, args.repeats)
    deciles = statistics.quantiles(t, n=10)
    print(json.dumps({"archs": args.archs, "median_ms": statistics.median(t) * 1e3,
                      "p90_ms": deciles[-1] * 1e3, "models": model_rows()}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
