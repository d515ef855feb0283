"""The seed paper's CIFAR-10 study (EDGE'23 Tables I-VI) in one GPU session, resumable.

Trains, on one GPU, what the paper's tables compare: 3 architectures per generator (er, ba, ws,
dp with probabilistic staging; fb = ws with RandWire's stages), 40 vertices, stem width 32;
CifarNet and ResNet-20; greedy-staging dp (Tables II/III); uniform-channel dp (Table I); 40
epochs of the ``modern`` recipe; plus Table IV (1,000 sampled architectures per cell, no
training). Networks train several at once (``parawire study --workers 0``: as many as the GPU
holds) with the compiled step (parawire.train.steps). The study runs in a child process that is
stopped at ``--budget-s``; everything finished is in the study store and every unfinished
network has its last epoch's checkpoint, so the same command resumes it. Then the tables are
printed with the paper's figures beside them. Flower-102 (Table VI, the 224x224 half of Table I,
the paper's data for Tables II/III) cannot be reached from these machines: said where it applies.

    python benchmarks/gpu_study.py --data ../shared/data/cifar10/cifar10-jpg.tar.gz \\
        --out runs/gpu-study                    # the study, at most --budget-s (540) seconds
    python benchmarks/gpu_study.py --timings --data ../shared/data/cifar10/cifar10-jpg.tar.gz
                                                # seconds per epoch: one dp, ResNet-20, alone
    python benchmarks/gpu_study.py --gpu-tests  # pytest -m gpu (the compiled path on CUDA)
    python benchmarks/gpu_study.py --self-check --out /tmp/gs   # CPU, tiny, 1 epoch (tests)

``make gpu-study DATA=...`` and ``make gpu-check DATA=...`` run the first three.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from parawire.study.config import StudyConfig

STOPPED = 3  # exit status: the budget ran out first (rerun the command to resume)
MARGIN_S = 25  # of the budget kept for stopping the child and printing the tables
GENERATORS = ("er", "ba", "ws", "dp", "ws:fb")  # the paper's Table V rows (fb: Table VI)

# EDGE'23 (Hadidi et al., IEEE EDGE 2023), restated in /work/shared/PAPER-NOTES.md.
PAPER_TABLE_V = {  # CIFAR-10: mean acc, best acc, mean acc/param, best acc/param
    "cifarnet": (80.70, 80.70, 5.38, 5.38),
    "er": (81.33, 81.81, 4.94, 5.03),
    "ba": (80.29, 81.66, 4.81, 4.92),
    "ws": (79.89, 81.45, 4.75, 4.84),
    "dp": (80.87, 82.47, 4.81, 4.90),
}
PAPER_TABLE_I_CIFAR = {"baseline (CifarNet)": 80.70, "uniform": 81.13}
PAPER_TABLE_II_III = {"greedy": (82.01, 2.40), "probabilistic": (84.58, 3.29)}  # Flower-102
PAPER_TABLE_IV = {  # (mean, std) of the parameter count, 40 blocks, 1,000 samples
    ("er", "greedy"): (48.63, 1.11),
    ("ba", "greedy"): (48.33, 0.91),
    ("ws", "greedy"): (42.03, 1.28),
    ("dp", "greedy"): (35.03, 2.25),
    ("er", "probabilistic"): (46.03, 2.70),
    ("ba", "probabilistic"): (45.63, 4.41),
    ("ws", "probabilistic"): (36.44, 3.52),
    ("dp", "probabilistic"): (26.69, 3.05),
}
RESNET18_ACC = 90.8  # the anchor: ResNet-18 on CIFAR-10 here
RESNET18_PARAMS = 11.17e6
FLOWERS = "Flower-102 images are not reachable from these machines: not measured"


def study_config(args: argparse.Namespace) -> StudyConfig:
    """The study: the paper's scale on CIFAR-10, or a tiny CPU run for ``--self-check``."""
    if args.self_check:
        return StudyConfig(
            dataset="digits" if args.data is None else "cifar10",
            data=args.data,
            dataset_options=(("train_subset", 128), ("test_subset", 64)),
            samples=1,
            epochs=1,
            generators=("dp",),
            baselines=("cifarnet",),
            staging_generators=("dp",),
            uniform_samples=1,
            large_size=0,
            vertices=6,
            channels=8,
            c_max=32,
            stem_stride=2,
            param_samples=2,
            param_vertices=6,
            batch_size=32,
            device="cpu",
            workers=1,
            compile=False,
        )
    return StudyConfig(
        dataset="cifar10",
        data=args.data,
        samples=args.samples,
        epochs=args.epochs,
        generators=GENERATORS,
        baselines=("cifarnet", "resnet"),
        staging_generators=("dp",),
        uniform_samples=args.samples,
        large_size=0,  # the paper's larger input is Flower-102 at 224x224 (not reachable)
        param_samples=args.param_samples,
        workers=args.workers,
        compile_mode=args.compile_mode,
    )


def config_to_json(cfg: StudyConfig) -> str:
    """The config for the child process (tuples become lists)."""
    return json.dumps(dataclasses.asdict(cfg))


def config_from_json(text: str) -> StudyConfig:
    """Inverse of :func:`config_to_json`."""
    data = json.loads(text)
    for f in dataclasses.fields(StudyConfig):
        if isinstance(data.get(f.name), list):
            data[f.name] = tuple(tuple(v) if isinstance(v, list) else v for v in data[f.name])
    return StudyConfig(**data)


def child(cfg_json: str, out: Path) -> None:
    """The training child: ``run_study`` without Table IV (computed beside it)."""
    from parawire.study import run_study

    cfg = dataclasses.replace(config_from_json(cfg_json), param_samples=0)
    run_study(cfg, out, log=lambda line: print(line, flush=True))


def _stability_cell(cfg_json: str, out: str, gen: str, staging: str) -> None:
    from parawire.study.runner import load_splits, param_stability_key
    from parawire.study.store import StudyStore

    cfg = config_from_json(cfg_json)
    splits = load_splits(cfg)
    key = param_stability_key(cfg, gen, staging, splits.input_shape, splits.num_classes)
    store = StudyStore(Path(out))
    if key not in store.stability():
        from parawire.study.runner import param_stability

        store.put_stability(
            key, param_stability(gen, staging, cfg, splits.input_shape, splits.num_classes)
        )


def table_iv(cfg: StudyConfig, out: Path, processes: int) -> ProcessPoolExecutor | None:
    """Start Table IV's cells in ``processes`` processes (no GPU; beside the training)."""
    from parawire.study.tables import STABILITY_GENERATORS, STABILITY_STAGINGS

    if cfg.param_samples == 0:
        return None
    pool = ProcessPoolExecutor(processes)
    for gen in STABILITY_GENERATORS:
        for staging in STABILITY_STAGINGS:
            pool.submit(_stability_cell, config_to_json(cfg), str(out), gen, staging)
    return pool


def run_with_budget(cfg: StudyConfig, out: Path, budget_s: float, cache: Path | None) -> int:
    """Run the study's training in a child process for at most ``budget_s``: 0 finished, 3
    stopped at the budget, else the child's failing exit status. The child and its workers
    form one process group, stopped together."""
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if cache is not None:  # compiled kernels kept with the study: a resumed call reuses them
        env.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache))
    cmd = [sys.executable, __file__, "--child", config_to_json(cfg), "--out", str(out)]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    try:
        return proc.wait(timeout=max(1.0, budget_s))
    except subprocess.TimeoutExpired:
        print(f"budget of {budget_s:.0f}s reached: stopping (rerun the command to resume)")
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        return STOPPED
    finally:
        if proc.poll() is None:  # interrupted: take the child's group down with us
            os.killpg(proc.pid, signal.SIGKILL)


def comparison(cfg: StudyConfig, out: Path) -> str:
    """The study's tables (from the store: finished networks only) beside the paper's."""
    from parawire.report.tables import to_markdown
    from parawire.study.jobs import plan_jobs
    from parawire.study.runner import build_tables, load_splits, stability_cells
    from parawire.study.store import StudyStore

    splits = load_splits(cfg)
    native = splits.input_shape[1]
    planned = {j.id: i for i, j in enumerate(plan_jobs(cfg, native))}
    store = StudyStore(out)
    rows = sorted((r for r in store.rows() if r["job"] in planned), key=lambda r: planned[r["job"]])
    from parawire.study.runner import add_analysis

    rows = [add_analysis(r, cfg) for r in rows]
    cells = stability_cells(cfg, store, splits.input_shape, splits.num_classes, None)
    tables = {t.name: t for t in build_tables(rows, cells, cfg, native)}
    lines = [
        f"# {cfg.dataset} study: {len(rows)} of {len(planned)} networks finished, "
        f"{cfg.epochs} epochs, recipe {cfg.recipe}",
        "",
        "## Table V (CIFAR-10): generators vs CifarNet; paper: mean / best acc %, acc/param",
        to_markdown(tables["generators"]),
    ]
    lines += [f"- paper {name}: {m:.2f} / {b:.2f}% ({mp}, {bp} acc/param in the paper's unit)"
              for name, (m, b, mp, bp) in PAPER_TABLE_V.items()]  # fmt: skip
    lines += ["", "## Table VI (Flower-102)", FLOWERS, ""]
    lines += ["## Table I: uniform channels (CIFAR-10 32x32)", to_markdown(tables["uniform"])]
    lines += [f"- paper {k}: {v:.2f}%" for k, v in PAPER_TABLE_I_CIFAR.items()]
    lines += [f"- Table I at 224x224 (Flower-102, ResNet-50 87.80 vs uniform 74.73): {FLOWERS}"]
    lines += ["", "## Tables II/III: greedy vs probabilistic staging (here CIFAR-10)"]
    lines += [to_markdown(tables["staging"])]
    lines += [f"- paper (Flower-102) {k}: {a:.2f}%, {p:.2f} acc/param"
              for k, (a, p) in PAPER_TABLE_II_III.items()]  # fmt: skip
    lines += [f"- Tables II/III on Flower-102 as in the paper: {FLOWERS}", ""]
    if "param_stability" in tables:
        lines += [
            "## Table IV: parameter count, mean and std",
            to_markdown(tables["param_stability"]),
        ]
        lines += [f"- paper {g} {s}: {m}, {d} (the paper's unit)"
                  for (g, s), (m, d) in PAPER_TABLE_IV.items()]  # fmt: skip
    lines += ["", best_dp_line(rows, cfg.devices)]
    return "\n".join(lines)


def best_dp_line(rows: list[dict[str, Any]], devices: int) -> str:
    """The best dp network against ResNet-18's accuracy with a third of its parameters."""
    dps = [r for r in rows if r["kind"] == "generator" and r["group"] == "dp"]
    resnet = [r for r in rows if r["kind"] == "baseline" and r["group"] == "resnet20"]
    parts = []
    if resnet:
        parts.append(f"ResNet-20 {resnet[0]['test_acc']:.2f}% (target >= 91%)")
    if dps:
        best = max(dps, key=lambda r: r["test_acc"])
        speed = "-" if best.get("speedup") is None else f"{best['speedup']:.2f}x"
        third = best["params"] < RESNET18_PARAMS / 3
        parts.append(
            f"best dp {best['test_acc']:.2f}% (target >= {RESNET18_ACC}%), "
            f"{best['params'] / 1e6:.3f} M parameters ({'under' if third else 'not under'} a "
            f"third of ResNet-18's {RESNET18_PARAMS / 1e6:.1f} M), recommended deployment on "
            f"up to {devices} devices {speed}, {best.get('devices_used')} used"
        )
    return "; ".join(parts) or "no dp network or ResNet-20 finished yet"


def timings(data: str | None, epochs: int) -> None:
    """Seconds per CIFAR-10 epoch of one 40-vertex dp network and of ResNet-20, each alone on
    the GPU, compiled and eager (the first epoch includes compilation)."""
    import parawire
    from parawire.arch import StagingConfig
    from parawire.data import load_dataset
    from parawire.nn.model_ref import ModelRef
    from parawire.train import Trainer, create_recipe

    if data is not None:
        splits = load_dataset("cifar10", root=data)
    else:  # same shapes and sizes, for a machine without the archive
        splits = load_dataset("synthetic", num_train=50_000, num_test=10_000, image_size=32)
    spec = parawire.generate(
        "dp", seed=0, staging=StagingConfig("probabilistic", channels=32, c_max=256),
        input_shape=(3, 32, 32), num_classes=10, n=40,
    )  # fmt: skip
    for source in (ModelRef.from_spec(spec), ModelRef.named("resnet20")):
        for compile in (True, False):
            t = Trainer(source, splits, create_recipe("modern"), epochs=epochs, compile=compile)
            t.fit()
            secs = [f"{r.seconds:.2f}" for r in t.result.history]
            print(
                f"{source.label} {t.compilation.describe()}: epochs {', '.join(secs)} s; "
                f"test {t.result.test_acc:.2f}%; {t.result.images_per_s:,.0f} images/s",
                flush=True,
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="the CIFAR-10 archive (or another layout)")
    parser.add_argument("--out", type=Path, default=Path("runs/gpu-study"))
    parser.add_argument("--budget-s", type=float, default=540.0, help="wall-time limit, seconds")
    parser.add_argument("--samples", type=int, default=3, help="architectures per generator")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--param-samples", type=int, default=1000, help="Table IV samples")
    parser.add_argument("--workers", type=int, default=0, help="networks at once (0: auto)")
    parser.add_argument("--compile-mode", default=None, help="torch.compile mode override")
    parser.add_argument("--compile-cache", type=Path, default=None,
                        help="inductor cache (default: OUT/inductor-cache)")  # fmt: skip
    parser.add_argument("--self-check", action="store_true", help="tiny CPU run (the tests)")
    parser.add_argument("--timings", action="store_true", help="seconds per epoch, alone")
    parser.add_argument("--timing-epochs", type=int, default=3)
    parser.add_argument("--gpu-tests", action="store_true", help="pytest -m gpu")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        child(args.child, args.out)
        return 0
    if args.gpu_tests:
        tests = Path(__file__).resolve().parent.parent / "tests" / "test_train_fast.py"
        return subprocess.call([sys.executable, "-m", "pytest", "-q", "-m", "gpu", str(tests)])
    if args.timings:
        timings(args.data, args.timing_epochs)
        return 0
    if args.data is None and not args.self_check:
        parser.error("--data (the CIFAR-10 archive) is needed for the study")
    t0 = time.perf_counter()
    cfg = study_config(args).check()
    pool = table_iv(cfg, args.out, processes=1 if args.self_check else 4)
    cache = None if args.self_check else (args.compile_cache or args.out / "inductor-cache")
    status = run_with_budget(cfg, args.out, args.budget_s - MARGIN_S, cache)
    if pool is not None:
        pool.shutdown(wait=True)
    print(comparison(cfg, args.out))
    state = {0: "finished", STOPPED: "stopped at the budget (rerun the command to resume)"}
    print(
        f"\nstudy {state.get(status, f'failed (exit status {status}; see above)')}; "
        f"{time.perf_counter() - t0:.0f}s for this call"
    )
    return status


if __name__ == "__main__":
    sys.exit(main())
