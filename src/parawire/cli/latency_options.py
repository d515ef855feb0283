"""The options that pick rows of a latency store, shared by the `latency` subcommands.

Built with ``shared_option`` like every option of two or more commands (``parawire.cli.options``),
so that ``--k`` and ``--measured-on`` mean one thing in `latency fit`, `report`, `noise` and
`predict` (``tests/test_cli_consistency.py``).
"""

from __future__ import annotations

import click

from parawire.cli.options import Decorator, shared_option


def k_option() -> Decorator:
    """``--k``: only the rows measured on this many devices (passed as ``devices``)."""
    return shared_option(
        "--k",
        "devices",
        type=click.IntRange(min=1),
        default=None,
        help="Only rows measured on this many devices (default: every k).",
    )


def measured_on_option(help_text: str) -> Decorator:
    """``--measured-on``: a measurement label, a profile name or ``local-cputime`` (passed as
    ``profile``); ``help_text`` says what it selects in this command."""
    return shared_option("--measured-on", "profile", default=None, help=help_text)
