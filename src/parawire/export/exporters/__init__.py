"""ONNX exporters: a registry of :class:`Exporter` (``_base.py`` states the contract).

``create_exporter("torchscript")`` (the default, fast) or ``"dynamo"`` (``torch.export``);
``list_exporters()`` names them; ``register_exporter("name")`` adds one.
"""

from parawire.export.exporters import dynamo, torchscript  # noqa: F401  (fill the registry)
from parawire.export.exporters._base import Exporter, OnnxJob
from parawire.export.exporters._registry import create_exporter, list_exporters, register_exporter

__all__ = ["Exporter", "OnnxJob", "create_exporter", "list_exporters", "register_exporter"]
