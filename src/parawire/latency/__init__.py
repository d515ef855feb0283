"""Latency prediction (Xu et al., "Latency-Aware Differentiable Neural Architecture Search",
arXiv 2001.06392), for one device and for one inference split over k devices.

* ``store`` / ``collect``: measured latencies in a SQLAlchemy store (SQLite by default), one row
  per (spec, k, placement, profile, threads, machine, torch version); resumable collection.
* ``Predictor`` and its registry: learned models (MLP on the paper's features, a message-passing
  GNN, a hybrid on top of the schedule simulation) and baselines, trained on log-latency.
* ``relaxed_latency``: a latency differentiable with respect to relaxed edge weights, monotone
  in each of them for every learned predictor.
* ``training``: the validation split by architecture and early stopping every fit uses;
  ``Predictor.adapt``: transfer to a new device from a few rows; ``retest``: the test-retest
  agreement of two stores, the ceiling of any predictor on their labels.

The names load on first use, so that the CLI's ``--help`` does not import torch.
"""

from __future__ import annotations

from parawire._lazy import lazy_names

# Public name -> the module that defines it; imported on first attribute access.
_LAZY = {
    "Predictor": "parawire.latency._base",
    "Sample": "parawire.latency._base",
    "create_predictor": "parawire.latency._base",
    "list_predictors": "parawire.latency._base",
    "predictor_class": "parawire.latency._base",
    "register_predictor": "parawire.latency._base",
    "predict_spec": "parawire.latency.api",
    "CollectConfig": "parawire.latency.collect",
    "collect": "parawire.latency.collect",
    "RelaxedQuery": "parawire.latency.differentiable",
    "recommended_placement": "parawire.latency.differentiable",
    "relaxed_latency": "parawire.latency.differentiable",
    "errors": "parawire.latency.accuracy",
    "hold_out_generator": "parawire.latency.evaluate",
    "load_samples": "parawire.latency.evaluate",
    "split_by_architecture": "parawire.latency.evaluate",
    "load_predictor": "parawire.latency.files",
    "save_predictor": "parawire.latency.files",
    "LatencyStore": "parawire.latency.store",
    "retest": "parawire.latency.noise",
    "TrainConfig": "parawire.latency.training",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_names(__name__, _LAZY)
