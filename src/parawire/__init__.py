"""parawire: concurrent, randomly wired CNN architectures for split inference at the edge.

Python API::

    import parawire
    spec = parawire.generate("dp", seed=0, staging="probabilistic")
    spec.save("arch.json")
    model = parawire.build_model(parawire.load_spec("arch.json"))
"""

from parawire._version import __version__
from parawire.arch import ArchSpec, StagingConfig, generate, load_spec
from parawire.errors import ParawireError
from parawire.graphs import list_generators
from parawire.nn import build_model

__all__ = [
    "ArchSpec",
    "ParawireError",
    "StagingConfig",
    "__version__",
    "build_model",
    "generate",
    "list_generators",
    "load_spec",
]
