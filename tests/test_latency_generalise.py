"""Learned latency predictors that generalise (issue 21): any vertex count for the message-
passing models, the MLP's padded limit said plainly, and a relaxed latency that is monotone in
every edge weight with a gradient on each edge (synthetic latencies; nothing is measured)."""

from __future__ import annotations

import pytest
import torch

from parawire.arch.generate import generate
from parawire.errors import ConfigError
from parawire.latency import RelaxedQuery, Sample, create_predictor, errors

FAST = {"epochs": 60, "hidden": 16, "layers": 2}


def synthetic_sample(i: int, n: int, devices: int = 1) -> Sample:
    spec = generate("er", seed=i, n=n, p=0.3, merge=("pooled", "maps")[i % 2])
    placement = {v.id: (0 if devices == 1 else v.id % 2) for v in spec.nodes}
    placement[spec.input_node] = 0
    latency = 1e-4 * len(spec.nodes) + 3e-5 * len(spec.edges)
    return Sample(spec, devices, placement, "float32", "local", latency, "er")


@pytest.fixture(scope="module")
def small() -> list[Sample]:
    return [synthetic_sample(i, 6 + i % 5) for i in range(24)]


@pytest.mark.parametrize("name", ["gnn", "hybrid"])
def test_message_passing_models_predict_specs_larger_than_any_trained(name, small):
    predictor = create_predictor(name, seed=1, **FAST).fit(small)
    assert predictor.size_limit is None
    large = [synthetic_sample(100 + i, 30) for i in range(4)]
    assert all(len(s.spec.nodes) > max(len(t.spec.nodes) for t in small) for s in large)
    predicted = predictor.predict(large)
    assert (predicted > 0).all()
    # a prediction does not depend on what the batch is padded to
    alone = predictor.predict(small[:1])
    together = predictor.predict([small[0], large[0]])
    assert together[0] == pytest.approx(alone[0], rel=1e-5)


def test_the_gnn_extrapolates_a_size_trend(small):
    predictor = create_predictor("gnn", seed=1, epochs=200, hidden=16, layers=2).fit(small)
    large = [synthetic_sample(200 + i, 16) for i in range(6)]
    fit = errors(predictor.predict(large), [s.latency_s for s in large])
    assert fit.mape < 30.0  # latency grows with size, and so do its predictions


def test_the_mlp_states_its_padded_limit(small):
    predictor = create_predictor("mlp", seed=1, **FAST).fit(small)
    largest = max(len(s.spec.nodes) for s in small)
    assert predictor.size_limit == largest
    with pytest.raises(ConfigError, match=f"more than the {largest} the mlp") as info:
        predictor.predict([synthetic_sample(300, 30)])
    assert "gnn or hybrid" in str(info.value)


@pytest.mark.parametrize(("name", "devices"), [("mlp", 1), ("gnn", 2), ("hybrid", 2)])
def test_relaxed_latency_is_monotone_with_a_gradient_on_every_edge(name, devices):
    data = [synthetic_sample(i, 6 + i % 5, devices) for i in range(24)]
    predictor = create_predictor(name, seed=2, **FAST).fit(data)
    sample = data[3]
    edges = len(sample.spec.edges)

    def latency(w: torch.Tensor) -> torch.Tensor:
        return predictor.relaxed(sample.spec, w, RelaxedQuery(devices, sample.placement, "local"))

    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        w = torch.rand(edges, generator=gen, dtype=torch.float64).requires_grad_(True)
        value = latency(w)
        value.backward()
        for e in range(edges):
            higher = w.detach().clone()
            higher[e] = min(1.0, float(higher[e]) + 0.3)
            assert latency(higher).item() >= value.item() * (1 - 1e-9)
            removed = w.detach().clone()
            removed[e] = 0.0
            if abs(latency(removed).item() - value.item()) > 1e-12 * value.item():
                assert w.grad[e] > 0, f"edge {e} changes the latency but has no gradient"
