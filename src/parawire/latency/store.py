"""The latency store: measured latencies in any SQLAlchemy database (SQLite by default).

Two tables. ``specs`` holds every measured architecture as its JSON (keyed by its digest), so
that fitting needs no regeneration; ``measurements`` holds one row per
(spec digest, k, placement, profile, wire dtype, threads, machine fingerprint, torch version),
enforced by a unique constraint, with the median latency over every timed run, its spread
(inter-quartile range), the number of repeats, the fresh processes they ran in and the spread
between those processes' medians (``process_spread``: largest minus smallest over the median),
and a noise flag: the process spread over ``NOISE_THRESHOLD`` when there were several
processes, the inter-quartile range over it otherwise. A store written before the process
columns existed gains them on opening (one process, no spread). Several machines may collect
into one store (a PostgreSQL URL); rows of different machines never collide, their
fingerprints differ.

    store = LatencyStore("latency.db")           # or "postgresql+psycopg://host/db"
    store.add(spec, key, latencies)             # idempotent: a present key is left as it is
    rows = store.rows(devices=1)
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import statistics
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from parawire._io import parse_json
from parawire.arch.spec import ArchSpec
from parawire.errors import ConfigError, DataError

NOISE_THRESHOLD = 0.10  # a row is noisy when its spread exceeds 10% of its median
REAL = "local"  # the profile column of a real measurement on this machine (wall clock)
REAL_CPU = "local-cputime"  # real, k = 1, timed by the thread's CPU clock (see collect.py)

# What identifies one measurement: the store's unique constraint, and MeasurementKey's fields.
KEY_FIELDS = (
    "digest",
    "devices",
    "placement",
    "profile",
    "wire_dtype",
    "threads",
    "machine",
    "torch_version",
)
_META = sa.MetaData()
SPECS = sa.Table(
    "specs",
    _META,
    sa.Column("digest", sa.String(32), primary_key=True),
    sa.Column("generator", sa.String(64), nullable=False),
    sa.Column("vertices", sa.Integer, nullable=False),
    sa.Column("spec_json", sa.Text, nullable=False),
)
MEASUREMENTS = sa.Table(
    "measurements",
    _META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("digest", sa.String(32), sa.ForeignKey("specs.digest"), nullable=False),
    sa.Column("devices", sa.Integer, nullable=False),  # k: devices offered
    sa.Column("placement", sa.Text, nullable=False),  # JSON list: device of each spec node
    sa.Column("placement_kind", sa.String(32), nullable=False),  # recommended, random
    sa.Column("profile", sa.String(128), nullable=False),  # "local", or the emulated profile
    sa.Column("wire_dtype", sa.String(16), nullable=False),
    sa.Column("threads", sa.Integer, nullable=False),
    sa.Column("machine", sa.String(32), nullable=False),
    sa.Column("torch_version", sa.String(64), nullable=False),
    sa.Column("median_s", sa.Float, nullable=False),
    sa.Column("spread_s", sa.Float, nullable=False),  # inter-quartile range of the repeats
    sa.Column("repeats", sa.Integer, nullable=False),
    sa.Column("noisy", sa.Boolean, nullable=False),
    sa.Column("processes", sa.Integer, nullable=False, server_default="1"),  # fresh processes
    sa.Column("process_spread", sa.Float, nullable=False, server_default="0"),  # (max-min)/median
    sa.Column("created", sa.String(32), nullable=False),  # UTC, ISO 8601
    sa.UniqueConstraint(*KEY_FIELDS, name="one_measurement"),
)


@dataclass(frozen=True)
class MeasurementKey:
    """What identifies one measurement (the store's unique constraint)."""

    digest: str  # ArchSpec.digest()
    devices: int  # k
    placement: str  # canonical JSON list: device of each spec node, in spec node order
    profile: str  # REAL or REAL_CPU, or the emulated device profile
    wire_dtype: str
    threads: int
    machine: str  # machine_fingerprint()
    torch_version: str

    def as_dict(self) -> dict[str, Any]:
        """Column name -> value."""
        return {name: getattr(self, name) for name in KEY_FIELDS}


@dataclass(frozen=True)
class Measurement:
    """One row of the store, with its spec."""

    key: MeasurementKey
    spec: ArchSpec
    placement_kind: str
    median_s: float
    spread_s: float
    repeats: int
    noisy: bool
    processes: int = 1  # fresh processes the repeats ran in
    process_spread: float = 0.0  # (largest - smallest process median) / median

    def placement_map(self) -> dict[int, int]:
        """Vertex id -> device."""
        devices = parse_json(self.key.placement)
        return {n.id: int(d) for n, d in zip(self.spec.nodes, devices, strict=True)}


def placement_text(spec: ArchSpec, placement: Mapping[int, int]) -> str:
    """The canonical text of a placement: a JSON list of devices in spec node order."""
    return json.dumps([int(placement[n.id]) for n in spec.nodes], separators=(",", ":"))


@cache
def machine_fingerprint() -> str:
    """A short hash of what makes latencies of this machine comparable: CPU model, logical CPU
    count, architecture and OS (not the host name: containers of one machine share it)."""
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blob = json.dumps([model, os.cpu_count(), platform.machine(), platform.system()])
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class RowSummary:
    """What a row keeps of its timed runs."""

    median_s: float  # over every run of every process
    spread_s: float  # inter-quartile range of those runs
    repeats: int  # timed runs in all
    processes: int  # fresh processes they ran in
    process_spread: float  # (largest - smallest process median) / median; 0 for one process
    noisy: bool  # the process spread (several processes) or the range (one) over the threshold


Rounds = Sequence[Sequence[float]]  # per fresh process, its timed latencies (seconds)


def summarize(rounds: Rounds, threshold: float = NOISE_THRESHOLD) -> RowSummary:
    """The summary of one measurement's runs, per fresh process (module docstring)."""
    runs = [t for r in rounds for t in r]
    if not runs or any(not r for r in rounds):
        raise DataError("a measurement needs at least one latency in every process")
    median = statistics.median(runs)
    if len(runs) >= 4:
        q = statistics.quantiles(runs, n=4)
        spread = q[2] - q[0]
    else:
        spread = max(runs) - min(runs)
    medians = [statistics.median(r) for r in rounds]
    between = (max(medians) - min(medians)) / median if median > 0 else 0.0
    noisy = between > threshold if len(rounds) > 1 else spread > threshold * median
    return RowSummary(median, spread, len(runs), len(rounds), between, noisy)


def _add_process_columns(engine: sa.Engine) -> None:
    """Give a store written before the process columns existed those columns (additive)."""
    present = {c["name"] for c in sa.inspect(engine).get_columns("measurements")}
    with engine.begin() as conn:
        for column in ("processes", "process_spread"):
            if column not in present:
                col = MEASUREMENTS.c[column]
                kind = col.type.compile(engine.dialect)
                conn.execute(sa.text(
                    f"ALTER TABLE measurements ADD COLUMN {column} {kind} NOT NULL "
                    f"DEFAULT {col.server_default.arg}"
                ))  # fmt: skip


def store_url(target: str | os.PathLike[str]) -> str:
    """A SQLAlchemy URL: ``target`` itself when it has a scheme, else a SQLite file path."""
    text = os.fspath(target)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).resolve()}"


class LatencyStore:
    """Read and write measurements (module docstring)."""

    def __init__(self, target: str | os.PathLike[str], *, create: bool = True) -> None:
        url = store_url(target)
        if url.startswith("sqlite:///") and not create:
            path = Path(url.removeprefix("sqlite:///"))
            if not path.is_file():
                raise DataError(f"no latency store at {path}; collect one with "
                                "`parawire latency collect --out FILE`")  # fmt: skip
        try:
            self.engine = sa.create_engine(url)
            if create:
                _META.create_all(self.engine)
            elif not sa.inspect(self.engine).has_table("measurements"):
                raise DataError(f"{target} is not a latency store (no measurements table)")
            _add_process_columns(self.engine)
        except sa.exc.ArgumentError as exc:
            raise ConfigError(f"bad store URL {url!r}: {exc}") from None
        except sa.exc.DatabaseError as exc:
            raise DataError(f"cannot open the latency store {target}: {exc.orig}") from None

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    def has(self, key: MeasurementKey) -> bool:
        """Whether a measurement with ``key`` is stored."""
        cond = [MEASUREMENTS.c[name] == value for name, value in key.as_dict().items()]
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(MEASUREMENTS.c.id).where(*cond).limit(1)).first()
        return found is not None

    def add(
        self,
        spec: ArchSpec,
        key: MeasurementKey,
        latencies: Sequence[float] | Rounds,
        placement_kind: str = "recommended",
        threshold: float = NOISE_THRESHOLD,
    ) -> bool:
        """Store one measurement (and its spec, once) in one transaction; False if ``key`` was
        already there (nothing is written then). ``latencies``: the timed runs of one process,
        or a list of them, one per fresh process."""
        rounds = [list(r) for r in latencies] if _nested(latencies) else [list(latencies)]
        summary = summarize(rounds, threshold)  # type: ignore[arg-type]
        row = {
            **key.as_dict(),
            "placement_kind": placement_kind,
            "median_s": summary.median_s,
            "spread_s": summary.spread_s,
            "repeats": summary.repeats,
            "processes": summary.processes,
            "process_spread": summary.process_spread,
            "noisy": summary.noisy,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }
        try:
            with self.engine.begin() as conn:
                present = conn.execute(
                    sa.select(SPECS.c.digest).where(SPECS.c.digest == key.digest)
                ).first()
                if present is None:
                    conn.execute(
                        SPECS.insert().values(
                            digest=key.digest,
                            generator=spec.provenance.generator,
                            vertices=len(spec.nodes),
                            spec_json=spec.to_json(indent=None),
                        )
                    )
                conn.execute(MEASUREMENTS.insert().values(**row))
        except sa.exc.IntegrityError:
            return False  # another collector stored the same key first
        return True

    def count(self) -> int:
        """Number of measurements."""
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(MEASUREMENTS)).scalar())

    def rows(
        self,
        *,
        devices: int | None = None,
        profile: str | None = None,
        include_noisy: bool = True,
    ) -> list[Measurement]:
        """Every measurement (optionally of one k or profile), in insertion order."""
        query = sa.select(MEASUREMENTS, SPECS.c.spec_json).join(SPECS)
        if devices is not None:
            query = query.where(MEASUREMENTS.c.devices == devices)
        if profile is not None:
            query = query.where(MEASUREMENTS.c.profile == profile)
        if not include_noisy:
            query = query.where(MEASUREMENTS.c.noisy.is_(False))
        specs: dict[str, ArchSpec] = {}
        out = []
        with self.engine.connect() as conn:
            for r in conn.execute(query.order_by(MEASUREMENTS.c.id)).mappings():
                if r["digest"] not in specs:
                    specs[r["digest"]] = ArchSpec.from_json(r["spec_json"])
                out.append(
                    Measurement(
                        key=MeasurementKey(**{name: r[name] for name in KEY_FIELDS}),
                        spec=specs[r["digest"]],
                        placement_kind=r["placement_kind"],
                        median_s=r["median_s"],
                        spread_s=r["spread_s"],
                        repeats=r["repeats"],
                        noisy=bool(r["noisy"]),
                        processes=r["processes"],
                        process_spread=r["process_spread"],
                    )
                )
        return out

    def __iter__(self) -> Iterator[Measurement]:
        return iter(self.rows())


def _nested(latencies: Sequence[Any]) -> bool:
    """Whether ``latencies`` is a list of per-process lists (not one list of seconds)."""
    return bool(latencies) and isinstance(latencies[0], Sequence)
