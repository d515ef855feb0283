"""Registry of data sets by name."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from pathlib import Path
from typing import Any

from parawire.data._base import ImageDataset, ImageSplits
from parawire.errors import ConfigError

_DATASETS: dict[str, type[ImageDataset]] = {}


def register_dataset(name: str) -> Callable[[type[ImageDataset]], type[ImageDataset]]:
    """Class decorator adding a data set to the registry under ``name``."""

    def deco(cls: type[ImageDataset]) -> type[ImageDataset]:
        if name in _DATASETS:
            raise ValueError(f"dataset {name!r} registered twice")
        cls.name = name
        _DATASETS[name] = cls
        return cls

    return deco


def list_datasets(pattern: str = "*") -> list[str]:
    """Registered data set names matching a glob pattern, sorted."""
    return sorted(n for n in _DATASETS if fnmatch.fnmatch(n, pattern))


def create_dataset(
    name: str, *, root: str | Path | None = None, cache: str | Path | None = None, **options: Any
) -> ImageDataset:
    """Instantiate a registered data set (nothing is read until ``load()``)."""
    try:
        cls = _DATASETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown dataset {name!r}; choose one of {', '.join(list_datasets())}"
        ) from None
    try:
        return cls(root=root, cache=cache, **options)
    except TypeError as exc:
        raise ConfigError(f"dataset {name!r}: {exc}") from None


def load_dataset(
    name: str, *, root: str | Path | None = None, cache: str | Path | None = None, **options: Any
) -> ImageSplits:
    """``create_dataset(...).load()``, checked."""
    return create_dataset(name, root=root, cache=cache, **options).load().check()
