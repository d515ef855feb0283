"""The three learned predictors: the paper's MLP, a message-passing GNN and a hybrid.

All three train on standardised log-latency (the hybrid on the log of measured over simulated
latency) with AdamW on shuffled mini-batches, seeded, stopping early on a validation split by
architecture (``parawire.latency.training``). Edge weights enter each model only through a
monotone term (:class:`MonotoneCost`: a positive cost per vertex and per weighted edge), so
the relaxed latency is non-decreasing in every edge weight with a positive derivative on each.

* ``mlp`` (Xu et al.): the flattened padded adjacency, the flattened per-node features and the
  global features into a multi-layer perceptron.
* ``gnn``: node features embedded, then ``layers`` rounds of message passing in plain PyTorch
  (dense batched adjacency, padded to each batch's largest spec): each node adds what its
  producers, its consumers and, separately, its cross-device neighbours send; a mean readout
  with the global features into a small MLP, plus the log of the summed monotone cost (what
  makes the prediction grow with size). No weight depends on the vertex count, so it predicts
  specs of any size.
* ``hybrid``: the schedule simulation on the measurement's profile (``local-cpu`` for real
  runs, the emulated profile otherwise) as the prior, and the GNN learning a log-correction:
  ``latency = simulation * exp(gnn(x))``. Its relaxed form multiplies the relaxed simulation by
  the relaxed correction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from parawire._inference import torch_threads
from parawire.arch.spec import ArchSpec
from parawire.errors import ConfigError
from parawire.latency._base import (
    Predictor,
    Sample,
    measured,
    prior_profile,
    register_predictor,
    target_profile,
)
from parawire.latency.accuracy import errors
from parawire.latency.features import NODE_FEATURES, Features, featurize, global_size, sample_of
from parawire.latency.training import TrainConfig, train, validation_split

if TYPE_CHECKING:
    from parawire.latency.differentiable import RelaxedQuery


class MonotoneCost(nn.Module):
    """The log of a positive cost: a softplus per vertex plus, per edge ``u -> v``, its weight
    times a softplus of its endpoints. Non-decreasing in every edge weight, with a positive
    derivative on every edge (issue 21: a gradient a search can use).

    ``intensive`` divides by the vertex and edge count (the structure's, not the weights'):
    a per-element mean for the hybrid's correction, which should not grow with size.
    """

    def __init__(self, width: int, intensive: bool) -> None:
        super().__init__()
        self.node = nn.Linear(width, 1)
        self.src = nn.Linear(width, 1)
        self.dst = nn.Linear(width, 1, bias=False)
        self.intensive = intensive

    def forward(self, h: torch.Tensor, e: Features) -> torch.Tensor:  # h: (B, N, W) -> (B,)
        node = (nn.functional.softplus(self.node(h)).squeeze(2) * e.mask).sum(1)
        pair = nn.functional.softplus(self.src(h) + self.dst(h).transpose(1, 2))  # (B, N, N)
        total = node + (pair * e.weight).sum((1, 2))
        if self.intensive:
            total = total / (e.mask.sum(1) + e.adj.sum((1, 2))).clamp(min=1.0)
        return torch.log(total + 1e-6)


class MLPNet(nn.Module):
    """Flattened features -> hidden layers -> one output (the paper's regressor), plus the
    monotone edge term on the raw node features (the only place edge weights enter)."""

    def __init__(self, max_nodes: int, globals_: int, hidden: int, layers: int) -> None:
        super().__init__()
        size = max_nodes * max_nodes + max_nodes * NODE_FEATURES + globals_
        blocks: list[nn.Module] = []
        for _ in range(layers):
            blocks += [nn.Linear(size, hidden), nn.ReLU()]
            size = hidden
        self.body = nn.Sequential(*blocks, nn.Linear(size, 1))
        self.cost = MonotoneCost(NODE_FEATURES, intensive=False)

    def heads(self) -> list[nn.Parameter]:
        """What ``adapt`` fine-tunes: the output layer and the monotone cost."""
        return [*self.body[-1].parameters(), *self.cost.parameters()]

    def forward(self, e: Features) -> torch.Tensor:  # -> (B,)
        flat = torch.cat([e.adj.flatten(1), e.x.flatten(1), e.glob], dim=1)
        return self.body(flat).squeeze(1) + self.cost(e.x, e)


class GNNNet(nn.Module):
    """Message passing over producers, consumers and cross-device edges (the structure); a
    mean readout with the globals, plus the monotone cost of vertices and weighted edges.
    No parameter depends on the vertex count: it predicts specs of any size."""

    def __init__(self, globals_: int, hidden: int, layers: int, intensive: bool) -> None:
        super().__init__()
        self.embed = nn.Linear(NODE_FEATURES, hidden)
        self.rounds = nn.ModuleList(nn.Linear(4 * hidden, hidden) for _ in range(layers))
        self.readout = nn.Sequential(
            nn.Linear(hidden + globals_, hidden), nn.ReLU(), nn.Linear(hidden, 1)
        )
        self.cost = MonotoneCost(hidden, intensive)

    def heads(self) -> list[nn.Parameter]:
        """What ``adapt`` fine-tunes: the readout and the monotone cost (the message passing,
        what the graph is, stays as the source device taught it)."""
        return [*self.readout.parameters(), *self.cost.parameters()]

    def forward(self, e: Features) -> torch.Tensor:  # -> (B,)
        mask = e.mask.unsqueeze(2)  # (B, N, 1)
        h = torch.relu(self.embed(e.x)) * mask  # (B, N, H)
        a_in = e.adj.transpose(1, 2)  # a_in[b, v, u]: u -> v
        c_both = e.cross + e.cross.transpose(1, 2)
        for layer in self.rounds:
            msgs = [h, a_in @ h, e.adj @ h, c_both @ h]  # self, producers, consumers, cross
            h = (torch.relu(layer(torch.cat(msgs, dim=2))) + h) * mask
        count = e.mask.sum(1, keepdim=True).clamp(min=1.0)
        pooled = torch.cat([h.sum(1) / count, e.glob], dim=1)
        return self.readout(pooled).squeeze(1) + self.cost(h, e)


class NeuralPredictor(Predictor):
    """Shared training, prediction and state of the learned models."""

    uses_prior = False  # the hybrid predicts log(latency / simulation)
    padded = False  # the MLP's input has a fixed size, set at fit time

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {
            "hidden": 128,  # width of every hidden layer
            "layers": 3,  # hidden layers (mlp) or message-passing rounds (gnn, hybrid)
            "epochs": 300,  # the most passes over the training rows (validation stops sooner)
            "batch": 64,  # samples per step
            "lr": 3e-3,  # AdamW learning rate (cosine decay to 0)
            "weight_decay": 1e-4,
            "max_nodes": 0,  # mlp: padded size; 0 = the largest training spec
            "val_share": 0.15,  # architectures held out for early stopping (training.py)
            "patience": 30,  # epochs without a better validation loss before stopping
            "threads": 1,  # torch threads while fitting (1: the machine may be shared)
            "adapt_epochs": 150,  # adapt: the most fine-tuning epochs on the target rows
        }

    def __init__(self, seed: int = 0, **config: Any) -> None:
        super().__init__(seed, **config)
        self.net: nn.Module | None = None
        self.max_nodes = int(self.config["max_nodes"])
        self.target_mean, self.target_std = 0.0, 1.0
        self.fit_result: dict[str, Any] = {}  # what the last fit did (TrainResult)

    def build(self) -> nn.Module:
        """A fresh network for the current ``max_nodes`` and ``profiles``."""
        raise NotImplementedError

    def train_config(self, **override: Any) -> TrainConfig:
        """The training options of this predictor's config (``override`` replaces some)."""
        names = ("epochs", "batch", "lr", "weight_decay", "val_share", "patience", "threads")
        options = {n: self.config[n] for n in names} | override
        return TrainConfig(**options, seed=self.seed)

    @property
    def size_limit(self) -> int | None:
        """The most vertices a spec may have (the MLP's padded size); None: any size."""
        return self.max_nodes if self.padded else None

    def _featurize(self, samples: Sequence[Sample], weights: Any = None) -> Features:
        return featurize(samples, self.size_limit, self.profiles, weights)

    def _targets(self, samples: Sequence[Sample], latency: np.ndarray) -> np.ndarray:
        log = np.log(latency)
        return log - np.log(prior_seconds(samples)) if self.uses_prior else log

    def fit(self, samples: Sequence[Sample]) -> NeuralPredictor:
        latency = measured(samples)
        self.profiles = sorted({s.profile for s in samples})
        self.record_training(samples)
        if self.padded and not self.max_nodes:
            self.max_nodes = max(len(s.spec.nodes) for s in samples)
        target = self._targets(samples, latency)
        self.target_mean = float(target.mean())
        self.target_std = float(target.std()) or 1.0
        y = torch.tensor((target - self.target_mean) / self.target_std, dtype=torch.float32)
        cfg = self.train_config()
        with torch_threads(cfg.threads):
            data = self._featurize(samples)
            torch.manual_seed(self.seed)
            net = self.net = self.build()
            held = validation_split([s.digest for s in samples], cfg.val_share, self.seed)

            def loss_of(idx: torch.Tensor) -> torch.Tensor:
                return nn.functional.mse_loss(net(_take(data, idx)), y[idx])

            result = train(net, loss_of, held, cfg)
        self.fit_result = dataclasses.asdict(result)
        if held.any():
            rows = [s for s, h in zip(samples, held, strict=True) if h]
            scored = errors(self.predict(rows), latency[held])
            self.fit_result |= {"val_mape": scored.mape, "val_within10": scored.within10,
                                "val_spearman": scored.spearman}  # fmt: skip
        return self

    def adapt(self, samples: Sequence[Sample]) -> NeuralPredictor:
        """Transfer to the samples' profile: it takes the one-hot slot of the profile the model
        was fitted on, the log-offset is refitted (what a per-device factor does), then the
        heads (``net.heads()``) are fine-tuned on the target rows with early stopping."""
        net = self._require_fit()
        target = target_profile(samples)
        if target not in self.profiles:
            if len(self.profiles) != 1:
                raise ConfigError(
                    f"adapting to {target!r} needs a predictor fitted on one measurement profile"
                    f", not {', '.join(self.profiles)}; refit it with --measured-on"
                )
            self.profiles = [target]
        target_log = self._targets(samples, measured(samples))
        data = self._featurize(samples)
        with torch.no_grad():
            z = net(data).double().numpy()
        self.target_mean += self.target_std * float(
            np.mean((target_log - self.target_mean) / self.target_std - z)
        )
        y = torch.tensor((target_log - self.target_mean) / self.target_std, dtype=torch.float32)
        cfg = self.train_config(epochs=self.config["adapt_epochs"], batch=16)
        heads = {id(p) for p in net.heads()}
        frozen = [p for p in net.parameters() if id(p) not in heads]
        held = validation_split([s.digest for s in samples], cfg.val_share, self.seed)
        with torch_threads(cfg.threads):
            for p in frozen:
                p.requires_grad_(False)
            try:
                result = train(
                    net, lambda idx: nn.functional.mse_loss(net(_take(data, idx)), y[idx]),
                    held, cfg,
                )  # fmt: skip
            finally:
                for p in frozen:
                    p.requires_grad_(True)
        adapted = {"profile": target, "rows": len(samples), **dataclasses.asdict(result)}
        self.fit_result["adapted"] = adapted
        self.trained = sorted({*self.trained, *(s.digest for s in samples)})
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
                z = net(self._featurize(chunk)).double().numpy()
                log = z * self.target_std + self.target_mean
                if self.uses_prior:
                    log = log + np.log(prior_seconds(chunk))
                out.append(np.exp(log))
        return np.concatenate(out) if out else np.zeros(0)

    def relaxed(
        self, spec: ArchSpec, edge_weights: torch.Tensor, query: RelaxedQuery
    ) -> torch.Tensor:
        """The weights enter only through the monotone edge term (:class:`MonotoneCost`), and
        the hybrid's relaxed simulation is non-decreasing in them too: the relaxed latency is
        monotone non-decreasing in every edge weight, with a positive derivative on each."""
        from parawire.latency.differentiable import recommended_placement, relaxed_simulation

        net = self._require_fit()
        name = self.check_profile(query.profile)
        prior = prior_profile(name)
        placement = query.placement
        if placement is None:
            placement = recommended_placement(spec, query.devices, prior, query.wire_dtype)
        sample = sample_of(spec, query.devices, placement, name, query.wire_dtype)
        z = net(self._featurize([sample], [edge_weights]))[0]
        log = z * self.target_std + self.target_mean
        if not self.uses_prior:
            return torch.exp(log)
        on_prior = dataclasses.replace(query, placement=placement, profile=prior)
        return relaxed_simulation(spec, edge_weights, on_prior) * torch.exp(log)

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        net = self._require_fit()
        tensors = {k: v.detach().clone() for k, v in net.state_dict().items()}
        meta = {
            "max_nodes": self.max_nodes,
            "profiles": self.profiles,
            "target_mean": self.target_mean,
            "target_std": self.target_std,
            "fit": self.fit_result,
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
            model.fit_result = dict(meta.get("fit", {}))
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


def _take(data: Features, idx: torch.Tensor) -> Features:
    return Features(
        x=data.x[idx], adj=data.adj[idx], weight=data.weight[idx], cross=data.cross[idx],
        mask=data.mask[idx], glob=data.glob[idx],
    )  # fmt: skip


def prior_seconds(samples: Sequence[Sample]) -> np.ndarray:
    """The schedule simulation's makespan of each sample on its prior profile (seconds)."""
    from parawire.analysis.costs import spec_costs
    from parawire.analysis.profiles import create_profile
    from parawire.analysis.simulate import simulate

    out = []
    for s in samples:
        graph = spec_costs(s.spec, wire_dtype=s.wire_dtype)
        prof = create_profile(prior_profile(s.profile))
        placement = {int(v): int(d) for v, d in s.placement.items()}
        out.append(simulate(graph, placement, prof, max(placement.values()) + 1).makespan_s)
    return np.asarray(out, dtype=np.float64)


@register_predictor("mlp")
class MLPPredictor(NeuralPredictor):
    """The paper's features into an MLP (module docstring): padded to the largest training
    spec, so it refuses larger ones (``size_limit``)."""

    padded = True

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
        return GNNNet(global_size(self.profiles), cfg["hidden"], cfg["layers"], self.uses_prior)


@register_predictor("hybrid")
class HybridPredictor(GNNPredictor):
    """The schedule simulation as the prior, the GNN as a learned log-correction."""

    uses_prior = True
