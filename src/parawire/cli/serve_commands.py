"""`parawire serve` and `parawire predict`: a plan's split network answering real images.

    parawire serve plan/ --port 8080                        # local ranks, HTTP on 127.0.0.1
    parawire serve plan/ --master 192.168.1.10:29500        # `parawire worker` on each device
    parawire predict plan/ photos/ cat.jpg --json

The runtime is imported inside the commands, so that their ``--help`` answers at once.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from parawire.cli.option_groups import grouped
from parawire.cli.options import (
    bind_option,
    json_option,
    master_option,
    shared_option,
    threads_option,
    timeout_option,
)

if TYPE_CHECKING:
    from parawire.runtime.deploy import Deployment

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


@dataclass(frozen=True)
class Ranks:
    """How `serve` and `predict` start a plan's ranks: their shared options."""

    master: str | None  # HOST:PORT that remote `parawire worker`s join; None: local ranks
    bind: str | None  # the address the rendezvous listens on (default: master's host)
    timeout: float  # seconds any wait may last
    threads: int  # torch threads of each rank
    window: int  # requests in flight at once
    wait: float  # seconds to wait for every rank before answering on one device

    def start(self, plan: Path) -> Deployment:
        """The deployment: local ranks, or remote workers joining ``master``."""
        from parawire.runtime.lifeline import quiet_torch_logs

        quiet_torch_logs()  # before torch loads: no pages of C++ frames from the rendezvous
        from parawire.runtime.deploy import Deployment
        from parawire.runtime.serving import ServeOptions

        options = ServeOptions(timeout=self.timeout, threads=self.threads, window=self.window)
        workers = "local" if self.master is None else "remote"
        net = Deployment(plan, workers=workers, master=self.master, bind=self.bind, options=options)
        _first_line(net, plan)
        if not net.wait_ready(self.wait):
            why = net.fatal or f"not every rank joined within {self.wait:g}s"
            click.echo(f"parawire: warning: {why}; answering on one device until they do", err=True)
        return net


def _first_line(net: Deployment, plan: Path) -> None:
    """Which plan, which profile it was placed for and where that came from."""
    info = net.plan.info
    profile = info.get("profile", "local-cpu (a plan made by hand)")
    click.echo(
        f"parawire: plan {plan}: {net.world} ranks placed for profile {profile} (recorded in "
        f"{plan / 'plan.json'})",
        err=True,
    )


_ranks = grouped(
    "ranks",
    [
        master_option(
            help_text="Wait for `parawire worker` processes that connect to HOST:PORT (this "
            "machine's address on the devices' network); default: start the ranks on this "
            "machine."
        ),
        bind_option(),
        timeout_option(),
        threads_option("torch threads of each rank."),
        shared_option(
            "--window",
            type=click.IntRange(1, 8),
            default=4,
            show_default=True,
            help="Requests in flight on the devices at once (pipelining).",
        ),
        shared_option(
            "--wait",
            type=float,
            default=120.0,
            show_default=True,
            help="Seconds to wait for every rank before answering on one device meanwhile.",
        ),
    ],
    Ranks,
)
_top = shared_option(
    "--top-k",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Classes in each answer, most probable first.",
)


@click.command("serve")
@click.argument("plan", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="HTTP address.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="HTTP port."
)
@_ranks
@_top
def serve_cmd(plan: Path, host: str, port: int, ranks: Ranks, top_k: int) -> None:
    """Serve PLAN over HTTP: POST /predict (an image) -> top-k classes; GET /health."""
    from parawire.runtime.lifeline import quiet_torch_logs

    quiet_torch_logs()  # before torch loads: no pages of C++ frames from the rendezvous
    from aiohttp import web

    from parawire.runtime.group import wide_bind_warning
    from parawire.runtime.preprocess import preprocess_of
    from parawire.runtime.service import make_app

    if (line := wide_bind_warning(host)) is not None:
        click.echo(f"parawire: warning: HTTP {line.replace('--bind', '--host', 1)}", err=True)
    net = ranks.start(plan)
    try:
        pre = preprocess_of(net.plan)
        click.echo(
            f"parawire: serving on http://{host}:{port} ({net.health()['devices']} of "
            f"{net.world} devices; preprocessing from {pre.source}); Ctrl-C ends",
            err=True,
        )
        web.run_app(make_app(net, pre, top_k), host=host, port=port, print=None)
    finally:
        net.close()


def image_files(paths: tuple[Path, ...]) -> list[Path]:
    """The image files named, folders expanded (their images, sorted), in the order given."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            files.append(path)
    return files


@click.command("predict")
@click.argument("plan", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@_ranks
@_top
@json_option("One JSON object per image.")
def predict_cmd(
    plan: Path, images: tuple[Path, ...], ranks: Ranks, top_k: int, as_json: bool
) -> None:
    """Classify IMAGES (files or folders of images) with PLAN split over its devices.

    An image that cannot be read is reported in one line and the others go on; the exit code
    is 1 when any failed.
    """
    from parawire.runtime.lifeline import quiet_torch_logs

    quiet_torch_logs()  # before torch loads: no pages of C++ frames from the rendezvous
    from parawire.errors import DataError
    from parawire.runtime.preprocess import MAX_IMAGE_BYTES, decode_image, preprocess_of
    from parawire.runtime.preprocess import top_k as best

    files = image_files(images)
    net = ranks.start(plan)
    failed = 0
    try:
        pre = preprocess_of(net.plan)
        for file in files:
            try:
                with file.open("rb") as f:
                    data = f.read(MAX_IMAGE_BYTES + 1)
                answer = net.infer(decode_image(data, pre))
            except (OSError, DataError) as exc:
                failed += 1
                line = exc.strerror if isinstance(exc, OSError) else str(exc)
                _report(file, {"error": line}, as_json)
                continue
            doc: dict[str, Any] = {
                "top": best(answer.probs[0], pre, top_k),
                "latency_ms": answer.latency_s * 1e3,
                "degraded": answer.degraded,
                "devices": answer.devices,
            }
            _report(file, doc, as_json)
    finally:
        net.close()
    if failed:
        sys.exit(1)


def _report(file: Path, doc: dict[str, Any], as_json: bool) -> None:
    """One line per image: JSON, or the best class and its probability."""
    if as_json:
        click.echo(json.dumps({"file": str(file), **doc}))
    elif "error" in doc:
        click.echo(f"{file}: error: {doc['error']}")
    else:
        top = doc["top"][0]
        mark = " (degraded: one device)" if doc["degraded"] else ""
        click.echo(
            f"{file}: {top['name']} ({top['probability']:.1%}), {doc['latency_ms']:.1f} ms{mark}"
        )


COMMANDS = [serve_cmd, predict_cmd]
