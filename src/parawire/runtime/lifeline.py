"""Workers that end with their launcher, and temporary folders that go with it.

A worker process must never outlive the process that started it: torch's spawn only sends
SIGINT on the parent's death, which a launcher started from a script (SIGINT ignored, and the
ignore inherited across ``exec``) never delivers, so its workers would compute on forever.
Each worker therefore calls :func:`exit_with_parent` first:

* on Linux the kernel sends it SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``),
  which no signal disposition can ignore;
* everywhere, a daemon thread checks every ``interval`` seconds that the parent is still the
  same process (``os.getppid()``) and ends the worker when it is not (re-parenting).

The launcher side, :func:`removed_on_termination`, turns SIGTERM and SIGHUP into ``SystemExit``
while a run is in progress, so that its ``finally`` blocks stop the workers and remove the
temporary folder. This module imports neither torch nor the rest of the runtime.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
ORPHAN_EXIT_CODE = 70  # a worker whose launcher is gone (EX_SOFTWARE)
RUN_DIR_PREFIX = "parawire-run-"  # the launcher's temporary folders: parawire-run-<pid>-*


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask the Linux kernel to send ``sig`` to this process when its parent dies.

    Returns whether it is in force (False on other systems or without libc's ``prctl``).
    Linux sends it when the parent *thread* that started this process ends: launch workers
    from a thread that outlives them (``run_local`` waits for them where it started them).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def exit_with_parent(parent: int, interval: float = 0.5) -> threading.Event:
    """End this process when process ``parent`` (the one that started it) is gone.

    Sets the parent-death signal, then checks once (the parent may have died before) and
    starts a daemon thread that checks every ``interval`` seconds until the returned event is
    set. The process leaves with ``os._exit(ORPHAN_EXIT_CODE)``: no destructor may wait on
    peers that are gone too.
    """
    set_parent_death_signal()
    stop = threading.Event()

    def orphaned() -> bool:
        return os.getppid() != parent

    if orphaned():
        os._exit(ORPHAN_EXIT_CODE)

    def watch() -> None:
        while not stop.wait(interval):
            if orphaned():
                os._exit(ORPHAN_EXIT_CODE)

    threading.Thread(target=watch, name="parawire-lifeline", daemon=True).start()
    return stop


def _raise_exit(signum: int, frame: object) -> None:
    """Signal handler: unwind the launcher (``finally`` blocks run) with the shell's code."""
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def removed_on_termination() -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP raise ``SystemExit(128 + signal)`` in this process.

    Only in the main thread (signal handlers can be set there only); elsewhere a no-op. The
    previous handlers come back on leaving.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    previous = {s: signal.getsignal(s) for s in signals}
    for s in signals:
        if previous[s] is not signal.SIG_IGN:  # a launcher told to ignore it keeps ignoring it
            signal.signal(s, _raise_exit)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def quiet_torch_logs() -> None:
    """Keep torch's C++ warnings (pages of stack frames when a peer or the rendezvous goes
    away) out of the terminal of processes started from now on (``TORCH_CPP_LOG_LEVEL``, read
    when torch loads), unless the user chose a level. parawire reports those failures itself,
    in one line; ``TORCH_CPP_LOG_LEVEL=WARNING`` brings the frames back for debugging."""
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")


def run_dir() -> tempfile.TemporaryDirectory[str]:
    """A temporary folder for one local run (``parawire-run-<launcher pid>-*``)."""
    return tempfile.TemporaryDirectory(prefix=f"{RUN_DIR_PREFIX}{os.getpid()}-")
