"""How parawire turns timings into figures: fresh processes, medians, bootstrap intervals, cores.

One network's time moves by up to half between fresh processes of an idle machine, and as much
inside ONE process over a few seconds: the machine's own speed moves (on a virtual machine, its
host's other tenants and clock), whatever the process fixes (its addresses, core, allocator;
``benchmarks/process_spread.py``). So one process's median is one sample of a wide distribution,
and a speedup that divides two such samples can be off by as much. Every timing that a user
acts on (``parawire run``, ``calibrate``, ``latency collect``'s k > 1 rows, the benchmarks) follows
one method:

* each side (the one-process reference, the split) is measured in several fresh processes,
  interleaved A, B, B, A, A, B... so that a drift of the machine falls on both sides alike;
* the figure is the median of all runs, with a two-level bootstrap interval (processes resampled,
  then runs within each), so the interval widens with the spread between processes and not
  only with the runs inside one;
* the spread between processes is reported beside it (each process's median, and the largest
  over the smallest);
* each process is pinned to cores of its own when the machine has enough
  (``os.sched_setaffinity``), and the report says when it has not.

Pure functions on lists of seconds; no torch, so every layer can use it.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95  # of every interval parawire reports
RESAMPLES = 2000  # bootstrap resamples: the interval's ends move by < 1% between seeds

Samples = Sequence[Sequence[float]]  # per fresh process, its measured runs (seconds)


@dataclass(frozen=True)
class Interval:
    """A figure and its bootstrap confidence interval."""

    value: float
    low: float
    high: float

    def as_list(self) -> list[float]:
        """``[low, high]``, as the JSON outputs carry it."""
        return [self.low, self.high]

    def contains(self, x: float) -> bool:
        """Whether ``x`` lies within the interval (ends included)."""
        return self.low <= x <= self.high


def pooled(samples: Samples) -> list[float]:
    """Every run of every process, in one list."""
    return [t for process in samples for t in process]


def _bootstrap_medians(samples: Samples, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Medians of ``resamples`` two-level resamples: processes with replacement, then each
    chosen process's runs with replacement (as many as it has). Vectorised: every resample's
    draws in one array, the slots past a shorter process's run count left out (NaN)."""
    groups = [np.asarray(p, dtype=float) for p in samples if len(p)]
    if not groups:
        raise ValueError("no timings to summarise")
    sizes = np.array([len(g) for g in groups])
    flat = np.concatenate(groups)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    picks = rng.integers(0, len(groups), size=(resamples, len(groups)))  # (R, G)
    n = sizes[picks][..., None]  # (R, G, 1): runs of each chosen process
    slot = np.arange(sizes.max())  # (S,)
    draws = (rng.random((resamples, len(groups), sizes.max())) * n).astype(int)  # (R, G, S)
    values = flat[offsets[picks][..., None] + draws]
    values[np.broadcast_to(slot >= n, values.shape)] = np.nan
    return np.nanmedian(values.reshape(resamples, -1), axis=1)


def median_interval(
    samples: Samples, confidence: float = CONFIDENCE, resamples: int = RESAMPLES, seed: int = 0
) -> Interval:
    """The median of all runs and its two-level bootstrap interval (percentile method)."""
    rng = np.random.default_rng(seed)
    medians = _bootstrap_medians(samples, resamples, rng)
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(medians, [tail, 1.0 - tail])
    return Interval(statistics.median(pooled(samples)), float(low), float(high))


def ratio_interval(
    numerator: Samples,
    denominator: Samples,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> Interval:
    """median(numerator) / median(denominator) with a bootstrap interval, both sides resampled
    independently (a speedup: one-process times over split times)."""
    rng = np.random.default_rng(seed)
    ratios = _bootstrap_medians(numerator, resamples, rng) / _bootstrap_medians(
        denominator, resamples, rng
    )
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(ratios, [tail, 1.0 - tail])
    value = statistics.median(pooled(numerator)) / statistics.median(pooled(denominator))
    return Interval(value, float(low), float(high))


def process_spread(samples: Samples) -> dict[str, object]:
    """Each process's median and the largest over the smallest (1.0: processes agree)."""
    medians = [statistics.median(p) for p in samples if len(p)]
    spread = max(medians) / min(medians) if medians and min(medians) > 0 else float("nan")
    return {"process_medians_s": medians, "max_over_min": spread}


def interleaved_order(rounds: int, arms: int = 2) -> list[int]:
    """The arm measured at each step: ``rounds`` rounds of every arm, each round the reverse
    of the one before (A B, B A, A B...), so a steady drift of the machine falls on every arm
    alike."""
    out: list[int] = []
    for r in range(rounds):
        order = list(range(arms))
        out += order if r % 2 == 0 else order[::-1]
    return out


def available_cores() -> list[int]:
    """The cores this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux: no affinity control
        return list(range(os.cpu_count() or 1))


def core_sets(processes: int, threads: int) -> list[tuple[int, ...]] | None:
    """Cores of their own for ``processes`` processes of ``threads`` threads each, or None when
    the machine has too few (then nothing is pinned, and the caller says so).

    The highest-numbered cores are used, leaving core 0 (where interrupts and the launcher
    tend to run) to the launcher when there are cores to spare.
    """
    cores = available_cores()
    need = processes * threads
    if need > len(cores) or not hasattr(os, "sched_setaffinity"):
        return None
    chosen = cores[len(cores) - need :]
    return [tuple(chosen[i * threads : (i + 1) * threads]) for i in range(processes)]


def pin(cores: Sequence[int] | None) -> bool:
    """Run this process on ``cores`` only (before it starts threads); False if not pinned."""
    if not cores or not hasattr(os, "sched_setaffinity"):
        return False
    os.sched_setaffinity(0, set(cores))
    return True
