"""parawire.measure: the one method of turning timings into figures."""

from __future__ import annotations

import os
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parawire import measure

times = st.lists(st.floats(1e-4, 1.0), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None)
@given(st.lists(times, min_size=1, max_size=5))
def test_median_interval_contains_the_median_and_lies_within_the_data(samples):
    interval = measure.median_interval(samples, resamples=200)
    flat = measure.pooled(samples)
    assert interval.value == statistics.median(flat)
    assert min(flat) <= interval.low <= interval.high <= max(flat)


def test_interval_widens_with_the_spread_between_processes():
    # the same runs inside each process, but processes that disagree: a one-level bootstrap
    # over pooled runs would hide the disagreement, the two-level one must not
    agree = [[1.0, 1.01, 0.99] * 5 for _ in range(4)]
    disagree = [[t * f for t in agree[0]] for f in (0.7, 0.9, 1.1, 1.3)]
    narrow = measure.median_interval(agree)
    wide = measure.median_interval(disagree)
    assert wide.high - wide.low > 10 * (narrow.high - narrow.low)


def test_ratio_interval_of_a_known_speedup():
    single = [[2.0, 2.02, 1.98, 2.01] for _ in range(3)]
    split = [[1.0, 1.01, 0.99, 1.0] for _ in range(3)]
    interval = measure.ratio_interval(single, split)
    assert interval.value == pytest.approx(2.0, rel=0.01)
    assert interval.contains(2.0) and interval.high - interval.low < 0.1
    # a speedup whose interval straddles 1 when the one-process side is too spread to tell
    noisy = [[1.0] * 4, [1.6] * 4, [0.8] * 4]
    assert measure.ratio_interval(noisy, split).contains(1.0)


def test_process_spread():
    spread = measure.process_spread([[1.0, 1.2, 1.1], [1.5, 1.5], [2.2]])
    assert spread["process_medians_s"] == [1.1, 1.5, 2.2]
    assert spread["max_over_min"] == pytest.approx(2.0)


def test_interleaved_order_alternates_and_balances():
    assert measure.interleaved_order(3) == [0, 1, 1, 0, 0, 1]
    order = measure.interleaved_order(4, arms=3)
    assert all(order.count(a) == 4 for a in range(3))


def test_core_sets_are_disjoint_or_none():
    cores = measure.available_cores()
    sets = measure.core_sets(len(cores), 1)
    if not hasattr(os, "sched_setaffinity"):
        assert sets is None
        return
    assert sets is not None and sorted(c for s in sets for c in s) == cores
    assert measure.core_sets(len(cores) + 1, 1) is None  # too few: nothing pinned
    if len(cores) >= 2:
        one = measure.core_sets(1, 1)
        assert one == [(cores[-1],)]  # core 0 left to the launcher


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no affinity control here")
def test_pin_restricts_this_process():
    before = os.sched_getaffinity(0)
    try:
        core = min(before)
        assert measure.pin([core])
        assert os.sched_getaffinity(0) == {core}
    finally:
        os.sched_setaffinity(0, before)
    assert not measure.pin(None)
