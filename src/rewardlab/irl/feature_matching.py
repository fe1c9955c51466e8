"""Apprenticeship learning via inverse reinforcement learning (Abbeel & Ng, ICML 2004).

The expert is assumed to maximise an unknown reward that is linear in state features,
``R(s) = w · phi(s)`` with ``||w||_2 <= 1``. The value of a policy is then ``w · mu(pi)``, where

    ``mu(pi) = E[sum_t gamma^t phi(s_t) | pi]``   (the *feature expectations*, eq. 4 of the paper),

so a policy whose feature expectations are within ``epsilon`` of the expert's ``mu_E`` is within
``epsilon`` of the expert's value for *every* such reward (Cauchy–Schwarz):
``|w · mu(pi) - w · mu_E| <= ||w||_2 ||mu(pi) - mu_E||_2 <= epsilon``.

The algorithm (section 3) alternates between guessing a reward and solving for its optimal policy:

1. pick a policy ``pi^(0)`` (here: uniformly random), compute ``mu^(0) = mu(pi^(0))``, set ``i = 1``;
2. compute ``t^(i)`` and ``w^(i)``, either by

   * **max-margin** (section 3): ``t^(i) = max_{||w||_2 <= 1} min_{j < i} w · (mu_E - mu^(j))``, a
     quadratically constrained problem solved by :func:`max_margin_weights`; or by
   * **projection** (section 3.1): ``mu_bar^(i-1)`` is the orthogonal projection of ``mu_E`` onto
     the segment from ``mu_bar^(i-2)`` to ``mu^(i-1)`` (:func:`projection_step`, starting from
     ``mu_bar^(0) = mu^(0)``), ``w^(i) = mu_E - mu_bar^(i-1)`` and ``t^(i) = ||w^(i)||_2``;

3. stop if ``t^(i) <= epsilon``;
4. ``pi^(i)`` = an optimal policy for ``R = Phi w^(i)`` (exact :func:`~rewardlab.mdp.value_iteration`);
5. ``mu^(i) = mu(pi^(i))``, ``i <- i + 1``, go to 2.

Afterwards (end of section 3) a *mixture* of the policies found, choosing ``pi^(i)`` with
probability ``lambda_i`` at the start of each episode, has feature expectations
``sum_i lambda_i mu^(i)``; the best mixture solves the small quadratic programme
``min ||mu_E - sum_i lambda_i mu^(i)||_2`` s.t. ``lambda >= 0, sum_i lambda_i = 1``
(:func:`mixture_weights`). When a single stationary policy is wanted, the paper suggests the one
found whose ``mu^(i)`` is closest to ``mu_E``; :class:`Apprenticeship` returns that one as
``FitResult.policy`` and the mixture in ``info``.

Conventions of this implementation:

* ``mu_E`` is the demonstrations' average discounted feature count,
  :func:`~rewardlab.data.feature_counts` with ``discount = mdp.discount`` (a finite-horizon MDP
  uses its discount as given, usually 1).
* ``mu(pi)`` is exact and compares like with like: the expected discounted feature counts of ``pi``
  over the demonstrations' *own* episodes, each started in that demonstration's first state and run
  for its number of decisions (:func:`~rewardlab.mdp.episode_occupancy` with
  :func:`demonstration_episodes`). A demonstration that ended in a terminal state is complete: its
  episode runs to the horizon (a discounted MDP: the longest demonstration's length). Comparing
  truncated demonstrations (8 steps by default on discounted worlds) with infinite-horizon
  expectations would leave a gap that no policy closes, and the loop would end on the uniform
  policy's zero reward.
* In a finite-horizon MDP every demonstration must have ``H`` decisions, or stop in a terminal
  state; a discounted MDP takes demonstrations of any length.
* A run that ends without ``t <= epsilon`` says so: ``info["converged"]`` is False and
  ``info["warnings"]`` (a list of str) explains; so does a returned reward that is all zero.
* Rewards are state rewards ``Phi w`` ``(S,)``. The weights given to the planner are scaled to unit
  L2 norm, which changes no optimal policy.
* The projection coefficient is clipped to ``[0, 1]``. The paper projects onto the whole line;
  the segment keeps ``mu_bar`` a mixture of the policies found, and its point nearest to ``mu_E``
  is never farther than ``mu_bar`` was, so ``t`` still never increases.

Reference:
    Pieter Abbeel and Andrew Y. Ng, "Apprenticeship Learning via Inverse Reinforcement Learning",
    ICML 2004.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from scipy.optimize import minimize, nnls
from torch import Tensor

from rewardlab.data import Trajectory, feature_counts, start_distribution, validate_dataset
from rewardlab.errors import ConfigError, ShapeError, ValidationError
from rewardlab.learner import Callback, FitResult, History, run_callback
from rewardlab.mdp import TabularMDP, episode_occupancy, occupancy, value_iteration
from rewardlab.mdp.core import as_tensor
from rewardlab.rewards import TabularReward

__all__ = [
    "Apprenticeship",
    "ApprenticeshipConfig",
    "demonstration_episodes",
    "expert_feature_expectations",
    "max_margin_weights",
    "mixture_weights",
    "policy_feature_expectations",
    "projection_step",
    "tabular_mdp",
]


# ============================================================================ inputs
def tabular_mdp(env_or_mdp: Any) -> TabularMDP:
    """The :class:`TabularMDP` itself, or the ``.mdp`` of a :class:`~rewardlab.mdp.World`; anything else
    raises :class:`ValidationError` naming ``env_or_mdp``.

    Examples:
        >>> from rewardlab.mdp.worlds import feature_gridworld
        >>> world = feature_gridworld(4, seed=0)
        >>> tabular_mdp(world) is world.mdp, tabular_mdp(world.mdp) is world.mdp
        (True, True)
    """
    mdp = getattr(env_or_mdp, "mdp", env_or_mdp)
    if not isinstance(mdp, TabularMDP):
        raise ValidationError("env_or_mdp", f"is a {type(env_or_mdp).__name__}", "pass a TabularMDP (or a World) with state features")
    return mdp


def _state_features(mdp: TabularMDP, features: Any) -> Tensor:
    """``features`` ``(S, F)`` as a tensor in the MDP's dtype, or ``mdp.features`` when None."""
    if features is None:
        if mdp.features is None:
            raise ValidationError("mdp.features", "is None", "build the MDP with state features (S, F)")
        return mdp.features
    phi = as_tensor(features, "features", dtype=mdp.dtype, device=mdp.device)
    if phi.ndim != 2 or phi.shape[0] != mdp.n_states:
        raise ShapeError("features", f"has shape {tuple(phi.shape)}", f"pass ({mdp.n_states}, F) state features")
    return phi


def _demonstrations(data: Any, mdp: TabularMDP) -> list[Trajectory]:
    """The demonstrations as a list, checked against the horizon of ``mdp``."""
    if isinstance(data, Trajectory) or not isinstance(data, Iterable):
        raise ValidationError("data", f"is a {type(data).__name__}", "pass a TrajectoryDataset (or a list of Trajectory)")
    items = list(data)
    if not items:
        raise ValidationError("data", "holds no trajectories", "pass at least one demonstration")
    for i, tr in enumerate(items):
        if not isinstance(tr, Trajectory):
            raise ValidationError(f"data[{i}]", f"is a {type(tr).__name__}", "pass Trajectory objects")
        h = mdp.horizon
        if h is not None and (len(tr) > h or (len(tr) < h and not tr.terminal)):
            raise ValidationError(
                f"data[{i}]",
                f"has {len(tr)} decisions but the MDP's horizon is {h} (and it does not end in a terminal state)",
                f"record {h} decisions per demonstration, or set the MDP's horizon to their length",
            )
    return items


def expert_feature_expectations(data: Any, mdp: TabularMDP, *, features: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """The demonstrations' feature expectations ``mu_E`` ``(F,)`` and start distribution ``(S,)``.

    ``mu_E = (1/N) sum_n sum_t gamma^t phi(s_t^n)`` with ``gamma = mdp.discount``, the Monte Carlo
    estimate of eq. 5 of Abbeel & Ng; the start distribution is the empirical one of ``s_0^n``.

    Args:
        data: tabular demonstrations (a :class:`~rewardlab.data.TrajectoryDataset`).
        mdp: the MDP they were recorded in.
        features: ``(S, F)`` features to count; defaults to ``mdp.features``.

    Raises:
        ValidationError: no features (naming ``mdp.features``), no demonstrations, or a
            demonstration whose length does not match the MDP's horizon.

    Examples:
        >>> from rewardlab.data import Trajectory
        >>> from rewardlab.mdp.worlds import chain
        >>> mdp = chain(3, horizon=2)  # one-hot features, gamma = 1
        >>> mu_e, rho = expert_feature_expectations([Trajectory(np.array([0, 1, 2]), np.array([1, 1]))], mdp)
        >>> mu_e.tolist(), rho.tolist()
        ([1.0, 1.0, 0.0], [1.0, 0.0, 0.0])
    """
    phi = _state_features(mdp, features)
    items = _demonstrations(data, mdp)
    mu_e = feature_counts(items, phi, discount=mdp.discount)
    return np.asarray(mu_e, dtype=np.float64), start_distribution(items, mdp.n_states)


def demonstration_episodes(data: Any, mdp: TabularMDP) -> tuple[np.ndarray, np.ndarray]:
    """Start states ``(N,)`` and episode lengths ``(N,)`` of tabular demonstrations, for
    :func:`~rewardlab.mdp.episode_occupancy`: a demonstration's own number of decisions, or, when it
    ended in a terminal state (complete, however short), the MDP's horizon (discounted: the longest
    demonstration's length).

    Examples:
        >>> from rewardlab.data import Trajectory
        >>> from rewardlab.mdp.worlds import chain
        >>> demos = [Trajectory(np.array([0, 1, 1]), np.array([1, 0])), Trajectory(np.array([1, 1]), np.array([0]))]
        >>> [x.tolist() for x in demonstration_episodes(demos, chain(2, discount=0.9))]
        [[0, 1], [2, 1]]
    """
    items = _demonstrations(data, mdp)
    longest = max(len(tr) for tr in items)
    complete = mdp.horizon if mdp.horizon is not None else longest
    starts = np.array([int(tr.obs[0]) for tr in items], dtype=np.int64)
    lengths = np.array([complete if tr.terminal else len(tr) for tr in items], dtype=np.int64)
    return starts, lengths


def policy_feature_expectations(
    mdp: TabularMDP, policy: Any, *, initial: Any = None, features: Any = None, episodes: tuple[Any, Any] | None = None
) -> np.ndarray:
    """Exact ``mu(pi) = sum_s D_pi(s) phi(s)`` ``(F,)`` (eq. 4 of Abbeel & Ng).

    Args:
        mdp: the MDP.
        policy: ``(S, A)`` (discounted) or ``(H, S, A)`` (finite horizon).
        initial: start distribution ``(S,)``; defaults to ``mdp.initial``.
        features: ``(S, F)`` features; defaults to ``mdp.features``.
        episodes: ``(starts, lengths)`` (e.g. :func:`demonstration_episodes`): average over these
            episodes instead (:func:`~rewardlab.mdp.episode_occupancy`); ``initial`` is then ignored.

    Examples:
        >>> from rewardlab.mdp.worlds import chain
        >>> mdp = chain(3, horizon=2)
        >>> go = torch.tensor([[0.0, 1.0]] * 3).expand(2, 3, 2)  # always move right
        >>> policy_feature_expectations(mdp, go).tolist()
        [1.0, 1.0, 0.0]
    """
    phi = _state_features(mdp, features)
    if episodes is not None:
        return np.asarray((episode_occupancy(mdp, policy, *episodes) @ phi).cpu().numpy())
    return np.asarray((occupancy(mdp, policy, initial=initial) @ phi).cpu().numpy())


# ============================================================================ the three small problems
def _points(mu_expert: Any, mus: Any) -> tuple[np.ndarray, np.ndarray]:
    mu_e = np.asarray(mu_expert, dtype=np.float64)
    m = np.asarray(mus, dtype=np.float64)
    if m.ndim == 1:
        m = m[None, :]
    if mu_e.ndim != 1 or m.ndim != 2 or m.shape[1] != mu_e.shape[0] or m.shape[0] == 0:
        raise ShapeError("mus", f"has shape {m.shape} for mu_expert of shape {mu_e.shape}", "pass (n, F) points and an (F,) target")
    if not (np.isfinite(mu_e).all() and np.isfinite(m).all()):
        raise ValidationError("mus", "contain NaN or inf", "pass finite feature expectations")
    return mu_e, m


def projection_step(mu_bar: Any, mu_new: Any, mu_expert: Any) -> np.ndarray:
    """One update of the projection method (Abbeel & Ng, section 3.1, step 2a).

    ``mu_bar' = mu_bar + c (mu_new - mu_bar)`` with
    ``c = (mu_new - mu_bar) · (mu_E - mu_bar) / ||mu_new - mu_bar||^2`` clipped to ``[0, 1]``: the
    point of the segment ``[mu_bar, mu_new]`` closest to ``mu_E``. The paper projects onto the
    whole line; clipping keeps ``mu_bar'`` a mixture of the policies found. When ``mu_new`` was
    optimal for ``w = mu_E - mu_bar`` the unclipped ``c`` is already ``>= 0``.

    Args:
        mu_bar: ``(F,)`` the current point ``mu_bar^(i-2)``.
        mu_new: ``(F,)`` the newest policy's feature expectations ``mu^(i-1)``.
        mu_expert: ``(F,)`` ``mu_E``.

    Returns:
        ``(F,)`` ``mu_bar^(i-1)``; the next reward weights are ``mu_E - mu_bar^(i-1)``.

    Examples:
        >>> projection_step([0.0, 0.0], [2.0, 0.0], [1.0, 1.0]).tolist()  # foot of the perpendicular
        [1.0, 0.0]
        >>> projection_step([0.0, 0.0], [2.0, 0.0], [3.0, 1.0]).tolist()  # beyond the segment: clipped
        [2.0, 0.0]
    """
    mu_e, pts = _points(mu_expert, np.stack([np.asarray(mu_bar, dtype=np.float64), np.asarray(mu_new, dtype=np.float64)]))
    bar, new = pts
    step = new - bar
    length2 = float(step @ step)
    if length2 == 0.0:
        return np.array(bar, copy=True)
    c = min(max(float(step @ (mu_e - bar)) / length2, 0.0), 1.0)
    return np.asarray(bar + c * step)


def _scale(*arrays: np.ndarray) -> float:
    """A positive scale so that the problems below see numbers of order 1."""
    return max(1e-300, *(float(np.abs(a).max(initial=0.0)) for a in arrays))


def max_margin_weights(mu_expert: Any, mus: Any, *, tol: float = 1e-12) -> tuple[np.ndarray, float]:
    """The max-margin step of Abbeel & Ng (section 3, step 2):

    ``max_{t, w} t``  s.t.  ``w · mu_E >= w · mu^(j) + t`` for every ``j``, ``||w||_2 <= 1``,

    an SVM-like problem (find the direction separating ``mu_E`` from the ``mu^(j)`` with the
    largest margin), solved by SLSQP on ``(w, t)``. By the minimax theorem ``t`` equals the distance
    from ``mu_E`` to the convex hull of the ``mu^(j)``, i.e. the gap of :func:`mixture_weights`; it
    is ``0`` (with ``w = 0``) once ``mu_E`` lies in the hull.

    Args:
        mu_expert: ``(F,)`` ``mu_E``.
        mus: ``(n, F)`` feature expectations of the policies found so far.
        tol: SLSQP's ``ftol`` on the (rescaled) problem.

    Returns:
        ``(w, t)``: weights ``(F,)`` with ``||w||_2 <= 1`` and the margin ``t`` (clipped at 0).

    Examples:
        >>> w, t = max_margin_weights([3.0, 1.0], [[0.0, 0.0], [2.0, 0.0]])
        >>> np.round(w, 4).tolist(), round(t, 4)  # away from the nearest hull point (2, 0), at distance sqrt(2)
        ([0.7071, 0.7071], 1.4142)
    """
    mu_e, m = _points(mu_expert, mus)
    k = mu_e.shape[0]
    scale = _scale(mu_e, m)
    d = (mu_e[None, :] - m) / scale  # (n, F): mu_E - mu^(j), rescaled
    # Start from the unit direction away from the newest point, with the margin it achieves (feasible).
    w0 = d[-1] / max(float(np.linalg.norm(d[-1])), 1e-300)
    x0 = np.append(w0, float((d @ w0).min()))
    gradient = np.append(np.zeros(k), -1.0)
    constraints = [
        {"type": "ineq", "fun": lambda x: d @ x[:k] - x[k], "jac": lambda x: np.hstack([d, -np.ones((len(d), 1))])},
        {"type": "ineq", "fun": lambda x: np.array([1.0 - x[:k] @ x[:k]]), "jac": lambda x: np.append(-2.0 * x[:k], 0.0)[None, :]},
    ]
    res = minimize(
        lambda x: -x[k], x0, jac=lambda x: gradient, method="SLSQP", constraints=constraints, options={"ftol": tol, "maxiter": 500}
    )
    w = np.asarray(res.x[:k])
    norm = float(np.linalg.norm(w))
    if norm > 1.0:
        w = w / norm
    t = float((d @ w).min()) * scale  # the margin these weights actually achieve
    if t <= 0.0:
        return np.zeros(k), 0.0
    return w, t


def mixture_weights(mu_expert: Any, mus: Any) -> np.ndarray:
    """The mixture of section 3 (end) of Abbeel & Ng:

    ``lambda = argmin ||mu_E - sum_i lambda_i mu^(i)||_2``  s.t.  ``lambda_i >= 0``, ``sum_i lambda_i = 1``,

    a quadratic programme on the probability simplex. Choosing policy ``i`` with probability
    ``lambda_i`` at the start of each episode gives feature expectations ``sum_i lambda_i mu^(i)``,
    the point of the convex hull of the ``mu^(i)`` closest to ``mu_E``.

    Solved exactly by one non-negative least-squares problem (Lawson & Hanson, "Solving Least
    Squares Problems", 1974, ch. 23, the dual of least-distance programming): with the columns
    ``d_i = mu^(i) - mu_E``, ``u = argmin_{u >= 0} ||[D; 1^T] u - e_{F+1}||_2`` and
    ``lambda = u / sum_i u_i``. (The optimality conditions of this NNLS on its support give
    ``||D u||^2 = (1 - 1^T u) 1^T u``, which makes ``D u / 1^T u`` the nearest point of the hull to 0.)

    Args:
        mu_expert: ``(F,)`` ``mu_E``.
        mus: ``(n, F)`` the policies' feature expectations.

    Returns:
        ``(n,)`` non-negative weights summing to 1 (not unique when the ``mu^(i)`` are affinely dependent).

    Examples:
        >>> lam = mixture_weights([1.0, 1.0], [[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
        >>> np.round(lam, 4).tolist()
        [0.5, 0.25, 0.25]
    """
    mu_e, m = _points(mu_expert, mus)
    n = m.shape[0]
    if n == 1:
        return np.ones(1)
    d = (m - mu_e[None, :]).T / _scale(mu_e, m)  # (F, n): d_i = mu^(i) - mu_E, of order 1
    e = np.zeros(d.shape[0] + 1)
    e[-1] = 1.0
    u, _ = nnls(np.vstack([d, np.ones((1, n))]), e, maxiter=50 * (n + 10))
    lam = np.clip(np.asarray(u, dtype=np.float64), 0.0, None)
    return np.asarray(lam / lam.sum())


# ============================================================================ the learner
@dataclass(frozen=True)
class ApprenticeshipConfig:
    """Hyperparameters of :class:`Apprenticeship`.

    Attributes:
        method: ``"projection"`` (section 3.1, no QP per step) or ``"max_margin"`` (section 3).
        epsilon: stop when ``t`` (the distance ``||mu_E - mu_bar||_2``, or the margin) is ``<= epsilon``,
            in the units of the feature expectations.
        max_iter: largest number of reward guesses (each costs one exact MDP solve).

    Examples:
        >>> ApprenticeshipConfig(method="max_margin", epsilon=1e-2).max_iter
        100
    """

    method: Literal["projection", "max_margin"] = "projection"
    epsilon: float = 1e-3
    max_iter: int = 100

    def __post_init__(self) -> None:
        if self.method not in ("projection", "max_margin"):
            raise ConfigError("method", f"is {self.method!r}", "choose 'projection' or 'max_margin'")
        if (
            isinstance(self.epsilon, bool)
            or not isinstance(self.epsilon, int | float)
            or not math.isfinite(self.epsilon)
            or self.epsilon < 0
        ):
            raise ConfigError("epsilon", f"is {self.epsilon!r}", "pass a finite number >= 0")
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, int) or self.max_iter < 1:
            raise ConfigError("max_iter", f"is {self.max_iter!r}", "pass an integer >= 1")


def _uniform_policy(mdp: TabularMDP) -> Tensor:
    shape = (mdp.n_states, mdp.n_actions) if mdp.horizon is None else (mdp.horizon, mdp.n_states, mdp.n_actions)
    return torch.full(shape, 1.0 / mdp.n_actions, dtype=mdp.dtype, device=mdp.device)


def _unit(w: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(w))
    return w / norm if norm > 0 else np.zeros_like(w)


class Apprenticeship:
    """Apprenticeship learning by feature-expectation matching (Abbeel & Ng, ICML 2004).

    ``fit`` runs the loop of the module docstring and returns

    * ``reward``: ``TabularReward.linear(mdp.features, w)`` with the unit-norm weights ``w`` for which
      the returned policy is optimal (the final ``w = mu_E - mu_bar`` is close to 0 at convergence and
      says nothing, so it is not what is returned; every guess is kept in ``info["weights"]``);
    * ``policy``: the best single policy, the one whose ``mu^(i)`` is closest to ``mu_E`` among those
      found for a reward guess (``pi^(0)`` only when the loop stopped before the first guess);
    * ``history``: per iteration ``i``, ``t`` (``t^(i)``: distance or margin), ``gap``
      (``||mu_E - mu^(i-1)||`` of the newest policy) and ``best_gap``;
    * ``info``: ``policies`` (``pi^(0)``, the uniform policy, first), ``feature_expectations``
      ``(n, F)``, ``weights`` ``(n, F)`` (zeros for ``pi^(0)``), ``mixture_weights`` ``(n,)`` of
      :func:`mixture_weights`, ``mixture_gap``, ``expert_feature_expectations``, ``best_index``,
      ``best_gap``, ``t``, ``iterations`` (MDP solves), ``converged`` (``t <= epsilon``), ``method``,
      ``warnings`` (list of str: not converged, or an all-zero reward).

    ``rng`` is accepted for the common learner shape but unused: ``pi^(0)`` is the uniform policy
    and everything else is deterministic.

    Examples:
        >>> from rewardlab.data import sample_tabular
        >>> from rewardlab.mdp.worlds import navigation_gridworld
        >>> world = navigation_gridworld("tiny")
        >>> expert = value_iteration(world.mdp, world.reward).policy
        >>> demos = sample_tabular(world.mdp, expert, 5, rng=np.random.default_rng(0))
        >>> result = Apprenticeship(ApprenticeshipConfig()).fit(demos, world.mdp, rng=np.random.default_rng(0))
        >>> result.info["converged"], round(result.info["best_gap"], 6)
        (True, 0.0)
    """

    def __init__(self, config: ApprenticeshipConfig | None = None) -> None:
        self.config = config if config is not None else ApprenticeshipConfig()

    def fit(self, data: Any, env_or_mdp: Any, *, rng: np.random.Generator, callback: Callback | None = None) -> FitResult:
        """Learn from tabular demonstrations ``data`` in ``env_or_mdp`` (a TabularMDP with features)."""
        cfg = self.config
        mdp = tabular_mdp(env_or_mdp)
        data = validate_dataset(data, mdp)
        phi = _state_features(mdp, None)
        mu_e, _ = expert_feature_expectations(data, mdp)
        episodes = demonstration_episodes(data, mdp)

        def solve(w: np.ndarray) -> Tensor:
            """Step 4: an optimal policy for ``R = Phi w`` (ties split evenly)."""
            return value_iteration(mdp, phi @ torch.as_tensor(w, dtype=mdp.dtype, device=mdp.device)).policy

        def mu_of(policy: Tensor) -> np.ndarray:
            return policy_feature_expectations(mdp, policy, episodes=episodes)

        # Step 1: pi^(0) uniform.
        policies = [_uniform_policy(mdp)]
        mus = [mu_of(policies[0])]
        weights = [np.zeros_like(mu_e)]
        mu_bar = mus[0]
        history = History()
        converged = False
        t = math.inf
        for i in range(1, cfg.max_iter + 1):
            # Step 2: the next reward guess w^(i) and its t^(i).
            if cfg.method == "projection":
                if i > 1:
                    mu_bar = projection_step(mu_bar, mus[-1], mu_e)
                w = mu_e - mu_bar
                t = float(np.linalg.norm(w))
            else:
                w, t = max_margin_weights(mu_e, np.stack(mus))
            gaps = np.linalg.norm(np.stack(mus) - mu_e, axis=1)
            metrics = {"t": t, "gap": float(gaps[-1]), "best_gap": float(gaps.min())}
            history.log(i, **metrics)
            # Step 3: stop once the expert is matched to within epsilon.
            if t <= cfg.epsilon:
                converged = True
                break
            if run_callback(callback, i, metrics):
                break
            # Steps 4-5: RL for the guessed reward, and that policy's feature expectations.
            w = _unit(w)
            policies.append(solve(w))
            mus.append(mu_of(policies[-1]))
            weights.append(w)

        mu_all, w_all = np.stack(mus), np.stack(weights)
        lam = mixture_weights(mu_e, mu_all)
        gaps = np.linalg.norm(mu_all - mu_e, axis=1)
        # pi^(0) (uniform) is optimal for no reward guess; return it only when no guess was made
        best = int(np.argmin(gaps[1:])) + 1 if len(policies) > 1 else 0
        warnings: list[str] = []
        if not converged:
            warnings.append(
                f"{cfg.method} stopped after {len(policies) - 1} reward guesses without matching the expert's feature "
                f"expectations to epsilon={cfg.epsilon:g} (t = {t:.3g}; best single policy's gap {gaps[best]:.3g}, "
                f"best mixture's {float(np.linalg.norm(mu_e - lam @ mu_all)):.3g}): raise max_iter or epsilon"
            )
        if not np.any(w_all[best]):
            warnings.append(
                f"the returned reward is all zero: the uniform policy already matches the expert's feature expectations "
                f"(gap {gaps[0]:.3g} <= epsilon={cfg.epsilon:g}), so the demonstrations do not identify a reward; "
                "give more or longer demonstrations, or lower epsilon"
            )
        info = {
            "method": cfg.method,
            "policies": policies,
            "feature_expectations": mu_all,
            "weights": w_all,
            "mixture_weights": lam,
            "mixture_gap": float(np.linalg.norm(mu_e - lam @ mu_all)),
            "expert_feature_expectations": mu_e,
            "best_index": best,
            "best_gap": float(gaps[best]),
            "t": t,
            "iterations": len(policies) - 1,
            "converged": converged,
            "warnings": warnings,
        }
        reward = TabularReward.linear(phi, torch.as_tensor(w_all[best], dtype=phi.dtype, device=phi.device))
        return FitResult(reward=reward, policy=policies[best], history=history, info=info)
