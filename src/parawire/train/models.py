"""What is being trained: a spec or a named model (``parawire.nn.model_ref``), checked against
the data set, and the torch device it trains on."""

from __future__ import annotations

import torch

from parawire.arch.spec import load_spec
from parawire.errors import ConfigError
from parawire.nn.model_ref import ModelRef, model_or_file


def model_source(
    name_or_path: str, input_shape: tuple[int, int, int], num_classes: int
) -> ModelRef:
    """A spec JSON path or a model name (as every command takes it: ``cifarnet``,
    ``torchvision:resnet18``), built for the data set's shape and classes (a spec is checked
    against them)."""
    found = model_or_file(name_or_path)
    if isinstance(found, str):
        return ModelRef.named(found, input_shape, num_classes)
    spec = load_spec(found)
    if tuple(spec.input_shape) != tuple(input_shape) or spec.num_classes != num_classes:
        c, h, _ = input_shape
        raise ConfigError(
            f"{found} takes {'x'.join(map(str, spec.input_shape))} inputs and "
            f"{spec.num_classes} classes but the data set has "
            f"{'x'.join(map(str, input_shape))} and {num_classes}; regenerate it with "
            f"`parawire generate ... --in-channels {c} --input-size {h} "
            f"--num-classes {num_classes}`"
        )
    return ModelRef.from_spec(spec)


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
