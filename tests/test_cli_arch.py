"""`parawire generate/show/validate` on good and bad input (in-process and as a real script)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import parawire
from parawire.cli import main
from parawire.nn import build_model, count_parameters


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("generator", ["er", "ba", "ws", "dp", "chain", "lanes"])
def test_generate_show_validate(
    generator: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "arch.json"
    code, _, _ = run(["generate", generator, "--seed", "3", "-o", str(path)], capsys)
    assert code == 0
    spec = parawire.load_spec(path)
    assert spec == parawire.generate(generator, seed=3)
    code, out, _ = run(["show", str(path)], capsys)
    assert code == 0
    params = count_parameters(build_model(spec))
    assert f"{params:,}" in out
    for word in ("vertices", "edges", "stages", "depth", "width", "MACs"):
        assert word in out
    code, out, _ = run(["validate", str(path)], capsys)
    assert code == 0 and "valid" in out


def test_generate_params_staging_and_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["generate", "ws", "--param", "k=6", "--param", "p=0.1", "--staging", "fb"]
    code, out, _ = run([*args, "--seed", "1", "--input-size", "64"], capsys)
    assert code == 0
    spec = parawire.arch.ArchSpec.from_dict(json.loads(out))
    assert spec.provenance.params["k"] == 6 and spec.provenance.params["p"] == 0.1
    assert len(spec.stages) == 3 and spec.input_shape == (3, 64, 64)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generate", "nope"], "unknown generator 'nope'"),
        (["generate", "er", "--param", "p=abc"], "parameter p must be a number"),
        (["generate", "er", "--param", "p=3"], "p must be in [0, 1]"),
        (["generate", "er", "--param", "pp"], "--param takes key=value"),
        (["generate", "er", "--param", "zz=1"], "has no parameter 'zz'"),
        (["generate", "er", "--staging", "wild"], "Invalid value for '--staging'"),
        (["show", "/nonexistent/arch.json"], "spec file not found"),
    ],
)
def test_bad_input_gives_one_line_and_nonzero(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(args, capsys)
    assert code != 0
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("hello", "invalid JSON"),
        ('{"a": 1}', "no 'schema_version'"),
        ("__invalid__", "not on any input-to-output path"),
    ],
)
def test_bad_files(
    content: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "x.json"
    if content == "__invalid__":
        data = parawire.generate("er", seed=0, n=8).to_dict()
        data["edges"] = [e for e in data["edges"] if e["dst"] != data["stages"][0]["output"]]
        content = json.dumps(data)
    path.write_text(content)
    for command in ("show", "validate"):
        code, _, err = run([command, str(path)], capsys)
        assert code == 1 and message in err and len(err.strip().splitlines()) == 1


def test_console_script_error_has_no_traceback_unless_debug(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("parawire")
    done = subprocess.run([exe, "generate", "bogus"], capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    done = subprocess.run([exe, "--debug", "generate", "bogus"], capture_output=True, text=True)
    assert done.returncode != 0 and "Traceback" in done.stderr
