"""The report page being built from a results folder: its figures by unique name, the folder's
JSON read inside it only, a plan's spec, and the architecture picture two kinds of folder share.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parawire import _io
from parawire.errors import DataError
from parawire.filenames import (
    PLAN_FILE,
)
from parawire.report.backend import Backend
from parawire.report.html import Page, Picture

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_JSON_BYTES = 64 * 2**20  # larger JSON files are not read


class ReportPage:
    """The page being built, with every figure under a unique name."""

    def __init__(self, folder: Path, backend: Backend) -> None:
        self.folder = folder
        self.backend = backend  # what the folder does not store (costs, schedules, commands)
        self.figures: dict[str, Figure] = {}
        self.page = Page(title=f"parawire report: {folder}")

    def picture(self, name: str, fig: Figure, caption: str) -> Picture:
        """Keep ``fig`` under ``name`` and return it as an embedded picture."""
        from parawire.report.plots import png_data_uri

        if name in self.figures:
            raise AssertionError(f"two pictures named {name}")
        self.figures[name] = fig
        return Picture(name, png_data_uri(fig), caption)


def read_json(path: Path, folder: Path) -> Any:
    """Parsed JSON of ``path`` (``parawire._io.read_json``); ``DataError`` when it leads out of
    the reported ``folder`` (a link), is not a regular file, is too large or is not JSON."""
    return _io.read_json(path, what="results file", limit=MAX_JSON_BYTES, inside=folder)


def spec_of_plan(path: Path) -> tuple[Any, dict[str, Any]] | None:
    """(ArchSpec, plan JSON) of a plan folder, or None when absent or of a traced model (no
    spec to draw)."""
    from parawire.arch.spec import ArchSpec

    file = path / PLAN_FILE if path.is_dir() else path
    if not file.is_file():
        return None
    doc = read_json(file, path.parent)
    if isinstance(doc, dict) and "model" in doc and "spec" not in doc:
        return None
    try:
        return ArchSpec.from_dict(doc["spec"]), doc
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{file} is not a parawire plan ({exc})") from exc


def architecture_picture(
    report: ReportPage, name: str, spec: Any, placement: Mapping[int, int], r: Mapping[str, Any]
) -> Picture:
    from parawire.report.plots import architecture_figure

    graph = report.backend.cost_graph(spec, wire_dtype=r["wire_dtype"], scatter=r["scatter"])
    return report.picture(
        name,
        architecture_figure(graph, placement),
        f"The architecture by depth, each vertex on its device (dot area: MACs); red edges "
        f"cross devices, labelled with the bytes sent once per receiving device "
        f"({r['wire_dtype']}, {r['scatter']} scatter).",
    )
