"""The architecture spec and the pipeline that generates one from a graph generator."""

from parawire.arch.generate import STAGINGS, StagingConfig, default_stem_stride, generate
from parawire.arch.spec import (
    AGGREGATIONS,
    MAX_EDGES,
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
from parawire.arch.staging import (
    StagingMode,
    create_staging,
    list_stagings,
    register_staging,
)

__all__ = [
    "AGGREGATIONS",
    "MAX_EDGES",
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
    "StagingMode",
    "Stem",
    "create_staging",
    "default_stem_stride",
    "generate",
    "list_stagings",
    "load_spec",
    "register_staging",
    "validate_spec",
]
