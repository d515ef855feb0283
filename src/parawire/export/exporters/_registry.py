"""The registry of ONNX exporters: ``register_exporter``, ``list_exporters``,
``create_exporter``."""

from __future__ import annotations

from collections.abc import Callable

from parawire.export.exporters._base import Exporter
from parawire.registry import Registry

_EXPORTERS: Registry[type[Exporter]] = Registry("exporter")
list_exporters = _EXPORTERS.names  # sorted names matching a glob pattern


def register_exporter(name: str) -> Callable[[type[Exporter]], type[Exporter]]:
    """Class decorator adding an :class:`Exporter` under ``name``."""
    return _EXPORTERS.register(name)


def create_exporter(name: str) -> Exporter:
    """The exporter registered as ``name``; ``ConfigError`` naming the choices otherwise."""
    return _EXPORTERS.get(name)()
