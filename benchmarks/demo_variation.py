"""What changes the demo's accuracies: train some of `parawire demo`'s networks exactly as the
demo does (digits, 4 epochs, batch 64, lr 0.15, seed 0) and print each one's final test top-1
and a digest of its trained weights.

Run it twice with the same settings to see that training is deterministic on one machine; run
it with another thread count (``--threads``) or with torch's CPU kernels pinned to another
instruction set (``ATEN_CPU_CAPABILITY=default``, ``ONEDNN_MAX_CPU_ISA=SSE41``: what another
CPU would pick) to see what varies between machines:

    .venv/bin/python benchmarks/demo_variation.py                       # 1 thread, as the demo
    .venv/bin/python benchmarks/demo_variation.py --threads 2
    ATEN_CPU_CAPABILITY=default .venv/bin/python benchmarks/demo_variation.py
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os

import torch

from parawire.data import load_dataset
from parawire.study import demo_config
from parawire.study.jobs import job_source, plan_jobs
from parawire.train import Trainer, create_recipe

JOBS = ("baseline/cifarnet/32/s000", "generator/chain/32/s000", "generator/dp/32/s000")


def weights_digest(model: torch.nn.Module) -> str:
    """First 12 hex digits of the SHA-256 over the state dict's bytes."""
    h = hashlib.sha256()
    for key, t in sorted(model.state_dict().items()):
        h.update(
            key.encode() + t.detach().contiguous().view(-1).view(torch.uint8).numpy().tobytes()
        )
    return h.hexdigest()[:12]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the demo: 1)")
    parser.add_argument("--jobs", default=",".join(JOBS), help="demo job ids, comma-separated")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = demo_config()
    splits = load_dataset(cfg.dataset)
    planned = {j.id: j for j in plan_jobs(cfg, splits.input_shape[1])}
    recipe = create_recipe(cfg.recipe, batch_size=cfg.batch_size, lr=cfg.lr)
    env = {k: os.environ.get(k) for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")}
    capability = torch.backends.cpu.get_cpu_capability()
    print(json.dumps({"torch": torch.__version__, "threads": args.threads,
                      "cpu_capability": capability, **env}))  # fmt: skip
    for job_id in args.jobs.split(","):
        source = job_source(planned[job_id], cfg, splits.input_shape[0], splits.num_classes)
        trainer = Trainer(source, splits, recipe, epochs=cfg.epochs, seed=cfg.seed)
        result = trainer.fit()
        history = [round(r.test_acc, 2) for r in result.history]
        print(json.dumps({"job": job_id, "test_acc": round(result.test_acc, 2),
                          "weights": weights_digest(trainer.model), "history": history}),
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
