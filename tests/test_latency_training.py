"""Fitting that does not overfit or hog the machine (issue 21): the validation split by
architecture, early stopping, torch threads, and the CLI's fit and report around them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from parawire._inference import torch_threads
from parawire.latency import create_predictor, load_predictor
from parawire.latency.store import LatencyStore, MeasurementKey, placement_text
from parawire.latency.training import MIN_VALIDATION, TrainConfig, train, validation_split
from test_latency_generalise import synthetic_sample


def test_the_validation_split_keeps_each_architecture_on_one_side_and_follows_the_seed():
    digests = [f"d{i % 20}" for i in range(60)]  # 20 architectures, 3 rows each
    held = validation_split(digests, 0.2, seed=1)
    assert held.sum() == 12  # 4 architectures x 3 rows
    for d in set(digests):
        assert len({bool(h) for h, x in zip(held, digests, strict=True) if x == d}) == 1
    assert (validation_split(digests, 0.2, seed=1) == held).all()
    assert (validation_split(digests, 0.2, seed=2) != held).any()
    few = [f"d{i}" for i in range(MIN_VALIDATION - 1)]
    assert not validation_split(few, 0.5, seed=0).any()


def test_early_stopping_keeps_the_best_epoch_and_stops_on_noise():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(80, 5, generator=gen), torch.randn(80, generator=gen)  # nothing to learn
    net = nn.Sequential(nn.Linear(5, 64), nn.ReLU(), nn.Linear(64, 1))

    def loss_of(idx: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(net(x[idx]).squeeze(1), y[idx])

    held = np.arange(80) >= 60
    result = train(net, loss_of, held, TrainConfig(epochs=400, batch=16, patience=10))
    assert result.epochs_run < 400 and result.best_epoch <= result.epochs_run - 10
    with torch.no_grad():
        assert float(loss_of(torch.arange(60, 80))) == pytest.approx(result.val_loss, rel=1e-6)


def test_threads_are_set_for_the_fit_and_restored():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_a_fit_records_what_validation_chose():
    data = [synthetic_sample(i, 6 + i % 5) for i in range(30)]
    predictor = create_predictor("gnn", seed=0, epochs=40, hidden=16, layers=2).fit(data)
    fit = predictor.fit_result
    assert fit["val_rows"] > 0 and 1 <= fit["best_epoch"] <= fit["epochs_run"] <= 40
    assert np.isfinite(fit["val_mape"])
    assert set(predictor.trained) == {s.digest for s in data}


def _store(path, samples, noisy_every: int = 0, profile: str = "local", scale: float = 1.0):
    store = LatencyStore(path)
    for i, s in enumerate(samples):
        key = MeasurementKey(s.digest, 1, placement_text(s.spec, s.placement), profile,
                             "float32", 1, "m", "t")  # fmt: skip
        spread = 0.5 if noisy_every and i % noisy_every == 0 else 0.0
        t = s.latency_s * scale
        store.add(s.spec, key, [t * (1 - spread), t, t * (1 + spread)])
    store.close()


def test_cli_fit_warns_on_few_rows_excludes_noisy_and_report_leaves_out_trained(tmp_path, capsys):
    from parawire.cli import main

    train_rows = [synthetic_sample(i, 6 + i % 5) for i in range(30)]
    test_rows = [synthetic_sample(500 + i, 8) for i in range(8)]
    db, test_db = tmp_path / "train.db", tmp_path / "test.db"
    _store(db, train_rows, noisy_every=3)
    _store(test_db, test_rows + train_rows[:5])
    out = tmp_path / "p.pt"
    args = ["latency", "fit", str(db), "-o", str(out), "--model", "gnn", "--epochs", "20"]
    assert main([*args, "--exclude-noisy", "--threads", "1"]) == 0
    captured = capsys.readouterr()
    assert "warning: 20 rows is few" in captured.err
    assert "fitted gnn on 20 measurements" in captured.out and "validation" in captured.out
    assert len(load_predictor(out).trained) == 20
    report = ["latency", "report", str(test_db), "--predictor", str(out), "--json"]
    assert main(report) == 0
    doc = json.loads(capsys.readouterr().out)
    trained_in_test = sum(s.digest in set(load_predictor(out).trained) for s in train_rows[:5])
    assert doc["trained_rows_left_out"] == trained_in_test
    assert doc["groups"]["k=1 local"]["n"] == 13 - trained_in_test
    assert main([*report, "--include-trained"]) == 0
    assert json.loads(capsys.readouterr().out)["groups"]["k=1 local"]["n"] == 13


def test_cli_fit_adapt_transfers_a_predictor_to_another_device(tmp_path, capsys):
    from parawire.cli import main

    source_rows = [synthetic_sample(i, 6 + i % 5) for i in range(30)]
    target_rows = [synthetic_sample(700 + i, 6 + i % 5) for i in range(20)]
    db, target_db = tmp_path / "here.db", tmp_path / "there.db"
    _store(db, source_rows)
    _store(target_db, target_rows, profile="rpi4-wifi", scale=4.0)
    source, adapted = tmp_path / "here.pt", tmp_path / "there.pt"
    assert main(["latency", "fit", str(db), "-o", str(source), "--model", "hybrid",
                 "--epochs", "30"]) == 0  # fmt: skip
    capsys.readouterr()
    args = ["latency", "fit", str(target_db), "-o", str(adapted), "--adapt", str(source)]
    assert main(args) == 0
    assert "adapted hybrid" in capsys.readouterr().out
    predictor = load_predictor(adapted)
    assert predictor.profiles == ["rpi4-wifi"]
    assert predictor.fit_result["adapted"]["rows"] == 20


def test_cli_fit_of_the_mlp_states_its_size_limit(tmp_path, capsys):
    from parawire.cli import main

    rows = [synthetic_sample(i, 6 + i % 5) for i in range(12)]
    _store(tmp_path / "l.db", rows)
    args = ["latency", "fit", str(tmp_path / "l.db"), "-o", str(tmp_path / "m.pt")]
    assert main([*args, "--model", "mlp", "--epochs", "5"]) == 0
    largest = max(len(s.spec.nodes) for s in rows)
    assert f"padded to {largest} vertices, it refuses larger specs" in capsys.readouterr().out
