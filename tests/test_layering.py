"""The layering of STYLE.md holds: each package imports only from floors below its own.

graphs → arch → nn → analysis / train / report → runtime → study / latency / export → search →
cli. Read from the source with ``ast`` (``tests/_imports.py``), counting imports inside functions
and under ``TYPE_CHECKING``: a lazy import still runs back up the layering.
"""

from __future__ import annotations

import networkx as nx
import pytest

from _imports import ROOT, package_edges, package_of, parawire_imports, source_files

# The floor of each package; a package imports only from lower floors (its own floor is a
# neighbour it may not import). The ground floor imports nothing of parawire's but the ground.
GROUND = (
    "errors", "_version", "_lazy", "_memo", "_inference", "_memory", "measure", "registry",
    "_io", "weights", "filenames", "progress",
)  # fmt: skip
FLOORS: dict[str, int] = {
    **dict.fromkeys(GROUND, 0),
    "graphs": 1,
    "data": 1,
    "arch": 2,
    "nn": 3,
    "analysis": 4,
    "train": 4,
    "report": 4,  # reads folders and draws; what they do not store, a backend computes
    "runtime": 5,
    "study": 6,
    "latency": 6,
    "export": 6,
    "search": 7,
    "cli": 8,
    ROOT: 8,
}
# Within the ground floor, the order in which its modules may import each other (others: 1).
GROUND_ORDER = {"errors": 0, "_version": 0, "filenames": 0, "weights": 2, "progress": 0}

# Module cycles left, each with its reason; a cycle outside these fails.
KNOWN_CYCLES = [
    # latency/: _base.py loads its registered predictors (_baselines, _neural) in
    # a function, and they import _base and each other.
    {
        f"parawire.latency.{m}"
        for m in ("_base", "_baselines", "_neural", "differentiable", "features")
    },
]

# The rules of issue 20 by name, each also implied by the floors above.
FORBIDDEN = [
    ("analysis", "runtime"),
    ("nn", "train"),
    ("graphs", "arch"),
    ("arch", "nn"),
    ("runtime", "train"),
    ("report", "analysis"),
    ("report", "study"),
]


def _where(imports) -> str:
    return ", ".join(f"{i.source}:{i.line} -> {i.target}" for i in imports)


def test_every_package_has_a_floor() -> None:
    packages = {package_of(imp.source) for imp in parawire_imports()}
    packages |= {package_of(imp.target) for imp in parawire_imports()}
    assert packages - set(FLOORS) == set(), "give the new package a floor in FLOORS"


@pytest.mark.parametrize(("low", "high"), FORBIDDEN)
def test_named_rule(low: str, high: str) -> None:
    assert (low, high) not in package_edges(), _where(package_edges()[(low, high)])


def test_imports_only_run_down() -> None:
    upward = [
        imp
        for (a, b), imps in package_edges().items()
        if FLOORS[b] >= FLOORS[a] and not (FLOORS[a] == FLOORS[b] == 0)
        for imp in imps
    ]
    assert upward == [], _where(upward)


def test_ground_floor_imports_only_lower_ground() -> None:
    """The ground floor's modules import each other only in ``GROUND_ORDER``."""
    bad = [
        imp
        for (a, b), imps in package_edges().items()
        if FLOORS[a] == FLOORS[b] == 0 and GROUND_ORDER.get(b, 1) >= GROUND_ORDER.get(a, 1)
        for imp in imps
    ]
    assert bad == [], _where(bad)


def test_no_import_cycle_between_packages() -> None:
    graph = nx.DiGraph(list(package_edges()))
    assert list(nx.simple_cycles(graph)) == []


def test_no_import_cycle_between_modules() -> None:
    """No module reaches itself through imports, even lazy ones (typing-only imports never run;
    a package's ``__init__`` re-exporting its modules is no cycle as long as they never import
    the ``__init__`` back)."""
    graph = nx.DiGraph()
    graph.add_edges_from(
        (i.source, i.target)
        for i in parawire_imports()
        if i.source != i.target and not i.typing_only
    )
    tangled = [set(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert [sorted(c) for c in tangled if not any(c <= known for known in KNOWN_CYCLES)] == []


def test_reader_sees_lazy_imports() -> None:
    """The reader counts an import inside a function (a test of the test)."""
    lazy = [i for i in parawire_imports() if i.source == "parawire.cli" and i.line > 20]
    assert lazy and len(source_files()) > 50
