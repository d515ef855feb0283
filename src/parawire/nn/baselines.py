"""Hand-made baseline networks the research compares against, as plain modules.

* ``cifarnet``: the classic TF-slim CIFAR network (two 5x5 conv-64 + pool + LRN layers, then
  fully connected 384, 192, classes), the CIFAR-10 baseline of EDGE'23.
* ``resnet50``: torchvision's ResNet-50, untrained (no downloads), the Flower-102 baseline.
* ``resnet20``: the CIFAR ResNet of He et al. 2016 (3 stages of 3 basic blocks, 16/32/64).
"""

from __future__ import annotations

import warnings

import torch
import torchvision
from torch import nn

from parawire.errors import ConfigError
from parawire.nn._base import BaselineFactory
from parawire.registry import Registry


class CifarNet(nn.Module):
    """TF-slim ``cifarnet``: conv5x5-64, pool, LRN, conv5x5-64, LRN, pool, fc384, fc192, fc."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, image_size: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 64, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
            nn.LocalResponseNorm(4, alpha=0.001 / 9.0, beta=0.75, k=1.0),
            nn.Conv2d(64, 64, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.LocalResponseNorm(4, alpha=0.001 / 9.0, beta=0.75, k=1.0),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        side = (image_size + 3) // 4
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * side * side, 384),
            nn.ReLU(inplace=True),
            nn.Linear(384, 192),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(192, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, C, H, W)
        return self.classifier(self.features(x))


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 inputs (He et al. 2016, Section 4.2); n=3 is ResNet-20."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, blocks: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, 16, 3, padding=1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(inplace=True),
        ]
        cin = 16
        for i, cout in enumerate((16, 32, 64)):
            for b in range(blocks):
                layers.append(_BasicBlock(cin, cout, 2 if (i > 0 and b == 0) else 1))
                cin = cout
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


_BASELINES: Registry[BaselineFactory] = Registry("baseline")
register_baseline = _BASELINES.register  # decorator: @register_baseline("name") on a factory
list_baselines = _BASELINES.names  # sorted names matching a glob pattern
DEPRECATED_PREFIX = "baseline:"  # the old spelling in analyze: "baseline:cifarnet"


@register_baseline("cifarnet")
def _cifarnet(num_classes: int = 10, in_channels: int = 3, image_size: int = 32) -> nn.Module:
    return CifarNet(num_classes, in_channels, image_size)


@register_baseline("resnet20")
def _resnet20(num_classes: int = 10, in_channels: int = 3, image_size: int = 32) -> nn.Module:
    return CifarResNet(num_classes, in_channels, 3)


@register_baseline("resnet50")
def _resnet50(num_classes: int = 10, in_channels: int = 3, image_size: int = 224) -> nn.Module:
    if in_channels != 3:
        raise ConfigError("resnet50 takes 3-channel images")
    return torchvision.models.resnet50(weights=None, num_classes=num_classes)


def baseline_name(text: str) -> str | None:
    """The registered baseline ``text`` names, or None when it names none.

    One name per baseline in every command (``cifarnet``, ``resnet20``, ``resnet50``); the old
    ``baseline:NAME`` still works, with a ``FutureWarning``.
    """
    if text.startswith(DEPRECATED_PREFIX):
        name = text[len(DEPRECATED_PREFIX) :]
        if name in _BASELINES:
            warnings.warn(
                f"{text!r} is deprecated: baselines have one name in every command; write {name!r}",
                FutureWarning,
                stacklevel=2,
            )
            return name
        return None
    return text if text in _BASELINES else None


def create_baseline(
    name: str, *, num_classes: int = 10, in_channels: int = 3, image_size: int = 32
) -> nn.Module:
    """Instantiate a baseline network by name (untrained); ``ConfigError`` naming the choices."""
    factory = _BASELINES.get(baseline_name(name) or name)
    return factory(num_classes=num_classes, in_channels=in_channels, image_size=image_size)
