"""The three learned predictors: the paper's MLP, a message-passing GNN and a hybrid.

All three train on standardised log-latency (the hybrid on the log of measured over simulated
latency) with AdamW, full passes over shuffled mini-batches for a fixed number of epochs, seeded.

* ``mlp`` (Xu et al.): the flattened padded adjacency, the flattened per-node features and the
  global features into a multi-layer perceptron.
* ``gnn``: node features embedded, then ``layers`` rounds of message passing in plain PyTorch
  (dense batched adjacency): each node adds what its producers, its consumers and, separately,
  its cross-device neighbours send, weighted by the (relaxed) edge weights; a sum-and-mean
  readout with the global features into a small MLP.
* ``hybrid``: the schedule simulation on the measurement's profile (``local-cpu`` for real
  runs, the emulated profile otherwise) as the prior, and the GNN learning a log-correction:
  ``latency = simulation * exp(gnn(x))``. Its relaxed form multiplies the relaxed simulation by
  the relaxed correction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from parawire.analysis.profiles import Profile
from parawire.arch.spec import ArchSpec
from parawire.errors import ConfigError
from parawire.latency._base import (
    Predictor,
    Sample,
    measured,
    prior_profile,
    register_predictor,
)
from parawire.latency.encode import NODE_FEATURES, Encoded, encode, global_size, sample_of


class MLPNet(nn.Module):
    """Flattened encoding -> hidden layers -> one output (the paper's regressor)."""

    def __init__(self, max_nodes: int, globals_: int, hidden: int, layers: int) -> None:
        super().__init__()
        size = max_nodes * max_nodes + max_nodes * NODE_FEATURES + globals_
        blocks: list[nn.Module] = []
        for _ in range(layers):
            blocks += [nn.Linear(size, hidden), nn.ReLU()]
            size = hidden
        self.body = nn.Sequential(*blocks, nn.Linear(size, 1))

    def forward(self, e: Encoded) -> torch.Tensor:  # -> (B,)
        flat = torch.cat([e.adj.flatten(1), e.x.flatten(1), e.glob], dim=1)
        return self.body(flat).squeeze(1)


class GNNNet(nn.Module):
    """Message passing over producers, consumers and cross-device edges; sum/mean readout."""

    def __init__(self, globals_: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.embed = nn.Linear(NODE_FEATURES, hidden)
        self.rounds = nn.ModuleList(nn.Linear(4 * hidden, hidden) for _ in range(layers))
        self.readout = nn.Sequential(
            nn.Linear(2 * hidden + globals_, hidden), nn.ReLU(), nn.Linear(hidden, 1)
        )

    def forward(self, e: Encoded) -> torch.Tensor:  # -> (B,)
        mask = e.mask.unsqueeze(2)  # (B, N, 1)
        h = torch.relu(self.embed(e.x)) * mask  # (B, N, H)
        a_in = e.adj.transpose(1, 2)  # a_in[b, v, u]: u -> v
        c_both = e.cross + e.cross.transpose(1, 2)
        for layer in self.rounds:
            msgs = [h, a_in @ h, e.adj @ h, c_both @ h]  # self, producers, consumers, cross
            h = (torch.relu(layer(torch.cat(msgs, dim=2))) + h) * mask
        count = e.mask.sum(1, keepdim=True).clamp(min=1.0)
        pooled = torch.cat([h.sum(1) / 16.0, h.sum(1) / count, e.glob], dim=1)
        return self.readout(pooled).squeeze(1)


class NeuralPredictor(Predictor):
    """Shared training, prediction and state of the learned models."""

    uses_prior = False  # the hybrid predicts log(latency / simulation)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {
            "hidden": 128,  # width of every hidden layer
            "layers": 3,  # hidden layers (mlp) or message-passing rounds (gnn, hybrid)
            "epochs": 300,  # passes over the training samples
            "batch": 64,  # samples per step
            "lr": 3e-3,  # AdamW learning rate (cosine decay to 0)
            "weight_decay": 1e-4,
            "max_nodes": 0,  # padded size; 0 = the largest training spec
        }

    def __init__(self, seed: int = 0, **config: Any) -> None:
        super().__init__(seed, **config)
        self.net: nn.Module | None = None
        self.max_nodes = int(self.config["max_nodes"])
        self.target_mean, self.target_std = 0.0, 1.0

    def build(self) -> nn.Module:
        """A fresh network for the current ``max_nodes`` and ``profiles``."""
        raise NotImplementedError

    def _targets(self, samples: Sequence[Sample], latency: np.ndarray) -> np.ndarray:
        log = np.log(latency)
        return log - np.log(prior_seconds(samples)) if self.uses_prior else log

    def fit(self, samples: Sequence[Sample]) -> NeuralPredictor:
        latency = measured(samples)
        self.profiles = sorted({s.profile for s in samples})
        if not self.max_nodes:
            self.max_nodes = max(len(s.spec.nodes) for s in samples)
        target = self._targets(samples, latency)
        self.target_mean = float(target.mean())
        self.target_std = float(target.std()) or 1.0
        y = torch.tensor((target - self.target_mean) / self.target_std, dtype=torch.float32)
        data = encode(samples, self.max_nodes, self.profiles)
        torch.manual_seed(self.seed)
        self.net = self.build()
        cfg = self.config
        opt = torch.optim.AdamW(
            self.net.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"]
        )
        steps = cfg["epochs"] * math.ceil(len(samples) / cfg["batch"])
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps))
        gen = torch.Generator().manual_seed(self.seed)
        self.net.train()
        for _ in range(cfg["epochs"]):
            order = torch.randperm(len(samples), generator=gen)
            for start in range(0, len(samples), cfg["batch"]):
                idx = order[start : start + cfg["batch"]]
                loss = nn.functional.mse_loss(self.net(_take(data, idx)), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
        self.net.eval()
        return self

    def _require_fit(self) -> nn.Module:
        if self.net is None:
            raise ConfigError(f"predictor {self.name!r} is not fitted; call fit() first")
        return self.net

    def predict(self, samples: Sequence[Sample]) -> np.ndarray:
        net = self._require_fit()
        out = []
        with torch.no_grad():
            for start in range(0, len(samples), 256):
                chunk = samples[start : start + 256]
                z = net(encode(chunk, self.max_nodes, self.profiles)).double().numpy()
                log = z * self.target_std + self.target_mean
                if self.uses_prior:
                    log = log + np.log(prior_seconds(chunk))
                out.append(np.exp(log))
        return np.concatenate(out) if out else np.zeros(0)

    def relaxed(
        self,
        spec: ArchSpec,
        edge_weights: torch.Tensor,
        *,
        devices: int,
        placement: Mapping[int, int] | None,
        profile: str | Profile,
        wire_dtype: str,
    ) -> torch.Tensor:
        from parawire.latency.differentiable import recommended_placement, relaxed_simulation

        net = self._require_fit()
        name = self.check_profile(profile)
        prior = prior_profile(name)
        if placement is None:
            placement = recommended_placement(spec, devices, prior, wire_dtype)
        sample = sample_of(spec, devices, placement, name, wire_dtype)
        z = net(encode([sample], self.max_nodes, self.profiles, [edge_weights]))[0]
        log = z * self.target_std + self.target_mean
        if not self.uses_prior:
            return torch.exp(log)
        base = relaxed_simulation(
            spec, edge_weights, devices=devices, placement=placement, profile=prior,
            wire_dtype=wire_dtype,
        )  # fmt: skip
        return base * torch.exp(log)

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        net = self._require_fit()
        tensors = {k: v.detach().clone() for k, v in net.state_dict().items()}
        meta = {
            "max_nodes": self.max_nodes,
            "profiles": self.profiles,
            "target_mean": self.target_mean,
            "target_std": self.target_std,
        }
        return tensors, meta

    @classmethod
    def from_state(
        cls, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any], seed: int, **config: Any
    ) -> NeuralPredictor:
        model = cls(seed=seed, **config)
        try:
            model.max_nodes = int(meta["max_nodes"])
            model.profiles = [str(p) for p in meta["profiles"]]
            model.target_mean = float(meta["target_mean"])
            model.target_std = float(meta["target_std"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"predictor metadata lacks or mistypes {exc}") from None
        net = model.build()
        try:
            net.load_state_dict(dict(tensors))
        except RuntimeError:
            raise ConfigError(
                f"the weights do not fit a {cls.name!r} predictor of this architecture "
                f"(hidden {model.config['hidden']}, layers {model.config['layers']}, "
                f"{model.max_nodes} nodes); refit it with `parawire latency fit`"
            ) from None
        model.net = net.eval()
        return model


def _take(data: Encoded, idx: torch.Tensor) -> Encoded:
    return Encoded(
        x=data.x[idx], adj=data.adj[idx], cross=data.cross[idx], mask=data.mask[idx],
        glob=data.glob[idx],
    )  # fmt: skip


def prior_seconds(samples: Sequence[Sample]) -> np.ndarray:
    """The schedule simulation's makespan of each sample on its prior profile (seconds)."""
    from parawire.analysis.costs import spec_costs
    from parawire.analysis.profiles import get_profile
    from parawire.analysis.simulate import simulate

    out = []
    for s in samples:
        graph = spec_costs(s.spec, wire_dtype=s.wire_dtype)
        prof = get_profile(prior_profile(s.profile))
        placement = {int(v): int(d) for v, d in s.placement.items()}
        out.append(simulate(graph, placement, prof, max(placement.values()) + 1).makespan_s)
    return np.asarray(out, dtype=np.float64)


@register_predictor("mlp")
class MLPPredictor(NeuralPredictor):
    """The paper's encoding into an MLP (module docstring)."""

    def build(self) -> nn.Module:
        cfg = self.config
        return MLPNet(self.max_nodes, global_size(self.profiles), cfg["hidden"], cfg["layers"])


@register_predictor("gnn")
class GNNPredictor(NeuralPredictor):
    """A message-passing graph network on the same node features (module docstring)."""

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {**super().defaults(), "hidden": 64}

    def build(self) -> nn.Module:
        cfg = self.config
        return GNNNet(global_size(self.profiles), cfg["hidden"], cfg["layers"])


@register_predictor("hybrid")
class HybridPredictor(GNNPredictor):
    """The schedule simulation as the prior, the GNN as a learned log-correction."""

    uses_prior = True
