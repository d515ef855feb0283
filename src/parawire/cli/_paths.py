"""Checks of output paths (``-o/--out``) before any work, each failure one ``ConfigError`` line.

Every command that writes somewhere checks the place first, so that an hour of training or a
study does not end in a traceback because ``--out`` names a file, lies under a file or in a
folder this user cannot write. Nothing is created by the check: a command that refuses its
other options afterwards leaves no empty folder behind.
"""

from __future__ import annotations

import os
from pathlib import Path

from parawire.errors import ConfigError


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists (the folder a new path would be made in)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path.cwd()  # a relative path whose every part is new


def _blocking_file(path: Path) -> Path | None:
    """The first part of ``path`` that exists and is not a folder (it blocks creating it)."""
    for candidate in reversed((path, *path.parents)):
        if candidate.exists() and not candidate.is_dir():
            return candidate
    return None


def check_output_folder(path: Path, option: str = "--out") -> Path:
    """``path`` if a folder can be written there (existing, or creatable); else ``ConfigError``.

    Refused: an existing file, a path under a file, a folder (or its nearest existing
    ancestor) this user cannot write, e.g. on a read-only file system.
    """
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path} is a file, not a folder; choose a folder")
    _check_creatable(path, option, path)
    return path


def check_output_file(path: Path, option: str = "--out") -> Path:
    """``path`` if a file can be written there (new, or an existing file); else ``ConfigError``."""
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder; give a file name")
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(f"{option} {path}: cannot overwrite it (permission denied)")
    _check_creatable(path.parent, option, path)
    return path


def _check_creatable(folder: Path, option: str, shown: Path) -> None:
    """``ConfigError`` naming ``option`` and ``shown`` unless ``folder`` exists as a writable
    folder or can be created."""
    blocker = _blocking_file(folder)
    if blocker is not None:
        raise ConfigError(
            f"{option} {shown}: {blocker} is a file, so nothing can be written under it; "
            "choose another path"
        )
    base = _nearest_existing(folder)
    if not os.access(base, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{option} {shown}: cannot write in {base} (permission denied or read-only); "
            "choose a writable folder"
        )
