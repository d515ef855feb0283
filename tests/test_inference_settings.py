"""parawire._inference: timings and executions flush subnormals and restore torch's settings."""

from __future__ import annotations

import pytest
import torch

from parawire._inference import flush_subnormals, inference_settings

SUBNORMAL = 1e-39  # below float32's smallest normal, 1.18e-38

pytestmark = pytest.mark.skipif(
    not torch.set_flush_denormal(False), reason="this CPU cannot flush subnormals"
)


def _survives() -> bool:
    """True when a float32 subnormal survives arithmetic (is not flushed to zero)."""
    return bool((torch.tensor([SUBNORMAL]) * 1.0).item() != 0.0)


def test_the_block_flushes_and_restores() -> None:
    threads = torch.get_num_threads()
    assert _survives()
    with inference_settings(1):
        assert not _survives()
        assert torch.get_num_threads() == 1
    assert _survives()
    assert torch.get_num_threads() == threads


def test_restored_after_an_error() -> None:
    with pytest.raises(ValueError), inference_settings(1):
        raise ValueError("inside")
    assert _survives()


def test_flush_subnormals_lasts_until_undone() -> None:
    try:
        assert flush_subnormals()
        assert not _survives()
    finally:
        torch.set_flush_denormal(False)
    assert _survives()


class _RecordingClock:
    """A stand-in for the ``time`` module of a timing function: records, at every reading,
    whether subnormals survive (they must not while parawire times an inference)."""

    def __init__(self) -> None:
        import time

        self.time = time
        self.survived: list[bool] = []

    def _read(self, clock: str) -> float:
        self.survived.append(_survives())
        return getattr(self.time, clock)()

    def perf_counter(self) -> float:
        return self._read("perf_counter")

    def thread_time(self) -> float:
        return self._read("thread_time")


def test_calibration_times_with_subnormals_flushed(monkeypatch: pytest.MonkeyPatch) -> None:
    from parawire.analysis import calibrate

    survived: list[bool] = []

    def once(fn, repeats, warmup=3):  # _typical_seconds, timing one call
        survived.append(_survives())
        t0 = calibrate.time.perf_counter()
        fn()
        return max(calibrate.time.perf_counter() - t0, 1e-7)

    monkeypatch.setattr(calibrate, "_typical_seconds", once)
    calibrate.measure_kinds(repeats=1, models=1)
    assert survived and not any(survived)
    assert _survives()


def test_latency_collection_times_with_subnormals_flushed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib

    from parawire.arch import generate
    from parawire.latency import rounds

    collect = importlib.import_module("parawire.latency.collect")  # the package has a collect()
    clock = _RecordingClock()
    monkeypatch.setattr(rounds, "time", clock)
    rounds.cpu_latencies(generate("dp", seed=0, n=8), collect.CollectConfig(repeats=2, warmup=0))
    assert clock.survived and not any(clock.survived)


def test_auto_dilation_times_vertices_with_subnormals_flushed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from parawire.arch import generate
    from parawire.runtime import dilation
    from parawire.runtime.planner import make_plan

    clock = _RecordingClock()
    monkeypatch.setattr(dilation, "time", clock)
    dilation.vertex_seconds_here(make_plan(generate("dp", seed=0, n=8), 2), repeats=1)
    assert clock.survived and not any(clock.survived)


def test_a_rank_and_the_one_process_reference_run_with_subnormals_flushed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from parawire.arch import generate
    from parawire.runtime import rank, reference
    from parawire.runtime.engine import RankEngine
    from parawire.runtime.group import StoreHost
    from parawire.runtime.plan import Plan

    spec = generate("chain", seed=0, n=6)
    plan = Plan(spec, dict.fromkeys(spec.topological_order, 0), 1)
    options = reference.RunOptions(runs=2, warmup=0, timeout=10.0, paired=False)
    survived: list[bool] = []
    infer = RankEngine.infer

    def recording_infer(self, image=None):  # RankEngine.infer, recording the flush state
        survived.append(_survives())
        return infer(self, image)

    monkeypatch.setattr(RankEngine, "infer", recording_infer)
    host = StoreHost("127.0.0.1", 0, 1, 10.0)
    try:
        rank.run_rank(plan, 0, "127.0.0.1", host.port, options, store=host.store)
    finally:
        host.close()
        torch.set_flush_denormal(False)  # a rank's process keeps it; this test's must not
    assert survived and not any(survived)

    clock = _RecordingClock()
    monkeypatch.setattr(reference, "time", clock)
    reference.single_process(plan, reference.plan_state(plan), options)
    assert clock.survived and not any(clock.survived)
    assert _survives()
