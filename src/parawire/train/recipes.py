"""Named training recipes: every hyper-parameter of a training run in one dataclass.

* ``paper``: EDGE'23's procedure for CIFAR-10 (SGD, learning rate 1e-3, momentum 0.9, constant,
  100 epochs). ``paper-flowers``: its Flower-102 procedure (300 epochs; learning rate 5e-4 and
  momentum 0.95 after the first 100). The paper states no batch size or weight decay: the
  fitted batch (below) and 0.
* ``modern`` (default): SGD with nesterov momentum, linear warm-up then cosine decay, label
  smoothing 0.1, weight decay 5e-4 on weights (not on norms and biases), 40 epochs.
* ``modern-adamw``: the same schedule with AdamW.

Batch size: a recipe may name one (``--batch-size``); without one, the batch fits the training
set (:func:`fit_batch_size`): 128 on CIFAR-10, but 32 on the 1,437 images of ``digits``, where
a batch of 128 would leave 11 steps an epoch, too few for the warm-up and schedule to work.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from torch import nn, optim

from parawire.errors import ConfigError
from parawire.registry import Registry

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("constant", "cosine")
MAX_BATCH = 128  # the fitted batch of a large training set (CIFAR-10: 390 steps an epoch)
MIN_BATCH = 16  # the fitted batch never goes below this (noisier batch-norm statistics)
MIN_STEPS_PER_EPOCH = 40  # the fitted batch halves from MAX_BATCH until an epoch has this many
_FLOAT_FIELDS = (
    "lr",
    "momentum",
    "weight_decay",
    "warmup_epochs",
    "label_smoothing",
    "switch_lr",
    "switch_momentum",
)


def fit_batch_size(num_train: int) -> int:
    """The default batch for ``num_train`` training images (see the module docstring).

    The largest power of two from ``MAX_BATCH`` down to ``MIN_BATCH`` that leaves at least
    ``MIN_STEPS_PER_EPOCH`` optimiser steps an epoch.
    """
    batch = MAX_BATCH
    while batch > MIN_BATCH and num_train // batch < MIN_STEPS_PER_EPOCH:
        batch //= 2
    return batch


@dataclass(frozen=True)
class Recipe:
    """How to train: optimiser, schedule and regularisation.

    Contract of a registered recipe (:func:`register_recipe`): ``name`` is its registry name,
    :meth:`check` passes, it survives a JSON round trip (:meth:`to_dict` / :meth:`from_dict`),
    and its schedule (:func:`schedule_at`) gives finite learning rates in [0, peak] at every step.
    """

    name: str = "modern"  # the registry name this recipe came from
    epochs: int = 40  # default number of epochs (--epochs overrides)
    batch_size: int | None = None  # training batch size; None: fitted to the training set
    optimizer: str = "sgd"  # "sgd" or "adamw"
    lr: float = 0.1  # peak learning rate
    momentum: float = 0.9  # SGD momentum (AdamW: beta1)
    nesterov: bool = True  # SGD: nesterov momentum
    weight_decay: float = 5e-4  # applied to conv/linear weights only
    schedule: str = "cosine"  # "constant" or "cosine" (to 0 at the last step)
    warmup_epochs: float = 2.0  # linear warm-up from 0 (at most a fifth of the run)
    label_smoothing: float = 0.1  # cross-entropy label smoothing
    switch_epoch: int = 0  # > 0: from this epoch on use switch_lr / switch_momentum
    switch_lr: float = 0.0  # learning rate after switch_epoch
    switch_momentum: float = 0.0  # momentum after switch_epoch

    def check(self) -> Recipe:
        """Raise ``ConfigError`` on an out-of-range field; returns self."""
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"recipe optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}"
            )
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"recipe schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        for name in ("epochs", "batch_size", "switch_epoch"):
            value = getattr(self, name)
            if not (value is None and name == "batch_size") and type(value) is not int:
                raise ConfigError(f"recipe {name} must be a whole number, got {value!r}")
        if self.epochs < 1 or (self.batch_size is not None and self.batch_size < 1):
            raise ConfigError(
                f"epochs and batch size must be >= 1 ({self.epochs}, {self.batch_size})"
            )
        for name in _FLOAT_FIELDS:  # NaN or infinity would train a NaN model
            value = getattr(self, name)
            if type(value) not in (int, float) or not math.isfinite(value):
                raise ConfigError(f"recipe {name} must be a finite number, got {value!r}")
        if self.lr <= 0:
            raise ConfigError(f"the learning rate must be > 0, got {self.lr!r}; e.g. --lr 0.1")
        if not (0 <= self.momentum < 1 and 0 <= self.switch_momentum < 1):
            raise ConfigError("recipe momentum and switch_momentum must be in [0, 1)")
        if min(self.weight_decay, self.warmup_epochs, self.switch_lr, self.switch_epoch) < 0:
            raise ConfigError("recipe weight_decay, warmup_epochs and switch_* must be >= 0")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(
                f"recipe label_smoothing must be in [0, 1), got {self.label_smoothing!r}"
            )
        return self

    def fit(self, num_train: int) -> Recipe:
        """This recipe with its batch size decided (:func:`fit_batch_size` when it has none)."""
        if self.batch_size is not None:
            return self
        return dataclasses.replace(self, batch_size=fit_batch_size(num_train))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON dictionary."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        """Inverse of :meth:`to_dict`."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown recipe fields {sorted(unknown)}")
        return cls(**data).check()


_PAPER = Recipe(
    name="paper",
    epochs=100,
    lr=1e-3,
    momentum=0.9,
    nesterov=False,
    weight_decay=0.0,
    schedule="constant",
    warmup_epochs=0.0,
    label_smoothing=0.0,
)

_RECIPES: Registry[Recipe] = Registry("recipe")
list_recipes = _RECIPES.names  # sorted names matching a glob pattern


def register_recipe(recipe: Recipe) -> Recipe:
    """Add ``recipe`` under its ``name`` (checked; a duplicate name is a bug)."""
    return _RECIPES.register(recipe.name)(recipe.check())


register_recipe(Recipe())
register_recipe(
    Recipe(name="modern-adamw", optimizer="adamw", lr=2e-3, weight_decay=0.05, nesterov=False)
)
register_recipe(_PAPER)
# Flower-102 in EDGE'23: 300 epochs, lr 5e-4 and momentum 0.95 after the first 100
register_recipe(
    dataclasses.replace(
        _PAPER,
        name="paper-flowers",
        epochs=300,
        switch_epoch=100,
        switch_lr=5e-4,
        switch_momentum=0.95,
    )
)


def create_recipe(name: str, **overrides: Any) -> Recipe:
    """A named recipe, with fields replaced by ``overrides`` (``None`` values are ignored)."""
    base = _RECIPES.get(name)  # ConfigError naming the recipes
    changes = {k: v for k, v in overrides.items() if v is not None}
    try:
        return dataclasses.replace(base, **changes).check()
    except TypeError as exc:
        raise ConfigError(f"recipe {name!r}: {exc}") from None


def schedule_at(
    recipe: Recipe, step: int, steps_per_epoch: int, epochs: int
) -> tuple[float, float]:
    """(learning rate, momentum) for optimiser step ``step`` (0-based) of the whole run."""
    total = steps_per_epoch * epochs
    epoch = step // steps_per_epoch
    if recipe.switch_epoch > 0 and epoch >= recipe.switch_epoch:
        return recipe.switch_lr, recipe.switch_momentum
    warmup = min(round(recipe.warmup_epochs * steps_per_epoch), total // 5)
    if step < warmup:
        return recipe.lr * (step + 1) / warmup, recipe.momentum
    if recipe.schedule == "cosine":
        progress = (step - warmup) / max(1, total - warmup)
        return recipe.lr * 0.5 * (1.0 + math.cos(math.pi * progress)), recipe.momentum
    return recipe.lr, recipe.momentum


def make_optimizer(model: nn.Module, recipe: Recipe, *, fused: bool = False) -> optim.Optimizer:
    """The recipe's optimiser; weight decay on weights of rank >= 2 only (not norms, biases).

    ``fused``: one fused kernel updates every parameter (CUDA: instead of a few kernels per
    parameter tensor); the same update up to rounding.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [
        {"params": decay, "weight_decay": recipe.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if recipe.optimizer == "adamw":
        return optim.AdamW(
            groups, lr=recipe.lr, betas=(recipe.momentum, 0.999), fused=fused or None
        )
    return optim.SGD(
        groups,
        lr=recipe.lr,
        momentum=recipe.momentum,
        nesterov=recipe.nesterov,
        fused=fused or None,
    )


def set_hyperparameters(optimizer: optim.Optimizer, lr: float, momentum: float) -> None:
    """Write the scheduled learning rate and momentum into every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = lr
        if "betas" in group:
            group["betas"] = (momentum, group["betas"][1])
        else:
            group["momentum"] = momentum
