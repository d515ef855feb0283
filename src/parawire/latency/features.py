"""The learned predictors' input features: the paper's architecture representation, extended
to k devices: a padded adjacency matrix plus per-node features, and a few global features.

Per node (in spec node order, padded with zero rows to ``max_nodes``: a fixed size for the MLP,
the batch's largest spec for the message-passing models, which take any size): log MACs, log output
channels, log spatial side, operation (one-hot over ``OPS``), staging flag, log bytes it sends
on the wire, pooled-sink flag, device (one-hot over ``MAX_DEVICES``) and whether any consumer
sits on another device. Global: k, devices used, wire dtype (one-hot), merge mode, and the
measurement profile (one-hot over the profiles the model was fitted on). The adjacency marks
each edge with 1 (the structure, which the relaxation never changes), ``weight`` holds each
edge's weight (1 for a plain spec; the relaxed edge weights for a differentiable latency: only
the models' monotone edge term reads it), and a third matrix marks the edges that cross devices.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from parawire.analysis.costs import WIRE_DTYPES, spec_costs
from parawire.arch.spec import OPS, ArchSpec
from parawire.errors import ConfigError
from parawire.latency._base import Sample

MAX_DEVICES = 8  # devices the one-hot device feature distinguishes (more: ConfigError)
NODE_FEATURES = 7 + len(OPS) + MAX_DEVICES


@dataclass
class Features:
    """The features of a batch of samples (B samples, N = max_nodes)."""

    x: torch.Tensor  # (B, N, NODE_FEATURES)
    adj: torch.Tensor  # (B, N, N): adj[b, u, v] = 1 where edge u -> v exists
    weight: torch.Tensor  # (B, N, N): weight of edge u -> v (relaxed; 1 for a plain spec)
    cross: torch.Tensor  # (B, N, N): 1 where edge u -> v crosses devices
    mask: torch.Tensor  # (B, N): 1 for real nodes
    glob: torch.Tensor  # (B, global_features)


def global_size(profiles: Sequence[str]) -> int:
    """Number of global features for a model fitted on ``profiles``."""
    return 3 + len(WIRE_DTYPES) + len(profiles)


def _node_rows(sample: Sample) -> list[list[float]]:
    spec = sample.spec
    graph = spec_costs(spec, wire_dtype=sample.wire_dtype)
    h, _ = spec.stem_size
    rows = []
    for n in spec.nodes:
        v = graph.vertex_map[n.id]
        device = int(sample.placement[n.id])
        crosses = any(sample.placement[w] != device for w in spec.successors[n.id])
        op = [1.0 if n.op == o else 0.0 for o in OPS]
        dev = [1.0 if device == d else 0.0 for d in range(MAX_DEVICES)]
        rows.append(
            [
                math.log1p(v.macs) / 20.0,
                math.log2(n.channels) / 10.0,
                math.log2(max(1, h // n.scale)) / 6.0,
                1.0 if n.stage else 0.0,
                math.log1p(v.out_bytes) / 20.0,
                1.0 if n.id in spec.pooled_vertices else 0.0,
                1.0 if crosses else 0.0,
                *op,
                *dev,
            ]
        )
    return rows


def too_large(vertices: int, max_nodes: int, model: str) -> ConfigError:
    """The error for a spec larger than the padded features hold."""
    return ConfigError(
        f"the spec has {vertices} vertices, more than the {max_nodes} the {model} predictor's "
        "padded input holds (its largest training spec); use a gnn or hybrid predictor, "
        "which take any size, or refit the mlp on larger architectures"
    )


def featurize(
    samples: Sequence[Sample],
    max_nodes: int | None,
    profiles: Sequence[str],
    edge_weights: Sequence[torch.Tensor | None] | None = None,
) -> Features:
    """The features of ``samples`` (see the module docstring), padded to ``max_nodes``
    vertices (None: the largest of the batch); ``edge_weights[i]`` (one weight per spec edge,
    or None for 1s) fills sample i's ``weight`` matrix, differentiably."""
    if max_nodes is None:
        max_nodes = max((len(s.spec.nodes) for s in samples), default=1)
    b = len(samples)
    x = torch.zeros(b, max_nodes, NODE_FEATURES)
    adj = torch.zeros(b, max_nodes, max_nodes)
    weights_out: list[torch.Tensor] = []
    cross = torch.zeros(b, max_nodes, max_nodes)
    mask = torch.zeros(b, max_nodes)
    glob = torch.zeros(b, global_size(profiles))
    for i, s in enumerate(samples):
        spec = s.spec
        if len(spec.nodes) > max_nodes:
            raise too_large(len(spec.nodes), max_nodes, "mlp")
        used = max(s.placement.values()) + 1
        if used > MAX_DEVICES or s.devices > MAX_DEVICES:
            raise ConfigError(f"the predictors' features distinguish at most {MAX_DEVICES} devices")
        if s.profile not in profiles:
            raise ConfigError(
                f"the predictor was fitted on measurements of {', '.join(profiles)}, not "
                f"{s.profile!r}; pass one of those as the profile"
            )
        pos = {n.id: j for j, n in enumerate(spec.nodes)}
        rows = torch.tensor(_node_rows(s))
        x[i, : len(rows)] = rows
        mask[i, : len(rows)] = 1.0
        src = torch.tensor([pos[e.src] for e in spec.edges], dtype=torch.long)
        dst = torch.tensor([pos[e.dst] for e in spec.edges], dtype=torch.long)
        w = edge_weights[i] if edge_weights is not None else None
        weights = w.float() if w is not None else torch.ones(len(spec.edges))
        a = torch.zeros(max_nodes, max_nodes, dtype=weights.dtype)
        weights_out.append(a.index_put((src, dst), weights))
        adj[i, src, dst] = 1.0
        crossing = torch.tensor(
            [float(s.placement[e.src] != s.placement[e.dst]) for e in spec.edges]
        )
        cross[i, src, dst] = crossing
        wire = [1.0 if s.wire_dtype == d else 0.0 for d in WIRE_DTYPES]
        prof = [1.0 if s.profile == p else 0.0 for p in profiles]
        glob[i] = torch.tensor(
            [
                s.devices / MAX_DEVICES,
                used / MAX_DEVICES,
                float(spec.merge == "pooled"),
                *wire,
                *prof,
            ]
        )
    weight = torch.stack(weights_out) if weights_out else adj.clone()
    return Features(x=x, adj=adj, weight=weight, cross=cross, mask=mask, glob=glob)


def sample_of(
    spec: ArchSpec,
    devices: int,
    placement: Mapping[int, int],
    profile: str,
    wire_dtype: str,
) -> Sample:
    """A :class:`Sample` without a latency (what ``relaxed`` and ``predict`` featurize)."""
    return Sample(spec, devices, dict(placement), wire_dtype, profile, None, "")
