"""Concurrency analysis: costs, hypergraph, partitioning, schedule simulation and score.

result = parawire.analysis.analyze(spec, devices=4, profile="rpi4-wifi")
result.cs, result.speedup, result.placement
"""

from parawire.analysis.api import AnalysisResult, analyze, compare, resolve_graph
from parawire.analysis.costs import spec_costs
from parawire.analysis.graph import CostGraph, Vertex
from parawire.analysis.hypergraph import Hypergraph, build_hypergraph
from parawire.analysis.metrics import (
    PlacementMetrics,
    ScoreWeights,
    balance_entropy,
    concurrency_score,
    depth_histogram,
    eta,
    evaluate_placement,
    t1_over_cp,
)
from parawire.analysis.partitioners import (
    EPS_SWEEP,
    Partitioner,
    Placement,
    create_partitioner,
    list_partitioners,
    register_partitioner,
    sweep_eps,
)
from parawire.analysis.profiles import (
    DeviceProfile,
    LinkProfile,
    Profile,
    get_profile,
    list_profiles,
    load_profiles,
    register_profile,
)
from parawire.analysis.simulate import Schedule, simulate, single_device_seconds
from parawire.analysis.trace import from_module, resolve_model

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
    "Vertex",
    "analyze",
    "balance_entropy",
    "build_hypergraph",
    "compare",
    "concurrency_score",
    "create_partitioner",
    "depth_histogram",
    "eta",
    "evaluate_placement",
    "from_module",
    "get_profile",
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
