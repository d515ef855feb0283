"""Training throughput (images/s) of parawire's loop against a plain hand-written PyTorch loop.

Same model (same initial weights), same data (synthetic 3x32x32 images, normalised alike),
same batch size, same optimiser (the recipe's SGD with nesterov momentum and weight decay),
CPU. parawire's loop does everything it does in a real run (on-device crop + flip +
normalisation of every batch, scheduled learning rate, loss/accuracy accumulation); the plain
loop feeds tensors transformed once beforehand straight to the model at a constant learning
rate. Epochs alternate between the two loops so that machine load affects both alike; the
median epoch of each is reported.

    .venv/bin/python benchmarks/train_throughput.py [--images 512] [--batch-size 64] [--epochs 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

import parawire
from parawire.arch import StagingConfig
from parawire.data import load_dataset
from parawire.nn.model_ref import ModelRef
from parawire.train import Trainer, create_recipe, make_optimizer


def plain_epoch(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                batch: int) -> float:  # fmt: skip
    """One epoch of the textbook loop; returns seconds."""
    model.train()
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    t0 = time.perf_counter()
    for i in range(0, len(y) - batch + 1, batch):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[i : i + batch]), y[i : i + batch])
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def measure(name: str, source: ModelRef, args: argparse.Namespace) -> dict[str, float]:
    """Median images/s of both loops for one model."""
    splits = load_dataset("synthetic", num_train=args.images, num_test=64)
    recipe = create_recipe("modern", batch_size=args.batch_size)
    trainer = Trainer(source, splits, recipe, epochs=args.epochs + 1, seed=0, device="cpu")
    torch.manual_seed(0)
    model = source.build()
    opt = make_optimizer(model, recipe)
    # the plain loop's inputs: one epoch of parawire's own transforms, made once beforehand
    # (CPU speed depends on the pixel values: raw noise trains ~2x slower than cropped noise)
    batches = list(trainer.train_batches.epoch(seed=0, epoch=10_000))
    x = torch.cat([b for b, _ in batches])
    y = torch.cat([t for _, t in batches])
    n_used = (args.images // args.batch_size) * args.batch_size
    ours, plain = [], []
    trainer.train_epoch(0)
    plain_epoch(model, opt, x, y, args.batch_size)  # warm-up of both
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        trainer.train_epoch(epoch)
        ours.append(n_used / (time.perf_counter() - t0))
        plain.append(n_used / plain_epoch(model, opt, x, y, args.batch_size))
    out = {"parawire": statistics.median(ours), "plain": statistics.median(plain)}
    out["ratio"] = out["parawire"] / out["plain"]
    print(f"{name:<28} parawire {out['parawire']:8.1f} img/s   plain {out['plain']:8.1f} img/s"
          f"   ratio {out['ratio']:.3f}")  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="Only the dp model.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spec = parawire.generate(
        "dp", seed=0, staging=StagingConfig("probabilistic", channels=32, c_max=256)
    )
    print(f"CPU, {args.threads} thread(s), batch {args.batch_size}, {args.images} images/epoch, "
          f"median of {args.epochs} epochs")  # fmt: skip
    measure("dp (40 vertices, width 32)", ModelRef.from_spec(spec), args)
    if not args.quick:
        measure("cifarnet", ModelRef("cifarnet", (3, 32, 32), 10), args)


if __name__ == "__main__":
    main()
