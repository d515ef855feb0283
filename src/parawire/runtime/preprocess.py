"""From an image file to the tensor a plan's network takes: decode, resize, normalise.

What the network expects comes from what its weights were trained on: ``parawire train``
records, in the weights file's metadata, the data set's per-channel mean and std (of the
training split, in [0, 1] units), the input size and the class names (``"preprocess"``). A plan
made with those weights (``parawire plan --weights``) carries the file, so every device and
``serve`` read the same. Weights trained before that record only the data set's name: its
statistics are then computed from the data set when it is available here. An untrained plan
scales pixels to [0, 1] and names its classes by index (``Preprocess.source`` says which).

Decoding is bounded: a body over ``MAX_IMAGE_BYTES`` or an image over ``MAX_IMAGE_PIXELS`` is
refused before it is decoded in full, and every failure of the decoder is one ``DataError`` line.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Any

import torch

from parawire.errors import DataError
from parawire.runtime.plan import Plan

MAX_IMAGE_BYTES = 8 << 20  # the largest image file accepted (8 MiB)
MAX_IMAGE_PIXELS = 40_000_000  # the largest decoded image (a 40-megapixel camera frame)


@dataclass(frozen=True)
class Preprocess:
    """How an image becomes the network's input, and what its outputs are called."""

    input_shape: tuple[int, int, int]  # (C, H, W) the network takes
    mean: tuple[float, ...]  # per channel, in [0, 1] units
    std: tuple[float, ...]  # per channel
    classes: tuple[str, ...]  # class names, index = output
    source: str  # where these came from (the weights' metadata, a data set, defaults)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (what ``parawire train`` writes under ``"preprocess"``)."""
        return {
            "input_shape": list(self.input_shape),
            "mean": list(self.mean),
            "std": list(self.std),
            "classes": list(self.classes),
        }


def preprocess_record(splits: Any) -> dict[str, Any]:
    """The ``"preprocess"`` metadata of weights trained on ``splits`` (an ``ImageSplits``)."""
    mean, std = splits.channel_stats()
    return {
        "input_shape": list(splits.input_shape),
        "mean": list(mean),
        "std": list(std),
        "classes": list(splits.classes),
    }


def preprocess_of(plan: Plan) -> Preprocess:
    """What ``plan``'s weights were trained on (see the module docstring)."""
    shape = tuple(int(n) for n in plan.graph.input_shape)
    classes = plan.graph.num_classes
    default = Preprocess(
        shape,  # type: ignore[arg-type]
        (0.0,) * shape[0],
        (1.0,) * shape[0],
        tuple(str(i) for i in range(classes)),
        "untrained plan: pixels scaled to [0, 1], classes named by index",
    )
    if plan.weights is None:
        return default
    from parawire.weights import load_weights

    _, meta = load_weights(plan.weights)
    record = meta.get("preprocess")
    if isinstance(record, dict):
        return _checked(record, shape, classes, f"the weights' metadata ({plan.weights.name})")
    dataset = meta.get("dataset")
    if isinstance(dataset, str):
        try:
            from parawire.data import load_dataset

            splits = load_dataset(dataset)
        except Exception:  # a data set not available here: fall back, and say so
            return _replace_source(default, f"weights trained on {dataset!r}, not available here")
        return _checked(preprocess_record(splits), shape, classes, f"the {dataset} data set")
    return _replace_source(default, "weights without a record of their data set")


def _replace_source(pre: Preprocess, why: str) -> Preprocess:
    """``pre`` with ``why`` prepended to its source."""
    return Preprocess(pre.input_shape, pre.mean, pre.std, pre.classes, f"{why}: {pre.source}")


def _checked(
    record: dict[str, Any], shape: tuple[int, ...], classes: int, source: str
) -> Preprocess:
    """A recorded ``Preprocess`` that fits the network, or a one-line ``DataError``."""
    try:
        c = shape[0]
        mean = tuple(float(v) for v in record["mean"])
        std = tuple(float(v) for v in record["std"])
        names = tuple(str(v) for v in record["classes"])
        if len(mean) != c or len(std) != c or min(std) <= 0:
            raise ValueError(f"{c} channel means and positive stds expected")
        if len(names) != classes:
            raise ValueError(f"{classes} class names expected, got {len(names)}")
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"malformed preprocessing record in {source} ({exc})") from None
    return Preprocess(shape, mean, std, names, source)  # type: ignore[arg-type]


def decode_image(data: bytes, pre: Preprocess) -> torch.Tensor:
    """An image file's bytes -> the network's input (C, H, W), float32, normalised.

    Refused in one ``DataError`` line: over ``MAX_IMAGE_BYTES``, not an image, truncated,
    over ``MAX_IMAGE_PIXELS``.
    """
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_IMAGE_BYTES:
        raise DataError(
            f"image of {len(data)} bytes is over the {MAX_IMAGE_BYTES >> 20} MiB limit; "
            "send a smaller file"
        )
    if not data:
        raise DataError("empty body: send a JPEG or PNG image")
    c, h, w = pre.input_shape
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if img.width * img.height > MAX_IMAGE_PIXELS:
                    raise DataError(
                        f"image of {img.width}x{img.height} pixels is over the "
                        f"{MAX_IMAGE_PIXELS:,}-pixel limit; send a smaller image"
                    )
                img.draft("RGB" if c == 3 else "L", (w, h))  # JPEG: decode at a smaller scale
                img = img.convert("RGB" if c == 3 else "L").resize((w, h), Image.BILINEAR)
    except DataError:
        raise
    except UnidentifiedImageError:
        raise DataError("not an image this server can read (send a JPEG or PNG)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as exc:
        raise DataError(f"cannot decode the image ({exc}); send a complete JPEG or PNG") from None
    raw = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
    x = raw.view(h, w, c).permute(2, 0, 1).float() / 255.0  # (C, H, W) in [0, 1]
    mean = torch.tensor(pre.mean).view(c, 1, 1)
    std = torch.tensor(pre.std).view(c, 1, 1)
    return ((x - mean) / std).contiguous()


def top_k(probs: torch.Tensor, pre: Preprocess, k: int) -> list[dict[str, Any]]:
    """The ``k`` most probable classes of one image's ``probs`` (classes,), most probable first."""
    values, indices = probs.topk(min(k, len(probs)))
    return [
        {"index": int(i), "name": pre.classes[int(i)], "probability": float(p)}
        for p, i in zip(values, indices, strict=True)
    ]
