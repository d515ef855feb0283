"""Result tables as plain data, and their Markdown, CSV and rich renderings.

Gathering (``study.tables``) and drawing (this module) are separate steps: a ``Table`` is a
title, column names and rows of numbers or strings; ``None`` prints as a dash.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table as RichTable

Cell = str | int | float | None


@dataclass(frozen=True)
class Table:
    """A titled table of cells."""

    name: str  # file stem, e.g. "generators"
    title: str  # human title, e.g. "Generators vs baselines"
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    notes: tuple[str, ...] = field(default_factory=tuple)  # printed under the table

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON dictionary."""
        return {
            "name": self.name,
            "title": self.title,
            "columns": list(self.columns),
            "rows": [list(r) for r in self.rows],
            "notes": list(self.notes),
        }


def fmt(cell: Cell, digits: int = 2) -> str:
    """A cell as text: floats with ``digits`` decimals (one more below 1), None as a dash."""
    if cell is None:
        return "-"
    if isinstance(cell, float):
        return f"{cell:.{digits + 1}f}" if 0 < abs(cell) < 1 else f"{cell:.{digits}f}"
    return str(cell)


def to_markdown(table: Table) -> str:
    """GitHub Markdown: a heading, the table, the notes."""
    lines = [f"### {table.title}", "", "| " + " | ".join(table.columns) + " |"]
    lines.append("|" + "|".join("---" for _ in table.columns) + "|")
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in table.rows]
    lines += [""] + [f"{n}" for n in table.notes]
    return "\n".join(lines).rstrip() + "\n"


def to_csv(table: Table) -> str:
    """CSV with a header row; numbers at full precision, None as empty."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow(["" if c is None else c for c in row])
    return buf.getvalue()


def to_rich(table: Table) -> RichTable:
    """A rich table for the terminal."""
    out = RichTable(title=table.title, caption="\n".join(table.notes) or None)
    for i, col in enumerate(table.columns):
        out.add_column(col, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for row in table.rows:
        out.add_row(*(fmt(c) for c in row))
    return out
