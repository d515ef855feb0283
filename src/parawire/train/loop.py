"""The training loop: seeded, checkpointed every epoch, resumable exactly.

Determinism: the model is initialised after ``torch.manual_seed(seed)``; each epoch reseeds
torch's global RNG (dropout) and draws its shuffling and augmentation from a generator seeded
with ``(seed, epoch)``; the learning rate is a pure function of the step. A run resumed from
the checkpoint of epoch k therefore replays epochs k+1.. exactly as an uninterrupted run does
(bit for bit on the CPU, eager).

On CUDA (:mod:`parawire.train.steps`): the data set stays on the GPU as uint8, the steps are
compiled (``torch.compile``, CUDA graphs) unless ``compile=False``, bf16 autocast, channels_last,
a fused optimiser step, and the loop never waits for the GPU inside an epoch: the loss and
accuracy are summed on the device and read once at the epoch's end (progress shows the step
count; each epoch's line its loss and accuracy).

A loss that becomes NaN or infinite stops the run with ``TrainingError`` before that epoch is
checkpointed, so the folder keeps the last good epoch (checked every 10 steps on the CPU, where
reading the loss costs nothing; at the epoch's end on a GPU).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from parawire._memory import require_memory
from parawire.arch.footprint import model_bytes
from parawire.data import ImageSplits, make_batches
from parawire.data.batches import DeviceBatches
from parawire.errors import ConfigError, DataError, TrainingError
from parawire.filenames import METRICS_FILE, SPEC_FILE, WEIGHTS_FILE
from parawire.nn import count_parameters
from parawire.nn.model_ref import ModelRef
from parawire.progress import ProgressFn, progress_on_stderr
from parawire.train.checkpoint import (
    CHECKPOINT_FILE,
    CHECKPOINT_JSON,
    load_checkpoint,
    remove_stale_temps,
    save_checkpoint,
    save_weights,
    write_json,
)
from parawire.train.models import pick_device
from parawire.train.recipes import Recipe, make_optimizer, schedule_at, set_hyperparameters
from parawire.train.steps import Compilation, Steps, Tally, choose_compilation

HOST_READ_EVERY = 10  # steps between host reads of the loss (divergence check, progress), CPU


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch measured."""

    epoch: int  # 1-based
    train_loss: float  # mean training loss (with label smoothing)
    train_acc: float  # top-1 accuracy on the augmented training batches, in %
    test_loss: float  # mean test cross-entropy (no smoothing)
    test_acc: float  # top-1 test accuracy, in %
    lr: float  # learning rate at the epoch's last step
    seconds: float  # wall time of the epoch (training + evaluation)


@dataclass
class TrainResult:
    """A finished (or resumed-and-finished) training run."""

    model: str  # ModelRef.label
    digest: str  # ModelRef.digest
    dataset: str
    recipe: dict[str, Any]
    seed: int
    epochs: int
    params: int  # trainable parameters
    history: list[EpochRecord] = field(default_factory=list)
    device: str = "cpu"
    compiled: str = "eager"  # Compilation.describe(): eager or the torch.compile mode
    images_per_epoch: int = 0  # training images one epoch processes (steps x batch)

    @property
    def test_acc(self) -> float:
        """Final top-1 test accuracy in %."""
        return self.history[-1].test_acc

    @property
    def train_seconds(self) -> float:
        """Total wall time over all epochs (including those before a resume)."""
        return sum(r.seconds for r in self.history)

    @property
    def images_per_s(self) -> float | None:
        """Training throughput: images an epoch trains on over the median epoch's wall time
        (training and evaluation; the median leaves out the first epoch's compilation)."""
        if not self.history or not self.images_per_epoch:
            return None
        seconds = sorted(r.seconds for r in self.history)[len(self.history) // 2]
        return self.images_per_epoch / seconds if seconds > 0 else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON dictionary (what ``metrics.json`` holds)."""
        return {
            "model": self.model,
            "digest": self.digest,
            "dataset": self.dataset,
            "recipe": self.recipe,
            "seed": self.seed,
            "epochs": self.epochs,
            "params": self.params,
            "device": self.device,
            "compiled": self.compiled,
            "images_per_s": self.images_per_s,
            "test_acc": self.test_acc,
            "train_seconds": self.train_seconds,
            "history": [asdict(r) for r in self.history],
        }


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, 0x7A1]).generate_state(1)[0])


def evaluate(
    model: nn.Module, batches: DeviceBatches, device: torch.device, steps: Steps | None = None
) -> tuple[float, float]:
    """(mean cross-entropy, top-1 accuracy in %) over every batch, model in eval mode
    (through ``steps``, compiled or not, when given; eagerly otherwise)."""
    model.eval()
    if steps is None:
        steps = Steps(model, None, 0.0, device, Compilation())
    tally = Tally(device)
    with torch.inference_mode():
        for x, y in batches.epoch():
            steps.evaluate(x, y, tally)
    return tally.read()


class Trainer:
    """Trains one model on one data set under one recipe (see the module docstring)."""

    def __init__(
        self,
        source: ModelRef,
        splits: ImageSplits,
        recipe: Recipe,
        *,
        epochs: int | None = None,
        seed: int = 0,
        device: str | None = None,
        compile: bool | None = None,
        compile_mode: str | None = None,
        compile_backend: str = "inductor",
    ) -> None:
        _check_fits(source, splits)
        recipe = recipe.fit(len(splits.train_labels)).check()  # the batch size decided
        self.source, self.splits, self.recipe = source, splits, recipe
        self.epochs = epochs if epochs is not None else recipe.epochs
        if self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        self.seed = _checked_seed(seed)
        self.device = pick_device(device)
        cuda = self.device.type == "cuda"
        self.compilation = choose_compilation(
            compile, self.device, mode=compile_mode, backend=compile_backend
        )
        if source.spec is not None and not cuda:  # a GPU's memory is its own: torch reports it
            require_memory(
                model_bytes(source.spec, recipe.batch_size, training=True),
                f"training {source.label} with batch {recipe.batch_size}",
                "use a smaller batch (--batch-size) or spec, or a machine with more memory",
            )
        torch.manual_seed(seed)
        self.model = source.build().to(self.device)
        if cuda:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = make_optimizer(self.model, recipe, fused=cuda)
        self.train_batches, self.test_batches = make_batches(
            splits, batch_size=recipe.batch_size, device=self.device, channels_last=cuda
        )
        self.steps = Steps(
            self.model, self.optimizer, recipe.label_smoothing, self.device, self.compilation
        )
        self.result = TrainResult(
            source.label,
            source.digest,
            splits.name,
            recipe.to_dict(),
            seed,
            self.epochs,
            count_parameters(self.model),
            device=str(self.device),
            compiled=self.compilation.describe(),
            images_per_epoch=len(self.train_batches) * recipe.batch_size,
        )

    # --- checkpoints -----------------------------------------------------------------------

    def _meta(self) -> dict[str, Any]:
        return {
            "model": self.source.to_dict(),
            "digest": self.source.digest,
            "dataset": self.splits.name,
            "images": [len(self.splits.train_labels), len(self.splits.test_labels)],
            "recipe": self.recipe.to_dict(),
            "seed": self.seed,
            "epochs": self.epochs,
            "epoch": len(self.result.history),
            "history": [asdict(r) for r in self.result.history],
        }

    def resume_from(self, folder: Path) -> int:
        """Load ``folder``'s checkpoint; returns the number of epochs already done."""
        ckpt = load_checkpoint(folder)
        meta = ckpt.meta
        mine = self._meta()
        keys = ["digest", "dataset", "recipe", "seed", "epochs"]
        if "images" in meta:  # train and test sizes (a subset); older checkpoints lack them
            keys.append("images")
        for key in keys:
            if meta.get(key) != mine[key]:
                raise DataError(
                    f"the checkpoint in {folder} was written with {key}={meta.get(key)!r}, this "
                    f"run has {key}={mine[key]!r}; resume with the same settings or use a new --out"
                )
        malformed = (
            f"the checkpoint in {folder} has malformed metadata ({{}}); delete it (and "
            "checkpoint.json) and train again without --resume"
        )
        try:
            done = meta["epoch"]
            history = [EpochRecord(**r) for r in meta["history"]]
        except (KeyError, TypeError) as exc:
            raise DataError(malformed.format(repr(exc))) from None
        if type(done) is not int or not 0 <= done <= self.epochs or len(history) != done:
            raise DataError(
                malformed.format(f"{done!r} of {self.epochs} epochs done, {len(history)} recorded")
            )
        numbers = [v for r in history for v in asdict(r).values()]
        if any(type(v) not in (int, float) for v in numbers):
            raise DataError(malformed.format("a history entry that is not a number"))
        optimizer_state = self._fitting_optimizer_state(ckpt.optimizer_state)
        if optimizer_state is None:
            raise DataError(malformed.format("optimiser state of other shapes than the model's"))
        try:
            self.model.load_state_dict(ckpt.model_state)
            self.optimizer.load_state_dict(optimizer_state)
        except (RuntimeError, ValueError, KeyError) as exc:
            raise DataError(f"the checkpoint in {folder} does not fit this model ({exc})") from exc
        self.result.history = history
        return done

    def _fitting_optimizer_state(self, saved: dict[str, Any]) -> dict[str, Any] | None:
        """``saved`` with this run's parameter groups, or None if its state does not fit.

        The recipe (checked equal) fixes every group setting, and the schedule sets the learning
        rate and momentum before each step, so only the parameters' state comes from the file:
        each tensor must be of its parameter's shape, or a single number (AdamW's step count).
        """
        fresh = self.optimizer.state_dict()["param_groups"]
        groups = saved.get("param_groups")
        if not isinstance(groups, list) or [
            g.get("params") if isinstance(g, dict) else None for g in groups
        ] != [g["params"] for g in fresh]:
            return None
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        for index, entry in saved["state"].items():
            if not (type(index) is int and 0 <= index < len(params) and isinstance(entry, dict)):
                return None
            for value in entry.values():
                if isinstance(value, torch.Tensor):
                    if value.shape != params[index].shape and value.numel() != 1:
                        return None
                elif not (value is None or type(value) in (int, float)):
                    return None
        return {"state": saved["state"], "param_groups": fresh}

    # --- training --------------------------------------------------------------------------

    def train_epoch(
        self, epoch: int, progress: ProgressFn | None = None
    ) -> tuple[float, float, float]:
        """One epoch (0-based); returns (mean loss, accuracy %, last learning rate).

        ``progress``: called with ``(phase, steps done, steps)`` at the first step and every
        ``HOST_READ_EVERY`` steps (``parawire.progress``)."""
        self.model.train()
        torch.manual_seed(_epoch_seed(self.seed, epoch))
        steps = len(self.train_batches)
        tally = Tally(self.device)
        lr = 0.0
        host_reads = self.device.type == "cpu"  # elsewhere a read waits for the device
        phase = f"epoch {epoch + 1}/{self.epochs}"
        for i, (x, y) in enumerate(self.train_batches.epoch(self.seed, epoch)):
            lr, momentum = schedule_at(self.recipe, epoch * steps + i, steps, self.epochs)
            set_hyperparameters(self.optimizer, lr, momentum)
            self.steps.train(x, y, tally)
            boundary = i % HOST_READ_EVERY == HOST_READ_EVERY - 1 or i == steps - 1
            if host_reads and boundary:
                self._check_finite(tally, epoch)
            if progress is not None and (boundary or i == 0):
                progress(phase, i + 1, steps)
        self._check_finite(tally, epoch)
        loss, acc = tally.read()
        return loss, acc, lr

    def _check_finite(self, tally: Tally, epoch: int) -> None:
        """``TrainingError`` when the summed loss is NaN or infinite (reads the device)."""
        if not torch.isfinite(tally.loss):
            raise TrainingError(
                f"training diverged in epoch {epoch + 1}: the loss became NaN or infinite; "
                f"lower the learning rate (peak {self.recipe.lr:g}, --lr) and train again"
            )

    def fit(
        self,
        out: Path | None = None,
        *,
        resume: bool = False,
        progress: bool | ProgressFn = False,
        log: Callable[[str], None] | None = None,
        on_epoch_end: Callable[[EpochRecord], None] | None = None,
    ) -> TrainResult:
        """Train to ``epochs``; with ``out``, checkpoint every epoch and write the results.

        ``progress``: True for the progress display on stderr (``parawire.progress``), or a
        ``(phase, steps done, steps)`` callback."""
        start = 0
        if out is not None:  # a run killed while saving left its temporary file behind
            remove_stale_temps(out, (CHECKPOINT_FILE, CHECKPOINT_JSON, WEIGHTS_FILE, METRICS_FILE))
        if resume:
            if out is None:
                raise ConfigError("resume needs the run folder (--out) holding the checkpoint")
            start = self.resume_from(out)
            if log:
                log(f"resumed {out} at epoch {start}/{self.epochs}")
        if log and self.compilation.compiled:
            log(f"training step {self.compilation.describe()} on {self.device}")
        with _progress(progress) as shown:
            for epoch in range(start, self.epochs):
                t0 = time.perf_counter()
                loss, acc, lr = self.train_epoch(epoch, shown)
                test_loss, test_acc = evaluate(
                    self.model, self.test_batches, self.device, self.steps
                )
                record = EpochRecord(
                    epoch + 1, loss, acc, test_loss, test_acc, lr, time.perf_counter() - t0
                )
                self.result.history.append(record)
                if out is not None:
                    save_checkpoint(out, self._meta(), self.model, self.optimizer)
                if log:
                    log(
                        f"epoch {record.epoch:>3}/{self.epochs}  loss {loss:.4f}  train "
                        f"{acc:5.1f}%  test {test_acc:5.2f}%  lr {lr:.2e}  {record.seconds:.1f}s"
                    )
                if on_epoch_end is not None:
                    on_epoch_end(record)
        if out is not None:
            self.write_results(out)
        return self.result

    def write_results(self, out: Path) -> None:
        """Final ``weights.safetensors`` and ``metrics.json`` (plus ``spec.json`` for specs)."""
        mean, std = self.splits.channel_stats()
        preprocess = {  # what serving needs to feed the network (parawire.runtime.preprocess)
            "input_shape": list(self.splits.input_shape),
            "mean": list(mean),
            "std": list(std),
            "classes": list(self.splits.classes),
        }
        meta = {
            "model": self.source.to_dict(),
            "dataset": self.splits.name,
            "preprocess": preprocess,
        }
        save_weights(out / WEIGHTS_FILE, self.model, meta)
        write_json(out / METRICS_FILE, self.result.to_dict())
        if self.source.spec is not None:
            self.source.spec.save(out / SPEC_FILE)


def train_model(
    source: ModelRef,
    splits: ImageSplits,
    recipe: Recipe,
    *,
    epochs: int | None = None,
    seed: int = 0,
    out: Path | None = None,
    resume: bool = False,
    device: str | None = None,
    compile: bool | None = None,
    compile_mode: str | None = None,
    progress: bool | ProgressFn = False,
    log: Callable[[str], None] | None = None,
    on_epoch_end: Callable[[EpochRecord], None] | None = None,
) -> TrainResult:
    """Train ``source`` on ``splits``; see :class:`Trainer`."""
    trainer = Trainer(
        source,
        splits,
        recipe,
        epochs=epochs,
        seed=seed,
        device=device,
        compile=compile,
        compile_mode=compile_mode,
    )
    return trainer.fit(out, resume=resume, progress=progress, log=log, on_epoch_end=on_epoch_end)


def _check_fits(source: ModelRef, splits: ImageSplits) -> None:
    """``ConfigError`` unless the model takes the data set's images and classes."""
    if tuple(source.input_shape) != splits.input_shape:
        raise ConfigError(
            f"{source.label} takes {source.input_shape} images, the data set has "
            f"{splits.input_shape}"
        )
    if source.num_classes != splits.num_classes:
        raise ConfigError(
            f"{source.label} has {source.num_classes} classes, the data set {splits.num_classes}"
        )


def _checked_seed(seed: object) -> int:
    """``seed`` as an int; ``ConfigError`` unless it is a whole number >= 0 (not a bool)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"the seed must be a whole number >= 0, got {seed!r}")
    return int(seed)


def _progress(progress: bool | ProgressFn) -> AbstractContextManager[ProgressFn | None]:
    """What ``fit``'s ``progress`` asks for: the display on stderr, the caller's callback, or
    nothing."""
    if progress is True:
        return progress_on_stderr("train")
    return contextlib.nullcontext(progress or None)
