"""One self-contained static HTML page: tables, pictures embedded as ``data:`` URIs, commands.

The page needs no other file and no network: inline CSS, no script, every image a PNG inside
the page. ``Page`` and ``Section`` are plain data; ``render`` turns them into the page.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from parawire._version import __version__
from parawire.report.tables import Table, fmt

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222;
       padding: 0 1em; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
h3 { font-size: 1.05em; margin-bottom: .3em; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .9em; color: #555; }
pre { background: #f6f8fa; padding: .6em .8em; overflow-x: auto; font-size: .85em; }
p.note { font-size: .85em; color: #555; }
"""


@dataclass(frozen=True)
class Picture:
    """One embedded picture."""

    name: str  # file stem when saved (e.g. "schedule"), also the <img> id
    uri: str  # data:image/png;base64,...
    caption: str  # what it shows, under it
    width: int = 0  # pixels (0: natural size)


@dataclass
class Section:
    """A part of the page: one folder kind (an analysis, a run, a study...)."""

    title: str
    text: list[str] = field(default_factory=list)  # paragraphs (plain text)
    commands: list[str] = field(default_factory=list)  # shell commands, shown verbatim
    command_note: str = ""  # where the commands come from
    tables: list[Table] = field(default_factory=list)
    pictures: list[Picture] = field(default_factory=list)


@dataclass
class Page:
    """The whole report."""

    title: str
    intro: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def table_html(table: Table) -> str:
    """A ``Table`` as an HTML table (cells as ``fmt`` prints them), its notes under it."""
    head = "".join(f"<th>{_esc(c)}</th>" for c in table.columns)
    body = "\n".join(
        "<tr>"
        + "".join(
            f'<td class="num">{_esc(fmt(c))}</td>'
            if isinstance(c, int | float) and i
            else f"<td>{_esc(fmt(c))}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in table.rows
    )
    notes = "".join(f'<p class="note">{_esc(n)}</p>' for n in table.notes)
    return (
        f'<h3>{_esc(table.title)}</h3>\n<table data-name="{_esc(table.name)}">\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table>\n{notes}"
    )


def section_html(section: Section) -> str:
    """One section: heading, text, commands, tables, pictures."""
    parts = [f"<section>\n<h2>{_esc(section.title)}</h2>"]
    parts += [f"<p>{_esc(t)}</p>" for t in section.text]
    if section.commands:
        if section.command_note:
            parts.append(f'<p class="note">{_esc(section.command_note)}</p>')
        parts.append("<pre><code>" + _esc("\n".join(section.commands)) + "</code></pre>")
    parts += [table_html(t) for t in section.tables]
    for p in section.pictures:
        width = f' width="{p.width}"' if p.width else ""
        parts.append(
            f'<figure><img id="{_esc(p.name)}" src="{p.uri}" alt="{_esc(p.caption)}"{width}>'
            f"<figcaption>{_esc(p.caption)}</figcaption></figure>"
        )
    parts.append("</section>")
    return "\n".join(parts)


def render(page: Page) -> str:
    """The page as one HTML document."""
    intro = "".join(f"<p>{_esc(t)}</p>" for t in page.intro)
    body = "\n".join(section_html(s) for s in page.sections)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(page.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<h1>{_esc(page.title)}</h1>\n{intro}\n{body}\n"
        f'<p class="note">parawire {_esc(__version__)}</p>\n</body>\n</html>\n'
    )
