"""Decoding image files (JPEG, PNG) into one uint8 array, from a folder tree or a tar archive.

Both readers accept the ImageFolder layout ``[prefix/]{train,test}/<class>/<image>``: class
folders sorted by name give the labels, as in ``torchvision.datasets.ImageFolder``. A tar archive
is read as a stream (no extraction to disk): every image is decoded once, in memory.
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from parawire.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
SPLITS = ("train", "test")
_CHUNK = 2048  # images per worker task


def decode_image(blob: bytes, size: int | None = None) -> np.ndarray:
    """One encoded image -> (H, W, 3) uint8, resized and centre-cropped to ``size`` if given."""
    with Image.open(io.BytesIO(blob)) as img:
        rgb = img.convert("RGB")
    if size is not None and rgb.size != (size, size):
        w, h = rgb.size
        scale = size / min(w, h)
        rgb = rgb.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)
        w, h = rgb.size
        left, top = (w - size) // 2, (h - size) // 2
        rgb = rgb.crop((left, top, left + size, top + size))
    return np.asarray(rgb, dtype=np.uint8)


def _decode_chunk(args: tuple[list[bytes], int | None]) -> np.ndarray:
    blobs, size = args
    return np.stack([decode_image(b, size) for b in blobs])


def decode_all(
    blobs: list[bytes], size: int | None = None, workers: int | None = None
) -> np.ndarray:
    """Decode many images into (N, C, H, W) uint8; a process pool when there are many."""
    if not blobs:
        raise DataError("no images to decode")
    workers = workers if workers is not None else min(4, os.cpu_count() or 1)
    chunks = [(blobs[i : i + _CHUNK], size) for i in range(0, len(blobs), _CHUNK)]
    try:
        if workers > 1 and len(chunks) > 1:
            with ProcessPoolExecutor(workers) as pool:
                parts = list(pool.map(_decode_chunk, chunks))
        else:
            parts = [_decode_chunk(c) for c in chunks]
        hwc = np.concatenate(parts)
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"an image could not be decoded ({exc})") from exc
    except ValueError as exc:  # np.stack on differently sized images
        raise DataError(
            f"images differ in size ({exc}); give an image size to resize them"
        ) from exc
    return np.ascontiguousarray(hwc.transpose(0, 3, 1, 2))


def _split_path(parts: list[str]) -> tuple[str, str] | None:
    """``[..., split, class, file]`` -> (split, class) for an image in the layout, else None."""
    if len(parts) < 3 or not parts[-1].lower().endswith(IMAGE_SUFFIXES):
        return None
    split, cls = parts[-3], parts[-2]
    if split not in SPLITS or parts[-1].startswith("."):
        return None
    return split, cls


def _group(
    items: Iterable[tuple[str, str, str, bytes]],
) -> dict[str, list[tuple[str, str, bytes]]]:
    by_split: dict[str, list[tuple[str, str, bytes]]] = {s: [] for s in SPLITS}
    for split, cls, name, blob in items:
        by_split[split].append((cls, name, blob))
    return by_split


def _arrays(
    by_split: dict[str, list[tuple[str, str, bytes]]], size: int | None, where: str
) -> tuple[dict[str, np.ndarray], list[str]]:
    for split in SPLITS:
        if not by_split[split]:
            raise DataError(f"{where} has no images under {split}/<class>/")
    classes = sorted({cls for items in by_split.values() for cls, _, _ in items})
    index = {c: i for i, c in enumerate(classes)}
    arrays: dict[str, np.ndarray] = {}
    for split, items in by_split.items():
        items.sort(key=lambda t: (index[t[0]], t[1]))  # deterministic order
        arrays[f"{split}_x"] = decode_all([b for _, _, b in items], size)
        arrays[f"{split}_y"] = np.array([index[c] for c, _, _ in items], dtype=np.int64)
    return arrays, classes


def read_image_folder(
    root: Path, size: int | None = None
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Decode ``root/{train,test}/<class>/*`` into arrays ``train_x/_y``, ``test_x/_y``."""

    def walk() -> Iterator[tuple[str, str, str, bytes]]:
        for split in SPLITS:
            for path in sorted((root / split).glob("*/*")):
                key = _split_path(list(path.relative_to(root).parts))
                if key is not None and path.is_file():
                    yield key[0], key[1], path.name, path.read_bytes()

    return _arrays(_group(walk()), size, str(root))


def read_image_tar(
    archive: Path, size: int | None = None
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Decode the images of a (gzip) tar archive in the ImageFolder layout, streaming it once."""

    def walk() -> Iterator[tuple[str, str, str, bytes]]:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                parts = [p for p in member.name.split("/") if p not in ("", ".")]
                key = _split_path(parts)
                f = tar.extractfile(member) if key is not None else None
                if key is not None and f is not None:
                    yield key[0], key[1], parts[-1], f.read()

    try:
        return _arrays(_group(walk()), size, str(archive))
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"{archive} is not a readable tar archive ({exc})") from exc
