"""The fast training path: compiled steps against eager ones, an epoch's draws made up front,
compilation choices and their errors, subsets on every command; GPU-only checks marked `gpu`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

import parawire
from parawire.arch import StagingConfig
from parawire.cli import main
from parawire.data import Augment, Normalize, load_dataset, make_batches, random_crop_flip
from parawire.data.batches import epoch_generator
from parawire.errors import ConfigError
from parawire.nn.model_ref import ModelRef
from parawire.study import StudyConfig, run_study
from parawire.study.packing import UtilisationSampler, networks_per_device
from parawire.train import Trainer, create_recipe
from parawire.train import steps as steps_module
from parawire.train.steps import Compilation, Steps, Tally, choose_compilation, compile_unavailable

CPU = torch.device("cpu")


def small_spec(size: int = 16) -> parawire.ArchSpec:
    return parawire.generate(
        "dp",
        seed=0,
        staging=StagingConfig("probabilistic", channels=8, c_max=32),
        input_shape=(3, size, size),
        num_classes=10,
        n=6,
    )


@pytest.fixture(scope="module")
def small_data():
    return load_dataset("synthetic", num_train=64, num_test=32, image_size=16)


def train_pair(data, **compiled: object) -> tuple[Trainer, Trainer]:
    """The same network, seed and recipe trained two epochs eagerly and compiled."""
    recipe = create_recipe("modern", batch_size=16)
    out = []
    for kw in ({"compile": False}, {"compile": True, **compiled}):
        trainer = Trainer(ModelRef.from_spec(small_spec()), data, recipe, epochs=2, **kw)
        trainer.fit()
        out.append(trainer)
    return out[0], out[1]


def assert_same_training(eager: Trainer, compiled: Trainer, tol: float, weight_tol: float) -> None:
    for a, b in zip(eager.result.history, compiled.result.history, strict=True):
        assert b.train_loss == pytest.approx(a.train_loss, abs=tol)
        assert b.test_loss == pytest.approx(a.test_loss, abs=tol)
    for (name, a), b in zip(
        eager.model.state_dict().items(), compiled.model.state_dict().values(), strict=True
    ):
        assert torch.allclose(a.float(), b.float(), atol=weight_tol, rtol=weight_tol), name


def test_compiled_step_equals_eager_through_dynamo_and_aot_autograd(small_data) -> None:
    """The compiled path's plumbing (graph capture, AOT autograd, step markers, the tally)
    without a C compiler: the aot_eager backend runs the captured graphs with eager kernels."""
    eager, compiled = train_pair(small_data, compile_backend="aot_eager")
    assert compiled.compilation == Compilation("default", "aot_eager")
    assert compiled.result.compiled == "compiled (default, aot_eager)"
    assert eager.result.compiled == "eager"
    assert_same_training(eager, compiled, 1e-5, 1e-5)
    assert compiled.result.images_per_epoch == 64 and compiled.result.images_per_s > 0


@pytest.mark.slow  # inductor builds C++ kernels: 10 s with a warm cache, 1-3 min cold, 2 cores
def test_compiled_step_equals_eager_with_inductor_on_the_cpu(small_data) -> None:
    reason = compile_unavailable(CPU)
    if reason is not None:
        pytest.skip(reason)
    eager, compiled = train_pair(small_data)
    assert compiled.compilation == Compilation("default", "inductor")
    # fused kernels sum in another order; 8 steps at lr 0.1 grow that to about 1e-3 in weights
    assert_same_training(eager, compiled, 2e-3, 1e-2)


def test_compilation_choices_and_errors(monkeypatch) -> None:
    assert choose_compilation(None, CPU) == Compilation()  # eager by default on a CPU
    assert choose_compilation(False, CPU) == Compilation()
    assert choose_compilation(True, CPU, backend="aot_eager").mode == "default"
    with pytest.raises(ConfigError, match="unknown compile mode 'fastest'"):
        choose_compilation(True, CPU, mode="fastest")
    with pytest.raises(ConfigError, match="unknown compile backend"):
        choose_compilation(True, CPU, backend="tvm")
    monkeypatch.setattr(steps_module.shutil, "which", lambda _name: None)
    assert "needs a C compiler" in str(compile_unavailable(CPU))
    with pytest.raises(ConfigError, match=r"C compiler .*--no-compile"):
        choose_compilation(True, CPU)


def test_cli_train_without_a_c_compiler_is_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(steps_module.shutil, "which", lambda _name: None)
    args = ["train", "cifarnet", "--compile", "--epochs", "1", "--out", str(tmp_path / "r")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "needs a C compiler" in err and len(err.strip().splitlines()) == 1


def test_an_epoch_drawn_up_front_equals_batch_by_batch_draws() -> None:
    """Oracle: the batch-by-batch loop (permutation, then each batch's crop and flip drawn from
    the same generator) that the up-front draws replace."""
    data = load_dataset("synthetic", num_train=70, num_test=10, image_size=16)
    train, _ = make_batches(data, batch_size=16, device=CPU)
    g = epoch_generator(5, 3)
    order = torch.randperm(70, generator=g)
    norm = Normalize(*data.channel_stats(), CPU)
    augment = Augment.for_size(16)
    batches = list(train.epoch(5, 3))
    assert len(batches) == 4  # the partial fifth batch is dropped
    for i, (x, y) in enumerate(batches):
        idx = order[i * 16 : (i + 1) * 16]
        expected = norm(random_crop_flip(data.train_images[idx], augment, g))
        assert torch.equal(x, expected) and torch.equal(y, data.train_labels[idx])
    small = load_dataset("synthetic", num_train=10, num_test=4, image_size=16)
    (x, _), *rest = make_batches(small, batch_size=16, device=CPU)[0].epoch(0, 0)
    assert not rest and x.shape == (10, 3, 16, 16)  # fewer images than one batch: one batch


def test_tally_sums_on_the_device_and_reads_once() -> None:
    tally = Tally(CPU)
    tally.add(torch.tensor(6.0), torch.tensor(3), 4)
    tally.add(torch.tensor(2.0), torch.tensor(1), 4)
    assert tally.read() == (1.0, 50.0)


def test_evaluation_only_steps_refuse_to_train() -> None:
    steps = Steps(torch.nn.Linear(2, 2), None, 0.0, CPU, Compilation())
    with pytest.raises(TypeError, match="without an optimiser"):
        steps.train(torch.zeros(1, 2), torch.zeros(1, dtype=torch.int64), Tally(CPU))


def test_packing_on_a_cpu_and_utilisation_not_measured() -> None:
    assert networks_per_device("cpu", 10).workers == 1
    assert networks_per_device("cpu", 10, requested=3).workers == 3
    assert networks_per_device("cpu", 2, requested=3).workers == 2  # never more than the jobs
    with UtilisationSampler("cpu") as sampler:
        pass
    assert sampler.summary() == {"note": "not measured: training ran on cpu, not a GPU"}


def test_subsets_on_train_eval_and_resume(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    subset = "train_subset=200,test_subset=50"
    args = ["train", "cifarnet", "--dataset", "digits", "--epochs", "1", "--out", str(out),
            "--dataset-option", subset, "--batch-size", "32"]  # fmt: skip
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["compiled"] == "eager" and metrics["images_per_s"] > 0
    assert metrics["history"][0]["epoch"] == 1
    assert json.loads((out / "checkpoint.json").read_text())["images"] == [200, 50]
    evaluated = ["eval", "cifarnet", "--weights", str(out), "--dataset", "digits",
                 "--dataset-option", "test_subset=50"]  # fmt: skip
    assert main(evaluated) == 0
    assert "top-1" in capsys.readouterr().out
    other = [*args[:-4], "--dataset-option", "train_subset=300,test_subset=50", "--resume",
             "--batch-size", "32"]  # fmt: skip
    assert main(other) == 1
    assert "images=[200, 50]" in capsys.readouterr().err
    assert main([*args[:8], "--dataset-option", "train_subset=x"]) == 1
    assert "must read KEY=INTEGER" in capsys.readouterr().err
    assert main([*args[:8], "--dataset-option", "test_subset=5,test_subset=6"]) == 1
    assert "given twice" in capsys.readouterr().err


def test_study_on_a_subset_records_it_and_refuses_another(tmp_path: Path) -> None:
    cfg = StudyConfig(dataset="digits", dataset_options=(("train_subset", 64), ("test_subset", 32)),
                      samples=1, epochs=1, generators=("chain",), baselines=(),
                      staging_generators=(), uniform_generator="", vertices=4, channels=4,
                      c_max=8, param_samples=0, batch_size=32)  # fmt: skip
    outcome = run_study(cfg, tmp_path)
    (row,) = outcome.rows
    assert row["images_per_s"] > 0 and row["compiled"] == "eager"
    assert outcome.gpu["workers"] == 1 and "not a GPU" in outcome.gpu["note"]
    assert "Training: 1 network(s) at once" in (tmp_path / "tables.md").read_text()
    metrics = json.loads(
        (tmp_path / "runs" / row["job"].replace("/", "-") / "metrics.json").read_text()
    )
    assert metrics["images_per_s"] == row["images_per_s"]
    with pytest.raises(parawire.errors.DataError, match="dataset_options"):
        run_study(dataclasses.replace(cfg, dataset_options=()), tmp_path)


# --- on a GPU (run by benchmarks/gpu_study.py --gpu-tests) ------------------------------------


@pytest.mark.gpu
def test_gpu_compiled_epoch_never_waits_for_the_device_and_matches_eager() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    data = load_dataset("synthetic", num_train=2048, num_test=512, image_size=32)
    spec = small_spec(32)
    recipe = create_recipe("modern", batch_size=128)
    results = {}
    for compile in (False, True):
        trainer = Trainer(ModelRef.from_spec(spec), data, recipe, epochs=3, compile=compile)
        trainer.fit()
        results[compile] = trainer.result
        if compile:  # a further epoch, compiled and warm: any host sync raises
            assert trainer.compilation.cuda_graphs
            trainer.model.train()
            tally = Tally(trainer.device)
            batches = trainer.train_batches.epoch(trainer.seed, 99)
            torch.cuda.synchronize()
            torch.cuda.set_sync_debug_mode("error")
            try:
                for x, y in batches:
                    trainer.steps.train(x, y, tally)
            finally:
                torch.cuda.set_sync_debug_mode("default")
            assert torch.isfinite(tally.loss)
    eager, compiled = results[False], results[True]
    assert compiled.history[-1].train_loss == pytest.approx(eager.history[-1].train_loss, abs=0.1)
    assert compiled.device.startswith("cuda") and compiled.compiled.startswith("compiled")


@pytest.mark.gpu
def test_gpu_packing_and_utilisation() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    packing = networks_per_device(None, 100)
    assert packing.workers >= 1 and "limited by" in packing.reason
    with UtilisationSampler(None, period_s=0.2) as sampler:
        x = torch.randn(4096, 4096, device="cuda")
        for _ in range(200):
            x = (x @ x).clamp(-1, 1)
        torch.cuda.synchronize()
    summary = sampler.summary()
    assert "mean_pct" in summary or "pynvml" in summary["note"]


# --- benchmarks/gpu_study.py ------------------------------------------------------------------


def _gpu_study():
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_study.py"
    spec = importlib.util.spec_from_file_location("gpu_study", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_study_config_round_trips_and_checks() -> None:
    gs = _gpu_study()
    args = gs.main.__globals__["argparse"].Namespace(
        self_check=False, data="x.tar.gz", samples=3, epochs=40, param_samples=1000, workers=0,
        compile_mode=None,
    )  # fmt: skip
    cfg = gs.study_config(args)
    assert gs.config_from_json(gs.config_to_json(cfg)) == cfg
    assert cfg.generators == ("er", "ba", "ws", "dp", "ws:fb") and cfg.epochs == 40
    jobs = parawire.study.plan_jobs(cfg, 32)
    assert len(jobs) == 15 + 2 + 3 + 3  # generators, baselines, greedy dp, uniform dp
    dp = {"kind": "generator", "group": "dp", "test_acc": 91.0, "params": 2e6, "speedup": 1.5,
          "devices_used": 3}  # fmt: skip
    rows = [dp, {"kind": "baseline", "group": "resnet20", "test_acc": 92.0, "params": 2.7e5}]
    line = gs.best_dp_line(rows, 4)
    assert "ResNet-20 92.00%" in line and "best dp 91.00%" in line and "1.50x, 3 used" in line
    assert "under a third" in line


@pytest.mark.slow  # a study of 4 tiny networks in a child process: about 30 s of CPU
def test_gpu_study_self_check_runs_on_the_cpu(tmp_path: Path, capsys) -> None:
    gs = _gpu_study()
    assert gs.main(["--self-check", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "4 of 4 networks finished" in out and "Flower-102 images are not reachable" in out
    assert "paper dp: 80.87" in out and "Table IV" in out and "best dp" in out
