"""Demonstration sufficiency (Trinh, Chen & Brown, HRI 2024): have we seen enough demonstrations?

With posterior samples ``R_1 .. R_N`` from Bayesian IRL and the policy ``pi_eval`` we would deploy
(the optimal policy of the MAP reward), the *normalised* expected value difference under each sample

    ``nEVD_i = (V*_Ri - V^pi_eval_Ri) / (V*_Ri - V^random_Ri)``            (0 = optimal, 1 = as bad as random)

is a draw from the posterior of ``pi_eval``'s true regret. A one-sided ``(alpha, delta)`` upper bound
on its ``alpha``-quantile is the order statistic ``nEVD_(k)`` of the sorted samples with

    ``k = ceil(N alpha + Phi^-1(1 - delta) sqrt(N alpha (1 - alpha)) - 0.5)``

(the normal approximation of the binomial): with confidence ``1 - delta``, ``pi_eval``'s nEVD is at
most the bound with probability ``alpha``. The demonstrations are *sufficient* when the bound is
below a threshold ``epsilon`` (0.1 in the paper). :func:`sufficiency_loop` adds demonstrations one
at a time until it says so.

The bound is a Bayesian one: it covers the true nEVD as often as promised when the likelihood's model
of the demonstrator is right. The inverse temperature ``beta`` of :class:`BayesianIRLConfig` is part of
that model. On random 5x5 worlds with optimal demonstrators (``benchmarks/RESULTS.md``) the paper's
``beta = 10`` gives a bound that holds in 94% of rounds and ``beta = 50`` one that holds in 96%, with
the same number of demonstrations asked for; with a Boltzmann demonstrator of the likelihood's own
``beta`` the exact posterior is calibrated. Use a larger ``beta`` for demonstrators believed optimal.

Reference:
    Tu Trinh, Haoyu Chen, Daniel S. Brown, "Autonomous Assessment of Demonstration Sufficiency via
    Bayesian Inverse Reinforcement Learning", HRI 2024.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rewardlab.data import Trajectory, TrajectoryDataset
from rewardlab.errors import ValidationError
from rewardlab.eval import policy_loss
from rewardlab.irl.bayesian import BayesianIRLConfig, decision_counts, sample_posterior
from rewardlab.irl.posterior import RewardPosterior
from rewardlab.mcmc import chain_diagnostics, mixing_problem
from rewardlab.mdp import TabularMDP, value_iteration

__all__ = [
    "SufficiencyVerdict",
    "min_effective_samples",
    "normalized_evd",
    "order_statistic_index",
    "sufficiency",
    "sufficiency_loop",
    "upper_bound",
]


def order_statistic_index(n: int, alpha: float, delta: float) -> int:
    """The 1-based ``k`` of the ``(alpha, delta)`` upper order-statistic bound from ``n`` samples.

    Examples:
        >>> order_statistic_index(500, 0.95, 0.05)  # ceil(475 + 1.645 * 4.873 - 0.5)
        483
    """
    from scipy.stats import norm

    if not 0 < alpha < 1 or not 0 < delta < 1:
        raise ValidationError("alpha/delta", f"are {alpha}, {delta}", "use levels in (0, 1), e.g. alpha=0.95, delta=0.05")
    return math.ceil(n * alpha + float(norm.ppf(1 - delta)) * math.sqrt(n * alpha * (1 - alpha)) - 0.5)


def min_effective_samples(alpha: float = 0.95, delta: float = 0.05) -> int:
    """The fewest independent samples from which an ``(alpha, delta)`` upper bound on the ``alpha``-quantile exists.

    Every order statistic is at most the largest of the ``n`` samples, and that one falls below the
    ``alpha``-quantile with probability ``alpha^n``; so no order statistic bounds the quantile with
    confidence ``1 - delta`` unless ``alpha^n <= delta``, i.e. ``n >= log(delta) / log(alpha)``. (The
    normal approximation of :func:`order_statistic_index` already admits ``n >= 28`` at (0.95, 0.05),
    where the exact binomial does not.) MCMC samples count by their effective number.

    Examples:
        >>> min_effective_samples(0.95, 0.05)  # 0.95^59 = 0.048
        59
    """
    if not 0 < alpha < 1 or not 0 < delta < 1:
        raise ValidationError("alpha/delta", f"are {alpha}, {delta}", "use levels in (0, 1), e.g. alpha=0.95, delta=0.05")
    return math.ceil(math.log(delta) / math.log(alpha) - 1e-9)


def upper_bound(samples: Any, alpha: float = 0.95, delta: float = 0.05, *, n_eff: float | None = None) -> float:
    """``(alpha, delta)`` upper bound on the ``alpha``-quantile of the distribution ``samples`` ``(N,)`` came from.

    The order statistic assumes independent samples. MCMC samples are autocorrelated: with ``n_eff``
    (their effective sample size, ``< N``) the index is computed for ``n_eff`` independent samples,
    ``k_eff / n_eff`` is the quantile level it stands for, and the bound is the sample at that level of
    the ``N`` sorted samples (larger, so more conservative). If even the largest of ``n_eff``
    independent samples would not do, the largest sample is returned.

    Examples:
        >>> upper_bound(np.arange(1, 501) / 500)  # the 483rd smallest
        0.966
        >>> upper_bound(np.arange(1, 501) / 500, n_eff=100)  # k = 99 of 100: the 495th smallest
        0.99
    """
    x = np.sort(np.asarray(samples.detach().cpu() if hasattr(samples, "detach") else samples, dtype=float).ravel())
    if n_eff is not None and n_eff < len(x):
        m = max(1, math.floor(n_eff))
        k_eff = order_statistic_index(m, alpha, delta)
        if k_eff > m:
            return float(x[-1])
        return float(x[min(len(x), math.ceil(k_eff / m * len(x))) - 1])
    k = order_statistic_index(len(x), alpha, delta)
    if k > len(x):
        need = next(n for n in range(len(x), 100 * len(x) + 100) if order_statistic_index(n, alpha, delta) <= n)
        raise ValidationError(
            "samples", f"are {len(x)}, too few for an ({alpha}, {delta}) bound", f"draw at least {need} posterior samples"
        )
    return float(x[k - 1])


def normalized_evd(posterior: RewardPosterior, policy: Any, *, initial: Any = "mdp") -> Tensor:
    """``(M,)`` nEVD of ``policy`` under every posterior sample; 0 where a sample's reward makes every policy optimal."""
    mdp = posterior.mdp
    uniform = torch.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions, dtype=mdp.dtype, device=mdp.device)
    v_star = posterior.optimal_values(initial=initial)
    gap = v_star - posterior.policy_values(policy, initial=initial)
    spread = v_star - posterior.policy_values(uniform, initial=initial)
    flat = spread <= 1e-12 * (1 + v_star.abs())
    return torch.where(flat, 0.0, gap.clamp_min(0) / torch.where(flat, 1.0, spread))


@dataclass(frozen=True)
class SufficiencyVerdict:
    """The bound, the threshold it is held to, and whether the demonstrations suffice.

    ``sufficient`` is None (undetermined) when the posterior's chains have not mixed or hold too few
    effective samples for the bound; ``reason`` then says which, and ``rhat_max`` / ``ess_min`` (over the
    reward parameters and the nEVD samples; NaN where constant) give the figures.
    """

    bound: float
    threshold: float
    sufficient: bool | None
    alpha: float
    delta: float
    n_samples: int
    reason: str | None = None
    rhat_max: float = float("nan")
    ess_min: float = float("nan")


def sufficiency(
    posterior: RewardPosterior,
    policy: Any = None,
    *,
    alpha: float = 0.95,
    delta: float = 0.05,
    threshold: float = 0.1,
    initial: Any = "mdp",
    ess_adjusted: bool = False,
) -> SufficiencyVerdict:
    """Are the demonstrations behind ``posterior`` enough for ``policy`` (default: optimal for the MAP reward)?

    ``ess_adjusted`` computes the order statistic for the nEVD samples' effective sample size (ArviZ,
    across chains) instead of their count: the paper's bound treats MCMC draws as independent.

    The verdict is undetermined (``sufficient=None`` with a ``reason``) when the chains have not mixed
    (a rank-normalised split R-hat of the reward parameters or of the nEVD above 1.01) or when their
    bulk effective sample size is below :func:`min_effective_samples` (59 at the default levels): a
    bound from such samples says nothing about the posterior (Vehtari et al. 2021).

    Examples:
        >>> from rewardlab.mdp.worlds import feature_gridworld
        >>> w = feature_gridworld(3, seed=0)
        >>> theta = w.weights.expand(1, 100, -1).clone()  # a posterior sure of the true reward
        >>> zero = torch.zeros(1, 100, dtype=torch.float64)
        >>> post = RewardPosterior(theta, zero, zero, torch.ones(1), torch.ones(1), w.mdp, "linear", 10.0)
        >>> sufficiency(post).sufficient
        True
        >>> stuck = torch.stack([w.weights, -w.weights]).unsqueeze(1).expand(2, 100, -1).clone()
        >>> stuck = stuck + 1e-3 * torch.randn(stuck.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        >>> zero2 = torch.zeros(2, 100, dtype=torch.float64)  # two chains stuck in opposite places
        >>> verdict = sufficiency(RewardPosterior(stuck, zero2, zero2, torch.ones(2), torch.ones(2), w.mdp, "linear", 10.0))
        >>> verdict.sufficient is None, verdict.reason.startswith("chains have not mixed")
        (True, True)
    """
    if policy is None:
        policy = value_iteration(posterior.mdp, posterior.map_reward().values).policy
    nevd = normalized_evd(posterior, policy, initial=initial)
    c = posterior.samples.shape[0]
    theta = posterior.diagnostics()
    rhat_theta, ess_theta = np.asarray(theta["rhat"]), np.asarray(theta["ess"])
    rhat_nevd, ess_nevd = chain_diagnostics(nevd.reshape(c, -1, 1))
    rhat, ess = np.concatenate([rhat_theta, rhat_nevd]), np.concatenate([ess_theta, ess_nevd])
    n_min = min_effective_samples(alpha, delta)
    reason = mixing_problem(rhat, ess, min_ess=n_min, purpose=f"the ({alpha}, {delta}) bound")
    n_eff = None
    if ess_adjusted:
        n_eff = float(ess_nevd[0]) if math.isfinite(ess_nevd[0]) else None  # constant nEVD: any order statistic is the same value
    bound = upper_bound(nevd, alpha, delta, n_eff=n_eff)
    finite = np.isfinite(rhat)
    return SufficiencyVerdict(
        bound,
        threshold,
        None if reason is not None else bound < threshold,
        alpha,
        delta,
        int(nevd.numel()),
        reason,
        float(rhat[finite].max()) if finite.any() else float("nan"),
        float(np.nanmin(ess)) if np.isfinite(ess).any() else float("nan"),
    )


def sufficiency_loop(
    mdp: TabularMDP,
    next_demonstration: Callable[[], Trajectory],
    config: BayesianIRLConfig,
    *,
    rng: np.random.Generator,
    max_demos: int = 50,
    alpha: float = 0.95,
    delta: float = 0.05,
    threshold: float = 0.1,
    true_reward: Any = None,
    initial: Any = "mdp",
    ess_adjusted: bool = False,
) -> list[dict[str, float]]:
    """Ask for one demonstration at a time, re-sample the posterior, stop when the bound says enough
    (``ess_adjusted`` as in :func:`sufficiency`).

    Returns:
        One record per round: ``n_demos``, ``bound``, ``sufficient`` (1, 0, or NaN when undetermined:
        the round's chains had not mixed; the loop then goes on), ``rhat_max``, ``ess_min`` and, given
        ``true_reward``, ``true_nevd`` of the MAP policy (what the bound should be at least, with
        probability ``alpha``).
    """
    if max_demos < 1:
        raise ValidationError("max_demos", f"is {max_demos}", "allow at least one demonstration")
    demos: list[Trajectory] = []
    records: list[dict[str, float]] = []
    for _ in range(max_demos):
        demos.append(next_demonstration())
        posterior = sample_posterior(mdp, decision_counts(TrajectoryDataset(demos), mdp), config, rng=rng)
        policy = value_iteration(mdp, posterior.map_reward().values).policy
        verdict = sufficiency(posterior, policy, alpha=alpha, delta=delta, threshold=threshold, initial=initial, ess_adjusted=ess_adjusted)
        record = {
            "n_demos": float(len(demos)),
            "bound": verdict.bound,
            "sufficient": float("nan") if verdict.sufficient is None else float(verdict.sufficient),
            "rhat_max": verdict.rhat_max,
            "ess_min": verdict.ess_min,
        }
        if true_reward is not None:
            uniform = torch.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions, dtype=mdp.dtype)
            worst = policy_loss(mdp, true_reward, uniform, initial=initial)
            record["true_nevd"] = policy_loss(mdp, true_reward, policy, initial=initial) / worst if worst > 0 else 0.0
        records.append(record)
        if verdict.sufficient is True:
            break
    return records
