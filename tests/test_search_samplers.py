"""Contract of every registered search sampler (parawire.search._base)."""

from __future__ import annotations

import optuna
import pytest

from parawire.errors import ConfigError
from parawire.search import create_sampler, create_space, list_samplers
from parawire.search.runner import quiet_optuna
from parawire.search.space import suggest

SPACE = create_space("tiny")


def _run(name: str, seed: int, trials: int = 10, budget: int = 10) -> list[dict]:
    """Params proposed by ``name`` on an in-memory study with a cheap two-objective function
    and a constraint (feasible when the vertex count is at most 6)."""
    quiet_optuna()
    study = optuna.create_study(directions=["maximize", "minimize"])
    proposed = []
    for _ in range(trials):
        study.sampler = create_sampler(name, seed=seed * 1000 + len(study.trials), budget=budget)
        trial = study.ask()
        choice = suggest(trial, SPACE)
        trial.set_constraint("vertices", choice.params["n"] - 6)
        study.tell(trial, [float(choice.channels), float(choice.params["n"])])
        proposed.append(trial.params)
    assert all(t.state.name == "COMPLETE" for t in study.trials)
    return proposed


@pytest.fixture(params=list_samplers())
def sampler_name(request: pytest.FixtureRequest) -> str:
    """Every registered sampler."""
    return request.param


def test_same_seed_same_proposals_other_seed_other_ones(sampler_name: str) -> None:
    first = _run(sampler_name, seed=1)
    assert first == _run(sampler_name, seed=1)
    assert first != _run(sampler_name, seed=2)


def test_proposals_stay_in_the_space(sampler_name: str) -> None:
    for params in _run(sampler_name, seed=0, trials=12, budget=8):
        assert params["family"] in SPACE.families
        assert SPACE.vertices[0] <= params["n"] <= SPACE.vertices[1]
        assert params["channels"] in SPACE.channels and params["wire_dtype"] in SPACE.wire_dtypes


def test_registry_names_and_unknown_name() -> None:
    assert {"nsga2", "tpe", "random"} <= set(list_samplers())
    with pytest.raises(ConfigError, match="unknown sampler 'cmaes'; choose one of"):
        create_sampler("cmaes", seed=0)


def test_the_cli_lists_every_sampler_and_space_without_importing_them() -> None:
    from parawire.cli import search_commands
    from parawire.search import SPACES

    assert set(search_commands.SAMPLERS) == set(list_samplers())
    assert set(search_commands.SPACE_NAMES) == set(SPACES)
