"""`parawire analyze`: where one inference of a network should run on up to n devices, and why.

parawire analyze arch.json --devices 4 --profile rpi4-wifi
parawire analyze torchvision:resnet50 --devices 4 --compare
parawire analyze arch.json --devices 8 --wire-dtype float16 --json --out results/
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from parawire._io import dumps_strict
from parawire.analysis.api import AnalysisResult, analyze, compare
from parawire.analysis.throughput import fastest_stream, steady_state
from parawire.cli._basis import say, weights_note
from parawire.cli.arguments import network_argument
from parawire.cli.deployment_options import (
    PARTITIONER_SEED_HELP,
    announce_profile,
    deployment_options,
)
from parawire.cli.options import (
    DEFAULT_PROFILE,
    devices_option,
    json_option,
    out_option,
    predictor_option,
    profile_option,
    seed_option,
)
from parawire.filenames import ANALYSIS_FILE, COMPARE_FILE, PLAN_DIR, TIMELINE_FILE


def _summary_table(result: AnalysisResult) -> Table:
    table = Table(title=f"{result.name} on up to {result.devices} devices ({result.profile})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    eps = f", eps {result.eps}" if result.eps is not None else ""
    paper = result.paper
    flow = steady_state(result.schedule)
    rows = [
        ("deployment", f"{result.devices_used} of {result.devices} devices"),
        ("placement", f"{result.partitioner}{eps} (select {result.select})"),
        ("wire / scatter", f"{result.wire_dtype} / {result.scatter}"),
        ("vertices", str(result.vertices)),
        ("depth (longest path)", str(result.depth)),
        ("eta", f"{result.eta:.3f}"),
        ("delta_W", f"{result.delta_w:.3f}"),
        ("communication", f"{result.comm_bytes / 1e6:.3f} MB"),
        ("Lambda'", f"{result.comm_norm:.2f}"),
        ("load entropy", f"{result.entropy:.3f}"),
        ("CS (lower is better)", f"{result.cs:.3f}"),
        ("T1 (one device)", f"{result.single_device_s * 1e3:.2f} ms"),
        ("Tn (simulated)", f"{result.makespan_s * 1e3:.2f} ms"),
        ("speedup", f"{result.speedup:.2f}x"),
        (
            "throughput (pipelined)",
            f"{flow.frames_per_s:.1f} frames/s ({flow.speedup:.2f}x one device; "
            f"bottleneck {flow.bottleneck}, {flow.frames_in_flight:.1f} frames in flight)",
        ),
        ("bound T1/CP", f"{result.t1_over_cp:.2f}x"),
        (
            "paper's CS choice",
            f"{paper['speedup']:.2f}x on {paper['devices_used']} (kahypar, CS {paper['cs']:.3f})",
        ),
    ]
    for label, value in rows:
        table.add_row(label, value)
    return table


def _options_table(result: AnalysisResult) -> Table:
    base = result.partitioner.split("+")[0]
    table = Table(title=f"{base}'s eps sweep (chosen option marked *; +moves: then refined)")
    for col in ("eps", "CS", "delta_W", "comm MB", "speedup"):
        table.add_column(col, justify="right")
    for o in result.options:
        mark = "*" if o["eps"] == result.eps else ""
        table.add_row(
            f"{o['eps']}{mark}",
            f"{o['cs']:.3f}",
            f"{o['delta_w']:.3f}",
            f"{o['comm_bytes'] / 1e6:.3f}",
            f"{o['speedup']:.2f}x",
        )
    return table


def _compare_table(results: list[AnalysisResult]) -> Table:
    first = results[0]
    table = Table(
        title=f"{first.name} on {first.devices} devices ({first.profile}, "
        f"{first.wire_dtype}, {first.scatter} scatter), fastest option of each partitioner"
    )
    for col in ("partitioner", "CS", "delta_W", "entropy", "comm MB", "Tn ms", "speedup"):
        table.add_column(col, justify="right")
    for r in results:
        table.add_row(
            r.partitioner,
            f"{r.cs:.3f}",
            f"{r.delta_w:.3f}",
            f"{r.entropy:.3f}",
            f"{r.comm_bytes / 1e6:.3f}",
            f"{r.makespan_s * 1e3:.2f}",
            f"{r.speedup:.2f}x",
        )
    table.caption = (
        f"eta {first.eta:.3f}, T1 {first.single_device_s * 1e3:.2f} ms, "
        f"bound T1/CP {first.t1_over_cp:.2f}x"
    )
    return table


def _write_out(
    out: Path,
    target: str,
    results: list[AnalysisResult],
    single: bool,
    seed: int,
    compared: list[AnalysisResult] | None = None,
) -> Path | None:
    """analysis.json, timeline.json, compare.json (of ``compared``) and the plan of the first
    result, written into a staged folder moved in at the end: all of them, or on an error none.
    """
    from parawire._io import staged_folder
    from parawire.errors import ConfigError
    from parawire.nn.model_ref import ModelRef
    from parawire.runtime.planner import load_network, plan_from_analysis

    network = load_network(target)  # a spec, or a model name (traced as analyze traced it)
    if isinstance(network, str):
        try:
            plan = plan_from_analysis(ModelRef.named(network), results[0], seed=seed)
        except ConfigError:
            plan = None  # a model the runtime cannot split (e.g. a vertex hands on an int)
    else:
        plan = plan_from_analysis(network, results[0], seed=seed)
    try:
        with staged_folder(out) as stage:
            payload = [r.to_dict() for r in results]
            text = dumps_strict(payload[0] if single else payload, indent=2)
            (stage / ANALYSIS_FILE).write_text(text)
            timelines = {
                r.partitioner: r.schedule.to_dict(timeline=True)["timeline"] for r in results
            }
            (stage / TIMELINE_FILE).write_text(dumps_strict(timelines))
            if compared is not None:
                doc = [r.to_dict() for r in compared]
                (stage / COMPARE_FILE).write_text(dumps_strict(doc, indent=2))
            if plan is not None:
                plan.save(stage / PLAN_DIR)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write the folder ({exc.strerror})") from exc
    return out / PLAN_DIR if plan is not None else None


def _plan_note(plan_dir: Path | None) -> str | None:
    """The written plan's untrained weights, said (``_basis.weights_note``)."""
    if plan_dir is None:
        return None
    from parawire.runtime.plan import Plan

    return weights_note(Plan.load(plan_dir), f"the plan in {plan_dir}")


def _predicted(predictor_file: Path, target: str, best: AnalysisResult) -> dict:
    """The latency predictor's figures for the chosen placement (parawire.latency)."""
    from parawire.errors import ConfigError
    from parawire.runtime.planner import input_first, load_network

    spec = load_network(target)
    if isinstance(spec, str):
        raise ConfigError("--predictor needs a spec file (latency predictors featurize specs)")
    from parawire.latency import load_predictor, predict_spec

    predictor = load_predictor(predictor_file)
    profile = best.profile if best.profile in predictor.profiles else None
    placement = input_first(best.placement, spec)
    return predict_spec(
        predictor,
        spec,
        best.devices,
        profile=profile,
        wire_dtype=best.wire_dtype,
        placement=placement,
    )


@click.command("analyze")
@network_argument("target", "SPEC_OR_MODEL", path=False)
@devices_option(default=4)
@profile_option(DEFAULT_PROFILE, "of the devices the deployment is simulated on")
@deployment_options
@click.option(
    "--compare",
    "compare_all",
    is_flag=True,
    help="Every partitioner side by side, each with its fastest option by simulated latency "
    "(the makespan of one inference), as --select latency chooses.",
)
@click.option(
    "--objective",
    type=click.Choice(["latency", "throughput"]),
    default="latency",
    show_default=True,
    help="What the placement is chosen for: one inference's latency, or frames per second "
    "when inferences are pipelined (every partitioner is tried; docs/analysis.md).",
)
@seed_option(PARTITIONER_SEED_HELP)
@json_option()
@out_option(
    f"Also write {ANALYSIS_FILE}, {TIMELINE_FILE} and the plan `run` executes ({PLAN_DIR}/) "
    "into this folder."
)
@predictor_option(
    "A latency predictor (`parawire latency fit`): its prediction for the chosen "
    "placement beside the simulation's (spec files only)."
)
def analyze_cmd(
    target: str,
    devices: int,
    profile: str,
    deployment: dict[str, Any],
    compare_all: bool,
    objective: str,
    seed: int,
    as_json: bool,
    out: Path | None,
    predictor: Path | None,
) -> None:
    """Choose and simulate a deployment of SPEC_OR_MODEL (arch.json, torchvision:NAME or a
    baseline: cifarnet, resnet20, resnet50) on up to --devices devices; print the figures and a
    verdict."""
    best = analyze(target, devices, profile, seed=seed, **deployment)
    results = [best]
    if compare_all or objective == "throughput":
        kw = dict(deployment)
        partitioner = kw.pop("partitioner")
        names = [partitioner] if partitioner else None
        results = compare(target, devices, profile, names, seed=seed, **kw)
    if objective == "throughput":
        best = fastest_stream([best, *results])
        results = results if compare_all else [best]
    plan_dir = None
    if out is not None:
        compared = results if compare_all else None
        plan_dir = _write_out(out, target, [best], True, seed, compared)
    predicted = _predicted(predictor, target, best) if predictor is not None else None
    announce_profile("analyze", profile)  # the first line of the output, once the work is done
    say("analyze", _plan_note(plan_dir))  # an estimated profile: the verdict says so
    if as_json:
        click.echo(dumps_strict(_json_payload(best, results, objective, predicted, compare_all)))
        return
    _print_text(best, results if compare_all else None, predicted, out, plan_dir)


def _json_payload(
    best: AnalysisResult,
    results: list[AnalysisResult],
    objective: str,
    predicted: dict | None,
    compare_all: bool,
) -> dict:
    """The one JSON object `analyze --json` prints."""
    payload = {**best.to_dict(), "throughput": steady_state(best.schedule).to_dict()}
    payload["objective"] = objective
    if predicted is not None:
        payload["predictor"] = predicted
    if compare_all:
        payload["compare"] = {r.partitioner: r.to_dict() for r in results}
    return payload


def _print_text(
    best: AnalysisResult,
    compared: list[AnalysisResult] | None,
    predicted: dict | None,
    out: Path | None,
    plan_dir: Path | None,
) -> None:
    """The tables, the predictor's figure, the verdict and what was written."""
    console = Console()
    if compared is not None:
        console.print(_compare_table(compared))
    else:
        console.print(_summary_table(best))
        if len(best.options) > 1:
            console.print(_options_table(best))
    if predicted is not None:
        console.print(
            f"predicted latency ({predicted['predictor']}, {predicted['profile']}): "
            f"{predicted['predicted_s'] * 1e3:.2f} ms; simulated on "
            f"{predicted['simulation_profile']}: {predicted['simulated_s'] * 1e3:.2f} ms",
            highlight=False,
        )
    console.print(best.verdict.text, highlight=False)
    if out is not None:
        console.print(f"wrote {out / ANALYSIS_FILE} and {out / TIMELINE_FILE}", highlight=False)
    if plan_dir is not None:
        console.print(
            f"wrote the plan to {plan_dir}: run it with `parawire run {plan_dir}` "
            f"(add --link {best.profile} to emulate the link here)",
            highlight=False,
        )


COMMANDS = [analyze_cmd]
