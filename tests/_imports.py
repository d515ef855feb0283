"""Parawire's own import graph, read from the source with ``ast`` (nothing is imported).

Every ``import`` counts, at module level and inside functions alike, since an in-function import
still ties the two modules together. Used by ``test_layering.py`` and ``test_one_home.py``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import parawire

SRC = Path(parawire.__file__).parent
ROOT = "parawire"


@dataclass(frozen=True)
class Import:
    """One import statement's target, seen from the module that holds it."""

    source: str  # importing module, dotted ("parawire.runtime.plan")
    target: str  # imported module or package, dotted ("parawire.train.checkpoint")
    line: int  # line of the import statement in the source file
    typing_only: bool = False  # under ``if TYPE_CHECKING:``: never runs


def module_name(path: Path) -> str:
    """Dotted module name of a source file below ``SRC`` (a package is its ``__init__``)."""
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files() -> list[Path]:
    """Every ``.py`` file of the package, sorted."""
    return sorted(SRC.rglob("*.py"))


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """Absolute module named by a (possibly relative) ``from ... import``."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _typing_only(tree: ast.AST) -> set[int]:
    """``id`` of every import node inside an ``if TYPE_CHECKING:`` block."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            inside |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return inside


def _targets(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[str, int, bool]]:
    """(imported module, line, typing only) for every import statement anywhere in ``tree``."""
    typing_only = _typing_only(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, id(node) in typing_only
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(node, module, is_package)
            for alias in node.names:  # `from parawire import train` imports a subpackage
                sub = f"{target}.{alias.name}"
                yield (sub if _is_module(sub) else target), node.lineno, id(node) in typing_only


def _is_module(name: str) -> bool:
    """Whether ``name`` is a module or package of parawire's source."""
    rel = Path(*name.split("."))
    return (SRC.parent / rel).with_suffix(".py").is_file() or (SRC.parent / rel).is_dir()


@cache
def parawire_imports() -> tuple[Import, ...]:
    """Every import of a parawire module by a parawire module (``TYPE_CHECKING`` ones too)."""
    found = []
    for path in source_files():
        module = module_name(path)
        tree = ast.parse(path.read_text("utf-8"), filename=str(path))
        for target, line, typing_only in _targets(tree, module, path.name == "__init__.py"):
            if target == ROOT or target.startswith(ROOT + "."):
                found.append(Import(module, target, line, typing_only))
    return tuple(found)


def package_of(module: str) -> str:
    """First level below ``parawire`` ("parawire.runtime.plan" -> "runtime").

    A ground-floor module (``parawire._io``, ``parawire.errors``) is its own package, and the
    root package's ``__init__`` (which re-exports the public names) is "parawire".
    """
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def package_edges() -> dict[tuple[str, str], list[Import]]:
    """(importing package, imported package) -> the imports behind that edge."""
    edges: dict[tuple[str, str], list[Import]] = {}
    for imp in parawire_imports():
        a, b = package_of(imp.source), package_of(imp.target)
        if a != b:
            edges.setdefault((a, b), []).append(imp)
    return edges
