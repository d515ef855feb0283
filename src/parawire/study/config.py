"""What a study trains and measures: one dataclass, every field commented."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from parawire.errors import ConfigError

MERGES = ("maps", "pooled")  # parawire.arch.spec.MERGES, repeated to keep this module light

GENERATOR_GROUPS = ("er", "ba", "ws", "dp", "fb", "chain")  # fb = ws with RandWire's stages
STAGING_OF = {"fb": ("ws", "fb")}  # group -> (generator, staging); others: (group, probabilistic)
BASELINE_GROUPS = ("cifarnet", "resnet")  # resnet = resnet20 at <= 64 px, resnet50 above


@dataclass(frozen=True)
class StudyConfig:
    """A study: which architectures, how they are trained, and how they are analysed."""

    dataset: str = "digits"  # data set registry name
    data: str | None = None  # --data PATH for data sets that need one
    samples: int = 3  # architectures sampled per generator (seeds 0..samples-1)
    epochs: int = 10  # training epochs of every network
    generators: tuple[str, ...] = GENERATOR_GROUPS  # generator groups to sample
    baselines: tuple[str, ...] = BASELINE_GROUPS  # hand-made networks to train
    staging_generators: tuple[str, ...] = (
        "dp",
    )  # also trained with greedy staging (Tables II/III)
    merge: str = "maps"  # merge mode of every generated network (the paper's: maps)
    merge_generators: tuple[str, ...] = ()  # also trained with the other merge mode (table)
    uniform_generator: str = "dp"  # trained with uniform channels (Table I)
    large_size: int = 64  # larger input side for Table I (0: skip the larger input)
    uniform_samples: int = 3  # architectures per cell of Table I (at most ``samples``)
    large_baseline: bool = True  # also train the ResNet at the larger input (Table I)
    devices: int = 4  # k of the k-device analysis (devices available)
    profile: str = "rpi4-wifi"  # device/link profile of the analysis
    partitioner: str | None = None  # restrict the analysis to one partitioner (None: all)
    select: str = "latency"  # how the analysis chooses the deployment (latency, cs, makespan)
    wire_dtype: str = "float32"  # dtype on the wire in the analysis
    scatter: str = "image"  # what the analysis sends first: the image or the stem's output
    recipe: str = "modern"  # training recipe name
    batch_size: int | None = None  # override of the recipe's batch size
    lr: float | None = None  # override of the recipe's peak learning rate
    seed: int = 0  # training seed (the same for every network)
    vertices: int = 40  # vertices per sampled graph (EDGE'23: 40)
    channels: int = 32  # stem width of the sampled architectures
    c_max: int = 256  # staging channel limit
    stem_stride: int | None = None  # stem downsampling (None: the generator's default)
    param_samples: int = 1000  # architectures per generator and staging for Table IV
    param_vertices: int = 40  # vertices of the Table IV architectures (EDGE'23: 40)
    device: str | None = None  # torch device (default: CUDA when available)
    workers: int = 1  # networks trained at once, each in its own process

    def check(self) -> StudyConfig:
        """Raise ``ConfigError`` for unknown groups or out-of-range numbers; returns self."""
        bad = [g for g in self.generators if g not in GENERATOR_GROUPS]
        if bad:
            raise ConfigError(f"unknown generator group(s) {bad}; choose from {GENERATOR_GROUPS}")
        bad = [b for b in self.baselines if b not in BASELINE_GROUPS]
        if bad:
            raise ConfigError(f"unknown baseline(s) {bad}; choose from {BASELINE_GROUPS}")
        bad = [g for g in self.staging_generators if g not in ("er", "ba", "ws", "dp")]
        if bad:
            raise ConfigError(f"staging comparison takes er, ba, ws or dp, got {bad}")
        bad = [g for g in self.merge_generators if g not in GENERATOR_GROUPS]
        if bad:
            raise ConfigError(f"unknown merge-comparison group(s) {bad}; use {GENERATOR_GROUPS}")
        if self.merge not in MERGES:
            raise ConfigError(f"unknown merge {self.merge!r}; choose one of {', '.join(MERGES)}")
        if self.workers < 1:
            raise ConfigError(f"workers must be >= 1, got {self.workers}")
        if self.samples < 0 or self.epochs < 1 or self.devices < 1 or self.param_samples < 0:
            raise ConfigError("samples >= 0, epochs >= 1, devices >= 1, param_samples >= 0 needed")
        if self.vertices < 3 or self.channels < 1 or self.large_size < 0:
            raise ConfigError("vertices >= 3, channels >= 1 and large_size >= 0 needed")
        return self

    def training_key(self) -> dict[str, Any]:
        """The fields a stored result depends on: a study folder keeps them fixed."""
        keep = (
            "dataset", "data", "epochs", "recipe", "batch_size", "lr", "seed", "vertices",
            "channels", "c_max", "stem_stride", "devices", "profile", "partitioner", "select",
            "wire_dtype", "scatter", "merge",
        )  # fmt: skip
        return {k: getattr(self, k) for k in keep}

    @property
    def other_merge(self) -> str:
        """The merge mode the merge comparison trains beside ``merge``."""
        return "pooled" if self.merge == "maps" else "maps"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON dictionary."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


def demo_config() -> StudyConfig:
    """``parawire demo``: every generator, 2 samples, small networks, a few epochs on digits."""
    return StudyConfig(
        dataset="digits",
        samples=2,
        epochs=4,
        stem_stride=2,  # 16x16 maps inside: 3-4x faster than 32x32, no loss on digits
        vertices=18,  # fb splits it 3 x 6: the smallest ws stages (k=4) that are not complete
        channels=16,
        c_max=64,
        batch_size=64,
        lr=0.2,
        large_size=48,
        uniform_samples=1,
        large_baseline=False,  # ResNet-20 at 48x48 alone would take minutes on 2 cores
        param_samples=250,
        merge_generators=("dp",),  # maps vs pooled merge, same seeds
    )
