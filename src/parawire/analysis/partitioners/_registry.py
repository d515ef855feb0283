"""Registry of partitioners by name."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any

from parawire.analysis.partitioners._base import Partitioner
from parawire.errors import ConfigError

_PARTITIONERS: dict[str, type[Partitioner]] = {}


def register_partitioner(name: str) -> Callable[[type[Partitioner]], type[Partitioner]]:
    """Class decorator adding a partitioner to the registry under ``name``."""

    def deco(cls: type[Partitioner]) -> type[Partitioner]:
        if name in _PARTITIONERS:
            raise ValueError(f"partitioner {name!r} registered twice")
        cls.name = name
        _PARTITIONERS[name] = cls
        return cls

    return deco


def list_partitioners(pattern: str = "*") -> list[str]:
    """Registered partitioner names matching a glob pattern, sorted."""
    return sorted(n for n in _PARTITIONERS if fnmatch.fnmatch(n, pattern))


def partitioner_class(name: str) -> type[Partitioner]:
    """The class registered as ``name``; ``ConfigError`` naming the choices otherwise."""
    try:
        return _PARTITIONERS[name]
    except KeyError:
        raise ConfigError(
            f"unknown partitioner {name!r}; choose one of {', '.join(list_partitioners())}"
        ) from None


def create_partitioner(name: str, **options: Any) -> Partitioner:
    """Instantiate the partitioner ``name`` with its keyword options."""
    cls = partitioner_class(name)
    try:
        return cls(**options)
    except TypeError as exc:
        raise ConfigError(f"partitioner {name!r}: bad option ({exc})") from None
