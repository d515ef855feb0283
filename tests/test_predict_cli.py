"""`parawire predict`: files through a split network, answers equal to the one-process model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from parawire.arch import generate
from parawire.runtime import Plan, make_plan
from parawire.runtime.preprocess import decode_image, preprocess_of
from parawire.runtime.reference import full_model


def _png(path: Path, seed: int) -> Path:
    from PIL import Image

    pixels = (np.random.default_rng(seed).random((32, 32, 3)) * 255).astype("uint8")
    Image.fromarray(pixels).save(path)
    return path


def test_predict_files_on_two_ranks_equals_one_process(tmp_path: Path) -> None:
    plan = make_plan(generate("dp", seed=3, n=8), 2, select="makespan").save(tmp_path / "plan")
    images = [_png(tmp_path / f"img{i}.png", i) for i in range(2)]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    exe = str(Path(sys.executable).with_name("parawire"))
    done = subprocess.run(
        [exe, "predict", str(plan), *map(str, images), str(bad), "--json", "--timeout", "30"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 1, done.stderr  # one file could not be read: said, not hidden
    answers = [json.loads(line) for line in done.stdout.strip().splitlines()]
    assert [Path(a["file"]).name for a in answers] == ["img0.png", "img1.png", "bad.png"]
    assert "not an image" in answers[2]["error"] and "\n" not in answers[2]["error"]
    loaded = Plan.load(plan)
    pre = preprocess_of(loaded)
    model = full_model(loaded)
    for answer, image in zip(answers[:2], images, strict=True):
        assert answer["devices"] == 2 and not answer["degraded"]
        probs = [t["probability"] for t in answer["top"]]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
        with torch.inference_mode():
            expected = model(decode_image(image.read_bytes(), pre).unsqueeze(0)).softmax(1)[0]
        assert answer["top"][0]["index"] == int(expected.argmax())
        assert abs(probs[0] - float(expected.max())) < 1e-5
