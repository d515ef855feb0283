"""The options of every command that trains or evaluates, defined once.

``--dataset-option`` (data set options, e.g. a subset: ``train_subset=2000,test_subset=500``)
on `train`, `eval`, `study`, `search` and `search diff`; ``--compile/--no-compile`` (the
compiled training step, parawire.train.steps) on `train`, `study` and `search`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from parawire.cli.options import shared_option
from parawire.errors import ConfigError

DATASET_OPTION_EXAMPLE = "train_subset=2000,test_subset=500"


def parse_dataset_options(items: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    """``("train_subset=2000,test_subset=500", "subset_seed=1")`` -> (key, value) pairs.

    Each item holds one or more comma-separated ``KEY=INTEGER``; a key given twice is refused.
    """
    pairs: list[tuple[str, int]] = []
    for item in items:
        for part in item.split(","):
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep or not key or not value.strip().lstrip("-").isdigit():
                raise ConfigError(
                    f"--dataset-option {part!r} must read KEY=INTEGER, e.g. "
                    f"{DATASET_OPTION_EXAMPLE} or num_train=64"
                )
            if key in dict(pairs):
                raise ConfigError(f"--dataset-option {key} is given twice; give it once")
            pairs.append((key, int(value)))
    return tuple(pairs)


def dataset_options_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--dataset-option KEY=INT[,KEY=INT...]`` (repeatable), parsed into (key, value) pairs
    passed as ``dataset_options``."""
    return shared_option(
        "--dataset-option",
        "dataset_options",
        multiple=True,
        metavar="KEY=INT[,KEY=INT]",
        callback=lambda _ctx, _param, value: parse_dataset_options(value),
        help="Data set options, repeatable or comma-separated: a seeded subset "
        f"({DATASET_OPTION_EXAMPLE}, subset_seed=S), or the data set's own (synthetic: "
        "num_train=64,image_size=16).",
    )(command)


def compile_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--compile/--no-compile``, passed as ``compile`` (None when neither is given: compiled
    on CUDA, eager elsewhere)."""
    return shared_option(
        "--compile/--no-compile",
        "compile",
        default=None,
        help="Compile the training step with torch.compile (default: on CUDA; on a CPU it "
        "needs a C compiler and pays 10-60 s of compilation per network).",
    )(command)
