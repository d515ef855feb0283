"""What a search optimises and how: one dataclass, every field commented."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from parawire.errors import ConfigError
from parawire.search.space import SearchSpace

STUDY_NAME = "parawire-search"  # the Optuna study every process of one search joins
DB_NAME = "search.sqlite"  # default storage: this file in the search folder
OBJECTIVES = ("accuracy", "latency_s")  # maximised, minimised


@dataclass(frozen=True)
class SearchConfig:
    """A latency-aware architecture search (``parawire search``)."""

    dataset: str = "digits"  # data set registry name
    data: str | None = None  # --data PATH for data sets that need one
    dataset_options: tuple[tuple[str, int], ...] = ()  # e.g. (("num_train", 64),) for synthetic
    trials: int = 40  # finished trials the search ends with (every process together)
    epochs: int = 2  # proxy training epochs of every trial
    devices: int = 4  # k: devices one inference may be split over
    profile: str = "rpi4-wifi"  # device/link profile of the latency objective
    sampler: str = "nsga2"  # sampler registry name (parawire.search.samplers)
    seed: int = 0  # sampler seed and training seed
    max_params: int | None = None  # parameter budget (None: no constraint)
    predictor: str | None = None  # learned latency predictor file (None: schedule simulation)
    effort: str = "full"  # how hard each trial's deployment is searched (full, fast)
    recipe: str = "modern"  # training recipe name
    batch_size: int | None = None  # override of the recipe's batch size
    lr: float | None = None  # override of the recipe's peak learning rate
    space_name: str = "cpu"  # the search space's name (or the file it was read from)
    space: SearchSpace = field(default_factory=SearchSpace)  # what may be proposed
    threads: int = 1  # torch threads of the proxy training (tiny networks: 1 is fastest)
    compile: bool | None = None  # compiled training step (None: on CUDA); parawire.train.steps
    heartbeat_s: int = 30  # a running trial refreshes its heartbeat this often
    grace_s: int = 120  # a trial of another machine with an older heartbeat is presumed dead
    wait_s: float = 3600.0  # longest wait for other processes' last trials before giving up

    def check(self) -> SearchConfig:
        """Raise ``ConfigError`` on a bad name or number; returns self."""
        from parawire.analysis.deployment import check_effort
        from parawire.analysis.profiles import create_profile
        from parawire.data import list_datasets
        from parawire.search.samplers import list_samplers
        from parawire.train.recipes import create_recipe

        if self.dataset not in list_datasets():
            raise ConfigError(
                f"unknown dataset {self.dataset!r}; choose one of {', '.join(list_datasets())}"
            )
        for name in ("trials", "epochs", "devices", "threads", "heartbeat_s"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be a whole number >= 1")
        if self.grace_s <= self.heartbeat_s:
            raise ConfigError("the grace period must be longer than the heartbeat interval")
        if type(self.seed) is not int or self.seed < 0:
            raise ConfigError(f"--seed must be a whole number >= 0, got {self.seed!r}")
        if self.max_params is not None and self.max_params < 1:
            raise ConfigError(f"--max-params must be >= 1, got {self.max_params}")
        if self.sampler not in list_samplers():
            raise ConfigError(
                f"unknown sampler {self.sampler!r}; choose one of {', '.join(list_samplers())}"
            )
        create_profile(self.profile)
        check_effort(self.effort)
        create_recipe(self.recipe, batch_size=self.batch_size, lr=self.lr)
        self.space.check()
        return self

    def settings(self) -> dict[str, Any]:
        """What the stored trials depend on: a rerun against the same storage must match it.

        ``trials`` is left out (a rerun may extend a search), as are the process's own knobs.
        """
        effort = {} if self.effort == "full" else {"effort": self.effort}  # older searches match
        return {
            **effort,
            "dataset": self.dataset,
            "data": self.data,
            "dataset_options": [list(kv) for kv in self.dataset_options],
            "epochs": self.epochs,
            "devices": self.devices,
            "profile": self.profile,
            "sampler": self.sampler,
            "seed": self.seed,
            "max_params": self.max_params,
            "predictor": self.predictor,
            "recipe": self.recipe,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "space": self.space.to_dict(),
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON dictionary."""
        out = dataclasses.asdict(self)
        out["space"] = self.space.to_dict()
        return out
