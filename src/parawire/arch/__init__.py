"""The architecture spec and the pipeline that generates one from a graph generator."""

from parawire.arch.generate import STAGINGS, StagingConfig, default_stem_stride, generate
from parawire.arch.spec import (
    AGGREGATIONS,
    MAX_NODES,
    OPS,
    SCHEMA_VERSION,
    ArchSpec,
    Edge,
    Head,
    Node,
    Provenance,
    Stage,
    Stem,
    load_spec,
    validate_spec,
)

__all__ = [
    "AGGREGATIONS",
    "MAX_NODES",
    "OPS",
    "SCHEMA_VERSION",
    "STAGINGS",
    "ArchSpec",
    "Edge",
    "Head",
    "Node",
    "Provenance",
    "Stage",
    "StagingConfig",
    "Stem",
    "default_stem_stride",
    "generate",
    "load_spec",
    "validate_spec",
]
