"""Running a study: train every planned job not yet in the store, analyse, tabulate, write.

Outputs in the study folder: ``study.sqlite`` (the results store), ``runs/<job>/`` (each
network's checkpoints, weights and metrics), ``results.csv`` / ``results.json`` (one row per
network, with its spec digest), ``tables.md``, ``tables.json`` and ``tables/<name>.csv``.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from parawire._io import atomic_write_text, write_csv, write_json
from parawire.analysis.costs import spec_costs
from parawire.arch import StagingConfig, generate
from parawire.data import ImageSplits, load_dataset, resize_splits
from parawire.filenames import (
    CHECKPOINT_FILE,
    STUDY_RESULTS,
    STUDY_RESULTS_CSV,
    STUDY_TABLES,
    STUDY_TABLES_DIR,
    STUDY_TABLES_MD,
)
from parawire.measure import available_cores
from parawire.report.tables import Table, to_csv, to_markdown
from parawire.study.analysis_step import analyses_for_study, analyze_for_study
from parawire.study.config import StudyConfig
from parawire.study.jobs import Job, job_source, plan_jobs
from parawire.study.packing import UtilisationSampler, networks_per_device
from parawire.study.store import StudyStore
from parawire.study.tables import (
    STABILITY_GENERATORS,
    STABILITY_STAGINGS,
    acc_per_mparam,
    generators_table,
    merge_table,
    stability_table,
    staging_table,
    uniform_table,
)
from parawire.train.loop import train_model
from parawire.train.recipes import create_recipe

Log = Callable[[str], None]
RESULT_COLUMNS = (
    "job", "kind", "group", "staging", "merge", "size", "sample", "digest", "params", "macs",
    "test_acc", "acc_per_mparam", "train_seconds", "images_per_s", "compiled", "speedup",
    "devices_used", "paper_speedup", "comm_bytes", "eta", "cs",
)  # fmt: skip
ANALYSIS_KEYS = ("speedup", "devices_used", "paper_speedup", "comm_bytes", "eta", "cs")


@dataclass
class StudyOutcome:
    """What a study run produced."""

    rows: list[dict[str, Any]]  # one per network, in the planned order
    tables: list[Table]
    trained: int  # networks trained in this run (the rest came from the store)
    seconds: float  # wall time of this run
    gpu: dict[str, Any]  # packing (workers, why) and the GPU's utilisation while training


def load_splits(cfg: StudyConfig) -> ImageSplits:
    """The study's data set, with its ``dataset_options`` (e.g. a seeded subset)."""
    return load_dataset(cfg.dataset, root=cfg.data, **dict(cfg.dataset_options))


def run_job(
    job: Job, cfg: StudyConfig, splits: ImageSplits, folder: Path, log: Log | None
) -> dict[str, Any]:
    """Train and evaluate one job (resuming its checkpoint if a previous run was cut off)."""
    c, _, _ = splits.input_shape
    source = job_source(job, cfg, c, splits.num_classes)
    recipe = create_recipe(cfg.recipe, batch_size=cfg.batch_size, lr=cfg.lr)
    run_dir = folder / "runs" / job.slug
    result = train_model(
        source,
        splits,
        recipe,
        epochs=cfg.epochs,
        seed=cfg.seed,
        out=run_dir,
        resume=(run_dir / CHECKPOINT_FILE).is_file(),
        device=cfg.device,
        compile=cfg.compile,
        compile_mode=cfg.compile_mode,
    )
    spec = source.spec
    row: dict[str, Any] = {
        "job": job.id,
        "kind": job.kind,
        "group": job.group,
        "staging": job.staging,
        "merge": spec.merge if spec is not None else None,
        "size": job.size,
        "sample": job.sample,
        "digest": source.digest,
        "params": result.params,
        "macs": spec_costs(spec).total_macs if spec is not None else None,
        "test_acc": result.test_acc,
        "train_seconds": result.train_seconds,
        "images_per_s": result.images_per_s,
        "compiled": result.compiled,
        "spec": spec.to_dict() if spec is not None else None,
        "analysis": None,
    }
    row["acc_per_mparam"] = acc_per_mparam(row)
    return add_analysis(row, cfg)


def add_analysis(row: dict[str, Any], cfg: StudyConfig) -> dict[str, Any]:
    """Fill a generated network's deployment figures (``ANALYSIS_KEYS``) if not done yet."""
    if row.get("spec") is not None and row.get("analysis") is None:
        from parawire.arch.spec import ArchSpec

        row["analysis"] = analyze_for_study(ArchSpec.from_dict(row["spec"]), cfg)
    analysis = row.get("analysis") or {}
    for key in ANALYSIS_KEYS:
        row[key] = analysis.get(key)
    return row


def param_stability(
    generator: str, staging: str, cfg: StudyConfig, input_shape: tuple[int, int, int], classes: int
) -> dict[str, Any]:
    """Mean and std of the parameter count of ``param_samples`` sampled architectures."""
    counts = [
        spec_costs(
            generate(
                generator,
                seed=s,
                staging=StagingConfig(staging, channels=cfg.channels, c_max=cfg.c_max),
                input_shape=input_shape,
                num_classes=classes,
                n=cfg.param_vertices,
                stem_stride=cfg.stem_stride,
            )
        ).total_params
        for s in range(cfg.param_samples)
    ]
    return {
        "generator": generator,
        "staging": staging,
        "count": len(counts),
        "mean": statistics.fmean(counts),
        "std": statistics.pstdev(counts),
        "vertices": cfg.param_vertices,
        "channels": cfg.channels,
        "c_max": cfg.c_max,
    }


def run_study(cfg: StudyConfig, folder: Path, *, log: Log | None = None) -> StudyOutcome:
    """Run (or extend) the study in ``folder``; see the module docstring for the outputs."""
    t0 = time.perf_counter()
    cfg.check()
    # everything that can fail on a bad option fails before the folder holds anything
    splits = load_splits(cfg)
    native = splits.input_shape[1]
    jobs = plan_jobs(cfg, native)
    for job in jobs:
        job_source(job, cfg, splits.input_shape[0], splits.num_classes)  # generates each spec
    store = StudyStore(folder)
    store.check_settings(cfg.training_key())
    done = store.done()
    sized: dict[int, ImageSplits] = {native: splits}
    todo = [j for j in jobs if j.id not in done]
    if log:
        log(f"study {folder}: {len(jobs)} networks, {len(jobs) - len(todo)} already done")

    def finished(i: int, job: Job, row: dict[str, Any]) -> None:
        store.put(job.id, row)
        if log:
            speed = "-" if row["speedup"] is None else f"{row['speedup']:.2f}x"
            log(
                f"[{i}/{len(todo)}] {job.id}: {row['test_acc']:.2f}% top-1, "
                f"{row['params'] / 1e6:.3f}M params, speedup {speed} on {cfg.profile}"
            )

    packing = networks_per_device(cfg.device, len(todo), cfg.workers)
    if log and todo:
        log(f"training {packing.workers} network(s) at once: {packing.reason}")
    with UtilisationSampler(cfg.device) as sampler:
        if packing.workers > 1:
            _run_parallel(todo, cfg, packing.workers, folder, finished)
        else:
            for i, job in enumerate(todo, 1):
                if job.size not in sized:
                    sized[job.size] = resize_splits(splits, job.size)
                finished(i, job, run_job(job, cfg, sized[job.size], folder, log))
    gpu = {"workers": packing.workers, "packing": packing.reason, **sampler.summary()}
    if not todo:
        gpu = {"note": "nothing trained in this run"}
    planned = {j.id: i for i, j in enumerate(jobs)}
    rows = [row for row in store.rows() if row["job"] in planned]
    missing = [r for r in rows if r.get("spec") is not None and r.get("analysis") is None]
    if missing:  # rows stored without their analysis: scored in one batch
        from parawire.arch.spec import ArchSpec

        specs = [ArchSpec.from_dict(r["spec"]) for r in missing]
        for row, analysis in zip(missing, analyses_for_study(specs, cfg), strict=True):
            row["analysis"] = analysis
            store.put(row["job"], add_analysis(row, cfg))
    rows.sort(key=lambda r: planned[r["job"]])  # the order of --generators and --baselines
    cells = stability_cells(cfg, store, splits.input_shape, splits.num_classes, log)
    tables = build_tables(rows, cells, cfg, native)
    write_outputs(folder, cfg, rows, tables, gpu)
    return StudyOutcome(rows, tables, len(todo), time.perf_counter() - t0, gpu)


_WORKER_SPLITS: dict[int, ImageSplits] = {}  # one worker process's data, by input side


def _worker_init(cfg: StudyConfig, threads: int) -> None:
    """A training worker: load the data set once (from the cache) and share the cores (also
    inductor's compile workers: by default each process would start one per core)."""
    torch.set_num_threads(threads)
    os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", str(threads))
    splits = load_splits(cfg)
    _WORKER_SPLITS[splits.input_shape[1]] = splits


def _worker_job(job: Job, cfg: StudyConfig, folder: Path) -> dict[str, Any]:
    """Train one job in a worker process (no per-epoch log: the parent reports completions)."""
    if job.size not in _WORKER_SPLITS:
        native = next(iter(_WORKER_SPLITS.values()))
        _WORKER_SPLITS[job.size] = resize_splits(native, job.size)
    return run_job(job, cfg, _WORKER_SPLITS[job.size], folder, None)


def _run_parallel(
    todo: list[Job],
    cfg: StudyConfig,
    workers: int,
    folder: Path,
    finished: Callable[[int, Job, dict[str, Any]], None],
) -> None:
    """Train ``todo`` on ``cfg.workers`` processes; each result is stored as it comes in.

    On a GPU the networks of a study are small enough that one process leaves the device mostly
    idle (kernel launches dominate), so several training processes share it; on a CPU the
    cores are split between them. A killed study keeps every stored network and each
    network's last epoch checkpoint.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    threads = max(1, len(available_cores()) // workers)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_worker_init, initargs=(cfg, threads)
    ) as pool:
        futures = {pool.submit(_worker_job, job, cfg, folder): job for job in todo}
        for i, future in enumerate(as_completed(futures), 1):
            finished(i, futures[future], future.result())


def param_stability_key(
    cfg: StudyConfig, gen: str, staging: str, input_shape: tuple[int, int, int], classes: int
) -> str:
    """The store's key of one Table IV cell: everything its parameter counts depend on."""
    return (
        f"{gen}/{staging}/n{cfg.param_vertices}/c{cfg.channels}/m{cfg.c_max}/"
        f"{'x'.join(map(str, input_shape))}/k{classes}/s{cfg.param_samples}/"
        f"t{cfg.stem_stride}"
    )


def stability_cells(
    cfg: StudyConfig,
    store: StudyStore,
    input_shape: tuple[int, int, int],
    classes: int,
    log: Log | None,
) -> dict[str, dict[str, Any]]:
    """Table IV cells, computed once per setting and kept in the store."""
    stored = store.stability()
    cells: dict[str, dict[str, Any]] = {}
    if cfg.param_samples == 0:
        return cells
    for gen in STABILITY_GENERATORS:
        for staging in STABILITY_STAGINGS:
            key = param_stability_key(cfg, gen, staging, input_shape, classes)
            if key not in stored:
                if log:
                    log(f"parameter stability: {cfg.param_samples} {gen} {staging} architectures")
                store.put_stability(key, param_stability(gen, staging, cfg, input_shape, classes))
                stored = store.stability()
            cells[f"{gen}/{staging}"] = stored[key]
    return cells


def build_tables(
    rows: list[dict[str, Any]], cells: dict[str, dict[str, Any]], cfg: StudyConfig, native: int
) -> list[Table]:
    """Every table of the study, from its rows and Table IV cells."""
    tables = [
        generators_table(rows, native, cfg.devices, cfg.profile),
        staging_table(rows, native),
    ]
    if cfg.merge_generators:
        tables.append(merge_table(rows, native, cfg.devices, cfg.profile))
    if cfg.uniform_generator:
        tables.append(uniform_table(rows, native, cfg.uniform_generator))
    if cells:
        tables.append(stability_table(cells))
    return tables


def environment() -> dict[str, Any]:
    """What, besides the seed, decides the trained weights on a CPU: torch's version, its thread
    count (reductions split differently) and the instruction set its kernels use (AVX2,
    AVX-512...; ``ATEN_CPU_CAPABILITY`` and ``ONEDNN_MAX_CPU_ISA`` pin it). Recorded with the
    results so that figures from two machines can be told apart (docs/training.md)."""
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "ATEN_CPU_CAPABILITY": os.environ.get("ATEN_CPU_CAPABILITY"),
        "ONEDNN_MAX_CPU_ISA": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }


def throughput_line(rows: list[dict[str, Any]], gpu: dict[str, Any]) -> str:
    """One line for tables.md: networks at once, GPU utilisation, images/s per network."""
    rates = [r["images_per_s"] for r in rows if r.get("images_per_s")]
    per_net = (
        f"images/s per network {min(rates):,.0f}-{max(rates):,.0f} (median "
        f"{statistics.median(rates):,.0f}; results.csv)"
        if rates
        else "images/s per network not recorded"
    )
    if "mean_pct" in gpu:
        util = f"GPU utilisation {gpu['mean_pct']:.0f}% mean, {gpu['max_pct']}% max"
    else:
        util = f"GPU utilisation {gpu.get('note', 'not recorded')}"
    at_once = (
        f"{gpu['workers']} network(s) at once ({gpu['packing']}); " if "workers" in gpu else ""
    )
    return f"Training: {at_once}{util}; {per_net}."


def write_outputs(
    folder: Path,
    cfg: StudyConfig,
    rows: list[dict[str, Any]],
    tables: list[Table],
    gpu: dict[str, Any] | None = None,
) -> None:
    """results.csv/json, tables.md/json and tables/<name>.csv in ``folder``."""
    write_csv(folder / STUDY_RESULTS_CSV, RESULT_COLUMNS, rows)
    env = environment()
    write_json(
        folder / STUDY_RESULTS,
        {"config": cfg.to_dict(), "environment": env, "gpu": gpu or {}, "rows": rows},
    )
    write_json(folder / STUDY_TABLES, [t.to_dict() for t in tables])
    for t in tables:
        atomic_write_text(folder / STUDY_TABLES_DIR / f"{t.name}.csv", to_csv(t))
    device = cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")
    head = (
        f"# Study: {cfg.dataset}, {cfg.samples} samples per generator, {cfg.epochs} epochs, "
        f"recipe {cfg.recipe}\n\nDevice: {device}; torch {env['torch']}, {env['threads']} "
        f"thread(s), CPU kernels {env['cpu_capability']}; configuration and environment in "
        f"results.json.\n\n{throughput_line(rows, gpu or {})}\n\n"
    )
    atomic_write_text(folder / STUDY_TABLES_MD, head + "\n".join(to_markdown(t) for t in tables))
