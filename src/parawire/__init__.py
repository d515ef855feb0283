"""parawire: concurrent, randomly wired CNN architectures for split inference at the edge.

Python API::

    import parawire
    spec = parawire.generate("dp", seed=0, staging="probabilistic")
    spec.save("arch.json")
    model = parawire.build_model(parawire.load_spec("arch.json"))
    result = parawire.analyze(spec, devices=4, profile="rpi4-wifi")  # cs, speedup, placement

The public names load on first use (module ``__getattr__``), so ``import parawire`` and
``parawire --help`` import neither torch nor the partitioners' native libraries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parawire._lazy import lazy_names
from parawire._version import __version__
from parawire.errors import ParawireError

if TYPE_CHECKING:
    from parawire.analysis.api import AnalysisResult
    from parawire.arch import ArchSpec, StagingConfig, generate, load_spec
    from parawire.graphs import list_generators
    from parawire.nn import build_model
    from parawire.runtime.deploy import Deployment, deploy

# Public name -> the module that defines it; imported on first attribute access.
_LAZY = {
    "ArchSpec": "parawire.arch",
    "StagingConfig": "parawire.arch",
    "generate": "parawire.arch",
    "load_spec": "parawire.arch",
    "list_generators": "parawire.graphs",
    "build_model": "parawire.nn",
    "Deployment": "parawire.runtime.deploy",
    "deploy": "parawire.runtime.deploy",
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY)


def analyze(target: Any, devices: int = 4, **options: Any) -> AnalysisResult:
    """How well one inference of ``target`` (spec, module or model name) spreads over devices.

    Same as :func:`parawire.analysis.analyze`; imported lazily so that ``import parawire``
    stays light (the partitioners load native libraries).
    """
    from parawire.analysis.api import analyze as _analyze

    return _analyze(target, devices=devices, **options)


__all__ = [
    "ArchSpec",
    "Deployment",
    "ParawireError",
    "StagingConfig",
    "__version__",
    "analyze",
    "build_model",
    "deploy",
    "generate",
    "list_generators",
    "load_spec",
]
