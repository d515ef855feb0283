"""Calibrating the link: latency and bandwidth of gloo send/recv between two local processes
(``_gloo_probe.py`` run as a script by each), as ``parawire calibrate`` measures them.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

from parawire.errors import DataError, RuntimeTimeoutError

SMALL_BYTES = 256  # latency probe


LARGE_BYTES = 4 * 1024 * 1024  # bandwidth probe


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def probe_command(rank: int, port: int, repeats: int, timeout: float) -> list[str]:
    """The command line of one rank of the gloo probe (``_gloo_probe.py`` run as a script)."""
    cmd = [sys.executable, str(Path(__file__).with_name("_gloo_probe.py")), "--rank", str(rank)]
    cmd += ["--port", str(port), "--small", str(SMALL_BYTES), "--large", str(LARGE_BYTES)]
    return [*cmd, "--repeats", str(repeats), "--timeout", str(timeout)]


def measure_link(repeats: int = 10, timeout: float = 30.0) -> dict[str, float]:
    """Latency and bandwidth of gloo send/recv between two local processes.

    The two ranks are plain subprocesses running ``_gloo_probe.py`` as a script (they import
    torch only, so they start in about a second); both are killed if they outlive ``timeout``.
    """
    port = free_port()
    procs = [
        subprocess.Popen(
            probe_command(rank, port, repeats, timeout),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    deadline = time.monotonic() + timeout
    try:
        outputs = [p.communicate(timeout=max(deadline - time.monotonic(), 0.1)) for p in procs]
    except subprocess.TimeoutExpired:
        raise RuntimeTimeoutError(
            f"gloo link benchmark did not finish within {timeout:.0f} s; "
            "check that 127.0.0.1 is usable or raise --timeout"
        ) from None
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)
    if any(p.returncode for p in procs):
        err = next(o[1] for p, o in zip(procs, outputs, strict=True) if p.returncode)
        last = err.strip().splitlines()[-1] if err.strip() else "no error output"
        raise DataError(f"gloo link benchmark failed: {last}")
    figures = json.loads(outputs[0][0].strip().splitlines()[-1])
    extra = max(figures["large_s"] - figures["small_s"], 1e-9)
    # a typical message takes up to the median over the fastest: the link's range
    slower = max(
        figures["small_median_s"] / figures["small_s"],
        figures["large_median_s"] / figures["large_s"],
    )
    return {
        "latency_s": figures["small_s"],
        "bandwidth_bytes_per_s": (LARGE_BYTES - SMALL_BYTES) / extra,
        "link_range": (1.0, float(slower)),
    }
