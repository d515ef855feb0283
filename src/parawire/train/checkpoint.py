"""Training checkpoints: one safetensors file per run folder, replaced atomically each epoch.

``checkpoint.safetensors`` holds the model's state (``model/<key>``) and the optimiser's tensors
(``optim/<index>/<name>``); its metadata holds, as JSON, everything else needed to continue
exactly (model source, recipe, seed, epochs, completed epoch, history, the optimiser's
parameter groups and non-tensor state) and a SHA-256 over the tensor bytes and that metadata,
checked on load so that a damaged or edited file is reported instead of silently resumed (format
1 files, from before, hash the tensors only). ``weights.safetensors`` records the same kind of
SHA-256, which ``eval`` checks. ``checkpoint.json`` is a readable copy of the metadata. Each file
is written to a temporary name and renamed with ``os.replace``: an interrupted save leaves the
previous file intact, and its temporary file is removed when the next run starts in the folder
(:func:`remove_stale_temps`). Nothing is unpickled on load.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from parawire._io import (  # noqa: F401  (write_json re-exported)
    atomic_write,
    parse_json,
    remove_stale_temps,
    safetensors_shapes,
    write_json,
)
from parawire._memory import require_memory
from parawire.errors import DataError

CHECKPOINT = "checkpoint.safetensors"
CHECKPOINT_JSON = "checkpoint.json"
WEIGHTS = "weights.safetensors"
FORMAT = 2  # bump when the layout changes (2: the SHA-256 covers the metadata too)
READABLE_FORMATS = (1, 2)


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: metadata and the model and optimiser states."""

    meta: dict[str, Any]  # JSON metadata (see the module docstring)
    model_state: dict[str, torch.Tensor]  # the model's state_dict
    optimizer_state: dict[str, Any]  # an optimizer state_dict, ready for load_state_dict


def _digest(tensors: dict[str, torch.Tensor], meta: dict[str, Any] | None) -> str:
    """SHA-256 over the tensors (keys, dtypes, shapes, bytes) and ``meta`` (its "sha256" left out).

    ``meta`` is hashed as canonical JSON, which a JSON round trip does not change.
    """
    h = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key]
        h.update(key.encode())
        h.update(str(t.dtype).encode() + str(tuple(t.shape)).encode())
        h.update(t.contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    if meta is not None:
        rest = {k: v for k, v in meta.items() if k != "sha256"}
        h.update(json.dumps(rest, sort_keys=True).encode())
    return h.hexdigest()


def _signed(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> str:
    """``meta`` with format and SHA-256 added, as the JSON text stored in the file."""
    meta = {**meta, "format": FORMAT}
    return json.dumps({**meta, "sha256": _digest(tensors, meta)})


def _intact(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> bool:
    """Whether the recorded SHA-256 matches (format 1 hashed the tensors only)."""
    covers_meta = meta.get("format") != 1
    return _digest(tensors, meta if covers_meta else None) == meta.get("sha256")


def _cpu(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to("cpu").contiguous().clone()


def split_optimizer_state(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimizer state_dict -> (tensors by ``optim/<i>/<name>``, JSON-able rest)."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entry in state["state"].items():
        for name, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim/{index}/{name}"] = _cpu(value)
            else:
                scalars.setdefault(str(index), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def join_optimizer_state(tensors: dict[str, torch.Tensor], rest: dict[str, Any]) -> dict:
    """Inverse of :func:`split_optimizer_state`."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, index, name = key.split("/", 2)
        state.setdefault(int(index), {})[name] = value
    for index, entries in rest["scalars"].items():
        state.setdefault(int(index), {}).update(entries)
    groups = []
    for group in rest["param_groups"]:
        group = dict(group)
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
        groups.append(group)
    return {"state": state, "param_groups": groups}


def save_checkpoint(
    folder: Path, meta: dict[str, Any], model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> Path:
    """Write ``folder/checkpoint.safetensors`` (+ ``checkpoint.json``) atomically."""
    tensors = {f"model/{k}": _cpu(v) for k, v in model.state_dict().items()}
    optim_tensors, optim_rest = split_optimizer_state(optimizer.state_dict())
    tensors.update(optim_tensors)
    text = _signed(tensors, {**meta, "optimizer": optim_rest})
    path = folder / CHECKPOINT
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata={"parawire": text}))
    full = json.loads(text)
    write_json(folder / CHECKPOINT_JSON, {k: v for k, v in full.items() if k != "optimizer"})
    return path


def load_checkpoint(path: Path) -> Checkpoint:
    """Read a checkpoint file (or the one in a run folder); ``DataError`` if missing or corrupt."""
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.is_file():
        raise DataError(f"no checkpoint at {path}; train without --resume to start a new run")
    fix = "delete it (and checkpoint.json) and train again without --resume"
    _fits_memory(path, "checkpoint")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("parawire")
        tensors = load_file(str(path))
        if raw is None:
            raise ValueError("no parawire metadata")
        meta = parse_json(raw, origin="its metadata")
        if not isinstance(meta, dict):
            raise ValueError("its metadata is not a JSON object")
    except (SafetensorError, OSError, ValueError, RuntimeError, DataError) as exc:
        raise DataError(
            f"checkpoint {path} is corrupt or not a parawire checkpoint ({exc}); {fix}"
        ) from exc
    if meta.get("format") not in READABLE_FORMATS:
        raise DataError(
            f"checkpoint {path} has format {meta.get('format')!r}, expected {FORMAT}; {fix}"
        )
    if not _intact(tensors, meta):
        raise DataError(f"checkpoint {path} is corrupt or was edited (it fails its SHA-256); {fix}")
    model_state = {k[6:]: v for k, v in tensors.items() if k.startswith("model/")}
    optim_tensors = {k: v for k, v in tensors.items() if k.startswith("optim/")}
    try:
        optimizer_state = join_optimizer_state(optim_tensors, meta["optimizer"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DataError(
            f"checkpoint {path} has malformed optimiser metadata ({exc!r}); {fix}"
        ) from exc
    return Checkpoint(meta, model_state, optimizer_state)


def save_weights(
    path: Path,
    state: torch.nn.Module | Mapping[str, torch.Tensor],
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write a model's state (or a state dict) alone, plain state_dict keys, with JSON metadata
    and its SHA-256, atomically: the one weights writer (training results and plan folders)."""
    if isinstance(state, torch.nn.Module):
        state = state.state_dict()
    tensors = {k: _cpu(v) for k, v in state.items()}
    text = _signed(tensors, dict(meta or {}))
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata={"parawire": text}))
    return Path(path)


def load_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state_dict, metadata) from a weights file or a checkpoint; ``DataError`` if unreadable.

    The SHA-256 the file records must match (files written before parawire recorded one in
    weights files have none, and are read unchecked).
    """
    if path.is_dir():
        path = path / WEIGHTS if (path / WEIGHTS).is_file() else path / CHECKPOINT
    if not path.exists():
        raise DataError(f"no weights at {path}; give a weights.safetensors or checkpoint file")
    _fits_memory(path, "weights file")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("parawire", "{}")
        tensors = load_file(str(path))
        meta = parse_json(raw, origin="its metadata")
        if not isinstance(meta, dict):
            raise ValueError("its metadata is not a JSON object")
    except (SafetensorError, OSError, ValueError, RuntimeError, DataError) as exc:
        raise DataError(f"weights file {path} is corrupt or not safetensors ({exc})") from exc
    if "sha256" in meta and not _intact(tensors, meta):
        raise DataError(
            f"weights file {path} is corrupt or was edited (it fails its SHA-256); "
            "train again or copy it anew"
        )
    if any(k.startswith("model/") for k in tensors):  # a checkpoint: keep the model part
        tensors = {k[6:]: v for k, v in tensors.items() if k.startswith("model/")}
    return tensors, meta


def _fits_memory(path: Path, what: str) -> None:
    """The tensors ``path``'s header declares, checked (before any is read) to be well formed
    and to fit in free memory: a tampered header is one line, not a ``MemoryError``."""
    _, total = safetensors_shapes(path, what=what)
    require_memory(total, f"{what} {path}", "it declares more tensor data than a model needs")
