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

from rewardlab.errors import ConvergenceError, ShapeError, ValidationError
from rewardlab.mdp.core import TabularMDP, as_tensor
from rewardlab.mdp.solvers import (
    SWEEPS_BEFORE_EXACT,
    Anderson,
    Workspace,
    as_policy,
    as_reward,
    check_temperature,
    default_tol,
    exact_solve_available,
    initial_distribution,
    occupancy_internal,
    public_state_action,
    push_forward,
    soft_value_iteration_internal,
    solve_policy_system,
    sweep_budget,
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
    temp = check_temperature(temperature)
    r, batched = as_reward(mdp, reward)
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
    rho0 = initial_distribution(mdp, demo_initial)
    values, policy, _, _ = soft_value_iteration_internal(mdp, r, temp, causal=causal, workspace=workspace)
    visit = occupancy_internal(
        mdp,
        policy,
        rho0,
        per_action=not state_reward,
        per_time=False,
        tol=default_tol(mdp.dtype),
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
        policy=public_state_action(policy, batched, finite),
    )


def log_likelihood(mdp: TabularMDP, policy: Any, states: Any, actions: Any, times: Any = None) -> Tensor:
    """Sum of ``log pi_t(a | s)`` over demonstrated decisions.

    Args:
        mdp: the MDP.
        policy: ``(S, A)`` or, for a finite horizon, ``(H, S, A)``.
        states: ``(N,)`` integer array of the decisions' states.
        actions: ``(N,)`` integer array of the actions taken in them.
        times: ``(N,)`` time indices (required with a finite horizon).

    Returns:
        A scalar tensor; ``-inf`` if a demonstrated action has probability 0.

    Examples:
        >>> from rewardlab.mdp.worlds import chain
        >>> pi = torch.full((2, 2), 0.5, dtype=torch.float64)
        >>> log_likelihood(chain(2, discount=0.9), pi, [0, 1], [1, 0])
        tensor(-1.3863, dtype=torch.float64)
    """
    pi, batched = as_policy(mdp, policy)
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


@dataclass(frozen=True)
class StationaryObjective:
    """Log-likelihood of demonstrated decisions under the stationary soft-optimal policy.

    Attributes:
        value: ``sum log pi(a | s)`` over the decisions, divided by ``n_trajectories``.
        gradient: ``(S,)`` or ``(S, A)``, same normalisation.
        policy: ``(S, A)`` stationary soft-optimal policy.
        values: ``(S,)`` soft values (pass back as ``init_values`` to warm-start the next call).
        occupancy: ``(S,)`` the signed occupancy ``d`` of the gradient (pass back as ``init_occupancy``).
    """

    value: Tensor
    gradient: Tensor
    policy: Tensor
    values: Tensor
    occupancy: Tensor


def stationary_objective(
    mdp: TabularMDP,
    reward: Any,
    states: Any,
    actions: Any,
    *,
    n_trajectories: int = 1,
    temperature: float = 1.0,
    causal: bool = True,
    init_values: Tensor | None = None,
    init_occupancy: Tensor | None = None,
    action_noise: float = 0.0,
    tol: float = 1e-10,
    max_iter: int = 100_000,
) -> StationaryObjective:
    """Exact log-likelihood and gradient of demonstrated decisions in a *discounted* MDP, under the
    stationary soft-optimal policy ``pi = exp((Q - V) / T)`` of ``reward``.

    Unlike :func:`maxent_objective` this needs no start states or full episodes: any set of decisions
    ``(s_i, a_i)`` (e.g. 8-step snippets from random starts, as in objectworld) is scored by
    ``L = sum_i log pi(a_i | s_i)``. With ``nu`` the decisions' state-action counts, ``nu_S`` their
    states and ``nu_P(s') = sum_i P(s' | s_i, a_i)`` their successors, differentiating the soft Bellman
    equation gives exactly

        ``dL / dr = ( nu - d ) / T``,   ``d = occupancy of pi from the signed start measure nu_S - gamma nu_P``

    (``d`` solves ``d = nu_S - gamma nu_P + gamma P_pi^T d``): one soft value iteration and one
    (signed) forward pass, as in MaxEnt IRL. Both iterations can be warm-started from the previous
    call, which makes a training loop cheap.

    Args:
        mdp: a discounted MDP (``horizon`` None).
        reward: ``(S,)`` or ``(S, A)``.
        states: ``(N,)`` the demonstrated decisions' states.
        actions: ``(N,)`` the actions demonstrated in them.
        n_trajectories: divide value and gradient by this (per-demonstration units).
        temperature: as in :func:`rewardlab.mdp.soft_value_iteration`.
        causal: as in :func:`rewardlab.mdp.soft_value_iteration`.
        init_values: a warm start ``(S,)`` of the soft values, from a previous call.
        init_occupancy: a warm start ``(S,)`` of the occupancy, from a previous call.
        action_noise: ``epsilon`` of a demonstrator who acts uniformly at random with that probability:
            each decision is scored by ``pi_D = (1 - epsilon) pi + epsilon / A``. The gradient stays exact:
            decision ``i`` enters ``nu`` and the start measure with weight
            ``(1 - epsilon) pi(a_i | s_i) / pi_D(a_i | s_i)``.
        tol: accuracy of the soft values (absolute) and of the occupancy (relative to the start measure).

    Examples:
        >>> from rewardlab.mdp.worlds import chain
        >>> obj = stationary_objective(chain(2, discount=0.5), torch.zeros(2), [0], [1])
        >>> round(float(obj.value), 4)  # log(1/2): both actions equally likely under a zero reward
        -0.6931
    """
    if mdp.horizon is not None:
        raise ValidationError("mdp.horizon", f"is {mdp.horizon}", "use maxent_objective for finite-horizon MDPs")
    temp = check_temperature(temperature)
    r, batched = as_reward(mdp, reward)
    if batched:
        raise ShapeError("reward", "has a batch axis", "score one reward at a time")
    s = as_tensor(states, "states", device=mdp.device).long()
    a = as_tensor(actions, "actions", device=mdp.device).long()
    if s.ndim != 1 or s.shape != a.shape or len(s) == 0:
        raise ShapeError("actions", f"has shape {tuple(a.shape)} but states has {tuple(s.shape)}", "pass equal-length non-empty 1-D arrays")
    n_s, n_a = mdp.n_states, mdp.n_actions
    init_v = None if init_values is None else init_values.reshape(1, n_s)
    values, policy, _, _ = soft_value_iteration_internal(
        mdp, r, temp, tol=tol, causal=causal, init_values=init_v, accelerate=True
    )  # (1, S), (1, A, S)
    if not 0.0 <= action_noise < 1.0:
        raise ValidationError("action_noise", f"is {action_noise}", "use a probability in [0, 1)")
    pi_at = policy[0, a, s]
    if action_noise > 0:
        pi_demo = (1 - action_noise) * pi_at + action_noise / n_a
        weights = (1 - action_noise) * pi_at / pi_demo
    else:
        pi_demo, weights = pi_at, torch.ones_like(pi_at)
    nu = torch.zeros(n_a, n_s, dtype=mdp.dtype, device=mdp.device)
    nu.index_put_((a, s), weights, accumulate=True)
    start = nu.sum(0, keepdim=True)  # nu_S (1, S)
    successors = push_forward(mdp, nu.unsqueeze(0), torch.empty(1, n_s, dtype=mdp.dtype, device=mdp.device))
    measure = start - mdp.discount * successors  # signed start measure (1, S)
    d = measure.clone() if init_occupancy is None else init_occupancy.reshape(1, n_s).clone()
    w = torch.empty(1, n_a, n_s, dtype=mdp.dtype, device=mdp.device)
    nxt = torch.empty(1, n_s, dtype=mdp.dtype, device=mdp.device)
    scale = float(measure.abs().sum()) + 1e-300
    anderson = Anderson()
    exact = exact_solve_available(mdp) and max_iter > SWEEPS_BEFORE_EXACT
    limit = sweep_budget(mdp, tol) if exact else max_iter
    for _ in range(limit):  # fixed point d = measure + gamma P_pi^T d (a linear contraction): Anderson ~ GMRES
        torch.mul(policy, d.unsqueeze(1), out=w)
        push_forward(mdp, w, nxt).mul_(mdp.discount).add_(measure)
        delta = float((nxt - d).abs().sum())
        if delta <= tol * scale:
            d = nxt
            break
        d = anderson.step(d, nxt)
    else:  # a discount near 1: one exact solve of (I - gamma P_pi^T) d = measure
        solved = solve_policy_system(mdp, policy, measure, transpose=True) if exact else None
        if solved is None:
            raise ConvergenceError(f"stationary_objective: the occupancy did not converge in {limit} sweeps; raise max_iter or tol")
        d = solved
    log_pi = torch.log(pi_demo)
    state_reward = r.shape[1] == 1
    visits = (policy[0] * d).sum(0) if state_reward else policy[0] * d  # (S,) or (A, S)
    empirical = nu.sum(0) if state_reward else nu
    grad = (empirical - visits) / (temp * n_trajectories)
    return StationaryObjective(
        value=log_pi.sum() / n_trajectories,
        gradient=grad if state_reward else grad.t(),
        policy=policy[0].t(),
        values=values[0],
        occupancy=d[0],
    )
