"""The documented path on separate hosts: train -> plan --weights -> worker on each host -> serve.

Each rank runs in its own Linux network namespace (``parawire.runtime.netns.HostLab``: real TCP
and gloo between addresses of 192.0.2.0/24, never routed); a digits network is trained for one
epoch; real test images go through ``parawire serve`` over HTTP (the client runs inside rank 0's
host, where serve listens on loopback) and every answer must equal the one-process model's
prediction of the same pre-processed image. Skipped (with the reason) without namespaces.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import parawire
from parawire.runtime.netns import MASTER_PORT, WORKER, HostLab, unavailable

REASON = unavailable()
CLIENT = """
import http.client, json, sys, time
bodies = json.load(open(sys.argv[1]))
deadline = time.monotonic() + 240
while True:  # serve starts its HTTP listener once the ranks have joined (or --wait passed)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", 8080, timeout=60)
        conn.request("GET", "/health")
        health = json.loads(conn.getresponse().read())
        if health["devices"] == health["world"]:
            break
    except OSError:
        pass
    if time.monotonic() > deadline:
        sys.exit("serve did not come up with every device")
    time.sleep(0.5)
out = []
for hexed in bodies:
    kind = {"Content-Type": "image/png"}
    conn.request("POST", "/predict", body=bytes.fromhex(hexed), headers=kind)
    out.append(json.loads(conn.getresponse().read()))
print(json.dumps({"health": health, "answers": out}))
"""


def _png(image: torch.Tensor) -> bytes:
    """A (3, H, W) uint8 image as PNG bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[parawire.ArchSpec, Path]:
    """A small dp network trained one epoch on digits with `parawire train` (spec, weights)."""
    folder = tmp_path_factory.mktemp("trained")
    staging = parawire.StagingConfig(name="probabilistic", channels=8, c_max=32, min_size=2)
    spec = parawire.generate("dp", seed=0, n=10, input_shape=(3, 32, 32), staging=staging)
    spec.save(folder / "arch.json")
    exe = str(Path(sys.executable).with_name("parawire"))
    done = subprocess.run(
        [exe, "train", str(folder / "arch.json"), "--dataset", "digits", "--epochs", "1",
         "--out", str(folder / "run")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return spec, folder / "run" / "weights.safetensors"


@pytest.mark.slow
@pytest.mark.skipif(REASON is not None, reason=REASON or "")
@pytest.mark.parametrize("hosts", [2, 3])
def test_serve_on_separate_hosts_answers_as_the_one_process_model(
    hosts: int, trained: tuple[parawire.ArchSpec, Path], tmp_path: Path
) -> None:
    from parawire.data import load_dataset
    from parawire.runtime.plan import Plan
    from parawire.runtime.preprocess import decode_image, preprocess_of
    from parawire.runtime.reference import full_model

    spec, weights = trained
    placement = {v: i % hosts for i, v in enumerate(spec.topological_order)}
    placement[spec.input_node] = 0
    plan_dir = Plan(spec, placement, hosts, weights=weights).save(tmp_path / "plan")
    plan = Plan.load(plan_dir)
    pre = preprocess_of(plan)
    assert pre.classes == tuple(str(d) for d in range(10)) and "metadata" in pre.source
    splits = load_dataset("digits")
    bodies = [_png(splits.test_images[i]) for i in range(12)]
    model = full_model(plan)
    with torch.inference_mode():
        expected = [int(model(decode_image(b, pre)[None]).argmax()) for b in bodies]
    (tmp_path / "bodies.json").write_text(json.dumps([b.hex() for b in bodies]))
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "eth0"}
    with HostLab(hosts) as lab:
        master = f"{lab.address(0)}:{MASTER_PORT}"
        base = [sys.executable, "-c", WORKER]
        serve = subprocess.Popen(
            [*lab.exec_prefix(0), *base, "serve", str(plan_dir), "--master", master,
             "--port", "8080", "--timeout", "30", "--wait", "240"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        workers = []
        for r in range(1, hosts):
            command = [*lab.exec_prefix(r), *base, "worker", str(plan_dir), "--rank", str(r),
                       "--master", master, "--timeout", "30"]  # fmt: skip
            workers.append(
                subprocess.Popen(
                    command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
                )
            )
        try:
            client = subprocess.run(
                [*lab.exec_prefix(0), sys.executable, "-c", CLIENT, str(tmp_path / "bodies.json")],
                capture_output=True, text=True, timeout=400,
            )  # fmt: skip
            serve.send_signal(signal.SIGINT)  # Ctrl-C: serve ends, and the workers with it
            _, serve_err = serve.communicate(timeout=120)
            ends = [w.communicate(timeout=120) for w in workers]
        finally:
            for p in [serve, *workers]:
                if p.poll() is None:
                    p.kill()
                    p.wait(timeout=30)
    assert client.returncode == 0, (client.stderr, serve_err)
    doc = json.loads(client.stdout.strip().splitlines()[-1])
    assert doc["health"]["devices"] == hosts and doc["health"]["degraded"] is False
    got = [a["top"][0]["index"] for a in doc["answers"]]
    assert got == expected
    assert all(a["devices"] == hosts and not a["degraded"] for a in doc["answers"])
    assert serve_err.startswith("parawire: plan") and "profile" in serve_err.splitlines()[0]
    assert all(w.returncode == 0 for w in workers), ends
