"""Many processes, one study: the storage, a lock around claiming trials, dead owners.

Optuna keeps trials in a relational database (any SQLAlchemy URL). Two things it leaves to us:

* **Exact budgets.** Processes claim trials until ``--trials`` are finished. Counting and asking
  must be one atomic step, or two processes that both see one free slot both take it. Every
  claim therefore runs under a lock the storage itself provides: an ``flock`` on a file beside
  a SQLite database (SQLite is one machine's file), ``pg_advisory_lock`` on PostgreSQL and
  ``GET_LOCK`` on MySQL/MariaDB.
* **Dead processes.** A process killed mid-trial leaves it RUNNING. Each trial records its
  owner (host, boot id, pid and the process's start time) and refreshes an Optuna heartbeat.
  Under the claim lock, a RUNNING trial whose owner ran on this machine and no longer exists
  (or is a zombie, or its pid was reused) is failed at once; one from another machine is failed
  when its heartbeat is older than the grace period (Optuna's ``fail_stale_trials``). Either
  way its parameters are queued again (``RetryHeartbeatStaleTrialCallback``), so a rerun
  re-evaluates the killed trial instead of losing its slot. Only COMPLETE trials count.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
import sqlite3
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from optuna.trial import FrozenTrial, TrialState

from parawire.errors import ConfigError, DataError

OWNER_ATTR = "owner"  # user attribute of a trial: the process running it
MAX_RETRY = 3  # a trial killed this many times is not queued again
SQLITE_TIMEOUT_S = 60  # SQLite writers wait this long for each other's transactions


def default_storage_url(folder: Path) -> str:
    """The SQLite file in the search folder, as a SQLAlchemy URL."""
    from parawire.search.config import DB_NAME

    return f"sqlite:///{(folder / DB_NAME).resolve()}"


def normalise_url(url: str) -> sqlalchemy.engine.URL:
    """``url`` parsed; plain ``postgresql://`` uses psycopg 3 when psycopg2 is not installed."""
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError as exc:
        raise ConfigError(f"--storage {url!r} is not a SQLAlchemy URL ({exc})") from None
    if parsed.drivername == "postgresql":
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def shown_url(url: str) -> str:
    """``url`` with any password hidden (what logs and the search folder record)."""
    return normalise_url(url).render_as_string(hide_password=True)


class _WalConnection(sqlite3.Connection):
    """A SQLite connection in write-ahead-log mode with one sync per checkpoint: a process
    killed at any point loses no committed transaction (only a power cut could lose the last
    ones), readers never block the writer, and a commit does not wait for the disk. Passed as
    the connection ``factory``, so that only the search's own engine is affected."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.execute("PRAGMA journal_mode=WAL")
        self.execute("PRAGMA synchronous=NORMAL")


def open_storage(url: str, heartbeat_s: int, grace_s: int) -> optuna.storages.RDBStorage:
    """The Optuna storage at ``url`` with heartbeats and the retry of dead trials."""
    parsed = normalise_url(url)
    engine_kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        engine_kwargs["connect_args"] = {"timeout": SQLITE_TIMEOUT_S, "factory": _WalConnection}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            return optuna.storages.RDBStorage(
                parsed.render_as_string(hide_password=False),
                engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat_s,
                grace_period=grace_s,
                failed_trial_callback=None,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                    max_retry=MAX_RETRY
                ),
            )
        except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError) as exc:
            raise DataError(
                f"cannot open the search storage {shown_url(url)}: {' '.join(str(exc).split())}"
            ) from None


@contextlib.contextmanager
def claim_lock(url: str, study_name: str) -> Iterator[None]:
    """Hold the storage-wide lock of ``study_name`` (see the module docstring)."""
    parsed = normalise_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            yield  # an in-memory database is one process's own
            return
        with open(f"{database}.lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released by the kernel if the process dies
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    key = int.from_bytes(hashlib.sha256(study_name.encode()).digest()[:8], "big", signed=True)
    engine = sqlalchemy.create_engine(parsed, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as conn:
            if backend == "postgresql":
                conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
                unlock = sqlalchemy.text("SELECT pg_advisory_unlock(:k)")
            elif backend in ("mysql", "mariadb"):
                conn.execute(sqlalchemy.text("SELECT GET_LOCK(:k, -1)"), {"k": str(key)})
                unlock = sqlalchemy.text("SELECT RELEASE_LOCK(:k)")
            else:
                raise ConfigError(
                    f"--storage {backend}: parawire can share a search only through SQLite, "
                    "PostgreSQL or MySQL/MariaDB (it needs the database's lock to keep the "
                    "trial budget exact)"
                )
            try:
                yield
            finally:
                conn.execute(unlock, {"k": key})
    finally:
        engine.dispose()


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _start_ticks(pid: int) -> tuple[int, str] | None:
    """(start time in clock ticks since boot, state letter) of ``pid``, None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    return int(fields[19]), fields[0]


def this_process() -> dict[str, Any]:
    """The owner record of trials this process runs."""
    pid = os.getpid()
    ticks = _start_ticks(pid)
    return {
        "host": socket.gethostname(),
        "boot": _boot_id(),
        "pid": pid,
        "start": ticks[0] if ticks else None,
    }


def owner_is_dead(owner: dict[str, Any] | None) -> bool:
    """True when ``owner`` ran on this machine (same host and boot) and is gone.

    False when it is alive or ran elsewhere (the heartbeat decides for other machines).
    """
    me = this_process()
    if not isinstance(owner, dict) or (owner.get("host"), owner.get("boot")) != (
        me["host"],
        me["boot"],
    ):
        return False
    pid = owner.get("pid")
    if not isinstance(pid, int):
        return False
    ticks = _start_ticks(pid)
    if ticks is None:
        if me["start"] is not None:  # /proc works here: no entry means no process
            return True
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    start, state = ticks
    return state in ("Z", "X") or (owner.get("start") is not None and start != owner["start"])


def trial_id(storage: optuna.storages.BaseStorage, study: optuna.Study, number: int) -> int:
    """The storage's id of trial ``number`` of ``study`` (through the storage's public API)."""
    study_id = storage.get_study_id_from_name(study.study_name)
    return storage.get_trial_id_from_study_id_trial_number(study_id, number)


def requeue(storage: optuna.storages.BaseStorage, study: optuna.Study, number: int) -> bool:
    """Fail the RUNNING trial ``number`` and queue its parameters again (the heartbeat's retry
    callback); False when it had finished meanwhile."""
    tid = trial_id(storage, study, number)
    try:
        if not storage.set_trial_state_values(tid, state=TrialState.FAIL):
            return False
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    retry = storage.get_heartbeat_stale_trial_callback()
    if retry is not None:
        retry(study, storage.get_trial(tid))
    return True


def fail_dead_trials(study: optuna.Study, storage: optuna.storages.BaseStorage) -> list[int]:
    """Fail the RUNNING trials of dead owners and queue their parameters again.

    Call under :func:`claim_lock`: a RUNNING trial without an owner then lost its process
    between asking and recording the owner (both happen under the lock). Returns the numbers
    of the trials failed here.
    """
    optuna.storages.fail_stale_trials(study)  # other machines: the heartbeat grace period
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get(OWNER_ATTR)
        if owner is not None and not owner_is_dead(owner):
            continue
        if requeue(storage, study, trial.number):
            failed.append(trial.number)
    return failed


class Heartbeat:
    """Refreshes a running trial's heartbeat every ``interval_s`` on a daemon thread."""

    def __init__(self, storage: optuna.storages.RDBStorage, trial_id: int, interval_s: int):
        self.storage, self.trial_id, self.interval_s = storage, trial_id, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            with contextlib.suppress(Exception):  # a missed beat only shortens the grace
                self.storage.record_heartbeat(self.trial_id)

    def __enter__(self) -> Heartbeat:
        self.storage.record_heartbeat(self.trial_id)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def retried_from(trial: FrozenTrial) -> int | None:
    """The number of the killed trial this one re-evaluates, if any."""
    value = trial.system_attrs.get("failed_trial")
    return value if isinstance(value, int) else None
