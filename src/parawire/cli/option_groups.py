"""Options that travel together, handed to a command as one value.

Four commands choose a deployment with the same five options, two start ranks with the same six:
declared with one ``grouped`` decorator, such a command receives one argument (the keyword
arguments of ``analyze`` / ``make_plan``, the settings of its ranks) instead of repeating the
same parameters in every signature and turning them into that value in every body.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from parawire.cli.options import Decorator


def grouped(name: str, options: Sequence[Decorator], make: Callable[..., Any]) -> Decorator:
    """Decorate a command with ``options`` (``--help`` lists them in this order) and call it
    with their values as the one keyword argument ``name``: ``make(**values)``, keyed by the
    options' parameter names."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        names: list[str] = []

        @functools.wraps(command)  # its help text, and the options declared below this group
        def callback(**kwargs: Any) -> Any:
            values = {key: kwargs.pop(key) for key in names}
            return command(**kwargs, **{name: make(**values)})

        declared = callback.__dict__.setdefault("__click_params__", [])  # click's own list
        first = len(declared)
        for option in reversed(options):
            option(callback)
        names.extend(str(param.name) for param in declared[first:])
        return callback

    return decorate
