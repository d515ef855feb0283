"""`parawire train` and `parawire eval`: train a spec or a named model on a data set; evaluate."""

from __future__ import annotations

from pathlib import Path

import click

from parawire.cli.arguments import network_argument
from parawire.cli.options import (
    batch_size_option,
    data_option,
    dataset_option,
    device_option,
    epochs_option,
    lr_option,
    out_option,
    recipe_option,
    seed_option,
    weights_option,
)
from parawire.cli.training_options import compile_option, dataset_options_option
from parawire.data import load_dataset, make_batches
from parawire.errors import ConfigError
from parawire.filenames import METRICS_FILE
from parawire.nn.model_ref import MODEL_FORMS
from parawire.progress import CountedBatches, progress_on_stderr
from parawire.train import (
    create_recipe,
    evaluate,
    load_weights,
    model_source,
    pick_device,
    train_model,
)
from parawire.train.checkpoint import CHECKPOINT_FILE


@click.command("train")
@network_argument("model", "SPEC_OR_MODEL", path=False)
@dataset_option()
@data_option()
@dataset_options_option
@epochs_option(None, "Epochs (default: the recipe's).")
@out_option("Run folder: checkpoints, weights, metrics.", required=True)
@recipe_option("Optimiser, schedule and regularisation (docs/training.md).")
@click.option("--resume", is_flag=True, help="Continue from the checkpoint in --out.")
@batch_size_option(None, "Training batch size (default: fitted to the training set, at most 128).")
@lr_option(None, "Override the recipe's learning rate.")
@seed_option("Seeds the weight initialisation, the batch order, augmentation and dropout.")
@device_option()
@compile_option
def train_cmd(
    model: str,
    dataset: str,
    data: Path | None,
    dataset_options: tuple[tuple[str, int], ...],
    epochs: int | None,
    out: Path,
    recipe: str,
    resume: bool,
    batch_size: int | None,
    lr: float | None,
    seed: int,
    device: str | None,
    compile: bool | None,
) -> None:
    """Train SPEC_OR_MODEL (a spec JSON, a baseline such as cifarnet, or torchvision:NAME) and
    write checkpoints."""
    if not resume and (out / CHECKPOINT_FILE).is_file():
        raise ConfigError(
            f"{out} already holds a checkpoint; pass --resume or choose another --out"
        )
    chosen = create_recipe(recipe, batch_size=batch_size, lr=lr)  # rejects e.g. --lr nan
    pick_device(device)  # rejects an unknown device before the data set loads
    splits = load_dataset(dataset, root=data, **dict(dataset_options))
    source = model_source(model, splits.input_shape, splits.num_classes)
    result = train_model(
        source,
        splits,
        chosen,
        epochs=epochs,
        seed=seed,
        out=out,
        resume=resume,
        device=device,
        compile=compile,
        progress=True,
        log=click.echo,
    )
    click.echo(
        f"{source.label}: {result.test_acc:.2f}% top-1 on {dataset} test after "
        f"{result.epochs} epochs ({result.params:,} parameters); wrote {out / METRICS_FILE}"
    )


@click.command("eval")
@network_argument("model", "SPEC_OR_MODEL", path=False)
@weights_option(
    required=True,
    help_text="weights.safetensors or checkpoint.safetensors (or the run folder holding one).",
)
@dataset_option()
@data_option()
@dataset_options_option
@device_option()
def eval_cmd(
    model: str,
    weights: Path,
    dataset: str,
    data: Path | None,
    dataset_options: tuple[tuple[str, int], ...],
    device: str | None,
) -> None:
    """Top-1 test accuracy of SPEC_OR_MODEL with trained WEIGHTS (their SHA-256 checked)."""
    dev = pick_device(device)
    splits = load_dataset(dataset, root=data, **dict(dataset_options))
    source = model_source(model, splits.input_shape, splits.num_classes)
    state, _ = load_weights(weights)
    net = source.build()
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise ConfigError(
            f"{weights} does not fit {source.label} ({str(exc).splitlines()[0]}); "
            f"give the spec or model ({MODEL_FORMS}) it was trained as"
        ) from None
    _, test = make_batches(splits, batch_size=256, device=dev)
    with progress_on_stderr("eval") as progress:
        counted = CountedBatches(test, progress, f"{dataset} test set")
        loss, acc = evaluate(net.to(dev), counted, dev)  # type: ignore[arg-type]
    click.echo(f"{source.label} on {dataset} test: {acc:.2f}% top-1 (loss {loss:.4f})")


COMMANDS = [train_cmd, eval_cmd]
