"""MWAL: apprenticeship learning as a zero-sum game (Syed & Schapire, NeurIPS 2007).

The reward is assumed linear in ``k`` state features ``phi(s) in [-1, 1]^k`` with weights ``w`` on
the probability simplex: *every* feature is something the expert wants more of, and only their
relative importance is unknown. With ``mu(pi) = E[sum_t gamma^t phi(s_t) | pi]`` the value of a
policy is ``w · mu(pi)``, and the learner plays the game

    ``v* = max_psi min_{w in simplex} [w · mu(psi) - w · mu_E] = max_psi min_j [mu_j(psi) - mu_E_j]``

over mixed policies ``psi``. Since ``v* >= 0`` (the expert itself achieves 0), the resulting ``psi``
is at least as good as the expert for every reward in the class, and *strictly better* whenever it
can improve every feature at once: unlike feature matching, MWAL can outperform a suboptimal
demonstrator.

The algorithm (Syed & Schapire, fig. 1) runs multiplicative weights for the reward player against a
best-responding policy player:

1. ``beta = 1 / (1 + sqrt(2 ln k / T))`` (:func:`mwal_beta`);
2. ``G(i, mu) = ((1 - gamma)(mu_i - mu_E_i) + 2) / 4``, in ``[0, 1]`` (:func:`mwal_gain`);
3. ``W^(1) = 1``; for ``t = 1 .. T``:

   * ``w^(t) = W^(t) / sum_i W^(t)_i``;
   * ``pi^(t)`` = an optimal policy for ``R = Phi w^(t)`` (exact :func:`~rewardlab.mdp.value_iteration`);
   * ``mu^(t) = mu(pi^(t))``;
   * ``W^(t+1)_i = W^(t)_i beta^{G(i, mu^(t))}`` (:func:`mwal_update`): features the policy already
     does well on lose weight, so the next reward stresses what it neglected;

4. return the mixed policy ``psi`` choosing each ``pi^(t)`` with probability ``1 / T`` per episode.

Conventions of this implementation:

* **Feature signs and scaling.** The paper's features are in ``[-1, 1]`` and "more is better".
  :func:`scale_features` multiplies each feature by its known sign (``+1`` more is better, ``-1``
  less is better; all ``+1`` by default, as in the paper) and then maps it affinely onto
  ``[-1, 1]`` using its minimum and maximum over the states. The reward class is therefore
  ``R(s) = sum_j c_j sign_j phi_j(s) + const`` with ``c_j >= 0``; the constant changes no policy
  unless terminal states let episodes end early. A feature constant over the states (say, a
  terrain absent from the map) becomes 0 and is left out of the game with weight 0: it cannot
  tell policies apart, and kept in, it would pin the game value at 0 and draw all the weight.
* **Horizon.** ``(1 - gamma) mu`` lies in ``[-1, 1]^k`` for a discounted MDP; for a finite horizon
  the normaliser ``1 - gamma`` is replaced by ``1 / sum_{t<H} gamma^t`` (``1 / H`` when ``gamma = 1``).
* ``mu_E`` and ``mu(pi)`` are computed as in :mod:`rewardlab.irl.feature_matching`: empirical
  (discounted) feature counts of the demonstrations, and exact expectations over the demonstrations'
  own episodes (start states and lengths), so truncated demonstrations are not compared with
  infinite-horizon expectations; the normaliser ``c`` is then that of the longest episode,
  ``1 / sum_{t<L} gamma^t``.
* **What ``fit`` returns.** A mixture of policies is *not* the average of their tables (averaging
  the action probabilities of two paths can produce a third, worse path), so the mixture is kept as
  ``info["policies"]`` with ``info["mixture_weights"]`` (uniform ``1/T``). ``FitResult.policy`` is
  the single ``pi^(t)`` with the largest worst-feature margin ``min_j (mu_j(pi) - mu_E_j)``
  (normalised), the best stationary policy the game found. ``FitResult.reward`` is linear in the
  scaled features with the average weights ``(1/T) sum_t w^(t)``, the reward player's approximately
  minimax strategy (the reward under which the expert looks best); ``FitResult.policy`` is not
  necessarily optimal for it.

Reference:
    Umar Syed and Robert E. Schapire, "A Game-Theoretic Approach to Apprenticeship Learning",
    NeurIPS 2007.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rewardlab.data.validate import validate_dataset
from rewardlab.errors import ConfigError, ShapeError, ValidationError
from rewardlab.irl.feature_matching import (
    demonstration_episodes,
    expert_feature_expectations,
    policy_feature_expectations,
    tabular_mdp,
)
from rewardlab.learner import Callback, FitResult, History, run_callback
from rewardlab.mdp import TabularMDP, value_iteration
from rewardlab.mdp.core import as_tensor
from rewardlab.rewards import TabularReward

__all__ = ["MWAL", "MWALConfig", "mwal_beta", "mwal_gain", "mwal_update", "scale_features", "value_normaliser"]


# ============================================================================ pure maths
def mwal_beta(n_features: int, iterations: int) -> float:
    """The multiplicative-weights rate ``beta = 1 / (1 + sqrt(2 ln k / T))`` (Syed & Schapire, fig. 1).

    Examples:
        >>> round(mwal_beta(4, 100), 6)  # 1 / (1 + sqrt(2 ln 4 / 100))
        0.857257
        >>> mwal_beta(1, 10)  # one feature: nothing to re-weight
        1.0
    """
    if n_features < 1 or iterations < 1:
        raise ValidationError("n_features", f"is {n_features} with {iterations} iterations", "pass k >= 1 and T >= 1")
    return 1.0 / (1.0 + math.sqrt(2.0 * math.log(n_features) / iterations))


def value_normaliser(mdp: TabularMDP) -> float:
    """The factor ``c`` with ``c · mu(pi) in [-1, 1]^k`` for features in ``[-1, 1]``: ``1 - gamma``
    when discounted, ``1 / sum_{t<H} gamma^t`` for a finite horizon ``H``.

    Examples:
        >>> from rewardlab.mdp.worlds import chain
        >>> round(value_normaliser(chain(2, discount=0.9)), 6), value_normaliser(chain(2, horizon=4))
        (0.1, 0.25)
    """
    if mdp.horizon is None:
        return 1.0 - mdp.discount
    return 1.0 / sum(mdp.discount**t for t in range(mdp.horizon))


def mwal_gain(mu: Any, mu_expert: Any, normaliser: float) -> np.ndarray:
    """``G(i, mu) = (c (mu_i - mu_E_i) + 2) / 4`` ``(k,)``, in ``[0, 1]`` when ``c mu, c mu_E in [-1, 1]^k``.

    Args:
        mu: ``(k,)`` feature expectations of the policy just played.
        mu_expert: ``(k,)`` the expert's.
        normaliser: ``c`` of :func:`value_normaliser` (``1 - gamma`` in the paper).

    Examples:
        >>> mwal_gain([10.0, -10.0], [0.0, 0.0], 0.1).tolist()  # better than the expert on feature 0, worse on 1
        [0.75, 0.25]
    """
    m, e = np.asarray(mu, dtype=np.float64), np.asarray(mu_expert, dtype=np.float64)
    if m.shape != e.shape or m.ndim != 1:
        raise ShapeError("mu", f"has shape {m.shape} but mu_expert has {e.shape}", "pass two (k,) vectors")
    return np.asarray((normaliser * (m - e) + 2.0) / 4.0)


def mwal_update(weights: Any, gain: Any, beta: float) -> np.ndarray:
    """``W_i <- W_i beta^{G_i}``, divided by the sum (which leaves ``w = W / sum W`` unchanged and
    keeps ``W`` from underflowing over many rounds).

    Examples:
        >>> mwal_update([1.0, 1.0], [1.0, 0.0], 0.5).round(4).tolist()  # feature 0 was easy: it loses weight
        [0.3333, 0.6667]
    """
    w = np.asarray(weights, dtype=np.float64) * np.power(beta, np.asarray(gain, dtype=np.float64))
    return np.asarray(w / w.sum())


def scale_features(features: Any, signs: Any = None) -> Tensor:
    """Features multiplied by their known signs and mapped affinely onto ``[-1, 1]`` over the states.

    ``phi'_j = 2 (sign_j phi_j - min_s sign_j phi_j) / (max_s - min_s) - 1``; a feature constant over
    the states becomes 0. ``signs`` defaults to all ``+1`` ("more is better", the paper's setting).

    Args:
        features: ``(S, k)`` state features.
        signs: ``(k,)`` entries ``+1`` or ``-1``, or None.

    Returns:
        ``(S, k)`` scaled features, in the dtype of ``features`` (float64 for integer input).

    Examples:
        >>> scale_features(torch.tensor([[0.0, 5.0], [1.0, 5.0], [3.0, 5.0]]), (-1, 1))
        tensor([[ 1.0000,  0.0000],
                [ 0.3333,  0.0000],
                [-1.0000,  0.0000]])
    """
    phi = as_tensor(features, "features")
    if not phi.is_floating_point():
        phi = phi.to(torch.float64)
    if phi.ndim != 2:
        raise ShapeError("features", f"has shape {tuple(phi.shape)}", "pass (S, k) state features")
    if signs is not None:
        s = as_tensor(signs, "feature_signs", dtype=phi.dtype, device=phi.device)
        if s.shape != (phi.shape[1],):
            raise ShapeError("feature_signs", f"has shape {tuple(s.shape)}", f"give one sign per feature: ({phi.shape[1]},)")
        phi = phi * s
    lo, hi = phi.amin(0), phi.amax(0)
    span = hi - lo
    scaled = 2.0 * (phi - lo) / torch.where(span > 0, span, torch.ones_like(span)) - 1.0
    return torch.where(span > 0, scaled, torch.zeros_like(scaled))


# ============================================================================ the learner
@dataclass(frozen=True)
class MWALConfig:
    """Hyperparameters of :class:`MWAL`.

    Attributes:
        iterations: ``T``, the number of rounds (each one exact MDP solve); the game value is
            reached to within ``O(sqrt(ln k / T))``.
        feature_signs: each feature's known sign, ``+1`` (more is better) or ``-1`` (less is
            better); None means all ``+1``, as in the paper.

    Examples:
        >>> MWALConfig(iterations=50, feature_signs=(1, -1)).feature_signs
        (1, -1)
    """

    iterations: int = 100
    feature_signs: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.iterations, bool) or not isinstance(self.iterations, int) or self.iterations < 1:
            raise ConfigError("iterations", f"is {self.iterations!r}", "pass an integer >= 1")
        if self.feature_signs is not None:
            signs = tuple(self.feature_signs)
            if not signs or any(isinstance(x, bool) or x not in (1, -1) for x in signs):
                raise ConfigError("feature_signs", f"is {self.feature_signs!r}", "give one +1 or -1 per feature, or None")
            object.__setattr__(self, "feature_signs", tuple(int(x) for x in signs))


class MWAL:
    """Multiplicative Weights Apprenticeship Learning (Syed & Schapire, NeurIPS 2007).

    ``fit`` plays the game of the module docstring for ``T`` rounds and returns

    * ``reward``: ``TabularReward.linear(info["features"], mean_t w^(t))`` on the *scaled* features;
    * ``policy``: the round's policy with the largest worst-feature margin ``min_j c (mu_j - mu_E_j)``;
    * ``history``: per round ``t``, ``margin`` (that policy's worst-feature margin) and
      ``mixture_margin`` (the same for the uniform mixture of rounds ``1..t``, the game value reached);
    * ``info``: ``policies`` and ``mixture_weights`` (the mixed policy ``psi``), ``feature_expectations``
      ``(T, k)`` and ``expert_feature_expectations`` ``(k,)`` of the scaled features, ``weights``
      ``(T, k)`` (the ``w^(t)``), ``features`` ``(S, k)`` (scaled), ``feature_signs``, ``beta``,
      ``normaliser``, ``active_features`` ``(k,)`` (False for constant features), ``margins`` ``(T,)``,
      ``mixture_margin``, ``best_index``, ``iterations``.

    The value of the mixture under any reward is the average of its policies' values.
    ``rng`` is accepted for the common learner shape but unused: every step is deterministic.

    Examples:
        >>> from rewardlab.data import sample_tabular
        >>> from rewardlab.mdp.worlds import navigation_gridworld
        >>> world = navigation_gridworld("tiny")  # road, grass, rough, water: less is better; goal: more
        >>> expert = value_iteration(world.mdp, world.reward).policy
        >>> demos = sample_tabular(world.mdp, expert, 20, rng=np.random.default_rng(0), epsilon=0.5)
        >>> result = MWAL(MWALConfig(iterations=20, feature_signs=(-1, -1, -1, -1, 1))).fit(demos, world.mdp, rng=np.random.default_rng(0))
        >>> len(result.info["policies"]), result.info["mixture_margin"] > 0  # better than the noisy expert on every feature
        (20, True)
    """

    def __init__(self, config: MWALConfig | None = None) -> None:
        self.config = config if config is not None else MWALConfig()

    def fit(self, data: Any, env_or_mdp: Any, *, rng: np.random.Generator, callback: Callback | None = None) -> FitResult:
        """Learn from tabular demonstrations ``data`` in ``env_or_mdp`` (a TabularMDP with features)."""
        cfg = self.config
        mdp = tabular_mdp(env_or_mdp)
        data = validate_dataset(data, mdp)
        if mdp.features is None:
            raise ValidationError("mdp.features", "is None", "build the MDP with state features (S, k)")
        k = mdp.n_features
        if cfg.feature_signs is not None and len(cfg.feature_signs) != k:
            raise ConfigError(
                "feature_signs", f"has {len(cfg.feature_signs)} entries but the MDP has {k} features", "give one sign per feature"
            )
        phi = scale_features(mdp.features, cfg.feature_signs).to(device=mdp.device)
        # Features constant over the states carry no preference (scaled, they are 0 everywhere): leaving
        # them in the game would pin its value at 0 and draw all the weight, so they get weight 0.
        active = (phi != 0).any(0).cpu().numpy()
        if not active.any():
            raise ValidationError("mdp.features", "are constant over the states", "give features that differ between states")
        mu_e, _ = expert_feature_expectations(data, mdp, features=phi)
        episodes = demonstration_episodes(data, mdp)  # like with like: the demonstrations' own starts and lengths
        c = value_normaliser(mdp.replace(horizon=int(episodes[1].max())) if mdp.horizon is None else mdp)
        beta = mwal_beta(int(active.sum()), cfg.iterations)

        def worst_margin(mu: np.ndarray) -> np.ndarray:
            """``min_j c (mu_j - mu_E_j)`` over the active features, along the last axis."""
            return np.asarray((c * (mu - mu_e))[..., active].min(-1))

        big_w = np.ones(int(active.sum()))  # W^(1) = 1
        policies: list[Tensor] = []
        mus: list[np.ndarray] = []
        ws: list[np.ndarray] = []
        history = History()
        for t in range(1, cfg.iterations + 1):
            w = np.zeros(k)
            w[active] = big_w / big_w.sum()
            policy = value_iteration(mdp, phi @ torch.as_tensor(w, dtype=phi.dtype, device=phi.device)).policy
            mu = policy_feature_expectations(mdp, policy, features=phi, episodes=episodes)
            big_w = mwal_update(big_w, mwal_gain(mu[active], mu_e[active], c), beta)
            policies.append(policy)
            mus.append(mu)
            ws.append(w)
            metrics = {"margin": float(worst_margin(mu)), "mixture_margin": float(worst_margin(np.mean(mus, axis=0)))}
            history.log(t, **metrics)
            if run_callback(callback, t, metrics):
                break

        mu_all, w_all = np.stack(mus), np.stack(ws)
        margins = worst_margin(mu_all)
        best = int(np.argmax(margins))
        n = len(policies)
        info = {
            "policies": policies,
            "mixture_weights": np.full(n, 1.0 / n),
            "feature_expectations": mu_all,
            "expert_feature_expectations": mu_e,
            "weights": w_all,
            "features": phi,
            "active_features": active,
            "feature_signs": cfg.feature_signs if cfg.feature_signs is not None else (1,) * k,
            "beta": beta,
            "normaliser": c,
            "margins": margins,
            "mixture_margin": float(worst_margin(mu_all.mean(axis=0))),
            "best_index": best,
            "iterations": n,
        }
        reward = TabularReward.linear(phi, torch.as_tensor(w_all.mean(axis=0), dtype=phi.dtype, device=phi.device))
        return FitResult(reward=reward, policy=policies[best], history=history, info=info)
