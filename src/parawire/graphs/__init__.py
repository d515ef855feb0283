"""Graph generators (a registry by name) and the rules that turn their graphs into DAGs."""

from parawire.graphs import classic, dp, reference  # noqa: F401  (fill the registry)
from parawire.graphs._base import GraphGenerator
from parawire.graphs._registry import (
    create_generator,
    generator_class,
    list_generators,
    register_generator,
)
from parawire.graphs.components import clusters
from parawire.graphs.orientation import ORIENTATIONS, dfs_order, orient

__all__ = [
    "ORIENTATIONS",
    "GraphGenerator",
    "clusters",
    "create_generator",
    "dfs_order",
    "generator_class",
    "list_generators",
    "orient",
    "register_generator",
]
