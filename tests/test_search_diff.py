"""Differentiable wiring search: the supernet, its loss, the latency weight, discretisation."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

import parawire
from parawire.cli import main
from parawire.data import load_dataset
from parawire.errors import ConfigError
from parawire.search.darts import DiffConfig, Supernet, discretise, search_wiring, supernet_spec

TINY = DiffConfig(
    nodes=3, channels=4, stem_stride=1, devices=4, profile="rpi4-wifi", search_epochs=15,
    batch_size=8, lr=0.1,
)  # fmt: skip


@pytest.fixture(scope="module")
def splits():
    """32 training images of 8x8 pixels: the supernet memorises them in a few steps."""
    return load_dataset("synthetic", num_train=32, num_test=16, image_size=8)


@pytest.fixture(scope="module")
def runs(splits):
    """The tiny search without and with the latency term."""
    return {lam: search_wiring(splits, dataclasses.replace(TINY, lam=lam)) for lam in (0, 2)}


def test_supernet_is_the_dense_dag_with_one_gate_per_edge() -> None:
    spec = supernet_spec(5, 4, (3, 8, 8), 10, 1)
    assert len(spec.edges) == 5 + 5 * 4 // 2 + 5  # input -> each, forward edges, each -> output
    net = Supernet(spec)
    gates = net.gates()
    assert gates.shape == (len(spec.edges),) and torch.allclose(gates, torch.full_like(gates, 0.5))
    logits = net(torch.randn(2, 3, 8, 8))
    assert logits.shape == (2, 10)
    logits.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.arch_parameters())
    arch = {id(p) for p in net.arch_parameters()}
    assert not arch & {id(p) for p in net.weight_parameters()}


def test_supernet_loss_falls(runs) -> None:
    history = runs[0].history
    first = sum(h["loss_w"] for h in history[:6]) / 6
    last = sum(h["loss_w"] for h in history[-6:]) / 6
    assert last < first - 0.1


def test_a_larger_lambda_gives_a_lower_predicted_latency(runs) -> None:
    assert runs[2].relaxed_latency_s < 0.9 * runs[0].relaxed_latency_s
    assert runs[2].supernet_latency_s == runs[0].supernet_latency_s  # the same supernet, placed
    for run in runs.values():
        assert run.spec is not None and run.spec.validate()


def test_discretise_keeps_strong_edges_and_a_path() -> None:
    spec = supernet_spec(4, 4, (3, 8, 8), 10, 1)
    full = discretise(spec, [1.0] * len(spec.edges), 0.5)
    assert len(full.edges) == len(spec.edges) and len(full.nodes) == len(spec.nodes)
    gates = [0.1] * len(spec.edges)
    path = [(0, 2), (2, 3), (3, 5)]  # the strongest input-to-output path, nothing else strong
    for i, e in enumerate(spec.edges):
        if (e.src, e.dst) in path:
            gates[i] = 0.4
    chain = discretise(spec, gates, 0.5)
    assert [(e.src, e.dst) for e in chain.edges] == [(0, 1), (1, 2), (2, 3)]  # renumbered
    assert len(parawire.analysis.costs.spec_costs(chain).vertices) == 4
    every = discretise(spec, gates, 0.5, per_vertex=True)  # no vertex lost, weak edges gone
    assert len(every.nodes) == len(spec.nodes) and len(every.edges) < len(spec.edges)
    for v in every.nodes[1:-1]:
        assert every.in_edges[v.id] and every.successors[v.id]


def test_config_checks() -> None:
    with pytest.raises(ConfigError, match="threshold"):
        DiffConfig(threshold=1.0).check()
    with pytest.raises(ConfigError, match="at least 2 nodes"):
        DiffConfig(nodes=1).check()


def test_cli_sweep_writes_the_curve_and_specs(tmp_path) -> None:
    args = ["search", "diff", "--dataset", "synthetic", "--dataset-option", "num_train=32",
            "--dataset-option", "num_test=16", "--dataset-option", "image_size=8",
            "--nodes", "3", "--channels", "4", "--stem-stride", "1", "--lambdas", "0,1",
            "--search-epochs", "1", "--epochs", "1", "--batch-size", "8", "--out",
            str(tmp_path)]  # fmt: skip
    assert main(args) == 0
    rows = json.loads((tmp_path / "diff.json").read_text())["rows"]
    assert [r["lambda"] for r in rows] == [0.0, 1.0]
    for r in rows:
        parawire.load_spec(tmp_path / r["spec"])
    assert main([*args[:-2], "--lambdas", "x", "--out", str(tmp_path)]) == 1
