"""The training and evaluation losses: one module, checked against torch's cross-entropy."""

from __future__ import annotations

import torch
from torch import nn

from parawire.train.steps import ModelLoss, Tally


def test_training_mean_and_evaluation_sum_against_torch() -> None:
    g = torch.Generator().manual_seed(0)
    model = nn.Linear(5, 3).requires_grad_(False)
    x, y = torch.randn(8, 5, generator=g), torch.randint(0, 3, (8,), generator=g)
    logits = model(x)
    cpu = torch.device("cpu")
    loss, correct = ModelLoss(model, cpu, label_smoothing=0.1)(x, y)
    assert torch.allclose(loss, nn.functional.cross_entropy(logits, y, label_smoothing=0.1))
    assert int(correct) == int((logits.argmax(1) == y).sum())
    total, _ = ModelLoss(model, cpu, reduction="sum")(x, y)
    assert torch.allclose(total, nn.functional.cross_entropy(logits, y, reduction="sum"))
    tally = Tally(cpu)  # evaluation sums batches of any size, then divides once
    for part in (slice(0, 3), slice(3, 8)):
        tally.add(*ModelLoss(model, cpu, reduction="sum")(x[part], y[part]), len(y[part]))
    assert abs(tally.read()[0] - float(nn.functional.cross_entropy(logits, y))) < 1e-6
