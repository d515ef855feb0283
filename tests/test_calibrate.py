"""`parawire calibrate`: a quick run (few repetitions) writes a loadable, sane profile."""

from __future__ import annotations

import json

import pytest

from parawire.analysis.calibrate import _fit, calibrate
from parawire.analysis.profiles import get_profile, load_profiles
from parawire.cli import main
from parawire.errors import ConfigError


def test_fit_recovers_rate_and_overhead():
    points = [(f, 1e-4 + f / 5e9) for f in (1e6, 4e6, 9e6, 2e7)]
    rate, overhead = _fit(points)
    assert rate == pytest.approx(5e9, rel=1e-6) and overhead == pytest.approx(1e-4, rel=1e-6)
    assert _fit(points, overhead=1e-4) == pytest.approx((5e9, 1e-4), rel=1e-6)
    below = [(f, f / 5e9 - 1e-5) for f in (1e6, 4e6, 9e6, 2e7)]  # negative intercept
    rate, overhead = _fit(below)
    assert overhead == 0.0 and rate > 5e9


def test_bad_arguments():
    with pytest.raises(ConfigError, match=">= 1"):
        calibrate(threads=0)


def test_quick_calibration_through_the_cli(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = tmp_path / "local.toml"
    code = main(["calibrate", "--out", str(out), "--repeats", "3", "--json", "--name", "here"])
    assert code == 0
    figures = json.loads(capsys.readouterr().out)
    profile = load_profiles(out)["here"]
    assert get_profile(f"{out}#here") == profile
    assert profile.device.flops_per_s == pytest.approx(figures["flops_per_s"])
    # loose sanity ranges for any CPU: 0.1-10,000 GFLOP/s, 1 us-50 ms latency, > 10 MB/s
    for rate in [profile.device.flops_per_s, *profile.device.op_flops_per_s.values()]:
        assert 1e8 < rate < 1e13
    assert set(profile.device.op_flops_per_s) == {"sepconv3x3", "input"}
    assert 0 <= profile.device.overhead_s < 0.01
    assert 1e-6 < profile.link.latency_s < 0.05
    assert profile.link.bandwidth_bytes_per_s > 1e7
    assert not (tmp_path / "cache").exists()  # --out: the user's file is untouched
