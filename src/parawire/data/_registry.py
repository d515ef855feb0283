"""Registry of data sets by name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from parawire.data._base import ImageDataset, ImageSplits
from parawire.errors import ConfigError
from parawire.registry import Registry

_DATASETS: Registry[type[ImageDataset]] = Registry("dataset")


def register_dataset(name: str) -> Callable[[type[ImageDataset]], type[ImageDataset]]:
    """Class decorator adding a data set to the registry under ``name``."""

    def deco(cls: type[ImageDataset]) -> type[ImageDataset]:
        cls.name = name
        return _DATASETS.register(name)(cls)

    return deco


def list_datasets(pattern: str = "*") -> list[str]:
    """Registered data set names matching a glob pattern, sorted."""
    return _DATASETS.names(pattern)


def create_dataset(
    name: str, *, root: str | Path | None = None, cache: str | Path | None = None, **options: Any
) -> ImageDataset:
    """Instantiate a registered data set (nothing is read until ``load()``)."""
    cls = _DATASETS.get(name)
    try:
        return cls(root=root, cache=cache, **options)
    except TypeError as exc:
        raise ConfigError(f"dataset {name!r}: {exc}") from None


def load_dataset(
    name: str, *, root: str | Path | None = None, cache: str | Path | None = None, **options: Any
) -> ImageSplits:
    """``create_dataset(...).load()``, checked."""
    return create_dataset(name, root=root, cache=cache, **options).load().check()
