"""The argument that names a network (a spec, a model or a plan), declared once.

Every command that takes one refuses a weights file in its place with the fix (pass it as
``--weights``) before any work starts, so that the mistake reads the same in every command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from parawire.cli.options import Decorator

WEIGHTS_SUFFIXES = (".safetensors", ".pt", ".pth", ".ckpt")  # files of weights, never a spec


def not_weights(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Callback of a SPEC / PLAN argument: a weights file there is a mistake with a known fix."""
    if value is not None and str(value).lower().endswith(WEIGHTS_SUFFIXES):
        from parawire.errors import ConfigError

        command = ctx.command.name or "plan"
        takes_weights = any(p.name == "weights" for p in ctx.command.params)
        use = (
            f"--weights (parawire {command} arch.json --weights {value})"
            if takes_weights
            else f"--weights of eval, plan or export (parawire plan arch.json -n 2 --weights "
            f"{value})"
        )
        raise ConfigError(
            f"{value} holds weights, not an architecture: give the spec or model it was trained "
            f"as, and the weights as {use}"
        )
    return value


def network_argument(name: str, metavar: str, *, path: bool = True) -> Decorator:
    """The positional argument ``name`` shown as ``metavar`` (SPEC_OR_MODEL, PLAN_OR_SPEC...):
    a ``Path`` (or, with ``path=False``, the text given: a model name stays a name), refused
    when it names a weights file (``not_weights``)."""
    kind = click.Path(path_type=Path) if path else None
    return click.argument(name, metavar=metavar, type=kind, callback=not_weights)
