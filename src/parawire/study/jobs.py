"""The networks a study trains, as jobs with stable ids (the keys of the results store)."""

from __future__ import annotations

from dataclasses import dataclass

from parawire.arch import StagingConfig, generate
from parawire.arch.spec import ArchSpec
from parawire.nn.model_ref import ModelRef
from parawire.study.config import StudyConfig, group_id, split_group

KINDS = ("generator", "baseline", "greedy", "merge", "uniform", "staged")
# "merge": a generator's sample trained with the other merge mode (StudyConfig.other_merge)


@dataclass(frozen=True)
class Job:
    """One network to train and evaluate."""

    id: str  # e.g. "generator/dp/32/s001": kind/group id (study.config.group_id)/side/sample
    kind: str  # one of KINDS
    group: str  # generator group ("er" ... "ws:fb", "chain") or baseline name ("cifarnet")
    staging: str  # staging mode of a generated network ("" for baselines)
    size: int  # input side in pixels
    sample: int  # architecture seed (0 for baselines)

    @property
    def slug(self) -> str:
        """The job id as a folder name."""
        return self.id.replace("/", "-")


def generator_and_staging(group: str, staging: str) -> tuple[str, str]:
    """Generator name and staging mode of a group: GENERATOR:STAGING fixes the staging (``ws:fb``
    is ws with RandWire's stages); a plain generator takes ``staging``."""
    generator, fixed = split_group(group)
    return (generator, fixed) if ":" in group else (generator, staging)


def resnet_for(size: int) -> str:
    """The ResNet baseline for an input side: ResNet-20 up to 64 px, ResNet-50 above."""
    return "resnet20" if size <= 64 else "resnet50"


def plan_jobs(cfg: StudyConfig, native_size: int) -> list[Job]:
    """Every job of a study, in the order they run."""
    jobs: list[Job] = []
    few = min(cfg.samples, cfg.uniform_samples)

    def gen(kind: str, group: str, staging: str, size: int, count: int = cfg.samples) -> None:
        jobs.extend(
            Job(f"{kind}/{group_id(group)}/{size}/s{s:03d}", kind, group, staging, size, s)
            for s in range(count)
        )

    def base(name: str, size: int) -> None:
        jobs.append(Job(f"baseline/{name}/{size}/s000", "baseline", name, "", size, 0))

    for group in cfg.generators:
        gen("generator", group, generator_and_staging(group, "probabilistic")[1], native_size)
    for b in cfg.baselines:
        base(resnet_for(native_size) if b == "resnet" else b, native_size)
    for group in cfg.staging_generators:
        gen("greedy", group, "greedy", native_size)
    for group in cfg.merge_generators:
        gen("merge", group, generator_and_staging(group, "probabilistic")[1], native_size)
    if cfg.uniform_generator:
        gen("uniform", cfg.uniform_generator, "uniform", native_size, few)
        if cfg.large_size:
            gen("uniform", cfg.uniform_generator, "uniform", cfg.large_size, few)
            gen("staged", cfg.uniform_generator, "probabilistic", cfg.large_size, few)
            if "resnet" in cfg.baselines and cfg.large_baseline:
                base(resnet_for(cfg.large_size), cfg.large_size)
    return jobs


def job_spec(job: Job, cfg: StudyConfig, in_channels: int, num_classes: int) -> ArchSpec:
    """The architecture of a generated-network job (seeded by its sample number)."""
    name, staging = generator_and_staging(job.group, job.staging)
    return generate(
        name,
        seed=job.sample,
        staging=StagingConfig(staging, channels=cfg.channels, c_max=cfg.c_max),
        input_shape=(in_channels, job.size, job.size),
        num_classes=num_classes,
        merge=cfg.other_merge if job.kind == "merge" else cfg.merge,
        n=cfg.vertices,
        stem_stride=cfg.stem_stride,
    )


def job_source(job: Job, cfg: StudyConfig, in_channels: int, num_classes: int) -> ModelRef:
    """What a job trains: its generated spec, or its baseline."""
    if job.kind == "baseline":
        return ModelRef(job.group, (in_channels, job.size, job.size), num_classes)
    return ModelRef.from_spec(job_spec(job, cfg, in_channels, num_classes))
