"""`parawire calibrate`: a quick run (few repetitions) writes a loadable, sane profile."""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

from parawire.analysis import calibrate as calibrate_module
from parawire.analysis.calibrate import (
    COMPUTE_PHASE,
    CONTEXT_PHASE,
    KINDS_PHASE,
    LINK_PHASE,
    _fit,
    calibrate,
)
from parawire.analysis.calibrate_link import free_port, probe_command
from parawire.analysis.profiles import create_profile, load_profiles
from parawire.analysis.work import KINDS
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
    args = ["calibrate", "--out", str(out), "--repeats", "3", "--processes", "1"]
    code = main([*args, "--json", "--name", "here"])
    assert code == 0
    captured = capsys.readouterr()
    figures = json.loads(captured.out)
    # not a terminal: one progress line per phase on stderr, stdout stays pure JSON
    assert captured.err.index(CONTEXT_PHASE) < captured.err.index(COMPUTE_PHASE)
    assert captured.err.index(COMPUTE_PHASE) < captured.err.index(LINK_PHASE)
    profile = load_profiles(out)["here"]
    assert create_profile(f"{out}#here") == profile
    assert profile.device.flops_per_s == pytest.approx(figures["flops_per_s"])
    # loose sanity ranges for any CPU: 0.1-10,000 GFLOP/s, 1 us-50 ms latency, > 10 MB/s
    for rate in [profile.device.flops_per_s, *profile.device.op_flops_per_s.values()]:
        assert 1e8 < rate < 1e13
    assert set(profile.device.op_flops_per_s) == {"sepconv3x3", "input"}
    # per-kind pricing: every kind but "call" has a rate, per-call costs under 10 ms
    assert set(profile.device.kind_rates) == set(KINDS) - {"call"}
    assert all(1e5 < rate < 1e13 for rate in profile.device.kind_rates.values())
    assert all(0 <= s < 0.01 for s in profile.device.kind_call_s.values())
    assert 0 <= profile.device.overhead_s < 0.01
    assert 0 <= profile.device.dispatch_s < 0.001 and figures["processes"] == 1
    assert 1e-6 < profile.link.latency_s < 0.05
    assert profile.link.bandwidth_bytes_per_s > 1e7
    assert not (tmp_path / "cache").exists()  # --out: the user's file is untouched


def _fake_context_docs(runs: int, threads: int, timeout: float) -> list[dict]:
    """What one fresh in-context process returns, with made-up times (1 ms a vertex)."""
    docs = []
    for spec in calibrate_module.context_specs():
        n = len(spec.nodes)
        vertex_s = {str(node.id): 1e-3 for node in spec.nodes}
        docs.append({"vertex_s": vertex_s, "head_s": 1e-4, "forward_s": n * 1.02e-3 + 1e-4})
    return docs


def test_progress_reports_every_step_in_order(monkeypatch):
    # fake timings and link keep this fast; the real run is test_quick_calibration_through_the_cli
    monkeypatch.setattr(calibrate_module, "_typical_seconds", lambda fn, repeats: 1e-3)
    monkeypatch.setattr(calibrate_module, "time_fresh_process", _fake_context_docs)
    link = {"latency_s": 1e-4, "bandwidth_bytes_per_s": 1e9}
    monkeypatch.setattr(calibrate_module, "measure_link", lambda repeats, timeout: link)
    # constant fake timings carry no rates: the fit is test_work's
    fitted = ({k: 1e9 for k in KINDS if k != "call"}, {k: 0.0 for k in KINDS})
    monkeypatch.setattr(calibrate_module, "fit_kinds", lambda rows, weights=None: fitted)
    calls: list[tuple[str, int, int]] = []
    result = calibrate(repeats=1, processes=2, progress=lambda *call: calls.append(call))
    # what a forward pass takes beyond its vertices and head, per vertex: 0.02 ms
    assert result.dispatch_s == pytest.approx(2e-5)
    assert result.context_spread == [1.0] * len(calibrate_module.CONTEXT_SHAPES)
    assert result.spread == 1.0 and result.compute_range[0] <= 1.0 <= result.compute_range[1]
    context = [c for c in calls if c[0] == CONTEXT_PHASE]
    assert context == [(CONTEXT_PHASE, i, 2) for i in range(3)]
    compute = [c for c in calls if c[0] == COMPUTE_PHASE]
    assert compute == [(COMPUTE_PHASE, 0, 1), (COMPUTE_PHASE, 1, 1)]
    kinds = [c for c in calls if c[0] == KINDS_PHASE]
    steps = len(calibrate_module.kind_cases(calibrate_module.torch.Generator())) + 24
    assert [done for _, done, _ in kinds] == list(range(steps + 1))
    n = len(context) + len(compute)
    assert calls[:n] == context + compute and calls[n : n + len(kinds)] == kinds
    assert calls[n + len(kinds) :] == [(LINK_PHASE, 0, 1), (LINK_PHASE, 1, 1)]


def test_in_context_medians_over_processes():
    from parawire.analysis.in_context import combine

    one = [{"vertex_s": {"0": 1.0, "1": 2.0}, "head_s": 0.5, "forward_s": 4.0}]
    two = [{"vertex_s": {"0": 3.0, "1": 2.0}, "head_s": 0.5, "forward_s": 6.0}]
    three = [{"vertex_s": {"0": 2.0, "1": 9.0}, "head_s": 0.5, "forward_s": 5.0}]
    times = combine([one, two, three])
    assert times.vertex_s == [{0: 2.0, 1: 2.0}]
    assert times.forward_s == [5.0] and times.head_s == [0.5]
    assert times.dispatch_s == pytest.approx((5.0 - 4.0 - 0.5) / 2)
    assert times.process_spread == [1.5] and times.forward_by_process == [[4.0, 6.0, 5.0]]


def test_a_vertex_is_timed_inside_its_network():
    from parawire.analysis.in_context import context_specs, time_in_context

    spec = context_specs()[0]
    doc = time_in_context(spec, runs=2, warmup=1)
    assert set(doc["vertex_s"]) == {str(n.id) for n in spec.nodes}
    assert all(t > 0 for t in doc["vertex_s"].values())
    # the vertices and the head happen inside the forward pass
    assert sum(doc["vertex_s"].values()) + doc["head_s"] <= doc["forward_s"] * 1.05


def _listening_addresses(pid: int) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Addresses of the TCP sockets that process ``pid`` listens on, from /proc (Linux)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(fields[1].split(":")[0])
            # /proc prints each 32-bit word in host (little-endian) order
            packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            address = ipaddress.ip_address(packed)
            found.add(getattr(address, "ipv4_mapped", None) or address)
    return found


def _has_ipv4_address(interface: str) -> bool:
    """Whether a network interface has an IPv4 address (Linux ``SIOCGIFADDR``)."""
    request = struct.pack("256s", interface.encode()[:15])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            fcntl.ioctl(s.fileno(), 0x8915, request)  # SIOCGIFADDR
        except OSError:
            return False
    return True


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads sockets from /proc")
def test_gloo_probe_listens_on_loopback_only():
    # ask gloo for a wider interface through the environment: the probe must stay on loopback
    names = [name for _, name in socket.if_nameindex() if not name.startswith("lo")]
    wide = [name for name in names if _has_ipv4_address(name)]
    env = {**os.environ, **({"GLOO_SOCKET_IFNAME": wide[0]} if wide else {})}
    port = free_port()
    procs = [
        subprocess.Popen(
            probe_command(rank, port, repeats=20, timeout=60.0),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    seen: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
    deadline = time.monotonic() + 60
    try:
        while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
            for p in procs:
                with contextlib.suppress(FileNotFoundError):  # it ended since the poll
                    seen |= _listening_addresses(p.pid)
            time.sleep(0.005)
        outputs = [p.communicate(timeout=10) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)
    assert [p.returncode for p in procs] == [0, 0], outputs[0][1][-2000:]
    assert "small_s" in json.loads(outputs[0][0].strip().splitlines()[-1])
    assert seen, "no listening socket observed (the rendezvous listens while rank 1 starts)"
    assert all(address.is_loopback for address in seen), sorted(map(str, seen))
