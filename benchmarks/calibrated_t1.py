"""Does a calibrated profile predict single-process time? T_1 simulated against measured.

For generated specs (``parawire.generate(G, seed=S, n=40)``, seeds other than those calibrate
times) and traced models, compares ``simulate.single_device_seconds`` under ``--profile``
(default ``local-cpu``, the built-in copy of this machine's calibration; or a file written by
``parawire calibrate --out FILE.toml``) with the CPU time of one forward pass of the built model:
1 thread, batch 1, warm-up runs, then the median ``time.thread_time()`` of the timed runs
(thread CPU time, because wall time on a loaded machine can be twice the CPU time). The input
is a seeded normal image (the speed of these models depends on the pixel values).

    .venv/bin/python benchmarks/calibrated_t1.py [--profile local-cpu] [--seeds 1,2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

import parawire
from parawire.analysis.costs import spec_costs
from parawire.analysis.profiles import Profile, get_profile
from parawire.analysis.simulate import single_device_seconds
from parawire.analysis.trace import from_module, resolve_model

GENERATORS = ("dp", "er", "ba", "ws", "chain", "lanes")
MODELS = ("torchvision:resnet50", "torchvision:mobilenet_v2", "torchvision:googlenet",
          "cifarnet")  # fmt: skip


def measured_seconds(model: nn.Module, x: torch.Tensor, warmup: int, runs: int) -> float:
    """Median thread CPU time of one forward pass of ``model`` on ``x``."""
    model.eval()
    times = []
    with torch.inference_mode():
        for i in range(warmup + runs):
            t0 = time.thread_time()
            model(x)
            if i >= warmup:
                times.append(time.thread_time() - t0)
    return statistics.median(times)


def spec_row(generator: str, seed: int, profile: Profile) -> tuple[str, float, float]:
    """(label, measured s, simulated T_1 s) of one generated 40-vertex spec."""
    spec = parawire.generate(generator, seed=seed, n=40)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, *spec.input_shape, generator=g)
    measured = measured_seconds(parawire.build_model(spec), x, warmup=3, runs=15)
    return f"{generator} | {seed}", measured, single_device_seconds(spec_costs(spec), profile)


def model_row(name: str, profile: Profile) -> tuple[str, float, float]:
    """(label, measured s, simulated T_1 s) of one traced model."""
    model, example = resolve_model(name)
    x = torch.randn(example.shape, generator=torch.Generator().manual_seed(0))
    measured = measured_seconds(model, x, warmup=2, runs=7)
    simulated = single_device_seconds(from_module(model, example, name=name), profile)
    return name, measured, simulated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="local-cpu", help="profile name or calibrate TOML")
    parser.add_argument("--seeds", default="1,2", help="spec seeds per generator")
    parser.add_argument("--no-models", action="store_true", help="skip the traced models")
    args = parser.parse_args()
    torch.set_num_threads(1)
    profile = get_profile(args.profile)
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"profile {args.profile}; 1 thread, batch 1, median thread CPU time\n")
    print("| generator | seed | measured | T_1 simulated | simulated / measured |")
    print("|---|---|---|---|---|")
    ratios = []
    for generator in GENERATORS:
        for seed in seeds:
            label, measured, simulated = spec_row(generator, seed, profile)
            ratios.append(simulated / measured)
            print(f"| {label} | {measured * 1e3:.2f} ms | {simulated * 1e3:.2f} ms | "
                  f"{simulated / measured:.2f} |", flush=True)  # fmt: skip
    print(f"\nmean simulated / measured over the specs: {statistics.fmean(ratios):.2f}")
    if args.no_models:
        return
    print("\n| model | measured | T_1 simulated | simulated / measured |")
    print("|---|---|---|---|")
    for name in MODELS:
        label, measured, simulated = model_row(name, profile)
        print(f"| {label} | {measured * 1e3:.1f} ms | {simulated * 1e3:.1f} ms | "
              f"{simulated / measured:.2f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
