"""parawire.deploy: ranks kept up across requests, streaming, the HTTP service, the run secret.

The oracle is the whole model in one process: every answer of the split network must equal it
exactly (max |diff| 0), streamed or not, over HTTP or not. One deployment is shared by the
module's tests (starting ranks costs seconds on a shared machine); the kill-and-recover test
starts its own and is slow.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import threading
import time

import pytest
import torch

from conftest import small_spec
from parawire.errors import ConfigError, DataError
from parawire.runtime.deploy import Answer, deploy
from parawire.runtime.group import connect_store, wide_bind_warning
from parawire.runtime.planner import make_plan
from parawire.runtime.preprocess import decode_image, preprocess_of
from parawire.runtime.reference import full_model
from parawire.runtime.secret import (
    SECRET_ENV,
    SECRET_FILE,
    fingerprint,
    load_secret,
    store_prefix,
)
from parawire.runtime.serving import ServeOptions

TIMEOUT = 30.0


@pytest.fixture(scope="module")
def net():
    """A 3-device plan of a small dp spec, deployed on local ranks."""
    plan = make_plan(small_spec("dp"), 3, select="makespan")
    with deploy(plan, options=ServeOptions(timeout=TIMEOUT), wait=180) as deployment:
        yield deployment


@pytest.fixture(scope="module")
def model(net):
    """The one-process oracle with the plan's weights."""
    return full_model(net.plan)


def _png(image: torch.Tensor) -> bytes:
    """A (3, H, W) image in [0, 1] as PNG bytes."""
    from PIL import Image

    pixels = (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_answers_equal_the_one_process_model_for_any_batch(net, model) -> None:
    assert net.health() == {**net.health(), "devices": net.world, "degraded": False}
    for batch in (1, 4, 1, 9):
        x = torch.randn(batch, *net.plan.graph.input_shape)
        answer = net.infer(x)
        assert isinstance(answer, Answer) and not answer.degraded
        assert (answer.logits - model(x)).abs().max().item() == 0.0
    one = torch.randn(*net.plan.graph.input_shape)
    assert torch.equal(net(one), torch.softmax(model(one[None]), 1)[0])


def test_stream_returns_every_frame_in_order(net, model) -> None:
    frames = [torch.randn(*net.plan.graph.input_shape) for _ in range(12)]
    streamed = list(net.stream(frames, window=4))
    reference = torch.softmax(model(torch.stack(frames)), 1)
    assert len(streamed) == len(frames)
    assert all(torch.equal(s, r) for s, r in zip(streamed, reference, strict=True))


def test_submission_from_many_threads(net, model) -> None:
    inputs = [torch.randn(2, *net.plan.graph.input_shape) for _ in range(16)]
    results: dict[int, torch.Tensor] = {}

    def client(i: int) -> None:
        results[i] = net.submit(inputs[i]).result(timeout=60).logits

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(torch.equal(results[i], model(x)) for i, x in enumerate(inputs))


def test_wrong_shapes_are_refused_in_one_line(net) -> None:
    with pytest.raises(ConfigError, match="shape"):
        net.submit(torch.zeros(2, 1, 5, 5))
    with pytest.raises(ConfigError, match="images"):
        net.submit(torch.zeros(0, *net.plan.graph.input_shape))


def test_a_process_without_the_secret_changes_nothing_and_is_reported(net, model) -> None:
    intruder = connect_store("127.0.0.1", net.port, 1, TIMEOUT)
    intruder.set("parawire/joined/1", "not-the-plan")
    intruder.set("parawire/hello/1", "0000")
    with pytest.raises((RuntimeError, OSError)):  # the store refuses 256 MiB (max 8 MiB)
        intruder.set("parawire/checked/0", b"x" * (256 << 20))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(
        "without this run's secret" in w for w in net.health()["warnings"]
    ):
        time.sleep(0.2)
    warned = [w for w in net.health()["warnings"] if "without this run's secret" in w]
    assert warned and all("\n" not in w for w in warned)
    x = torch.randn(3, *net.plan.graph.input_shape)
    assert torch.equal(net.infer(x).logits, model(x))
    assert not net.health()["degraded"]


def test_http_predict_health_and_bad_input(net, model) -> None:
    from aiohttp import FormData
    from aiohttp.test_utils import TestClient, TestServer

    from parawire.runtime.service import make_app

    pre = preprocess_of(net.plan)
    image = torch.rand(3, *net.plan.graph.input_shape[1:])
    png = _png(image)
    expected = int(model(decode_image(png, pre)[None]).argmax())

    async def scenario() -> None:
        async with TestClient(TestServer(make_app(net, pre, k=3))) as client:
            r = await client.post("/predict", data=png, headers={"Content-Type": "image/png"})
            doc = await r.json()
            assert r.status == 200 and doc["top"][0]["index"] == expected
            assert len(doc["top"]) == 3 and doc["degraded"] is False
            form = FormData()
            form.add_field("file", png, filename="x.png", content_type="image/png")
            r = await client.post("/predict", data=form)
            assert r.status == 200 and (await r.json())["top"][0]["index"] == expected
            bad = {
                "not an image": (b"hello world", "image/png", 400),
                "truncated": (png[: len(png) // 2], "image/png", 400),
                "wrong type": (png, "text/plain", 415),
                "zeros": (bytes(10 << 20), "application/octet-stream", 413),
                "huge": (_huge_png(), "image/png", 413),
            }
            for name, (body, kind, status) in bad.items():
                r = await client.post("/predict", data=body, headers={"Content-Type": kind})
                doc = await r.json()
                assert r.status == status, (name, doc)
                assert "\n" not in doc["error"], name
            r = await client.get("/health")
            doc = await r.json()
            assert doc["devices"] == net.world and doc["degraded"] is False
            r = await client.post("/predict", data=png, headers={"Content-Type": "image/png"})
            assert r.status == 200  # still up after the bad requests

    asyncio.run(scenario())


def _huge_png() -> bytes:
    """A small file that decodes to 50 megapixels (over the limit)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (10_000, 5_000)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_decode_refuses_in_one_line() -> None:
    plan = make_plan(small_spec("dp"), 2, select="makespan")
    pre = preprocess_of(plan)
    for body in (b"", b"GIF89a-not-really", bytes(100)):
        with pytest.raises(DataError):
            decode_image(body, pre)


def test_secret_loading_and_names(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with pytest.raises(ConfigError, match=SECRET_FILE):
        load_secret(tmp_path)
    make_plan(small_spec("dp"), 2, select="makespan").save(tmp_path)
    secret = load_secret(tmp_path)
    assert (tmp_path / SECRET_FILE).stat().st_mode & 0o777 == 0o600
    make_plan(small_spec("dp"), 2, select="makespan").save(
        tmp_path
    )  # saving again keeps the secret
    assert load_secret(tmp_path) == secret
    monkeypatch.setenv(SECRET_ENV, "short")
    with pytest.raises(ConfigError, match="characters"):
        load_secret(tmp_path)
    monkeypatch.setenv(SECRET_ENV, "a" * 32)
    assert load_secret(tmp_path) == "a" * 32
    assert fingerprint(secret) != fingerprint("a" * 32)
    assert fingerprint(secret) not in store_prefix(secret)


def test_wide_bind_warns() -> None:
    assert wide_bind_warning("0.0.0.0") and wide_bind_warning("::")
    assert wide_bind_warning("127.0.0.1") is None and wide_bind_warning("192.168.1.10") is None


@pytest.mark.slow
def test_a_killed_worker_gives_errors_or_degraded_answers_then_the_group_is_whole_again() -> None:
    plan = make_plan(small_spec("dp"), 3, select="makespan")
    with deploy(plan, options=ServeOptions(timeout=10.0), wait=180) as net:
        model = full_model(net.plan)
        x = torch.randn(2, *net.plan.graph.input_shape)
        reference = model(x)
        counts = {"whole": 0, "degraded": 0, "error": 0}
        for i in range(60):
            if i == 20:  # kept dead for a while: a restarted rank can rejoin within the timeout
                net.restart_workers = False
                os.kill(net.local_pid(net.world - 1), signal.SIGKILL)
            try:
                answer = net.infer(x)
            except Exception as exc:
                assert "\n" not in str(exc)
                counts["error"] += 1
                continue
            assert torch.equal(answer.logits, reference)
            counts["degraded" if answer.degraded else "whole"] += 1
            assert answer.devices == (1 if answer.degraded else net.world)
            time.sleep(0.05)
        assert counts["error"] <= 1 and counts["degraded"] >= 1
        assert net.health()["degraded"] and net.health()["devices"] == 1
        net.restart_workers = True  # the watcher starts the rank again; the group forms again
        assert net.wait_ready(120)
        assert not net.infer(x).degraded and net.health()["generation"] >= 2


def test_the_rendezvous_host_survives_an_intruder_without_a_cpp_trace(tmp_path) -> None:
    import socket
    import subprocess
    import sys
    from pathlib import Path

    make_plan(small_spec("dp"), 2, select="makespan").save(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = str(Path(sys.executable).with_name("parawire"))
    args = ["--rank", "0", "--master", f"127.0.0.1:{port}", "--runs", "1", "--timeout", "8"]
    rank0 = subprocess.Popen(
        [exe, "worker", str(tmp_path), *args],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        intruder = connect_store("127.0.0.1", port, 1, TIMEOUT)
        intruder.set("parawire/joined/1", "garbage")
        with pytest.raises((RuntimeError, OSError)):
            intruder.set("parawire/hello/1", b"x" * (256 << 20))
        _, err = rank0.communicate(timeout=60)
    finally:
        rank0.kill()
    assert rank0.returncode == 1
    assert "frame #" not in err and "Traceback" not in err
    assert "without this run's secret wrote 'parawire/joined/1'" in err
    assert "rank(s) 1 of 2 did not join" in err
