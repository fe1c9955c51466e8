"""How well a learned reward ranks trajectories: accuracy on pairs, Kendall's tau, the T-REX
extrapolation plot (predicted against true return, with the demonstrations marked), and whether a
ranking a learner trains on agrees with the true returns recorded beside it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rewardlab.errors import ShapeError, ValidationError

__all__ = ["MIN_RANKING_TAU", "RankingAgreement", "extrapolation_plot", "kendall_tau", "pairwise_accuracy", "ranking_agreement"]

#: The least Kendall tau, between ranking levels and their mean true returns, of a ranking taken to agree
#: with the task (see :func:`ranking_agreement`).
MIN_RANKING_TAU = 0.3


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


@dataclass(frozen=True)
class RankingAgreement:
    """How a ranking's levels order their recorded true returns (:func:`ranking_agreement`).

    Attributes:
        tau: Kendall's tau-b between each level's score and its mean true return (NaN under two levels).
        levels: number of distinct scores.
        best_return: mean true return of the best-ranked (highest-score) level.
        worst_return: mean true return of the worst-ranked level.
        min_tau: the threshold ``tau`` was held to.
    """

    tau: float
    levels: int
    best_return: float
    worst_return: float
    min_tau: float

    @property
    def agrees(self) -> bool | None:
        """True when ``tau >= min_tau`` and the best level's mean return is above the worst's; None (nothing
        to judge) under two levels."""
        if self.levels < 2:
            return None
        return bool(self.tau >= self.min_tau and self.best_return > self.worst_return)

    def describe(self, rank: str = "rank") -> str:
        """One line of the figures, ``rank`` naming what orders the levels (e.g. ``"noise rank"``)."""
        return (
            f"Kendall tau {self.tau:.2f} between {rank} and mean true return over {self.levels} levels "
            f"(a ranking that agrees with the task has >= {self.min_tau:g}); best-ranked level's mean true return "
            f"{self.best_return:.4g}, worst-ranked {self.worst_return:.4g}"
        )


def ranking_agreement(scores: Any, true_returns: Any, *, min_tau: float = MIN_RANKING_TAU) -> RankingAgreement:
    """Does a ranking agree with the true returns recorded beside it?

    T-REX (Brown, Goo, Nagarajan, Niekum, ICML 2019) and Bayesian REX (Brown, Coleman, Srinivasan,
    Niekum, ICML 2020) assume that returns rise with rank; D-REX (Brown, Goo, Niekum, CoRL 2019) that
    they fall as injected noise rises, so that its clone beats its noisiest rollouts. Trajectories of
    equal score form a level; the check takes each level's mean true return ``G_l`` and Kendall's tau-b
    between the level scores and ``G_l``, and asks for both

        ``tau >= min_tau``  and  ``G_best > G_worst``.

    ``min_tau = 0.3`` (:data:`MIN_RANKING_TAU`): without ties ``tau = 2 p - 1``, with ``p`` the fraction
    of pairs of levels whose mean returns the ranking orders correctly, so 0.3 asks for 65% of them.
    Below it the ranking is close to noise or reversed: ``k`` levels ordered independently of their
    returns give a tau of standard deviation ``sqrt(2 (2k + 5) / (9 k (k - 1)))``, 0.22 for 12
    checkpoints and 0.16 for D-REX's 20 noise levels, and a reward that explains such a ranking need not
    explain the task. Means per level, not single trajectories, because the rollouts of one checkpoint
    or noise level differ by their start states, not by their rank.

    Args:
        scores: ``(N,)`` ranking scores, higher = better (D-REX: ``-epsilon``).
        true_returns: ``(N,)`` the trajectories' recorded true returns.
        min_tau: the least tau taken as agreement.

    Examples:
        >>> ranking_agreement([0, 1, 2, 3], [-10.0, -8.0, -9.0, -5.0]).agrees
        True
        >>> check = ranking_agreement([0, 0, 1, 1, 2, 2], [-5.0, -6.0, -8.0, -7.0, -9.0, -9.0])
        >>> check.tau, check.best_return, check.worst_return, check.agrees
        (-1.0, -9.0, -5.5, False)
    """
    s, t = _pair(scores, true_returns)
    if not (np.isfinite(s).all() and np.isfinite(t).all()):
        raise ValidationError("true_returns", "contain NaN or inf", "pass finite scores and returns")
    levels, index = np.unique(s, return_inverse=True)
    if len(levels) == 0:
        raise ValidationError("scores", "are empty", "pass at least one ranked trajectory")
    means = np.bincount(index, weights=t) / np.bincount(index)
    tau = kendall_tau(levels, means) if len(levels) > 1 else float("nan")
    return RankingAgreement(float(tau), len(levels), float(means[-1]), float(means[0]), float(min_tau))


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
