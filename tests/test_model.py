"""The model builder: shapes, gradients, parameter counts, MACs and a short training run."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import parawire
from conftest import GENERATORS, STAGINGS, small_spec
from parawire.analysis import spec_costs
from parawire.nn import build_head, build_model, build_vertex, count_parameters, create_baseline


@pytest.mark.parametrize("merge", ["maps", "pooled"])
@pytest.mark.parametrize("generator", GENERATORS)
@pytest.mark.parametrize("staging", STAGINGS)
def test_forward_shapes_and_costs(generator: str, staging: str, merge: str) -> None:
    spec = small_spec(generator, staging, seed=1, merge=merge)
    model = build_model(spec)
    x = torch.randn(2, 3, 32, 32)
    with FlopCounterMode(display=False) as counter:
        y = model(x)
    assert y.shape == (2, spec.num_classes)
    costs = spec_costs(spec, batch=2)
    assert costs.total_params == count_parameters(model)
    assert abs(counter.get_total_flops() / 2 - costs.total_macs) <= 0.01 * costs.total_macs


@pytest.mark.parametrize("size", [32, 224])
def test_default_spec_at_32_and_224(size: int) -> None:
    spec = parawire.generate("dp", seed=2, input_shape=(3, size, size), num_classes=5)
    model = build_model(spec).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, size, size)).shape == (1, 5)
    smallest = min(min(spec.spatial(n.id)) for n in spec.nodes)
    assert smallest >= 4  # min_size is respected


@pytest.mark.parametrize("merge", ["maps", "pooled"])
@pytest.mark.parametrize("generator", GENERATORS)
def test_gradients_reach_every_vertex(generator: str, merge: str) -> None:
    spec = small_spec(generator, "probabilistic", seed=5, merge=merge)
    model = build_model(spec)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    for vid, block in model.vertices.items():
        grads = [p.grad for p in block.parameters()]
        if grads:
            assert all(g is not None and g.abs().sum() > 0 for g in grads), vid


def test_sigmoid_inputs_aggregation_builds_and_differs() -> None:
    a = parawire.generate("er", seed=0, n=10)
    b = parawire.generate("er", seed=0, n=10, aggregation="sigmoid_inputs")
    torch.manual_seed(0)
    ma = build_model(a).eval()
    torch.manual_seed(0)
    mb = build_model(b).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert not torch.allclose(ma(x), mb(x))


def test_split_modules_reproduce_the_full_model() -> None:
    spec = small_spec("dp", "greedy", seed=3)
    model = build_model(spec).eval()
    state = model.state_dict()
    outputs: dict[int, torch.Tensor] = {}
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        for v in spec.topological_order:
            block = build_vertex(spec, v)
            prefix = f"vertices.{v}."
            block.load_state_dict(
                {k[len(prefix) :]: t for k, t in state.items() if k.startswith(prefix)}
            )
            block.eval()
            ins = [outputs[e.src] for e in spec.in_edges[v]] or [x]
            outputs[v] = block(ins)
        head = build_head(spec)
        head.load_state_dict({k[5:]: t for k, t in state.items() if k.startswith("head.")})
        head.eval()
        assert torch.allclose(head(outputs[spec.output_node]), model(x), atol=1e-6)


def test_training_steps_lower_the_loss() -> None:
    torch.manual_seed(0)
    spec = small_spec("dp", "probabilistic", seed=0)
    model = build_model(spec)
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize(("name", "size"), [("cifarnet", 32), ("resnet20", 32), ("resnet50", 64)])
def test_baselines_forward(name: str, size: int) -> None:
    model = create_baseline(name, num_classes=10, image_size=size).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, size, size)).shape == (1, 10)


def test_cifarnet_matches_tf_slim_layout() -> None:
    model = create_baseline("cifarnet")
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [384, 192, 10]
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(m.out_channels, m.kernel_size) for m in convs] == [(64, (5, 5))] * 2


def test_sigmoid_inputs_aggregation_passes_gradient_to_every_parameter() -> None:
    # its weights once started at 0: every vertex output 0 and 1 of 253 tensors got a gradient
    cfg = parawire.StagingConfig(channels=8, c_max=32, min_size=2)
    spec = parawire.generate("dp", seed=5, n=12, staging=cfg, aggregation="sigmoid_inputs")
    torch.manual_seed(0)
    model = build_model(spec)
    x, y = torch.randn(4, 3, 32, 32), torch.arange(4)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    named = list(model.named_parameters())
    silent = [name for name, p in named if p.grad is None or not p.grad.abs().sum() > 0]
    assert silent == [], f"{len(silent)} of {len(named)} parameter tensors got no gradient"
