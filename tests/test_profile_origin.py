"""Which file a profile came from: shown by every command that uses one, and `calibrate`
refuses to shadow a built-in profile unless told to (issue 20, item 7)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import parawire
from parawire.analysis.profiles import (
    BUILTIN_FILE,
    Profile,
    create_profile,
    profile_origin,
    register_profile,
    save_profile,
    shadows_builtin,
    unregister_profile,
    user_profile_file,
)
from parawire.cli import main


@pytest.fixture(autouse=True)
def _isolated_user_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("PARAWIRE_PROFILES", raising=False)


@pytest.fixture
def fake_calibration(monkeypatch: pytest.MonkeyPatch) -> None:
    """`calibrate` without the minutes of measuring: the built-in figures, renamed."""

    class Measured:
        def to_profile(self, name: str) -> Profile:
            return dataclasses.replace(create_profile("local-cpu"), name=name, description="here")

        def to_dict(self) -> dict:
            return {}

    monkeypatch.setattr("parawire.analysis.calibrate.calibrate", lambda **_: Measured())


def test_origins(tmp_path: Path) -> None:
    assert create_profile("rpi4-wifi").file == str(BUILTIN_FILE)
    assert profile_origin("rpi4-wifi") == "built-in"
    mine = dataclasses.replace(create_profile("ideal"), name="mine", file="")
    path = save_profile(mine, tmp_path / "mine.toml")
    assert profile_origin(str(path)) == f"file {path}"
    assert create_profile(str(path)) == mine  # the file is no part of the figures
    register_profile(mine)
    try:
        assert profile_origin("mine") == "made in code"
    finally:
        unregister_profile("mine")


def test_shadowing_needs_a_looked_up_file_and_a_builtin_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert shadows_builtin("local-cpu", user_profile_file())
    assert not shadows_builtin("here", user_profile_file())
    assert not shadows_builtin("local-cpu", tmp_path / "elsewhere.toml")
    monkeypatch.setenv("PARAWIRE_PROFILES", str(tmp_path / "elsewhere.toml"))
    assert shadows_builtin("local-cpu", tmp_path / "elsewhere.toml")


@pytest.mark.usefixtures("fake_calibration")
def test_calibrate_refuses_to_shadow_a_builtin_silently(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calibrate", "--name", "local-cpu"]) == 1
    err = capsys.readouterr().err.strip()
    assert "would shadow the built-in profile 'local-cpu'" in err and "--shadow" in err
    assert "\n" not in err and not user_profile_file().exists()
    # another name, or another file, shadows nothing
    assert main(["calibrate", "--json"]) == 0  # the default name, here, shadows nothing
    args = ["calibrate", "--name", "local-cpu", "--out", str(tmp_path / "x.toml"), "--json"]
    assert main(args) == 0
    assert "shadows" not in capsys.readouterr().err
    assert profile_origin("local-cpu") == "built-in"


@pytest.mark.usefixtures("fake_calibration")
def test_a_shadowing_profile_is_named_with_its_file_by_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calibrate", "--name", "local-cpu", "--shadow", "--json"]) == 0
    file = user_profile_file()
    assert f"profile 'local-cpu' in {file} now shadows the built-in" in capsys.readouterr().err
    assert profile_origin("local-cpu") == f"file {file}, shadowing the built-in"
    spec = parawire.generate("ws", seed=0, n=6, k=2).save(tmp_path / "arch.json")
    args = ["plan", str(spec), "-n", "2", "--profile", "local-cpu", "-o", str(tmp_path / "p")]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert f"profile local-cpu (from --profile; file {file}, shadowing the built-in)" in err
    assert main(["analyze", str(spec), "-n", "2", "--json"]) == 0
    assert "profile rpi4-wifi (the default of `parawire analyze`; built-in)" in (
        capsys.readouterr().err
    )
