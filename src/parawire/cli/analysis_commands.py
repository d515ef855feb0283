"""`parawire analyze`: concurrency score, placement and predicted speedup of a network on n devices.

parawire analyze arch.json --devices 4 --profile rpi4-wifi
parawire analyze torchvision:resnet50 --devices 4 --compare
parawire analyze arch.json --devices 8 --partitioner heft --json --out results/
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from parawire.analysis.api import SELECTIONS, AnalysisResult, analyze, compare
from parawire.analysis.partitioners import EPS_SWEEP, list_partitioners
from parawire.errors import ConfigError

RESULT_FILE = "analysis.json"  # --out: the JSON --json prints (one object, or a list)
TIMELINE_FILE = "timeline.json"  # --out: every compute and transfer interval of each schedule


def _parse_eps(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--eps takes comma-separated numbers, got {text!r}") from None
    if not values or min(values) < 0:
        raise ConfigError(f"--eps needs at least one value >= 0, got {text!r}")
    return values


def _summary_table(result: AnalysisResult) -> Table:
    table = Table(title=f"{result.name} on {result.devices} devices ({result.profile})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("partitioner", result.partitioner),
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
        ("bound T1/CP", f"{result.t1_over_cp:.2f}x"),
    ]
    for label, value in rows:
        table.add_row(label, value)
    return table


def _options_table(result: AnalysisResult) -> Table:
    table = Table(title="eps sweep (chosen option marked *)")
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
    table = Table(title=f"{first.name} on {first.devices} devices ({first.profile})")
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


def _write_out(out: Path, results: list[AnalysisResult], single: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    payload = [r.to_dict() for r in results]
    (out / RESULT_FILE).write_text(json.dumps(payload[0] if single else payload, indent=2))
    timelines = {r.partitioner: r.schedule.to_dict(timeline=True)["timeline"] for r in results}
    (out / TIMELINE_FILE).write_text(json.dumps(timelines))


@click.command("analyze")
@click.argument("target", metavar="SPEC_OR_MODEL")
@click.option("--devices", "-n", type=int, default=4, show_default=True, help="Number of devices.")
@click.option("--profile", default="rpi4-wifi", show_default=True, help="Name or TOML file.")
@click.option(
    "--partitioner",
    default="kahypar",
    show_default=True,
    help=f"One of: {', '.join(list_partitioners())}.",
)
@click.option("--compare", "compare_all", is_flag=True, help="Every partitioner side by side.")
@click.option(
    "--eps",
    default=",".join(str(e) for e in EPS_SWEEP),
    show_default=True,
    help="Balance tolerances to sweep (comma-separated).",
)
@click.option("--select", type=click.Choice(SELECTIONS), default="cs", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=f"Also write {RESULT_FILE} and {TIMELINE_FILE} into this folder.",
)
def analyze_cmd(
    target: str,
    devices: int,
    profile: str,
    partitioner: str,
    compare_all: bool,
    eps: str,
    select: str,
    seed: int,
    as_json: bool,
    out: Path | None,
) -> None:
    """Score, place and simulate SPEC_OR_MODEL (arch.json, torchvision:NAME, baseline:NAME)."""
    eps_values = _parse_eps(eps)
    if compare_all:
        results = compare(target, devices, profile, eps=eps_values, seed=seed, select=select)
    else:
        results = [
            analyze(target, devices, profile, partitioner, eps=eps_values, seed=seed, select=select)
        ]
    if out is not None:
        _write_out(out, results, single=not compare_all)
    if as_json:
        if compare_all:
            payload = {"compare": {r.partitioner: r.to_dict() for r in results}}
        else:
            payload = results[0].to_dict()
        click.echo(json.dumps(payload))
        return
    console = Console()
    if compare_all:
        console.print(_compare_table(results))
    else:
        console.print(_summary_table(results[0]))
        if len(results[0].options) > 1:
            console.print(_options_table(results[0]))
    if out is not None:
        console.print(f"wrote {out / RESULT_FILE} and {out / TIMELINE_FILE}")


COMMANDS = [analyze_cmd]
