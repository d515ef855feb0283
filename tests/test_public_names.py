"""Every name a package promises in ``__all__`` exists: a lazy table or a re-export that lists a
name its module no longer has fails here, not in a user's ``from parawire.x import name``."""

from __future__ import annotations

import importlib

import pytest

from _imports import SRC, source_files


def _packages() -> list[str]:
    inits = [p for p in source_files() if p.name == "__init__.py"]
    return sorted(".".join(("parawire", *p.parent.relative_to(SRC).parts)) for p in inits)


def test_the_packages_are_found() -> None:
    assert {"parawire", "parawire.analysis", "parawire.runtime", "parawire.latency"} <= set(
        _packages()
    )


@pytest.mark.parametrize("package", _packages())
def test_every_public_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    missing = [name for name in getattr(module, "__all__", ()) if not hasattr(module, name)]
    assert missing == []
