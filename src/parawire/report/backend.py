"""What a report needs computed that its folder does not store, as a contract.

``report`` reads results folders and draws them; it imports nothing of ``analysis`` or ``study``
(the layering: report sits beside analysis, below study). Where a page needs a figure that a
folder does not hold (the cost graph of a plan's spec to draw it, a plan's simulated schedule,
the command that reruns a study), it asks a :class:`Backend`, which the layer above passes in:
``parawire.study.reporting.AnalysisBackend`` (what ``parawire report`` and ``study`` use).
Events are the JSON form the folders store (``timeline.json``): plain mappings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import networkx as nx

from parawire.arch.spec import ArchSpec

EventDoc = Mapping[str, Any]  # {"kind", "vertex", "device", "start", "end"[, "dst", "nbytes"]}


class VertexView(Protocol):
    """A vertex as a drawing needs it."""

    @property
    def id(self) -> int: ...  # the spec's vertex id

    @property
    def macs(self) -> float: ...  # multiply-accumulates of one inference (the dot's area)


class CostGraphView(Protocol):
    """A network's cost graph as a drawing needs it (``analysis.graph.CostGraph`` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def vertices(self) -> Sequence[VertexView]: ...

    @property
    def edges(self) -> Sequence[tuple[int, int]]: ...

    @property
    def topological_order(self) -> Sequence[int]: ...

    @property
    def dag(self) -> nx.DiGraph: ...

    def sent_bytes(self, vertex: int) -> int: ...  # bytes of one send of ``vertex``'s output


@dataclass(frozen=True)
class Simulated:
    """A simulated schedule, as a report draws it."""

    timeline: tuple[EventDoc, ...]  # every compute and transfer, in the stored JSON form
    devices: int  # devices the schedule spans
    makespan_s: float  # seconds from the image to the logits
    speedup: float  # one device's time over ``makespan_s``
    profile: str  # the profile's name


class Backend(Protocol):
    """The computations a report asks of the layer above it."""

    def cost_graph(
        self, spec: ArchSpec, *, batch: int = 1, wire_dtype: str, scatter: str
    ) -> CostGraphView:
        """The cost graph of ``spec`` (MACs per vertex, bytes per edge)."""
        ...

    def run_schedule(
        self, spec: ArchSpec, plan: Mapping[str, Any], run: Mapping[str, Any], folder: Path
    ) -> Simulated:
        """The schedule of ``plan`` (plan.json) simulated on the profile ``run`` (``run
        --json``) recorded; a profile file is read only from inside ``folder``."""
        ...

    def study_schedule(
        self, spec: ArchSpec, placement: Mapping[int, int], analysis: Mapping[str, Any]
    ) -> Simulated:
        """The schedule of a study row's recommended deployment (its ``analysis.full``)."""
        ...

    def study_command(self, config: Mapping[str, Any], out: str) -> str:
        """The command that reruns the study ``config`` (results.json's) into ``out``."""
        ...
