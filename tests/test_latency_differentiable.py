"""Differentiable latency: the relaxed simulation against the simulation itself (the oracle)."""

from __future__ import annotations

import pytest
import torch

from parawire.analysis.costs import spec_costs
from parawire.analysis.profiles import create_profile
from parawire.analysis.simulate import simulate
from parawire.arch.generate import generate
from parawire.errors import ConfigError
from parawire.latency.differentiable import RelaxedQuery, recommended_placement, relaxed_latency


def _spec(merge: str = "pooled", seed: int = 1):
    return generate("er", seed=seed, n=10, p=0.3, merge=merge, staging="probabilistic")


@pytest.mark.parametrize(
    ("devices", "profile", "merge", "wire"),
    [
        (1, "rpi4-ethernet", "pooled", "float32"),
        (2, "rpi4-ethernet", "maps", "float32"),
        (2, "rpi4-wifi", "pooled", "int8"),
        (4, "ideal", "maps", "float16"),
    ],
)
def test_all_ones_reproduces_the_simulation(devices, profile, merge, wire):
    spec = _spec(merge)
    placement = recommended_placement(spec, devices, profile, wire)
    graph = spec_costs(spec, wire_dtype=wire)
    expected = simulate(graph, placement, create_profile(profile), devices).makespan_s
    w = torch.ones(len(spec.edges), requires_grad=True)
    latency = relaxed_latency(spec, w, devices=devices, profile=profile, wire_dtype=wire)
    assert latency.shape == ()
    assert latency.item() == pytest.approx(expected, rel=0.01)
    latency.backward()
    assert torch.isfinite(w.grad).all()
    assert (w.grad >= 0).all() and w.grad.abs().sum() > 0


def test_critical_input_edge_has_positive_gradient_and_lowering_it_lowers_latency():
    """The edge into the output vertex whose data arrives last (by the simulation's own
    timeline) is on the critical path: its gradient is positive, and dropping it lowers the
    latency; an input that arrives much earlier barely matters."""
    spec = _spec("pooled", seed=3)
    profile, devices = "rpi4-wifi", 2
    placement = recommended_placement(spec, devices, profile)
    schedule = simulate(spec_costs(spec), placement, create_profile(profile), devices)
    out = spec.output_node
    arrival: dict[int, float] = {}
    for ev in schedule.timeline:
        if ev.kind == "compute":
            if placement[ev.vertex] == placement[out]:
                arrival[ev.vertex] = max(arrival.get(ev.vertex, 0.0), ev.end)
        elif ev.dst == placement[out]:
            arrival[ev.vertex] = max(arrival.get(ev.vertex, 0.0), ev.end)
    inputs = [e.src for e in spec.in_edges[out]]
    assert len(inputs) >= 2
    latest = max(inputs, key=lambda u: arrival[u])
    earliest = min(inputs, key=lambda u: arrival[u])
    index = {(e.src, e.dst): i for i, e in enumerate(spec.edges)}
    w = torch.ones(len(spec.edges), requires_grad=True)
    full = relaxed_latency(spec, w, devices=devices, profile=profile)
    full.backward()
    crit = index[(latest, out)]
    assert w.grad[crit] > 0
    assert w.grad[crit] > w.grad[index[(earliest, out)]]
    dropped = torch.ones(len(spec.edges))
    dropped[crit] = 0.0
    lower = relaxed_latency(spec, dropped, devices=devices, profile=profile)
    assert lower.item() < full.item()


def test_projection_weight_lowers_one_device_compute():
    """On one device latency is the summed compute: dropping a projected edge saves its MACs."""
    spec = _spec("maps", seed=2)
    projected = [i for i, e in enumerate(spec.edges) if e.project]
    assert projected
    w = torch.ones(len(spec.edges))
    full = relaxed_latency(spec, w, devices=1).item()
    w[projected[0]] = 0.0
    assert relaxed_latency(spec, w, devices=1).item() < full


def test_wrong_weight_shape_is_a_config_error():
    spec = _spec()
    with pytest.raises(ConfigError, match="one weight per spec edge"):
        relaxed_latency(spec, torch.ones(len(spec.edges) + 1), devices=2)


def test_with_a_predictor_it_is_the_predictors_differentiable_output():
    from parawire.latency import Sample, create_predictor

    specs = [_spec("pooled", seed=s) for s in range(6)]
    samples = [
        Sample(s, 1, {n.id: 0 for n in s.nodes}, "float32", "local", 1e-4 * len(s.nodes), "er")
        for s in specs
    ]
    predictor = create_predictor("gnn", epochs=5, hidden=8, layers=1).fit(samples)
    spec = specs[0]
    w = torch.full((len(spec.edges),), 0.5, requires_grad=True)
    latency = relaxed_latency(spec, w, devices=1, profile="local", predictor=predictor)
    expected = predictor.relaxed(spec, w, RelaxedQuery(devices=1, profile="local"))
    assert latency.item() == pytest.approx(expected.item())
    latency.backward()
    assert torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="fitted on measurements of local"):
        relaxed_latency(spec, w, devices=1, predictor=predictor)  # default rpi4-ethernet
