"""parawire: concurrent, randomly wired CNN architectures for split inference at the edge.

Python API::

    import parawire
    spec = parawire.generate("dp", seed=0, staging="probabilistic")
    spec.save("arch.json")
    model = parawire.build_model(parawire.load_spec("arch.json"))
    result = parawire.analyze(spec, devices=4, profile="rpi4-wifi")  # cs, speedup, placement
"""

from typing import TYPE_CHECKING, Any

from parawire._version import __version__
from parawire.arch import ArchSpec, StagingConfig, generate, load_spec
from parawire.errors import ParawireError
from parawire.graphs import list_generators
from parawire.nn import build_model

if TYPE_CHECKING:
    from parawire.analysis.api import AnalysisResult


def analyze(target: Any, devices: int = 4, **options: Any) -> "AnalysisResult":
    """How well one inference of ``target`` (spec, module or model name) spreads over devices.

    Same as :func:`parawire.analysis.analyze`; imported lazily so that ``import parawire``
    stays light (the partitioners load native libraries).
    """
    from parawire.analysis.api import analyze as _analyze

    return _analyze(target, devices=devices, **options)


__all__ = [
    "ArchSpec",
    "ParawireError",
    "StagingConfig",
    "__version__",
    "analyze",
    "build_model",
    "generate",
    "list_generators",
    "load_spec",
]
