"""Concurrency analysis: costs, hypergraph, partitioning, schedule simulation and score.

result = parawire.analysis.analyze(spec, devices=4, profile="rpi4-wifi")
result.speedup, result.devices_used, result.placement, result.verdict.text

The names load on first use (module ``__getattr__``), so that importing one light module of
this package (costs, profiles, the deployment options of the CLI) does not import torch, which
tracing (``from_module``) needs.
"""

from __future__ import annotations

from parawire._lazy import lazy_names

# Public name -> the module that defines it; imported on first attribute access.
_LAZY = {
    "AnalysisResult": "parawire.analysis.api",
    "analyze": "parawire.analysis.api",
    "analyze_many": "parawire.analysis.api",
    "compare": "parawire.analysis.api",
    "resolve_graph": "parawire.analysis.api",
    "spec_costs": "parawire.analysis.costs",
    "CostGraph": "parawire.analysis.graph",
    "Vertex": "parawire.analysis.graph",
    "Hypergraph": "parawire.analysis.hypergraph",
    "build_hypergraph": "parawire.analysis.hypergraph",
    "PlacementMetrics": "parawire.analysis.metrics",
    "ScoreWeights": "parawire.analysis.metrics",
    "balance_entropy": "parawire.analysis.metrics",
    "concurrency_score": "parawire.analysis.metrics",
    "depth_histogram": "parawire.analysis.metrics",
    "eta": "parawire.analysis.metrics",
    "evaluate_placement": "parawire.analysis.metrics",
    "t1_over_cp": "parawire.analysis.metrics",
    "EPS_SWEEP": "parawire.analysis.partitioners",
    "Partitioner": "parawire.analysis.partitioners",
    "Placement": "parawire.analysis.partitioners",
    "create_partitioner": "parawire.analysis.partitioners",
    "list_partitioners": "parawire.analysis.partitioners",
    "register_partitioner": "parawire.analysis.partitioners",
    "sweep_eps": "parawire.analysis.partitioners",
    "DeviceProfile": "parawire.analysis.profiles",
    "LinkProfile": "parawire.analysis.profiles",
    "Profile": "parawire.analysis.profiles",
    "create_profile": "parawire.analysis.profiles",
    "list_profiles": "parawire.analysis.profiles",
    "load_profiles": "parawire.analysis.profiles",
    "register_profile": "parawire.analysis.profiles",
    "Schedule": "parawire.analysis.simulate",
    "simulate": "parawire.analysis.simulate",
    "Simulator": "parawire.analysis.simulate",
    "single_device_seconds": "parawire.analysis.simulate",
    "from_module": "parawire.analysis.trace",
    "resolve_model": "parawire.nn.model_ref",
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY)


__all__ = [
    "EPS_SWEEP",
    "AnalysisResult",
    "CostGraph",
    "DeviceProfile",
    "Hypergraph",
    "LinkProfile",
    "Partitioner",
    "Placement",
    "PlacementMetrics",
    "Profile",
    "Schedule",
    "ScoreWeights",
    "Simulator",
    "Vertex",
    "analyze",
    "analyze_many",
    "balance_entropy",
    "build_hypergraph",
    "compare",
    "concurrency_score",
    "create_partitioner",
    "create_profile",
    "depth_histogram",
    "eta",
    "evaluate_placement",
    "from_module",
    "list_partitioners",
    "list_profiles",
    "load_profiles",
    "register_partitioner",
    "register_profile",
    "resolve_graph",
    "resolve_model",
    "simulate",
    "single_device_seconds",
    "spec_costs",
    "sweep_eps",
    "t1_over_cp",
]
