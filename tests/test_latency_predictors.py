"""Latency predictors: the contract over the registry, splits, fitting a known function, files
and the CLI (synthetic latencies on tiny specs: nothing is measured here)."""

from __future__ import annotations

import json

import pytest
import torch

from parawire.analysis.costs import spec_costs
from parawire.arch.generate import generate
from parawire.errors import ConfigError, DataError
from parawire.latency import (
    RelaxedQuery,
    Sample,
    create_predictor,
    errors,
    hold_out_generator,
    list_predictors,
    load_predictor,
    save_predictor,
    split_by_architecture,
)
from parawire.latency.store import LatencyStore, MeasurementKey, placement_text

GENERATORS = ("er", "ws", "dp", "chain", "ba", "lanes")
FAST = {"epochs": 30, "hidden": 16, "layers": 2}  # learned models in the contract suite


def _spec(i: int):
    g, n = GENERATORS[i % 6], 4 + i % 4
    params = {"n": n}
    if g == "lanes":
        params["width"] = 2 if n % 2 == 0 else 1
    elif g == "ba":
        params["m"] = 1
    elif g == "ws":
        params["k"] = 2
    merge = ("pooled", "maps")[i % 2]
    staging = ("uniform", "probabilistic")[(i // 2) % 2]
    return generate(g, seed=i, merge=merge, staging=staging, **params)


def known_latency(spec) -> float:
    """The synthetic ground truth: a per-vertex cost plus a per-MAC cost."""
    return 1e-4 * len(spec.nodes) + 2e-9 * spec_costs(spec).total_macs


def _samples(count: int, devices: int = 1) -> list[Sample]:
    out = []
    for i in range(count):
        spec = _spec(i)
        placement = {n.id: (0 if devices == 1 or n.id % 2 == 0 else 1) for n in spec.nodes}
        placement[spec.input_node] = 0
        out.append(
            Sample(
                spec,
                devices,
                placement,
                "float32",
                "local",
                known_latency(spec),
                spec.provenance.generator,
            )
        )
    return out


def _options(name: str) -> dict:
    return FAST if create_predictor(name).learned else {}


@pytest.fixture(scope="module")
def data() -> list[Sample]:
    return _samples(18)


@pytest.fixture(scope="module", params=list_predictors())
def fitted(request, data):
    name = request.param
    return name, create_predictor(name, seed=3, **_options(name)).fit(data)


def test_registry_lists_the_models_and_the_baselines():
    assert set(list_predictors()) >= {"mlp", "gnn", "hybrid", "flops", "simulation", "lookup"}
    with pytest.raises(ConfigError, match="unknown latency predictor"):
        create_predictor("nope")
    with pytest.raises(ConfigError, match="has no option"):
        create_predictor("mlp", depth=3)


def test_contract_predictions_are_positive_finite_and_seeded(fitted, data):
    name, predictor = fitted
    predicted = predictor.predict(data)
    assert predicted.shape == (len(data),)
    assert (predicted > 0).all() and torch.isfinite(torch.from_numpy(predicted)).all()
    again = create_predictor(name, seed=3, **_options(name)).fit(data).predict(data)
    assert again == pytest.approx(predicted, rel=1e-6)


def test_contract_relaxed_matches_predict_and_has_finite_gradients(fitted, data):
    _, predictor = fitted
    sample = data[1]
    w = torch.ones(len(sample.spec.edges), requires_grad=True)
    latency = predictor.relaxed(sample.spec, w, RelaxedQuery(1, sample.placement, "local"))
    assert latency.shape == ()
    assert latency.item() == pytest.approx(float(predictor.predict([sample])[0]), rel=0.02)
    latency.backward()
    assert torch.isfinite(w.grad).all()


def test_contract_file_round_trip(fitted, data, tmp_path):
    name, predictor = fitted
    path = save_predictor(predictor, tmp_path / "p.pt")
    loaded = load_predictor(path)
    assert loaded.name == name
    assert loaded.predict(data) == pytest.approx(predictor.predict(data), rel=1e-6)


def test_contract_unknown_profile_is_a_config_error(fitted, data):
    _, predictor = fitted
    other = Sample(data[0].spec, 1, data[0].placement, "float32", "rpi4-wifi", None, "")
    with pytest.raises(ConfigError, match="fitted on"):
        predictor.predict([other])


@pytest.mark.parametrize("name", ["mlp", "gnn", "hybrid", "lookup"])
def test_a_known_latency_function_is_fitted_to_near_zero_error(name):
    data = _samples(30)
    options = {"epochs": 150, "hidden": 32} if name != "lookup" else {}
    predictor = create_predictor(name, **options).fit(data)
    fit = errors(predictor.predict(data), [s.latency_s for s in data])
    assert fit.mape < 5.0 and fit.spearman > 0.9


def test_splits_leak_no_architecture():
    data = _samples(24) + _samples(12, devices=2)  # the same specs at k=1 and k=2
    train, test = split_by_architecture(data, 0.3, seed=5)
    assert train and test and len(train) + len(test) == len(data)
    assert not {s.digest for s in train} & {s.digest for s in test}
    same, _ = split_by_architecture(data, 0.3, seed=5)
    other, _ = split_by_architecture(data, 0.3, seed=6)
    assert [s.digest for s in same] == [s.digest for s in train]
    assert [s.digest for s in other] != [s.digest for s in train]
    for generator in GENERATORS:
        train, test = hold_out_generator(data, generator)
        assert test and all(s.generator == generator or s.digest in {t.digest for t in test}
                            for s in test)  # fmt: skip
        assert not {s.generator for s in train} & {generator}
        assert not {s.digest for s in train} & {s.digest for s in test}


def _first_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("parawire: error:")
    return err


def test_wrong_predictor_files_are_one_line_errors(data, tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    from parawire.cli import main

    spec_file = data[0].spec.save(tmp_path / "arch.json")
    good = save_predictor(create_predictor("gnn", **FAST).fit(data), tmp_path / "good.pt")
    tensors = load_file(str(good))
    from safetensors import safe_open

    with safe_open(str(good), framework="pt") as f:
        header = dict(f.metadata())
    cases = {
        "plain.pt": ({"x": torch.zeros(1)}, {}),
        "version.pt": (tensors, {**header, "version": "99"}),
        "kind.pt": (tensors, {**header, "kind": "teapot"}),
        "arch.pt": (tensors, {**header, "config": json.dumps({**FAST, "hidden": 8})}),
    }
    expected = {
        "plain.pt": "not a parawire latency predictor",
        "version.pt": "version '99'",
        "kind.pt": "unknown latency predictor 'teapot'",
        "arch.pt": "do not fit",
    }
    (tmp_path / "text.pt").write_text("not safetensors at all")
    expected["text.pt"] = "not a predictor file"
    for file, (t, h) in cases.items():
        save_file(t, str(tmp_path / file), metadata=h)
    for file, message in expected.items():
        args = ["latency", "predict", str(spec_file), "--predictor", str(tmp_path / file)]
        assert main(args) == 1
        assert message in _first_line_error(capsys)
    with pytest.raises(DataError, match="not 'mlp'"):
        load_predictor(good, kind="mlp")


def test_cli_fit_predict_report(data, tmp_path, capsys):
    from parawire.cli import main

    db = tmp_path / "l.db"
    store = LatencyStore(db)
    for s in data:
        key = MeasurementKey(s.digest, 1, placement_text(s.spec, s.placement), "local",
                             "float32", 1, "m", "t")  # fmt: skip
        store.add(s.spec, key, [s.latency_s])
    store.close()
    out = tmp_path / "p.pt"
    assert main(["latency", "fit", str(db), "-o", str(out), "--model", "lookup"]) == 0
    stored = len({s.digest for s in data})  # tiny generators repeat a few architectures
    assert f"fitted lookup on {stored} measurements" in capsys.readouterr().out
    spec_file = data[2].spec.save(tmp_path / "arch.json")
    assert main(["latency", "predict", str(spec_file), "--predictor", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["predicted_s"] == pytest.approx(known_latency(data[2].spec), rel=0.1)
    plot = tmp_path / "plot.png"
    args = ["latency", "report", str(db), "--predictor", str(out), "--plot", str(plot), "--json"]
    assert main(args) == 1  # every row is of a trained architecture: nothing left to test
    assert "--include-trained keeps them" in _first_line_error(capsys)
    assert main([*args, "--include-trained"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["groups"]["k=1 local"]["n"] == stored
    assert report["groups"]["k=1 local"]["mape"] < 5.0
    assert plot.stat().st_size > 1000


def test_analyze_shows_the_prediction_beside_the_simulation(data, tmp_path, capsys):
    from parawire.cli import main

    predictor = save_predictor(create_predictor("simulation").fit(data), tmp_path / "p.pt")
    spec_file = data[4].spec.save(tmp_path / "arch.json")
    args = ["analyze", str(spec_file), "--devices", "2", "--predictor", str(predictor)]
    assert main([*args, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)["predictor"]
    assert doc["predictor"] == "simulation" and doc["predicted_s"] > 0
    assert doc["simulation_profile"] == "local-cpu"
    assert main(args) == 0
    assert "predicted latency (simulation, local)" in capsys.readouterr().out


@pytest.mark.parametrize("name", list_predictors())
def test_contract_adapt_transfers_to_another_profile_from_few_rows(name, data):
    """The target device is three times slower: a handful of its rows teach the factor."""
    predictor = create_predictor(name, seed=3, **_options(name)).fit(data)
    target = [
        Sample(s.spec, 1, s.placement, "float32", "rpi4-wifi", 3 * s.latency_s, s.generator)
        for s in data
    ]
    assert predictor.adapt(target[:12]) is predictor
    assert "rpi4-wifi" in predictor.profiles
    assert {s.digest for s in target[:12]} <= set(predictor.trained)
    fit = errors(predictor.predict(target[12:]), [s.latency_s for s in target[12:]])
    assert fit.mape < 25.0
    with pytest.raises(ConfigError, match="one measurement profile"):
        predictor.adapt([target[0], data[0]])
