"""What a command's numbers rest on, said on stderr beside them (issue 20, item 10).

A simulated time rests on a profile, and a profile of literature figures (``estimate = true``)
was never measured on such a device; a plan or an exported model without ``--weights`` computes
with seeded untrained weights. Both are easy to miss and change what a number means, so the
commands that use them say so once, after the work has succeeded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from parawire.runtime.plan import Plan


def profile_note(profile: str | None) -> str | None:
    """One line when ``profile``'s figures are estimates, else None."""
    if profile is None:
        return None
    from parawire.analysis.profiles import create_profile
    from parawire.errors import ParawireError

    try:
        found = create_profile(profile)
    except ParawireError:
        return None  # a plan's profile from another machine: nothing known here to add
    if not found.estimate:
        return None
    return (
        f"profile {found.name}: its figures are estimates, not measured on such a device, so "
        "the simulated times are a guide; `parawire calibrate` on the device measures them"
    )


def weights_note(plan: Plan, where: str) -> str | None:
    """One line when ``plan`` (written or exported to ``where``) has no trained weights."""
    if plan.weights is not None:
        return None
    return (
        f"{where} has untrained weights (seeded by --seed {plan.seed}): its outputs are not a "
        "trained network's; pass --weights FILE (from `parawire train`) for those"
    )


def say(command: str, *notes: str | None) -> None:
    """Print each note that applies as ``parawire COMMAND: note:`` on stderr."""
    for note in notes:
        if note is not None:
            click.echo(f"parawire {command}: note: {note}", err=True)
