"""Faster at the edge: median simulated speedup of each deployment variant over one device.

For every generator (dp, er, ba, ws with probabilistic staging; fb = ws with RandWire's stages;
chain; lanes of width 4), 40 vertices, 32x32 input, seeds 0..S-1, every profile and device
count k, the speedup of one inference over the same network on one device of the profile, for
these deployments, each adding one change to the one before:

* ``landed``: what parawire did before: the paper's choice (kahypar, eps sweep, lowest CS on
  exactly k devices), the stem's output sent to the devices, feature-map merge, float32;
* ``latency``: the same network, the placement with the lowest simulated latency among every
  partitioner's options on 1..k devices;
* ``+image``: devices get the input image and run the stem themselves;
* ``+pooled``: the sinks are pooled and projected on their own device (``merge="pooled"``);
* ``+fp16`` / ``+int8``: tensors travel as float16 / int8 (per-tensor scale).

Also: the T1/CP bound of the ``+fp16`` network (no placement beats it on a free link), and
the devices the ``+fp16`` deployment uses. Rows for torchvision's single-chain models follow.
All figures are schedule simulations on the built-in profiles (docs/profiles.md).

    .venv/bin/python benchmarks/deployment_variants.py --seeds 30 --workers 2   # ~25 min
    .venv/bin/python benchmarks/deployment_variants.py --seeds 3 --generators dp --ks 4
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import parawire
from parawire.analysis.api import analyze

GENERATORS = {  # label -> (generator, staging, params)
    "dp": ("dp", "probabilistic", {}),
    "er": ("er", "probabilistic", {}),
    "ba": ("ba", "probabilistic", {}),
    "ws": ("ws", "probabilistic", {}),
    "fb": ("ws", "fb", {}),
    "chain": ("chain", "probabilistic", {}),
    "lanes": ("lanes", "probabilistic", {"width": 4}),
}
PROFILES = ("rpi4-wifi", "rpi4-ethernet", "t2micro")
KS = (2, 4, 8)
VARIANTS = {  # label -> (merge, analyze options)
    "landed": ("maps", {"select": "cs", "scatter": "stem", "wire_dtype": "float32"}),
    "latency": ("maps", {"select": "latency", "scatter": "stem", "wire_dtype": "float32"}),
    "+image": ("maps", {"select": "latency", "scatter": "image", "wire_dtype": "float32"}),
    "+pooled": ("pooled", {"select": "latency", "scatter": "image", "wire_dtype": "float32"}),
    "+fp16": ("pooled", {"select": "latency", "scatter": "image", "wire_dtype": "float16"}),
    "+int8": ("pooled", {"select": "latency", "scatter": "image", "wire_dtype": "int8"}),
}
MODELS = ("torchvision:resnet50", "torchvision:mobilenet_v2")


def measure(task: tuple[str, int, tuple[str, ...], tuple[int, ...]]) -> list[dict[str, Any]]:
    """Every (profile, k, variant) figure of one generated architecture."""
    label, seed, profiles, ks = task
    generator, staging, params = GENERATORS[label]
    specs = {
        merge: parawire.generate(generator, seed=seed, staging=staging, merge=merge, **params)
        for merge in ("maps", "pooled")
    }
    rows = []
    for profile in profiles:
        for k in ks:
            row: dict[str, Any] = {"gen": label, "seed": seed, "profile": profile, "k": k}
            for name, (merge, options) in VARIANTS.items():
                result = analyze(specs[merge], k, profile, **options)
                row[name] = result.speedup
                if name == "+fp16":
                    row["bound"] = result.t1_over_cp
                    row["used"] = result.devices_used
            rows.append(row)
    return rows


def median(values: list[float]) -> float:
    """The median (the lower middle one is not taken: statistics.median)."""
    return statistics.median(values)


def main() -> None:
    """Measure in parallel, print the table and a JSON line of every figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--generators", default=",".join(GENERATORS))
    parser.add_argument("--profiles", default=",".join(PROFILES))
    parser.add_argument("--ks", default=",".join(map(str, KS)))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", default=None, help="Also write every row to this file.")
    args = parser.parse_args()
    profiles = tuple(args.profiles.split(","))
    ks = tuple(int(k) for k in args.ks.split(","))
    labels = args.generators.split(",")
    tasks = [(g, s, profiles, ks) for g in labels for s in range(args.seeds)]
    start = time.time()
    with ProcessPoolExecutor(args.workers) as pool:
        rows = [r for part in pool.map(measure, tasks, chunksize=1) for r in part]
    names = list(VARIANTS)
    print(
        f"{len(tasks)} architectures ({args.seeds} seeds per generator), "
        f"{time.time() - start:.0f}s; median speedup over one device (simulated)\n"
    )
    print(f"| generator | profile | k | {' | '.join(names)} | T1/CP (+fp16) | devices used |")
    print("|---|---|---|" + "---|" * (len(names) + 2))
    for label in labels:
        for profile in profiles:
            for k in ks:
                cell = [r for r in rows if (r["gen"], r["profile"], r["k"]) == (label, profile, k)]
                figures = " | ".join(f"{median([r[n] for r in cell]):.2f}" for n in names)
                print(
                    f"| {label} | {profile} | {k} | {figures} | "
                    f"{median([r['bound'] for r in cell]):.2f} | "
                    f"{median([r['used'] for r in cell]):.0f} |"
                )
    print("\n| model | profile | k | landed | latency | +image | devices used |")
    print("|---|---|---|---|---|---|---|")
    for model in MODELS:
        for profile in profiles:
            for k in ks:
                figures = []
                for name in ("landed", "latency", "+image"):
                    result = analyze(model, k, profile, **VARIANTS[name][1])
                    figures.append(f"{result.speedup:.2f}")
                print(f"| {model} | {profile} | {k} | {' | '.join(figures)} | "
                      f"{result.devices_used} |")  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f)


if __name__ == "__main__":
    main()
