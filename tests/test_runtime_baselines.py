"""Baselines through the distributed runtime: traced models (``cifarnet``, ``resnet20``) split
over k = 1..3 ranks give the logits of the model itself in one process (the oracle: the
baseline's own ``nn.Module`` with the same weights), every rank runs the plan's order, and
`parawire plan` + `run` work end to end; tampered plans and options that do not apply are
refused in one line.

One group of 3 spawned ranks runs every case (loopback, gloo); a case of a plan for k < 3 ranks
is skipped by the ranks beyond it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from click.testing import CliRunner
from safetensors.torch import load_file, save_file

import parawire
from conftest import run_two_workers
from parawire.cli import app, main
from parawire.errors import ConfigError, DataError
from parawire.nn import create_baseline
from parawire.nn.model_ref import ModelRef
from parawire.runtime import Plan, RankEngine, load_plan_or_spec, make_plan
from parawire.runtime.group import StoreHost, join_group, leave_group, use_loopback_for_gloo
from parawire.runtime.reference import full_model, make_image
from parawire.train.checkpoint import save_weights

WORLD = 3
TIMEOUT = 30.0


def _cases(tmp: Path) -> list[dict]:
    """Plan folders: cifarnet at k = 1, 2, 3 (batch 1 and 4, both scatter modes), resnet20 at
    k = 3 (vertices that hand on two tensors), cifarnet with trained-shape weights (1x8x8)."""
    cases = []
    for k in (1, 2, 3):
        for scatter in ("image", "stem"):
            plan = make_plan(
                "cifarnet", k, partitioner="contiguous", select="makespan", scatter=scatter, seed=5
            )
            assert plan.world == k and plan.kind == "model"
            for batch in (1, 4):
                cases.append(
                    {"id": f"cifarnet-k{k}-{scatter}-b{batch}", "plan": plan, "batch": batch}
                )
    resnet = make_plan("resnet20", 3, partitioner="contiguous", select="makespan", seed=2)
    assert any(len(resnet.graph.handed_shapes[v]) > 1 for v in resnet.graph.vertex_ids)
    cases.append({"id": "resnet20-k3-b2", "plan": resnet, "batch": 2})
    # weights as `parawire train cifarnet --dataset digits` writes them: a 1x8x8 cifarnet
    torch.manual_seed(11)
    small = create_baseline("cifarnet", in_channels=1, image_size=8)
    meta = {"model": ModelRef("cifarnet", (1, 8, 8), 10).to_dict()}
    weights = save_weights(tmp / "trained.safetensors", small, meta)
    trained = make_plan("cifarnet", 2, partitioner="contiguous", select="makespan", weights=weights)
    assert trained.model.input_shape == (1, 8, 8) and trained.weights is not None
    cases.append({"id": "cifarnet-trained-k2-b3", "plan": trained, "batch": 3})
    for case in cases:
        case["folder"] = str(case["plan"].save(tmp / case["id"]))
    return cases


def _worker(rank: int, port: int, cases_file: str, out_dir: str) -> None:
    """One rank: join once, run every case (of a plan with this rank) twice, keep the traces."""
    torch.set_num_threads(1)
    use_loopback_for_gloo()
    import torch.distributed as dist

    store = dist.TCPStore("127.0.0.1", port, is_master=False)
    join_group(store, rank, WORLD, TIMEOUT)
    results: dict[str, torch.Tensor] = {}
    orders: dict[str, list] = {}
    try:
        for case in json.loads(Path(cases_file).read_text()):
            plan = Plan.load(case["folder"])
            if rank >= plan.world:
                continue
            engine = RankEngine(plan, rank, batch=case["batch"], timeout=TIMEOUT)
            image = make_image(plan.graph.input_shape, case["batch"], seed=3) if rank == 0 else None
            for i in range(2):
                logits = engine.infer(image)
                orders[f"{case['id']}/{i}"] = [v for v, _, _ in engine.trace]
                if rank == 0:
                    results[f"{case['id']}/{i}"] = logits.clone()
            engine.close()
    finally:
        leave_group()
    (Path(out_dir) / f"orders-{rank}.json").write_text(json.dumps(orders))
    if rank == 0:
        save_file(results, str(Path(out_dir) / "logits.safetensors"))


def test_split_baselines_give_the_models_own_logits_in_the_planned_order(tmp_path: Path) -> None:
    cases = _cases(tmp_path)
    doc = [{"id": c["id"], "folder": c["folder"], "batch": c["batch"]} for c in cases]
    (tmp_path / "cases.json").write_text(json.dumps(doc))
    host = StoreHost("127.0.0.1", 0, WORLD, TIMEOUT)
    try:
        mp.start_processes(
            _worker,
            args=(host.port, str(tmp_path / "cases.json"), str(tmp_path)),
            nprocs=WORLD,
            start_method="spawn",
        )
    finally:
        host.close()
    logits = load_file(str(tmp_path / "logits.safetensors"))
    orders = [json.loads((tmp_path / f"orders-{r}.json").read_text()) for r in range(WORLD)]
    wrong, disordered = [], []
    for case in cases:
        plan = Plan.load(case["folder"])
        model = full_model(plan)  # the baseline's own module, the plan's weights
        image = make_image(plan.graph.input_shape, case["batch"], seed=3)
        with torch.inference_mode():
            reference = model(image)
        assert type(model).__name__ in ("CifarNet", "CifarResNet")
        for i in range(2):
            got = logits[f"{case['id']}/{i}"]
            if got.shape != reference.shape or not torch.allclose(got, reference, atol=1e-5):
                wrong.append(f"{case['id']} (inference {i})")
            for rank in range(plan.world):
                if orders[rank][f"{case['id']}/{i}"] != list(plan.vertices_of(rank)):
                    disordered.append(f"{case['id']} rank {rank}")
    assert not wrong, f"{len(wrong)} of {2 * len(cases)} inferences differ: {wrong}"
    assert not disordered, f"ranks left the plan's order: {disordered}"


def test_plan_and_run_commands_for_a_baseline(tmp_path: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(app, ["plan", "cifarnet", "-n", "2", "-o", str(tmp_path / "p")])
    assert made.exit_code == 0, made.output
    doc = json.loads((tmp_path / "p" / "plan.json").read_text())
    assert doc["model"] == {"name": "cifarnet", "input_shape": [3, 32, 32], "num_classes": 10}
    assert "spec" not in doc and doc["schedule"]["order"]
    args = ["run", str(tmp_path / "p"), "--runs", "2", "--warmup", "1", "--batch", "2"]
    result = runner.invoke(app, [*args, "--check", "20", "--timeout", "30", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["devices"] == doc["world"] and report["max_abs_diff"] <= 1e-5
    assert report["simulated_makespan_s"] > 0
    assert all(r["order_as_planned"] for r in report["ranks"])
    # digits test images, gray repeated on 3 channels, through the split and in one process
    assert report["check"]["images"] == 20 and report["check"]["top1_agreement"] == 1.0


def test_a_model_name_is_planned_like_a_spec() -> None:
    plan = load_plan_or_spec("cifarnet", 2, select="makespan", partitioner="contiguous")
    assert plan.kind == "model" and plan.world == 2 and plan.placement[plan.graph.input_vertex] == 0
    with pytest.raises(ConfigError, match="needs --devices"):
        load_plan_or_spec("cifarnet", None)
    # the traced cost graph is analyze's: the same vertices and edges
    from parawire.analysis.api import resolve_graph

    assert plan.graph.costs().edges == resolve_graph("cifarnet").edges


def test_emulation_pads_and_times_every_traced_vertex() -> None:
    from parawire.runtime.dilation import auto_dilation, vertex_seconds_here
    from parawire.runtime.options import emulation_pads
    from parawire.runtime.reference import padded_forward, plan_model, plan_state

    plan = make_plan("cifarnet", 2, partitioner="contiguous", select="makespan")
    pads = emulation_pads(plan, "rpi4-ethernet", 2)
    assert set(pads) == set(plan.graph.vertex_ids) and all(t >= 0 for t in pads.values())
    assert set(vertex_seconds_here(plan, 2, repeats=1)) == set(pads)
    assert auto_dilation(plan, "rpi4-ethernet", cores=2) >= 1.0
    # the one-device baseline of emulation: the ranks' modules in one process, padded
    state = plan_state(plan)
    image = make_image(plan.graph.input_shape, 2, seed=1)
    with torch.inference_mode():
        want = full_model(plan, state)(image)
        got = padded_forward(plan_model(plan, state), image, dict.fromkeys(pads, 0.0))
    assert torch.equal(got, want)


def test_analyze_writes_the_plan_of_a_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["analyze", "cifarnet", "-n", "3", "--select", "makespan", "--profile", "rpi4-wifi"]
    assert main([*args, "--json", "-o", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    plan = Plan.load(tmp_path / "plan")  # the analysed deployment, runnable by `run`
    assert plan.kind == "model" and plan.world == data["devices_used"]
    assert plan.info["simulated_makespan_s"] == data["makespan_s"]
    assert plan.schedule["makespan_s"] == pytest.approx(data["makespan_s"])
    # the folder still reports (a traced plan has no spec to draw)
    assert main(["report", str(tmp_path), "--figures", str(tmp_path / "f")]) == 0
    assert "Analysis" in (tmp_path / "report.html").read_text()


def _edit(folder: Path, **changes) -> Path:  # type: ignore[no-untyped-def]
    data = json.loads((folder / "plan.json").read_text())
    data["model"].update(changes)
    (folder / "plan.json").write_text(json.dumps(data))
    return folder


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"name": "resnet20"}, "has no rank"),  # another model: the placement no longer fits
        ({"name": "torchvision:nope"}, "unknown torchvision"),
        ({"name": ["cifarnet"]}, "model name must be a short string"),
        ({"input_shape": [3, 10**9, 32]}, "input_shape must be 3 integers"),
        ({"num_classes": 2.5}, "num_classes must be an integer"),
        ({"spec": parawire.generate("ws", seed=0, n=6, k=2).to_dict()}, "not a spec"),
    ],
)
def test_a_tampered_model_plan_is_refused_in_one_line(
    tmp_path: Path, changes: dict, words: str
) -> None:
    plan = make_plan("cifarnet", 2, partitioner="contiguous", select="makespan")
    folder = _edit(plan.save(tmp_path / "p"), **changes)
    with pytest.raises((ConfigError, DataError), match=words) as info:
        Plan.load(folder)
    assert "\n" not in str(info.value)


def test_ranks_with_other_models_or_weights_disagree_on_the_digest(tmp_path: Path) -> None:
    plan = make_plan("cifarnet", 2, partitioner="contiguous", select="makespan")
    same = Plan.load(plan.save(tmp_path / "a"))
    assert same.digest() == plan.digest()
    other_classes = _edit(plan.save(tmp_path / "b"), num_classes=7)
    assert Plan.load(other_classes).digest() != plan.digest()
    import dataclasses

    assert dataclasses.replace(plan, seed=1).digest() != plan.digest()
    # weights of another network are refused when the run starts, in one line
    torch.manual_seed(0)
    save_weights(tmp_path / "w.safetensors", create_baseline("resnet20"))
    bad = dataclasses.replace(plan, weights=tmp_path / "w.safetensors")
    from parawire.runtime.reference import plan_state

    with pytest.raises(DataError, match="do not fit the plan's model"):
        plan_state(bad)
    meta = {"model": ModelRef.named("resnet20").to_dict()}
    save_weights(tmp_path / "r.safetensors", create_baseline("resnet20"), meta)
    with pytest.raises(ConfigError, match="holds weights of 'resnet20'"):
        make_plan("cifarnet", 2, weights=tmp_path / "r.safetensors")


def test_onnx_export_of_a_traced_model_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["export", "cifarnet", "-n", "2", "--format", "onnx", "-o", str(tmp_path / "x")]
    assert main(args) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "ONNX export needs a generated spec" in lines[0], lines


@pytest.mark.slow  # two `parawire worker` processes: about 30 s on a busy 2-core machine
def test_worker_command_runs_a_baseline_plan_on_loopback(tmp_path: Path) -> None:
    make_plan("cifarnet", 2, partitioner="contiguous", select="makespan").save(tmp_path)
    report = run_two_workers(tmp_path)
    assert report["world"] == 2 and report["max_abs_diff"] <= 1e-5


@pytest.mark.slow  # torchvision's ResNet-18 at 224x224 on 2 spawned ranks: about 40 s
def test_a_torchvision_model_runs_split(tmp_path: Path) -> None:
    args = ["run", "torchvision:resnet18", "-n", "2", "--select", "makespan", "--runs", "1"]
    result = CliRunner().invoke(app, [*args, "--warmup", "0", "--check", "0", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["devices"] == 2 and report["max_abs_diff"] <= 1e-5
    assert all(r["order_as_planned"] for r in report["ranks"])
