"""What ``parawire calibrate`` times: operators by kind at typical shapes (``kind_cases``) and
small networks of common layers timed in context (``context_model``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

# Operator shapes timed per work kind: generic sizes spanning CIFAR-sized parawire networks and
# ImageNet-sized CNNs, not copied from any model the predictions are checked on.
# conv: (in channels, out channels, input side, stride, kernel, groups = in channels?)
_CONV_SHAPES: dict[str, tuple[tuple[int, int, int, int, int], ...]] = {
    "conv3x3": (
        (3, 16, 32, 1, 3),
        (3, 48, 160, 2, 3),
        (16, 16, 32, 1, 3),
        (32, 32, 32, 1, 3),
        (48, 48, 40, 1, 3),
        (64, 96, 24, 1, 3),
        (96, 96, 48, 2, 3),
        (128, 160, 20, 1, 3),
        (192, 192, 12, 1, 3),
        (320, 320, 8, 1, 3),
        (24, 48, 16, 1, 3),
    ),
    "conv1x1": (
        (16, 32, 32, 1, 1),
        (32, 16, 32, 1, 1),
        (48, 96, 40, 1, 1),
        (96, 24, 40, 1, 1),
        (80, 320, 32, 1, 1),
        (320, 80, 32, 1, 1),
        (192, 96, 20, 1, 1),
        (384, 160, 16, 1, 1),
        (768, 192, 10, 1, 1),
        (192, 768, 10, 1, 1),
        (1536, 384, 6, 1, 1),
        (128, 256, 1, 1, 1),
        (640, 640, 1, 1, 1),
    ),
    "convkxk": (
        (3, 48, 160, 2, 7),
        (3, 32, 32, 1, 5),
        (16, 32, 24, 1, 5),
        (32, 48, 12, 1, 5),
        (64, 64, 20, 2, 7),
    ),
    "dwconv": (
        (16, 16, 32, 1, 3),
        (32, 32, 40, 1, 3),
        (48, 48, 80, 2, 3),
        (96, 96, 40, 1, 3),
        (160, 160, 20, 1, 3),
        (320, 320, 12, 1, 3),
        (640, 640, 8, 1, 3),
        (120, 120, 40, 2, 3),
        (64, 64, 16, 1, 5),
    ),
}


_LINEAR_SHAPES = ((64, 10), (256, 10), (512, 100), (960, 500), (1536, 1000), (2560, 1000))


# (channels, side) of the feature maps timed for batch norm, pooling and element-wise kinds
_MAP_SHAPES = (
    (16, 32),
    (32, 16),
    (48, 80),
    (96, 40),
    (80, 56),
    (160, 20),
    (320, 24),
    (640, 10),
    (1280, 6),
)


def kind_cases(gen: torch.Generator) -> list[tuple[str, float, Callable[[], object]]]:
    """(kind, amount, operator call) of every micro-benchmark, as ``parawire.analysis.work``
    counts amounts (FLOPs or elements)."""
    cases: list[tuple[str, float, Callable[[], object]]] = []
    for kind, shapes in _CONV_SHAPES.items():
        for cin, cout, side, stride, k in shapes:
            groups = cin if kind == "dwconv" else 1
            conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False).eval()
            x = torch.randn(1, cin, side, side, generator=gen)
            out = (side + 2 * (k // 2) - k) // stride + 1
            flops = 2.0 * cout * out * out * (cin // groups) * k * k
            cases.append((kind, flops, lambda m=conv, x=x: m(x)))
    for fin, fout in _LINEAR_SHAPES:
        lin = nn.Linear(fin, fout).eval()
        x = torch.randn(1, fin, generator=gen)
        cases.append(("linear", 2.0 * fin * fout, lambda m=lin, x=x: m(x)))
    for c, side in _MAP_SHAPES:
        x = torch.randn(1, c, side, side, generator=gen)
        y = torch.randn(1, c, side, side, generator=gen)
        n = float(x.numel())
        bn = nn.BatchNorm2d(c).eval()
        cases.append(("bn", n, lambda m=bn, x=x: m(x)))
        for pool in (nn.MaxPool2d(2), nn.MaxPool2d(3, 2, 1)):
            cases.append(("maxpool", n, lambda m=pool, x=x: m(x)))
        for pool in (nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1)):
            cases.append(("avgpool", n, lambda m=pool, x=x: m(x)))
        relu = nn.ReLU()
        cases.append(("elementwise", n, lambda m=relu, x=x: m(x)))
        cases.append(("elementwise", n, lambda x=x, y=y: x + y))
        cases.append(("elementwise", n, lambda x=x, y=y: x * y))
    x = torch.randn(1, 256, 1, 1, generator=gen)
    for call in (nn.Flatten(), nn.Dropout(0.2).eval(), nn.Sequential(), nn.Identity()):
        cases.append(("call", 0.0, lambda m=call, x=x: m(x)))
    return cases


class _Residual(nn.Module):
    """``x + body(x)``, then ReLU: the residual pattern of the context models."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(x + self.body(x))


def _conv_bn(cin: int, cout: int, k: int, stride: int = 1, depthwise: bool = False) -> list:
    groups = cin if depthwise else 1
    return [
        nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]


def context_model(rng: np.random.Generator) -> tuple[nn.Module, torch.Tensor]:
    """A random small CNN of the operator kinds in ``parawire.analysis.work`` (stem, conv /
    depthwise / residual blocks, pooling, a linear head): operators timed in sequence, with the
    caches, allocations and dispatch of a real network, which single operators in a loop miss."""
    image = side = int(rng.choice([32, 48, 64, 96, 128]))
    c = int(rng.choice([16, 24, 32, 48]))
    k = int(rng.choice([3, 5, 7]))
    stride = 2 if side > 48 else 1
    layers: list[nn.Module] = [*_conv_bn(3, c, k, stride), nn.ReLU()]
    side //= stride
    for _ in range(int(rng.integers(5, 12))):
        block = rng.choice(["conv", "dw", "res", "pool"], p=[0.35, 0.25, 0.25, 0.15])
        if block == "pool" and side >= 8:
            layers.append(nn.MaxPool2d(3, 2, 1) if rng.random() < 0.5 else nn.AvgPool2d(2))
            side //= 2
        elif block == "dw":
            s2 = 2 if side >= 8 and rng.random() < 0.3 else 1
            wide = int(c * rng.choice([2, 4]))
            layers += [*_conv_bn(c, wide, 1), nn.ReLU6()]
            layers += [*_conv_bn(wide, wide, 3, s2, depthwise=True), nn.ReLU6()]
            layers += _conv_bn(wide, c, 1)
            side //= s2
        elif block == "res":
            mid = max(8, c // 2)
            body = nn.Sequential(*_conv_bn(c, mid, 1), nn.ReLU(), *_conv_bn(mid, c, 3))
            layers.append(_Residual(body))
        else:
            cout = int(min(384, max(8, c * rng.choice([1, 2]))))
            layers += [*_conv_bn(c, cout, int(rng.choice([1, 3]))), nn.ReLU()]
            c = cout
    classes = int(rng.choice([10, 100, 1000]))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(c, classes)]
    return nn.Sequential(*layers).eval(), torch.randn(1, 3, image, image)
