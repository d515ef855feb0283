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
import math
import os
import signal
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp

from parawire._inference import flush_subnormals, inference_settings
from parawire._io import atomic_write_text, read_json, read_text
from parawire.errors import ConfigError, ParawireError, RuntimeTimeoutError
from parawire.filenames import TRACE_FILE
from parawire.measure import available_cores, core_sets, interleaved_order, pin
from parawire.progress import ProgressFn
from parawire.runtime.check import chunk_sizes
from parawire.runtime.engine import RankEngine
from parawire.runtime.group import (
    StoreHost,
    abandon_group,
    connect_store,
    is_loopback,
    join_group,
    leave_group,
    missing_ranks,
    run_store,
    use_loopback_for_gloo,
)
from parawire.runtime.lifeline import (
    exit_with_parent,
    quiet_torch_logs,
    removed_on_termination,
    run_dir,
)
from parawire.runtime.link import LinkModel, _first_line, wait_until
from parawire.runtime.plan import WEIGHTS_FILE, Plan, simulate_plan
from parawire.runtime.secret import load_secret
from parawire.weights import save_weights, write_tensors

LOGITS_FILE = "logits.safetensors"
RESULT_FILE = "result.json"
CHECK_FILE = "check.safetensors"  # the real test images rank 0 runs at the end (run_local)
REFERENCE_FILE = "reference.json"  # one-process reference latencies (run_local)
REFERENCE_LOGITS_FILE = "reference.safetensors"  # and its logits
ERROR_FILE = "error-rank{rank}.txt"  # a failed rank's one-line error (run_local)
PROGRESS_KEY = "parawire/progress"  # rank 0 -> launcher: "phase|done|total" (run_local)
BUSY_LOAD_PER_CORE = 1.0  # a 1-minute load average above this per core: the machine is busy


@dataclass(frozen=True)
class RunOptions:
    """How a run is driven (the same on every rank)."""

    runs: int = 20  # measured inferences
    warmup: int = 3  # inferences before measuring
    batch: int = 1  # images per inference
    threads: int = 1  # torch threads per rank
    timeout: float = 60.0  # seconds any single wait may last
    link: str | None = None  # link profile to emulate (e.g. "rpi4-wifi"); None: free link
    seed: int = 0  # the input image
    paired: bool = False  # rank 0 times the whole model after each split inference (worker)
    check: int = 0  # real test images run split at the end and compared (0: none)
    check_data: str = "digits"  # the data set they come from
    emulate: str | None = None  # device emulation: pad every vertex to this profile's time
    processes: int = 1  # run_local: fresh-process rounds of each side (parawire.measure)
    pin: bool = True  # run_local: each process on cores of its own when there are enough


@dataclass
class RunReport:
    """Latencies of a distributed run against one process, plus the simulated makespan."""

    devices: int
    latencies_s: list[float]
    single_latencies_s: list[float] = field(default_factory=list)
    max_abs_diff: float = math.nan
    simulated_makespan_s: float = math.nan
    options: dict[str, Any] = field(default_factory=dict)
    check: dict[str, Any] = field(default_factory=dict)  # real images: diff, agreement, source
    ranks: list[dict[str, Any]] = field(default_factory=list)  # measured vs simulated per rank
    emulation: dict[str, Any] = field(default_factory=dict)  # profile, vertices over their time
    load: dict[str, Any] = field(default_factory=dict)  # the machine's load (machine_load)
    # per rank: {"starts": [...], "traces": [[[vertex, start, end], ...] per run], "overruns",
    # "breakdown": [{"compute_s", "wait_s", "send_s", "drain_s", "total_s"} per run]}
    traces: list[dict[str, Any]] = field(default_factory=list)
    # per fresh process, its measured runs (``parawire.measure``): split and one-process sides
    latencies_by_process: list[list[float]] = field(default_factory=list)
    single_by_process: list[list[float]] = field(default_factory=list)

    @property
    def p50_s(self) -> float:
        """Median latency of one distributed inference."""
        return statistics.median(self.latencies_s)

    @property
    def p95_s(self) -> float:
        """95th-percentile latency (nearest rank)."""
        return percentile(self.latencies_s, 95)

    @property
    def mean_s(self) -> float:
        """Mean latency."""
        return statistics.fmean(self.latencies_s)

    @property
    def single_process_p50_s(self) -> float:
        """Median latency of the same spec in one process with the same threads."""
        return statistics.median(self.single_latencies_s) if self.single_latencies_s else math.nan

    @property
    def speedup(self) -> float:
        """Single-process median over distributed median."""
        return self.single_process_p50_s / self.p50_s

    @property
    def measured_over_simulated(self) -> float:
        """Measured median over the simulated makespan (1.0: the simulation is exact)."""
        return self.p50_s / self.simulated_makespan_s

    def _split_samples(self) -> list[list[float]]:
        return self.latencies_by_process or [self.latencies_s]

    def _single_samples(self) -> list[list[float]]:
        return self.single_by_process or [self.single_latencies_s]

    @property
    def p50_interval_s(self) -> list[float]:
        """Bootstrap interval of :attr:`p50_s` (processes, then runs, resampled)."""
        from parawire.measure import median_interval

        return median_interval(self._split_samples()).as_list()

    @property
    def single_process_p50_interval_s(self) -> list[float]:
        """Bootstrap interval of :attr:`single_process_p50_s` ([NaN, NaN] without one)."""
        from parawire.measure import median_interval

        if not self.single_latencies_s:
            return [math.nan, math.nan]
        return median_interval(self._single_samples()).as_list()

    @property
    def speedup_interval(self) -> list[float]:
        """Bootstrap interval of :attr:`speedup` ([NaN, NaN] without a one-process side)."""
        from parawire.measure import ratio_interval

        if not self.single_latencies_s:
            return [math.nan, math.nan]
        return ratio_interval(self._single_samples(), self._split_samples()).as_list()

    @property
    def spread(self) -> dict[str, Any]:
        """Per side, each fresh process's median and the largest over the smallest."""
        from parawire.measure import process_spread

        out = {"split": process_spread(self._split_samples())}
        if self.single_latencies_s:
            out["one_process"] = process_spread(self._single_samples())
        return out

    @property
    def breakdown(self) -> list[dict[str, float]]:
        """Per rank, the median over measured runs of where its time went (see
        :func:`parawire.runtime.engine.breakdown_of`)."""
        return [median_breakdown(doc.get("breakdown", [])) for doc in self.traces]

    def to_dict(self) -> dict[str, Any]:
        """The JSON object ``parawire run --json`` prints."""
        return {
            "devices": self.devices,
            "p50_s": self.p50_s,
            "p50_interval_s": self.p50_interval_s,
            "p95_s": self.p95_s,
            "mean_s": self.mean_s,
            "single_process_p50_s": self.single_process_p50_s,
            "single_process_p50_interval_s": self.single_process_p50_interval_s,
            "speedup": self.speedup,
            "speedup_interval": self.speedup_interval,
            "processes": len(self._split_samples()),
            "spread": self.spread,
            "breakdown": self.breakdown,
            "max_abs_diff": self.max_abs_diff,
            "simulated_makespan_s": self.simulated_makespan_s,
            "measured_over_simulated": self.measured_over_simulated,
            "runs": len(self.latencies_s),
            "check": self.check,
            "ranks": self.ranks,
            "emulation": self.emulation,
            "load": self.load,
            "warnings": self.warnings,
            "traces": self.traces,
            **self.options,
        }

    @property
    def warnings(self) -> list[str]:
        """Why the measured figures may not be what ``devices`` devices would give."""
        return load_warnings(self.load)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def make_image(spec_shape: tuple[int, int, int], batch: int, seed: int) -> torch.Tensor:
    """The seeded input batch every run uses, (B, C, H, W)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn((batch, *spec_shape), generator=gen)


def resolve_link(name: str | None) -> LinkModel | None:
    """The link profile ``name`` (e.g. ``rpi4-wifi``), or None for a free link."""
    if name is None:
        return None
    from parawire.analysis.profiles import available_profiles, get_profile

    profiles = available_profiles()
    if name in profiles:
        return profiles[name].link
    return get_profile(name).link  # a TOML file path, or a clear error


@dataclass
class RankRecord:
    """What one rank measured: latencies and logits on rank 0, a trace on every rank."""

    latencies: list[float] = field(default_factory=list)  # distributed, measured runs
    single: list[float] = field(default_factory=list)  # whole model in rank 0's process
    logits: torch.Tensor | None = None  # of the last inference
    checked: torch.Tensor | None = None  # logits of the check images
    starts: list[float] = field(default_factory=list)  # perf_counter() at each run's start
    traces: list[list[tuple[int, float, float]]] = field(default_factory=list)  # per run
    overruns: list[int] = field(default_factory=list)  # vertices over their emulated time
    max_abs_diff: float = math.nan  # rank 0, paired: last logits vs the whole model's
    breakdowns: list[dict[str, float]] = field(default_factory=list)  # per run (engine.PARTS)

    def trace_doc(self) -> dict[str, Any]:
        """JSON-ready trace of the measured runs."""
        return {
            "starts": self.starts,
            "traces": self.traces,
            "overruns": self.overruns,
            "breakdown": self.breakdowns,
        }


def median_breakdown(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each part's median over ``runs`` (per-run dicts of seconds; {} without runs)."""
    if not runs:
        return {}
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def emulation_pads(plan: Plan, profile: str, batch: int) -> dict[int, float]:
    """Vertex -> seconds it takes on a device of ``profile`` (what device emulation pads to)."""
    from parawire.analysis.profiles import get_profile

    device = get_profile(profile).device
    graph = plan.graph.costs(batch, plan.wire_dtype, plan.scatter)
    return {v.id: device.seconds(v) for v in graph.vertices}


def padded_forward(model: Any, x: torch.Tensor, pads: dict[int, float] | None) -> torch.Tensor:
    """The whole model in this process, each vertex held for its emulated time (``pads``):
    the single-device baseline of device emulation (``model`` a :class:`PlanModel`, from
    :func:`plan_model`). Without ``pads``, ``model(x)`` (any whole model)."""
    return model(x) if pads is None else model.forward_padded(x, pads)


class PlanModel(torch.nn.Module):
    """The whole network of a plan run vertex by vertex in one process: the ranks' code with
    no wire between them (what device emulation pads vertex by vertex)."""

    def __init__(self, graph: Any, parts: Any) -> None:
        super().__init__()
        self.graph, self.parts = graph, parts

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, C, H, W)
        return self.forward_padded(x, None)

    def forward_padded(self, x: torch.Tensor, pads: dict[int, float] | None) -> torch.Tensor:
        """:meth:`forward`, each vertex held until ``pads[v]`` seconds after it started."""
        outputs: dict[int, Any] = {}
        for v in self.graph.vertex_ids:
            start = time.perf_counter()
            args = [outputs[u] for u in self.graph.inputs(v)] or [x]
            outputs[v] = self.parts.run(v, args)
            if pads is not None:
                wait_until(start + pads[v])
        return self.parts.finish(outputs[self.graph.output_vertex])


def plan_model(plan: Plan, state: dict[str, torch.Tensor]) -> PlanModel:
    """Every vertex of ``plan`` in one :class:`PlanModel`, with the weights ``state``."""
    graph = plan.graph
    parts = graph.parts(graph.vertex_ids, head=True)
    parts.load({k: state[k] for k in parts.state_keys()})
    return PlanModel(graph, parts).eval()


def full_model(plan: Plan, state: dict[str, torch.Tensor] | None = None) -> torch.nn.Module:
    """The whole network with the plan's weights, for the single-process baseline: the spec's
    model, or the traced model's own module (the trusted oracle)."""
    model = plan.graph.whole_model()
    model.load_state_dict(plan_state(plan) if state is None else state)
    return model.eval()


def plan_state(plan: Plan) -> dict[str, torch.Tensor]:
    """The full state dict of the plan: its weights file, or the seeded initialisation.

    A weights file that cannot be read or does not fit the spec is a one-line ``DataError``.
    """
    return plan.full_state()


def drive(
    engine: RankEngine,
    options: RunOptions,
    check_images: torch.Tensor | None = None,
    progress: ProgressFn | None = None,
) -> RankRecord:
    """Warm-up plus measured inferences, then the check (see :class:`RankRecord`). Rank 0
    must hold ``options.check`` check images (every rank runs their chunks).

    With ``options.paired`` rank 0 follows every distributed inference with one of the whole
    model in its own process (the other ranks then sit blocked on their receives), so both are
    measured under the same machine load: a fair speedup on a shared machine. Under device
    emulation that model is padded vertex by vertex as the ranks are. ``progress`` is called
    between inferences (outside the timed parts).
    """
    image, model, padded = None, None, None
    record = RankRecord()
    pads = engine.pad
    if engine.rank == 0:
        image = make_image(engine.graph.input_shape, options.batch, options.seed)
        if options.paired:
            state = plan_state(engine.plan)
            model = full_model(engine.plan, state)
            padded = plan_model(engine.plan, state) if pads is not None else model
    for i in range(options.warmup + options.runs):
        if i == options.warmup:
            engine.overruns.clear()  # first calls pay one-off costs: count measured runs only
        start = time.perf_counter()
        record.logits = engine.infer(image)
        if i >= options.warmup:
            record.latencies.append(time.perf_counter() - start)
            record.starts.append(engine.started)
            record.traces.append(engine.trace)
            record.breakdowns.append(engine.times)
        if padded is not None:
            start = time.perf_counter()
            with torch.inference_mode():
                padded_forward(padded, image, pads)
            if i >= options.warmup:
                record.single.append(time.perf_counter() - start)
        if progress is not None:
            if i < options.warmup:
                progress("warm-up", i + 1, options.warmup)
            else:
                progress("measuring", i + 1 - options.warmup, options.runs)
    if progress is not None and options.check:
        progress("check images", 0, options.check)
    record.overruns = sorted(engine.overruns)
    if model is not None and record.logits is not None:
        with torch.inference_mode():
            record.max_abs_diff = float((record.logits - model(image)).abs().max())
    record.checked = _run_check(engine, options, check_images)
    engine.set_batch(options.batch)
    return record


def _run_check(
    engine: RankEngine, options: RunOptions, images: torch.Tensor | None
) -> torch.Tensor | None:
    """Every rank: the check's chunked inferences; rank 0 returns their logits."""
    if engine.rank == 0 and options.check and (images is None or len(images) != options.check):
        raise ParawireError(f"rank 0 needs {options.check} check images")
    parts = []
    start = 0
    for size in chunk_sizes(options.check):
        engine.set_batch(size)
        if engine.rank == 0:
            assert images is not None
            parts.append(engine.infer(images[start : start + size]))
        else:
            engine.infer(None)
        start += size
    return torch.cat(parts) if parts else None


def run_rank(
    plan: Plan,
    rank: int,
    host: str,
    port: int,
    options: RunOptions,
    *,
    store: Any = None,
    check_images: torch.Tensor | None = None,
    publish_progress: bool = False,
    secret: str | None = None,
) -> RankRecord:
    """Join the group at ``host:port``, run ``options`` on this rank, leave cleanly.

    Joining compares the plan's digest with every other rank's (a rank with another plan or
    other weights is refused on every rank). With ``publish_progress`` rank 0 writes its
    progress to the rendezvous store (``PROGRESS_KEY``), where a launcher can show it. With
    the run ``secret`` every key lives in the secret's namespace (``parawire.runtime.secret``).
    """
    torch.set_num_threads(options.threads)
    flush_subnormals()  # as the one-process reference and every timing (parawire._inference)
    if is_loopback(host):
        use_loopback_for_gloo()
    if store is None:
        store = connect_store(host, port, rank, options.timeout)
    join_group(store, rank, plan.world, options.timeout, plan.digest(), secret=secret)
    if secret is not None:
        store = run_store(store, secret)
    progress = _store_progress(store) if publish_progress and rank == 0 else None
    try:
        pads = None
        if options.emulate is not None:
            pads = emulation_pads(plan, options.emulate, options.batch)
        engine = RankEngine(
            plan,
            rank,
            batch=options.batch,
            timeout=options.timeout,
            link=resolve_link(options.link or options.emulate),
            pad=pads,
        )
        result = drive(engine, options, check_images, progress)
        engine.close()
    except BaseException:
        abandon_group(options.timeout)  # peers may be dead: never wait on them unbounded
        raise
    leave_group()
    return result


def _store_progress(store: Any, every: float = 0.1) -> ProgressFn:
    """A progress callback that writes ``phase|done|total`` to ``store`` (at most every
    ``every`` seconds, and at each phase's end)."""
    last = [0.0]

    def publish(phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= every or done >= total:
            last[0] = now
            store.set(PROGRESS_KEY, f"{phase}|{done}|{total}")

    return publish


def _worker(
    rank: int,
    plan_dir: str,
    port: int,
    options: RunOptions,
    parent: int | None = None,
    cores: list[tuple[int, ...]] | None = None,
) -> None:
    """Entry point of one spawned local worker: results and errors go to files in plan_dir.

    The worker ends when its launcher (``parent``, default: the process that started it) is
    gone, however the launcher died (``parawire.runtime.lifeline``). Any error becomes one
    line in ``error-rank<r>.txt`` and exit code 1; the launcher reports it. With ``cores``
    the rank runs on ``cores[rank]`` only.
    """
    out = Path(plan_dir)
    with _child_of_launcher(rank, out, parent, cores[rank] if cores else None):
        plan = Plan.load(plan_dir)
        images = None
        if rank == 0 and options.check:
            from safetensors.torch import load_file

            images = load_file(str(out / CHECK_FILE))["images"]
        record = run_rank(
            plan,
            rank,
            "127.0.0.1",
            port,
            options,
            check_images=images,
            publish_progress=True,
            secret=load_secret(plan_dir),
        )
        atomic_write_text(out / TRACE_FILE.format(rank=rank), json.dumps(record.trace_doc()))
        if rank == 0:
            assert record.logits is not None
            tensors = {"logits": record.logits}
            if record.checked is not None:
                tensors["check"] = record.checked
            write_tensors(out / LOGITS_FILE, tensors)
            timings = {"latencies_s": record.latencies, "single_latencies_s": record.single}
            atomic_write_text(out / RESULT_FILE, json.dumps(timings))


def _reference_worker(
    index: int,
    plan_dir: str,
    port: int,
    options: RunOptions,
    parent: int | None = None,
    cores: list[tuple[int, ...]] | None = None,
) -> None:
    """Entry point of the one-process reference: times the whole model in a fresh process
    (``single_process``, on rank 0's cores) and writes its latencies and logits to
    ``REFERENCE_FILE``; errors as :func:`_worker`'s (``port`` is unused)."""
    out = Path(plan_dir)
    with _child_of_launcher(index, out, parent, cores[0] if cores else None):
        plan = Plan.load(plan_dir)
        latencies, logits = single_process(plan, plan_state(plan), options)
        write_tensors(out / REFERENCE_LOGITS_FILE, {"logits": logits})
        atomic_write_text(out / REFERENCE_FILE, json.dumps({"latencies_s": latencies}))


@contextmanager
def _child_of_launcher(
    index: int, out: Path, parent: int | None, cores: tuple[int, ...] | None
) -> Iterator[None]:
    """A spawned child's life: it ends with its launcher (``parent``, default the process that
    started it; ``parawire.runtime.lifeline``), runs on ``cores`` when given, and any error in
    the block becomes one line in ``error-rank<index>.txt`` and exit code 1."""
    exit_with_parent(os.getppid() if parent is None else parent)
    pin(cores)
    try:
        yield
    except Exception as exc:  # every error must reach the launcher, as one line
        atomic_write_text(out / ERROR_FILE.format(rank=index), worker_error(index, exc))
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
    ``cores[r]``: the cores rank r is pinned to. ``target``: another entry point of the same
    arguments (the one-process reference, :func:`_reference_worker`).
    """
    context = mp.start_processes(
        target or _worker,
        args=(str(plan_dir), port, options, os.getpid(), cores),
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


def single_process(
    plan: Plan, state: dict[str, torch.Tensor], options: RunOptions
) -> tuple[list[float], torch.Tensor]:
    """Latencies and logits of the whole model in this process with ``options.threads``."""
    pads = emulation_pads(plan, options.emulate, options.batch) if options.emulate else None
    model = full_model(plan, state) if pads is None else plan_model(plan, state)
    image = make_image(plan.graph.input_shape, options.batch, options.seed)
    latencies: list[float] = []
    with inference_settings(options.threads), torch.inference_mode():
        for i in range(options.warmup + options.runs):
            start = time.perf_counter()
            logits = padded_forward(model, image, pads)
            if i >= options.warmup:
                latencies.append(time.perf_counter() - start)
    return latencies, logits


def run_profile(profile: str | None, link: str | None, emulate: str | None = None) -> Any:
    """The profile a local run is predicted with.

    Device emulation (``emulate``): that profile, with ``link`` replacing its link if given.
    Otherwise ``profile`` (default ``local-cpu``: this machine), its link replaced by the
    emulated ``link`` when there is one.
    """
    from parawire.analysis.profiles import Profile, get_profile

    base = get_profile(emulate if emulate is not None else profile or "local-cpu")
    if link is None:
        return base
    emulated = resolve_link(link)
    assert emulated is not None
    return Profile(name=f"{base.name}+{link}", device=base.device, link=emulated)


def rank_figures(plan: Plan, docs: list[dict[str, Any]], schedule: Any) -> list[dict[str, Any]]:
    """Per rank: measured (median over runs) and simulated busy time and finish time, and
    whether every measured run executed the plan's order."""
    starts = docs[0]["starts"]
    simulated_finish = schedule.finish_times()
    out = []
    for rank, doc in enumerate(docs):
        busy = [sum(e - s for _, s, e in t) for t in doc["traces"]]
        finish = [
            max((e for _, _, e in t), default=s0) - s0
            for t, s0 in zip(doc["traces"], starts, strict=True)
        ]
        order = list(plan.vertices_of(rank))
        out.append(
            {
                "rank": rank,
                "measured_busy_s": statistics.median(busy) if busy else 0.0,
                "measured_finish_s": statistics.median(finish) if finish else 0.0,
                "simulated_busy_s": schedule.busy_s[rank],
                "simulated_finish_s": simulated_finish[rank],
                "order_as_planned": all([v for v, _, _ in t] == order for t in doc["traces"]),
            }
        )
    return out


def _check_report(
    plan: Plan, state: dict[str, torch.Tensor], check: Any, logits: torch.Tensor, options: Any
) -> dict[str, Any]:
    """The split logits of the check images against the float32 model in one process."""
    from parawire.runtime.check import compare_logits

    model = full_model(plan, state)
    with inference_settings(options.threads), torch.inference_mode():
        reference = torch.cat([model(x) for x in check.images.split(100)])
    return {
        "source": check.source,
        "wire_dtype": plan.wire_dtype,
        **compare_logits(logits, reference, check.labels),
    }


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
        logits = rounds.logits
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
        report.max_abs_diff = float((logits - rounds.reference_logits).abs().max())
    if check is not None:
        step("check reference", 0, 1)
        report.check = _check_report(plan, state, check, rounds.checked, options)
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
    report.load = {
        **load_before,
        "load_1min_after": machine_load()["load_1min"],
        "ranks": plan.world,
        "threads": options.threads,
        "pinned": cores is not None,
        "rank_cores": [list(c) for c in cores] if cores else [],
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
        timings = read_json(work / RESULT_FILE)
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


def machine_load() -> dict[str, Any]:
    """The 1-minute load average and the cores this process may use (NaN where unknown)."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = math.nan
    return {"load_1min": load, "cores": len(available_cores())}


def load_warnings(load: dict[str, Any]) -> list[str]:
    """Warnings for a run's ``load`` record: a busy machine, or more busy threads than cores."""
    if not load:
        return []
    out = []
    cores, before = load["cores"], load["load_1min"]
    if before > BUSY_LOAD_PER_CORE * cores:
        out.append(
            f"the machine was busy (1-minute load average {before:.2f} on {cores} cores before "
            "the run): latencies and speedup are not those of an idle machine; rerun when it "
            "is quiet"
        )
    busy = load["ranks"] * load["threads"]
    if busy > cores:
        out.append(
            f"{load['ranks']} ranks x {load['threads']} thread(s) share {cores} cores: the ranks "
            "compete for cores, so the speedup understates what separate devices would give"
        )
    return out
