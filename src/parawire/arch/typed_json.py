"""Reading typed JSON: a parsed document checked against a dataclass's annotations.

:func:`typed` turns JSON (dicts, lists, numbers) into the annotated dataclasses, tuples and
scalars, or raises ``SpecError`` naming the field path and what it holds; the free-form
provenance values are checked to be plain JSON of bounded depth. Booleans are not integers
here, and integers beyond 64 bits are refused.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from parawire.arch.limits import MAX_JSON_DEPTH
from parawire.errors import SpecError


def is_int(value: Any) -> bool:
    return type(value) is int  # not a bool (an int subclass)


def show(value: Any) -> str:
    """A short rendering of a JSON value for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "an array"
    if is_int(value) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


class _Mismatch(Exception):
    """A value does not fit its annotation; ``path`` collects its location, innermost first."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.path: list[str] = []


def typed(value: Any, hint: Any, where: str) -> Any:
    """``value`` checked against the annotation ``hint`` (and converted to it); else SpecError.

    ``hint`` is one of the annotations the spec's dataclasses use: ``int``, ``float``, ``bool``,
    ``str``, ``X | None``, ``tuple[X, ...]``, ``tuple[X, Y, Z]``, ``dict[str, Any]`` (free-form
    JSON) or one of the dataclasses. A dataclass may come as a JSON object (it is built) or as an
    instance (it is checked and returned as is: how :func:`validate_spec` checks a spec built in
    Python).
    """
    try:
        return _checker(hint)(value)
    except _Mismatch as exc:
        raise SpecError(f"{where}{''.join(reversed(exc.path))} {exc}") from None


@cache
def _checker(hint: Any) -> Callable[[Any], Any]:
    """The check-and-convert function of one annotation (built once per annotation)."""
    if dataclasses.is_dataclass(hint):
        return _dataclass_checker(hint)  # type: ignore[arg-type]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is types.UnionType:  # X | None
        inner = _checker(next(a for a in args if a is not type(None)))
        return lambda value: None if value is None else inner(value)
    if origin is tuple:
        return _tuple_checker(args)
    if origin is dict:  # free-form JSON object
        return _json_object
    return {bool: _bool, int: _int, float: _float, str: _str}[hint]


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Mismatch(f"must be true or false, got {show(value)}")
    return value


def _int(value: Any) -> int:
    if not is_int(value):
        raise _Mismatch(f"must be an integer, got {show(value)}")
    return value


def _float(value: Any) -> float:
    ok = (is_int(value) and value.bit_length() <= 64) or (
        isinstance(value, float) and math.isfinite(value)
    )
    if not ok:
        raise _Mismatch(f"must be a finite number, got {show(value)}")
    return float(value)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise _Mismatch(f"must be a string, got {show(value)}")
    return value


def _tuple_checker(args: tuple[Any, ...]) -> Callable[[Any], tuple]:
    """``tuple[X, ...]`` (any length) or ``tuple[X, Y, Z]`` (exactly that many) from an array."""
    repeat = args[-1] is Ellipsis
    items = [_checker(a) for a in (args[:1] if repeat else args)]

    def check(value: Any) -> tuple:
        if not isinstance(value, (list, tuple)):
            raise _Mismatch(f"must be an array, got {show(value)}")
        if not repeat and len(value) != len(items):
            raise _Mismatch(f"must be an array of {len(items)} items, got {len(value)}")
        out = []
        for i, v in enumerate(value):
            try:
                out.append(items[0 if repeat else i](v))
            except _Mismatch as exc:
                exc.path.append(f"[{i}]")
                raise
        return tuple(out)

    return check


def _dataclass_checker(cls: type) -> Callable[[Any], Any]:
    """A dataclass from a JSON object (no unknown field, every required one), or an instance."""
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    checks = {f.name: _checker(hints[f.name]) for f in fields}
    required = [
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]

    def check(value: Any) -> Any:
        given = isinstance(value, cls)
        if not given and not isinstance(value, Mapping):
            raise _Mismatch(f"must be an object, got {show(value)}")
        items = {name: getattr(value, name) for name in checks} if given else value
        for name in items:
            if name not in checks:
                raise _Mismatch(
                    f"has unknown field {show(name)}; its fields are {', '.join(checks)}"
                )
        for name in required:
            if name not in items:
                raise _Mismatch(f"is missing field {name!r}")
        kwargs = {}
        for name, v in items.items():
            try:
                kwargs[name] = checks[name](v)
            except _Mismatch as exc:
                exc.path.append(f".{name}")
                raise
        return value if given else cls(**kwargs)

    return check


def _json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _Mismatch(f"must be an object, got {show(value)}")
    _check_json(value, 0)
    return dict(value)


def _check_json(value: Any, depth: int) -> None:
    """Free-form JSON: objects with string keys, arrays, strings, finite numbers, bools, null."""
    if depth > MAX_JSON_DEPTH:
        raise _Mismatch(f"is nested more than {MAX_JSON_DEPTH} levels deep")
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise _Mismatch(f"has a key that is not a string: {show(key)}")
        entries = [(f".{key}", v) for key, v in value.items()]
    elif isinstance(value, (list, tuple)):
        entries = [(f"[{i}]", v) for i, v in enumerate(value)]
    else:
        if isinstance(value, float) and not math.isfinite(value):
            raise _Mismatch(f"must be a finite number, got {show(value)}")
        if not (value is None or isinstance(value, (str, int, float))):
            raise _Mismatch(f"is not a JSON value: {show(value)}")
        return
    for segment, v in entries:
        try:
            _check_json(v, depth + 1)
        except _Mismatch as exc:
            exc.path.append(segment)
            raise
