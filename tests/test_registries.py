"""Contract suites of the pluggable families outside graphs/partitioners/datasets: baselines,
training recipes, staging modes, aggregations and device profiles. Each test runs over every
registered entry, so a new entry is tested the moment it is registered (issue 9, item 14)."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import GENERATORS, small_spec
from parawire.analysis.costs import spec_costs
from parawire.analysis.profiles import create_profile, list_profiles
from parawire.analysis.simulate import single_device_seconds
from parawire.analysis.trace import from_module
from parawire.arch import AGGREGATIONS, STAGINGS, create_staging, list_stagings
from parawire.errors import ConfigError
from parawire.nn import (
    build_model,
    create_aggregation,
    create_baseline,
    list_aggregations,
    list_baselines,
)
from parawire.nn.model_ref import resolve_model
from parawire.search.space import create_space, list_spaces
from parawire.train.recipes import Recipe, create_recipe, list_recipes, make_optimizer, schedule_at


@pytest.mark.parametrize("name", list_baselines())
def test_baseline_contract(name: str) -> None:
    torch.manual_seed(0)
    model = create_baseline(name, num_classes=7, in_channels=3, image_size=32)
    torch.manual_seed(0)
    again = create_baseline(name, num_classes=7, in_channels=3, image_size=32)
    for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)  # seeded by torch's global RNG
    logits = model(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 7)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())  # every parameter on the path
    graph = from_module(*resolve_model(name), name=name)  # the one name analyze takes
    assert graph.check() is graph and len(graph.vertices) >= 2


@pytest.mark.parametrize("name", list_recipes())
def test_recipe_contract(name: str) -> None:
    recipe = create_recipe(name)
    assert recipe.name == name and recipe.check() is recipe
    assert Recipe.from_dict(recipe.to_dict()) == recipe
    steps, epochs = 10, min(recipe.epochs, 12)
    for step in range(steps * epochs):
        lr, momentum = schedule_at(recipe, step, steps, epochs)
        assert math.isfinite(lr) and 0 <= lr <= max(recipe.lr, recipe.switch_lr)
        assert 0 <= momentum < 1
    model = torch.nn.Linear(4, 2)
    before = model.weight.detach().clone()
    optimizer = make_optimizer(model, recipe.fit(1000))
    model(torch.randn(8, 4)).sum().backward()
    optimizer.step()
    assert not torch.equal(before, model.weight)


def test_staging_registry_holds_the_built_in_modes() -> None:
    assert sorted(STAGINGS) == list_stagings()


@pytest.mark.parametrize("staging", list_stagings())
@pytest.mark.parametrize("generator", GENERATORS)
def test_staging_contract(generator: str, staging: str) -> None:
    spec = small_spec(generator, staging, seed=3)
    assert spec.digest() == small_spec(generator, staging, seed=3).digest()
    mode = create_staging(staging)
    convs = [n for n in spec.nodes if n.op == "sepconv3x3"]
    if mode.vertex_staging == "never" and not mode.sequence:
        assert {n.channels for n in convs} == {8} and not any(n.stage for n in convs)
    if mode.sequence:
        assert len(spec.stages) == 2  # small_spec: fb_stages=2
    assert all(n.channels <= 32 * 2 for n in convs)  # c_max 32: the last stage may double it


def test_aggregation_registry_matches_the_spec() -> None:
    assert list_aggregations() == sorted(AGGREGATIONS)


@pytest.mark.parametrize("name", list_aggregations())
def test_aggregation_contract(name: str) -> None:
    agg = create_aggregation(name)
    w = torch.nn.Parameter(agg.initial_weights(3))
    assert w.shape == (3,) and torch.allclose(w, w[0].expand(3))  # every input counts the same
    xs = [torch.randn(2, 4, 5, 5, requires_grad=True) for _ in range(3)]
    out = agg.combine(w, xs)
    assert out.shape == xs[0].shape and out.abs().sum() > 0
    out.relu().sum().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0
    assert all(x.grad is not None for x in xs)
    spec = small_spec("dp")
    spec = type(spec).from_dict({**spec.to_dict(), "aggregation": name})
    assert build_model(spec)(torch.randn(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize("name", list_profiles())
def test_profile_contract(name: str) -> None:
    profile = create_profile(name)
    assert profile.name == name
    t1 = single_device_seconds(spec_costs(small_spec("dp")), profile)
    assert math.isfinite(t1) and t1 > 0


def test_run_names_a_baseline_clearly(capsys: pytest.CaptureFixture[str]) -> None:
    from parawire.cli import main

    # baselines run through the runtime (tests/test_runtime_baselines.py); K is still needed
    assert main(["run", "cifarnet"]) == 1
    err = capsys.readouterr().err
    assert "a model needs --devices K" in err and "parawire run cifarnet -n 2" in err


@pytest.mark.parametrize("name", list_spaces())
def test_search_space_contract(name: str) -> None:
    import optuna

    from parawire.search.space import SearchSpace, suggest

    space = create_space(name)
    assert space.check() is space and SearchSpace.from_dict(space.to_dict()) == space
    drawn = []
    for seed in (0, 0, 1):
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        drawn.append(suggest(study.ask(), space))
    assert drawn[0] == drawn[1]  # the same seed draws the same architecture
    spec = drawn[2].spec((3, 16, 16), 10)
    assert spec.validate() is spec and drawn[2].family in space.families


def test_one_lookup_form_for_every_family() -> None:
    """create_* everywhere; the older get_* names stay as the same functions for scripts."""
    from parawire.analysis import profiles
    from parawire.arch import staging
    from parawire.search import space as spaces
    from parawire.train import recipes

    assert profiles.create_profile is profiles.create_profile
    assert recipes.create_recipe is recipes.create_recipe
    assert staging.create_staging is staging.create_staging
    assert spaces.create_space is spaces.create_space
    with pytest.raises(ConfigError, match=r"unknown search space 'cpuu' \(did you mean 'cpu'\?\)"):
        create_space("cpuu")
    with pytest.raises(ConfigError, match=r"\(did you mean 'rpi4-wifi'\?\).*TOML file"):
        profiles.create_profile("rpi4-wify")
