"""How ``latency collect`` times a batch of jobs: fresh-process rounds, interleaved, pinned
(the method of ``parawire.measure``, issue 21).

One process's median is one sample of a wide distribution (one network's time varies up to
1.6x between fresh processes of an idle 16-core host), so each row is timed in
``config.processes`` fresh processes. The jobs of a batch are interleaved: round r times every
job of the batch once, in list order on even rounds and in reverse on odd ones, so that a drift
of the machine falls on every job alike. Per round:

* the jobs that run on one device (k = 1, or a k > 1 placement that uses one) are timed in ONE
  fresh process (spawned, pinned to a core of its own when there is one, ending with its
  launcher), one after another: starting a process and importing torch costs more than
  timing a small network;
* a job on several devices is one ``run_local`` round (fresh ranks, pinned);
* device emulation, on one device or several, is time-dilated by ``dilation`` when it is set
  (``parawire.runtime.dilation``: the emulation runs F times slower so that ranks sharing
  fewer cores, or a loaded machine, keep within the emulated times; the times are divided by
  F). Measured 2026-12-05 at load 12: undilated one-device rpi4-ethernet rows had process
  spreads of 65 to 86%, a dilated (auto) two-device row 1.9%.

``processes=0`` times everything in this process, one round (tests, quick looks).
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from parawire.arch.spec import ArchSpec

if TYPE_CHECKING:
    from parawire.latency.collect import CollectConfig, Job

# (spec JSON, placement, wire dtype, dilated profile ref or None, dilation factor)
Payload = tuple[str, dict[int, int], str, str | None, float]


def measure_batch(jobs: Sequence[Job], config: CollectConfig) -> list[list[list[float]]]:
    """Per job, per round, its timed latencies in seconds (module docstring)."""
    out: list[list[list[float]]] = [[] for _ in jobs]
    factors = [dilation_factor(job, config) for job in jobs]
    with tempfile.TemporaryDirectory(prefix="parawire-collect-") as folder:
        refs = [_dilated_ref(config, f, Path(folder) / str(i)) for i, f in enumerate(factors)]
        for r in range(max(1, config.processes)):
            order = list(range(len(jobs)))
            order = order if r % 2 == 0 else order[::-1]
            single = [i for i in order if _world(jobs[i]) == 1]
            payload = [(*_payload(jobs[i]), refs[i], factors[i]) for i in single]
            for i, latencies in zip(single, _time_single(payload, config), strict=True):
                out[i].append(latencies)
            for i in (i for i in order if _world(jobs[i]) > 1):
                out[i].append(_time_distributed(jobs[i], config, factors[i], refs[i]))
    return out


def _dilated_ref(config: CollectConfig, factor: float, folder: Path) -> str | None:
    """The emulated profile dilated by ``factor``, written into ``folder`` (None: undilated)."""
    if factor <= 1.0 or config.emulate is None:
        return None
    from parawire.runtime.dilation import dilated_profile_ref

    folder.mkdir(parents=True, exist_ok=True)
    return dilated_profile_ref(config.emulate, factor, folder)


def _world(job: Job) -> int:
    return max(job.placement.values()) + 1


def _payload(job: Job) -> tuple[str, dict[int, int], str]:
    return job.spec.to_json(indent=None), dict(job.placement), job.wire_dtype


def _time_single(payload: list[Payload], config: CollectConfig) -> list[list[float]]:
    """Latencies of each one-device job, in one fresh process (this one with processes=0)."""
    if not payload:
        return []
    if config.processes == 0:
        return time_in_process(payload, config)
    from parawire.measure import core_sets

    cores = core_sets(1, config.threads)
    context = multiprocessing.get_context("spawn")
    init = (os.getpid(), cores[0] if cores else None)
    with ProcessPoolExecutor(1, mp_context=context, initializer=_child, initargs=init) as pool:
        return pool.submit(time_in_process, payload, config).result()


def _child(parent: int, cores: tuple[int, ...] | None) -> None:
    """A measuring child ends with its launcher and runs on cores of its own."""
    from parawire.measure import pin
    from parawire.runtime.lifeline import exit_with_parent

    exit_with_parent(parent)
    pin(cores)


def time_in_process(payload: list[Payload], config: CollectConfig) -> list[list[float]]:
    """Latencies of each one-device job in this process (``config.clock`` decides the clock)."""
    from parawire.runtime.launch import single_process
    from parawire.runtime.plan import seeded_state_dict

    out = []
    for spec_json, placement, wire, ref, factor in payload:
        spec = ArchSpec.from_json(spec_json)
        if config.clock == "cpu":
            out.append(cpu_latencies(spec, config))
            continue
        plan = _plan(spec, placement, wire, config)
        options = _options(config, ref, factor)
        latencies, _ = single_process(plan, seeded_state_dict(spec, 0), options)
        out.append([t / factor for t in latencies])
    return out


def _plan(spec: ArchSpec, placement: dict[int, int], wire: str, config: CollectConfig):
    """The runtime plan of one job (its schedule from the profile it is placed for)."""
    from parawire.runtime.plan import Plan, with_schedule

    world = max(placement.values()) + 1
    plan = Plan(spec=spec, placement=placement, world=world, wire_dtype=wire)
    return with_schedule(plan, config.emulate or config.profile)


def _options(config: CollectConfig, emulate: str | None = None, factor: float = 1.0):
    from parawire.runtime.launch import RunOptions

    return RunOptions(
        runs=config.repeats,
        warmup=config.warmup,
        threads=config.threads,
        timeout=config.timeout * factor,
        paired=False,
        emulate=emulate or config.emulate,
    )


def dilation_factor(job: Job, config: CollectConfig) -> float:
    """The time dilation of an emulated job: 1 without emulation or with ``dilation`` 1, else
    the given factor or (``auto``) the one ``auto_dilation`` picks for this machine (one
    device too: on a loaded machine its vertices overrun their emulated times as well)."""
    if config.emulate is None or config.dilation in ("1", "1.0"):
        return 1.0
    if config.dilation != "auto":
        return float(config.dilation)
    from parawire.runtime.dilation import auto_dilation

    plan = _plan(job.spec, job.placement, job.wire_dtype, config)
    return auto_dilation(plan, config.emulate)


def _time_distributed(
    job: Job, config: CollectConfig, factor: float, emulate: str | None
) -> list[float]:
    """One ``run_local`` round of a multi-device job (``emulate``: the dilated profile's
    reference, or None); times divided by the dilation."""
    from parawire.runtime.launch import run_local

    plan = _plan(job.spec, job.placement, job.wire_dtype, config)
    report = run_local(plan, _options(config, emulate, factor), baseline=False)
    return [t / factor for t in report.latencies_s]


def cpu_latencies(spec: ArchSpec, config: CollectConfig) -> list[float]:
    """CPU seconds of this thread for each timed inference of ``spec`` (one torch thread)."""
    import torch

    from parawire._inference import inference_settings
    from parawire.nn import build_model
    from parawire.runtime.plan import seeded_state_dict
    from parawire.runtime.reference import make_image

    model = build_model(spec)
    model.load_state_dict(seeded_state_dict(spec, 0))
    model.eval()
    image = make_image(spec.input_shape, 1, 0)
    out = []
    with inference_settings(1), torch.inference_mode():
        for i in range(config.warmup + config.repeats):
            start = time.thread_time()
            model(image)
            if i >= config.warmup:
                out.append(time.thread_time() - start)
    return out
