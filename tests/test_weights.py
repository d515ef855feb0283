"""The one weights format (``parawire.weights``): plan folders check the SHA-256 that training
records, as ``eval`` and ``--resume`` do, and the streaming check agrees with the whole-file one."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import small_spec
from parawire.errors import DataError
from parawire.runtime.plan import Plan, seeded_state_dict
from parawire.weights import intact, load_weights, read_meta, save_weights, verify_weights


def _flip_last_byte(path: Path) -> None:
    """Change the last byte of the file: a tensor's data, the header untouched."""
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


def _signed_plan(tmp: Path) -> Path:
    spec = small_spec("lanes", size=16)
    weights = save_weights(tmp / "trained.safetensors", seeded_state_dict(spec, 0), {"x": 1})
    placement = {v: i % 2 for i, v in enumerate(spec.topological_order)}
    return Plan(spec, placement, 2, weights=weights).save(tmp / "plan")


def test_plan_weights_are_checked_against_their_sha256(tmp_path: Path) -> None:
    folder = _signed_plan(tmp_path)
    Plan.load(folder).state_dict(0)  # intact: loads
    _flip_last_byte(folder / "weights.safetensors")
    with pytest.raises(DataError, match="fails its SHA-256") as info:
        Plan.load(folder)
    assert "\n" not in str(info.value) and "remake it" in str(info.value)


def test_streaming_check_agrees_with_the_whole_file(tmp_path: Path) -> None:
    state = {"a": torch.arange(6.0).reshape(2, 3), "b": torch.ones(4, dtype=torch.int64)}
    path = save_weights(tmp_path / "w.safetensors", state, {"note": "n"})
    tensors, meta = load_weights(path)
    assert intact(tensors, meta) and meta == read_meta(path)
    verify_weights(path)
    _flip_last_byte(path)
    with pytest.raises(DataError, match="SHA-256"):
        verify_weights(path)
    with pytest.raises(DataError, match="SHA-256"):
        load_weights(path)


def test_unsigned_file_is_read_unchecked(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    save_file({"a": torch.zeros(2)}, str(tmp_path / "old.safetensors"))
    verify_weights(tmp_path / "old.safetensors")  # written before weights carried a SHA-256
    assert load_weights(tmp_path / "old.safetensors")[1] == {}
