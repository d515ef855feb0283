"""Registry of partitioners by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from parawire.analysis.partitioners._base import Partitioner
from parawire.errors import ConfigError
from parawire.registry import Registry

_PARTITIONERS: Registry[type[Partitioner]] = Registry("partitioner")


def register_partitioner(name: str) -> Callable[[type[Partitioner]], type[Partitioner]]:
    """Class decorator adding a partitioner to the registry under ``name``."""

    def deco(cls: type[Partitioner]) -> type[Partitioner]:
        cls.name = name
        return _PARTITIONERS.register(name)(cls)

    return deco


def list_partitioners(pattern: str = "*") -> list[str]:
    """Registered partitioner names matching a glob pattern, sorted."""
    return _PARTITIONERS.names(pattern)


def partitioner_class(name: str) -> type[Partitioner]:
    """The class registered as ``name``; ``ConfigError`` naming the choices otherwise."""
    return _PARTITIONERS.get(name)


def create_partitioner(name: str, **options: Any) -> Partitioner:
    """Instantiate the partitioner ``name`` with its keyword options."""
    cls = partitioner_class(name)
    try:
        return cls(**options)
    except TypeError as exc:
        raise ConfigError(f"partitioner {name!r}: bad option ({exc})") from None
