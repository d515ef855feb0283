"""What is being trained: a spec or a named baseline, recorded so that it can be rebuilt."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from parawire.arch.spec import ArchSpec, load_spec
from parawire.errors import ConfigError, DataError
from parawire.nn import baseline_name, build_model, create_baseline, list_baselines


@dataclass(frozen=True)
class ModelSource:
    """A network to build: an architecture spec, or a baseline by name with its input shape."""

    spec: ArchSpec | None = None  # set for generated architectures
    baseline: str = ""  # set for baselines ("cifarnet", "resnet20", "resnet50")
    input_shape: tuple[int, int, int] = (3, 32, 32)  # (C, H, W) the network takes
    num_classes: int = 10  # classifier outputs

    @classmethod
    def from_spec(cls, spec: ArchSpec) -> ModelSource:
        """Source of a generated architecture."""
        return cls(spec=spec, input_shape=spec.input_shape, num_classes=spec.num_classes)

    @property
    def label(self) -> str:
        """Short human name: the baseline's name or ``<generator>:<digest>``."""
        if self.spec is None:
            return self.baseline
        return f"{self.spec.provenance.generator}:{self.spec.digest()}"

    @property
    def digest(self) -> str:
        """The spec digest, or ``baseline:<name>:<C>x<H>x<W>:<classes>``."""
        if self.spec is not None:
            return self.spec.digest()
        c, h, w = self.input_shape
        return f"baseline:{self.baseline}:{c}x{h}x{w}:{self.num_classes}"

    def build(self) -> nn.Module:
        """A freshly initialised module (initialisation uses torch's global RNG)."""
        if self.spec is not None:
            return build_model(self.spec)
        c, h, _ = self.input_shape
        return create_baseline(
            self.baseline, num_classes=self.num_classes, in_channels=c, image_size=h
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON dictionary."""
        return {
            "spec": self.spec.to_dict() if self.spec is not None else None,
            "baseline": self.baseline,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSource:
        """Inverse of :meth:`to_dict`."""
        try:
            spec = ArchSpec.from_dict(data["spec"]).validate() if data.get("spec") else None
            shape = tuple(int(x) for x in data["input_shape"])
            return cls(spec, str(data.get("baseline", "")), shape, int(data["num_classes"]))  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"malformed model description in checkpoint ({exc})") from exc


def model_source(
    name_or_path: str, input_shape: tuple[int, int, int], num_classes: int
) -> ModelSource:
    """A baseline name (as in every command: ``cifarnet``; ``baseline:cifarnet`` deprecated) or a
    spec JSON path, checked against the data set's shape and classes."""
    baseline = baseline_name(name_or_path)
    if baseline is not None:
        return ModelSource(None, baseline, tuple(input_shape), num_classes)  # type: ignore[arg-type]
    path = Path(name_or_path)
    if not path.exists():
        raise ConfigError(
            f"{name_or_path!r} is neither a spec file nor a baseline "
            f"({', '.join(list_baselines())})"
        )
    spec = load_spec(path)
    if tuple(spec.input_shape) != tuple(input_shape) or spec.num_classes != num_classes:
        c, h, _ = input_shape
        raise ConfigError(
            f"{path} takes {'x'.join(map(str, spec.input_shape))} inputs and "
            f"{spec.num_classes} classes but the data set has "
            f"{'x'.join(map(str, input_shape))} and {num_classes}; regenerate it with "
            f"`parawire generate ... --in-channels {c} --input-size {h} "
            f"--num-classes {num_classes}`"
        )
    return ModelSource.from_spec(spec)


def pick_device(name: str | None = None) -> torch.device:
    """The torch device ``name``, or (none given) CUDA when available, else the CPU.

    ``ConfigError`` for a name that is not ``cpu``, ``cuda``, ``cuda:N`` or ``mps``, or for a
    device this machine does not have.
    """
    if not name:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"device {name!r}: this machine has no CUDA GPU; use --device cpu")
        if device.index is not None and device.index >= count:
            raise ConfigError(
                f"device {name!r}: this machine has {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}"
            )
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError(f"device {name!r}: MPS is not available here; use --device cpu")
    elif device.type != "cpu":
        raise ConfigError(f"device {name!r} is not supported; use cpu, cuda, cuda:N or mps")
    return device
