"""Decoded data sets cached as ``.npy`` arrays, written atomically, read without pickle."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from parawire._io import atomic_write, atomic_write_text, read_json
from parawire.errors import DataError

_DONE = "arrays.json"  # written last: its presence means every array is complete


def cached_arrays(
    folder: Path, build: Callable[[], dict[str, np.ndarray]], *, info: dict | None = None
) -> dict[str, np.ndarray]:
    """Load the arrays saved in ``folder``, or ``build()`` them once and save them there."""
    done = folder / _DONE
    if done.exists():
        try:
            names = read_json(done, what="data cache index", inside=folder)["arrays"]
            return {n: np.load(folder / f"{n}.npy", allow_pickle=False) for n in names}
        except (OSError, ValueError, KeyError, TypeError, DataError) as exc:
            raise DataError(
                f"the data cache {folder} is damaged ({exc}); delete that folder to rebuild it"
            ) from exc
    arrays = build()
    folder.mkdir(parents=True, exist_ok=True)
    for n, a in arrays.items():
        _atomic_save(folder / f"{n}.npy", a)
    meta = {"arrays": sorted(arrays), **(info or {})}
    atomic_write_text(done, json.dumps(meta, indent=1))
    return arrays


def _atomic_save(path: Path, array: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with tmp.open("wb") as f:  # a file object: np.save would add ".npy" to a path
            np.save(f, np.ascontiguousarray(array), allow_pickle=False)

    atomic_write(path, write)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def short_key(*parts: object) -> str:
    """A 16-hex-digit key naming a cache folder after its inputs."""
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:16]
