"""Time dilation for device emulation on fewer cores than emulated devices.

``parawire run --emulate PROFILE`` runs each vertex for real and then waits until the profile's
time for it has passed. That is faithful only while the real computation fits in the emulated
time; with k ranks on c < k cores, ranks that compute at once share the cores and take up to
k / c times longer, so vertices overrun and the run measures this machine rather than the
profile. Dilation runs the whole emulation ``factor`` times slower (``Profile.dilated``: every
compute and transfer time scaled alike) and divides what it measures by ``factor``.

:func:`auto_dilation` picks the factor from this machine's real time for each vertex (timed
alone, one thread), the profile's time for it, and the ranks per core.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from parawire._inference import inference_settings
from parawire.analysis.calibrate import vertex_calls
from parawire.analysis.profiles import Profile, create_profile, save_profile
from parawire.runtime.plan import Plan

MARGIN = 3.0  # head room: vertices that compute at once, gloo and Python overhead (1.5 overran)
QUANTILE = 0.9  # the share of vertices the estimate keeps within their emulated time


def vertex_seconds_here(plan: Plan, batch: int = 1, repeats: int = 5) -> dict[int, float]:
    """Vertex -> its median compute time on this machine, alone, one thread: wall time, so
    that the load the machine is under now counts, as it will during the run."""
    times: dict[int, float] = {}
    with inference_settings(1), torch.inference_mode():
        for vertex, call in _vertex_calls(plan, batch):
            call()  # warm-up
            runs = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                call()
                runs.append(time.perf_counter() - t0)
            times[vertex] = statistics.median(runs)
    return times


def _vertex_calls(plan: Plan, batch: int) -> Iterator[tuple[int, Callable[[], object]]]:
    """(vertex, a call that computes it on inputs of its real shapes), for every vertex: a
    spec's from ``calibrate.vertex_calls``, a traced model's from one forward pass."""
    if plan.spec is not None:
        for node, call in vertex_calls(plan.spec, torch.Generator().manual_seed(0), batch):
            yield node.id, call
        return
    from parawire.runtime.reference import make_image, plan_model

    model = plan_model(plan, plan.graph.seeded_state(plan.seed))
    graph, outputs = plan.graph, {}
    image = make_image(graph.input_shape, batch, seed=0)
    for v in graph.vertex_ids:
        args = [outputs[u] for u in graph.inputs(v)] or [image]
        outputs[v] = model.parts.run(v, args)
        yield v, lambda v=v, args=args: model.parts.run(v, args)


def auto_dilation(
    plan: Plan, profile: str | Profile, *, batch: int = 1, cores: int | None = None
) -> float:
    """The smallest dilation (one decimal, >= 1) under which device emulation of ``profile``
    on this machine stays faithful for most vertices: the 90th percentile of real over
    emulated vertex time, times the ranks per core, times a margin."""
    device = create_profile(profile).device
    graph = plan.graph.costs(batch, plan.wire_dtype, plan.scatter)
    emulated = {v.id: device.seconds(v) for v in graph.vertices}
    real = vertex_seconds_here(plan, batch)
    ratios = sorted(real[v] / emulated[v] for v in real if emulated[v] > 0)
    if not ratios:
        return 1.0
    quantile = ratios[min(len(ratios) - 1, int(QUANTILE * len(ratios)))]
    per_core = max(1.0, plan.world / (cores or os.cpu_count() or 1))
    return max(1.0, math.ceil(MARGIN * per_core * quantile * 10) / 10)


def dilated_profile_ref(profile: str | Profile, factor: float, folder: str | Path) -> str:
    """``FILE#NAME`` of ``profile`` dilated by ``factor``, written into ``folder``: what
    ``RunOptions.emulate`` takes, so that every rank (a separate process) loads it."""
    dilated = create_profile(profile).dilated(factor)
    path = save_profile(dilated, Path(folder) / "dilated-profile.toml")
    return f"{path}#{dilated.name}"
