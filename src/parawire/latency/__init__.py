"""Latency prediction (Xu et al., "Latency-Aware Differentiable Neural Architecture Search",
arXiv 2001.06392), for one device and for one inference split over k devices.

* ``store`` / ``collect``: measured latencies in a SQLAlchemy store (SQLite by default), one row
  per (spec, k, placement, profile, threads, machine, torch version); resumable collection.
* ``Predictor`` and its registry: learned models (MLP on the paper's encoding, a message-passing
  GNN, a hybrid on top of the schedule simulation) and baselines, trained on log-latency.
* ``relaxed_latency``: a latency differentiable with respect to relaxed edge weights.

The names load on first use, so that the CLI's ``--help`` does not import torch.
"""

from __future__ import annotations

from parawire._lazy import lazy_names

# Public name -> the module that defines it; imported on first attribute access.
_LAZY = {
    "relaxed_latency": "parawire.latency.differentiable",
    "recommended_placement": "parawire.latency.differentiable",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_names(__name__, _LAZY)
