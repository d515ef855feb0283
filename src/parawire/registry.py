"""A registry by name, shared by every pluggable family (generators, partitioners, datasets...).

Each family keeps one ``Registry`` instance and exposes ``register_x`` / ``list_x`` /
``create_x`` on top of it, so that names, glob listing and the "unknown name" error read the
same everywhere. ``create_x`` is the one lookup form of every family (issue 20, item 5); a
family whose entries are not all registered in code (device profiles also come from files)
looks names up with ``lookup`` and so refuses an unknown one in the same words.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Iterable, Mapping
from typing import Generic, TypeVar

from parawire.errors import ConfigError

T = TypeVar("T")


def lookup(kind: str, entries: Mapping[str, T], name: str, other: str = "") -> T:
    """``entries[name]``, or a ``ConfigError`` naming the closest name and every choice (and
    ``other``, what else would be accepted, e.g. "or give a TOML file")."""
    try:
        return entries[name]
    except KeyError:
        raise ConfigError(
            f"unknown {kind} {name!r}{did_you_mean(name, entries)}; choose one of "
            f"{', '.join(sorted(entries))}{other}"
        ) from None


class Registry(Generic[T]):
    """Name -> entry (a class or a factory) for one family, with helpful errors."""

    def __init__(self, kind: str) -> None:
        self.kind = kind  # what the entries are, for messages: "generator", "dataset", ...
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator adding an entry under ``name`` (a duplicate name is a bug).

        A class entry also gets ``name`` as its ``name`` attribute, so instances know it.
        """

        def deco(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            if isinstance(entry, type):
                entry.name = name  # type: ignore[attr-defined]
            self._entries[name] = entry
            return entry

        return deco

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching a glob pattern, sorted."""
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern))

    def get(self, name: str, other: str = "") -> T:
        """The entry registered as ``name``; ``ConfigError`` listing the choices otherwise
        (and ``other``, what else the caller accepts)."""
        return lookup(self.kind, self._entries, name, other)

    def __contains__(self, name: object) -> bool:
        return name in self._entries


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The choice closest to a misspelled ``name`` (difflib's similarity ratio of at least
    0.6), or None when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=1)
    return close[0] if close else None


def did_you_mean(name: str, choices: Iterable[str], prefix: str = "") -> str:
    """`` (did you mean 'X'?)`` naming the choice :func:`closest` to ``name``, written with
    ``prefix``; "" when none is close (e.g. one letter off in a short name is close)."""
    close = closest(name, choices)
    return f" (did you mean {prefix + close!r}?)" if close is not None else ""
