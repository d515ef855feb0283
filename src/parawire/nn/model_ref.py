"""Named models: what every command takes as a network, and the one decision "file or name".

A network on the command line (``analyze``, ``plan``, ``run``, ``export``, ``train``, ``eval``)
or in the library is either a generated architecture, given as its spec JSON file, or a *named
model*, built alike on every rank and in every stage:

* a baseline registered in ``parawire.nn.baselines`` (``cifarnet``, ``resnet20``,
  ``resnet50``; the old ``baseline:NAME`` still works, with a ``FutureWarning``);
* ``torchvision:NAME``, any torchvision classification model, untrained.

:func:`model_or_file` is the one place that decides which of the two a word is; a word that is
neither gets one error naming the accepted forms and the closest name ("did you mean").
:class:`ModelRef` describes the network with the input shape and classes it is built for::

    parawire analyze torchvision:resnet18 --devices 4
    parawire train resnet20 --dataset cifar10 --data data/cifar10 --out runs/r20

    from parawire.nn.model_ref import ModelRef
    net = ModelRef.named("cifarnet").build()  # (B, 3, 32, 32) -> (B, 10)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from parawire.arch.spec import ArchSpec
from parawire.errors import ConfigError, DataError, SpecError
from parawire.nn.baselines import baseline_name, create_baseline, list_baselines
from parawire.nn.model import build_model
from parawire.registry import closest, did_you_mean

TORCHVISION_PREFIX = "torchvision:"  # a torchvision classification model: "torchvision:resnet18"
TORCHVISION_INPUT = 224  # image side for torchvision models (299 for inception_v3)
TORCHVISION_CLASSES = 1000  # torchvision's default classifier (ImageNet)
BASELINE_INPUT = 32  # image side for parawire's CIFAR baselines
BASELINE_CLASSES = 10  # classes of a baseline unless a data set says otherwise
MODEL_FORMS = "torchvision:NAME (e.g. torchvision:resnet50) or a baseline (e.g. cifarnet)"
MAX_MODEL_NAME = 200  # characters of a model name in plan.json
MAX_SIDE = 512  # pixels of an image side (cifarnet's first linear layer grows with its square)
MAX_CLASSES = 1_000_000  # classifier outputs of a named model


@dataclass(frozen=True)
class ModelRef:
    """A network every stage builds alike: a named model (``cifarnet``,
    ``torchvision:resnet18``) or a generated spec, for images of ``input_shape`` and
    ``num_classes`` classes (as it was trained, if it was)."""

    name: str  # "cifarnet", "torchvision:resnet18"; "" for a generated spec
    input_shape: tuple[int, int, int]  # (C, H, W) the network takes
    num_classes: int  # classifier outputs
    spec: ArchSpec | None = None  # the generated architecture (then ``name`` is "")

    @classmethod
    def from_spec(cls, spec: ArchSpec) -> ModelRef:
        """The generated architecture ``spec``."""
        return cls("", tuple(spec.input_shape), spec.num_classes, spec)  # type: ignore[arg-type]

    @classmethod
    def named(
        cls,
        name: str,
        input_shape: Sequence[int] | None = None,
        num_classes: int | None = None,
    ) -> ModelRef:
        """The model ``name`` (a baseline or ``torchvision:NAME``), by default for the images
        ``analyze`` traces it with: 3x32x32 and 10 classes for baselines, torchvision's input
        side and 1000 classes for torchvision models. ``ConfigError`` for an unknown name."""
        canonical = model_name(name)
        if canonical is None:
            raise unknown_network(name)
        if canonical.startswith(TORCHVISION_PREFIX):
            tv_name = _torchvision_name(canonical)
            side = 299 if tv_name == "inception_v3" else TORCHVISION_INPUT
            shape, classes = (3, side, side), TORCHVISION_CLASSES
        else:
            shape, classes = (3, BASELINE_INPUT, BASELINE_INPUT), BASELINE_CLASSES
        shape = tuple(input_shape) if input_shape is not None else shape
        classes = num_classes if num_classes is not None else classes
        return cls(canonical, shape, classes).check()  # type: ignore[arg-type]

    @property
    def label(self) -> str:
        """Short human name: the model's name, or ``<generator>:<digest>`` of a spec."""
        if self.spec is None:
            return self.name
        return f"{self.spec.provenance.generator}:{self.spec.digest()}"

    @property
    def digest(self) -> str:
        """The spec digest, or ``baseline:<name>:<C>x<H>x<W>:<classes>`` of a named model."""
        if self.spec is not None:
            return self.spec.digest()
        c, h, w = self.input_shape
        kind = "" if self.name.startswith(TORCHVISION_PREFIX) else "baseline:"
        return f"{kind}{self.name}:{c}x{h}x{w}:{self.num_classes}"

    def build(self) -> nn.Module:
        """A freshly initialised module (initialisation uses torch's global RNG)."""
        if self.spec is not None:
            return build_model(self.spec)
        c, h, _ = self.input_shape
        if self.name.startswith(TORCHVISION_PREFIX):
            return _torchvision_model(_torchvision_name(self.name), c, self.num_classes)
        return create_baseline(self.name, num_classes=self.num_classes, in_channels=c, image_size=h)

    def example(self, batch: int = 1) -> torch.Tensor:
        """Zeros of the shape the network takes, ``(batch, C, H, W)``."""
        return torch.zeros(batch, *self.input_shape)

    def check(self) -> ModelRef:
        """Raise ``DataError`` for a name, shape or class count that cannot be right."""
        shape = self.input_shape
        if self.spec is None and (
            not isinstance(self.name, str) or not 0 < len(self.name) <= MAX_MODEL_NAME
        ):
            raise DataError(f"malformed plan: model name must be a short string, got {self.name!r}")
        if not (
            isinstance(shape, tuple)
            and len(shape) == 3
            and all(type(x) is int and 0 < x <= MAX_SIDE for x in shape)
        ):
            raise DataError(
                f"malformed plan: model input_shape must be 3 integers in 1..{MAX_SIDE}, "
                f"got {shape!r}"
            )
        if type(self.num_classes) is not int or not 0 < self.num_classes <= MAX_CLASSES:
            raise DataError(
                f"malformed plan: model num_classes must be an integer in 1..{MAX_CLASSES}, "
                f"got {self.num_classes!r}"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (plan.json's ``model``; a checkpoint's also carries a spec's ``spec``)."""
        doc: dict[str, Any] = {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
        }
        if self.spec is not None:
            doc["spec"] = self.spec.to_dict()
        return doc

    @classmethod
    def from_dict(cls, data: Any) -> ModelRef:
        """Inverse of :meth:`to_dict`, every field type-checked (checkpoints written before
        this class name a baseline as ``baseline``)."""
        if not isinstance(data, dict):
            raise DataError(f"malformed plan: model must be an object, got {data!r:.60}")
        shape = data.get("input_shape")
        shape = tuple(shape) if isinstance(shape, list) else shape
        spec = None
        if data.get("spec"):
            try:
                spec = ArchSpec.from_dict(data["spec"]).validate()
            except (KeyError, TypeError, ValueError, SpecError) as exc:
                raise DataError(f"malformed model description ({exc})") from exc
        name = data.get("name", data.get("baseline", ""))
        return cls(name, shape, data.get("num_classes"), spec).check()  # type: ignore[arg-type]


def model_name(text: str) -> str | None:
    """The model ``text`` names, spelled as every command spells it (``cifarnet``,
    ``torchvision:resnet18``), or None when it names no model (its torchvision part unchecked)."""
    baseline = baseline_name(text)
    if baseline is not None:
        return baseline
    if text.startswith(TORCHVISION_PREFIX) and len(text) > len(TORCHVISION_PREFIX):
        return text
    return None


def model_or_file(text: str | Path) -> Path | str:
    """What a network argument names: an existing file or folder (returned as a ``Path``) or a
    model (its checked name, as :func:`model_name` spells it). The one place that decides it.

    ``ConfigError`` for weights given as the network, and for a word that is neither (naming the
    accepted forms and the closest model name).
    """
    path = Path(text)
    if path.exists():
        if path.suffix == ".safetensors":
            raise ConfigError(f"{path} holds weights, not a network; pass it as --weights")
        return path
    name = model_name(str(text))
    if name is None:
        raise unknown_network(str(text))
    if name.startswith(TORCHVISION_PREFIX):
        _torchvision_name(name)  # a name torchvision knows, or the error says which it meant
    return name


def unknown_network(text: str) -> ConfigError:
    """The error for ``text`` that is neither a spec file nor a model name."""
    if text.startswith(TORCHVISION_PREFIX):
        return _unknown_torchvision(text[len(TORCHVISION_PREFIX) :])
    bare = text.rpartition(":")[2]
    if Path(text).suffix == ".json" or "/" in text:
        hint = ""  # a path: no model name is meant
    else:  # the closest baseline or torchvision model (a baseline first where both have it)
        baselines = list_baselines()
        best = (
            bare
            if bare in _torchvision_names()
            else closest(bare, [*baselines, *_torchvision_names()])
        )
        prefix = "" if best is None or best in baselines else TORCHVISION_PREFIX
        hint = "" if best is None else f" (did you mean {prefix + best!r}?)"
    return ConfigError(
        f"{text!r} is neither a spec file nor a model name{hint}; accepted forms: an existing "
        f"spec JSON file, {MODEL_FORMS}"
    )


def resolve_model(
    name: str,
    *,
    input_shape: tuple[int, ...] | None = None,
    num_classes: int | None = None,
) -> tuple[nn.Module, torch.Tensor]:
    """An untrained model and an example input (batch 1) for the model ``name`` (defaults as
    :meth:`ModelRef.named`)."""
    ref = ModelRef.named(name, input_shape, num_classes)
    return ref.build(), ref.example()


def _torchvision_names() -> list[str]:
    import torchvision

    return list(torchvision.models.list_models(module=torchvision.models))


def _unknown_torchvision(name: str) -> ConfigError:
    hint = did_you_mean(name, _torchvision_names(), prefix=TORCHVISION_PREFIX)
    return ConfigError(
        f"unknown torchvision classification model {name!r}{hint}; accepted forms: {MODEL_FORMS}"
    )


def _torchvision_name(name: str) -> str:
    """The torchvision part of ``torchvision:NAME``, checked against torchvision's models."""
    tv_name = name[len(TORCHVISION_PREFIX) :]
    if tv_name not in _torchvision_names():
        raise _unknown_torchvision(tv_name)
    return tv_name


def _torchvision_model(name: str, channels: int, num_classes: int) -> nn.Module:
    import torchvision

    if channels != 3:
        raise ConfigError(f"torchvision:{name} takes 3-channel images, not {channels}")
    extra: dict[str, Any] = {"num_classes": num_classes}
    if name in ("googlenet", "inception_v3"):
        extra.update(aux_logits=False, init_weights=False)
    return torchvision.models.get_model(name, weights=None, **extra)
