"""How the learned predictors train: a validation split by architecture, early stopping, and a
fixed number of torch threads.

``fit`` holds out a seeded share (``val_share``) of the training architectures (every row of a
digest on one side, as ``evaluate.split_by_architecture`` does), trains with AdamW on
mini-batches, scores the held-out architectures after every epoch and keeps the weights of the
best epoch; it stops when ``patience`` epochs have not improved on it, so the number of epochs
is chosen by validation, ``epochs`` being only the most it may run. With fewer than
``MIN_VALIDATION`` architectures there is nothing to hold out and every epoch runs.

Threads: torch's default is one thread per core, and on a shared machine every extra thread
waits for a core (issue 21: gnn at 300 epochs took 32 minutes on the loaded 2-core machine with
the default threads, 93 s for the hybrid with one). ``threads`` (default 1) is set for the
fit and restored after it (``parawire._inference.torch_threads``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from parawire.errors import ConfigError

MIN_VALIDATION = 10  # fewest training architectures for which a validation split is made
FEW_ROWS = 300  # below this many rows, `latency fit` warns that the figures are fragile


@dataclass(frozen=True)
class TrainConfig:
    """What one fit runs."""

    epochs: int = 300  # the most epochs it may run (validation chooses fewer)
    batch: int = 64  # samples per step
    lr: float = 3e-3  # AdamW learning rate (cosine decay over ``epochs``)
    weight_decay: float = 1e-4
    val_share: float = 0.15  # share of the architectures held out for early stopping
    patience: int = 30  # epochs without a better validation loss before it stops
    threads: int = 1  # torch threads during the fit
    seed: int = 0  # the validation split, the weights' initialisation and the batch order

    def check(self) -> None:
        """``ConfigError`` on a value out of range."""
        if self.epochs < 1 or self.batch < 1 or self.patience < 1 or self.threads < 1:
            raise ConfigError("epochs, batch, patience and threads must be >= 1")
        if not 0.0 <= self.val_share < 1.0:
            raise ConfigError(f"val_share must be in [0, 1), got {self.val_share}")


@dataclass(frozen=True)
class TrainResult:
    """What the fit did."""

    epochs_run: int  # epochs trained before it stopped
    best_epoch: int  # the epoch whose weights were kept (1-based)
    val_loss: float  # mean squared error (standardised log-latency) on validation; NaN if none
    val_rows: int  # rows held out for validation (0: none)


def validation_split(digests: Sequence[str], share: float, seed: int) -> np.ndarray:
    """A boolean mask over rows: True for rows of the held-out architectures (all rows of one
    digest on one side); all False when there are fewer than ``MIN_VALIDATION`` of them."""
    unique = sorted(set(digests))
    if share <= 0.0 or len(unique) < MIN_VALIDATION:
        return np.zeros(len(digests), dtype=bool)
    rng = np.random.default_rng([seed, 0x7A1])
    count = max(1, round(share * len(unique)))
    held = {unique[i] for i in rng.permutation(len(unique))[:count]}
    return np.array([d in held for d in digests], dtype=bool)


Loss = Callable[[torch.Tensor], torch.Tensor]  # row indices -> mean loss over them


def train(net: nn.Module, loss_of: Loss, held: np.ndarray, cfg: TrainConfig) -> TrainResult:
    """Train ``net`` on the rows not ``held`` out (``held``: one flag per row), keep the best
    epoch on the held-out ones (module docstring). ``loss_of(idx)`` is the loss of rows ``idx``
    under the current weights."""
    cfg.check()
    train_idx = torch.from_numpy(np.flatnonzero(~held))
    val_idx = torch.from_numpy(np.flatnonzero(held))
    if len(train_idx) == 0:
        raise ConfigError("fitting needs at least one training row outside the validation split")
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * math.ceil(len(train_idx) / cfg.batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps))
    gen = torch.Generator().manual_seed(cfg.seed)
    best, best_epoch, best_state, epoch = math.inf, 0, None, 0
    for epoch in range(1, cfg.epochs + 1):
        net.train()
        order = train_idx[torch.randperm(len(train_idx), generator=gen)]
        for start in range(0, len(order), cfg.batch):
            loss = loss_of(order[start : start + cfg.batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        if len(val_idx) == 0:
            continue
        net.eval()
        with torch.no_grad():
            val = float(loss_of(val_idx))
        if val < best:
            best, best_epoch, best_state = val, epoch, copy.deepcopy(net.state_dict())
        elif epoch - best_epoch >= cfg.patience:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return TrainResult(
        epochs_run=epoch,
        best_epoch=best_epoch or epoch,
        val_loss=best if len(val_idx) else math.nan,
        val_rows=len(val_idx),
    )
