"""How good is a learned reward when the true one is known?

* :func:`policy_value` and :func:`policy_loss`: ``V*(rho) - V^pi(rho)`` under the true reward.
* :func:`expected_value_difference` (EVD), the Levine-toolkit definition used by Wulfmeier et al.:
  the true-reward value of the optimal policy minus that of the policy optimal for the *learned*
  reward, both from a uniform start distribution.
* :func:`feature_expectation_gap`: ``||mu_E - mu_pi||_2``.
* :func:`reward_distance`: an EPIC-style pseudometric that ignores the ambiguity of IRL: potential
  shaping and constant offsets are projected out (using the MDP's dynamics), positive scale is
  divided out, and what remains is compared by Pearson distance.
* :func:`heldout_log_likelihood`: average ``log pi(a | s)`` of held-out demonstrations per decision.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rewardlab.errors import ShapeError, ValidationError
from rewardlab.mdp import TabularMDP, log_likelihood, policy_evaluation, value_iteration
from rewardlab.mdp.core import as_tensor

__all__ = [
    "expected_value_difference",
    "feature_expectation_gap",
    "heldout_log_likelihood",
    "policy_loss",
    "policy_value",
    "resolve_start",
    "reward_distance",
]


def resolve_start(mdp: TabularMDP, initial: Any) -> Tensor:
    """The start distribution ``rho`` ``(S,)`` that values are averaged over: ``"mdp"`` (the MDP's own),
    ``"uniform"``, or a distribution ``(S,)`` given as is (a wrong shape raises :class:`ShapeError`).

    Examples:
        >>> from rewardlab.mdp.worlds import chain
        >>> resolve_start(chain(2, discount=0.5), "uniform")
        tensor([0.5000, 0.5000], dtype=torch.float64)
    """
    if isinstance(initial, str):
        if initial == "uniform":
            return torch.full((mdp.n_states,), 1.0 / mdp.n_states, dtype=mdp.dtype, device=mdp.device)
        if initial == "mdp":
            return mdp.initial
        raise ValidationError("initial", f"is {initial!r}", "use 'uniform', 'mdp' or a distribution (S,)")
    rho = as_tensor(initial, "initial", dtype=mdp.dtype, device=mdp.device)
    if rho.shape != (mdp.n_states,):
        raise ShapeError("initial", f"has shape {tuple(rho.shape)}", f"pass ({mdp.n_states},)")
    return rho


def _start_value(mdp: TabularMDP, values: Tensor, rho: Tensor) -> float:
    v0 = values[0] if mdp.horizon is not None else values
    return float(v0 @ rho)


def policy_value(mdp: TabularMDP, reward: Any, policy: Any, *, initial: Any = "mdp") -> float:
    """``V^pi(rho) = sum_s rho(s) V^pi(s)`` under ``reward`` (``initial``: ``"mdp"``, ``"uniform"`` or ``(S,)``).

    Examples:
        >>> from rewardlab.mdp.worlds import chain
        >>> policy_value(chain(2, discount=0.5), torch.tensor([0.0, 1.0]), torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
        1.0
    """
    return _start_value(mdp, policy_evaluation(mdp, reward, policy).values, resolve_start(mdp, initial))


def policy_loss(mdp: TabularMDP, true_reward: Any, policy: Any, *, initial: Any = "mdp") -> float:
    """``V*(rho) - V^pi(rho)`` under the true reward: 0 for an optimal policy, never negative.

    Examples:
        >>> from rewardlab.mdp.worlds import chain
        >>> round(policy_loss(chain(2, discount=0.5), torch.tensor([0.0, 1.0]), torch.tensor([[1.0, 0.0], [1.0, 0.0]])), 6)
        1.0
    """
    rho = resolve_start(mdp, initial)
    best = _start_value(mdp, value_iteration(mdp, true_reward).values, rho)
    return max(best - _start_value(mdp, policy_evaluation(mdp, true_reward, policy).values, rho), 0.0)


def expected_value_difference(mdp: TabularMDP, true_reward: Any, learned_reward: Any, *, initial: Any = "uniform") -> float:
    """Expected value difference (Levine et al. 2011 toolkit; Wulfmeier et al. 2015):

    ``EVD = V*_true(rho) - V^{pi_learned}_true(rho)`` where ``pi_learned`` is optimal for the learned
    reward (ties split evenly) and ``rho`` is uniform over states by default.

    Examples:
        >>> from rewardlab.mdp.worlds import chain
        >>> mdp = chain(2, discount=0.5)
        >>> round(expected_value_difference(mdp, torch.tensor([0.0, 1.0]), torch.tensor([0.0, 5.0])), 6)
        0.0
        >>> # the learned reward keeps the agent in state 0: it loses V*(0) = 1 there, half the starts
        >>> round(expected_value_difference(mdp, torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.0])), 6)
        0.5
    """
    learned_policy = value_iteration(mdp, learned_reward).policy
    return policy_loss(mdp, true_reward, learned_policy, initial=initial)


def feature_expectation_gap(mu_expert: Any, mu_policy: Any) -> float:
    """``||mu_E - mu_pi||_2``.

    Examples:
        >>> feature_expectation_gap([1.0, 2.0], [1.0, 0.0])
        2.0
    """
    a, b = np.asarray(mu_expert, dtype=float), np.asarray(mu_policy, dtype=float)
    if a.shape != b.shape:
        raise ShapeError("mu_policy", f"has shape {b.shape} but mu_expert has {a.shape}", "compare expectations of the same features")
    return float(np.linalg.norm(a - b))


def _canonical(mdp: TabularMDP, reward: Any) -> np.ndarray:
    """Residual of ``r(s, a)`` after removing the best potential shaping ``gamma E[Phi(s')] - Phi(s)``
    and constant, by sparse least squares with uniform weight on every ``(s, a)``."""
    from scipy.sparse import coo_matrix, hstack
    from scipy.sparse.linalg import lsqr

    n_s, n_a = mdp.n_states, mdp.n_actions
    r = as_tensor(reward, "reward", dtype=torch.float64).cpu()
    if r.shape == (n_s,):
        r = r[:, None].expand(n_s, n_a)
    if r.shape != (n_s, n_a):
        raise ShapeError("reward", f"has shape {tuple(r.shape)}", f"pass ({n_s},) or ({n_s}, {n_a})")
    succ = mdp.successors.cpu().numpy()
    prob = mdp.probabilities.cpu().double().numpy()
    term = mdp.terminal_mask().cpu().numpy()
    rows = np.arange(n_s * n_a)
    gamma = mdp.discount
    # shaping(s, a) = gamma * sum_k p_k Phi(succ_k) - Phi(s); terminal states have no successor term.
    k = succ.shape[2]
    cont = np.where(term[:, None, None], 0.0, gamma * prob).reshape(-1, k)
    data = np.concatenate([cont.reshape(-1), -np.ones(n_s * n_a)])
    ri = np.concatenate([np.repeat(rows, k), rows])
    ci = np.concatenate([succ.reshape(-1), np.repeat(np.arange(n_s), n_a)])
    shaping = coo_matrix((data, (ri, ci)), shape=(n_s * n_a, n_s))
    design = hstack([shaping, coo_matrix(np.ones((n_s * n_a, 1)))]).tocsr()
    target = r.reshape(-1).numpy()
    solution = lsqr(design, target, atol=1e-12, btol=1e-12, iter_lim=20 * (n_s + 1))[0]
    return np.asarray(target - design @ solution)


def reward_distance(mdp: TabularMDP, reward_a: Any, reward_b: Any) -> float:
    """EPIC-style distance in ``[0, 1]`` between two rewards on ``mdp``, blind to what IRL cannot see.

    Each reward ``(S,)`` or ``(S, A)`` is canonicalised by projecting out every potential-based
    shaping term ``gamma E[Phi(s') | s, a] - Phi(s)`` and every constant (least squares over all
    ``(s, a)``, which uses the MDP's dynamics, unlike EPIC's independent next-state samples). The
    distance is the Pearson distance ``sqrt((1 - rho) / 2)`` of the two residuals: 0 when the rewards
    differ only by shaping, a constant and a positive scale; 1 when one is the negative of the other.
    A residual that is identically zero (a reward that is pure shaping) compared with
    anything but another such reward is at ``sqrt(1/2)``, as if uncorrelated.

    Reference: Gleave et al., "Quantifying Differences in Reward Functions", ICLR 2021.

    Examples:
        >>> from rewardlab.mdp.worlds import random_mdp
        >>> w = random_mdp(6, 2, 2, seed=0)
        >>> round(reward_distance(w.mdp, w.reward, 3 * w.reward + 1), 6)
        0.0
        >>> round(reward_distance(w.mdp, w.reward, -w.reward), 6)
        1.0
    """
    a, b = _canonical(mdp, reward_a), _canonical(mdp, reward_b)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    tiny = 1e-10 * max(1.0, float(np.abs(a).max(initial=0)), float(np.abs(b).max(initial=0)))
    if na <= tiny and nb <= tiny:
        return 0.0
    if na <= tiny or nb <= tiny:
        return math.sqrt(0.5)
    rho = float(np.clip(a @ b / (na * nb), -1.0, 1.0))
    return math.sqrt((1.0 - rho) / 2.0)


def heldout_log_likelihood(mdp: TabularMDP, policy: Any, demonstrations: Any) -> float:
    """Average ``log pi_t(a | s)`` per decision of held-out tabular trajectories (a ``TrajectoryDataset``)."""
    states, actions, times = demonstrations.decisions()
    if len(states) == 0:
        raise ValidationError("demonstrations", "hold no decisions", "pass at least one non-empty trajectory")
    total = log_likelihood(mdp, policy, states, actions, times if mdp.horizon is not None else None)
    return float(total) / len(states)
