"""Adversarial imitation and IRL: GAIL (Ho & Ermon 2016) and AIRL (Fu, Luo, Levine 2018).

A discriminator ``D`` learns to tell the expert's transitions from the generator policy's; the policy
(Stable-Baselines3 PPO) is trained on a reward made of ``D``. With ``D = sigmoid(z)`` the probability that a
transition is the expert's and ``z = log D - log(1 - D)`` its logit, the discriminator minimises the logistic
loss (:func:`discriminator_loss`)

    ``L(D) = -E_expert[log D] - E_pi[log(1 - D)] = E_expert[softplus(-z)] + E_pi[softplus(z)]``.

* **GAIL**: ``z = D_theta(s, a)`` is a free net (a :class:`~rewardlab.rewards.NeuralReward` of one member).
  The policy's reward is ``-log(1 - D) = softplus(z)`` (``reward="positive"``, the paper's: its policy
  minimises the cost ``log D_pi`` with ``D_pi = 1 - D``; always positive, so it also rewards surviving) or
  the logit ``log D - log(1 - D) = z`` itself (``reward="logit"``, zero-centred). The returned reward model
  is that reward: a :class:`~rewardlab.rewards.SoftplusReward` or a :class:`~rewardlab.rewards.NeuralReward`.
  GAIL's reward is a classifier of what the current policy still does wrong; it is not meant to be reused.
* **AIRL**: the discriminator has the form ``D = exp(f) / (exp(f) + pi(a | s))`` (:func:`airl_logits`:
  ``z = f - log pi(a | s)``) with the shaped reward (:func:`shaped_reward`)

      ``f(s, a, s') = g(s[, a]) + gamma h(s') - h(s)``  (``h(s')`` dropped where the episode terminated),

  ``g`` the reward net (state-only by default, which Fu et al. need to disentangle the reward from the
  dynamics) and ``h`` a potential. The policy's reward is ``log D - log(1 - D) = f - log pi``, entropy-regularised
  RL on ``f``. The returned reward model is ``g`` (a :class:`~rewardlab.rewards.NeuralReward`), reusable
  in the env wrapper and ``train-policy``; ``info["potential"]`` holds ``h``. At the optimum, with a soft-optimal
  expert and deterministic dynamics, ``g`` is the true reward up to a constant and ``h`` the soft value.

**The loop** (:meth:`GAIL.fit`, :meth:`AIRL.fit`), one PPO rollout per round::

    1. rollouts   PPO collects n_steps x n_envs transitions on envs that return 0 rewards
                  (next observations and terminations recorded as they come)
    2. discriminator   `disc_updates` full-batch steps on the whole rollout against as many expert transitions
    3. relabel    the rollout's rewards from the updated discriminator, in one batched call; returns and
                  advantages recomputed (as rewardlab.rl.relabel does)
    4. policy     PPO's update on the relabelled rollout

Everything is batched on whole rollouts: one discriminator forward and backward per update and one reward
call per rollout, never one call per env step.

**Tabular AIRL** (:func:`tabular_airl`): on a :class:`~rewardlab.mdp.TabularMDP` the generator is exact
(soft value iteration on ``f``) and the expectations in ``L`` are sums over ``(s, a, s')`` weighted by the
expert's and the generator's exact occupancies, which makes AIRL's claim checkable: the learned ``g`` equals
the true reward up to potential shaping (:func:`rewardlab.eval.reward_distance` near 0).

References:
    Ho, Ermon, "Generative Adversarial Imitation Learning", NeurIPS 2016.
    Fu, Luo, Levine, "Learning Robust Rewards with Adversarial Inverse Reinforcement Learning", ICLR 2018.
    Finn, Christiano, Abbeel, Levine, "A Connection between Generative Adversarial Networks, Inverse
    Reinforcement Learning, and Energy-Based Models", 2016.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from rewardlab._optim import Adam
from rewardlab.data import TrajectoryDataset, validate_dataset
from rewardlab.errors import ConfigError, ShapeError, ValidationError
from rewardlab.learner import Callback, FitResult, History, ensure_finite, run_callback
from rewardlab.mdp import TabularMDP

__all__ = [
    "AIRL",
    "GAIL",
    "AIRLConfig",
    "GAILConfig",
    "Transitions",
    "airl_logits",
    "discriminator_loss",
    "expert_transitions",
    "gail_reward",
    "shaped_reward",
    "tabular_airl",
]


# ----------------------------------------------------------------------------- pure functions
def _weighted_mean(x: Tensor, weights: Tensor | None) -> Tensor:
    if weights is None:
        return x.mean()
    w = torch.as_tensor(weights, dtype=x.dtype, device=x.device)
    if w.shape != x.shape:
        raise ShapeError("weights", f"have shape {tuple(w.shape)}", f"pass one weight per logit: {tuple(x.shape)}")
    return (w * x).sum() / w.sum()


def discriminator_loss(
    logits_expert: Tensor, logits_policy: Tensor, *, weights_expert: Tensor | None = None, weights_policy: Tensor | None = None
) -> Tensor:
    """The discriminator's logistic loss, expert labelled 1 and policy 0:

    ``L = -E_expert[log D] - E_pi[log(1 - D)] = E_expert[softplus(-z)] + E_pi[softplus(z)]``, ``D = sigmoid(z)``,

    each expectation a (weighted) mean. GAIL's ``z`` is the discriminator's output; AIRL's is
    :func:`airl_logits`. Computed with softplus, so no ``log 0`` at ``|z|`` of 10^3.

    Reference: Ho & Ermon 2016, eq. (17) (with ``D`` the probability of the expert, not the policy).

    Args:
        logits_expert: ``(N,)`` logits ``z`` of expert transitions.
        logits_policy: ``(M,)`` logits of the policy's transitions.
        weights_expert: optional ``(N,)`` non-negative weights (e.g. exact occupancies); None: uniform.
        weights_policy: optional ``(M,)`` weights.

    Returns:
        ``()`` the loss (differentiable).

    Examples:
        >>> round(float(discriminator_loss(torch.zeros(3), torch.zeros(2))), 4)  # D = 1/2 everywhere: 2 log 2
        1.3863
        >>> z = torch.tensor([math.log(3.0)])  # D = 3/4 on both sides: -log(3/4) - log(1/4)
        >>> round(float(discriminator_loss(z, z)), 4), round(-math.log(0.75) - math.log(0.25), 4)
        (1.674, 1.674)
    """
    ze, zp = torch.as_tensor(logits_expert), torch.as_tensor(logits_policy)
    if ze.ndim != 1 or zp.ndim != 1 or not len(ze) or not len(zp):
        raise ShapeError("logits", f"have shapes {tuple(ze.shape)} and {tuple(zp.shape)}", "pass non-empty (N,) and (M,) logits")
    return _weighted_mean(nn.functional.softplus(-ze), weights_expert) + _weighted_mean(nn.functional.softplus(zp), weights_policy)


def airl_logits(f: Tensor, log_pi: Tensor) -> Tensor:
    """AIRL's discriminator ``D = exp(f) / (exp(f) + pi(a | s))`` as a logit: ``z = log D - log(1 - D) = f - log pi(a | s)``.

    Reference: Fu, Luo, Levine 2018, eq. (3) (after Finn et al. 2016).

    Args:
        f: ``(B,)`` shaped rewards ``f(s, a, s')`` (:func:`shaped_reward`).
        log_pi: ``(B,)`` the generator's ``log pi(a | s)``.

    Returns:
        ``(B,)`` logits; ``sigmoid`` of them is ``D``.

    Examples:
        >>> f, log_pi = torch.tensor([math.log(2.0)]), torch.tensor([math.log(0.5)])
        >>> torch.sigmoid(airl_logits(f, log_pi))  # 2 / (2 + 0.5)
        tensor([0.8000])
    """
    if f.shape != log_pi.shape:
        raise ShapeError("log_pi", f"has shape {tuple(log_pi.shape)}", f"pass one log-probability per f: {tuple(f.shape)}")
    return f - log_pi


def shaped_reward(g: Tensor, h: Tensor, h_next: Tensor, terminated: Tensor, gamma: float) -> Tensor:
    """AIRL's ``f(s, a, s') = g(s[, a]) + gamma (1 - terminated) h(s') - h(s)``: the reward plus a
    potential-based shaping term (Ng, Harada, Russell 1999), with no future potential after a terminal state.

    Reference: Fu, Luo, Levine 2018, eq. (4).

    Args:
        g: ``(B,)`` reward term ``g(s)`` or ``g(s, a)``.
        h: ``(B,)`` potentials ``h(s)``.
        h_next: ``(B,)`` potentials ``h(s')`` of the next states.
        terminated: ``(B,)`` bool or 0/1: the episode ended in a terminal state at ``s'`` (a time-limit
            truncation is not termination: ``h(s')`` stays).
        gamma: the discount.

    Examples:
        >>> shaped_reward(torch.tensor([1.0, 1.0]), torch.tensor([2.0, 2.0]), torch.tensor([4.0, 4.0]), torch.tensor([0, 1]), 0.5)
        tensor([ 1., -1.])
    """
    if not (g.shape == h.shape == h_next.shape == torch.as_tensor(terminated).shape):
        raise ShapeError("g", f"has shape {tuple(g.shape)}, h {tuple(h.shape)}, h_next {tuple(h_next.shape)}", "pass (B,) each")
    keep = 1.0 - torch.as_tensor(terminated, device=g.device).to(g.dtype)
    return g + gamma * keep * h_next - h


def gail_reward(logits: Tensor, form: Literal["positive", "logit"] = "positive") -> Tensor:
    """GAIL's reward from discriminator logits ``z = log D - log(1 - D)``: ``-log(1 - D) = softplus(z)``
    (``"positive"``, Ho & Ermon) or ``z`` (``"logit"``).

    Examples:
        >>> z = torch.tensor([0.0, math.log(3.0)])  # D = 1/2, 3/4
        >>> gail_reward(z), -torch.log(1 - torch.tensor([0.5, 0.75]))
        (tensor([0.6931, 1.3863]), tensor([0.6931, 1.3863]))
    """
    if form == "positive":
        return nn.functional.softplus(logits)
    if form == "logit":
        return logits
    raise ConfigError("reward", f"is {form!r}", "choose 'positive' (-log(1 - D)) or 'logit' (log D - log(1 - D))")


@dataclass(frozen=True)
class Transitions:
    """Flat transitions ``(s, a, s', terminated)`` of a set of trajectories.

    Attributes:
        obs: ``(N, *obs_shape)`` float32.
        acts: ``(N,)`` int64 (Discrete) or ``(N, act_dim)`` float32 (Box, clipped to the bounds).
        next_obs: ``(N, *obs_shape)``.
        terminated: ``(N,)`` bool: ``next_obs`` is terminal.
    """

    obs: np.ndarray
    acts: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray

    def __len__(self) -> int:
        return len(self.obs)


def _as_actions(acts: np.ndarray, action_space: Any) -> np.ndarray:
    from gymnasium import spaces

    if isinstance(action_space, spaces.Discrete):
        return np.asarray(acts).reshape(-1).astype(np.int64) - int(action_space.start)
    if isinstance(action_space, spaces.Box):
        a = np.asarray(acts, dtype=np.float32).reshape(len(acts), -1)
        return np.clip(a, action_space.low.reshape(1, -1), action_space.high.reshape(1, -1))
    raise ConfigError("env", f"has a {type(action_space).__name__} action space", "use an env with Box or Discrete actions")


def expert_transitions(demos: TrajectoryDataset, action_space: Any) -> Transitions:
    """The demonstrations as flat transitions: ``obs[t]``, ``acts[t]``, ``obs[t + 1]``, and ``terminated`` at a
    trajectory's last step when it ended in a terminal state (:attr:`rewardlab.data.Trajectory.terminal`).

    Examples:
        >>> import gymnasium as gym
        >>> from rewardlab.data import Trajectory
        >>> tr = Trajectory(np.zeros((3, 2)), np.array([0, 1]), terminal=True)
        >>> t = expert_transitions(TrajectoryDataset([tr]), gym.spaces.Discrete(2))
        >>> t.acts.tolist(), t.terminated.tolist()
        ([0, 1], [False, True])
    """
    items = [tr for tr in demos if len(tr)]
    if not items:
        raise ValidationError("data", "holds no transitions", "pass demonstrations with at least one action")
    obs = np.concatenate([np.asarray(tr.obs[:-1], dtype=np.float32) for tr in items])
    nxt = np.concatenate([np.asarray(tr.obs[1:], dtype=np.float32) for tr in items])
    acts = _as_actions(np.concatenate([np.asarray(tr.acts) for tr in items]), action_space)
    term = np.concatenate([np.arange(len(tr)) == len(tr) - 1 if tr.terminal else np.zeros(len(tr), bool) for tr in items])
    return Transitions(obs, acts, nxt, term)


# ----------------------------------------------------------------------------- tabular AIRL (exact generator)
def tabular_airl(
    mdp: TabularMDP,
    expert_occupancy: Any,
    *,
    state_only: bool = True,
    iterations: int = 100,
    disc_updates: int = 100,
    lr: float = 0.05,
    generator_step: float = 0.1,
    callback: Callback | None = None,
) -> tuple[Tensor, Tensor, History]:
    """AIRL on a discounted tabular world with an exact generator and exact expectations.

    Each iteration: the generator is the soft-optimal policy (temperature 1, the maximum-entropy
    policy of AIRL's analysis; soft value iteration) for a running average ``g_bar <- (1 - beta) g_bar + beta g``
    of the reward term (the shaping term does not change a soft-optimal policy); then ``disc_updates`` Adam
    steps on the tables ``g`` and ``h``
    minimise :func:`discriminator_loss` with :func:`airl_logits` over every ``(s, a, s')``, weighted by
    ``d_E(s, a) p(s' | s, a)`` on the expert side and ``d_pi(s, a) p(s' | s, a)`` on the generator's
    (each occupancy normalised to sum 1). Terminal states take no ``h(s')``.

    The averaging is what makes the exact game converge: a generator that best-responds to the latest
    ``g`` (``beta = 1``) cycles on some worlds (the discriminator's loss stays near 1.1 instead of reaching
    ``2 log 2``; on a 12-state random world the reward distance stays at 0.5), as GAN dynamics do. PPO's
    small policy steps play the same role on Gymnasium.

    Args:
        mdp: a discounted MDP (``horizon`` None).
        expert_occupancy: ``(S, A)`` the expert's (discounted) state-action occupancy, or any non-negative
            multiple of it (empirical visitation counts of demonstrations).
        state_only: ``g(s)`` ``(S,)`` if True, else ``g(s, a)`` ``(S, A)``.
        iterations: generator solves.
        disc_updates: discriminator steps per solve.
        lr: Adam step size of ``g`` and ``h``.
        generator_step: ``beta`` in ``(0, 1]``, the weight of the latest ``g`` in the generator's reward.
        callback: ``callback(iteration, metrics) -> stop?``.

    Returns:
        ``(g, h, history)``: ``g`` ``(S,)`` or ``(S, A)``, ``h`` ``(S,)``, and per iteration the ``loss``.

    Examples:
        >>> from rewardlab.mdp import soft_value_iteration, state_action_occupancy
        >>> from rewardlab.mdp.worlds import random_mdp
        >>> from rewardlab.eval import reward_distance
        >>> w = random_mdp(6, 2, 1, seed=0, discount=0.9)  # deterministic moves
        >>> expert = state_action_occupancy(w.mdp, soft_value_iteration(w.mdp, w.reward).policy)
        >>> g, h, _ = tabular_airl(w.mdp, expert)
        >>> reward_distance(w.mdp, g, w.reward) < 0.01
        True
    """
    from rewardlab.mdp import soft_value_iteration, state_action_occupancy

    if mdp.horizon is not None:
        raise ConfigError("mdp", f"has a finite horizon {mdp.horizon}", "use a discounted MDP (horizon None)")
    n_s, n_a = mdp.n_states, mdp.n_actions
    d_e = torch.as_tensor(expert_occupancy, dtype=mdp.dtype, device=mdp.device)
    if d_e.shape != (n_s, n_a):
        raise ShapeError("expert_occupancy", f"has shape {tuple(d_e.shape)}", f"pass ({n_s}, {n_a})")
    if not bool(torch.isfinite(d_e).all()) or bool((d_e < 0).any()) or float(d_e.sum()) <= 0:
        raise ValidationError("expert_occupancy", "is not a non-negative finite measure", "pass occupancies or visitation counts")
    for name, value in (("iterations", iterations), ("disc_updates", disc_updates)):
        if value < 1:
            raise ConfigError(name, f"is {value}", "use at least 1")
    if not 0 < lr < math.inf:
        raise ConfigError("lr", f"is {lr}", "use a positive finite step size")
    if not 0 < generator_step <= 1:
        raise ConfigError("generator_step", f"is {generator_step}", "use a weight in (0, 1]")
    d_e = d_e / d_e.sum()
    succ, prob = mdp.successors, mdp.probabilities  # (S, A, K)
    keep = (~mdp.terminal_mask())[:, None, None].to(mdp.dtype).expand_as(prob)  # no h(s') after a terminal state
    gamma = mdp.discount
    g = torch.zeros((n_s,) if state_only else (n_s, n_a), dtype=mdp.dtype, device=mdp.device, requires_grad=True)
    h = torch.zeros(n_s, dtype=mdp.dtype, device=mdp.device, requires_grad=True)
    opt = Adam([g, h], lr=lr)
    history = History()

    def f_table(g: Tensor, h: Tensor) -> Tensor:  # (S, A, K): f(s, a, s'_k)
        g_sa = g[:, None].expand(n_s, n_a) if state_only else g
        return g_sa[:, :, None] + gamma * keep * h[succ] - h[:, None, None]

    g_avg = g.detach().clone()

    for it in range(iterations):
        # -- generator: soft-optimal for the expected shaped reward
        with torch.no_grad():
            g_avg = (1 - generator_step) * g_avg + generator_step * g.detach()
            r_sa = g_avg[:, None].expand(n_s, n_a) if state_only else g_avg
        policy = soft_value_iteration(mdp, r_sa).policy
        d_pi = state_action_occupancy(mdp, policy)
        d_pi = d_pi / d_pi.sum()
        log_pi = torch.log(policy.clamp_min(1e-300))[:, :, None].expand_as(prob)
        w_e, w_p = (d_e[:, :, None] * prob).reshape(-1), (d_pi[:, :, None] * prob).reshape(-1)
        # -- discriminator: exact expectations over (s, a, s')
        for _ in range(disc_updates):
            z = airl_logits(f_table(g, h), log_pi).reshape(-1)
            loss = discriminator_loss(z, z, weights_expert=w_e, weights_policy=w_p)
            opt.zero_grad()
            loss.backward()
            opt.step()
        ensure_finite(float(loss.detach()), "tabular AIRL loss", step=it, fix=f"lower lr (now {lr:g})")
        history.log(it, loss=float(loss.detach()))
        if run_callback(callback, it, {"loss": float(loss.detach())}):
            break
    return g.detach(), h.detach(), history
