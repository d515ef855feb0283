"""Spec -> PyTorch modules, and the hand-made baselines."""

from parawire.nn.aggregations import create_aggregation, list_aggregations, register_aggregation
from parawire.nn.baselines import (
    CifarNet,
    CifarResNet,
    baseline_name,
    create_baseline,
    list_baselines,
    register_baseline,
)
from parawire.nn.blocks import VertexBlock
from parawire.nn.model import ArchNet, build_head, build_model, build_vertex, count_parameters
from parawire.nn.model_ref import ModelRef, model_name, model_or_file

__all__ = [
    "ArchNet",
    "CifarNet",
    "CifarResNet",
    "ModelRef",
    "VertexBlock",
    "baseline_name",
    "build_head",
    "build_model",
    "build_vertex",
    "count_parameters",
    "create_aggregation",
    "create_baseline",
    "list_aggregations",
    "list_baselines",
    "model_name",
    "model_or_file",
    "register_aggregation",
    "register_baseline",
]
