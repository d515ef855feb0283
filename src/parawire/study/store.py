"""A study's results in one SQLite file (stdlib ``sqlite3``, JSON text columns).

One row per trained network (``results``, keyed by job id) and one per Table IV cell
(``param_stability``); the ``meta`` table records the settings the results depend on, so that a
rerun in the same folder reuses what is done (more samples, more generators) and refuses
settings that would mix incomparable results.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from parawire._io import parse_json
from parawire.errors import DataError

DB_NAME = "study.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (job TEXT PRIMARY KEY, row TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS param_stability (cell TEXT PRIMARY KEY, row TEXT NOT NULL);
"""
_COLUMNS = {  # the columns of each table of _SCHEMA, in order (a file of another schema is refused)
    "meta": ["key", "value"],
    "results": ["job", "row"],
    "param_stability": ["cell", "row"],
}


class StudyStore:
    """The SQLite file of one study folder."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / DB_NAME
        try:
            with self._connect() as db:
                db.executescript(_SCHEMA)
                found = {
                    table: [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
                    for table in _COLUMNS
                }
        except sqlite3.DatabaseError as exc:
            raise DataError(
                f"{self.path} is not a study database ({exc}); use a new --out"
            ) from exc
        wrong = [t for t, columns in _COLUMNS.items() if found[t] != columns]
        if wrong:
            raise DataError(
                f"{self.path} is not a study database of this version (table {wrong[0]!r} has "
                f"columns {found[wrong[0]]}, expected {_COLUMNS[wrong[0]]}); use a new --out"
            )

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path)
        try:
            with db:  # commits, or rolls back on an exception
                yield db
        finally:
            db.close()

    def check_settings(self, settings: dict[str, Any]) -> None:
        """Record ``settings`` on first use; ``DataError`` if the folder holds other ones.

        Race-free: every start inserts unless a row is there (the first one wins) and then
        compares with the stored row in the same transaction, so concurrent first starts in
        one folder cannot both insert.
        """
        text = json.dumps(settings, sort_keys=True)
        with self._connect() as db:
            db.execute("INSERT OR IGNORE INTO meta VALUES ('settings', ?)", (text,))
            (stored,) = db.execute("SELECT value FROM meta WHERE key = 'settings'").fetchone()
        old = parse_json(stored, origin="the study store's settings")
        keys = list(settings) + [k for k in old if k not in settings]  # a key either side lacks
        diff = {k: (old.get(k), settings.get(k)) for k in keys if old.get(k) != settings.get(k)}
        if diff:
            shown = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in diff.items())
            raise DataError(
                f"{self.path.parent} holds a study with other settings ({shown}); "
                "rerun with the same settings to extend it, or choose another --out"
            )

    def done(self) -> set[str]:
        """Job ids with a stored result."""
        with self._connect() as db:
            return {r[0] for r in db.execute("SELECT job FROM results")}

    def put(self, job: str, row: dict[str, Any]) -> None:
        """Store (or replace) the result row of ``job``."""
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO results VALUES (?, ?)", (job, json.dumps(row)))

    def rows(self) -> list[dict[str, Any]]:
        """Every stored result row, ordered by job id."""
        with self._connect() as db:
            return [parse_json(r[0]) for r in db.execute("SELECT row FROM results ORDER BY job")]

    def put_stability(self, cell: str, row: dict[str, Any]) -> None:
        """Store one Table IV cell."""
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO param_stability VALUES (?, ?)", (cell, json.dumps(row))
            )

    def stability(self) -> dict[str, dict[str, Any]]:
        """Stored Table IV cells by id."""
        with self._connect() as db:
            return {
                c: parse_json(r) for c, r in db.execute("SELECT cell, row FROM param_stability")
            }
