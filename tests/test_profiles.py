"""Device/link profiles: a contract suite over every registered profile, the TOML format and
the lookup order."""

from __future__ import annotations

import math

import pytest

from parawire.analysis.graph import Vertex
from parawire.analysis.profiles import (
    DeviceProfile,
    LinkProfile,
    Profile,
    create_profile,
    dump_profiles,
    list_profiles,
    load_profiles,
    parse_profiles,
    register_profile,
    save_profile,
    unregister_profile,
)
from parawire.errors import ConfigError

BUILTINS = ["rpi4-wifi", "rpi4-ethernet", "t2micro", "local-cpu", "ideal"]


@pytest.fixture(autouse=True)
def _isolated_user_files(tmp_path, monkeypatch):
    """No user profile file or $PARAWIRE_PROFILES leaks into these tests."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("PARAWIRE_PROFILES", raising=False)


def test_builtins_present():
    assert set(BUILTINS) <= set(list_profiles())


@pytest.mark.parametrize("name", list_profiles())
def test_profile_contract(name):
    p = create_profile(name)
    assert p.name == name and p.description and p.source
    assert math.isfinite(p.device.flops_per_s) and p.device.flops_per_s > 0
    assert p.device.overhead_s >= 0 and p.link.latency_s >= 0
    small = Vertex(0, "sepconv3x3", macs=1_000, params=0, out_bytes=4)
    big = Vertex(1, "sepconv3x3", macs=1_000_000, params=0, out_bytes=4)
    assert 0 <= p.device.seconds(small) <= p.device.seconds(big)
    assert p.link.seconds(10) <= p.link.seconds(10_000_000)
    assert p.link.seconds(1) >= p.link.latency_s
    assert parse_profiles(dump_profiles([p]))[0][name] == p  # TOML round trip
    assert hash(p) == hash(parse_profiles(dump_profiles([p]))[0][name])


def test_rpi4_rate_matches_public_resnet_figures():
    dev = create_profile("rpi4-wifi").device
    resnet50 = Vertex(0, "conv", macs=4_090_000_000, params=0, out_bytes=0)
    resnet18 = Vertex(0, "conv", macs=1_810_000_000, params=0, out_bytes=0)
    assert dev.seconds(resnet50) == pytest.approx(0.225, rel=0.05)
    assert dev.seconds(resnet18) == pytest.approx(0.100, rel=0.05)


def test_seconds_formula_and_per_op_rates():
    dev = DeviceProfile("d", 1e9, {"mean": 2e9}, overhead_s=1e-3)
    assert dev.seconds(Vertex(0, "conv", 500, 0, 0)) == pytest.approx(1e-3 + 1e-6)
    assert dev.seconds(Vertex(0, "mean", 500, 0, 0)) == pytest.approx(1e-3 + 0.5e-6)
    link = LinkProfile("l", 1e6, 2e-3)
    assert link.seconds(1000) == pytest.approx(3e-3)


@pytest.mark.parametrize(
    "kwargs",
    [{"flops_per_s": 0}, {"flops_per_s": math.inf}, {"overhead_s": -1.0}, {"op": -5.0}],
)
def test_bad_device_values_rejected(kwargs):
    op = kwargs.pop("op", None)
    args = {"name": "d", "flops_per_s": 1e9, **kwargs}
    if op is not None:
        args["op_flops_per_s"] = {"conv": op}
    with pytest.raises(ConfigError):
        DeviceProfile(**args)


def test_unknown_profile_lists_choices():
    with pytest.raises(ConfigError, match="rpi4-wifi"):
        create_profile("no-such-profile")


GOOD = """
[devices.box]
flops_per_s = 2e9
[profiles.a]
device = "box"
link = "wifi"
description = "box over the built-in wifi link"
[profiles.b]
device = { flops_per_s = 1e9, op_flops_per_s = { sepconv3x3 = 5e8 } }
link = { bandwidth_bytes_per_s = 1e6, latency_s = 0.001 }
"""


def test_file_profiles_and_name_references(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(GOOD)
    found = load_profiles(path)
    assert found["a"].device.flops_per_s == 2e9
    assert found["a"].link == create_profile("rpi4-wifi").link  # built-in link by name
    assert found["b"].device.rate("sepconv3x3") == 5e8
    assert create_profile(f"{path}#b") == found["b"]
    with pytest.raises(ConfigError, match="pick one"):
        create_profile(str(path))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[profiles.x\n", "not valid TOML"),
        ("[profiles.x]\ndevice = 'nope'\nlink = 'wifi'\n", "not defined"),
        ("[profiles.x]\ndevice = 'rpi4'\nlink = 'wifi'\ncolour = 1\n", "unknown key"),
        ("[profiles.x]\ndevice = {flops_per_s = 'fast'}\nlink = 'wifi'\n", "must be a number"),
        ("[profiles.x]\ndevice = {flops_per_s = -1.0}\nlink = 'wifi'\n", "> 0"),
        ("[profiles.x]\ndevice = 'rpi4'\n", "link must be"),
        ("[links.l]\nlatency_s = 0.1\n", "needs bandwidth_bytes_per_s"),
    ],
)
def test_malformed_file_gives_one_clear_line(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as info:
        load_profiles(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_missing_file():
    with pytest.raises(ConfigError, match="does not exist"):
        create_profile("/nonexistent/profiles.toml")


def test_lookup_order_user_file_env_and_registration(tmp_path, monkeypatch):
    base = create_profile("local-cpu")
    calibrated = Profile("local-cpu", DeviceProfile("me", 3e9), base.link, "mine", "test")
    written = save_profile(calibrated)  # the user's file (XDG_CACHE_HOME from the fixture)
    assert written.is_relative_to(tmp_path)
    assert create_profile("local-cpu").device.flops_per_s == 3e9  # user file beats built-in
    env_file = tmp_path / "env.toml"
    env_file.write_text(dump_profiles([Profile("local-cpu", DeviceProfile("e", 4e9), base.link)]))
    monkeypatch.setenv("PARAWIRE_PROFILES", str(env_file))
    assert create_profile("local-cpu").device.flops_per_s == 4e9  # $PARAWIRE_PROFILES beats it
    with pytest.raises(ConfigError, match="already exists"):
        register_profile(Profile("local-cpu", DeviceProfile("r", 5e9), base.link))
    register_profile(Profile("local-cpu", DeviceProfile("r", 5e9), base.link), replace=True)
    try:
        assert create_profile("local-cpu").device.flops_per_s == 5e9  # registration beats all
    finally:
        unregister_profile("local-cpu")
    monkeypatch.setenv("PARAWIRE_PROFILES", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="PARAWIRE_PROFILES"):
        create_profile("local-cpu")


def test_save_keeps_other_profiles(tmp_path):
    path = tmp_path / "p.toml"
    a, b = create_profile("rpi4-wifi"), create_profile("t2micro")
    save_profile(a, path)
    save_profile(b, path)
    assert load_profiles(path) == {a.name: a, b.name: b}
