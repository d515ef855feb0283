"""Work lists (every operator call of a vertex, by kind) and the per-kind pricing of calibrated
profiles: the single-device prediction of issue 8, item 4."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from parawire.analysis.calibrate import context_model, fit_kinds
from parawire.analysis.costs import spec_costs
from parawire.analysis.profiles import DeviceProfile, Profile, create_profile
from parawire.analysis.profiles._toml import dump_profiles, parse_profiles
from parawire.analysis.simulate import single_device_seconds
from parawire.analysis.trace import from_module
from parawire.analysis.work import FLOP_KINDS, KINDS
from parawire.arch import generate
from parawire.errors import ConfigError
from parawire.graphs import list_generators

RATED = [k for k in KINDS if k != "call"]


def _flops(work: tuple[tuple[str, int], ...]) -> int:
    return sum(amount for kind, amount in work if kind in FLOP_KINDS)


@pytest.mark.parametrize("generator", list_generators())
@pytest.mark.parametrize("merge", ["maps", "pooled"])
def test_spec_work_accounts_for_every_mac(generator: str, merge: str) -> None:
    spec = generate(generator, seed=3, n=16, merge=merge)
    for batch in (1, 3):
        for v in spec_costs(spec, batch=batch).vertices:
            assert v.work, f"vertex {v.id} has no work list"
            assert _flops(v.work) == 2 * v.macs, f"vertex {v.id} ({v.op})"
            assert {kind for kind, _ in v.work} <= set(KINDS)
            assert all(amount >= 0 for _, amount in v.work)


def test_spec_work_lists_the_operators_the_model_runs() -> None:
    spec = generate("dp", seed=0, n=16)
    graph = spec_costs(spec)
    kinds = {kind for v in graph.vertices for kind, _ in v.work}
    # stem conv3x3, depthwise + pointwise, batch norm, the head's linear layer and pooling
    assert {"conv3x3", "dwconv", "conv1x1", "bn", "linear", "avgpool", "elementwise"} <= kinds
    staged = [n.id for n in spec.nodes if n.stage]
    assert staged and all(("maxpool" in {k for k, _ in graph.vertex_map[v].work}) for v in staged)


def test_traced_work_accounts_for_every_mac_and_operator() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 8, 7, 2, 3, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(3, 2, 1),
        nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False),
        nn.Conv2d(8, 16, 1, bias=False),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    )
    graph = from_module(model, torch.zeros(1, 3, 32, 32))
    work = [w for v in graph.vertices for w in v.work]
    assert [kind for kind, _ in work] == [
        "convkxk", "bn", "elementwise", "maxpool", "dwconv", "conv1x1", "avgpool", "call", "linear"
    ]  # fmt: skip
    for v in graph.vertices:
        assert _flops(v.work) == 2 * v.macs
    assert dict(work)["bn"] == 8 * 16 * 16 and dict(work)["maxpool"] == 8 * 16 * 16


def test_context_models_trace_into_known_kinds() -> None:
    import numpy as np

    rng = np.random.default_rng(5)
    for _ in range(4):
        model, x = context_model(rng)
        graph = from_module(model, x)
        assert model(x).shape[0] == 1
        assert {k for v in graph.vertices for k, _ in v.work} <= set(KINDS)


def _device(**kw: object) -> DeviceProfile:
    rates = {k: 1e9 * (i + 1) for i, k in enumerate(RATED)}
    calls = {k: 1e-6 * (i + 1) for i, k in enumerate(KINDS)}
    return DeviceProfile("cal", 1e10, **{"kind_rates": rates, "kind_call_s": calls, **kw})


def test_calibrated_profile_prices_work_operator_by_operator() -> None:
    device = _device()
    spec = generate("er", seed=1, n=12)
    for v in spec_costs(spec).vertices:
        assert device.seconds(v) == pytest.approx(_priced(device, v.work))
    plain = dataclasses.replace(device, kind_rates={}, kind_call_s={})
    v = spec_costs(spec).vertices[1]
    assert plain.seconds(v) == pytest.approx(2 * v.macs / 1e10)
    # more work never costs less
    bigger = dataclasses.replace(v, work=tuple((k, a * 2) for k, a in v.work))
    assert device.seconds(bigger) > device.seconds(v)


def test_kind_tables_are_checked() -> None:
    with pytest.raises(ConfigError, match="unknown work kind"):
        _device(kind_call_s={"warp": 1e-6})
    with pytest.raises(ConfigError, match="lacks"):
        _device(kind_rates={"conv1x1": 1e9})
    with pytest.raises(ConfigError, match=r"kind_rates\.bn"):
        _device(kind_rates={**{k: 1e9 for k in RATED}, "bn": float("nan")})


def test_kind_tables_survive_a_toml_round_trip() -> None:
    base = create_profile("rpi4-ethernet")
    profile = Profile("calibrated", _device(), base.link, "a calibrated one", "test")
    again = parse_profiles(dump_profiles([profile]), origin="test")[0]["calibrated"]
    assert again == profile
    spec = generate("ws", seed=2, n=12)
    graph = spec_costs(spec)
    assert single_device_seconds(graph, again) == single_device_seconds(graph, profile)


def _priced(device: DeviceProfile, work: tuple[tuple[str, int], ...]) -> float:
    return sum(device.kind_call_s[k] + (a / device.kind_rates[k] if a else 0.0) for k, a in work)


def test_fit_kinds_recovers_known_rates_and_call_costs() -> None:
    import numpy as np

    truth = _device()
    rng = np.random.default_rng(0)
    rows = [((("call", 0),), truth.kind_call_s["call"])]
    for kind in RATED:  # single operators at several sizes
        for amount in (10**4, 10**5, 10**6, 10**7):
            rows.append((((kind, amount),), _priced(truth, ((kind, amount),))))
    for _ in range(40):  # mixed lists, as whole vertices and models
        work = []
        for _ in range(int(rng.integers(2, 12))):
            if rng.random() < 0.2:
                work.append(("call", 0))
            else:
                work.append((str(rng.choice(RATED)), int(rng.integers(1, 10**6))))
        rows.append((tuple(work), _priced(truth, tuple(work))))
    rates, calls = fit_kinds(rows)
    for kind in RATED:
        assert rates[kind] == pytest.approx(truth.kind_rates[kind], rel=1e-4)
    for kind in KINDS:
        assert calls[kind] == pytest.approx(truth.kind_call_s[kind], rel=1e-4, abs=1e-12)


def test_fit_weights_decide_between_conflicting_evidence() -> None:
    from parawire.analysis.calibrate import balanced_weights

    truth = _device()
    others = [  # every other kind, consistent with ``truth``
        (((kind, amount),), _priced(truth, ((kind, amount),)))
        for kind in RATED
        if kind != "conv3x3"
        for amount in (10**5, 10**6)
    ]
    # ten warm single convolutions say 1 ms each; one whole network says 2 ms each
    single = [((("conv3x3", 10**6),), 1e-3)] * 10
    network = [((("conv3x3", 10**6),) * 4, 8e-3)]
    rows = others + single + network
    groups = ["other"] * len(others) + ["operator"] * 10 + ["network"]
    weights = balanced_weights(groups)
    for group in set(groups):
        total = sum(w for w, g in zip(weights, groups, strict=True) if g == group)
        assert total == pytest.approx(1.0)

    def conv_ms(fitted: tuple[dict[str, float], dict[str, float]]) -> float:
        rates, calls = fitted
        return 1e3 * (calls["conv3x3"] + 10**6 / rates["conv3x3"])

    equal = conv_ms(fit_kinds(rows))
    balanced = conv_ms(fit_kinds(rows, weights))
    network_only = conv_ms(fit_kinds(rows, [1.0] * len(others) + [1e-9] * 10 + [1.0]))
    assert 1.0 < equal < balanced < network_only
    assert network_only == pytest.approx(2.0, rel=1e-3)
