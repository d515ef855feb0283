"""Contract suite of the ONNX exporters: every registered exporter writes a model that names
its ports as asked, takes any batch size, is written at the opset asked (never below its
minimum) and computes what PyTorch computes (issue 20, item 5; ``export/exporters/_base.py``)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from torch import nn

from parawire.errors import ConfigError
from parawire.export.exporters import Exporter, OnnxJob, create_exporter, list_exporters
from parawire.export.pieces import EXPORTERS, check_export_options, check_onnx, export_module

ort = pytest.importorskip("onnxruntime")


class _TwoPorts(nn.Module):
    """Two inputs (a batched image, a fixed scale), two outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4, 5)

    def forward(self, x: torch.Tensor, scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        maps = torch.relu(self.conv(x)) * scale  # (B, 4, H, W)
        return maps, self.head(maps.mean(dim=(2, 3)))  # (B, 4, H, W), (B, 5)


def test_the_registry_holds_the_built_in_exporters() -> None:
    assert list_exporters() == ["dynamo", "torchscript"] == sorted(EXPORTERS)
    with pytest.raises(ConfigError, match=r"did you mean 'dynamo'\?"):
        create_exporter("dynamic")


@pytest.mark.parametrize("name", list_exporters())
def test_exporter_contract(name: str) -> None:
    exporter = create_exporter(name)
    assert isinstance(exporter, Exporter) and exporter.name == name
    assert 1 <= exporter.min_opset <= exporter.default_opset
    torch.manual_seed(0)
    module = _TwoPorts().eval()
    scale = torch.tensor(0.5)
    buffer = io.BytesIO()
    names = (["x", "scale"], ["maps", "logits"])
    job = OnnxJob(module, (torch.rand(2, 3, 8, 8), scale), names[0], names[1],
                  ["x", "maps", "logits"], exporter.default_opset)  # fmt: skip
    export_module(job, buffer, name)
    check_onnx(buffer.getvalue())
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == names[0]
    assert [o.name for o in session.get_outputs()] == names[1]
    for batch in (1, 3):  # not the traced batch of 2
        x = torch.rand(batch, 3, 8, 8)
        got = session.run(None, {"x": x.numpy(), "scale": scale.numpy()})
        with torch.no_grad():
            want = module(x, scale)
        for g, w in zip(got, want, strict=True):
            assert g.shape == tuple(w.shape)
            np.testing.assert_allclose(g, w.numpy(), atol=1e-4, rtol=1e-4)
    if exporter.min_opset > 1:
        with pytest.raises(ConfigError, match=f"opset {exporter.min_opset} or later"):
            check_export_options("float32", name, exporter.min_opset - 1)
