"""The latency store: measured latencies in any SQLAlchemy database (SQLite by default).

Two tables. ``specs`` holds every measured architecture as its JSON (keyed by its digest), so
that fitting needs no regeneration; ``measurements`` holds one row per
(spec digest, k, placement, profile, wire dtype, threads, machine fingerprint, torch version),
enforced by a unique constraint, with the median latency, its spread (inter-quartile range),
the number of repeats and a noise flag. Several machines may collect into one store (a
PostgreSQL URL); rows of different machines never collide, their fingerprints differ.

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

NOISE_THRESHOLD = 0.10  # a row is noisy when its inter-quartile range exceeds 10% of its median
REAL = "local"  # the profile column of a real measurement on this machine (wall clock)
REAL_CPU = "local-cputime"  # real, k = 1, timed by the thread's CPU clock (see collect.py)

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
    sa.Column("created", sa.String(32), nullable=False),  # UTC, ISO 8601
    sa.UniqueConstraint(
        "digest",
        "devices",
        "placement",
        "profile",
        "wire_dtype",
        "threads",
        "machine",
        "torch_version",
        name="one_measurement",
    ),
)
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


def summarize(latencies: Sequence[float]) -> tuple[float, float, bool]:
    """(median, inter-quartile range, noisy) of one measurement's repeats."""
    if not latencies:
        raise DataError("a measurement needs at least one latency")
    median = statistics.median(latencies)
    if len(latencies) >= 4:
        q = statistics.quantiles(latencies, n=4)
        spread = q[2] - q[0]
    else:
        spread = max(latencies) - min(latencies)
    return median, spread, spread > NOISE_THRESHOLD * median


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
        latencies: Sequence[float],
        placement_kind: str = "recommended",
    ) -> bool:
        """Store one measurement (and its spec, once) in one transaction; False if ``key`` was
        already there (nothing is written then)."""
        median, spread, noisy = summarize(latencies)
        row = {
            **key.as_dict(),
            "placement_kind": placement_kind,
            "median_s": median,
            "spread_s": spread,
            "repeats": len(latencies),
            "noisy": noisy,
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
                    )
                )
        return out

    def __iter__(self) -> Iterator[Measurement]:
        return iter(self.rows())
