"""`parawire generate`, `show`, `validate`: create and inspect architecture specs."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from parawire.arch import STAGINGS, ArchSpec, StagingConfig, generate, load_spec
from parawire.arch.spec import AGGREGATIONS
from parawire.cli.arguments import network_argument
from parawire.cli.options import (
    c_max_option,
    channels_option,
    merge_option,
    out_option,
    seed_option,
)
from parawire.errors import ConfigError
from parawire.graphs import ORIENTATIONS, generator_class


def parse_params(items: tuple[str, ...]) -> dict[str, str]:
    """``("k=v", ...)`` -> ``{"k": "v"}``, with a clear error for a malformed item."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--param takes key=value, got {item!r} (e.g. --param p=0.2)")
        out[key.strip()] = value.strip()
    return out


@click.command("generate")
@click.argument("generator", metavar="GENERATOR")
@click.option("--param", "params", multiple=True, help="Generator parameter key=value.")
@click.option(
    "--staging",
    type=click.Choice(STAGINGS),
    default="probabilistic",
    show_default=True,
    help="How channels and map sizes change along the network: probabilistic or greedy "
    "staging, uniform channels, or fb (RandWire's fixed stages: --fb-stages graphs in sequence).",
)
@seed_option("Seeds the graph generator and the staging draws: same seed, same architecture.")
@channels_option(32, "Stem width.")
@c_max_option()
@click.option(
    "--stage-prob",
    type=float,
    default=0.5,
    show_default=True,
    help="probabilistic staging: chance that a vertex starts a new stage.",
)
@click.option("--min-size", type=int, default=4, show_default=True, help="Smallest map side.")
@click.option(
    "--fb-stages", type=int, default=3, show_default=True, help="fb staging: graphs in sequence."
)
@click.option("--input-size", type=int, default=32, show_default=True, help="Image side (px).")
@click.option("--in-channels", type=int, default=3, show_default=True, help="Image channels.")
@click.option("--num-classes", type=int, default=10, show_default=True, help="Classifier outputs.")
@click.option(
    "--orientation",
    type=click.Choice(sorted(ORIENTATIONS)),
    default="dfs",
    show_default=True,
    help="How edges get a direction: dfs (EDGE'23: depth-first discovery order) or index "
    "(RandWire: lower to higher vertex index).",
)
@click.option(
    "--aggregation",
    type=click.Choice(AGGREGATIONS),
    default=AGGREGATIONS[0],
    show_default=True,
    help="How a vertex combines its inputs (docs/generators.md).",
)
@merge_option()
@out_option("Write the spec here (default: print JSON to stdout).", file=True)
def generate_cmd(
    generator: str,
    params: tuple[str, ...],
    staging: str,
    seed: int,
    channels: int,
    c_max: int,
    stage_prob: float,
    min_size: int,
    fb_stages: int,
    input_size: int,
    in_channels: int,
    num_classes: int,
    orientation: str,
    aggregation: str,
    merge: str,
    out: Path | None,
) -> None:
    """Generate an architecture from GENERATOR (one of: er, ba, ws, dp, chain, lanes)."""
    generator_class(generator)  # unknown name -> one clear line before anything else
    cfg = StagingConfig(staging, channels, c_max, stage_prob, min_size, fb_stages)
    spec = generate(
        generator,
        seed=seed,
        staging=cfg,
        input_shape=(in_channels, input_size, input_size),
        num_classes=num_classes,
        orientation=orientation,
        aggregation=aggregation,
        merge=merge,
        **parse_params(params),
    )
    if out is None:
        click.echo(spec.to_json())
    else:
        spec.save(out)
        click.echo(f"wrote {out} ({len(spec.nodes)} vertices, {len(spec.edges)} edges)", err=True)


def summary_rows(spec: ArchSpec) -> list[tuple[str, str]]:
    """The facts ``show`` prints, as (label, value) pairs."""
    from parawire.analysis.costs import spec_costs  # imports torch: only when showing

    costs = spec_costs(spec)
    clusters = spec.clusters()
    sizes = sorted((len(c) for c in clusters), reverse=True)
    p = spec.provenance
    c, h, w = spec.input_shape
    return [
        ("generator", f"{p.generator} {p.params} seed={p.seed}"),
        ("staging", str(p.staging.get("name", "?"))),
        ("input", f"{c}x{h}x{w}, {spec.num_classes} classes"),
        ("vertices", str(len(spec.nodes))),
        ("edges", str(len(spec.edges))),
        ("merge", spec.merge),
        ("fixed stages", f"{len(spec.stages)} (RandWire-style stage boundaries)"),
        ("staging vertices", f"{sum(n.stage for n in spec.nodes)} (halve size, double channels)"),
        ("clusters", f"{len(clusters)} (components without input and output; sizes {sizes})"),
        ("depth", str(spec.depth())),
        ("width", str(spec.width())),
        ("channels", f"{spec.stem.channels} -> {max(n.channels for n in spec.nodes)}"),
        ("parameters", f"{costs.total_params:,}"),
        ("MACs", f"{costs.total_macs:,}"),
        ("digest", spec.digest()),
    ]


@click.command("show")
@network_argument("spec_path", "ARCH_JSON")
def show_cmd(spec_path: Path) -> None:
    """Summarise an architecture: vertices, edges, stages, depth, width, parameters, MACs."""
    spec = load_spec(spec_path)
    table = Table(title=str(spec_path), show_header=False)
    for label, value in summary_rows(spec):
        table.add_row(label, value)
    Console().print(table)


@click.command("validate")
@network_argument("spec_path", "ARCH_JSON")
def validate_cmd(spec_path: Path) -> None:
    """Check a spec file against every structural rule; exit 1 with the first problem."""
    spec = load_spec(spec_path)
    click.echo(f"{spec_path}: valid ({len(spec.nodes)} vertices, {len(spec.edges)} edges)")


COMMANDS = [generate_cmd, show_cmd, validate_cmd]
