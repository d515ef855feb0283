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

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from parawire._io import remove_stale_temps, write_json  # noqa: F401  (re-exported)
from parawire.errors import DataError
from parawire.filenames import CHECKPOINT_FILE, CHECKPOINT_JSON
from parawire.weights import (  # noqa: F401  (load_weights, save_weights re-exported)
    FORMAT,
    READABLE_FORMATS,
    cpu_copy,
    fits_memory,
    intact,
    load_signed,
    load_weights,
    save_weights,
    write_signed,
)


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: metadata and the model and optimiser states."""

    meta: dict[str, Any]  # JSON metadata (see the module docstring)
    model_state: dict[str, torch.Tensor]  # the model's state_dict
    optimizer_state: dict[str, Any]  # an optimizer state_dict, ready for load_state_dict


def split_optimizer_state(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimizer state_dict -> (tensors by ``optim/<i>/<name>``, JSON-able rest)."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entry in state["state"].items():
        for name, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim/{index}/{name}"] = cpu_copy(value)
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
    tensors = {f"model/{k}": cpu_copy(v) for k, v in model.state_dict().items()}
    optim_tensors, optim_rest = split_optimizer_state(optimizer.state_dict())
    tensors.update(optim_tensors)
    path = folder / CHECKPOINT_FILE
    full = json.loads(write_signed(path, tensors, {**meta, "optimizer": optim_rest}))
    write_json(folder / CHECKPOINT_JSON, {k: v for k, v in full.items() if k != "optimizer"})
    return path


def load_checkpoint(path: Path) -> Checkpoint:
    """Read a checkpoint file (or the one in a run folder); ``DataError`` if missing or corrupt."""
    if path.is_dir():
        path = path / CHECKPOINT_FILE
    if not path.is_file():
        raise DataError(f"no checkpoint at {path}; train without --resume to start a new run")
    fix = "delete it (and checkpoint.json) and train again without --resume"
    fits_memory(path, "checkpoint")
    tensors, meta = load_signed(path, "checkpoint", fix)
    if not meta:
        raise DataError(f"checkpoint {path} is not a parawire checkpoint (no metadata); {fix}")
    if meta.get("format") not in READABLE_FORMATS:
        raise DataError(
            f"checkpoint {path} has format {meta.get('format')!r}, expected {FORMAT}; {fix}"
        )
    if not intact(tensors, meta):
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
