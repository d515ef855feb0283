"""torch.fx tracing of arbitrary models: exact parameters, MACs against flop_counter, one
source and one sink, and the fusion rule keeps parallel branches parallel."""

from __future__ import annotations

import networkx as nx
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from parawire.analysis.trace import from_module
from parawire.errors import ConfigError
from parawire.nn.model_ref import resolve_model

MODELS = [
    "torchvision:resnet50",
    "torchvision:mobilenet_v2",
    "torchvision:googlenet",
    "cifarnet",
    "resnet20",
]


@pytest.mark.parametrize("name", MODELS)
def test_traced_costs_match_the_module(name):
    model, x = resolve_model(name)
    graph = from_module(model, x, name=name)
    assert graph.total_params == sum(p.numel() for p in model.parameters())
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    assert graph.total_macs == pytest.approx(counter.get_total_flops() / 2, rel=0.01)
    assert nx.is_directed_acyclic_graph(graph.dag)
    assert [v for v in graph.dag if graph.dag.in_degree(v) == 0] == [graph.source]
    assert [v for v in graph.dag if graph.dag.out_degree(v) == 0] == [graph.sink]
    vmap = graph.vertex_map
    assert vmap[graph.source].op == "input" and vmap[graph.sink].op == "output"
    assert vmap[graph.sink].out_shape == (1, 1000 if name.startswith("torchvision") else 10)
    assert all(v.out_bytes > 0 for v in graph.vertices)


class Branches(nn.Module):
    """Two parallel convolutions merged by an add, then a residual add to the input of one."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.left = nn.Conv2d(8, 8, 3, padding=1)
        self.right = nn.Conv2d(8, 8, 1)
        self.after = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.relu(self.stem(x))
        m = self.left(s) + self.right(s)  # two branches: needs a merge vertex
        y = torch.relu(self.after(m) + m)  # residual: m is an ancestor, fused into `after`
        return self.fc(y.mean((2, 3)))


def test_fusion_rule_on_a_hand_built_model():
    g = from_module(Branches(), torch.zeros(2, 3, 8, 8))
    ops = {v.name: v for v in g.vertices}
    assert sorted(ops) == ["add", "after", "fc", "input", "left", "output", "right", "stem"]
    ids = {name: v.id for name, v in ops.items()}
    assert set(g.dag.successors(ids["stem"])) == {ids["left"], ids["right"]}  # parallel
    assert ops["add"].op == "merge" and ops["add"].macs == 0
    assert set(g.dag.predecessors(ids["after"])) == {ids["add"]}  # residual add fused
    assert ops["left"].macs == 2 * 8 * 8 * 8 * 8 * 9  # batch 2, 8x8 map, 8 -> 8 channels, 3x3
    assert ops["fc"].macs == 2 * 8 * 4 and ops["fc"].params == 8 * 4 + 4
    assert ops["stem"].out_bytes == 2 * 8 * 8 * 8 * 4 and ops["stem"].out_shape == (2, 8, 8, 8)
    assert g.batch == 2


def test_depthwise_kind():
    model, x = resolve_model("torchvision:mobilenet_v2")
    ops = {v.op for v in from_module(model, x).vertices}
    assert {"input", "conv", "dwconv", "linear", "output"} <= ops


@pytest.mark.parametrize("bad", ["resnet", "torchvision:nope", "keras:resnet50", "baseline:x"])
def test_unknown_model_names(bad):
    with pytest.raises(ConfigError, match="accepted forms"):
        resolve_model(bad)


class Untraceable(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 if x.sum() > 0 else x


def test_untraceable_module_gives_config_error():
    with pytest.raises(ConfigError, match="cannot trace"):
        from_module(Untraceable(), torch.zeros(1, 3))


class WithAttribute(nn.Module):
    """A parameter used directly (fx get_attr) by a matmul: it belongs to the matmul vertex."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(6, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x @ self.w)


def test_get_attr_parameters_belong_to_their_user():
    g = from_module(WithAttribute(), torch.zeros(3, 6))
    (mm,) = [v for v in g.vertices if v.op == "matmul"]
    assert mm.params == 30 and mm.macs == 3 * 6 * 5 and g.total_params == 30
    assert len(g.vertices) == 3 and g.vertex_map[g.source].out_bytes == 3 * 6 * 4
