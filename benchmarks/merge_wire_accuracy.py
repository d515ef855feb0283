"""What the faster deployments cost in accuracy, on the embedded digits data.

For each generator (dp, er, ws) and seed, the same architecture is trained twice on digits with
the same recipe and epochs, once with each merge mode (``maps``, the paper's, and ``pooled``).
Each trained network is then evaluated on the 360 test images in float32 and split over 4
devices (``parawire.analyze --select makespan``: the fastest placement that uses all 4 on
``--profile``, image scatter; the recommended deployment of such small networks often stays on
one device, where the wire changes nothing) sending float16, bfloat16 and int8 tensors,
exactly as the runtime encodes them
(``parawire.runtime.wire.emulate_wire``; the distributed runtime gives the same logits). Image
scatter changes no number (the stem is computed from the same image), so it has no column.

    .venv/bin/python benchmarks/merge_wire_accuracy.py                 # 3 seeds, ~6 min on 2 cores
    .venv/bin/python benchmarks/merge_wire_accuracy.py --seeds 1 --epochs 2

Networks: 18 vertices, stem width 16, stem stride 2, c_max 64 (the demo's size), ``modern``
recipe with batch 32 and learning rate 0.05, one torch thread.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import parawire
from parawire.analysis.api import analyze
from parawire.data import load_dataset
from parawire.nn.model_ref import ModelRef
from parawire.runtime.check import check_images
from parawire.runtime.planner import plan_from_analysis
from parawire.runtime.wire import emulate_wire
from parawire.train.loop import Trainer
from parawire.train.recipes import create_recipe

WIRES = ("float32", "float16", "bfloat16", "int8")


def make_spec(generator: str, seed: int, merge: str) -> parawire.ArchSpec:
    """The benchmark's architecture of one generator, seed and merge mode."""
    staging = parawire.StagingConfig("probabilistic", channels=16, c_max=64)
    return parawire.generate(
        generator, seed=seed, staging=staging, merge=merge, n=18, stem_stride=2
    )


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy in %."""
    return 100.0 * float((logits.argmax(1) == labels).float().mean())


def measure(generator: str, seed: int, merge: str, args: argparse.Namespace) -> dict:
    """Train one network; its test accuracy in float32 and over each wire dtype."""
    spec = make_spec(generator, seed, merge)
    splits = load_dataset("digits")
    recipe = create_recipe("modern", batch_size=32, lr=0.05)
    trainer = Trainer(ModelRef.from_spec(spec), splits, recipe, epochs=args.epochs, seed=0)
    trainer.fit()
    model = trainer.model.cpu().eval()
    test = check_images(spec, len(splits.test_labels), "digits")
    row = {"gen": generator, "seed": seed, "merge": merge, "params": trainer.result.params}
    with torch.inference_mode():
        for wire in WIRES:
            result = analyze(spec, 4, profile=args.profile, wire_dtype=wire, select="makespan")
            placement = plan_from_analysis(spec, result).placement
            logits = emulate_wire(
                model, test.images, placement, wire_dtype=wire, scatter=result.scatter
            )
            row[wire] = accuracy(logits, test.labels)
            row[f"{wire}_speedup"] = result.speedup
            row[f"{wire}_kB"] = result.comm_bytes / 1e3
    return row


def main() -> None:
    """Train, evaluate, print one row per network and the means."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--generators", default="dp,er,ws")
    parser.add_argument("--profile", default="rpi4-ethernet")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.time()
    rows = []
    print("| generator | seed | merge | params | " + " | ".join(WIRES) + " |")
    print("|---|---|---|---|" + "---|" * len(WIRES))
    for generator in args.generators.split(","):
        for seed in range(args.seeds):
            for merge in ("maps", "pooled"):
                row = measure(generator, seed, merge, args)
                rows.append(row)
                accs = " | ".join(f"{row[w]:.2f}" for w in WIRES)
                print(
                    f"| {generator} | {seed} | {merge} | {row['params']:,} | {accs} |", flush=True
                )
    print(f"\n{len(rows)} networks, {args.epochs} epochs each, {time.time() - start:.0f}s\n")
    print(f"| generator | merge | mean acc % ({' / '.join(WIRES)}) | median speedup on 4 "
          f"{args.profile} ({' / '.join(WIRES)}) | median kB sent |")  # fmt: skip
    print("|---|---|---|---|---|")
    for generator in [*args.generators.split(","), "all"]:
        for merge in ("maps", "pooled"):
            cell = [r for r in rows if r["merge"] == merge and generator in (r["gen"], "all")]
            accs = " / ".join(f"{statistics.fmean(r[w] for r in cell):.2f}" for w in WIRES)
            speed = " / ".join(
                f"{statistics.median(r[f'{w}_speedup'] for r in cell):.2f}" for w in WIRES
            )
            sent = " / ".join(f"{statistics.median(r[f'{w}_kB'] for r in cell):.1f}" for w in WIRES)
            print(f"| {generator} | {merge} | {accs} | {speed} | {sent} |")


if __name__ == "__main__":
    main()
