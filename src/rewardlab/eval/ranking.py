"""How well a learned reward ranks trajectories: accuracy on pairs, Kendall's tau, and the T-REX
extrapolation plot (predicted against true return, with the demonstrations marked)."""

from __future__ import annotations

from typing import Any

import numpy as np

from rewardlab.errors import ShapeError

__all__ = ["extrapolation_plot", "kendall_tau", "pairwise_accuracy"]


def _pair(predicted: Any, true: Any) -> tuple[np.ndarray, np.ndarray]:
    p, t = np.asarray(predicted, dtype=float), np.asarray(true, dtype=float)
    if p.shape != t.shape or p.ndim != 1:
        raise ShapeError("predicted", f"has shape {p.shape} against true {t.shape}", "pass two (N,) arrays of returns")
    return p, t


def kendall_tau(predicted: Any, true: Any) -> float:
    """Kendall's tau-b between predicted and true returns (scipy), in [-1, 1]; NaN for fewer than two.

    Examples:
        >>> kendall_tau([1.0, 2.0, 3.0], [10.0, 20.0, 30.0]), kendall_tau([3.0, 2.0, 1.0], [10.0, 20.0, 30.0])
        (1.0, -1.0)
    """
    from scipy import stats

    p, t = _pair(predicted, true)
    if len(p) < 2:
        return float("nan")
    return float(stats.kendalltau(p, t).statistic)


def pairwise_accuracy(predicted: Any, true: Any) -> float:
    """Fraction of pairs with different true returns that the predicted returns order the same way.

    Examples:
        >>> pairwise_accuracy([1.0, 3.0, 2.0], [1.0, 2.0, 3.0])
        0.6666666666666666
    """
    p, t = _pair(predicted, true)
    i, j = np.triu_indices(len(p), k=1)
    strict = t[i] != t[j]
    if not strict.any():
        return float("nan")
    return float(np.mean(np.sign(p[i] - p[j])[strict] == np.sign(t[i] - t[j])[strict]))


def extrapolation_plot(predicted: Any, true: Any, *, demo: Any = None, title: str = "") -> Any:
    """A matplotlib figure of predicted against true returns, each axis scaled to [0, 1] over all points as
    in the T-REX paper; ``demo`` ``(N,)`` booleans mark the demonstrations (the rest are held-out
    trajectories, e.g. better ones the learner never saw). Kendall's tau is in the legend."""
    import matplotlib.pyplot as plt

    p, t = _pair(predicted, true)
    mask = np.zeros(len(p), bool) if demo is None else np.asarray(demo, dtype=bool)

    def scale(x: np.ndarray) -> np.ndarray:
        span = np.ptp(x)
        return (x - x.min()) / span if span > 0 else np.zeros_like(x)

    ps, ts = scale(p), scale(t)
    fig, ax = plt.subplots(figsize=(4.5, 4.2))
    ax.plot([0, 1], [0, 1], color="0.7", lw=1, ls="--")
    ax.scatter(ts[~mask], ps[~mask], s=18, color="tab:blue", label="held out")
    ax.scatter(ts[mask], ps[mask], s=30, color="tab:orange", marker="s", label="demonstrations")
    ax.set_xlabel("true return (scaled)")
    ax.set_ylabel("predicted return (scaled)")
    ax.set_title(title or f"Kendall tau = {kendall_tau(p, t):.2f}")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig
