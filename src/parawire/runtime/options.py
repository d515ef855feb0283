"""How a run is driven: :class:`RunOptions` (the same on every rank) and the profiles they
name, for the link a rank emulates, the device it pads to and the run's prediction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from parawire.runtime.link import LinkModel
from parawire.runtime.plan import Plan


@dataclass(frozen=True)
class RunOptions:
    """How a run is driven (the same on every rank)."""

    runs: int = 20  # measured inferences
    warmup: int = 3  # inferences before measuring
    batch: int = 1  # images per inference
    threads: int = 1  # torch threads per rank
    timeout: float = 60.0  # seconds any single wait may last
    link: str | None = None  # link profile to emulate (e.g. "rpi4-wifi"); None: free link
    seed: int = 0  # the input image
    paired: bool = False  # rank 0 times the whole model after each split inference (worker)
    check: int = 0  # real test images run split at the end and compared (0: none)
    check_data: str = "digits"  # the data set they come from
    emulate: str | None = None  # device emulation: pad every vertex to this profile's time
    processes: int = 1  # run_local: fresh-process rounds of each side (parawire.measure)
    pin: bool = True  # run_local: each process on cores of its own when there are enough


def resolve_link(name: str | None) -> LinkModel | None:
    """The link profile ``name`` (e.g. ``rpi4-wifi``), or None for a free link."""
    if name is None:
        return None
    from parawire.analysis.profiles import available_profiles, create_profile

    profiles = available_profiles()
    if name in profiles:
        return profiles[name].link
    return create_profile(name).link  # a TOML file path, or a clear error


def emulation_pads(plan: Plan, profile: str, batch: int) -> dict[int, float]:
    """Vertex -> seconds it takes on a device of ``profile`` (what device emulation pads to)."""
    from parawire.analysis.profiles import create_profile

    device = create_profile(profile).device
    graph = plan.graph.costs(batch, plan.wire_dtype, plan.scatter)
    return {v.id: device.seconds(v) for v in graph.vertices}


def run_profile(profile: str | None, link: str | None, emulate: str | None = None) -> Any:
    """The profile a local run is predicted with.

    Device emulation (``emulate``): that profile, with ``link`` replacing its link if given.
    Otherwise ``profile`` (default ``local-cpu``: this machine), its link replaced by the
    emulated ``link`` when there is one.
    """
    from parawire.analysis.profiles import Profile, create_profile

    base = create_profile(emulate if emulate is not None else profile or "local-cpu")
    if link is None:
        return base
    emulated = resolve_link(link)
    assert emulated is not None
    return Profile(name=f"{base.name}+{link}", device=base.device, link=emulated)
