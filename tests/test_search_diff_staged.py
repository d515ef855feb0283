"""The staged supernet of the differentiable search: levels, discretisation, latency weight."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest
import torch

import parawire
from parawire.analysis.costs import spec_costs
from parawire.cli import main
from parawire.data import load_dataset
from parawire.errors import ConfigError
from parawire.search.darts import DiffConfig, Supernet, discretise, search_wiring, supernet_spec

STAGED = DiffConfig(
    nodes=4, channels=4, stages=2, stem_stride=1, devices=4, profile="rpi4-wifi",
    search_epochs=15, batch_size=8, lr=0.1,
)  # fmt: skip


@pytest.fixture(scope="module")
def splits():
    """32 training images of 8x8 pixels."""
    return load_dataset("synthetic", num_train=32, num_test=16, image_size=8)


@pytest.fixture(scope="module")
def runs(splits):
    """The tiny staged search without and with the latency term."""
    return {lam: search_wiring(splits, dataclasses.replace(STAGED, lam=lam)) for lam in (0, 2)}


def test_staged_supernet_levels_widths_and_scaling_blocks() -> None:
    spec = supernet_spec(6, 4, (3, 16, 16), 10, 1, 3)
    widths = [(n.channels, n.scale, n.stage) for n in spec.nodes]
    assert widths == [
        (4, 1, False), (4, 1, False), (4, 1, False), (8, 2, True), (8, 2, False),
        (16, 4, True), (16, 4, False), (16, 4, False),
    ]  # fmt: skip
    assert len(spec.edges) == 6 + 6 * 5 // 2 + 6  # still every forward edge
    nodes = spec.node_map
    for e in spec.edges:  # every edge carries exactly the block its ends need
        assert e.pool == nodes[e.dst].in_scale // nodes[e.src].scale
        assert e.project == (nodes[e.src].channels != nodes[e.dst].in_channels)
    assert any(e.pool == 4 and e.project for e in spec.edges)  # level 0 into the output
    net = Supernet(spec)
    logits = net(torch.randn(2, 3, 16, 16))
    assert logits.shape == (2, 10)
    logits.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.arch_parameters())
    assert sum(p.numel() for p in net.weight_parameters()) > 0
    one = supernet_spec(6, 4, (3, 16, 16), 10, 1, 1)  # one stage: the unstaged supernet
    assert {(n.channels, n.scale) for n in one.nodes} == {(4, 1)}
    assert spec_costs(spec).total_params > spec_costs(one).total_params


def test_staged_supernet_discretises_into_a_valid_staged_spec() -> None:
    spec = supernet_spec(9, 8, (3, 32, 32), 10, 2, 3)
    rng = random.Random(0)
    for per_vertex in (False, True):
        for _ in range(5):
            gates = [rng.random() for _ in spec.edges]
            out = discretise(spec, gates, 0.5, per_vertex=per_vertex).validate()
            parawire.analysis.costs.spec_costs(out)  # shapes propagate
            head = out.node_map[out.output_node]
            assert (head.channels, head.scale) == (32, 4)  # the last stage's width and size
            assert len(out.stages) == 1 and out.stages[0].output == out.output_node
            model = parawire.build_model(out)
            assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    full = discretise(spec, [1.0] * len(spec.edges), 0.5)
    assert sum(n.stage for n in full.nodes) == 2  # both stagings kept


def test_a_larger_lambda_gives_a_lower_predicted_latency_staged(runs) -> None:
    assert runs[2].relaxed_latency_s < 0.9 * runs[0].relaxed_latency_s
    assert runs[2].supernet_latency_s == runs[0].supernet_latency_s
    for run in runs.values():
        assert run.spec is not None and run.spec.validate()
        assert max(n.scale for n in run.spec.nodes) == 2


def test_stage_checks() -> None:
    with pytest.raises(ConfigError, match="stages need at least"):
        DiffConfig(nodes=3, stages=4).check()
    with pytest.raises(ConfigError, match="below one pixel"):
        supernet_spec(8, 4, (3, 8, 8), 10, 2, 4)  # 4x4 maps halved three times


def test_cli_stages(tmp_path) -> None:
    args = ["search", "diff", "--dataset", "synthetic", "--dataset-option", "num_train=32",
            "--dataset-option", "num_test=16", "--dataset-option", "image_size=8",
            "--nodes", "4", "--channels", "4", "--stages", "2", "--stem-stride", "1",
            "--lambdas", "1", "--search-epochs", "1", "--epochs", "1", "--batch-size", "8",
            "--out", str(tmp_path)]  # fmt: skip
    assert main(args) == 0
    rows = json.loads((tmp_path / "diff.json").read_text())["rows"]
    spec = parawire.load_spec(tmp_path / rows[0]["spec"])
    assert spec.node_map[spec.output_node].scale == 2
    assert spec.provenance.params["stages"] == 2
