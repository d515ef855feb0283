"""What float32 subnormals cost an untrained network's inference, and what flushing them saves.

parawire times and runs inferences with subnormals flushed to zero (``parawire._inference``).
This measures why: for each generator (seeded, untrained, as `parawire run` and `latency
collect` use them without ``--weights``), how many vertices output subnormal values, and one
inference's time with and without flushing, alternated in one process (``--rounds`` rounds of
``--repeats`` timed runs each; the thread's CPU time with one thread; the lower quartile).

    .venv/bin/python benchmarks/subnormals.py                  # about a minute on 2 cores
    .venv/bin/python benchmarks/subnormals.py --seeds 0,1,2 --n 40
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from parawire._inference import inference_settings
from parawire.arch import generate
from parawire.graphs import list_generators
from parawire.nn import build_model
from parawire.runtime.plan import seeded_state_dict

SMALLEST_NORMAL = torch.finfo(torch.float32).tiny  # 1.18e-38


def subnormal_vertices(model: torch.nn.Module, image: torch.Tensor) -> int:
    """Vertices whose output holds at least one nonzero value below the normal range."""
    found: list[bool] = []

    def hook(_module: torch.nn.Module, _args: object, out: torch.Tensor) -> None:
        a = out.abs()
        found.append(bool(((a > 0) & (a < SMALLEST_NORMAL)).any()))

    handles = [m.register_forward_hook(hook) for m in model.vertices.values()]
    try:
        with torch.no_grad():
            model(image)
    finally:
        for h in handles:
            h.remove()
    return sum(found)


def lower_quartile_s(model: torch.nn.Module, image: torch.Tensor, repeats: int) -> float:
    """Lower quartile of one inference's thread CPU time over ``repeats`` runs (3 warm-up)."""
    times = []
    with torch.no_grad():
        for i in range(repeats + 3):
            t0 = time.thread_time()
            model(image)
            if i >= 3:
                times.append(time.thread_time() - t0)
    return statistics.quantiles(times, n=4)[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2", help="generator seeds")
    ap.add_argument("--n", type=int, default=40, help="vertices per spec")
    ap.add_argument("--repeats", type=int, default=10, help="timed runs per round")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of (IEEE, flushed)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print("| generator | seed | vertices with subnormal outputs | IEEE ms | flushed ms | ratio |")
    print("|---|---|---|---|---|---|")
    ratios = []
    for generator in list_generators():
        for seed in (int(s) for s in args.seeds.split(",")):
            spec = generate(generator, seed=seed, n=args.n)
            model = build_model(spec).eval()
            model.load_state_dict(seeded_state_dict(spec, 0))
            image = torch.randn(1, *spec.input_shape, generator=torch.Generator().manual_seed(0))
            count = subnormal_vertices(model, image)
            ieee, flushed = [], []
            for _ in range(args.rounds):
                ieee.append(lower_quartile_s(model, image, args.repeats))
                with inference_settings(1):
                    flushed.append(lower_quartile_s(model, image, args.repeats))
            a, b = min(ieee), min(flushed)
            ratios.append(a / b)
            print(
                f"| {generator} | {seed} | {count} of {len(spec.nodes)} | {a * 1e3:.2f} | "
                f"{b * 1e3:.2f} | {a / b:.2f} |"
            )
    print(f"median IEEE/flushed {statistics.median(ratios):.2f}, max {max(ratios):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
