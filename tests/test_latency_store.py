"""The latency store and resumable collection (tiny specs, few repeats)."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import time

import pytest

from parawire.arch.generate import generate
from parawire.errors import ConfigError, DataError
from parawire.latency.collect import CollectConfig, collect, iter_jobs
from parawire.latency.store import (
    KEY_FIELDS,
    MEASUREMENTS,
    LatencyStore,
    MeasurementKey,
    placement_text,
    summarize,
)

# in this process, one job at a time (fresh processes: test_collect_times_rows_in_fresh_processes)
TINY = {"min_nodes": 4, "max_nodes": 6, "repeats": 3, "warmup": 1, "processes": 0, "interleave": 1}


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


def test_one_list_of_key_fields_makes_the_unique_constraint_and_the_key():
    (unique,) = [c for c in MEASUREMENTS.constraints if c.name == "one_measurement"]
    assert tuple(col.name for col in unique.columns) == KEY_FIELDS
    assert tuple(f.name for f in dataclasses.fields(MeasurementKey)) == KEY_FIELDS


def test_summary_flags_noise():
    quiet = summarize([[1.0, 1.0, 1.0, 1.0]])
    assert (quiet.median_s, quiet.spread_s, quiet.noisy) == (1.0, 0.0, False)
    wide = summarize([[1.0, 1.0, 2.0, 3.0, 1.0]])
    assert wide.median_s == 1.0 and wide.spread_s > 0.1 and wide.noisy
    # several processes: the spread between their medians decides, not the runs inside each
    apart = summarize([[1.0, 1.0, 1.0], [1.3, 1.3, 1.3], [1.0, 1.0, 1.0]])
    assert apart.processes == 3 and apart.process_spread == pytest.approx(0.3) and apart.noisy
    agree = summarize([[1.0, 1.5, 1.0], [1.02, 1.0, 1.6]])
    assert agree.process_spread == pytest.approx(0.02, rel=0.05) and not agree.noisy


def test_a_store_without_the_process_columns_gains_them(tmp_path):
    import sqlalchemy as sa

    db = tmp_path / "old.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:  # the tables as they were before issue 21
        conn.execute(
            sa.text(
                "CREATE TABLE specs (digest VARCHAR(32) PRIMARY KEY, "
                "generator VARCHAR(64), vertices INTEGER, spec_json TEXT)"
            )
        )
        conn.execute(sa.text("CREATE TABLE measurements (id INTEGER PRIMARY KEY, digest "
                             "VARCHAR(32), devices INTEGER, placement TEXT, placement_kind "
                             "VARCHAR(32), profile VARCHAR(128), wire_dtype VARCHAR(16), threads "
                             "INTEGER, machine VARCHAR(32), torch_version VARCHAR(64), median_s "
                             "FLOAT, spread_s FLOAT, repeats INTEGER, noisy BOOLEAN, created "
                             "VARCHAR(32))"))  # fmt: skip
    engine.dispose()
    spec = generate("chain", seed=0, n=4)
    store = LatencyStore(db, create=False)
    assert store.add(spec, _key(spec), [[0.010, 0.011], [0.012, 0.013]])
    (row,) = store.rows()
    assert row.processes == 2 and row.process_spread > 0 and row.repeats == 4


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
    args += ["--max-nodes", "6", "--repeats", "2", "--warmup", "0", "--processes", "1"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "2 measured, 0 already stored" in first.output
    again = CliRunner().invoke(app, args)
    assert "0 measured, 2 already stored" in again.output


def test_max_nodes_bounds_the_vertices_not_the_generators_n():
    config = CollectConfig(samples=40, seed=3, min_nodes=6, max_nodes=12)
    sizes = [len(j.spec.nodes) for j in iter_jobs(config)]
    assert max(sizes) <= 12 and min(sizes) >= 6
    assert max(sizes) >= 11  # the bound is reached, not undershot by a margin


def test_collect_times_rows_in_fresh_processes_interleaved(tmp_path):
    store = LatencyStore(tmp_path / "l.db")
    config = CollectConfig(samples=3, **{**TINY, "processes": 2, "interleave": 3})
    summary = collect(store, config)
    assert summary.measured == 3 and not summary.failed
    rows = store.rows()
    assert all(r.processes == 2 and r.repeats == 6 and r.process_spread >= 0 for r in rows)


def test_collect_options_are_checked():
    with pytest.raises(ConfigError, match="--dilation applies to device emulation"):
        CollectConfig(dilation="2").check()
    with pytest.raises(ConfigError, match="--dilation must be a number"):
        CollectConfig(dilation="fast", emulate="rpi4-ethernet").check()
    CollectConfig(dilation="auto", emulate="rpi4-ethernet", devices=(2,)).check()


def test_noise_reports_test_retest_agreement(tmp_path, capsys):
    import json

    from parawire.cli import main

    specs = [generate("chain", seed=0, n=n) for n in range(4, 14)]
    first, second = LatencyStore(tmp_path / "a.db"), LatencyStore(tmp_path / "b.db")
    for i, spec in enumerate(specs):
        t = 0.001 * 2**i
        first.add(spec, _key(spec), [t])
        second.add(spec, _key(spec, machine="other"), [t * (1.05 if i % 2 else 1.2)])
    first.close()
    second.close()
    args = ["latency", "noise", str(tmp_path / "a.db"), str(tmp_path / "b.db")]
    assert main([*args, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["agreement"]["n"] == 10 and doc["agreement"]["within10"] == pytest.approx(50.0)
    assert doc["agreement"]["spearman"] == pytest.approx(1.0)
    assert doc["median_ratio"] == pytest.approx(1.125)  # between 1.05 and 1.2
    assert doc["rescaled"]["within10"] == pytest.approx(100.0)  # 0.93 and 1.07 of the first
    assert main(args) == 0
    assert "50.0% within ±10%" in capsys.readouterr().out


def test_dilated_emulated_rows_run_slower_and_divide_the_dilation_out(monkeypatch):
    """k = 2 rows emulating rpi4-ethernet at dilation 3: the ranks get the profile three times
    slower (and three times the timeout), and the stored times are divided by three."""
    from types import SimpleNamespace

    from parawire.analysis.profiles import create_profile
    from parawire.latency.rounds import measure_batch
    from parawire.runtime import launch

    seen = {}

    def fake_run_local(plan, options, baseline):
        seen["options"] = options
        seen["profile"] = create_profile(options.emulate)
        return SimpleNamespace(latencies_s=[0.03, 0.06])

    monkeypatch.setattr(launch, "run_local", fake_run_local)
    config = CollectConfig(
        samples=4, devices=(2,), emulate="rpi4-ethernet", dilation="3", recommended_share=1.0,
        **{**TINY, "processes": 2},
    )  # fmt: skip
    jobs = [j for j in iter_jobs(config) if max(j.placement.values()) > 0][:1]
    assert jobs
    assert measure_batch(jobs, config) == [[[0.01, 0.02], [0.01, 0.02]]]
    base = create_profile("rpi4-ethernet")
    assert seen["profile"].link.seconds(1e6) == pytest.approx(3 * base.link.seconds(1e6))
    assert seen["options"].timeout == pytest.approx(3 * config.timeout)


def test_one_device_emulated_rows_are_dilated_too(monkeypatch):
    from parawire.analysis.profiles import create_profile
    from parawire.latency.rounds import measure_batch
    from parawire.runtime import launch

    seen = {}

    def fake_single_process(plan, state, options):
        seen["profile"] = create_profile(options.emulate)
        return [0.04, 0.08], None

    monkeypatch.setattr(launch, "single_process", fake_single_process)
    config = CollectConfig(samples=1, emulate="rpi4-ethernet", dilation="4", **TINY)
    assert measure_batch(list(iter_jobs(config)), config) == [[[0.01, 0.02]]]
    base = create_profile("rpi4-ethernet")
    assert seen["profile"].link.seconds(1e6) == pytest.approx(4 * base.link.seconds(1e6))
