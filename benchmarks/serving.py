"""Serving: pipelined streaming throughput, HTTP overhead, and a worker killed mid-stream.

Three modes (each prints one JSON object per row and a summary line):

* ``stream``: a 40-vertex dp spec (pooled merge, seed 0) placed on 4 emulated ``--profile``
  devices (default rpi4-ethernet) for throughput (``analyze --objective throughput``'s choice),
  served by ``parawire.deploy`` with local ranks under device emulation, time-dilated (the
  factor ``auto_dilation`` picks, as ``run --emulate --dilation auto``). Measured: the p50 of
  single inferences (one in flight), the streamed frames per second and the p50 latency of a
  streamed frame (``--window`` in flight), one emulated device's frames per second (the whole
  model padded vertex by vertex in one process), and the simulated steady-state throughput
  (``parawire.analysis.throughput``). Latencies are the driver's, from the start of an
  inference to its logits (``Answer.pipeline_s``: a frame queued behind a full window waits
  outside it). Every time is divided by the dilation.
* ``http``: ``parawire serve``'s application on loopback in this process (aiohttp, a
  32x32 spec on 2 local ranks): the p50 of ``POST /predict`` of a 32x32 PNG over one kept-alive
  connection against the p50 of ``net.infer`` of the same decoded image; the difference is
  the HTTP path's overhead (decoding, JSON, the event loop).
* ``kill``: ``--requests`` HTTP requests, one at a time; local rank K-1 is killed (SIGKILL) at
  request ``--kill-at``; every answer is checked against the one-process model's prediction;
  counts of whole, degraded and error answers, and whether the group is whole again at the end
  (the front end restarts the killed rank).

    .venv/bin/python benchmarks/serving.py --mode stream            # ~3 min on 2 cores
    .venv/bin/python benchmarks/serving.py --mode http --requests 300
    .venv/bin/python benchmarks/serving.py --mode kill --requests 1000 --kill-at 500
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import platform
import signal
import statistics
import tempfile
import threading
import time
from typing import Any

import torch

import parawire
from parawire.runtime.deploy import deploy
from parawire.runtime.plan import simulate_plan
from parawire.runtime.planner import make_plan
from parawire.runtime.reference import full_model, plan_model, plan_state
from parawire.runtime.run_report import machine_load
from parawire.runtime.serving import ServeOptions


def spec_32(n: int = 40) -> parawire.ArchSpec:
    """The benchmark network: dp, pooled merge, 32x32 input, seed 0."""
    return parawire.generate("dp", seed=0, merge="pooled", n=n)


def stream_mode(args: argparse.Namespace) -> dict[str, Any]:
    """Pipelined throughput on emulated devices (see the module docstring)."""
    from parawire.analysis.profiles import create_profile
    from parawire.analysis.throughput import steady_state
    from parawire.runtime.dilation import auto_dilation, dilated_profile_ref

    spec = spec_32()
    plan = make_plan(spec, args.devices, profile=args.profile, select=args.select)
    factor = args.dilation or auto_dilation(plan, args.profile)
    with tempfile.TemporaryDirectory(prefix="parawire-serving-") as tmp:
        ref = dilated_profile_ref(args.profile, factor, tmp)
        simulated = steady_state(simulate_plan(plan, create_profile(args.profile), 1))
        options = ServeOptions(timeout=60 * factor, emulate=ref, window=args.window)
        x = torch.randn(1, *plan.graph.input_shape)
        frames = [torch.randn(*plan.graph.input_shape) for _ in range(args.frames)]
        with deploy(plan, options=options, wait=300) as net:
            for _ in range(3):
                net.infer(x)
            single = []
            for _ in range(args.runs):
                single.append(net.infer(x).pipeline_s)
            streamed: list[float] = []
            start = time.perf_counter()
            flight: list[Any] = []
            for frame in frames:
                flight.append(net.submit(frame))
                if len(flight) >= args.window:
                    streamed.append(flight.pop(0).result(timeout=600).pipeline_s)
            streamed += [f.result(timeout=600).pipeline_s for f in flight]
            elapsed = time.perf_counter() - start
        from parawire.runtime.options import emulation_pads
        from parawire.runtime.reference import padded_forward

        pads = emulation_pads(plan, ref, 1)
        model = plan_model(plan, plan_state(plan))
        one = []
        with torch.inference_mode():
            for _ in range(max(3, args.runs // 4)):
                t0 = time.perf_counter()
                padded_forward(model, x, pads)
                one.append(time.perf_counter() - t0)
    fps = len(frames) / elapsed * factor
    one_fps = factor / statistics.median(one)
    single_p50 = statistics.median(single) / factor
    streamed_p50 = statistics.median(streamed) / factor
    return {
        "mode": "stream",
        "profile": args.profile,
        "devices": plan.world,
        "window": args.window,
        "frames": len(frames),
        "dilation": factor,
        "streamed_frames_per_s": fps,
        "one_device_frames_per_s": one_fps,
        "throughput_over_one_device": fps / one_fps,
        "single_p50_ms": single_p50 * 1e3,
        "streamed_p50_ms": streamed_p50 * 1e3,
        "streamed_over_single_p50": streamed_p50 / single_p50,
        "simulated_frames_per_s": simulated.frames_per_s,
        "simulated_frames_in_flight": simulated.frames_in_flight,
        "simulated_bottleneck": simulated.bottleneck,
        "measured_over_simulated_throughput": fps / simulated.frames_per_s,
    }


def _png(image: torch.Tensor) -> bytes:
    """A (3, H, W) image in [0, 1] as PNG bytes."""
    from PIL import Image

    pixels = (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


class _Server:
    """``parawire serve``'s aiohttp application on 127.0.0.1 in a background thread."""

    def __init__(self, net: Any, pre: Any) -> None:
        import asyncio

        from aiohttp import web

        from parawire.runtime.service import make_app

        self.loop = asyncio.new_event_loop()
        self.runner = web.AppRunner(make_app(net, pre))
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        import asyncio

        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def _post(conn: http.client.HTTPConnection, body: bytes) -> tuple[int, dict[str, Any]]:
    """One ``POST /predict`` on a kept-alive connection."""
    conn.request("POST", "/predict", body=body, headers={"Content-Type": "image/png"})
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def http_mode(args: argparse.Namespace) -> dict[str, Any]:
    """HTTP overhead over the direct API (see the module docstring)."""
    from parawire.runtime.preprocess import decode_image, preprocess_of

    plan = make_plan(spec_32(12), 2, profile="local-cpu", select="makespan")
    with deploy(plan, options=ServeOptions(timeout=60), wait=300) as net:
        pre = preprocess_of(net.plan)
        body = _png(torch.rand(3, 32, 32))
        image = decode_image(body, pre)
        server = _Server(net, pre)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        direct, over_http = [], []
        try:
            for i in range(args.requests + 10):  # paired, alternating, under the same load
                t0 = time.perf_counter()
                net.infer(image)
                t1 = time.perf_counter()
                status, _ = _post(conn, body)
                t2 = time.perf_counter()
                assert status == 200
                if i >= 10:
                    direct.append(t1 - t0)
                    over_http.append(t2 - t1)
        finally:
            conn.close()
            server.close()
    d, h = statistics.median(direct), statistics.median(over_http)
    return {
        "mode": "http",
        "requests": len(direct),
        "direct_p50_ms": d * 1e3,
        "http_p50_ms": h * 1e3,
        "overhead_p50_ms": (h - d) * 1e3,
        "paired_overhead_p50_ms": statistics.median(
            b - a for a, b in zip(direct, over_http, strict=True)
        )
        * 1e3,
    }


def kill_mode(args: argparse.Namespace) -> dict[str, Any]:
    """``--requests`` requests, a worker killed at ``--kill-at`` (see the module docstring)."""
    from parawire.runtime.preprocess import decode_image, preprocess_of

    plan = make_plan(spec_32(12), args.devices, profile="local-cpu", select="cs")
    counts = {"whole": 0, "degraded": 0, "error": 0, "wrong": 0, "lost": 0}
    errors: set[str] = set()
    options = ServeOptions(timeout=args.timeout)
    with deploy(plan, options=options, wait=300) as net:
        pre = preprocess_of(net.plan)
        model = full_model(net.plan)
        bodies = [_png(torch.rand(3, 32, 32)) for _ in range(8)]
        with torch.inference_mode():
            expected = [int(model(decode_image(b, pre)[None]).argmax()) for b in bodies]
        server = _Server(net, pre)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=4 * args.timeout)
        try:
            for i in range(args.requests):
                if i == args.kill_at:
                    os.kill(net.local_pid(net.world - 1), signal.SIGKILL)
                try:
                    status, doc = _post(conn, bodies[i % len(bodies)])
                except (OSError, http.client.HTTPException):
                    counts["lost"] += 1
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
                    continue
                if status != 200:
                    counts["error"] += 1
                    errors.add(doc.get("error", "")[:200])
                elif doc["top"][0]["index"] != expected[i % len(bodies)]:
                    counts["wrong"] += 1
                else:
                    counts["degraded" if doc["degraded"] else "whole"] += 1
            whole_again = net.wait_ready(120)
            status, doc = _post(conn, bodies[0])
        finally:
            conn.close()
            server.close()
    return {
        "mode": "kill",
        "devices": plan.world,
        "requests": args.requests,
        "killed_at": args.kill_at,
        **counts,
        "errors": sorted(errors),
        "whole_again": whole_again,
        "devices_after": doc.get("devices"),
    }


def main() -> None:
    """Parse the options, run one mode, print its row."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=["stream", "http", "kill"], default="stream")
    parser.add_argument("--profile", default="rpi4-ethernet")
    parser.add_argument("--devices", type=int, default=4)
    parser.add_argument("--select", default="makespan")
    parser.add_argument("--window", type=int, default=3)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--dilation", type=float, default=None, help="default: auto")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--kill-at", type=int, default=150)
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    load = machine_load()
    row = {"stream": stream_mode, "http": http_mode, "kill": kill_mode}[args.mode](args)
    row |= {
        "machine": platform.processor() or platform.machine(),
        "cores": load["cores"],
        "load_1min_before": load["load_1min"],
        "load_1min_after": machine_load()["load_1min"],
        "date": time.strftime("%Y-%m-%d"),
    }
    print(json.dumps(row))


if __name__ == "__main__":
    main()
