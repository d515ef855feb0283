"""Running a plan: K local worker processes (``run_local``) or one rank of a real deployment.

    report = run_local(plan, RunOptions(threads=1, runs=50, warmup=5, processes=3))
    print(report.p50_s, report.speedup, report.speedup_interval, report.max_abs_diff)

``run_local`` measures as every parawire timing does (``parawire.measure``): ``processes`` rounds
of fresh processes, the two sides interleaved (reference, split, split, reference, ...). A split
round hosts the rendezvous on 127.0.0.1 (a free port) and spawns one process per rank
(``torch.multiprocessing``, start method ``spawn``), each with ``threads`` torch threads and
pinned to cores of its own when the machine has enough; rank 0 drives warm-up plus measured
inferences and records the latency of each. A reference round spawns one process that times the
whole model (``single_process``) on rank 0's cores. The figures are medians over every run of
every process with a two-level bootstrap interval, and the spread between processes is kept.
With ``check`` > 0 the ranks of the last split round then run that many real test images (in
chunks) and the logits are compared with the whole float32 model in one process
(``parawire.runtime.check``). Every wait is bounded by ``timeout``; failed or stuck workers are
terminated, never left behind. (``paired`` keeps the older method for ``parawire worker`` on
real devices: rank 0 times the whole model after each split inference, in its own process.)
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp

from parawire._io import atomic_write_text, read_json, read_text
from parawire.errors import ConfigError, ParawireError, RuntimeTimeoutError
from parawire.filenames import RANK_TIMINGS_FILE, TRACE_FILE, WEIGHTS_FILE
from parawire.measure import core_sets, interleaved_order, pin
from parawire.progress import ProgressFn
from parawire.runtime.group import (
    StoreHost,
    missing_ranks,
    run_store,
)
from parawire.runtime.lifeline import (
    exit_with_parent,
    quiet_torch_logs,
    removed_on_termination,
    run_dir,
)
from parawire.runtime.link import _first_line
from parawire.runtime.options import RunOptions, run_profile
from parawire.runtime.plan import Plan, simulate_plan
from parawire.runtime.rank import PROGRESS_KEY, run_rank
from parawire.runtime.reference import check_report, plan_state, single_process
from parawire.runtime.run_report import RunReport, machine_load, rank_figures
from parawire.runtime.secret import load_secret
from parawire.weights import save_weights, write_tensors

LOGITS_FILE = "logits.safetensors"
CHECK_FILE = "check.safetensors"  # the real test images rank 0 runs at the end (run_local)
REFERENCE_FILE = "reference.json"  # one-process reference latencies (run_local)
REFERENCE_LOGITS_FILE = "reference.safetensors"  # and its logits
ERROR_FILE = "error-rank{rank}.txt"  # a failed rank's one-line error (run_local)


@dataclass(frozen=True)
class SpawnJob:
    """What every child :func:`spawn_ranks` starts is given, after its index (picklable)."""

    plan_dir: str  # the plan folder; results and errors go to files in it
    port: int  # the rendezvous port on 127.0.0.1 (unused by the one-process reference)
    options: RunOptions
    parent: int | None = None  # the launcher's pid (None: the process that started the child)
    cores: list[tuple[int, ...]] | None = None  # cores[r]: the cores rank r runs on


def _worker(rank: int, job: SpawnJob) -> None:
    """Entry point of one spawned local worker: results and errors go to files in the plan's
    folder.

    The worker ends when its launcher (``job.parent``, default: the process that started it)
    is gone, however the launcher died (``parawire.runtime.lifeline``). Any error becomes one
    line in ``error-rank<r>.txt`` and exit code 1; the launcher reports it. With ``job.cores``
    the rank runs on ``cores[rank]`` only.
    """
    out = Path(job.plan_dir)
    with _child_of_launcher(rank, job, cores_of=rank):
        plan = Plan.load(out)
        images = None
        if rank == 0 and job.options.check:
            from safetensors.torch import load_file

            images = load_file(str(out / CHECK_FILE))["images"]
        record = run_rank(
            plan,
            rank,
            "127.0.0.1",
            job.port,
            job.options,
            check_images=images,
            publish_progress=True,
            secret=load_secret(out),
        )
        atomic_write_text(out / TRACE_FILE.format(rank=rank), json.dumps(record.trace_doc()))
        if rank == 0:
            assert record.logits is not None
            tensors = {"logits": record.logits}
            if record.checked is not None:
                tensors["check"] = record.checked
            write_tensors(out / LOGITS_FILE, tensors)
            timings = {"latencies_s": record.latencies, "single_latencies_s": record.single}
            atomic_write_text(out / RANK_TIMINGS_FILE, json.dumps(timings))


def _reference_worker(index: int, job: SpawnJob) -> None:
    """Entry point of the one-process reference: times the whole model in a fresh process
    (``single_process``, on rank 0's cores) and writes its latencies and logits to
    ``REFERENCE_FILE``; errors as :func:`_worker`'s."""
    out = Path(job.plan_dir)
    with _child_of_launcher(index, job, cores_of=0):
        plan = Plan.load(out)
        latencies, logits = single_process(plan, plan_state(plan), job.options)
        write_tensors(out / REFERENCE_LOGITS_FILE, {"logits": logits})
        atomic_write_text(out / REFERENCE_FILE, json.dumps({"latencies_s": latencies}))


@contextmanager
def _child_of_launcher(index: int, job: SpawnJob, cores_of: int) -> Iterator[None]:
    """A spawned child's life: it ends with its launcher (``job.parent``, default the process
    that started it; ``parawire.runtime.lifeline``), runs on rank ``cores_of``'s cores when
    ``job`` gives cores, and any error in the block becomes one line in
    ``error-rank<index>.txt`` (in the plan's folder) and exit code 1."""
    exit_with_parent(os.getppid() if job.parent is None else job.parent)
    pin(job.cores[cores_of] if job.cores else None)
    try:
        yield
    except Exception as exc:  # every error must reach the launcher, as one line
        error_file = Path(job.plan_dir) / ERROR_FILE.format(rank=index)
        atomic_write_text(error_file, worker_error(index, exc))
        os._exit(1)  # the group may hold waits on dead peers: leave without destructors


def worker_error(rank: int, exc: BaseException) -> str:
    """One line for an error of ``rank``: a parawire error's message as it is, anything else
    as its type and the first line of its message, naming the rank."""
    if isinstance(exc, ParawireError):
        return " ".join(str(exc).split())
    return f"rank {rank} failed: {type(exc).__name__}: {_first_line(exc)}"


def exit_reason(rank: int, code: int | None) -> str:
    """Why ``rank`` ended without writing an error: its exit code or the signal that killed it."""
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"rank {rank} was killed by {name}{hint}"
    return f"rank {rank} exited with code {code} without an error message"


def spawn_ranks(
    plan_dir: Path,
    world: int,
    port: int,
    options: RunOptions,
    *,
    store: Any = None,
    progress: ProgressFn | None = None,
    cores: list[tuple[int, ...]] | None = None,
    target: Callable[..., None] | None = None,
) -> None:
    """Start ``world`` worker processes and wait for all; raise the workers' errors.

    When a worker fails, the others get ``timeout`` seconds to notice and exit with their own
    message (naming the rank they miss); then any still running is terminated. The errors
    are reported first-failed first (the cause before its consequences). With the rendezvous
    ``store`` (the launcher's), ``progress`` gets the ranks' joining and rank 0's inferences.
    ``cores[r]``: the cores rank r is pinned to. ``target``: another entry point taking
    ``(index, SpawnJob)`` (the one-process reference, :func:`_reference_worker`).
    """
    context = mp.start_processes(
        target or _worker,
        args=(SpawnJob(str(plan_dir), port, options, os.getpid(), cores),),
        nprocs=world,
        join=False,
        start_method="spawn",
    )
    processes = context.processes
    deadline = None
    watch = _RunWatch(store, world, progress)
    try:
        while any(p.is_alive() for p in processes):
            for p in processes:
                p.join(timeout=0.05)
            watch.poll()
            if deadline is None and any(p.exitcode not in (None, 0) for p in processes):
                deadline = time.monotonic() + options.timeout + 5
            if deadline is not None and time.monotonic() > deadline:
                break
    finally:
        for p in processes:
            if p.is_alive():
                p.terminate()
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join()
    failed = [(rank, p.exitcode) for rank, p in enumerate(processes) if p.exitcode != 0]
    if failed:
        raise RuntimeTimeoutError("distributed run failed: " + "; ".join(_errors(plan_dir, failed)))


def _errors(plan_dir: Path, failed: list[tuple[int, int | None]]) -> list[str]:
    """The failed ranks' messages, the earliest written first, each once."""
    written, silent = [], []
    for rank, code in failed:
        file = plan_dir / ERROR_FILE.format(rank=rank)
        if file.exists():
            written.append((file.stat().st_mtime_ns, rank, read_text(file, limit=2**16).strip()))
        else:
            silent.append(exit_reason(rank, code))
    messages = [m for _, _, m in sorted(written)] + silent
    return list(dict.fromkeys(messages))  # ranks failing for one reason say it once


class _RunWatch:
    """Turns the rendezvous store's keys into progress: ranks joined, then rank 0's phases."""

    def __init__(self, store: Any, world: int, progress: ProgressFn | None) -> None:
        self.store, self.world, self.progress = store, world, progress
        self.next = 0.0
        self.joined = False

    def poll(self, every: float = 0.25) -> None:
        """Read the store at most every ``every`` seconds and report; never raises."""
        if self.store is None or self.progress is None or time.monotonic() < self.next:
            return
        self.next = time.monotonic() + every
        try:
            if not self.joined:
                waiting = len(missing_ranks(self.store, self.world))
                self.progress("starting ranks", self.world - waiting, self.world)
                self.joined = waiting == 0
            if self.store.check([PROGRESS_KEY]):
                phase, done, total = self.store.get(PROGRESS_KEY).decode().split("|")
                self.progress(phase, int(done), int(total))
        except (RuntimeError, OSError, ValueError):
            pass  # progress is a courtesy: the run's own errors come from the workers


def run_local(
    plan: Plan,
    options: RunOptions | None = None,
    *,
    profile: str | None = None,
    baseline: bool = True,
    progress: ProgressFn | None = None,
) -> RunReport:
    """Run ``plan`` on ``plan.world`` local processes; compare with one process and simulation.

    ``progress`` gets (phase, done, total) while it runs. A SIGTERM or SIGHUP of this
    process stops the workers and removes the temporary folder before it exits; its workers
    end by themselves whatever else ends it (``parawire.runtime.lifeline``).
    """
    with removed_on_termination():
        return _run_local(plan, options or RunOptions(), profile, baseline, progress)


def _run_local(
    plan: Plan,
    options: RunOptions,
    profile: str | None,
    baseline: bool,
    progress: ProgressFn | None,
) -> RunReport:
    """:func:`run_local`, its signal handlers in place."""
    step = progress or (lambda phase, done, total: None)
    if options.processes < 1:
        raise ConfigError(f"processes must be >= 1, got {options.processes}")
    load_before = machine_load()
    # an unknown link or emulated profile fails here, before any process starts
    run_profile(profile, options.link, options.emulate)
    check = None
    if options.check:
        from parawire.runtime.check import check_images

        check = check_images(plan.graph, options.check, options.check_data)
        options = replace(options, check=len(check.labels))
    state = plan_state(plan)
    cores = core_sets(plan.world, options.threads) if options.pin else None
    rounds = _Rounds(plan.world, options.processes, step)
    _run_rounds(rounds, plan, state, check, options, cores, baseline)
    report = _report(plan, rounds, options, profile)
    if check is not None:
        step("check reference", 0, 1)
        report.check = check_report(plan, state, check, rounds.checked, options)
    report.load = {
        **load_before,
        "load_1min_after": machine_load()["load_1min"],
        "ranks": plan.world,
        "threads": options.threads,
        "pinned": cores is not None,
        "rank_cores": [list(c) for c in cores] if cores else [],
    }
    return report


def _run_rounds(
    rounds: _Rounds,
    plan: Plan,
    state: dict[str, torch.Tensor],
    check: Any,
    options: RunOptions,
    cores: list[tuple[int, ...]] | None,
    baseline: bool,
) -> None:
    """Every fresh-process round, the two sides interleaved, in a run folder of their own
    (the plan with its weights, the check images) removed after."""
    with run_dir() as tmp:
        work = Path(tmp)
        save_weights(work / WEIGHTS_FILE, state)
        replace(plan, weights=work / WEIGHTS_FILE).save(work)
        if check is not None:
            write_tensors(work / CHECK_FILE, {"images": check.images})
        quiet_torch_logs()  # the workers report failures in one line, without C++ frames
        # arm 1: the split, arm 0: the one-process reference (without a baseline, splits only)
        arms = interleaved_order(options.processes, 2) if baseline else [1] * options.processes
        splits_left = arms.count(1)
        for arm in arms:
            if arm == 0:
                rounds.reference(work, options, cores)
                continue
            splits_left -= 1
            last = splits_left == 0  # the check images run once, in the last split round
            rounds.split(work, replace(options, check=options.check if last else 0), cores)


def _report(plan: Plan, rounds: _Rounds, options: RunOptions, profile: str | None) -> RunReport:
    """The rounds' latencies, logits and traces against the plan's simulated schedule."""
    traces = rounds.merged_traces()
    report = RunReport(
        devices=plan.world,
        latencies_s=[t for p in rounds.split_latencies for t in p],
        single_latencies_s=[t for p in rounds.single_latencies for t in p],
        latencies_by_process=rounds.split_latencies,
        single_by_process=rounds.single_latencies,
        options={
            k: v for k, v in asdict(options).items() if k not in ("seed", "check", "check_data")
        },
    )
    if rounds.reference_logits is not None:
        report.max_abs_diff = float((rounds.logits - rounds.reference_logits).abs().max())
    predicted = run_profile(profile, options.link, options.emulate)
    schedule = simulate_plan(plan, predicted, options.batch)
    report.simulated_makespan_s, report.options["profile"] = schedule.makespan_s, predicted.name
    report.ranks = rank_figures(plan, traces, schedule)
    report.traces = traces
    if options.emulate is not None:
        over = sorted({v for doc in traces for v in doc["overruns"]})
        report.emulation = {
            "profile": options.emulate,
            "vertices": len(plan.graph.vertex_ids),
            "over_emulated_time": over,
        }
    return report


class _Rounds:
    """The fresh-process rounds of one ``run_local``: what each left in the run folder."""

    def __init__(self, world: int, processes: int, step: ProgressFn) -> None:
        self.world, self.processes, self.step = world, processes, step
        self.split_latencies: list[list[float]] = []  # per split round
        self.single_latencies: list[list[float]] = []  # per reference round
        self.traces: list[list[dict[str, Any]]] = []  # per split round, per rank
        self.logits: torch.Tensor = torch.empty(0)  # of the last split inference
        self.checked: torch.Tensor | None = None  # the check images' logits
        self.reference_logits: torch.Tensor | None = None

    def _label(self, what: str, done: int) -> str:
        return what if self.processes == 1 else f"{what} (process {done + 1}/{self.processes})"

    def reference(self, work: Path, options: RunOptions, cores: Any) -> None:
        """One fresh process times the whole model."""
        from safetensors.torch import load_file

        self.step(self._label("one-process reference", len(self.single_latencies)), 0, 1)
        spawn_ranks(work, 1, 0, options, cores=cores, target=_reference_worker)
        doc = read_json(work / REFERENCE_FILE)
        self.single_latencies.append(doc["latencies_s"])
        self.reference_logits = load_file(str(work / REFERENCE_LOGITS_FILE))["logits"]

    def split(self, work: Path, options: RunOptions, cores: Any) -> None:
        """Fresh ranks run the plan once (rank 0 drives warm-up and measured inferences)."""
        from safetensors.torch import load_file

        def step(phase: str, done: int, total: int) -> None:
            self.step(self._label(phase, len(self.split_latencies)), done, total)

        host = StoreHost("127.0.0.1", 0, self.world, options.timeout)
        try:
            step("starting ranks", 0, self.world)
            store = run_store(host.store, load_secret(work))
            spawn_ranks(
                work, self.world, host.port, options, store=store, progress=step, cores=cores
            )
        finally:
            host.close()
        timings = read_json(work / RANK_TIMINGS_FILE)
        self.split_latencies.append(timings["latencies_s"])
        tensors = load_file(str(work / LOGITS_FILE))
        self.logits = tensors["logits"]
        if "check" in tensors:
            self.checked = tensors["check"]
        self.traces.append([read_json(work / TRACE_FILE.format(rank=r)) for r in range(self.world)])

    def merged_traces(self) -> list[dict[str, Any]]:
        """Per rank, the traces of every split round one after another."""
        merged = []
        for rank in range(self.world):
            docs = [round_docs[rank] for round_docs in self.traces]
            merged.append(
                {
                    key: [x for doc in docs for x in doc[key]]
                    for key in ("starts", "traces", "breakdown")
                }
                | {"overruns": sorted({v for doc in docs for v in doc["overruns"]})}
            )
        return merged
