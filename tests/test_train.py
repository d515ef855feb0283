"""Training: recipes, learning on digits, exact kill-and-resume, checkpoint errors, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import parawire
from parawire.arch import StagingConfig
from parawire.cli import main
from parawire.data import load_dataset
from parawire.errors import ConfigError, DataError, TrainingError
from parawire.nn.model_ref import ModelRef
from parawire.train import (
    Trainer,
    create_recipe,
    load_checkpoint,
    load_weights,
    pick_device,
    schedule_at,
    train_model,
)
from parawire.train.checkpoint import CHECKPOINT_FILE
from parawire.train.recipes import fit_batch_size
from parawire.weights import signed


def tiny_spec(classes: int = 10, size: int = 16, n: int = 6) -> parawire.ArchSpec:
    return parawire.generate(
        "ws",
        seed=1,
        staging=StagingConfig("fb", channels=8, c_max=32, fb_stages=2),
        input_shape=(3, size, size),
        num_classes=classes,
        n=n,
        k=2,
    )


@pytest.fixture(scope="module")
def tiny_data():
    return load_dataset("synthetic", num_train=48, num_test=16, image_size=16)


def test_schedule_warmup_cosine_and_switch() -> None:
    r = create_recipe("modern", warmup_epochs=1.0, lr=0.1)
    assert schedule_at(r, 0, 10, 10)[0] == pytest.approx(0.01)  # first warm-up step
    assert schedule_at(r, 9, 10, 10)[0] == pytest.approx(0.1)  # end of warm-up
    assert schedule_at(r, 10, 10, 10)[0] == pytest.approx(0.1)  # cosine starts at the peak
    assert schedule_at(r, 55, 10, 10)[0] == pytest.approx(0.05)  # half way down
    paper = create_recipe("paper-flowers")
    assert schedule_at(paper, 99 * 5, 5, 300) == (1e-3, 0.9)
    assert schedule_at(paper, 100 * 5, 5, 300) == (5e-4, 0.95)
    with pytest.raises(ConfigError, match="choose one of"):
        create_recipe("fast")
    with pytest.raises(ConfigError):
        create_recipe("modern", optimizer="lamb")


def tiny_fb_spec(**options: str) -> parawire.ArchSpec:
    """An 8-vertex ws network in 2 fixed stages, 16x16 maps: trains on digits in seconds."""
    staging = StagingConfig("fb", channels=16, c_max=64, fb_stages=2)
    return parawire.generate("ws", seed=0, staging=staging, n=8, k=2, stem_stride=2, **options)


def test_training_learns_digits() -> None:
    torch.set_num_threads(1)
    splits = load_dataset("digits")
    spec = tiny_fb_spec()
    result = train_model(
        ModelRef.from_spec(spec), splits, create_recipe("modern", batch_size=64, lr=0.2), epochs=3
    )
    losses = [r.train_loss for r in result.history]
    assert losses[-1] < losses[0] - 0.3
    assert result.test_acc > 40.0  # chance is 10%


@pytest.mark.parametrize("recipe", ["modern", "modern-adamw"])
def test_kill_and_resume_gives_identical_weights(tmp_path: Path, tiny_data, recipe: str) -> None:
    spec = tiny_spec()
    rec = create_recipe(recipe, batch_size=16)
    full = Trainer(ModelRef.from_spec(spec), tiny_data, rec, epochs=3, seed=5)
    full.fit(tmp_path / "full")

    class Killed(Exception):
        pass

    def kill_after_two(record) -> None:
        if record.epoch == 2:
            raise Killed

    run = tmp_path / "cut"
    with pytest.raises(Killed):
        train_model(ModelRef.from_spec(spec), tiny_data, rec, epochs=3, seed=5, out=run,
                    on_epoch_end=kill_after_two)  # fmt: skip
    assert load_checkpoint(run).meta["epoch"] == 2
    resumed = train_model(
        ModelRef.from_spec(spec), tiny_data, rec, epochs=3, seed=5, out=run, resume=True
    )
    a, _ = load_weights(tmp_path / "full" / "weights.safetensors")
    b, _ = load_weights(run / "weights.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [h.test_acc for h in resumed.history] == [h.test_acc for h in full.result.history]
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(metrics["history"]) == 3


def test_resume_with_other_settings_is_refused(tmp_path: Path, tiny_data) -> None:
    spec = tiny_spec()
    train_model(ModelRef.from_spec(spec), tiny_data, create_recipe("modern", batch_size=16),
                epochs=1, out=tmp_path)  # fmt: skip
    with pytest.raises(DataError, match="seed"):
        train_model(ModelRef.from_spec(spec), tiny_data, create_recipe("modern", batch_size=16),
                    epochs=1, seed=9, out=tmp_path, resume=True)  # fmt: skip


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage", "missing"])
def test_corrupt_checkpoint_gives_clear_error(tmp_path: Path, tiny_data, damage: str) -> None:
    spec = tiny_spec()
    train_model(ModelRef.from_spec(spec), tiny_data, create_recipe("modern", batch_size=16),
                epochs=1, out=tmp_path)  # fmt: skip
    path = tmp_path / CHECKPOINT_FILE
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[-100] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
    elif damage == "garbage":
        path.write_bytes(b"not a checkpoint at all")
    else:
        path.unlink()
    with pytest.raises(DataError, match=r"corrupt|no checkpoint"):
        train_model(ModelRef.from_spec(spec), tiny_data, create_recipe("modern", batch_size=16),
                    epochs=2, out=tmp_path, resume=True)  # fmt: skip


def test_source_must_match_data(tiny_data) -> None:
    with pytest.raises(ConfigError, match="classes"):
        Trainer(ModelRef.from_spec(tiny_spec(classes=5)), tiny_data, create_recipe("modern"))


def test_cli_train_eval_and_errors(tmp_path: Path, capsys) -> None:
    spec_path = tiny_spec(size=32).save(tmp_path / "arch.json")
    out = tmp_path / "run"
    args = ["train", str(spec_path), "--dataset", "synthetic", "--epochs", "1", "--out", str(out),
            "--batch-size", "64"]  # fmt: skip
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "epoch   1/1" in text and "top-1" in text
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 1
    assert main(args) == 1  # a second run into the same folder without --resume
    assert "--resume" in capsys.readouterr().err
    w = str(out / "weights.safetensors")
    assert main(["eval", str(spec_path), "--weights", w, "--dataset", "synthetic"]) == 0
    assert "% top-1" in capsys.readouterr().out
    assert main(["eval", "cifarnet", "--weights", w, "--dataset", "synthetic"]) == 1
    assert "does not fit" in capsys.readouterr().err
    assert main(["train", "cifarnet", "--dataset", "cifar10", "--data", str(tmp_path / "none"),
                 "--out", str(tmp_path / "r2")]) == 1  # fmt: skip
    assert "Accepted layouts" in capsys.readouterr().err
    assert main(["train", "nope.json", "--dataset", "digits", "--out", str(tmp_path / "r3")]) == 1
    assert "neither a spec file nor a model name" in capsys.readouterr().err
    (tmp_path / "bad.safetensors").write_bytes(b"xx")
    assert main(["eval", str(spec_path), "--weights", str(tmp_path / "bad.safetensors"),
                 "--dataset", "synthetic"]) == 1  # fmt: skip
    assert "corrupt" in capsys.readouterr().err


def test_sigmoid_inputs_aggregation_learns_digits() -> None:
    torch.set_num_threads(1)
    splits = load_dataset("digits")
    spec = tiny_fb_spec(aggregation="sigmoid_inputs")
    result = train_model(
        ModelRef.from_spec(spec), splits, create_recipe("modern", batch_size=32, lr=0.1), epochs=3
    )
    losses = [r.train_loss for r in result.history]
    assert losses[-1] < losses[0] - 0.5  # with every vertex outputting 0 it stayed at ln 10
    assert result.test_acc > 40.0  # chance (and what it got) is 10%


# --- hostile options, divergence, damaged or edited files -------------------------------------


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"lr": float("nan")}, "lr must be a finite number, got nan"),
        ({"lr": float("inf")}, "lr must be a finite number, got inf"),
        ({"lr": -0.1}, "learning rate must be > 0, got -0.1"),
        ({"momentum": float("nan")}, "momentum must be a finite number"),
        ({"weight_decay": float("-inf")}, "weight_decay must be a finite number"),
        ({"batch_size": 0}, "batch size must be >= 1"),
        ({"batch_size": 2.5}, "batch_size must be a whole number"),
    ],
)
def test_recipe_rejects_non_finite_and_out_of_range_values(change: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        create_recipe("modern", **change)


def test_default_batch_fits_the_training_set(tiny_data) -> None:
    assert [fit_batch_size(n) for n in (50_000, 5_120, 1_437, 100)] == [128, 128, 32, 16]
    assert create_recipe("modern").batch_size is None  # decided by the trainer, from the data
    trainer = Trainer(ModelRef.from_spec(tiny_spec()), tiny_data, create_recipe("modern"))
    assert trainer.recipe.batch_size == 16 and trainer.result.recipe["batch_size"] == 16
    given = Trainer(
        ModelRef.from_spec(tiny_spec()), tiny_data, create_recipe("modern", batch_size=8)
    )
    assert given.recipe.batch_size == 8


def test_diverging_run_stops_with_a_clear_error(tmp_path: Path, tiny_data) -> None:
    recipe = create_recipe("modern", batch_size=16, lr=1e10, warmup_epochs=0.0)
    with pytest.raises(TrainingError, match="diverged in epoch 1: the loss became NaN or inf"):
        train_model(ModelRef.from_spec(tiny_spec()), tiny_data, recipe, epochs=2, out=tmp_path)
    assert not (tmp_path / "metrics.json").exists() and not (tmp_path / CHECKPOINT_FILE).exists()


def test_unknown_or_missing_device_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown device 'bogus'"):
        pick_device("bogus")
    with pytest.raises(ConfigError, match="not supported"):
        pick_device("meta")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU; use --device cpu"):
            pick_device("cuda")
    else:
        with pytest.raises(ConfigError, match="CUDA GPU"):
            pick_device(f"cuda:{torch.cuda.device_count()}")


def test_stale_temporary_files_are_removed_on_the_next_start(tmp_path: Path, tiny_data) -> None:
    stale = [tmp_path / f".{name}.k1ll3d.tmp" for name in (CHECKPOINT_FILE, "weights.safetensors")]
    for path in stale:
        path.write_bytes(b"half a file")
    mine = tmp_path / ".notes.txt.tmp"  # not a file parawire writes: left alone
    mine.write_text("keep")
    train_model(ModelRef.from_spec(tiny_spec()), tiny_data, create_recipe("modern", batch_size=16),
                epochs=1, out=tmp_path)  # fmt: skip
    assert sorted(tmp_path.glob(".*.tmp")) == [mine]


def rewrite_metadata(path: Path, edit, *, resign: bool) -> None:
    """Edit a safetensors file's parawire metadata (re-signing it like a careful forger)."""
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["parawire"])
    tensors = load_file(str(path))
    edit(meta)
    text = json.dumps(meta)
    if resign:
        meta = {k: v for k, v in meta.items() if k not in ("sha256", "format")}
        text = signed(tensors, meta)
    save_file(tensors, str(path), metadata={"parawire": text})


@pytest.mark.parametrize(
    ("edit", "resign", "match"),
    [
        (lambda m: m.update(epoch=0), False, "corrupt or was edited"),
        (lambda m: m.update(epoch="one"), True, "malformed metadata"),
        (lambda m: m.update(epoch=7), True, "malformed metadata"),
        (lambda m: m.update(history=[{"epoch": 1}]), True, "malformed metadata"),
        (lambda m: m.update(history=[dict(m["history"][0], test_acc="high")]), True, "malformed"),
        (lambda m: m["optimizer"].update(param_groups="x"), True, "malformed"),
        (lambda m: m.pop("optimizer"), True, "malformed optimiser metadata"),
    ],
)
def test_edited_checkpoint_metadata_gives_one_line_error(
    tmp_path: Path, tiny_data, edit, resign: bool, match: str
) -> None:
    spec, recipe = tiny_spec(), create_recipe("modern", batch_size=16)
    train_model(ModelRef.from_spec(spec), tiny_data, recipe, epochs=2, out=tmp_path)
    rewrite_metadata(tmp_path / CHECKPOINT_FILE, edit, resign=resign)
    with pytest.raises(DataError, match=match) as info:
        train_model(ModelRef.from_spec(spec), tiny_data, recipe, epochs=2, out=tmp_path,
                    resume=True)  # fmt: skip
    assert "\n" not in str(info.value)


def test_eval_checks_the_recorded_sha256(tmp_path: Path, capsys) -> None:
    spec_path = tiny_spec(size=32).save(tmp_path / "arch.json")
    out = tmp_path / "run"
    assert main(["train", str(spec_path), "--dataset", "synthetic", "--epochs", "1",
                 "--out", str(out), "--batch-size", "64"]) == 0  # fmt: skip
    capsys.readouterr()
    weights = out / "weights.safetensors"
    pristine = weights.read_bytes()

    def flip_a_weight_bit(path: Path) -> None:  # still a readable safetensors file
        data = bytearray(path.read_bytes())
        data[-8] ^= 0x01
        path.write_bytes(bytes(data))

    def edit_metadata(path: Path) -> None:
        rewrite_metadata(path, lambda m: m.update(dataset="digits"), resign=False)

    for path, damage in [(weights, flip_a_weight_bit), (weights, edit_metadata),
                         (out / CHECKPOINT_FILE, flip_a_weight_bit)]:  # fmt: skip
        weights.write_bytes(pristine)
        damage(path)
        assert main(["eval", str(spec_path), "--weights", str(path), "--dataset", "synthetic"]) == 1
        err = capsys.readouterr().err
        assert "fails its SHA-256" in err and len(err.strip().splitlines()) == 1


BAD_TRAIN_OPTIONS = [  # (options, exit code: 2 refused at parse, 1 by the library; message)
    (["--lr", "nan"], 1, "lr must be a finite number, got nan"),
    (["--lr", "inf"], 1, "lr must be a finite number, got inf"),
    (["--lr", "-1"], 2, "'--lr': -1.0 is not in the range x>0"),
    (["--device", "bogus"], 1, "unknown device 'bogus'"),
    (["--seed", "-1"], 2, "'--seed': -1 is not in the range x>=0"),
    (["--lr", "1e10"], 1, "training diverged in epoch 1"),
]


def test_cli_rejects_bad_lr_and_device_before_training(tmp_path: Path, capsys) -> None:
    spec_path = tiny_spec(size=32).save(tmp_path / "arch.json")
    base = ["train", str(spec_path), "--dataset", "synthetic", "--epochs", "1"]
    for i, (extra, code, message) in enumerate(BAD_TRAIN_OPTIONS):
        out = tmp_path / f"run{i}"
        assert main([*base, "--out", str(out), "--batch-size", "64", *extra]) == code
        *progress, error = capsys.readouterr().err.strip().splitlines()
        assert message in error and error.startswith("parawire: error: ")
        assert all(line.startswith("train: epoch 1/1: ") for line in progress)  # issue 20.11
        assert not (out / "metrics.json").exists()
    args = ["eval", str(spec_path), "--weights", str(tmp_path), "--device", "bogus"]
    assert main(args) == 1
    assert "unknown device 'bogus'" in capsys.readouterr().err
