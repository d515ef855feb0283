"""How much memory this process may still allocate, and a one-line refusal before it does.

A command that builds a model (train, run, export, eval) asks :func:`require_memory` first, so
that what would not fit ends in one line instead of a ``MemoryError`` traceback or the kernel's
OOM killer. Free memory is the least of: the kernel's ``MemAvailable`` (Linux; the physical
pages otherwise) and, under an address-space or data-size limit (``ulimit -v``, ``-d``), that
limit less what the process already uses.
"""

from __future__ import annotations

import contextlib
import os
import resource
from pathlib import Path

from parawire.errors import ResourceError

_MEMINFO = Path("/proc/meminfo")
_STATUS = Path("/proc/self/status")


def _meminfo_kib(path: Path, key: str) -> int | None:
    """The ``key:`` figure of a /proc file in KiB, or None where there is none."""
    try:
        for line in path.read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def available_bytes() -> int:
    """Bytes this process may still allocate (module docstring); a large figure when unknown."""
    free = _meminfo_kib(_MEMINFO, "MemAvailable")
    candidates = []
    if free is not None:
        candidates.append(free * 1024)
    else:
        with contextlib.suppress(ValueError, OSError):
            candidates.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    for limit, used_key in ((resource.RLIMIT_AS, "VmSize"), (resource.RLIMIT_DATA, "VmData")):
        soft = resource.getrlimit(limit)[0]
        if soft != resource.RLIM_INFINITY:
            used = _meminfo_kib(_STATUS, used_key) or 0
            candidates.append(max(0, soft - used * 1024))
    return min(candidates) if candidates else 2**62


def require_memory(need: int, what: str, fix: str) -> None:
    """``ResourceError`` in one line when ``need`` bytes for ``what`` exceed what is free."""
    free = available_bytes()
    if need > free:
        raise ResourceError(
            f"{what} needs about {need / 2**30:.2f} GiB of memory and this process has "
            f"{free / 2**30:.2f} GiB free; {fix}"
        )
