"""How close predicted latencies are to measured ones: the figures every predictor, baseline
and test-retest comparison reports (MAPE, share within 5 and 10 percent, Spearman's rank
correlation). A leaf module, so that predictors can score themselves without importing the
evaluation of stores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from parawire.errors import ConfigError


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation (average ranks for ties); NaN for fewer than 2 values."""
    x, y = np.asarray(a, float), np.asarray(b, float)
    if len(x) < 2:
        return float("nan")
    rx, ry = _ranks(x), _ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x), dtype=float)
    for value in np.unique(x[np.diff(np.sort(x), prepend=np.nan) == 0]):  # ties: mean rank
        ranks[x == value] = ranks[x == value].mean()
    return ranks


@dataclass(frozen=True)
class Errors:
    """Error figures of predictions against measurements."""

    n: int  # samples scored
    mape: float  # mean absolute percentage error, in percent
    within5: float  # share of predictions within +-5%, in percent
    within10: float  # share within +-10%, in percent
    spearman: float  # rank correlation

    def to_dict(self) -> dict[str, float]:
        """Plain JSON-able dict."""
        return asdict(self)


def errors(predicted: Sequence[float], measured: Sequence[float]) -> Errors:
    """The figures of ``predicted`` against ``measured`` (both in seconds)."""
    p, m = np.asarray(predicted, float), np.asarray(measured, float)
    if len(p) != len(m) or len(m) == 0:
        raise ConfigError("errors need as many predictions as measurements, at least one")
    rel = np.abs(p - m) / m
    return Errors(
        n=len(m),
        mape=float(100 * rel.mean()),
        within5=float(100 * (rel <= 0.05).mean()),
        within10=float(100 * (rel <= 0.10).mean()),
        spearman=spearman(p, m),
    )
