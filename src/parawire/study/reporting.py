"""``parawire report``'s computations: the :class:`~parawire.report.backend.Backend` that the
report package asks for what a folder does not store (cost graphs, simulated schedules, a
study's command), and :func:`write_report` / :func:`build_report` with it plugged in.

It lives above both ``analysis`` and ``report`` so that report imports neither analysis nor
study (issue 20): ``parawire report DIR`` calls :func:`write_report` from here.

    page, figures = build_report(Path("runs/demo"))
    write_report(Path("runs/demo"))          # runs/demo/report.html
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parawire import _io
from parawire.arch.spec import ArchSpec
from parawire.report import folders
from parawire.report.backend import CostGraphView, Simulated
from parawire.report.gather import command, flag

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from parawire.analysis.graph import CostGraph
    from parawire.analysis.profiles import Profile
    from parawire.report.html import Page


class AnalysisBackend:
    """The report's backend: costs, schedules and profiles by ``parawire.analysis``."""

    def cost_graph(
        self, spec: ArchSpec, *, batch: int = 1, wire_dtype: str, scatter: str
    ) -> CostGraphView:
        """``analysis.costs.spec_costs`` of ``spec``."""
        return _costs(spec, batch, wire_dtype, scatter)

    def run_schedule(
        self, spec: ArchSpec, plan: Mapping[str, Any], run: Mapping[str, Any], folder: Path
    ) -> Simulated:
        """The plan's schedule, simulated on the profile the run recorded (:func:`run_profile`)."""
        placement = {int(v): int(r) for v, r in plan["placement"].items()}
        graph = _costs(
            spec,
            int(run.get("batch", 1)),
            plan.get("wire_dtype", "float32"),
            plan.get("scatter", "image"),
        )
        return _simulated(graph, placement, run_profile(run, folder), int(plan["world"]))

    def study_schedule(
        self, spec: ArchSpec, placement: Mapping[int, int], analysis: Mapping[str, Any]
    ) -> Simulated:
        """A study row's recommended deployment, simulated on the study's profile."""
        from parawire.analysis.profiles import create_profile

        graph = _costs(spec, 1, analysis["wire_dtype"], analysis["scatter"])
        profile = create_profile(analysis["profile"])
        return _simulated(graph, placement, profile, int(analysis["devices"]))

    def study_command(self, config: Mapping[str, Any], out: str) -> str:
        """:func:`study_command`."""
        return study_command(config, out)


def _costs(spec: ArchSpec, batch: int, wire_dtype: str, scatter: str) -> CostGraph:
    from parawire.analysis.costs import spec_costs

    return spec_costs(spec, batch=batch, wire_dtype=wire_dtype, scatter=scatter)


def _simulated(
    graph: CostGraph, placement: Mapping[int, int], profile: Profile, devices: int
) -> Simulated:
    from parawire.analysis.simulate import simulate

    sched = simulate(graph, dict(placement), profile, devices)
    return Simulated(
        timeline=tuple(e.to_dict() for e in sched.timeline),
        devices=sched.devices,
        makespan_s=sched.makespan_s,
        speedup=sched.speedup,
        profile=profile.name,
    )


def run_profile(run: Mapping[str, Any], folder: Path) -> Profile:
    """The profile the run was predicted with: ``parawire.runtime.options.run_profile`` of the
    options ``run --json`` records, rebuilt here without importing torch (tested equal).
    A profile file it names is read only from inside ``folder`` (:func:`folder_profile`)."""
    from parawire.analysis.profiles import Profile

    emulate, link = run.get("emulate"), run.get("link")
    base = folder_profile(emulate or str(run.get("profile") or "local-cpu").split("+")[0], folder)
    if link is None:
        return base
    link_profile = folder_profile(str(link), folder)
    return Profile(name=f"{base.name}+{link}", device=base.device, link=link_profile.link)


def folder_profile(name: str, folder: Path) -> Profile:
    """A profile by name, or from a TOML file inside ``folder`` (a relative path is taken from
    there): a results folder, shared or copied, cannot make the report read files elsewhere."""
    from parawire.analysis.profiles import available_profiles, create_profile

    if name in available_profiles():
        return create_profile(name)
    file_part, sep, wanted = name.partition("#")
    path = folder / file_part  # an absolute file_part stays absolute
    _io.check_inside(path, folder, "profile file")
    return create_profile(f"{path.resolve()}{sep}{wanted}")


# StudyConfig field -> how ``parawire study`` spells it (fields with no option are left out)
STUDY_OPTIONS = {
    "dataset": "--dataset",
    "data": "--data",
    "samples": "--samples",
    "epochs": "--epochs",
    "generators": "--generators",
    "baselines": "--baselines",
    "staging_generators": "--staging-generators",
    "merge": "--merge",
    "merge_generators": "--merge-generators",
    "large_size": "--large-size",
    "uniform_samples": "--uniform-samples",
    "devices": "--devices",
    "profile": "--profile",
    "partitioner": "--partitioner",
    "select": "--select",
    "wire_dtype": "--wire-dtype",
    "scatter": "--scatter",
    "recipe": "--recipe",
    "batch_size": "--batch-size",
    "lr": "--lr",
    "seed": "--seed",
    "vertices": "--vertices",
    "channels": "--channels",
    "c_max": "--c-max",
    "stem_stride": "--stem-stride",
    "param_samples": "--param-samples",
    "device": "--device",
    "workers": "--workers",
}


def study_command(config: Mapping[str, Any], out: str) -> str:
    """The command that runs the study ``config`` (``results.json``'s ``config``) into ``out``:
    ``parawire demo`` when it is the demo's, else ``parawire study`` with every setting that
    differs from the default."""
    from parawire.study.config import StudyConfig, demo_config

    cfg = {k: v for k, v in config.items() if k in StudyConfig.__dataclass_fields__}
    demo = demo_config().to_dict()
    same_but_epochs = {k: v for k, v in demo.items() if k not in ("epochs", "device", "workers")}
    if all(cfg.get(k) == v for k, v in same_but_epochs.items()):
        return command(
            "parawire", "demo", "--out", out, *flag("--epochs", cfg.get("epochs"), demo["epochs"])
        )
    default = StudyConfig().to_dict()
    words: list[Any] = ["parawire", "study"]
    for field, option in STUDY_OPTIONS.items():
        value = cfg.get(field, default[field])
        # --merge always: the command line's default (pooled) is not the library's (maps)
        if value != default[field] or field == "merge":
            words += [option, ",".join(value) if isinstance(value, list) else value]
    if cfg.get("large_baseline", True) is False:
        words.append("--no-large-baseline")
    return command(*words, "--out", out)


def build_report(folder: Path) -> tuple[Page, dict[str, Figure]]:
    """``parawire.report.folders.build_report`` with :class:`AnalysisBackend`."""
    return folders.build_report(folder, AnalysisBackend())


def write_report(
    folder: Path, out: Path | None = None, figures: Path | None = None
) -> tuple[Path, list[Path]]:
    """``parawire.report.folders.write_report`` with :class:`AnalysisBackend`."""
    return folders.write_report(folder, AnalysisBackend(), out, figures)
