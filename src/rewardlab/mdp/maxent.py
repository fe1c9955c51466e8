"""The MaxEnt / maximum-causal-entropy objective of demonstrations and its gradient.

For a reward ``r`` the soft-optimal policy ``pi_r`` (soft value iteration) defines the model. The
objective per demonstration is

    L(r) = ( <r, mu_D> - sum_s rho_0(s) V_r(s) ) / T

with ``mu_D`` the demonstrations' empirical (discounted) visitation, ``rho_0`` their start-state
distribution and ``V_r`` the soft value. Its gradient is exactly

    dL/dr = ( mu_D - mu_pi ) / T

where ``mu_pi`` is the expected visitation of ``pi_r`` from ``rho_0`` (the forward pass), because
``dV_r(s0)/dr`` is the visitation from ``s0``. Under deterministic dynamics ``L`` equals the average
log-likelihood ``(1/N) sum_n sum_t log pi_t(a_t | s_t)``; under stochastic dynamics it is the dual of
maximum causal entropy IRL, whose gradient the log-likelihood's equals in expectation.

References:
    Ziebart et al., "Maximum Entropy Inverse Reinforcement Learning", AAAI 2008, eq. 6 and Alg. 1.
    Ziebart, Bagnell, Dey, "Modeling Interaction via the Principle of Maximum Causal Entropy", ICML 2010.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from rewardlab.errors import ShapeError, ValidationError
from rewardlab.mdp.core import TabularMDP, as_tensor
from rewardlab.mdp.solvers import (
    Workspace,
    _check_temperature,
    _default_tol,
    _initial,
    _occupancy_internal,
    _policy,
    _public_sa,
    _reward,
    _soft_vi,
)

__all__ = ["MaxEntObjective", "log_likelihood", "maxent_objective"]


@dataclass(frozen=True)
class MaxEntObjective:
    """The objective, its gradient and the model that produced them.

    Attributes:
        value: ``()`` or ``(B,)`` objective per demonstration.
        gradient: same shape as the reward: ``(mu_D - mu_pi) / T``.
        visitation: the model's expected visitation ``mu_pi``, same shape as the reward.
        policy: the soft-optimal policy ``(S, A)`` or ``(H, S, A)`` (batched like the reward).
    """

    value: Tensor
    gradient: Tensor
    visitation: Tensor
    policy: Tensor


def maxent_objective(
    mdp: TabularMDP,
    reward: Any,
    demo_visitation: Any,
    *,
    demo_initial: Any = None,
    temperature: float = 1.0,
    causal: bool = True,
    workspace: Workspace | None = None,
) -> MaxEntObjective:
    """MaxEnt IRL objective and gradient for a state or state-action reward.

    Args:
        mdp: the MDP (its reward is what is being learnt).
        reward: ``(S,)`` or ``(S, A)``, optionally batched ``(B, S)`` / ``(B, S, A)``.
        demo_visitation: empirical visitation per demonstration, ``(S,)`` or ``(S, A)``
            (a state-action visitation is summed over actions for a state reward), discounted with
            ``mdp.discount`` as in :func:`rewardlab.data.empirical_visitation`.
        demo_initial: start-state distribution of the demonstrations, ``(S,)``; default ``mdp.initial``.
        temperature: ``T`` of the soft-optimal model.
        causal: maximum causal entropy (default) or, False, the original MaxEnt backward pass of
            Ziebart et al. (2008); see :func:`rewardlab.mdp.soft_value_iteration`. Only the causal
            objective's gradient is exactly ``mu_D - mu_pi`` under stochastic dynamics; the original
            algorithm uses that same update as an approximation.
        workspace: reuse buffers across the calls of a training loop (much faster on big worlds).

    Returns:
        :class:`MaxEntObjective`; for a linear reward ``r = Phi w`` the gradient in ``w`` is
        ``Phi.T @ gradient``.

    Examples:
        >>> from rewardlab.mdp.worlds import chain
        >>> mdp = chain(2, horizon=1)
        >>> obj = maxent_objective(mdp, torch.zeros(2), torch.tensor([1.0, 0.0]), demo_initial=torch.tensor([1.0, 0.0]))
        >>> obj.gradient  # the model also starts in state 0 and acts once
        tensor([0., 0.], dtype=torch.float64)
    """
    temp = _check_temperature(temperature)
    r, batched = _reward(mdp, reward)
    state_reward = r.shape[1] == 1
    mu_d = as_tensor(demo_visitation, "demo_visitation", dtype=mdp.dtype, device=mdp.device)
    n_s, n_a = mdp.n_states, mdp.n_actions
    if mu_d.shape == (n_s, n_a):
        mu_d_int = mu_d.sum(1).view(1, n_s) if state_reward else mu_d.t().contiguous()
    elif mu_d.shape == (n_s,):
        if not state_reward:
            raise ShapeError("demo_visitation", "is per state but the reward is per state-action", "pass an (S, A) visitation")
        mu_d_int = mu_d.view(1, n_s)
    else:
        raise ShapeError("demo_visitation", f"has shape {tuple(mu_d.shape)}", f"pass ({n_s},) or ({n_s}, {n_a})")
    if not bool(torch.isfinite(mu_d).all()) or bool((mu_d < 0).any()):
        raise ValidationError("demo_visitation", "has negative, NaN or inf entries", "pass visitation counts")
    rho0 = _initial(mdp, demo_initial)
    values, policy, _, _ = _soft_vi(mdp, r, temp, causal=causal, workspace=workspace)
    visit = _occupancy_internal(
        mdp,
        policy,
        rho0,
        per_action=not state_reward,
        per_time=False,
        tol=_default_tol(mdp.dtype),
        max_iter=None,
        workspace=workspace,
    )  # (B, S) or (B, A, S)
    v0 = values[0] if mdp.horizon is not None else values  # (B, S)
    if state_reward:
        visit = visit.unsqueeze(1)
    value = ((r * mu_d_int).sum((1, 2)) - (v0 * rho0).sum(-1)) / temp
    grad = (mu_d_int - visit) / temp
    finite = mdp.horizon is not None

    def public(x: Tensor) -> Tensor:
        x = x[:, 0] if state_reward else x.transpose(1, 2)
        return x if batched else x[0]

    return MaxEntObjective(
        value=value if batched else value[0],
        gradient=public(grad),
        visitation=public(visit),
        policy=_public_sa(policy, batched, finite),
    )


def log_likelihood(mdp: TabularMDP, policy: Any, states: Any, actions: Any, times: Any = None) -> Tensor:
    """Sum of ``log pi_t(a | s)`` over demonstrated decisions.

    Args:
        mdp: the MDP.
        policy: ``(S, A)`` or, for a finite horizon, ``(H, S, A)``.
        states, actions: ``(N,)`` integer arrays, one entry per decision.
        times: ``(N,)`` time indices (required with a finite horizon).

    Returns:
        A scalar tensor; ``-inf`` if a demonstrated action has probability 0.

    Examples:
        >>> from rewardlab.mdp.worlds import chain
        >>> pi = torch.full((2, 2), 0.5, dtype=torch.float64)
        >>> log_likelihood(chain(2, discount=0.9), pi, [0, 1], [1, 0])
        tensor(-1.3863, dtype=torch.float64)
    """
    pi, batched = _policy(mdp, policy)
    if batched:
        raise ShapeError("policy", "has a batch axis", "score one policy at a time")
    s = as_tensor(states, "states", device=mdp.device).long()
    a = as_tensor(actions, "actions", device=mdp.device).long()
    if s.shape != a.shape or s.ndim != 1:
        raise ShapeError("actions", f"has shape {tuple(a.shape)} but states has {tuple(s.shape)}", "pass equal-length 1-D arrays")
    if mdp.horizon is not None:
        if times is None:
            raise ValidationError("times", "is None with a finite-horizon MDP", "pass the time index of each decision")
        t = as_tensor(times, "times", device=mdp.device).long()
        return torch.log(pi[t, 0, a, s]).sum()
    return torch.log(pi[0, a, s]).sum()
