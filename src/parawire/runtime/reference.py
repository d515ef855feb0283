"""The plan's whole network in one process: the single-process reference a run is compared
with (the trusted oracle: the same logits, max |diff| 0.0), padded vertex by vertex under
device emulation, and the check images' reference logits.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from parawire._inference import inference_settings
from parawire.runtime.link import wait_until
from parawire.runtime.options import RunOptions, emulation_pads
from parawire.runtime.plan import Plan


def make_image(spec_shape: tuple[int, int, int], batch: int, seed: int) -> torch.Tensor:
    """The seeded input batch every run uses, (B, C, H, W)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn((batch, *spec_shape), generator=gen)


def padded_forward(model: Any, x: torch.Tensor, pads: dict[int, float] | None) -> torch.Tensor:
    """The whole model in this process, each vertex held for its emulated time (``pads``):
    the single-device baseline of device emulation (``model`` a :class:`PlanModel`, from
    :func:`plan_model`). Without ``pads``, ``model(x)`` (any whole model)."""
    return model(x) if pads is None else model.forward_padded(x, pads)


class PlanModel(torch.nn.Module):
    """The whole network of a plan run vertex by vertex in one process: the ranks' code with
    no wire between them (what device emulation pads vertex by vertex)."""

    def __init__(self, graph: Any, parts: Any) -> None:
        super().__init__()
        self.graph, self.parts = graph, parts

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, C, H, W)
        return self.forward_padded(x, None)

    def forward_padded(self, x: torch.Tensor, pads: dict[int, float] | None) -> torch.Tensor:
        """:meth:`forward`, each vertex held until ``pads[v]`` seconds after it started."""
        outputs: dict[int, Any] = {}
        for v in self.graph.vertex_ids:
            start = time.perf_counter()
            args = [outputs[u] for u in self.graph.inputs(v)] or [x]
            outputs[v] = self.parts.run(v, args)
            if pads is not None:
                wait_until(start + pads[v])
        return self.parts.finish(outputs[self.graph.output_vertex])


def plan_model(plan: Plan, state: dict[str, torch.Tensor]) -> PlanModel:
    """Every vertex of ``plan`` in one :class:`PlanModel`, with the weights ``state``."""
    graph = plan.graph
    parts = graph.parts(graph.vertex_ids, head=True)
    parts.load({k: state[k] for k in parts.state_keys()})
    return PlanModel(graph, parts).eval()


def full_model(plan: Plan, state: dict[str, torch.Tensor] | None = None) -> torch.nn.Module:
    """The whole network with the plan's weights, for the single-process baseline: the spec's
    model, or the traced model's own module (the trusted oracle)."""
    model = plan.graph.whole_model()
    model.load_state_dict(plan_state(plan) if state is None else state)
    return model.eval()


def plan_state(plan: Plan) -> dict[str, torch.Tensor]:
    """The full state dict of the plan: its weights file, or the seeded initialisation.

    A weights file that cannot be read or does not fit the spec is a one-line ``DataError``.
    """
    return plan.full_state()


def single_process(
    plan: Plan, state: dict[str, torch.Tensor], options: RunOptions
) -> tuple[list[float], torch.Tensor]:
    """Latencies and logits of the whole model in this process with ``options.threads``."""
    pads = emulation_pads(plan, options.emulate, options.batch) if options.emulate else None
    model = full_model(plan, state) if pads is None else plan_model(plan, state)
    image = make_image(plan.graph.input_shape, options.batch, options.seed)
    latencies: list[float] = []
    with inference_settings(options.threads), torch.inference_mode():
        for i in range(options.warmup + options.runs):
            start = time.perf_counter()
            logits = padded_forward(model, image, pads)
            if i >= options.warmup:
                latencies.append(time.perf_counter() - start)
    return latencies, logits


def check_report(
    plan: Plan, state: dict[str, torch.Tensor], check: Any, logits: torch.Tensor, options: Any
) -> dict[str, Any]:
    """The split logits of the check images against the float32 model in one process."""
    from parawire.runtime.check import compare_logits

    model = full_model(plan, state)
    with inference_settings(options.threads), torch.inference_mode():
        reference = torch.cat([model(x) for x in check.images.split(100)])
    return {
        "source": check.source,
        "wire_dtype": plan.wire_dtype,
        **compare_logits(logits, reference, check.labels),
    }
