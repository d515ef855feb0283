"""Staging modes: how channels and resolution evolve through a generated network (a registry).

Contract of a mode (:class:`StagingMode`, registered by name with :func:`register_staging`):
``vertex_staging`` says which conv vertices stage (2x2 max-pool, channels x2) when they are
eligible (input channels below ``c_max``, output at least ``min_size`` pixels wide): ``never``,
``always`` or ``random`` (with probability ``stage_prob``); ``sequence`` makes the generator's
``n`` vertices ``fb_stages`` graphs in sequence, each entered through a block that stages. Every
mode gives a valid spec for every generator and the same spec for the same seed; a mode that
never stages keeps the stem's width in every vertex of a stage.
"""

from __future__ import annotations

from dataclasses import dataclass

from parawire.registry import Registry

VERTEX_STAGING = ("never", "always", "random")


@dataclass(frozen=True)
class StagingMode:
    """One staging mode (see the module docstring)."""

    name: str  # registry name, e.g. "probabilistic"
    vertex_staging: str  # one of VERTEX_STAGING
    sequence: bool = False  # fb: fb_stages graphs in sequence, staged at their boundaries
    doc: str = ""  # one line for help texts


_STAGINGS: Registry[StagingMode] = Registry("staging")
list_stagings = _STAGINGS.names  # sorted names matching a glob pattern
create_staging = _STAGINGS.get  # the mode registered as a name (ConfigError naming the choices)


def register_staging(mode: StagingMode) -> StagingMode:
    """Add ``mode`` under its name (a duplicate name is a bug)."""
    if mode.vertex_staging not in VERTEX_STAGING:
        raise ValueError(f"staging {mode.name!r}: vertex_staging must be one of {VERTEX_STAGING}")
    return _STAGINGS.register(mode.name)(mode)


BUILTIN_STAGINGS = (  # the built-in modes, the default first
    StagingMode("probabilistic", "random", doc="each eligible block stages with stage_prob"),
    StagingMode("greedy", "always", doc="every eligible block stages"),
    StagingMode("uniform", "never", doc="constant channels, no downsampling (Table I)"),
    StagingMode("fb", "never", sequence=True, doc="RandWire's fixed stages: graphs in sequence"),
)
for _mode in BUILTIN_STAGINGS:
    register_staging(_mode)

STAGINGS = tuple(m.name for m in BUILTIN_STAGINGS)  # their names, read from the registrations
