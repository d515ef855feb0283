"""One meaning per name: the wire codec's functions are named for it, and the latency
predictors' input is ``featurize``'d into ``Features``, so that ``encode`` is left to bytes
(issue 20, item 7)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

import parawire
from parawire.export.pieces import traced_from_wire, traced_to_wire
from parawire.runtime.wire import from_wire, roundtrip, to_wire

SRC = Path(parawire.__file__).parent


def _defined(name: str) -> list[str]:
    """Modules (relative) that define a top-level function ``name``."""
    return sorted(
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        for node in ast.parse(p.read_text("utf-8")).body
        if isinstance(node, ast.FunctionDef) and node.name == name
    )


@pytest.mark.parametrize(
    ("name", "homes"),
    [
        ("to_wire", ["runtime/wire.py"]),
        ("from_wire", ["runtime/wire.py"]),
        ("traced_to_wire", ["export/pieces.py"]),
        ("traced_from_wire", ["export/pieces.py"]),
        ("decode", []),
        ("encode", []),  # meant the wire codec and the predictors' features
        ("featurize", ["latency/features.py"]),
    ],
)
def test_each_name_is_defined_once(name: str, homes: list[str]) -> None:
    assert _defined(name) == homes


def test_the_predictors_features_are_not_called_an_encoding() -> None:
    """No module, class or function of the latency package is named for encoding: what the
    predictors read is their features (``latency/features.py``), not bytes."""
    named = [
        f"{p.relative_to(SRC)}:{node.name}"
        for p in (SRC / "latency").rglob("*.py")
        for node in ast.walk(ast.parse(p.read_text("utf-8")))
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and "encod" in node.name.lower()
    ]
    modules = [p.name for p in (SRC / "latency").rglob("*.py") if "encod" in p.stem.lower()]
    assert (named, modules) == ([], [])


@pytest.mark.parametrize("wire", ["float32", "float16", "int8"])  # what ONNX pieces send
def test_the_traced_codec_is_the_runtime_codec(wire: str) -> None:
    x = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    parts = traced_to_wire(x, wire)
    got = traced_from_wire(parts[0], parts[1] if len(parts) > 1 else None)
    assert torch.equal(got, roundtrip(x, wire))
    assert torch.equal(from_wire(to_wire(x, wire), tuple(x.shape), wire), roundtrip(x, wire))


def _top_level(kind: type) -> list[tuple[str, ast.AST]]:
    return [
        (str(p.relative_to(SRC)), node)
        for p in SRC.rglob("*.py")
        for node in ast.parse(p.read_text("utf-8")).body
        if isinstance(node, kind)
    ]


@pytest.mark.parametrize(
    ("name", "homes"),
    [
        ("WEIGHTS_FILE", ["filenames.py"]),
        ("RANK_TIMINGS_FILE", ["filenames.py"]),
        ("WEIGHTS", []),  # was an alias of WEIGHTS_FILE in train
        ("RESULT_FILE", []),  # meant the analysis JSON in one module, rank timings in another
    ],
)
def test_file_name_constants_have_one_name(name: str, homes: list[str]) -> None:
    assigned = sorted(
        rel
        for rel, node in _top_level(ast.Assign)
        if any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
    )
    assert assigned == homes


def test_no_file_name_is_aliased() -> None:
    """No module binds a second name to a file-name constant (``METRICS = METRICS_FILE``)."""
    aliases = [
        f"{rel}: {node.targets[0].id} = {node.value.id}"
        for rel, node in _top_level(ast.Assign)
        if isinstance(node.value, ast.Name)
        and node.value.id.endswith("_FILE")
        and isinstance(node.targets[0], ast.Name)
    ]
    assert aliases == []


def test_a_registry_lookup_has_one_name() -> None:
    """``create_*`` is the one lookup form (issue 20, item 5): no module binds a second name to
    a function (``get_profile = create_profile``), so no older name lingers half-exported."""
    aliases = [
        f"{rel}: {node.targets[0].id} = {node.value.id}"
        for rel, node in _top_level(ast.Assign)
        if isinstance(node.value, ast.Name)
        and node.value.id.startswith(("create_", "get_", "list_", "register_"))
        and isinstance(node.targets[0], ast.Name)
    ]
    assert aliases == []


def test_file_names_are_imported_under_their_own_names() -> None:
    renamed = [
        f"{rel}: {a.name} as {a.asname}"
        for rel, node in _top_level(ast.ImportFrom)
        if node.module == "parawire.filenames"
        for a in node.names
        if a.asname not in (None, a.name)
    ]
    assert renamed == []
