"""Hostile input (issue 23): every reader bounded, valid specs buildable, nothing written on
failure, strict JSON, stores that cannot be confused. The held-out sweep of the same kinds is
``benchmarks/hostile_inputs.py`` (its result in BENCHMARKS.md)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path

import pytest

import parawire
from conftest import small_spec
from parawire import _io
from parawire.arch.footprint import MAX_PARAMETERS, spec_footprint
from parawire.errors import ConfigError, DataError, ParawireError, ResourceError, SpecError
from parawire.runtime.plan import Plan, seeded_state_dict
from parawire.runtime.planner import load_plan_or_spec


def _read_search_space(folder: Path) -> object:
    from parawire.search.space import create_space

    return create_space(str(folder / "space.json"))


def _read_report(folder: Path) -> object:
    from parawire.study.reporting import build_report

    return build_report(folder)


def _read_manifest(folder: Path) -> object:
    from parawire.export.manifest import load_manifest

    return load_manifest(folder)


def _read_search(folder: Path) -> object:
    from parawire.search.runner import load_search

    return load_search(folder)


def _read_profile(folder: Path) -> object:
    from parawire.analysis.profiles import load_profiles

    return load_profiles(folder / "profiles.toml")


def _read_cache(folder: Path) -> object:
    from parawire.data._cache import cached_arrays

    return cached_arrays(folder, dict)


def _read_weights(folder: Path) -> object:
    from parawire.train.checkpoint import load_weights

    return load_weights(folder / "weights.safetensors")


def _read_predictor(folder: Path) -> object:
    from parawire.latency import load_predictor

    return load_predictor(folder / "predictor.safetensors")


# (the file name a reader looks for in a folder, the reader): every file parawire reads
READERS: dict[str, tuple[str, Callable[[Path], object]]] = {
    "spec": ("arch.json", lambda d: parawire.load_spec(d / "arch.json")),
    "plan": ("plan.json", lambda d: Plan.load(d)),
    "plan or spec": ("plan.json", lambda d: load_plan_or_spec(d / "plan.json", 2)),
    "profile TOML": ("profiles.toml", _read_profile),
    "results JSON (report)": ("run.json", _read_report),
    "export manifest": ("manifest.json", _read_manifest),
    "search config": ("search-config.json", _read_search),
    "search space": ("space.json", _read_search_space),
    "data cache index": ("arrays.json", _read_cache),
    "weights header": ("weights.safetensors", _read_weights),
    "predictor file": ("predictor.safetensors", _read_predictor),
    "bounded text": ("x.txt", lambda d: _io.read_text(d / "x.txt")),
    "safetensors header": ("w.safetensors", lambda d: _io.safetensors_shapes(d / "w.safetensors")),
}


def _hostile(kind: str, path: Path) -> None:
    """Make ``path`` a link to /dev/zero, a FIFO, or a sparse file larger than any cap."""
    if kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(path)  # opening it for reading would block until a writer comes
    else:
        with path.open("wb") as f:
            f.truncate(_io.MAX_READ_BYTES + 1)  # sparse: no disk used


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "oversize"])
@pytest.mark.parametrize("reader", sorted(READERS))
def test_every_reader_refuses_endless_blocking_and_oversize_files(
    tmp_path: Path, reader: str, kind: str
) -> None:
    name, read = READERS[reader]
    _hostile(kind, tmp_path / name)
    with pytest.raises(ParawireError) as info:
        read(tmp_path)
    assert "\n" not in str(info.value)


def test_read_bounded_refuses_a_folder_and_a_link_out_of_its_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is a folder"):
        _io.read_bounded(tmp_path)
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "link.json").symlink_to(outside)
    with pytest.raises(DataError, match="leads out of"):
        _io.read_json(tmp_path / "in" / "link.json", inside=tmp_path / "in")
    assert _io.read_json(tmp_path / "in" / "link.json") == {}


@pytest.mark.parametrize(
    "read",
    [
        lambda p: parawire.load_spec(p),
        lambda p: load_plan_or_spec(p, 2),
        lambda p: _io.read_json(p),
    ],
)
def test_duplicate_json_keys_are_refused(tmp_path: Path, read) -> None:  # type: ignore[no-untyped-def]
    doc = small_spec("dp").to_json()
    file = tmp_path / "arch.json"
    file.write_text(doc.replace('"num_classes":', '"num_classes": 3, "num_classes":', 1))
    with pytest.raises(ParawireError, match="'num_classes' appears twice"):
        read(file)


def test_strict_json_writes_non_finite_numbers_as_null_with_the_reason() -> None:
    text = _io.dumps_strict({"a": math.nan, "b": [1.0, math.inf], "c": {"d": -math.inf}})
    assert json.loads(text, parse_constant=lambda c: pytest.fail(c)) == {
        "a": None,
        "b": [1.0, None],
        "c": {"d": None},
        "non_finite": {"a": "nan", "b[1]": "inf", "c.d": "-inf"},
    }
    assert _io.dumps_strict({"a": 1.5}) == '{"a": 1.5}'


def test_non_finite_logits_fail_the_check() -> None:
    import torch

    from parawire.runtime.check import compare_logits

    good = torch.zeros(4, 3)
    assert compare_logits(good, good)["top1_agreement"] == 1.0
    with pytest.raises(DataError, match="check failed: the split run's logits hold 12 NaN"):
        compare_logits(torch.full((4, 3), math.nan), torch.full((4, 3), math.nan))
    reference = good.clone()
    reference[1, 2] = math.inf
    with pytest.raises(DataError, match="one-process model's logits hold 1 NaN or infinite"):
        compare_logits(good, reference)


# --- valid specs are buildable ---------------------------------------------------------------


def _wide(channels: int) -> parawire.ArchSpec:
    """A dp spec of uniform width, then widened: valid widths (<= 65,536), unbuildable sizes."""
    from dataclasses import replace

    cfg = parawire.StagingConfig(name="uniform", channels=8, c_max=8)
    spec = parawire.generate("dp", seed=0, staging=cfg, n=8)
    nodes = tuple(replace(n, channels=channels) for n in spec.nodes)
    return replace(spec, nodes=nodes, stem=replace(spec.stem, channels=channels))


def test_a_spec_too_large_to_build_is_invalid(tmp_path: Path) -> None:
    wide = _wide(65_536)
    with pytest.raises(SpecError, match=f"over the cap of {MAX_PARAMETERS:,}") as info:
        wide.validate()
    assert "\n" not in str(info.value)
    file = tmp_path / "wide.json"
    file.write_text(wide.to_json())
    with pytest.raises(SpecError, match="over the cap"):
        parawire.load_spec(file)
    with pytest.raises(DataError, match="over the cap"):
        load_plan_or_spec(file, 2)  # run and export read a spec this way


def test_the_footprint_counts_what_the_model_allocates() -> None:
    import torch

    spec = small_spec("dp")
    model = parawire.build_model(spec)
    assert spec_footprint(spec).parameters == sum(p.numel() for p in model.parameters())
    outputs: list[int] = []
    hooks = [m.register_forward_hook(lambda m, i, o: outputs.append(o.numel()))
             for m in model.vertices.values()]  # fmt: skip
    model.eval()(torch.zeros(1, *spec.input_shape))
    for h in hooks:
        h.remove()
    assert sum(outputs) * 4 <= spec_footprint(spec).activation_bytes


def test_building_refuses_what_does_not_fit_in_free_memory(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from parawire import _memory

    monkeypatch.setattr(_memory, "available_bytes", lambda: 1000)
    with pytest.raises(ResourceError, match=r"needs about .* GiB of memory") as info:
        parawire.build_model(small_spec("dp"))
    assert "\n" not in str(info.value)


def test_edges_are_capped() -> None:
    from parawire.arch import MAX_EDGES

    data = json.loads(small_spec("dp").to_json())
    data["edges"] = [{"src": 0, "dst": 1}] * (MAX_EDGES + 1)
    with pytest.raises(SpecError, match=f"over the limit of {MAX_EDGES:,}"):
        parawire.ArchSpec.from_dict(data)


# --- plans, weights and nothing written on failure -------------------------------------------


def _plan(weights: Path | None = None) -> Plan:
    spec = small_spec("lanes", size=16)
    placement = {v: i % 2 for i, v in enumerate(spec.topological_order)}
    return Plan(spec, placement, 2, weights=weights)


def _weights(path: Path, state: dict) -> Path:  # type: ignore[type-arg]
    from safetensors.torch import save_file

    save_file(state, str(path))
    return path


def test_wrong_weights_are_refused_from_the_header_and_nothing_is_written(tmp_path: Path) -> None:
    import torch

    from parawire.cli import main

    state = seeded_state_dict(_plan().spec, 0)
    key = next(iter(state))
    wrong = _weights(tmp_path / "wrong.safetensors", {**state, key: torch.zeros(3)})
    with pytest.raises(DataError, match="do not fit the plan's spec"):
        _plan(wrong).save(tmp_path / "plan")
    assert not (tmp_path / "plan").exists()  # plan: nothing written
    good = _plan(_weights(tmp_path / "w.safetensors", state)).save(tmp_path / "plan")
    _weights(good / "weights.safetensors", {k: v for k, v in state.items() if k != key})
    with pytest.raises(DataError, match="1 tensor\\(s\\) missing"):
        Plan.load(good)
    assert main(["export", str(good), "-o", str(tmp_path / "onnx"), "--check", "0"]) == 1
    assert not (tmp_path / "onnx").exists()  # export: the same check, nothing written
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staged leftovers


def test_a_huge_declared_tensor_is_refused_before_reading(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from parawire import _memory

    monkeypatch.setattr(_memory, "available_bytes", lambda: 2**30)
    header = json.dumps(
        {"w": {"dtype": "F32", "shape": [2**20, 2**14], "data_offsets": [0, 2**36]}}
    )
    file = tmp_path / "weights.safetensors"
    with file.open("wb") as f:
        f.write(len(header).to_bytes(8, "little") + header.encode())
        f.truncate(8 + len(header) + 2**36)  # 64 GiB declared, sparse on disk
    from parawire.train.checkpoint import load_weights

    with pytest.raises(ResourceError, match=r"needs about 64\.00 GiB"):
        load_weights(file)


def test_links_out_of_the_plan_folder_are_refused(tmp_path: Path) -> None:
    state = seeded_state_dict(_plan().spec, 0)
    folder = _plan(_weights(tmp_path / "w.safetensors", state)).save(tmp_path / "plan")
    (folder / "weights.safetensors").unlink()
    (folder / "weights.safetensors").symlink_to(tmp_path / "w.safetensors")
    with pytest.raises(DataError, match="leads out of"):
        Plan.load(folder)
    (tmp_path / "elsewhere.json").write_bytes((folder / "plan.json").read_bytes())
    (folder / "plan.json").unlink()
    (folder / "plan.json").symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(DataError, match="leads out of"):
        Plan.load(folder)


def test_staged_folder_leaves_nothing_on_failure(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), _io.staged_folder(out) as stage:
        (stage / "a.onnx").write_text("half")
        raise RuntimeError("the export failed")
    assert list(tmp_path.iterdir()) == []
    with _io.staged_folder(out) as stage:
        (stage / "a.onnx").write_text("whole")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert (out / "a.onnx").read_text() == "whole"


def test_analyze_out_leaves_nothing_when_it_fails(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from parawire.cli import main

    spec = tmp_path / "arch.json"
    spec.write_text(small_spec("dp").to_json())

    def broken(self, directory):  # type: ignore[no-untyped-def]
        raise DataError("disk full")

    monkeypatch.setattr(Plan, "save", broken)
    assert main(["analyze", str(spec), "-n", "2", "--out", str(tmp_path / "an")]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arch.json"]


def test_report_writes_nothing_when_the_folder_fails(tmp_path: Path) -> None:
    from parawire.cli import main

    (tmp_path / "run.json").write_text('{"p50_s": 1, "ranks": [], "x": 1, "x": 2}')
    assert main(["report", str(tmp_path)]) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_report_does_not_follow_a_profile_out_of_its_folder(tmp_path: Path) -> None:
    from parawire.study.reporting import folder_profile as _folder_profile

    assert _folder_profile("local-cpu", tmp_path).name == "local-cpu"
    with pytest.raises(DataError, match="leads out of"):
        _folder_profile("/etc/passwd", tmp_path)
    with pytest.raises(DataError, match="leads out of"):
        _folder_profile("../x.toml", tmp_path)


# --- search stores -----------------------------------------------------------------------------


def test_a_zero_byte_store_is_refused(tmp_path: Path) -> None:
    from parawire.search.runner import _refuse_empty_store

    (tmp_path / "search.sqlite").touch()
    with pytest.raises(DataError, match="is empty \\(0 bytes\\)"):
        _refuse_empty_store(f"sqlite:///{tmp_path / 'search.sqlite'}")
    _refuse_empty_store("postgresql://host/db")  # not a file: nothing to check


def test_a_moved_search_folder_reads_its_own_store(tmp_path: Path) -> None:
    from parawire.search.runner import _folder_store

    url = _folder_store(tmp_path, "sqlite:////somewhere/else/search.sqlite")
    assert url == f"sqlite:///{(tmp_path / 'search.sqlite').resolve()}"
    assert _folder_store(tmp_path, "postgresql://h/db") == "postgresql://h/db"


def test_errors_are_one_family() -> None:
    assert issubclass(ResourceError, ParawireError) and issubclass(ResourceError, MemoryError)
    assert issubclass(ConfigError, ParawireError)
