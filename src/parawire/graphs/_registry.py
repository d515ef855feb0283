"""Registry of graph generators by name."""

from __future__ import annotations

import dataclasses
from typing import Any, get_type_hints

from parawire.errors import ConfigError
from parawire.graphs._base import GraphGenerator
from parawire.registry import Registry

_GENERATORS: Registry[type[GraphGenerator]] = Registry("generator")
register_generator = _GENERATORS.register  # class decorator: @register_generator("name")
list_generators = _GENERATORS.names  # sorted names matching a glob pattern
generator_class = _GENERATORS.get  # the class registered as a name (ConfigError otherwise)


def create_generator(name: str, **params: Any) -> GraphGenerator:
    """Instantiate a generator; string values (from the CLI) are converted to field types."""
    cls = generator_class(name)
    hints = get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in params.items():
        if key not in fields:
            raise ConfigError(
                f"generator {name!r} has no parameter {key!r}; its parameters are "
                f"{', '.join(sorted(fields))}"
            )
        kwargs[key] = _coerce(name, key, value, hints[key])
    return cls(**kwargs)


def _coerce(generator: str, key: str, value: Any, typ: Any) -> Any:
    target = {int: int, float: float, "int": int, "float": float}.get(typ, typ)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ConfigError(f"generator {generator!r}: parameter {key}={value!r} is not a number")
    try:
        if target is int:
            as_float = float(value)
            if not as_float.is_integer():
                raise ValueError
            return int(as_float)
        return float(value)
    except ValueError:
        kind = "an integer" if target is int else "a number"
        raise ConfigError(
            f"generator {generator!r}: parameter {key} must be {kind}, got {value!r}"
        ) from None
