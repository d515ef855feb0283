"""Data sets from the store, splits without leakage, and the error figures of a predictor.

Splits keep every architecture (spec digest) on one side: ``split_by_architecture`` draws a
seeded share of the digests for the test side; ``hold_out_generator`` tests on every
architecture of one generator and trains on the rest (the harder split: a family never seen).
Figures: MAPE, the share of predictions within +-5% and +-10% of the measurement, Spearman's
rank correlation, and throughput (architectures per second, batched).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from parawire.errors import ConfigError
from parawire.latency._base import Predictor, Sample
from parawire.latency.accuracy import Errors, errors
from parawire.latency.store import LatencyStore, Measurement


def sample_from_row(row: Measurement) -> Sample:
    """The :class:`Sample` of one stored measurement."""
    return Sample(
        spec=row.spec,
        devices=row.key.devices,
        placement=row.placement_map(),
        wire_dtype=row.key.wire_dtype,
        profile=row.key.profile,
        latency_s=row.median_s,
        generator=row.spec.provenance.generator,
    )


def load_samples(
    store: LatencyStore,
    *,
    devices: int | None = None,
    profile: str | None = None,
    include_noisy: bool = True,
) -> list[Sample]:
    """Every stored measurement (optionally of one k / profile) as samples."""
    rows = store.rows(devices=devices, profile=profile, include_noisy=include_noisy)
    return [sample_from_row(r) for r in rows]


def split_by_architecture(
    samples: Sequence[Sample], test_share: float = 0.3, seed: int = 0
) -> tuple[list[Sample], list[Sample]]:
    """(train, test): a seeded ``test_share`` of the architectures, all their rows, to test."""
    if not 0.0 < test_share < 1.0:
        raise ConfigError(f"test_share must be in (0, 1), got {test_share}")
    digests = sorted({s.digest for s in samples})
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(len(digests))[: max(1, round(test_share * len(digests)))]
    test_digests = {digests[i] for i in chosen}
    train = [s for s in samples if s.digest not in test_digests]
    test = [s for s in samples if s.digest in test_digests]
    return train, test


def hold_out_generator(
    samples: Sequence[Sample], generator: str
) -> tuple[list[Sample], list[Sample]]:
    """(train, test): every architecture of ``generator`` to test, the others to train.

    An architecture that two generators produced identically (a tiny chain, say) stays on the
    test side, so no digest is on both sides.
    """
    test_digests = {s.digest for s in samples if s.generator == generator}
    train = [s for s in samples if s.digest not in test_digests]
    test = [s for s in samples if s.digest in test_digests]
    return train, test


def score(predictor: Predictor, test: Sequence[Sample]) -> tuple[Errors, float]:
    """(errors on ``test``, predictions per second, batched)."""
    start = time.perf_counter()
    predicted = predictor.predict(test)
    elapsed = time.perf_counter() - start
    measured = [s.latency_s for s in test]
    return errors(predicted, measured), len(test) / max(elapsed, 1e-9)  # type: ignore[arg-type]
