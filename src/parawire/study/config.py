"""What a study trains and measures: one dataclass, every field commented."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from parawire.errors import ConfigError

MERGES = ("maps", "pooled")  # parawire.arch.spec.MERGES, repeated to keep this module light

# A generator group is a generator name (probabilistic staging) or GENERATOR:STAGING for a
# fixed staging mode: ws:fb is ws with RandWire's fixed stages (the paper's FB).
GENERATOR_GROUPS = ("er", "ba", "ws", "dp", "ws:fb", "chain")
GROUP_IDS = {"ws:fb": "fb"}  # group -> the name in job ids and folders (what older studies hold)
BASELINE_GROUPS = ("cifarnet", "resnet")  # resnet = resnet20 at <= 64 px, resnet50 above


def split_group(group: str) -> tuple[str, str]:
    """(generator, staging) of a generator group: ``ws:fb`` -> (ws, fb), ``dp`` -> (dp,
    probabilistic)."""
    generator, _, staging = group.partition(":")
    return generator, staging or "probabilistic"


def group_id(group: str) -> str:
    """The group's name in job ids and run folders."""
    return GROUP_IDS.get(group, group)


def check_groups(groups: tuple[str, ...], option: str, *, plain: bool = False) -> None:
    """``ConfigError`` unless every group names a registered generator (and, as GENERATOR:STAGING,
    a staging mode; ``plain``: no staging allowed), naming a staging mode given as a generator."""
    from parawire.arch.generate import STAGINGS
    from parawire.graphs import list_generators

    for group in groups:
        generator, staging = split_group(group)
        if group in STAGINGS:
            raise ConfigError(
                f"{option}: {group!r} is a staging mode, not a generator; write "
                f"GENERATOR:{group} (e.g. ws:fb, ws with RandWire's fixed stages)"
                if not plain
                else f"{option}: {group!r} is a staging mode, not a generator"
            )
        if generator not in list_generators():
            raise ConfigError(
                f"{option}: unknown generator {generator!r} in {group!r}; choose from "
                f"{', '.join(list_generators())} (or GENERATOR:STAGING, e.g. ws:fb)"
            )
        if plain and ":" in group:
            raise ConfigError(f"{option}: give generator names without a staging, got {group!r}")
        if staging not in STAGINGS:
            raise ConfigError(
                f"{option}: unknown staging {staging!r} in {group!r}; choose from "
                f"{', '.join(STAGINGS)}"
            )


@dataclass(frozen=True)
class StudyConfig:
    """A study: which architectures, how they are trained, and how they are analysed."""

    dataset: str = "digits"  # data set registry name
    data: str | None = None  # --data PATH for data sets that need one
    dataset_options: tuple[tuple[str, int], ...] = ()  # e.g. (("train_subset", 2000),)
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
    effort: str = "full"  # how hard the analysis searches placements (full, fast)
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
    workers: int = 0  # networks trained at once, each in its own process (0: auto, see packing)
    compile: bool | None = None  # compiled training step (None: on CUDA); parawire.train.steps
    compile_mode: str | None = None  # torch.compile mode (None: the device's default)

    def check(self) -> StudyConfig:
        """Raise ``ConfigError`` for any unknown name or out-of-range number; returns self.

        Checks every option before anything is trained or stored, so that a typo cannot leave
        a study folder holding settings that refuse the corrected command.
        """
        check_groups(self.generators, "generators")
        from parawire.nn import list_baselines

        bad = [b for b in self.baselines if b not in ("resnet", *list_baselines())]
        if bad:
            raise ConfigError(
                f"unknown baseline(s) {bad}; choose from {', '.join(list_baselines())}, or "
                "resnet (resnet20 up to 64 px, resnet50 above)"
            )
        bad = [g for g in self.staging_generators if g not in ("er", "ba", "ws", "dp")]
        if bad:
            raise ConfigError(f"staging comparison takes er, ba, ws or dp, got {bad}")
        check_groups(self.merge_generators, "merge generators")
        if self.uniform_generator:
            try:
                check_groups((self.uniform_generator,), "uniform generator", plain=True)
            except ConfigError as exc:
                raise ConfigError(
                    f"unknown uniform generator {self.uniform_generator!r} ({exc}); give a "
                    "generator name, or '' for no uniform-channel networks"
                ) from None
        if self.merge not in MERGES:
            raise ConfigError(f"unknown merge {self.merge!r}; choose one of {', '.join(MERGES)}")
        if self.workers < 0:
            raise ConfigError(
                f"workers must be >= 0 (0: as many as the device holds), got {self.workers}"
            )
        if self.samples < 0 or self.epochs < 1 or self.devices < 1 or self.param_samples < 0:
            raise ConfigError("samples >= 0, epochs >= 1, devices >= 1, param_samples >= 0 needed")
        if self.vertices < 3 or self.channels < 1 or self.large_size < 0:
            raise ConfigError("vertices >= 3, channels >= 1 and large_size >= 0 needed")
        if self.uniform_samples < 0 or self.param_vertices < 3:
            raise ConfigError("uniform_samples >= 0 and param_vertices >= 3 needed")
        if self.stem_stride is not None and self.stem_stride < 1:
            raise ConfigError(f"stem_stride must be >= 1 (or unset), got {self.stem_stride}")
        self._check_training()
        self._check_analysis()
        return self

    def _check_training(self) -> None:
        """Data set, recipe and its overrides (imported here: the registries load torch)."""
        from parawire.data import list_datasets
        from parawire.train.models import pick_device
        from parawire.train.recipes import create_recipe
        from parawire.train.steps import choose_compilation

        device = pick_device(self.device)  # an unknown or absent device, before the folder
        choose_compilation(self.compile, device, mode=self.compile_mode)  # e.g. no C compiler
        if self.dataset not in list_datasets():
            raise ConfigError(
                f"unknown dataset {self.dataset!r}; choose one of {', '.join(list_datasets())}"
            )
        create_recipe(self.recipe)  # ConfigError naming the recipes
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError(f"batch size must be >= 1, got {self.batch_size}")
        if self.lr is not None and not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"learning rate must be a finite number > 0, got {self.lr}")

    def _check_analysis(self) -> None:
        """The k-device analysis options, as ``parawire.analysis.analyze`` will check them."""
        from parawire.analysis.costs import SCATTERS, WIRE_DTYPES
        from parawire.analysis.deployment import EFFORTS, SELECTIONS
        from parawire.analysis.partitioners import list_partitioners
        from parawire.analysis.profiles import create_profile

        graph_vertices = self.vertices + 2  # the sampled vertices, the input and the output
        if self.devices > graph_vertices:
            raise ConfigError(
                f"devices={self.devices} exceeds the {graph_vertices} vertices of the sampled "
                f"architectures (vertices={self.vertices} + input + output); use at most "
                f"{graph_vertices} devices or more vertices"
            )
        create_profile(self.profile)  # ConfigError naming the profiles
        names = list_partitioners()
        if self.partitioner is not None and self.partitioner not in names:
            raise ConfigError(
                f"unknown partitioner {self.partitioner!r}; choose one of {', '.join(names)}"
            )
        for option, value, choices in (
            ("select", self.select, SELECTIONS),
            ("effort", self.effort, tuple(EFFORTS)),
            ("wire dtype", self.wire_dtype, WIRE_DTYPES),
            ("scatter", self.scatter, SCATTERS),
        ):
            if value not in choices:
                raise ConfigError(f"unknown {option} {value!r}; choose one of {', '.join(choices)}")

    def training_key(self) -> dict[str, Any]:
        """The fields a stored result depends on: a study folder keeps them fixed."""
        keep = (
            "dataset", "data", "epochs", "recipe", "batch_size", "lr", "seed", "vertices",
            "channels", "c_max", "stem_stride", "devices", "profile", "partitioner", "select",
            "wire_dtype", "scatter", "merge",
        )  # fmt: skip
        key = {k: getattr(self, k) for k in keep}
        if self.effort != "full":  # only when set: folders made before the option stay valid
            key["effort"] = self.effort
        if self.dataset_options:  # only when set: folders of the whole data set stay valid
            key["dataset_options"] = [list(kv) for kv in self.dataset_options]
        return key

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
        vertices=18,  # ws:fb splits it 3 x 6: the smallest ws stages (k=4) that are not complete
        channels=16,
        c_max=64,
        batch_size=64,
        lr=0.15,  # 0.2 sent CifarNet (no batch norm) to chance or to NaN
        large_size=48,
        uniform_samples=1,
        large_baseline=False,  # ResNet-20 at 48x48 alone would take minutes on 2 cores
        param_samples=250,
        merge_generators=("dp",),  # maps vs pooled merge, same seeds
    )
