"""Partitioners: a registry by name, each placing every vertex of a cost graph on a device."""

from parawire.analysis.partitioners import (  # noqa: F401  (fill the registry)
    heft,
    kahypar,
    metis,
    simple,
)
from parawire.analysis.partitioners._base import DEFAULT_EPS, Partitioner, Placement, vertex_work
from parawire.analysis.partitioners._refine import REFINEMENTS, acyclic_refinement
from parawire.analysis.partitioners._registry import (
    create_partitioner,
    list_partitioners,
    partitioner_class,
    register_partitioner,
)
from parawire.analysis.partitioners._sweep import (
    EPS_SWEEP,
    PartitionOption,
    sweep_eps,
)

__all__ = [
    "DEFAULT_EPS",
    "EPS_SWEEP",
    "REFINEMENTS",
    "PartitionOption",
    "Partitioner",
    "Placement",
    "acyclic_refinement",
    "create_partitioner",
    "list_partitioners",
    "partitioner_class",
    "register_partitioner",
    "sweep_eps",
    "vertex_work",
]
