"""Registry of partitioners by name."""

from __future__ import annotations

from typing import Any

from parawire.analysis.partitioners._base import Partitioner
from parawire.errors import ConfigError
from parawire.registry import Registry

_PARTITIONERS: Registry[type[Partitioner]] = Registry("partitioner")
register_partitioner = _PARTITIONERS.register  # class decorator: @register_partitioner("name")
list_partitioners = _PARTITIONERS.names  # sorted names matching a glob pattern
partitioner_class = _PARTITIONERS.get  # the class registered as a name (ConfigError otherwise)


def create_partitioner(name: str, **options: Any) -> Partitioner:
    """Instantiate the partitioner ``name`` with its keyword options."""
    cls = partitioner_class(name)
    try:
        return cls(**options)
    except TypeError as exc:
        raise ConfigError(f"partitioner {name!r}: bad option ({exc})") from None
