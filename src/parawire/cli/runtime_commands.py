"""`parawire plan`, `run`, `worker`: split one inference across ranks and measure it.

The runtime (torch, torch.distributed) is imported inside the commands, so that their
``--help`` answers at once.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from parawire._io import dumps_strict
from parawire.cli._basis import profile_note, say, weights_note
from parawire.cli.arguments import network_argument
from parawire.cli.deployment_options import (
    PLAN_SEED_HELP,
    announce_profile,
    deployment_options,
)
from parawire.cli.options import (
    DEFAULT_PROFILE,
    batch_option,
    bind_option,
    check_option,
    devices_option,
    dilation_option,
    emulate_option,
    json_option,
    link_option,
    master_option,
    out_option,
    processes_option,
    profile_option,
    runs_option,
    seed_option,
    threads_option,
    timeout_option,
    warmup_option,
    weights_option,
)

if TYPE_CHECKING:
    from parawire.runtime.options import RunOptions
    from parawire.runtime.plan import Plan
    from parawire.runtime.rank import RankRecord
    from parawire.runtime.run_report import RunReport

_threads = threads_option("torch threads of each rank.")


def _options(
    runs: int,
    warmup: int,
    batch: int,
    threads: int,
    timeout: float,
    link: str | None,
    emulate: str | None = None,
) -> RunOptions:
    """Checked run options (one clear error for a bad value)."""
    from parawire.errors import ConfigError
    from parawire.runtime.options import RunOptions

    for name, value, low in (("runs", runs, 1), ("warmup", warmup, 0), ("batch", batch, 1)):
        if value < low:
            raise ConfigError(f"--{name} must be >= {low}, got {value}")
    if threads < 1 or not 0 < timeout < float("inf"):
        raise ConfigError("--threads must be >= 1 and --timeout a finite number > 0")
    return RunOptions(runs, warmup, batch, threads, timeout, link, emulate=emulate)


def _dilated(
    plan: Plan, options: RunOptions, dilation: str, folder: str
) -> tuple[float, RunOptions]:
    """(time dilation, the options that run it): ``--dilation`` applied to ``--emulate``."""
    from parawire.errors import ConfigError

    if dilation == "1":
        return 1.0, options
    if options.emulate is None:
        raise ConfigError("--dilation applies to device emulation: add --emulate PROFILE")
    from parawire.runtime.dilation import auto_dilation, dilated_profile_ref

    if dilation == "auto":
        factor = auto_dilation(plan, options.emulate, batch=options.batch)
    else:
        try:
            factor = float(dilation)
        except ValueError:
            raise ConfigError(
                f"--dilation must be a number >= 1 or auto, got {dilation!r}"
            ) from None
    ref = dilated_profile_ref(options.emulate, factor, folder)
    timeout = options.timeout * factor
    return factor, dataclasses.replace(options, emulate=ref, timeout=timeout)


def _describe(plan: Plan) -> str:
    """One line: ranks used, how the placement was chosen, wire dtype, scatter."""
    info = plan.info
    how = info.get("partitioner", "?")
    if info.get("eps") is not None:
        how += f", eps {info['eps']}"
    if info.get("select"):
        how += f", select {info['select']} on {info.get('profile', '?')}"
    offered = info.get("devices_offered")
    ranks = f"{plan.world} of {offered} ranks" if offered else f"{plan.world} ranks"
    return f"{ranks} ({how}), wire {plan.wire_dtype}, {plan.scatter} scatter"


@click.command("plan")
@network_argument("spec_path", "SPEC_OR_MODEL")
@devices_option(default=None, required=True)
@profile_option(DEFAULT_PROFILE, "the placement is chosen for (the devices it will run on)")
@deployment_options
@weights_option()
@seed_option(PLAN_SEED_HELP)
@out_option("Plan folder (copy it to every device).", required=True)
def plan_cmd(
    spec_path: Path,
    devices: int,
    profile: str | None,
    deployment: dict[str, Any],
    weights: Path | None,
    seed: int,
    out: Path,
) -> None:
    """Choose a deployment of SPEC_OR_MODEL (arch.json, a baseline such as cifarnet, or
    torchvision:NAME) on up to K ranks; write the plan folder to copy to every device (the same
    choice `analyze` makes with the same options)."""
    from parawire.runtime.planner import load_network, make_plan

    network = load_network(spec_path)
    plan = make_plan(network, devices, profile=profile, weights=weights, seed=seed, **deployment)
    plan.save(out)
    announce_profile("plan", profile)
    say("plan", profile_note(profile), weights_note(plan, f"the plan in {out}"))
    counts = [len(plan.vertices_of(r)) for r in range(plan.world)]
    click.echo(f"wrote {out}: {_describe(plan)}; vertices per rank {counts}", err=True)


@click.command("run")
@network_argument("path", "PLAN_SPEC_OR_MODEL")
@devices_option(default=None, note=" (needed for a spec or model; a plan runs on its own ranks)")
@profile_option(None, "of the placement of a spec and of the simulated makespan")
@deployment_options
@_threads
@runs_option()
@warmup_option()
@batch_option()
@link_option()
@emulate_option()
@dilation_option()
@timeout_option()
@check_option(
    100, "Real test images run split at the end and compared with the float32 model (0: off)."
)
@click.option("--check-data", default="digits", show_default=True, help="Data set of --check.")
@seed_option(PLAN_SEED_HELP)
@processes_option(
    "Fresh processes per side (split, one process), interleaved; medians with a bootstrap "
    "interval over all of them."
)
@click.option(
    "--breakdown", is_flag=True, help="Per rank: where its time went (compute, waits, sends)."
)
@click.option(
    "--pin/--no-pin",
    default=True,
    show_default=True,
    help="Pin each rank to cores of its own when the machine has enough.",
)
@json_option()
def run_cmd(
    path: Path,
    devices: int | None,
    profile: str | None,
    deployment: dict[str, Any],
    threads: int,
    runs: int,
    warmup: int,
    batch: int,
    link: str | None,
    emulate: str | None,
    dilation: str,
    timeout: float,
    check: int,
    check_data: str,
    seed: int,
    processes: int,
    breakdown: bool,
    pin: bool,
    as_json: bool,
) -> None:
    """Run PLAN_SPEC_OR_MODEL on K local processes; compare with one process and the simulation.

    Both sides are measured in --processes fresh processes each, interleaved, each rank pinned
    to a core of its own when the machine has enough; figures are medians over every run with
    a 95% bootstrap interval, and the spread between processes is shown.

    A spec or model (a baseline such as cifarnet, torchvision:NAME) is placed first as `plan`
    would place it, for the devices it runs on: --emulate's profile, or --profile with the
    --link emulated (the deployment options apply to specs and models only; a plan runs as it
    was written).
    """
    from parawire.progress import progress_on_stderr
    from parawire.runtime.launch import run_local
    from parawire.runtime.options import run_profile
    from parawire.runtime.planner import load_plan_or_spec

    options = _options(runs, warmup, batch, threads, timeout, link, emulate)
    options = dataclasses.replace(
        options, check=check, check_data=check_data, processes=processes, pin=pin
    )
    predicted = run_profile(profile, link, emulate)
    plan = load_plan_or_spec(path, devices, profile=predicted, seed=seed, **deployment)
    with tempfile.TemporaryDirectory(prefix="parawire-dilation-") as tmp:
        factor, options = _dilated(plan, options, dilation, tmp)
        with progress_on_stderr("run") as progress:
            report = run_local(plan, options, profile=profile, progress=progress)
    _announce_run(report, profile, emulate)
    if as_json:
        doc = {**report.to_dict(), "plan": _describe(plan), "info": plan.info}
        click.echo(dumps_strict({**doc, "dilation": factor}))
        return
    click.echo("\n".join(_run_lines(plan, report, factor, breakdown)))


def _announce_run(report: RunReport, profile: str | None, emulate: str | None) -> None:
    """The profile the run used (and where it came from), then the run's warnings."""
    if emulate is not None:
        from parawire.analysis.profiles import profile_origin

        click.echo(
            f"parawire run: profile {emulate} (from --emulate; {profile_origin(emulate)})",
            err=True,
        )
    else:
        announce_profile("run", profile)
    for warning in report.warnings:
        click.echo(f"parawire: warning: {warning}", err=True)


def _interval(values: list[float], scale: float = 1.0, unit: str = " ms") -> str:
    """``[low, high]`` of a bootstrap interval, scaled, for the run's text report."""
    low, high = values
    return f"[{low * scale:.3f}, {high * scale:.3f}]{unit}"


def _run_lines(plan: Plan, report: RunReport, factor: float, breakdown: bool) -> list[str]:
    """The text report of ``parawire run``. Under ``--dilation F`` every time is the emulated
    device's: the measured (dilated) times divided by F; ratios are unaffected."""
    ms = 1e3 / factor  # seconds -> milliseconds of the emulated device
    o, load = report.options, report.load
    pinned = (
        "each rank pinned to its own core(s)"
        if load.get("pinned")
        else "not pinned (--no-pin, or too few cores for one per rank)"
    )
    processes = len(report.spread["split"]["process_medians_s"])
    lines = [
        f"{_describe(plan)}; {o['threads']} thread(s) per rank, {o['runs']} runs x "
        f"{processes} fresh process(es) per side (batch "
        f"{o['batch']}{', link ' + o['link'] if o.get('link') else ''}), {pinned}:",
        *_timing_lines(report, ms),
        f"  machine      1-minute load average {load['load_1min']:.2f} before, "
        f"{load['load_1min_after']:.2f} after, on {load['cores']} cores",
        *_rank_lines(report.ranks, ms),
        *_emulation_lines(report, factor),
    ]
    c = report.check
    if c:
        lines.append(
            f"  check        {c['images']} images of {c['source']}: top-1 agreement "
            f"{c['top1_agreement']:.2%}, max |diff| {c['max_abs_diff']:.2e} vs float32 in one "
            f"process (accuracy split {c['accuracy_split']:.2%}, one process "
            f"{c['accuracy_single']:.2%})"
        )
    if breakdown:
        lines += _breakdown_lines(report.breakdown)
    return lines


def _timing_lines(report: RunReport, ms: float) -> list[str]:
    """Distributed, one process, speedup and simulated: ``ms`` converts seconds for display."""
    spread = report.spread
    lines = [
        f"  distributed  p50 {report.p50_s * ms:.3f} ms {_interval(report.p50_interval_s, ms)}  "
        f"p95 {report.p95_s * ms:.3f} ms  processes differ x{spread['split']['max_over_min']:.2f}",
    ]
    if "one_process" in spread:
        lines += [
            f"  one process  p50 {report.single_process_p50_s * ms:.3f} ms "
            f"{_interval(report.single_process_p50_interval_s, ms)}  processes differ "
            f"x{spread['one_process']['max_over_min']:.2f}",
            f"  speedup      {report.speedup:.2f}x {_interval(report.speedup_interval, 1, 'x')}"
            f"  max |diff| {report.max_abs_diff:.2e}",
        ]
    lines.append(
        f"  simulated    {report.simulated_makespan_s * ms:.3f} ms ({report.options['profile']})"
        f"  measured/simulated {report.measured_over_simulated:.2f}"
    )
    return lines


def _rank_lines(ranks: list[dict], ms: float) -> list[str]:
    """Per rank: busy and finish times, measured beside simulated."""
    return [
        f"  rank {r['rank']}       busy {r['measured_busy_s'] * ms:.2f} ms (simulated "
        f"{r['simulated_busy_s'] * ms:.2f})  done at {r['measured_finish_s'] * ms:.2f} ms "
        f"(simulated {r['simulated_finish_s'] * ms:.2f})"
        + ("" if r["order_as_planned"] else "  ORDER DIFFERS FROM THE PLAN")
        for r in ranks
    ]


def _emulation_lines(report: RunReport, factor: float) -> list[str]:
    """How faithful the device emulation was, and what the time dilation did to the times."""
    lines = []
    if report.emulation:
        e = report.emulation
        over = e["over_emulated_time"]
        lines.append(
            f"  emulation    {e['profile']}: {len(over)} of {e['vertices']} vertices computed "
            "longer here than on the emulated device"
            + (f" (vertices {over[:8]}): not faithful for those" if over else "")
        )
    if factor != 1:
        lines.append(
            f"  dilation     x{factor:g}: every time above is the emulated device's, measured "
            f"{factor:g}x slower here and divided by {factor:g} (the dilated distributed p50 "
            f"was {report.p50_s * 1e3:.3f} ms)"
        )
    return lines


def _breakdown_lines(per_rank: list[dict[str, float]]) -> list[str]:
    """Per rank, the median milliseconds of each part of its inference (engine.PARTS)."""
    from parawire.runtime.engine import PARTS

    names = [p.removesuffix("_s") for p in PARTS]
    lines = ["  breakdown    median ms per inference: " + ", ".join([*names, "total"])]
    for rank, parts in enumerate(per_rank):
        if parts:
            cells = "  ".join(f"{parts[p] * 1e3:7.3f}" for p in (*PARTS, "total_s"))
            lines.append(f"    rank {rank:<3} {cells}")
    return lines


@click.command("worker")
@click.argument("path", metavar="PLAN", type=click.Path(path_type=Path))
@click.option("--rank", type=int, required=True, help="This device's rank (0: the driver).")
@click.option("--world", type=int, default=None, help="Ranks in the plan (default: the plan's).")
@master_option(required=True, help_text="HOST:PORT of rank 0's rendezvous.")
@bind_option()
@_threads
@runs_option(
    None,
    "Benchmark: measured runs (default 20 on rank 0). Without it a rank >= 1 serves the "
    "driver (`parawire serve` or `predict --master`) until the driver ends.",
)
@warmup_option()
@batch_option()
@link_option()
@emulate_option()
@timeout_option()
@click.option(
    "--exit-with-parent/--no-exit-with-parent",
    default=True,
    show_default=True,
    help="End when the process that started this worker ends (a script, shell or ssh "
    "session), so that no worker computes on forever; --no-exit-with-parent to detach.",
)
@json_option("Rank 0: print one JSON object.")
def worker_cmd(
    path: Path,
    rank: int,
    world: int | None,
    master: str,
    bind: str | None,
    threads: int,
    runs: int | None,
    warmup: int,
    batch: int,
    link: str | None,
    emulate: str | None,
    timeout: float,
    exit_with_parent: bool,
    as_json: bool,
) -> None:
    """Run one rank of PLAN on this device: serve a driver (rank >= 1 without --runs), or
    benchmark (start rank 0 first; every rank the same options)."""
    import os

    from parawire.runtime.lifeline import exit_with_parent as watch_parent
    from parawire.runtime.lifeline import quiet_torch_logs

    if exit_with_parent:
        watch_parent(os.getppid())
    quiet_torch_logs()  # before torch loads: a lost peer is one line, not pages of frames
    from parawire.errors import ConfigError
    from parawire.runtime.group import StoreHost, parse_address, wide_bind_warning
    from parawire.runtime.options import run_profile
    from parawire.runtime.plan import Plan
    from parawire.runtime.rank import run_rank
    from parawire.runtime.secret import load_secret

    # rank 0 times the whole model in its own process after each split inference (paired): on
    # real devices there is no second process of the same device to interleave with
    options = dataclasses.replace(
        _options(runs or 20, warmup, batch, threads, timeout, link, emulate), paired=True
    )
    run_profile(None, link, emulate)  # an unknown profile fails before joining the others
    plan = Plan.load(path)
    world = plan.world if world is None else world
    if world != plan.world or not 0 <= rank < world:
        raise ConfigError(f"the plan is for --world {plan.world} (ranks 0..{plan.world - 1})")
    secret = load_secret(path)
    host, port = parse_address(master)
    if runs is None and rank > 0:
        _serve_rank(plan, rank, host, port, secret, options)
        return
    if rank == 0 and (line := wide_bind_warning(bind or host)) is not None:
        click.echo(f"parawire: warning: {line}", err=True)
    server = StoreHost(bind or host, port, world, timeout) if rank == 0 else None
    try:
        store = server.store if server is not None else None
        record = run_rank(plan, rank, host, port, options, store=store, secret=secret)
    finally:
        if server is not None:
            server.close()
    if rank == 0:
        _print_rank0(record, world, runs, as_json)


def _print_rank0(record: RankRecord, world: int, runs: int | None, as_json: bool) -> None:
    """Rank 0's benchmark result: its latencies against one process."""
    from parawire.runtime.run_report import percentile

    p50, p95 = percentile(record.latencies, 50), percentile(record.latencies, 95)
    single = percentile(record.single, 50) if record.single else float("nan")
    if as_json:
        doc = {"world": world, "p50_s": p50, "p95_s": p95, "runs": runs,
               "single_process_p50_s": single, "max_abs_diff": record.max_abs_diff}  # fmt: skip
        click.echo(dumps_strict(doc))
    else:
        click.echo(
            f"{world} ranks: p50 {p50 * 1e3:.3f} ms  p95 {p95 * 1e3:.3f} ms ({runs} runs); one "
            f"process p50 {single * 1e3:.3f} ms; max |diff| {record.max_abs_diff:.2e}"
        )


def _serve_rank(
    plan: Plan, rank: int, host: str, port: int, secret: str, options: RunOptions
) -> None:
    """`worker` without --runs: serve the driver at ``host:port`` until it ends."""
    from parawire.runtime.serving import ServeOptions, serve_worker

    def log(line: str) -> None:
        click.echo(f"parawire: {line}", err=True)

    click.echo(
        f"parawire: rank {rank} of {plan.world} serving the driver at {host}:{port} (plan "
        f"placed for profile {plan.info.get('profile', 'local-cpu')}, from plan.json)",
        err=True,
    )
    serve = ServeOptions(options.timeout, options.threads, options.link, options.emulate)
    log(f"rank {rank}: {serve_worker(plan, rank, host, port, secret, serve, log)}")


COMMANDS = [plan_cmd, run_cmd, worker_cmd]
