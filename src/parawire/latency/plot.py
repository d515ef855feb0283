"""Predicted-vs-measured plot of a latency predictor (matplotlib, written as PNG)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def plot_predicted_vs_measured(
    predicted: Sequence[float],
    measured: Sequence[float],
    path: str | Path,
    title: str = "",
) -> Path:
    """Scatter of predicted against measured latency (ms, log axes) with the y = x line and
    the +-10% band; returns the PNG's path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = [1e3 * v for v in predicted]
    m = [1e3 * v for v in measured]
    low, high = min(p + m) * 0.8, max(p + m) * 1.25
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.fill_between([low, high], [0.9 * low, 0.9 * high], [1.1 * low, 1.1 * high],
                    color="tab:green", alpha=0.15, label="±10%")  # fmt: skip
    ax.plot([low, high], [low, high], color="black", lw=1, label="y = x")
    ax.scatter(m, p, s=10, alpha=0.7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_xlabel("measured latency (ms)")
    ax.set_ylabel("predicted latency (ms)")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper left")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
