"""ONNX export: the pieces run in ONNX Runtime, in the manifest's order and passing tensors as
the manifest says, give PyTorch's logits (the oracle: ``emulate_wire``, the runtime's codec in
one process); every generator at k = 1, 2, 3 in both merge modes (a representative subset by
default, the full grid under ``-m slow``); placements that need several steps per device; every
exportable wire dtype; the manifest's rules; the docs' snippet; the CLI; one-line errors.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from safetensors.torch import save_file

from conftest import GENERATORS, small_spec
from parawire.arch import ArchSpec
from parawire.cli import main
from parawire.errors import ConfigError, DataError
from parawire.export import (
    ExportError,
    check_manifest,
    export_onnx,
    load_manifest,
    reference_logits,
    run_export,
    split_steps,
)
from parawire.nn import build_model
from parawire.runtime.plan import Plan, seeded_state_dict
from parawire.runtime.planner import input_first, make_plan

SIZE = 16  # image side of the test specs: 12 vertices, 8 channels
DOCS = Path(__file__).resolve().parents[1] / "docs" / "export.md"
NAME = re.compile(r"^(image|logits|(image|v\d+)_(to_d\d+|from_d\d+|kept)(_scale)?)$")


def _image(spec: ArchSpec, batch: int = 2, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, *spec.input_shape, generator=generator)


def _planned(gen: str, k: int, merge: str, **choice: object) -> Plan:
    """The plan `parawire plan` makes on exactly k devices (kahypar's fastest balance)."""
    spec = small_spec(gen, size=SIZE, merge=merge)
    if k == 1:
        return make_plan(spec, 1, **choice)
    return make_plan(spec, k, select="makespan", partitioner="kahypar", eps=[0.1], **choice)


def _round_robin(gen: str, k: int = 3, **options: object) -> Plan:
    """Vertices dealt to k devices in topological order: many ping-pongs, so many steps."""
    spec = small_spec(gen, size=SIZE, merge="maps")
    placement = {v: i % k for i, v in enumerate(spec.topological_order)}
    return Plan(spec, input_first(placement, spec), k, **options)


def _assert_round_trip(plan: Plan, folder: Path, batch: int = 2) -> dict:
    """Export, check the files against the manifest, and compare the logits with PyTorch."""
    result = export_onnx(plan, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest == result.manifest
    check_manifest(manifest)
    for step in manifest["steps"]:
        model = onnx.load(str(folder / step["file"]))
        onnx.checker.check_model(model, full_check=True)
        assert [i.name for i in model.graph.input] == [p["name"] for p in step["inputs"]]
        assert [o.name for o in model.graph.output] == [p["name"] for p in step["outputs"]]
        assert all(NAME.match(p["name"]) for p in step["inputs"] + step["outputs"])
    image = _image(plan.spec, batch)
    got = torch.from_numpy(run_export(folder, image.numpy()))
    want = reference_logits(plan, image)
    assert got.shape == (batch, plan.spec.num_classes)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    return manifest


# --- the round trip: every generator, k = 1, 2, 3, both merge modes ---------------------------

GRID = [(g, k, m) for g in GENERATORS for k in (1, 2, 3) for m in ("maps", "pooled")]
# default suite: each generator once, each k and each merge mode several times
SUBSET = [(g, 1 + i % 3, ("maps", "pooled")[i % 2]) for i, g in enumerate(GENERATORS)]


def _grid_params(cases: list[tuple[str, int, str]], slow: bool) -> list:
    marks = [pytest.mark.slow] if slow else []
    return [pytest.param(*c, id="-".join(map(str, c)), marks=marks) for c in cases]


@pytest.mark.parametrize(
    ("gen", "k", "merge"),
    _grid_params(SUBSET, slow=False) + _grid_params([c for c in GRID if c not in SUBSET], True),
)
def test_pieces_give_pytorch_logits(gen: str, k: int, merge: str, tmp_path: Path) -> None:
    plan = _planned(gen, k, merge)
    assert plan.world == k  # the test exercises k devices, not fewer
    manifest = _assert_round_trip(plan, tmp_path)
    assert manifest["devices"] == k and manifest["merge"] == merge
    assert {s["device"] for s in manifest["steps"]} <= set(range(k))


@pytest.mark.parametrize(
    ("gen", "scatter"),
    [("er", "image"), *(pytest.param(*c, marks=pytest.mark.slow) for c in
                        [("er", "stem"), ("ba", "image"), ("ba", "stem")])],
)  # fmt: skip
def test_placements_that_need_several_steps(gen: str, scatter: str, tmp_path: Path) -> None:
    plan = _round_robin(gen, scatter=scatter)
    manifest = _assert_round_trip(plan, tmp_path)
    counts = [sum(s["device"] == d for s in manifest["steps"]) for d in range(3)]
    assert max(counts) > 1  # a device waits for a tensor that depends on its own output
    multi = [s for s in manifest["steps"] if counts[s["device"]] > 1]
    assert all(re.fullmatch(r"device\d-step\d+\.onnx", s["file"]) for s in multi)


@pytest.mark.parametrize("wire", [pytest.param("float16", marks=pytest.mark.slow), "int8"])
def test_wire_dtype_is_inside_the_models(wire: str, tmp_path: Path) -> None:
    plan = _round_robin("dp", wire_dtype=wire)
    manifest = _assert_round_trip(plan, tmp_path, batch=3)  # traced with 2: batch is dynamic
    plain = build_model(plan.spec)
    plain.load_state_dict(seeded_state_dict(plan.spec, plan.seed))
    image = _image(plan.spec, 3)
    exact = plain.eval()(image).detach()
    assert not torch.equal(reference_logits(plan, image), exact)  # the codec changed the logits
    elem = {"float16": np.float16, "int8": np.int8}[wire]
    kinds = {  # (device, output name) -> the ONNX type ONNX Runtime reports
        (s["device"], o.name): o.type
        for s in manifest["steps"]
        for o in ort.InferenceSession(str(tmp_path / s["file"])).get_outputs()
    }
    for t in manifest["transfers"]:
        assert t["dtype"] == ("float32" if t["part"] == "scale" else wire)
        want = "tensor(float)" if t["part"] == "scale" else f"tensor({np.dtype(elem).name})"
        assert kinds[(t["from"], t["output"])] == want
        numel = int(np.prod(t["shape"][1:]))
        assert t["bytes_per_image"] == (4 if t["part"] == "scale" else numel * elem().itemsize)


def test_dynamo_needs_opset_18_and_gets_it_by_default(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="opset 18 or later, not 17"):
        export_onnx(_round_robin("dp"), tmp_path, exporter="dynamo", opset=17)


def test_bfloat16_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="bfloat16 cannot be exported") as info:
        export_onnx(_round_robin("dp", wire_dtype="bfloat16"), tmp_path)
    assert "\n" not in str(info.value)


# --- the whole model ---------------------------------------------------------------------------


def test_whole_model_is_one_model_with_the_plans_weights(tmp_path: Path) -> None:
    plan = _planned("dp", 3, "pooled")
    result = export_onnx(plan, tmp_path, whole=True)
    assert result.files == ("model.onnx",) and result.manifest["whole"]
    assert result.manifest["transfers"] == []
    session = ort.InferenceSession(str(tmp_path / "model.onnx"))
    assert [i.name for i in session.get_inputs()] == ["image"]
    assert [o.name for o in session.get_outputs()] == ["logits"]
    model = build_model(plan.spec)
    model.load_state_dict(seeded_state_dict(plan.spec, plan.seed))
    image = _image(plan.spec, 4)
    got = torch.from_numpy(session.run(["logits"], {"image": image.numpy()})[0])
    torch.testing.assert_close(got, model.eval()(image).detach(), rtol=1e-5, atol=1e-5)


def test_trained_weights_travel_from_the_plans_weights_file(tmp_path: Path) -> None:
    spec = small_spec("ws", size=SIZE, merge="pooled")
    generator = torch.Generator().manual_seed(1)
    state = {
        k: t + 0.1 * torch.randn(t.shape, generator=generator) if t.is_floating_point() else t
        for k, t in seeded_state_dict(spec, 0).items()
    }
    weights = tmp_path / "w.safetensors"
    save_file(state, str(weights))
    placement = {v: i % 2 for i, v in enumerate(spec.topological_order)}
    plan = Plan(spec, input_first(placement, spec), 2, weights=weights)
    _assert_round_trip(plan, tmp_path / "out")
    model = build_model(spec)
    model.load_state_dict(state)
    image = _image(spec)
    got = torch.from_numpy(run_export(tmp_path / "out", image.numpy()))
    torch.testing.assert_close(got, model.eval()(image).detach(), rtol=1e-5, atol=1e-5)


# --- the manifest's rules ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-device export with steps that keep tensors for later ones, int8 on the wire."""
    folder = tmp_path_factory.mktemp("export")
    export_onnx(_round_robin("ba", wire_dtype="int8"), folder)
    return folder


def _producers(manifest: dict) -> dict[tuple[int, str], int]:
    """(device, input) -> how many producers it has, counted from the manifest by hand."""
    count: dict[tuple[int, str], int] = {}
    made = {(s["device"], p["name"]) for s in manifest["steps"] for p in s["outputs"]}
    for s in manifest["steps"]:
        for p in s["inputs"]:
            key = (s["device"], p["name"])
            if p["kind"] == "image":
                count[key] = 1
            elif p["kind"] == "kept":
                count[key] = int(key in made)
            else:
                count[key] = sum(
                    (t["to"], t["input"]) == key and (t["from"], t["output"]) in made
                    for t in manifest["transfers"]
                )
    return count


def test_every_input_has_exactly_one_producer_and_order_respects_it(exported: Path) -> None:
    manifest = load_manifest(exported)
    assert set(_producers(manifest).values()) == {1}
    position = {tuple(k): i for i, k in enumerate(manifest["order"])}
    step_of = {(s["device"], p["name"]): (s["device"], s["index"]) for s in manifest["steps"]
               for p in s["outputs"]}  # fmt: skip
    route = {(t["to"], t["input"]): (t["from"], t["output"]) for t in manifest["transfers"]}
    for s in manifest["steps"]:
        here = position[(s["device"], s["index"])]
        for p in s["inputs"]:
            if p["kind"] == "image":
                continue
            key = (s["device"], p["name"])
            assert position[step_of[route.get(key, key)]] < here
    # the plan's own order: each step's vertices appear in the device's order
    for s in manifest["steps"]:
        order = manifest["plan"]["vertices_of"][str(s["device"])]
        assert s["vertices"] == [v for v in order if v in s["vertices"]]


def _broken(manifest: dict, how: str) -> dict:
    doc = json.loads(json.dumps(manifest))
    if how == "order-reversed":
        doc["order"] = doc["order"][::-1]
    elif how == "step-missing-from-order":
        doc["order"] = doc["order"][1:]
    elif how == "transfer-dropped":
        doc["transfers"] = doc["transfers"][1:]
    elif how == "transfer-doubled":
        doc["transfers"] = doc["transfers"] + doc["transfers"][:1]
    elif how == "kept-not-made":
        for s in doc["steps"]:
            s["outputs"] = [p for p in s["outputs"] if p["kind"] != "kept"]
    elif how == "no-logits":
        for s in doc["steps"]:
            s["outputs"] = [p for p in s["outputs"] if p["kind"] != "logits"]
    return doc


@pytest.mark.parametrize(
    "how",
    [
        "order-reversed",
        "step-missing-from-order",
        "transfer-dropped",
        "transfer-doubled",
        "kept-not-made",
        "no-logits",
    ],
)
def test_a_broken_manifest_is_refused(exported: Path, how: str) -> None:
    manifest = load_manifest(exported)
    assert any(p["kind"] == "kept" for s in manifest["steps"] for p in s["outputs"])
    with pytest.raises(DataError) as info:
        check_manifest(_broken(manifest, how))
    assert "\n" not in str(info.value)


def test_steps_are_cut_only_where_a_device_would_wait_for_itself() -> None:
    """A chain cut in thirds: devices 0, 1, 1 run one model each; devices 0, 1, 0 make
    device 0 wait for device 1, which waits for device 0: two steps there, cut at the return."""
    spec = small_spec("chain", size=SIZE)
    order = spec.topological_order
    third = len(order) // 3
    parts = [order[:third], order[third : 2 * third], order[2 * third :]]
    for devices, want in (((0, 1, 1), [[parts[0]], [parts[1] + parts[2]]]),
                          ((0, 1, 0), [[parts[0], parts[2]], [parts[1]]])):  # fmt: skip
        placement = {v: d for d, part in zip(devices, parts, strict=True) for v in part}
        steps, order_ = split_steps(Plan(spec, placement, 2, scatter="stem"))
        got = [[s.vertices for s in steps if s.device == d] for d in (0, 1)]
        got[0] = [tuple(v for v in vs if v >= 0) for vs in got[0]]  # without the image
        assert got == [[tuple(p) for p in d] for d in want]
        assert sorted((s.device, s.index) for s in steps) == sorted(order_)


# --- errors ------------------------------------------------------------------------------------


def test_a_vertex_that_cannot_be_exported_is_named(tmp_path: Path) -> None:
    """ONNX opset 6 has no broadcasting Mul: a sepconv3x3 vertex's sigmoid-weighted sum of
    its inputs fails ONNX's shape inference; the stem (no aggregation) exports."""
    plan = _planned("dp", 2, "pooled")
    with pytest.raises(ExportError) as info:
        export_onnx(plan, tmp_path, opset=6)
    message = str(info.value)
    named = re.match(r"vertex (\d+) \(sepconv3x3, on device (\d+)\) cannot be exported", message)
    assert named, message
    vertex, device = map(int, named.groups())
    assert plan.spec.node_map[vertex].op == "sepconv3x3" and plan.runs_on(vertex, device)
    assert "opset 6" in message and "--opset 17" in message and "\n" not in message
    assert not (tmp_path / "manifest.json").exists()


def test_an_int8_encoding_older_opsets_lack_is_named(tmp_path: Path) -> None:
    plan = _round_robin("dp", wire_dtype="int8")
    with pytest.raises(
        ExportError, match=r"^the int8 wire encoding of (vertex \d+|the image) .*aten::round"
    ):
        export_onnx(plan, tmp_path, opset=10)


def test_cli_error_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "arch.json"
    small_spec("dp", size=SIZE).save(spec)
    argv = ["export", str(spec), "-n", "2", "--opset", "6", "-o", str(tmp_path / "out")]
    assert main(argv) == 1
    # progress lines (one per phase off a terminal) come first; the error is one line
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("parawire: error: vertex ")
    assert all(line.startswith("export: ") for line in lines[:-1]), lines


# --- the CLI and the docs ----------------------------------------------------------------------


def test_cli_exports_a_spec_and_a_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "arch.json"
    small_spec("lanes", size=SIZE, merge="pooled").save(spec)
    plan_dir = tmp_path / "plan"
    argv = ["plan", str(spec), "-n", "3", "--select", "makespan", "--partitioner", "kahypar"]
    assert main([*argv, "-o", str(plan_dir)]) == 0
    assert main(["export", str(plan_dir), "--format", "onnx", "-o", str(tmp_path / "p")]) == 0
    err = capsys.readouterr().err
    assert "max |diff|" in err and "3 device(s)" in err
    manifest = load_manifest(tmp_path / "p")
    plan = Plan.load(plan_dir)
    assert manifest["plan"]["placement"] == {str(v): r for v, r in plan.placement.items()}
    assert manifest["plan"]["vertices_of"] == {
        str(r): list(plan.vertices_of(r)) for r in range(plan.world)
    }
    for source, folder in ((spec, "w"), (plan_dir, "wp")):
        assert main(["export", str(source), "--whole", "-o", str(tmp_path / folder)]) == 0
        names = sorted(p.name for p in (tmp_path / folder).iterdir())
        assert names == ["manifest.json", "model.onnx"]


def _docs_snippets() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)
    assert len(blocks) == 2, "docs/export.md: the device loop and the one-machine try-out"
    return blocks


def test_the_docs_snippet_runs_the_devices_in_threads(exported: Path) -> None:
    """docs/export.md's code, as written, with one thread per device and queues as links."""
    manifest = load_manifest(exported)
    image = np.random.default_rng(0).random(manifest["image"]["shape"][1:], np.float32)[None]
    namespace: dict = {"folder": str(exported), "image": image}
    for block in _docs_snippets():
        exec(compile(block, str(DOCS), "exec"), namespace)  # our own docs
    assert set(namespace["results"]) == set(range(manifest["devices"]))
    want = run_export(exported, image)
    np.testing.assert_array_equal(namespace["logits"], want)


@pytest.mark.slow
def test_dynamo_exporter_gives_the_same_logits(tmp_path: Path) -> None:
    plan = dataclasses.replace(_planned("dp", 2, "pooled"), wire_dtype="int8")
    result = export_onnx(plan, tmp_path, exporter="dynamo")  # opset 18 by default
    image = _image(plan.spec, batch=3)  # traced with 2: the batch is dynamic
    got = torch.from_numpy(run_export(tmp_path, image.numpy()))
    torch.testing.assert_close(got, reference_logits(plan, image), rtol=1e-5, atol=1e-5)
    assert result.manifest["exporter"] == "dynamo" and result.manifest["opset"] == 18
