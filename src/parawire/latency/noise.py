"""Test-retest agreement of measured latencies: the ceiling for any predictor (issue 21).

A predictor scored against measured labels cannot agree with them better than the labels agree
with themselves: measure the same architectures twice (two ``latency collect`` runs into two
stores, same seed and options, at different times) and compare the rows the stores share
(same architecture, k, placement, measurement profile, wire dtype and threads). The second
store is scored against the first with the figures a predictor gets (``accuracy.errors``):
share within +-5% and +-10%, MAPE and Spearman; the median ratio of second over first says
whether one run was slower overall (a load, not noise), and the figures again after dividing
that ratio out separate the shift from the noise of each row.

    parawire latency noise a.db b.db
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from parawire.errors import DataError
from parawire.latency.accuracy import Errors, errors
from parawire.latency.store import Measurement

MATCH_FIELDS = ("digest", "devices", "placement", "profile", "wire_dtype", "threads")


@dataclass(frozen=True)
class Retest:
    """How far a retest agrees with the first measurement."""

    agreement: Errors  # the retest scored against the first measurement
    median_ratio: float  # median over shared rows of retest / first
    rescaled: Errors  # the retest divided by ``median_ratio`` first: the noise without the shift
    only_first: int  # rows of the first store with no match in the second
    only_second: int  # and the other way round

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return {
            **asdict(self),
            "agreement": self.agreement.to_dict(),
            "rescaled": self.rescaled.to_dict(),
        }


def _by_key(rows: Sequence[Measurement]) -> dict[tuple, Measurement]:
    """Rows by the fields that make two measurements of the same deployment (first kept)."""
    out: dict[tuple, Measurement] = {}
    for r in rows:
        out.setdefault(tuple(getattr(r.key, f) for f in MATCH_FIELDS), r)
    return out


def retest(first: Sequence[Measurement], second: Sequence[Measurement]) -> Retest:
    """The agreement of ``second`` with ``first`` on the deployments both measured."""
    a, b = _by_key(first), _by_key(second)
    shared = sorted(set(a) & set(b))
    if len(shared) < 2:
        raise DataError(
            f"the two stores share {len(shared)} measured deployments; collect the same "
            "architectures into both (same --seed, --samples, --devices and options)"
        )
    was = [a[k].median_s for k in shared]
    now = [b[k].median_s for k in shared]
    ratio = statistics.median(n / w for n, w in zip(now, was, strict=True))
    return Retest(
        agreement=errors(now, was),
        median_ratio=ratio,
        rescaled=errors([n / ratio for n in now], was),
        only_first=len(set(a) - set(b)),
        only_second=len(set(b) - set(a)),
    )
