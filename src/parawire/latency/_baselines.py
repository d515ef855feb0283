"""Reference baselines beside the learned predictors (issue 10).

* ``flops``: latency proportional to the network's MACs, one factor per measurement profile
  (fitted in log space). The paper's point: FLOPs are a poor proxy.
* ``simulation``: the schedule simulation of the deployment on the measurement's profile
  (``local-cpu`` for real runs, the emulated profile otherwise), calibrated by one fitted
  factor per profile.
* ``lookup``: nn-Meter's idea, a per-operation look-up table summed along the schedule. The
  table holds the time of each kernel kind (operation, staging, input and output channels,
  spatial side), fitted by least squares on relative error from the training latencies, plus
  per-MAC terms for kernels the table never saw; the deployment's latency is the simulation's
  schedule replayed with the table's vertex times (the sum of them on one device), times one
  fitted factor per profile.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from parawire.analysis.costs import spec_costs
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

if TYPE_CHECKING:
    from parawire.latency.differentiable import RelaxedQuery


class _ProfileScaled(Predictor):
    """A base estimate per sample times one factor per measurement profile (fitted in log)."""

    learned = False

    def __init__(self, seed: int = 0, **config: Any) -> None:
        super().__init__(seed, **config)
        self.log_scale: dict[str, float] = {}

    def estimate(self, samples: Sequence[Sample]) -> np.ndarray:
        """The unscaled estimate of each sample (positive)."""
        raise NotImplementedError

    def fit(self, samples: Sequence[Sample]) -> Predictor:
        latency = measured(samples)
        self.record_training(samples)
        self.fit_extra(samples, latency)
        ratio = np.log(latency) - np.log(self.estimate(samples))
        self.profiles = sorted({s.profile for s in samples})
        self.log_scale = {
            p: float(np.mean([r for r, s in zip(ratio, samples, strict=True) if s.profile == p]))
            for p in self.profiles
        }
        return self

    def fit_extra(self, samples: Sequence[Sample], latency: np.ndarray) -> None:
        """Fit what ``estimate`` needs (nothing by default)."""

    def adapt(self, samples: Sequence[Sample]) -> Predictor:
        """The estimate stays; the new profile gets its own fitted factor."""
        if not self.log_scale:
            raise ConfigError(f"predictor {self.name!r} is not fitted; call fit() first")
        target = target_profile(samples)
        ratio = np.log(measured(samples)) - np.log(self.estimate(samples))
        self.log_scale[target] = float(ratio.mean())
        self.profiles = sorted({*self.profiles, target})
        self.trained = sorted({*self.trained, *(s.digest for s in samples)})
        return self

    def _scale(self, profile: str) -> float:
        if not self.log_scale:
            raise ConfigError(f"predictor {self.name!r} is not fitted; call fit() first")
        self.check_profile(profile)
        return self.log_scale[profile]

    def predict(self, samples: Sequence[Sample]) -> np.ndarray:
        scales = np.array([self._scale(s.profile) for s in samples])
        return self.estimate(samples) * np.exp(scales) if len(samples) else np.zeros(0)

    def relaxed(
        self, spec: ArchSpec, edge_weights: torch.Tensor, query: RelaxedQuery
    ) -> torch.Tensor:
        name = self.check_profile(query.profile)
        on_prior = dataclasses.replace(query, profile=prior_profile(name))
        return math.exp(self._scale(name)) * self.relaxed_estimate(spec, edge_weights, on_prior)

    def relaxed_estimate(
        self, spec: ArchSpec, w: torch.Tensor, query: RelaxedQuery
    ) -> torch.Tensor:
        """The unscaled estimate, differentiable in the edge weights ``w``, of the deployment
        ``query`` (its profile the simulation profile)."""
        from parawire.latency.differentiable import relaxed_simulation

        return relaxed_simulation(spec, w, query, vertex_seconds=self.vertex_seconds(spec))

    def vertex_seconds(self, spec: ArchSpec) -> Mapping[int, float] | None:
        """Per-vertex compute times replacing the profile's (None: the profile's)."""
        return None

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        if not self.log_scale:
            raise ConfigError(f"predictor {self.name!r} is not fitted; call fit() first")
        scales = torch.tensor([self.log_scale[p] for p in self.profiles], dtype=torch.float64)
        return {"log_scale": scales}, {"profiles": self.profiles}

    @classmethod
    def from_state(
        cls, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any], seed: int, **config: Any
    ) -> Predictor:
        model = cls(seed=seed, **config)
        profiles = [str(p) for p in meta.get("profiles", [])]
        scales = tensors.get("log_scale")
        if scales is None or scales.shape != (len(profiles),):
            raise ConfigError(
                f"the weights do not fit a {cls.name!r} predictor of {len(profiles)} profile(s); "
                "refit it with `parawire latency fit`"
            )
        model.profiles = profiles
        model.log_scale = dict(zip(profiles, scales.tolist(), strict=True))
        return model


@register_predictor("flops")
class FlopsPredictor(_ProfileScaled):
    """Latency proportional to MACs (module docstring)."""

    def estimate(self, samples: Sequence[Sample]) -> np.ndarray:
        return np.array([max(1, spec_costs(s.spec).total_macs) for s in samples], dtype=float)

    def relaxed_estimate(
        self, spec: ArchSpec, w: torch.Tensor, query: RelaxedQuery
    ) -> torch.Tensor:
        from parawire.latency.differentiable import edge_projection_macs

        proj = torch.tensor(edge_projection_macs(spec), dtype=w.dtype)
        total = float(spec_costs(spec).total_macs) - float(proj.sum())
        return total + (w * proj).sum()


@register_predictor("simulation")
class SimulationPredictor(_ProfileScaled):
    """The schedule simulation, calibrated by one factor per profile (module docstring)."""

    def estimate(self, samples: Sequence[Sample]) -> np.ndarray:
        from parawire.latency._neural import prior_seconds

        return prior_seconds(samples)


def kernel_key(spec: ArchSpec, node_id: int) -> str:
    """The look-up table's key of one vertex: operation, staging, channels in/out, side (the
    in-edges count enters through the per-edge term, not the key)."""
    n = spec.node_map[node_id]
    side = spec.stem_size[0] // n.scale
    return f"{n.op}|{int(n.stage)}|{n.in_channels}|{n.channels}|{side}"


def _vertex_terms(spec: ArchSpec) -> dict[int, tuple[str, list[float]]]:
    """Vertex -> (kernel key, [projection MACs, in-edges, MACs, 1]) for the table's fit."""
    from parawire.latency.differentiable import edge_projection_macs

    graph = spec_costs(spec)
    proj = edge_projection_macs(spec)
    per_vertex: dict[int, float] = {n.id: 0.0 for n in spec.nodes}
    for e, m in zip(spec.edges, proj, strict=True):
        per_vertex[e.dst] += m
    return {
        n.id: (
            kernel_key(spec, n.id),
            [
                per_vertex[n.id] / 1e6,
                float(len(spec.in_edges[n.id])),
                graph.vertex_map[n.id].macs / 1e6,
                1.0,
            ],
        )
        for n in spec.nodes
    }


@register_predictor("lookup")
class LookupPredictor(_ProfileScaled):
    """nn-Meter's per-kernel look-up table summed along the schedule (module docstring)."""

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {"ridge": 10.0}  # ridge penalty of the table's least-squares fit (relative units)

    def __init__(self, seed: int = 0, **config: Any) -> None:
        super().__init__(seed, **config)
        self.table: dict[str, float] = {}
        self.coef = np.zeros(4)

    def fit_extra(self, samples: Sequence[Sample], latency: np.ndarray) -> None:
        keys = sorted({k for s in samples for k, _ in _vertex_terms(s.spec).values()})
        col = {k: i for i, k in enumerate(keys)}
        a = np.zeros((len(samples), len(keys) + 4))
        for r, s in enumerate(samples):
            for key, extra in _vertex_terms(s.spec).values():
                a[r, col[key]] += 1.0
                a[r, len(keys) :] += extra
        a /= latency[:, None]  # relative error: each row divided by its latency
        ridge = math.sqrt(self.config["ridge"]) * np.eye(a.shape[1])
        lhs = np.vstack([a, ridge])
        rhs = np.concatenate([np.ones(len(samples)), np.zeros(a.shape[1])])
        solution, *_ = np.linalg.lstsq(lhs, rhs, rcond=None)
        self.table = {k: float(solution[col[k]]) for k in keys}
        self.coef = solution[len(keys) :]

    def vertex_seconds(self, spec: ArchSpec) -> dict[int, float]:
        out = {}
        for v, (key, extra) in _vertex_terms(spec).items():
            out[v] = max(1e-7, self.table.get(key, 0.0) + float(np.dot(self.coef, extra)))
        return out

    def estimate(self, samples: Sequence[Sample]) -> np.ndarray:
        from parawire.latency.differentiable import RelaxedQuery

        out = []
        for s in samples:
            used = max(s.placement.values()) + 1
            query = RelaxedQuery(used, s.placement, prior_profile(s.profile), s.wire_dtype)
            with torch.no_grad():
                ones = torch.ones(len(s.spec.edges), dtype=torch.float64)
                t = self.relaxed_estimate(s.spec, ones, query)
            out.append(max(float(t), 1e-9))
        return np.asarray(out)

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors, meta = super().state()
        keys = sorted(self.table)
        tensors["table"] = torch.tensor([self.table[k] for k in keys], dtype=torch.float64)
        tensors["coef"] = torch.tensor(self.coef, dtype=torch.float64)
        return tensors, {**meta, "keys": keys}

    @classmethod
    def from_state(
        cls, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any], seed: int, **config: Any
    ) -> Predictor:
        model = super().from_state(tensors, meta, seed, **config)
        assert isinstance(model, LookupPredictor)
        keys = [str(k) for k in meta.get("keys", [])]
        table, coef = tensors.get("table"), tensors.get("coef")
        if table is None or coef is None or table.shape != (len(keys),) or coef.shape != (4,):
            raise ConfigError(
                "the weights do not fit a 'lookup' predictor (table and keys disagree); refit it "
                "with `parawire latency fit`"
            )
        model.table = dict(zip(keys, table.tolist(), strict=True))
        model.coef = coef.numpy()
        return model
