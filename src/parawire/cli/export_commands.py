"""`parawire export`: write a deployment as ONNX models, one per device, and their manifest.

    parawire export arch.json --devices 3 --format onnx -o out/
    parawire export runs/an/plan --format onnx -o out/
    parawire export arch.json --whole --format onnx -o out/

torch and the exporters are imported when the command runs, not for ``--help``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from parawire.cli._basis import profile_note, say, weights_note
from parawire.cli.arguments import network_argument
from parawire.cli.deployment_options import (
    PLAN_SEED_HELP,
    announce_profile,
    deployment_options,
)
from parawire.cli.options import (
    DEFAULT_PROFILE,
    check_option,
    devices_option,
    out_option,
    profile_option,
    seed_option,
    weights_option,
)
from parawire.progress import progress_on_stderr

if TYPE_CHECKING:
    from parawire.runtime.plan import Plan

FORMATS = ("onnx",)
CHECK_IMAGES = 2  # random images of the --check comparison (the default)
CHECK_TOLERANCE = 1e-4  # of the largest logit: float32 reordering, not a wrong model


@click.command("export")
@network_argument("path", "PLAN_OR_SPEC")
@devices_option(default=None, note=" (needed for a spec; a plan is exported as written)")
@profile_option(DEFAULT_PROFILE, "the placement of a spec is chosen for")
@deployment_options
@weights_option()
@seed_option(PLAN_SEED_HELP)
@click.option("--whole", is_flag=True, help="Export the whole network as one model.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="onnx",
    show_default=True,
    help="Model format of the pieces.",
)
@click.option(
    "--opset", type=int, default=None, help="ONNX opset (default 17; 18 with --exporter dynamo)."
)
@click.option(
    "--exporter",
    type=click.Choice(("torchscript", "dynamo")),
    default="torchscript",
    show_default=True,
    help="torch.onnx.export's TorchScript tracer, or torch.export (same models, slower; "
    "opset 18 or later).",
)
@check_option(
    CHECK_IMAGES,
    "Random images run through the written models with ONNX Runtime in the manifest's order, "
    "their logits compared with PyTorch's (0: off).",
)
@out_option("Folder of the models and manifest.json.", required=True)
def export_cmd(
    path: Path,
    devices: int | None,
    profile: str | None,
    deployment: dict[str, Any],
    weights: Path | None,
    seed: int,
    whole: bool,
    fmt: str,
    opset: int | None,
    exporter: str,
    check: int,
    out: Path,
) -> None:
    """Write PLAN_OR_SPEC as one ONNX model per device (per step when a device must wait for
    its own output from another device) and manifest.json: the transfers and the order.

    A spec is placed as `plan` places it on up to K devices; a plan is exported as written.
    With --whole (or a one-device deployment) the network is one model. See docs/export.md.
    """
    from parawire.export import export_onnx
    from parawire.runtime.planner import load_plan_or_spec

    if whole and devices is None and not _is_plan(path):
        devices = 1  # a spec needs a deployment; the whole network needs none
    plan = load_plan_or_spec(
        path, devices, profile=profile, weights=weights, seed=seed, **deployment
    )
    with progress_on_stderr("export") as progress:
        result = export_onnx(
            plan,
            out,
            opset=opset,
            exporter=exporter,
            whole=whole,
            progress=progress,
            verify=_verifier(plan, whole, seed, check) if check > 0 else None,
        )
    if _is_plan(path):
        click.echo(f"parawire export: profile of the plan ({path / 'plan.json'})", err=True)
    else:
        announce_profile("export", profile)
    say("export", profile_note(plan.info.get("profile")), weights_note(plan, f"{out}"))
    manifest = result.manifest
    moved = sum(t["bytes_per_image"] for t in manifest["transfers"])
    click.echo(
        f"wrote {out}: {len(result.files)} {fmt} model(s) for {manifest['devices']} device(s) "
        f"(steps per device {result.steps_per_device}), {len(manifest['transfers'])} "
        f"transfer(s), {moved:,} bytes per image on the wire ({manifest['wire_dtype']}), "
        f"opset {manifest['opset']}, {result.seconds:.1f} s",
        err=True,
    )


def _verifier(plan: Plan, whole: bool, seed: int, images: int) -> Callable[[Path, dict], None]:
    """The --check: ONNX Runtime on the written models against PyTorch on ``images`` seeded
    random images, before they move into --out (a failed check leaves --out as it was)."""
    import torch

    from parawire.export import ExportError, reference_logits, run_export, whole_plan

    def verify(folder: Path, manifest: dict) -> None:
        generator = torch.Generator().manual_seed(seed)
        image = torch.rand(images, *plan.spec.input_shape, generator=generator)
        got = torch.from_numpy(run_export(folder, image.numpy(), manifest=manifest))
        want = reference_logits(whole_plan(plan) if whole else plan, image)
        diff = float((got - want).abs().max())
        click.echo(
            f"check: ONNX Runtime in the manifest's order vs PyTorch ({images} random "
            f"images): max |diff| {diff:.2e}",
            err=True,
        )
        if not diff <= CHECK_TOLERANCE * (1.0 + float(want.abs().max())):
            raise ExportError(
                f"the exported models' logits differ from PyTorch's by {diff:.2e}; nothing was "
                "written; please report it with the plan (parawire --debug export ...)"
            )

    return verify


def _is_plan(path: Path) -> bool:
    """True for a plan folder or plan file (a document with ``plan_version``), else False."""
    from parawire._io import read_json
    from parawire.arch.spec import MAX_SPEC_BYTES
    from parawire.errors import ParawireError
    from parawire.filenames import PLAN_FILE

    file = path / PLAN_FILE if path.is_dir() else path
    try:
        data = read_json(file, limit=MAX_SPEC_BYTES)
    except ParawireError:
        return False  # not readable as JSON: load_plan_or_spec says what is wrong
    return isinstance(data, dict) and "plan_version" in data


COMMANDS = [export_cmd]
