"""Collect measured latencies of randomly sampled architectures into a ``LatencyStore``.

    parawire latency collect --samples 300 --devices 1 --out latency.db
    parawire latency collect --samples 300 --devices 2 --out latency.db  # k = 2, same specs
    parawire latency collect --samples 50 --devices 4 --emulate rpi4-ethernet --out latency.db

The job list is a pure function of the seed: sample ``i`` draws its generator, size, width,
staging, merge mode and wire dtype from ``(seed, i)`` alone (so a larger ``--samples`` extends
the list, never reshuffles it), and its placement on k devices from ``(seed, i, k)``: the one
the analysis recommends, or (``1 - recommended_share`` of the time) a random one. A job whose
row is already in the store is skipped, every row is committed on its own: kill the command at
any time, rerun it, nothing finished is lost and nothing is measured twice.

Sizes: ``min_nodes``..``max_nodes`` bound the spec's vertices (staging adds input and merge
vertices to the generator's ``n``: a draw over ``max_nodes`` is redrawn with a smaller ``n``).

Measurement hygiene (``parawire.latency.rounds``): a fixed number of torch threads, warm-up
inferences, then ``repeats`` timed ones in each of ``processes`` fresh processes, the jobs of a
batch of ``interleave`` interleaved between rounds; the row keeps the median, the range and the
spread between processes, flagged noisy when that spread exceeds ``noise_threshold`` of the
median (``store.summarize``). On a machine other work shares, wall-clock times measure the load
as much as the network; ``clock="cpu"`` (k = 1 only, one thread) times each inference by the
CPU time of the thread that runs it (``time.thread_time``), which waiting for a core does not
inflate; those rows carry the profile ``local-cputime``. k > 1 runs through the runtime
(``run_local``: real loopback processes, or with ``emulate`` every vertex padded to a device
profile's time and every transfer to its link's, time-dilated by ``dilation``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from parawire.analysis.costs import WIRE_DTYPES
from parawire.arch.generate import STAGINGS, StagingConfig, generate
from parawire.arch.spec import MERGES, ArchSpec
from parawire.errors import ConfigError, ParawireError
from parawire.latency.store import (
    NOISE_THRESHOLD,
    REAL,
    REAL_CPU,
    LatencyStore,
    MeasurementKey,
    machine_fingerprint,
    placement_text,
)
from parawire.progress import ProgressFn

CHANNELS = (8, 16, 32, 48)  # stem widths sampled
PLACEMENT_KINDS = ("recommended", "random")
PHASE = "architectures timed"  # the progress phase of a collection


@dataclass(frozen=True)
class CollectConfig:
    """What to sample and how to measure it."""

    samples: int = 100  # architectures (sample indices 0..samples-1)
    devices: tuple[int, ...] = (1,)  # k values; each sample is measured at each
    seed: int = 0  # fixes the whole job list
    threads: int = 1  # torch threads per process
    repeats: int = 15  # timed inferences per measurement
    warmup: int = 3  # untimed inferences before them
    emulate: str | None = None  # device profile to emulate (runtime device emulation)
    min_nodes: int = 6  # graph sizes sampled uniformly in [min_nodes, max_nodes]
    max_nodes: int = 32
    recommended_share: float = 0.75  # k > 1: share of jobs on the analysis' placement
    profile: str = "local-cpu"  # profile the recommended placement is chosen on (real runs)
    timeout: float = 120.0  # seconds any wait of a distributed run may last
    generators: tuple[str, ...] = field(default=())  # () = every registered generator
    clock: str = "wall"  # "wall", or "cpu": the thread's CPU time (k = 1, one thread, real)
    processes: int = 3  # fresh-process rounds per row (0: this process, one round)
    interleave: int = 8  # jobs per batch whose rounds are interleaved (rows stored per batch)
    dilation: str = "1"  # emulation: time dilation factor, or "auto" (runtime.dilation)
    noise_threshold: float = NOISE_THRESHOLD  # process spread over the median flagged noisy

    def check(self) -> None:
        """``ConfigError`` on a value out of range."""
        if self.samples < 0:
            raise ConfigError(f"--samples must be >= 0, got {self.samples}")
        if not self.devices or any(k < 1 or k > 16 for k in self.devices):
            raise ConfigError(f"--devices must list k values in 1..16, got {self.devices}")
        if self.threads < 1 or self.repeats < 1 or self.warmup < 0:
            raise ConfigError("--threads and --repeats must be >= 1 and --warmup >= 0")
        if not 4 <= self.min_nodes <= self.max_nodes <= 200:
            raise ConfigError(
                f"node range {self.min_nodes}..{self.max_nodes} must satisfy 4 <= min <= max <= 200"
            )
        if self.clock not in ("wall", "cpu"):
            raise ConfigError(f"--clock must be wall or cpu, got {self.clock!r}")
        if self.clock == "cpu" and (self.devices != (1,) or self.threads != 1 or self.emulate):
            raise ConfigError(
                "--clock cpu times one thread of one process: use it with --devices 1, "
                "--threads 1 and no --emulate"
            )
        if not 0.0 <= self.recommended_share <= 1.0:
            raise ConfigError("recommended_share must be in [0, 1]")
        if self.processes < 0 or self.interleave < 1 or not self.noise_threshold > 0:
            raise ConfigError("--processes must be >= 0, --interleave >= 1, the threshold > 0")
        self._check_dilation()

    def _check_dilation(self) -> None:
        if self.dilation == "auto":
            return
        try:
            factor = float(self.dilation)
        except ValueError:
            factor = 0.0
        if not factor >= 1.0:
            raise ConfigError(f"--dilation must be a number >= 1 or auto, got {self.dilation!r}")
        if factor > 1.0 and self.emulate is None:
            raise ConfigError("--dilation applies to device emulation: add --emulate PROFILE")


@dataclass(frozen=True)
class Job:
    """One measurement to make."""

    index: int  # sample index
    devices: int  # k
    spec: ArchSpec
    placement: dict[int, int]  # vertex -> device (input on 0, devices 0..m-1 used)
    placement_kind: str
    wire_dtype: str


def sample_spec(seed: int, index: int, config: CollectConfig) -> ArchSpec:
    """Architecture ``index`` of the sample list of ``seed`` (same in any process), with
    ``min_nodes``..``max_nodes`` vertices."""
    from parawire.graphs import list_generators

    rng = np.random.default_rng([seed, index, 0x1A7])
    names = list(config.generators or list_generators())
    for _ in range(20):  # a few parameter draws are invalid for some generators (bounded)
        name = names[int(rng.integers(len(names)))]
        n = int(rng.integers(config.min_nodes, config.max_nodes + 1))
        staging = STAGINGS[int(rng.integers(len(STAGINGS)))]
        channels = CHANNELS[int(rng.integers(len(CHANNELS)))]
        merge = MERGES[int(rng.integers(len(MERGES)))]
        params = _generator_params(name, n, rng)
        options = {
            "seed": int(rng.integers(2**31)),
            "staging": StagingConfig(name=staging, channels=channels, c_max=max(channels, 128)),
            "merge": merge,
        }
        spec = _within_size(name, params, options, config)
        if spec is not None:
            return spec
    raise ConfigError(f"sample {index}: no valid architecture in 20 draws; widen the node range")


def _within_size(
    name: str, params: dict[str, Any], options: dict[str, Any], config: CollectConfig
) -> ArchSpec | None:
    """The architecture of ``params``, its generator ``n`` lowered until staging's extra
    vertices fit under ``max_nodes``; None when no valid one does (a few tries)."""
    for _ in range(4):
        try:
            spec = generate(name, **options, **params)
        except ConfigError:
            return None
        excess = len(spec.nodes) - config.max_nodes
        if excess <= 0:
            return spec if len(spec.nodes) >= config.min_nodes else None
        params = {**params, "n": params["n"] - excess}
        if params["n"] < 2:
            return None
    return None


def _generator_params(name: str, n: int, rng: np.random.Generator) -> dict[str, Any]:
    """Parameters of generator ``name`` for ``n`` vertices, drawn from sensible ranges."""
    if name == "er":
        return {"n": n, "p": float(rng.uniform(0.1, 0.4))}
    if name == "ba":
        return {"n": n, "m": int(rng.integers(1, min(4, n - 1) + 1))}
    if name == "ws":
        return {"n": n, "k": 2 * int(rng.integers(1, 3)), "p": float(rng.uniform(0.2, 0.9))}
    if name == "lanes":
        widths = [w for w in (2, 3, 4) if n % w == 0] or [1]
        return {"n": n, "width": widths[int(rng.integers(len(widths)))]}
    return {"n": n}


def _placement(spec: ArchSpec, k: int, kind: str, rng: np.random.Generator, config: CollectConfig,
               wire_dtype: str) -> dict[int, int]:  # fmt: skip
    """A placement on up to ``k`` devices, input vertex on device 0 and no unused device."""
    if k == 1:
        return {n.id: 0 for n in spec.nodes}
    from parawire.runtime.planner import input_first

    if kind == "recommended":
        from parawire.latency.differentiable import recommended_placement

        profile = config.emulate or config.profile
        raw = recommended_placement(spec, k, profile, wire_dtype)
    else:
        raw = {n.id: int(rng.integers(k)) for n in spec.nodes}
    return input_first(raw, spec)


def iter_jobs(config: CollectConfig) -> Iterator[Job]:
    """The deterministic job list of ``config`` (module docstring), made one job at a time
    (a recommended placement costs an analysis): ``config.samples * len(config.devices)``."""
    config.check()
    for i in range(config.samples):
        spec = sample_spec(config.seed, i, config)
        for k in config.devices:
            rng = np.random.default_rng([config.seed, i, k, 0xD15])
            wire = "float32" if k == 1 else WIRE_DTYPES[int(rng.integers(len(WIRE_DTYPES)))]
            kind = "recommended" if rng.random() < config.recommended_share else "random"
            placement = _placement(spec, k, kind, rng, config, wire)
            yield Job(i, k, spec, placement, kind if k > 1 else "single", wire)


def job_key(job: Job, config: CollectConfig) -> MeasurementKey:
    """The store key of ``job`` on this machine and torch version."""
    import torch

    return MeasurementKey(
        digest=job.spec.digest(),
        devices=job.devices,
        placement=placement_text(job.spec, job.placement),
        profile=config.emulate or (REAL_CPU if config.clock == "cpu" else REAL),
        wire_dtype=job.wire_dtype,
        threads=config.threads,
        machine=machine_fingerprint(),
        torch_version=torch.__version__,
    )


@dataclass
class CollectSummary:
    """What one collect call did."""

    jobs: int = 0  # in the job list
    measured: int = 0  # rows written now
    skipped: int = 0  # already in the store
    failed: list[str] = field(default_factory=list)  # one line per job that failed
    out_of_time: bool = False  # stopped by the time budget before the end of the list


def collect(
    store: LatencyStore,
    config: CollectConfig,
    progress: ProgressFn | None = None,
    *,
    limit: int | None = None,
    budget_s: float | None = None,
) -> CollectSummary:
    """Measure every job of ``config`` not yet in ``store``, ``config.interleave`` at a time
    (each batch's rows committed when it ends, each row in its own transaction).

    ``progress(PHASE, done, total)`` is called after each job (``parawire.progress``);
    ``limit`` stops after that many new measurements, ``budget_s`` before the first batch that
    would start after that many seconds. A job whose run fails is reported in ``failed`` and
    left for a rerun.
    """
    total = config.samples * len(config.devices)
    summary = CollectSummary(jobs=total)
    stop = None if budget_s is None else time.monotonic() + budget_s
    batch: list[tuple[Job, MeasurementKey]] = []
    done = 0
    for job in iter_jobs(config):
        room = (
            config.interleave if limit is None else min(config.interleave, limit - summary.measured)
        )
        if room <= 0:
            break
        key = job_key(job, config)
        if store.has(key):
            summary.skipped += 1
            done += 1
            if progress is not None:
                progress(PHASE, done, total)
            continue
        batch.append((job, key))
        if len(batch) >= room:
            if stop is not None and time.monotonic() > stop:
                summary.out_of_time = True
                return summary
            done = _store_batch(store, config, batch, summary, progress, done)
            batch = []
    if batch and not (stop is not None and time.monotonic() > stop):
        _store_batch(store, config, batch, summary, progress, done)
    elif batch:
        summary.out_of_time = True
    return summary


def _label(job: Job) -> str:
    return f"#{job.index} k={job.devices} {job.spec.provenance.generator}"


def _store_batch(
    store: LatencyStore,
    config: CollectConfig,
    batch: list[tuple[Job, MeasurementKey]],
    summary: CollectSummary,
    progress: ProgressFn | None,
    done: int,
) -> int:
    """Measure ``batch`` (interleaved rounds) and store its rows; a failing batch is measured
    again one job at a time, so that one bad job fails alone. Returns jobs done so far."""
    from parawire.latency.rounds import measure_batch

    try:
        measured = measure_batch([job for job, _ in batch], config)
    except ParawireError as exc:
        if len(batch) > 1:
            for one in batch:
                done = _store_batch(store, config, [one], summary, progress, done)
            return done
        summary.failed.append(f"{_label(batch[0][0])}: {' '.join(str(exc).split())}")
        if progress is not None:
            progress(PHASE, done + 1, summary.jobs)
        return done + 1
    for (job, key), rounds in zip(batch, measured, strict=True):
        added = store.add(job.spec, key, rounds, job.placement_kind, config.noise_threshold)
        summary.measured += int(added)
        summary.skipped += int(not added)
        done += 1
        if progress is not None:
            progress(PHASE, done, summary.jobs)
    return done
