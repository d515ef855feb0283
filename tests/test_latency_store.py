"""The latency store and resumable collection (tiny specs, few repeats)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import pytest

from parawire.arch.generate import generate
from parawire.errors import DataError
from parawire.latency.collect import CollectConfig, collect, iter_jobs
from parawire.latency.store import (
    KEY_FIELDS,
    LatencyStore,
    MeasurementKey,
    placement_text,
    summarize,
)

TINY = {"min_nodes": 4, "max_nodes": 6, "repeats": 3, "warmup": 1}


def _key(spec, **changes) -> MeasurementKey:
    fields = {
        "digest": spec.digest(),
        "devices": 1,
        "placement": placement_text(spec, {n.id: 0 for n in spec.nodes}),
        "profile": "local",
        "wire_dtype": "float32",
        "threads": 1,
        "machine": "m",
        "torch_version": "t",
    }
    return MeasurementKey(**{**fields, **changes})


def test_store_keeps_one_row_per_key_and_round_trips_the_spec(tmp_path):
    spec = generate("chain", seed=0, n=4)
    store = LatencyStore(tmp_path / "l.db")
    assert store.add(spec, _key(spec), [0.010, 0.011, 0.012])
    assert not store.add(spec, _key(spec), [0.5])  # same key: nothing written
    assert store.add(spec, _key(spec, threads=2), [0.020])  # another key: a second row
    rows = store.rows()
    assert len(rows) == 2 and store.count() == 2
    assert rows[0].spec.digest() == spec.digest()
    assert rows[0].median_s == pytest.approx(0.011) and rows[0].repeats == 3
    assert rows[0].placement_map() == {n.id: 0 for n in spec.nodes}
    assert store.has(_key(spec)) and not store.has(_key(spec, devices=2))


def test_summary_flags_noise():
    assert summarize([1.0, 1.0, 1.0, 1.0]) == (1.0, 0.0, False)
    median, spread, noisy = summarize([1.0, 1.0, 2.0, 3.0, 1.0])
    assert median == 1.0 and spread > 0.1 and noisy


def test_missing_store_is_a_one_line_error(tmp_path):
    with pytest.raises(DataError, match="no latency store"):
        LatencyStore(tmp_path / "absent.db", create=False)


def test_job_list_is_seeded_and_extends_without_reshuffling():
    a = [j.spec.digest() for j in iter_jobs(CollectConfig(samples=6, seed=1, **TINY))]
    b = [j.spec.digest() for j in iter_jobs(CollectConfig(samples=9, seed=1, **TINY))]
    c = [j.spec.digest() for j in iter_jobs(CollectConfig(samples=6, seed=2, **TINY))]
    assert b[:6] == a and c != a


def test_collect_in_process_skips_what_is_stored(tmp_path):
    store = LatencyStore(tmp_path / "l.db")
    config = CollectConfig(samples=3, **TINY)
    first = collect(store, config, limit=2)
    assert first.measured == 2
    second = collect(store, config)
    assert (second.measured, second.skipped) == (1, 2)
    assert store.count() == 3


def _collect_forever(db: str, config: CollectConfig) -> None:
    collect(LatencyStore(db), config)


def test_collect_killed_midway_resumes_without_loss_or_duplicates(tmp_path):
    """A collecting process is SIGKILLed after its second row; a rerun completes the list."""
    db = tmp_path / "l.db"
    config = CollectConfig(samples=6, **{**TINY, "repeats": 20})
    LatencyStore(db).close()
    child = multiprocessing.get_context("fork").Process(
        target=_collect_forever, args=(str(db), config)
    )
    child.start()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and child.is_alive():
            if LatencyStore(db, create=False).count() >= 2:
                os.kill(child.pid, signal.SIGKILL)
                break
            time.sleep(0.005)
    finally:
        if child.is_alive():
            child.kill()
        child.join(timeout=30)
    assert child.exitcode == -signal.SIGKILL
    kept = {tuple(r.key.as_dict().values()): r.median_s for r in LatencyStore(db).rows()}
    assert 2 <= len(kept) < config.samples
    summary = collect(LatencyStore(db), config)
    assert summary.skipped == len(kept) and not summary.failed
    rows = LatencyStore(db).rows()
    keys = [tuple(r.key.as_dict()[f] for f in KEY_FIELDS) for r in rows]
    assert len(rows) == config.samples and len(set(keys)) == config.samples  # none lost, no dup
    after = {tuple(r.key.as_dict().values()): r.median_s for r in rows}
    assert all(after[k] == v for k, v in kept.items())  # finished rows untouched


def test_cli_collect_reports_what_it_did(tmp_path):
    from click.testing import CliRunner

    from parawire.cli import app

    db = str(tmp_path / "l.db")
    args = ["latency", "collect", "--out", db, "--samples", "2", "--min-nodes", "4"]
    args += ["--max-nodes", "5", "--repeats", "2", "--warmup", "0"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "2 measured, 0 already stored" in first.output
    again = CliRunner().invoke(app, args)
    assert "0 measured, 2 already stored" in again.output
