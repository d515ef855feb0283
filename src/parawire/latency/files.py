"""Predictor files: one safetensors file, the weights as tensors and everything else as JSON in
its header metadata (no pickle, nothing executed on load).

Header metadata: ``format`` (``parawire-latency-predictor``), ``version`` (``FILE_VERSION``),
``kind`` (the registry name), ``seed``, ``config`` (the predictor's options, JSON) and
``meta`` (its fitted non-tensor state, JSON) and ``trained`` (the digests of the architectures
it was fitted on, a JSON list: ``latency report`` leaves them out of a test set). A file of
another format, another version, an unknown kind, or weights that do not fit the architecture
its options describe is refused with a one-line error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from parawire._io import atomic_write, parse_json, safetensors_shapes
from parawire._memory import require_memory
from parawire.errors import ConfigError, DataError
from parawire.latency._base import Predictor, predictor_class

FILE_FORMAT = "parawire-latency-predictor"
FILE_VERSION = 1


def save_predictor(predictor: Predictor, path: str | os.PathLike[str]) -> Path:
    """Write a fitted predictor to ``path`` (atomically: a temporary file, then a rename)."""
    from safetensors.torch import save_file

    tensors, meta = predictor.state()
    header = {
        "format": FILE_FORMAT,
        "version": str(FILE_VERSION),
        "kind": predictor.name,
        "seed": str(predictor.seed),
        "config": json.dumps(predictor.config),
        "meta": json.dumps(meta),
        "trained": json.dumps(predictor.trained),
    }
    path = Path(path)
    contiguous = {k: t.contiguous() for k, t in tensors.items()}
    atomic_write(path, lambda tmp: save_file(contiguous, str(tmp), metadata=header))
    return path


def read_header(path: str | os.PathLike[str]) -> dict[str, str]:
    """The header metadata of a predictor file; ``DataError`` if it is not one."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise DataError(f"no predictor file at {path}; write one with `parawire latency fit`")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for any malformed file
        raise DataError(
            f"{path} is not a predictor file (not safetensors: {' '.join(str(exc).split())})"
        ) from None
    if header.get("format") != FILE_FORMAT:
        raise DataError(
            f"{path} is a safetensors file but not a parawire latency predictor; write one "
            "with `parawire latency fit`"
        )
    if header.get("version") != str(FILE_VERSION):
        raise DataError(
            f"{path} is predictor file version {header.get('version')!r}, this parawire reads "
            f"version {FILE_VERSION}; refit it with `parawire latency fit`"
        )
    return header


def load_predictor(path: str | os.PathLike[str], kind: str | None = None) -> Predictor:
    """The fitted predictor stored in ``path``; ``kind`` (optional) is the kind it must be."""
    from safetensors.torch import load_file

    header = read_header(path)
    if kind is not None and header.get("kind") != kind:
        raise DataError(
            f"{path} holds a {header.get('kind')!r} predictor, not {kind!r}; fit one with "
            f"`parawire latency fit --model {kind}`"
        )
    cls = predictor_class(str(header.get("kind")))
    try:
        config: dict[str, Any] = parse_json(header["config"], origin=f"{path} config")
        meta: dict[str, Any] = parse_json(header["meta"], origin=f"{path} metadata")
        seed = int(header["seed"])
    except (KeyError, ValueError) as exc:
        raise DataError(f"{path}: malformed predictor metadata ({exc})") from None
    _, total = safetensors_shapes(path, what="predictor file")
    require_memory(total, f"predictor file {path}", "it declares more data than a predictor has")
    tensors = load_file(str(path))
    try:
        predictor = cls.from_state(tensors, meta, seed, **config)
    except ConfigError as exc:
        raise DataError(f"{path}: {exc}") from None
    trained = parse_json(header.get("trained", "[]"), origin=f"{path} trained digests")
    predictor.trained = [str(d) for d in trained] if isinstance(trained, list) else []
    return predictor
