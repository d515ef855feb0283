"""Atomic file writes: the one helper every writer of results, checkpoints and caches uses.

A file is written under a temporary name in its own folder (``.NAME.XXXX.tmp``) and renamed
over ``NAME`` with ``os.replace``, so a reader sees the old file or the new one, never half of
one. A process killed mid-write leaves its temporary file; :func:`remove_stale_temps` removes
those when the next run starts in the folder.
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _temp_prefix(name: str) -> str:
    return f".{name}."


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp_path)`` then rename the temporary file over ``path`` (folders made)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path.name), suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Atomically write ``data`` to ``path``."""
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: Path, text: str) -> None:
    """Atomically write ``text`` (UTF-8) to ``path``."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, data: Any) -> None:
    """Atomically write ``data`` as indented JSON with a final newline."""
    atomic_write_text(path, json.dumps(data, indent=1) + "\n")


def remove_stale_temps(folder: Path, names: tuple[str, ...]) -> list[Path]:
    """Delete the temporary files :func:`atomic_write` left for ``names`` in ``folder``.

    Call it when a new run starts in the folder (one run per folder, so no write of another
    run is under way).
    """
    removed = []
    if folder.is_dir():
        for name in names:
            for tmp in folder.glob(f"{glob.escape(_temp_prefix(name))}*.tmp"):
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
    return removed
