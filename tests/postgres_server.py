"""A throw-away PostgreSQL server on loopback for tests: initdb in a temporary folder, start,
yield a SQLAlchemy URL, stop, delete.

Uses Debian's ``postgresql`` package (``/usr/lib/postgresql/<version>/bin``). initdb and postgres
refuse to run as root, so as root they run as the ``postgres`` user (``runuser``). Every reason
it cannot run is raised as ``Unavailable`` with a sentence, for the test to skip with.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

START_TIMEOUT_S = 60.0


class Unavailable(Exception):
    """No PostgreSQL server can be started here (the message says why)."""


def _binaries() -> Path:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if not found:
        raise Unavailable(
            "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb); "
            "install Debian's postgresql package"
        )
    return Path(found[-1]).parent


def _as_server_user() -> tuple[list[str], int | None, int | None]:
    """(command prefix, uid, gid) that runs the server's programs."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        raise Unavailable("running as root and there is no 'postgres' user to run initdb") from None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise Unavailable("running as root and runuser is missing (util-linux)")
    return [runuser, "-u", "postgres", "--"], user.pw_uid, user.pw_gid


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(port: int, proc: subprocess.Popen, log: Path) -> None:
    import psycopg

    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Unavailable(f"postgres exited at start: {log.read_text()[-500:]}")
        try:
            with psycopg.connect(
                host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=2
            ):
                return
        except psycopg.OperationalError:
            time.sleep(0.2)
    raise Unavailable(f"postgres did not accept connections within {START_TIMEOUT_S:.0f}s")


@contextlib.contextmanager
def postgres_server(database: str = "search") -> Iterator[str]:
    """A running server with an empty ``database``; yields its ``postgresql+psycopg`` URL."""
    try:
        import psycopg
    except ImportError:
        raise Unavailable("psycopg (the PostgreSQL driver) is not installed") from None
    bin_dir = _binaries()
    prefix, uid, gid = _as_server_user()
    root = Path(tempfile.mkdtemp(prefix="parawire-pg-"))  # /tmp: readable by the server user
    data, log = root / "data", root / "server.log"
    proc = None
    try:
        if uid is not None:
            os.chown(root, uid, gid)
        initdb = subprocess.run(
            [*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
             "--auth=trust", "-E", "UTF8", "--no-sync"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if initdb.returncode != 0:
            raise Unavailable(f"initdb failed: {(initdb.stderr or initdb.stdout)[-500:]}")
        port = _free_port()
        with log.open("w") as handle:
            proc = subprocess.Popen(
                [*prefix, str(bin_dir / "postgres"), "-D", str(data), "-p", str(port),
                 "-k", str(root), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
                stdout=handle, stderr=subprocess.STDOUT,
            )  # fmt: skip
        if uid is not None:
            os.chown(log, uid, gid)
        _wait_ready(port, proc, log)
        with psycopg.connect(
            host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/{database}"
    finally:
        if proc is not None:
            _stop(data, proc)
        shutil.rmtree(root, ignore_errors=True)


def _stop(data: Path, proc: subprocess.Popen) -> None:
    """Fast shutdown (SIGINT to the postmaster), then wait; kill if it hangs."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int((data / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
