"""Model weights on disk: a safetensors file, its JSON metadata and a SHA-256 (ground floor).

The one home of the weights format, used by training (``weights.safetensors``, checkpoints), plan
folders and ``run --out``: ``runtime`` reads and writes weights without importing ``train``.
The metadata (key ``parawire``) is JSON; its ``sha256`` covers every tensor (key, dtype, shape,
bytes, in key order) and the rest of the metadata, so a damaged or edited file is reported instead
of silently used. :func:`verify_weights` checks a file one tensor at a time, so a rank that reads
only its own tensors can still check the whole file without holding it. Nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from parawire._io import atomic_write, parse_json, safetensors_shapes
from parawire._memory import require_memory
from parawire.errors import DataError
from parawire.filenames import CHECKPOINT_FILE, WEIGHTS_FILE

META_KEY = "parawire"  # the safetensors metadata key that holds parawire's JSON
FORMAT = 2  # bump when the layout changes (2: the SHA-256 covers the metadata too)
READABLE_FORMATS = (1, 2)  # format 1 files hashed the tensors only


def _hash_tensor(h: Any, key: str, t: torch.Tensor) -> None:
    h.update(key.encode())
    h.update(str(t.dtype).encode() + str(tuple(t.shape)).encode())
    h.update(t.contiguous().view(-1).view(torch.uint8).numpy().tobytes())


def _hash_meta(h: Any, meta: Mapping[str, Any]) -> None:
    """Canonical JSON of ``meta`` without its "sha256" (a JSON round trip does not change it)."""
    h.update(json.dumps({k: v for k, v in meta.items() if k != "sha256"}, sort_keys=True).encode())


def digest(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any] | None) -> str:
    """SHA-256 over the tensors (keys, dtypes, shapes, bytes) and ``meta`` ("sha256" left out)."""
    h = hashlib.sha256()
    for key in sorted(tensors):
        _hash_tensor(h, key, tensors[key])
    if meta is not None:
        _hash_meta(h, meta)
    return h.hexdigest()


def signed(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> str:
    """``meta`` with format and SHA-256 added, as the JSON text stored in the file."""
    meta = {**meta, "format": FORMAT}
    return json.dumps({**meta, "sha256": digest(tensors, meta)})


def intact(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> bool:
    """Whether the recorded SHA-256 matches (format 1 hashed the tensors only)."""
    return digest(tensors, meta if meta.get("format") != 1 else None) == meta.get("sha256")


def cpu_copy(t: torch.Tensor) -> torch.Tensor:
    """A contiguous CPU copy of ``t``, detached: what a file stores."""
    return t.detach().to("cpu").contiguous().clone()


def write_signed(path: Path, tensors: dict[str, torch.Tensor], meta: Mapping[str, Any]) -> str:
    """Write ``tensors`` with ``meta`` signed (:func:`signed`) atomically; the metadata text."""
    text = signed(tensors, meta)
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata={META_KEY: text}))
    return text


def write_tensors(path: Path, tensors: Mapping[str, torch.Tensor]) -> Path:
    """Write plain tensors (no metadata: logits, images between processes) atomically."""
    plain = {k: cpu_copy(v) for k, v in tensors.items()}
    atomic_write(path, lambda tmp: save_file(plain, str(tmp)))
    return Path(path)


def save_weights(
    path: Path,
    state: torch.nn.Module | Mapping[str, torch.Tensor],
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write a model's state (or a state dict) alone, plain state_dict keys, with JSON metadata
    and its SHA-256, atomically: the one weights writer (training results and plan folders)."""
    if isinstance(state, torch.nn.Module):
        state = state.state_dict()
    write_signed(Path(path), {k: cpu_copy(v) for k, v in state.items()}, dict(meta or {}))
    return Path(path)


def fits_memory(path: Path, what: str, inside: Path | None = None) -> None:
    """The tensors ``path``'s header declares, checked (before any is read) to be well formed
    and to fit in free memory: a tampered header is one line, not a ``MemoryError``."""
    _, total = safetensors_shapes(path, what=what, inside=inside)
    require_memory(total, f"{what} {path}", "it declares more tensor data than a model needs")


def read_meta(path: Path, what: str = "weights file", fix: str = "") -> dict[str, Any]:
    """The JSON metadata of a safetensors file ({} when it has none); ``DataError`` if bad."""
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(META_KEY, "{}")
        meta = parse_json(raw, origin="its metadata")
        if not isinstance(meta, dict):
            raise ValueError("its metadata is not a JSON object")
    except (SafetensorError, OSError, ValueError, RuntimeError, DataError) as exc:
        raise _unreadable(path, what, exc, fix) from exc
    return meta


def _unreadable(path: Path, what: str, exc: BaseException, fix: str) -> DataError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DataError(
        f"cannot read {what} {path}: corrupt or not safetensors ({first})" + (fix and f"; {fix}")
    )


def _corrupt(path: Path, what: str, fix: str) -> DataError:
    return DataError(f"{what} {path} is corrupt or was edited (it fails its SHA-256); {fix}")


def verify_weights(path: Path, what: str = "weights file", fix: str = "copy it anew") -> None:
    """``DataError`` unless ``path``'s recorded SHA-256 matches, read one tensor at a time (a
    file without one, written before parawire recorded it, passes unchecked)."""
    meta = read_meta(path, what)
    if "sha256" not in meta:
        return
    h = hashlib.sha256()
    try:
        with safe_open(str(path), framework="pt") as f:
            for key in sorted(f.keys()):
                _hash_tensor(h, key, f.get_tensor(key))
    except (SafetensorError, OSError, RuntimeError) as exc:
        raise _unreadable(path, what, exc, fix) from exc
    if meta.get("format") != 1:
        _hash_meta(h, meta)
    if h.hexdigest() != meta["sha256"]:
        raise _corrupt(path, what, fix)


def read_tensors(
    path: Path, wanted: Callable[[str], bool], what: str, fix: str = ""
) -> dict[str, torch.Tensor]:
    """The tensors of ``path`` whose key ``wanted`` accepts, read alone (no SHA-256 check:
    :func:`verify_weights` does that once for the whole file)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys() if wanted(k)}  # noqa: SIM118
    except (OSError, RuntimeError, SafetensorError) as exc:
        raise _unreadable(path, what, exc, fix) from exc


def load_signed(
    path: Path, what: str, fix: str = ""
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, metadata) of a whole file (size checked by the caller: :func:`fits_memory`);
    ``DataError``, ending in ``fix``, if unreadable. The SHA-256 is not checked here."""
    meta = read_meta(path, what, fix)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, RuntimeError) as exc:
        raise _unreadable(path, what, exc, fix) from exc
    return tensors, meta


def load_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state_dict, metadata) from a weights file or a checkpoint; ``DataError`` if unreadable.

    The SHA-256 the file records must match (files written before parawire recorded one in
    weights files have none, and are read unchecked).
    """
    path = Path(path)
    if path.is_dir():
        path = path / WEIGHTS_FILE if (path / WEIGHTS_FILE).is_file() else path / CHECKPOINT_FILE
    if not path.exists():
        raise DataError(f"no weights at {path}; give a weights.safetensors or checkpoint file")
    fits_memory(path, "weights file")
    tensors, meta = load_signed(path, "weights file")
    if "sha256" in meta and not intact(tensors, meta):
        raise _corrupt(path, "weights file", "train again or copy it anew")
    return model_part(tensors), meta


def model_part(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A checkpoint's model tensors under their state_dict keys (weights files: unchanged)."""
    if any(k.startswith("model/") for k in tensors):
        return {k[6:]: v for k, v in tensors.items() if k.startswith("model/")}
    return dict(tensors)
