"""`parawire report`: one self-contained HTML page of a results folder.

parawire report runs/an                       # runs/an/report.html
parawire report runs/demo -o demo.html --figures docs/img
"""

from __future__ import annotations

from pathlib import Path

import click

from parawire.cli.options import out_option


@click.command("report")
@click.argument(
    "folder", metavar="DIR", type=click.Path(file_okay=False, exists=True, path_type=Path)
)
@out_option("The HTML file to write (default: DIR/report.html).", file=True)
@click.option(
    "--figures",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also write every picture as PNG and SVG into this folder.",
)
def report_cmd(folder: Path, out: Path | None, figures: Path | None) -> None:
    """Write one static HTML page (pictures embedded, no network needed) with the tables,
    plots and commands of DIR: an analysis (analyze --out), a run (run --json > DIR/run.json),
    a study or demo folder, a search or a latency folder."""
    from rich.console import Console

    from parawire.study.reporting import write_report

    with Console(stderr=True).status(f"drawing the report of {folder}"):
        page, saved = write_report(folder, out, figures)
    if saved:
        click.echo(f"wrote {len(saved)} picture files to {figures}", err=True)
    click.echo(f"wrote {page}")


COMMANDS = [report_cmd]
