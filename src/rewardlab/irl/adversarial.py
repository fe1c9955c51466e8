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
  Against the current rollout alone, ``g`` is best mid-fit and then drifts: once the generator stays where the
  expert goes, the discriminator sees no other state (on Pendulum-v1 the Spearman correlation of ``g`` with the
  true reward over a grid of slow states rose to 0.97-0.99 by rounds 6-11 of 25 and fell to 0.18-0.81 by the
  last). AIRL therefore also replays a uniform sample of all past rollouts to the discriminator (``disc_replay``),
  so that ``g`` keeps ranking the states of the generator's earlier, worse policies below the expert's.

**The loop** (:meth:`GAIL.fit`, :meth:`AIRL.fit`), one PPO rollout per round::

    1. rollouts   PPO collects n_steps x n_envs transitions (next observations, terminations and the
                  env's rewards recorded as they come, no env wrapper)
    2. discriminator   `disc_updates` full-batch steps on the whole rollout against as many expert transitions
    3. relabel    the rollout's rewards from the updated discriminator, in one batched call, scaled by
                  their running std (normalize_reward), swapped for the env's in the buffer; returns and
                  advantages recomputed (as rewardlab.rl.relabel does)
    4. policy     PPO's update on the relabelled rollout

**Resume**: with a :class:`~rewardlab.checkpoint.Checkpoint`, the state after each due round is saved (the generator's
weights and optimiser, the discriminator's nets and Adam moments, the reward normaliser, the random states and the
rounds' metrics); a resumed fit continues the same round schedule from the latest, with fresh env episodes, so its
numbers differ from an uninterrupted fit's (as RLHF's do).

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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from rewardlab._optim import Adam
from rewardlab.checkpoint import Checkpoint, rng_state, set_rng_state, set_torch_rng_state, torch_rng_state
from rewardlab.data import TrajectoryDataset, validate_dataset
from rewardlab.errors import ConfigError, ShapeError, ValidationError
from rewardlab.learner import Callback, FitResult, History, ensure_finite, run_callback
from rewardlab.mdp import TabularMDP

__all__ = [
    "AIRL",
    "DISC_PRESETS",
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

    Recovery needs deterministic dynamics, as Fu et al.'s theorem does: with stochastic transitions the
    discriminator cannot make ``f(s, a, s') = log pi_E(a | s)`` for every successor ``s'``, the loss stays above
    ``2 log 2`` and ``g`` is off (reward distance 0.33 on a 12-state random world with two successors per move).

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
            torch.autograd.backward(loss)
            opt.step()
        ensure_finite(float(loss.detach()), "tabular AIRL loss", step=it, fix=f"lower lr (now {lr:g})")
        history.log(it, loss=float(loss.detach()))
        if run_callback(callback, it, {"loss": float(loss.detach())}):
            break
    return g.detach(), h.detach(), history


# ----------------------------------------------------------------------------- Gymnasium learners
@dataclass(frozen=True)
class GAILConfig:
    """Hyperparameters of :class:`GAIL`.

    Attributes:
        steps: generator env steps (PPO), rounded up to whole rollouts.
        reward: the policy's reward and the returned model: ``"positive"``, ``-log(1 - D) = softplus(z)``
            (Ho & Ermon; a :class:`~rewardlab.rewards.SoftplusReward`), or ``"logit"``, ``log D - log(1 - D) = z``
            (a :class:`~rewardlab.rewards.NeuralReward`).
        state_only: the discriminator sees observations only, ``D(s)``, not ``D(s, a)``.
        hidden: hidden widths of the discriminator.
        activation: of the discriminator (``"relu"``, ``"tanh"``, ``"leaky_relu"``).
        disc_lr: Adam step size of the discriminator; None: the learner's :data:`DISC_PRESETS` entry for the env,
            else 3e-4.
        disc_updates: full-batch discriminator steps per rollout (the whole rollout against as many
            expert transitions, drawn with replacement); None: the learner's preset for the env, else 4.
        disc_replay: the size of a replay of past rollouts' transitions, a uniform sample of all of them so far
            (reservoir sampling, :class:`_Reservoir`). Each round the discriminator's negatives are a random half of
            the rollout and as many transitions drawn from the replay (AIRL: scored with the current policy's
            ``log pi``), as many as without a replay, so it tells the expert from a mixture of the current policy
            and all the generator's policies so far; the generator's reward is the whole rollout's. 0: the rollout
            only (Ho & Ermon's, Fu et al.'s). None: the learner's preset (AIRL 100,000, GAIL 0). Kept in
            checkpoints.
        normalize_obs: standardise the discriminator's observations by the demonstrations' mean and standard
            deviation (as imitation's ``RunningNorm`` input layer does, but fixed); folded into the first layer of
            the returned nets at the end, so the reward model takes raw observations. None: the learner's preset
            for the env, else True.
        normalize_reward: divide the policy's rewards by their running standard deviation (Chan's update
            over whole rollouts; no mean is subtracted, so a positive reward keeps paying for survival).
        hyperparams: PPO's settings over :data:`rewardlab.rl.sb3.PRESETS` (``n_envs`` and SB3's
            constructor arguments).
        eval_episodes: episodes of the final evaluation on the true reward.
        eval_seed: evaluation episode ``e`` resets with seed ``eval_seed + e``.
        device: torch device of the policy and the discriminator.
    """

    steps: int = 100_000
    reward: Literal["positive", "logit"] = "positive"
    state_only: bool = False
    hidden: tuple[int, ...] = (64, 64)
    activation: Literal["relu", "tanh", "leaky_relu"] = "relu"
    disc_lr: float | None = None
    disc_updates: int | None = None
    disc_replay: int | None = None
    normalize_reward: bool = False
    normalize_obs: bool | None = None
    hyperparams: dict[str, Any] = field(default_factory=dict)
    eval_episodes: int = 5
    eval_seed: int = 1_000_000
    device: str = "cpu"

    def __post_init__(self) -> None:
        _check_common(self)
        if self.reward not in ("positive", "logit"):
            raise ConfigError("reward", f"is {self.reward!r}", "choose 'positive' (-log(1 - D)) or 'logit' (log D - log(1 - D))")


@dataclass(frozen=True)
class AIRLConfig:
    """Hyperparameters of :class:`AIRL`.

    The other attributes (``steps``, ``hidden``, ``activation``, ``disc_lr``, ``disc_updates``, ``disc_replay``,
    ``normalize_obs``, ``normalize_reward``, ``hyperparams``, ``eval_episodes``, ``eval_seed``, ``device``) are as
    in :class:`GAILConfig`, ``hidden`` and ``activation`` for both ``g`` and ``h``.

    Attributes:
        state_only: ``g(s)`` (Fu et al.'s disentangled reward, default) or ``g(s, a)``.
        discount: ``gamma`` of the shaping term; None: PPO's ``gamma``.
    """

    steps: int = 100_000
    state_only: bool = True
    discount: float | None = None
    hidden: tuple[int, ...] = (64, 64)
    activation: Literal["relu", "tanh", "leaky_relu"] = "relu"
    disc_lr: float | None = None
    disc_updates: int | None = None
    disc_replay: int | None = None
    normalize_reward: bool = False
    normalize_obs: bool | None = None
    hyperparams: dict[str, Any] = field(default_factory=dict)
    eval_episodes: int = 5
    eval_seed: int = 1_000_000
    device: str = "cpu"

    def __post_init__(self) -> None:
        _check_common(self)
        if self.discount is not None and not 0 <= self.discount <= 1:
            raise ConfigError("discount", f"is {self.discount}", "use a discount in [0, 1], or None for PPO's gamma")


#: Discriminator settings measured per learner and env (PPO's preset; benchmarks/adversarial_sweep.py); others get
#: ``disc_lr=3e-4, disc_updates=4, normalize_obs=True``. On CartPole-v1 GAIL needs a stronger discriminator than the
#: defaults (8 steps per round: normalised 0.99 / 0.97 on seeds 0-4 / 5-9 at 30,720 steps, against 0.83 / 0.83 with
#: 4), while AIRL is much worse with it (0.51 on seeds 0-4 with 8 steps, 0.94 with 4). On Pendulum-v1 AIRL's
#: discriminator must first absorb ``-log pi`` of a Gaussian policy: with the defaults it stayed at chance and the
#: policy no better than random; with 16 steps of 1e-3 it reached the expert, and on raw observations (no
#: standardisation by the demonstrations) AIRL reached 0.99 / 1.00 on seeds 0 / 1 against 0.84 / 0.82, while GAIL
#: fell to 0.80 / 0.94 from 0.94 / 0.94.
DISC_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "gail": {"CartPole-v1": {"disc_updates": 8}, "Pendulum-v1": {"disc_lr": 1e-3, "disc_updates": 16}},
    "airl": {"Pendulum-v1": {"disc_lr": 1e-3, "disc_updates": 16, "normalize_obs": False}},
}
#: Each learner's settings on envs without a preset. AIRL replays a uniform sample of its past rollouts to the
#: discriminator (``disc_replay``; module docstring): on Pendulum-v1 a fresh PPO on its ``g`` reached 1.01 normalised
#: on each of seeds 0-4 with it, against 0.23, 0.79, 0.22, 0.39, 1.01 without (benchmarks/RESULTS.md).
_DISC_DEFAULTS: dict[str, dict[str, Any]] = {
    "gail": {"disc_lr": 3e-4, "disc_updates": 4, "normalize_obs": True, "disc_replay": 0},
    "airl": {"disc_lr": 3e-4, "disc_updates": 4, "normalize_obs": True, "disc_replay": 100_000},
}


def _disc_settings(kind: str, cfg: Any, env: Any) -> dict[str, Any]:
    """``disc_lr``, ``disc_updates``, ``normalize_obs`` and ``disc_replay``: the config's, else the learner's
    :data:`DISC_PRESETS` entry for the env, else the learner's defaults.

    Examples:
        >>> _disc_settings("gail", GAILConfig(), "CartPole-v1")
        {'disc_lr': 0.0003, 'disc_updates': 8, 'normalize_obs': True, 'disc_replay': 0}
        >>> _disc_settings("airl", AIRLConfig(disc_lr=1e-4), "Pendulum-v1")
        {'disc_lr': 0.0001, 'disc_updates': 16, 'normalize_obs': False, 'disc_replay': 100000}
    """
    preset = {**_DISC_DEFAULTS[kind], **(DISC_PRESETS[kind].get(env, {}) if isinstance(env, str) else {})}
    return {name: preset[name] if getattr(cfg, name) is None else getattr(cfg, name) for name in preset}


def _check_common(cfg: Any) -> None:
    for name in ("steps", "eval_episodes"):
        if getattr(cfg, name) < 1:
            raise ConfigError(name, f"is {getattr(cfg, name)}", "use at least 1")
    if cfg.disc_replay is not None and cfg.disc_replay < 0:
        raise ConfigError("disc_replay", f"is {cfg.disc_replay}", "use 0 (no replay), a replay size, or None for the preset")
    if cfg.disc_updates is not None and cfg.disc_updates < 1:
        raise ConfigError("disc_updates", f"is {cfg.disc_updates}", "use at least 1 (or None for the env's preset)")
    if cfg.disc_lr is not None and not 0 < cfg.disc_lr < math.inf:
        raise ConfigError("disc_lr", f"is {cfg.disc_lr}", "use a positive finite step size")
    if cfg.activation not in ("relu", "tanh", "leaky_relu"):
        raise ConfigError("activation", f"is {cfg.activation!r}", "choose 'relu', 'tanh' or 'leaky_relu'")
    if any(int(w) < 1 for w in cfg.hidden):
        raise ConfigError("hidden", f"is {cfg.hidden}", "use positive widths")


def _net_spec(observation_space: Any, action_space: Any, hidden: tuple[int, ...], activation: str, with_action: bool) -> Any:
    from gymnasium import spaces

    from rewardlab.rewards import RewardNetSpec

    if not isinstance(observation_space, spaces.Box) or len(observation_space.shape or ()) != 1:
        raise ConfigError("env", f"has observations {observation_space}", "use an env with vector (Box) observations")
    act_dim, discrete = 0, False
    if with_action:
        if isinstance(action_space, spaces.Discrete):
            act_dim, discrete = int(action_space.n), True
        elif isinstance(action_space, spaces.Box):
            act_dim = int(np.prod(action_space.shape))
        else:
            raise ConfigError("env", f"has a {type(action_space).__name__} action space", "use an env with Box or Discrete actions")
    return RewardNetSpec(tuple(observation_space.shape), "mlp", tuple(hidden), act_dim, discrete, activation)  # type: ignore[arg-type]


class _Recorder:
    """What PPO's rollout buffer does not keep: each step's next observation (the terminal one where an
    episode ended), whether the episode terminated there (a time-limit truncation does not count), and the
    env's own reward (which the buffer holds until the relabelling takes it out again)."""

    def __init__(self) -> None:
        self.next_obs: list[np.ndarray] = []
        self.terminated: list[np.ndarray] = []
        self.env_rewards: list[np.ndarray] = []

    def step(self, new_obs: np.ndarray, rewards: np.ndarray, dones: np.ndarray, infos: list[dict[str, Any]]) -> None:
        self.env_rewards.append(np.array(rewards, dtype=np.float64, copy=True))  # before SB3 adds its time-limit bootstrap
        nxt = np.array(new_obs, dtype=np.float32, copy=True)
        term = np.zeros(len(dones), dtype=bool)
        for i in np.flatnonzero(dones):
            nxt[i] = infos[i]["terminal_observation"]
            term[i] = not infos[i].get("TimeLimit.truncated", False)
        self.next_obs.append(nxt)
        self.terminated.append(term)

    def take(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(n_steps, n_envs, *obs_shape)`` next observations, ``(n_steps, n_envs)`` terminations and env
        rewards; resets."""
        out = np.stack(self.next_obs), np.stack(self.terminated), np.stack(self.env_rewards)
        self.next_obs, self.terminated, self.env_rewards = [], [], []
        return out


#: ``(obs, acts, next_obs, terminated, log_pi or None)`` of a batch of transitions
_Batch = tuple[Tensor, Tensor, Tensor, Tensor, "Tensor | None"]


class _Adversary:
    """The discriminator of one learner: its nets, optimiser, logits and the generator's reward.

    GAIL: ``z = D(s[, a])``. AIRL: ``z = f(s, a, s') - log pi(a | s)`` with ``f = g + gamma h(s') - h(s)``.
    """

    def __init__(
        self, kind: str, cfg: Any, spaces_: tuple[Any, Any], gamma: float, seed: int, device: str, disc: tuple[float, int]
    ) -> None:
        from rewardlab.rewards import NeuralReward, RewardNet, SoftplusReward

        self.kind, self.cfg, self.gamma = kind, cfg, gamma
        obs_space, act_space = spaces_
        uses_action = not cfg.state_only
        spec = _net_spec(obs_space, act_space, cfg.hidden, cfg.activation, uses_action)
        cls = SoftplusReward if kind == "gail" and cfg.reward == "positive" else NeuralReward
        self.model = cls(spec, members=1, seed=seed).to(device)  # GAIL: D's logit; AIRL: g
        params = list(self.model.parameters())
        self.potential: RewardNet | None = None
        if kind == "airl":
            torch.manual_seed(seed + 1)
            self.potential = RewardNet(_net_spec(obs_space, act_space, cfg.hidden, cfg.activation, False)).to(device)
            params += list(self.potential.parameters())
        self.disc_lr, self.disc_updates = disc
        self.optimizer = Adam(params, lr=self.disc_lr)
        self.uses_action, self.device = uses_action, device
        self.mean: Tensor | None = None
        self.std: Tensor | None = None

    def standardise_by(self, obs: np.ndarray) -> None:
        """Standardise observations by the mean and std of ``obs`` ``(N, D)`` (a constant dimension is only centred)."""
        x = torch.as_tensor(obs, dtype=torch.float64)
        std = x.std(0) if len(x) > 1 else torch.ones(x.shape[1], dtype=torch.float64)
        self.mean = x.mean(0).float().to(self.device)
        self.std = torch.where(std > 1e-6, std, torch.ones_like(std)).float().to(self.device)

    def _inputs(self, obs: Tensor) -> Tensor:
        return obs if self.mean is None or self.std is None else (obs - self.mean) / self.std

    def fold(self) -> None:
        """Fold the standardisation into the first linear layer of each net: ``W (o - m) / s + b = (W / s) o +
        (b - W m / s)``, so that the nets take raw observations; then drop it."""
        if self.mean is None or self.std is None:
            return
        nets = [self.model.member(0)] + ([self.potential] if self.potential is not None else [])
        d = len(self.mean)
        with torch.no_grad():
            for net in nets:
                first = net.head[0] if isinstance(net.head, nn.Sequential) else net.head
                assert isinstance(first, nn.Linear)
                w = first.weight[:, :d].clone()
                if first.bias is not None:
                    first.bias.sub_(w @ (self.mean / self.std))
                first.weight[:, :d] = w / self.std
        self.mean = self.std = None

    def state(self) -> dict[str, Any]:
        """The nets' and the optimiser's state, for a checkpoint (plain tensors and numbers)."""
        out: dict[str, Any] = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}
        if self.potential is not None:
            out["potential"] = self.potential.state_dict()
        return out

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state`'s content (the standardisation is recomputed from the demonstrations, not saved)."""
        self.model.load_state_dict(state["model"])
        if self.potential is not None:
            self.potential.load_state_dict(state["potential"])
        self.optimizer.load_state_dict(state["optimizer"])

    def _tensor(self, x: np.ndarray) -> Tensor:
        return torch.as_tensor(x, device=self.device)

    def logits(self, obs: Tensor, acts: Tensor, next_obs: Tensor, terminated: Tensor, log_pi: Tensor | None) -> Tensor:
        """``(B,)`` logits ``z = log D - log(1 - D)``."""
        net = self.model.member(0)
        x, x_next = self._inputs(obs), self._inputs(next_obs)
        out: Tensor = net(x, acts if self.uses_action else None)
        if self.potential is None:
            return out
        assert log_pi is not None
        h, h_next = self.potential(torch.cat([x, x_next])).chunk(2)
        return airl_logits(shaped_reward(out, h, h_next, terminated, self.gamma), log_pi)

    def update(self, expert: _Batch, policy: _Batch) -> dict[str, float]:
        """``disc_updates`` full-batch steps of :func:`discriminator_loss`; the last step's loss and accuracies."""
        for _ in range(self.disc_updates):
            z_e, z_p = self.logits(*expert), self.logits(*policy)
            loss = discriminator_loss(z_e, z_p)
            self.optimizer.zero_grad()
            torch.autograd.backward(loss)
            self.optimizer.step()
        ensure_finite(loss, f"{self.kind.upper()} discriminator loss", step="a rollout", fix=f"lower disc_lr (now {self.disc_lr:g})")
        return {
            "disc_loss": float(loss.detach()),
            "disc_expert_accuracy": float((z_e.detach() > 0).float().mean()),
            "disc_policy_accuracy": float((z_p.detach() < 0).float().mean()),
        }

    @torch.no_grad()
    def reward(self, policy: _Batch) -> Tensor:
        """``(B,)`` the generator's reward: GAIL's :func:`gail_reward`; AIRL's ``log D - log(1 - D) = f - log pi``."""
        z = self.logits(*policy)
        return gail_reward(z, self.cfg.reward) if self.kind == "gail" else z


class _Reservoir:
    """A uniform sample of at most ``capacity`` of all the transitions added so far (reservoir sampling, Vitter's
    algorithm R: the ``t``-th transition replaces a random slot with probability ``capacity / t``), as columns of
    tensors ``(obs, acts, next_obs, terminated)``."""

    def __init__(self, capacity: int) -> None:
        self.capacity, self.seen = capacity, 0
        self.columns: list[Tensor] = []

    def __len__(self) -> int:
        return min(self.seen, self.capacity)

    def add(self, batch: tuple[Tensor, ...], gen: np.random.Generator) -> None:
        n = len(batch[0])
        if not self.columns:
            self.columns = [torch.empty((self.capacity, *x.shape[1:]), dtype=x.dtype, device=x.device) for x in batch]
        t = self.seen + np.arange(n)  # each transition's 0-based index in the stream
        slot = np.where(t < self.capacity, t, gen.integers(0, t + 1))
        keep = slot < self.capacity
        # a slot drawn twice in one batch keeps the later transition, as adding them one at a time would
        rows = np.flatnonzero(keep)
        _, last = np.unique(slot[rows][::-1], return_index=True)
        rows = rows[::-1][last]
        src, dst = torch.as_tensor(rows, device=batch[0].device), torch.as_tensor(slot[rows], device=batch[0].device)
        for col, x in zip(self.columns, batch, strict=True):
            col[dst] = x[src]
        self.seen += n

    def sample(self, n: int, gen: np.random.Generator) -> list[Tensor]:
        """``n`` transitions drawn with replacement."""
        idx = torch.as_tensor(gen.integers(len(self), size=n), device=self.columns[0].device)
        return [col[idx] for col in self.columns]

    def state(self) -> dict[str, Any]:
        return {"seen": self.seen, "columns": [col[: len(self)].cpu() for col in self.columns]}

    def load_state(self, state: dict[str, Any], device: str) -> None:
        self.seen = int(state["seen"])
        saved = [torch.as_tensor(x, device=device) for x in state["columns"]]
        self.columns = [torch.empty((self.capacity, *x.shape[1:]), dtype=x.dtype, device=device) for x in saved]
        for col, x in zip(self.columns, saved, strict=True):
            col[: len(x)] = x


def _rollout_batch(model: Any, next_obs: np.ndarray, terminated: np.ndarray, device: str, *, log_pi: bool) -> _Batch:
    """The rollout in PPO's buffer (before its update) as one flat step-major batch ``(obs, acts, next_obs,
    terminated, log_pi or None)`` of ``n_steps x n_envs`` transitions; ``acts`` clipped to a Box's bounds,
    ``log_pi`` the rollout policy's log-probabilities of the actions it sampled."""
    buffer = model.rollout_buffer
    n = buffer.rewards.size

    def tensor(x: np.ndarray) -> Tensor:
        return torch.as_tensor(x, device=device)

    obs = tensor(buffer.observations.reshape(n, -1)).float()
    acts = tensor(_as_actions(buffer.actions.reshape(n, -1), model.action_space))
    lp = tensor(buffer.log_probs.reshape(n)).float() if log_pi else None
    return (obs, acts, tensor(next_obs.reshape(n, -1)).float(), tensor(terminated.reshape(n)), lp)


#: ``rewards_of(model, rollout) -> (n_steps * n_envs,)``: learns from a finished rollout (a :data:`_Batch`, step-major)
#: and returns its new rewards
RewardsOf = Any


def _relabel_callback(
    recorder: _Recorder, rewards_of: RewardsOf, device: str, out: dict[str, float], normalizer: Any, *, log_pi: bool
) -> Any:
    """The SB3 callback of one round: record next observations at each step; at the rollout's end, hand the
    rollout to ``rewards_of`` (which updates the learner's reward and returns the rollout's new rewards), swap
    those for the env's in the buffer and recompute returns and advantages."""
    from stable_baselines3.common.callbacks import BaseCallback

    class Round(BaseCallback):
        def _on_step(self) -> bool:
            recorder.step(self.locals["new_obs"], self.locals["rewards"], self.locals["dones"], self.locals["infos"])
            return True

        def _on_rollout_end(self) -> None:
            model: Any = self.model
            buffer = model.rollout_buffer
            n_steps, n_envs = buffer.rewards.shape
            next_obs, terminated, env_rewards = recorder.take()
            rollout = _rollout_batch(model, next_obs, terminated, device, log_pi=log_pi)
            r = rewards_of(model, rollout).cpu().numpy().reshape(n_steps, n_envs).astype(np.float64)
            out["policy_reward"] = float(r.mean())
            if normalizer is not None:  # divide by the running std of the rewards (no shift: a positive reward stays positive)
                normalizer.update(r)
                r = r / math.sqrt(normalizer.var + 1e-8)
            # the buffer holds the env's reward (plus SB3's gamma V(s_T) where a time limit cut an episode): swap in ours
            buffer.rewards += (r - env_rewards).astype(buffer.rewards.dtype)
            buffer.compute_returns_and_advantage(last_values=self.locals["values"], dones=self.locals["dones"])

    return Round()


def _round_callback(
    adversary: _Adversary,
    expert: Transitions,
    recorder: _Recorder,
    gen: np.random.Generator,
    out: dict[str, float],
    normalizer: Any,
    replay: _Reservoir | None,
) -> Any:
    """The SB3 callback of one adversarial round: at the rollout's end, update the discriminator (against the
    rollout, or half of it and as many transitions from ``replay``, which then takes the rollout in), then relabel
    the rollout's rewards (:func:`_relabel_callback`)."""
    from gymnasium import spaces

    def log_pi(model: Any, obs: Tensor, acts: Tensor) -> Tensor | None:
        """AIRL: ``(B,)`` the current policy's ``log pi(a | s)``; GAIL: None."""
        if adversary.kind != "airl":
            return None
        with torch.no_grad():
            a = acts.long() if isinstance(model.action_space, spaces.Discrete) else acts
            _, lp, _ = model.policy.evaluate_actions(obs, a)
        log_probs: Tensor = lp.float().reshape(len(obs))
        return log_probs

    def rewards_of(model: Any, policy: _Batch) -> Tensor:
        tensor = adversary._tensor
        # -- 2. discriminator: the rollout (with a replay: a random half of it and as many replayed past
        #       transitions) against as many expert transitions
        negatives, n = policy, len(policy[0])
        if replay is not None and len(replay):
            own = tensor(gen.choice(n, size=n - n // 2, replace=False))
            past = replay.sample(n // 2, gen)
            lp = None if policy[4] is None else torch.cat([policy[4][own], log_pi(model, past[0], past[1])])  # type: ignore[list-item]
            negatives = (*(torch.cat([a[own], b]) for a, b in zip(policy[:4], past, strict=True)), lp)  # type: ignore[assignment]
        pick = gen.integers(len(expert), size=n)
        e_obs, e_acts = tensor(expert.obs[pick]), tensor(expert.acts[pick])
        expert_batch = (e_obs, e_acts, tensor(expert.next_obs[pick]), tensor(expert.terminated[pick]), log_pi(model, e_obs, e_acts))
        out.update(adversary.update(expert_batch, negatives))
        if replay is not None:
            replay.add(policy[:4], gen)
        # -- 3. relabel: the rollout's rewards in one call (returns and advantages recomputed by the callback)
        return adversary.reward(policy)

    return _relabel_callback(recorder, rewards_of, adversary.device, out, normalizer, log_pi=adversary.kind == "airl")


@dataclass
class _Generator:
    """An SB3 PPO generator on a Gymnasium env, with what the learners need around it."""

    demos: TrajectoryDataset
    spaces: tuple[Any, Any]
    model: Any
    n_envs: int
    seed: int


def _generator(name: str, cfg: Any, data: Any, env: Any, rng: np.random.Generator) -> _Generator:
    """Check the env and the demonstrations, and build PPO (the env's preset under ``cfg.hyperparams``) on
    ``n_envs`` copies of ``env`` seeded from ``rng``."""
    from stable_baselines3 import PPO

    from rewardlab.data.gym_rollouts import env_spaces
    from rewardlab.rl.sb3 import check_hyperparams, make_vec_env, preset_params

    if isinstance(env, TabularMDP):
        fix = f"run {name} on a Gymnasium env" + (" (tabular AIRL: tabular_airl)" if name in ("GAIL", "AIRL") else "")
        raise ConfigError("env", "is a TabularMDP", fix)
    if not isinstance(rng, np.random.Generator):
        raise ValidationError("rng", f"is a {type(rng).__name__}", "pass np.random.default_rng(seed)")
    demos = validate_dataset(data, env)
    spaces_ = env_spaces(env)
    params = preset_params("ppo", env, check_hyperparams("ppo", cfg.hyperparams))
    n_envs = int(params.pop("n_envs", 1))
    seed = int(rng.integers(2**31))
    envs = make_vec_env(env, n_envs=n_envs, seed=seed)
    model: Any = PPO("MlpPolicy", envs, seed=seed, device=cfg.device, verbose=0, **params)
    return _Generator(demos, spaces_, model, n_envs, seed)


def _train_rounds(
    model: Any,
    steps: int,
    rollout: int,
    round_cb: Any,
    metrics: dict[str, float],
    callback: Callback | None,
    *,
    history: History | None = None,
    first_round: int = 0,
    seconds0: float = 0.0,
    after_round: Callable[[int, dict[str, float], bool], None] | None = None,
) -> tuple[History, int, float]:
    """Whole PPO rounds (rollout, the round callback's relabelling, PPO's update) until ``steps`` env steps;
    returns the history (``metrics`` of each round, ``env_steps``, ``true_return`` of recent training episodes,
    ``seconds``), the number of rounds and the seconds taken (``seconds0`` of earlier, resumed parts included).

    A resumed loop passes its ``history`` so far, the ``first_round`` to run and ``seconds0``;
    ``after_round(round, row, done)`` runs after the user's callback saw the round's row (a checkpoint)."""
    history = History() if history is None else history
    t0 = time.perf_counter() - seconds0
    round_ = first_round
    while model.num_timesteps < steps:
        model.learn(rollout, reset_num_timesteps=round_ == 0, callback=round_cb)
        returns = [float(ep["r"]) for ep in model.ep_info_buffer] if model.ep_info_buffer else []
        row = {**metrics, "env_steps": float(model.num_timesteps), "true_return": float(np.mean(returns)) if returns else math.nan}
        row["seconds"] = time.perf_counter() - t0
        history.log(round_, **row)
        stop = run_callback(callback, round_, row)  # its metrics row first: a kill before a save repeats this round
        if after_round is not None:
            after_round(round_, row, stop or model.num_timesteps >= steps)
        round_ += 1
        if stop:
            break
    return history, round_, time.perf_counter() - t0


def _final_evaluation(model: Any, env: Any, cfg: Any, rounds: int, seconds: float) -> dict[str, Any]:
    """The ``info`` entries every generator loop reports at its end: ``env_steps``, ``rounds``, ``seconds`` and the
    policy's mean and std true return over ``cfg.eval_episodes`` deterministic episodes from ``cfg.eval_seed``."""
    from rewardlab.rl.sb3 import evaluate

    evaluation = evaluate(model, env, episodes=cfg.eval_episodes, seed=cfg.eval_seed).returns()
    return {
        "env_steps": int(model.num_timesteps),
        "rounds": rounds,
        "seconds": seconds,
        "eval_return_mean": float(evaluation.mean()),
        "eval_return_std": float(evaluation.std()),
    }


def _fit(
    kind: str, cfg: Any, data: Any, env: Any, rng: np.random.Generator, callback: Callback | None, checkpoint: Checkpoint | None = None
) -> FitResult:
    """The adversarial loop shared by GAIL and AIRL (module docstring), saving its state after due rounds and
    resuming from the latest (:meth:`GAIL.fit`)."""
    from rewardlab.rewards.wrappers import RunningNormalizer
    from rewardlab.rl.sb3 import load_policy_state, policy_state

    gen_ = _generator(kind.upper(), cfg, data, env, rng)
    model, n_envs, seed, spaces_ = gen_.model, gen_.n_envs, gen_.seed, gen_.spaces
    expert = expert_transitions(gen_.demos, spaces_[1])
    gamma = float(model.gamma if getattr(cfg, "discount", None) is None else cfg.discount)
    disc = _disc_settings(kind, cfg, env)
    adversary = _Adversary(kind, cfg, spaces_, gamma, seed, cfg.device, (float(disc["disc_lr"]), int(disc["disc_updates"])))
    if disc["normalize_obs"]:
        adversary.standardise_by(expert.obs)
    gen = np.random.default_rng(seed)
    recorder = _Recorder()
    metrics: dict[str, float] = {}
    normalizer = RunningNormalizer() if cfg.normalize_reward else None
    replay = _Reservoir(int(disc["disc_replay"])) if disc["disc_replay"] else None
    round_cb = _round_callback(adversary, expert, recorder, gen, metrics, normalizer, replay)
    rollout = int(model.n_steps) * n_envs
    history = History()
    rows: list[dict[str, float]] = []
    round_, seconds0 = 0, 0.0
    if checkpoint is not None:
        checkpoint = checkpoint.bind(kind, cfg, env if isinstance(env, str) else repr(env), len(expert), seed)
        saved = checkpoint.restore()
        if saved is not None:  # the state after round saved["step"]: the envs start fresh episodes (module docstring)
            load_policy_state(model, saved["policy"])
            model.num_timesteps = int(saved["num_timesteps"])
            adversary.load_state(saved["adversary"])
            set_rng_state(gen, saved["gen"])
            set_torch_rng_state(saved["torch"], cfg.device)
            if normalizer is not None:
                count, mean, var = (float(x) for x in saved["normalizer"])
                normalizer.count, normalizer.mean, normalizer.var = int(count), mean, var
            if replay is not None and "replay" in saved:
                replay.load_state(saved["replay"], cfg.device)
            rows = [{k: float(v) for k, v in row.items()} for row in saved["rows"]]
            for i, row in enumerate(rows):
                history.log(i, **row)
            round_, seconds0 = int(saved["step"]) + 1, float(saved["seconds"])

    def save(round_: int, row: dict[str, float], done: bool) -> None:
        rows.append(row)
        if checkpoint is not None and (checkpoint.due(round_) or (done and checkpoint.every > 0)):
            state = {"policy": policy_state(model), "num_timesteps": int(model.num_timesteps), "adversary": adversary.state()}
            state |= {"gen": rng_state(gen), "torch": torch_rng_state(cfg.device), "rows": rows, "seconds": row["seconds"]}
            if normalizer is not None:
                state["normalizer"] = [float(normalizer.count), float(normalizer.mean), float(normalizer.var)]
            if replay is not None:
                state["replay"] = replay.state()
            checkpoint.save(round_, state)

    # -- 1-4. rollouts, discriminator, relabel (in the callback), PPO's update
    history, round_, seconds = _train_rounds(
        model, cfg.steps, rollout, round_cb, metrics, callback, history=history, first_round=round_, seconds0=seconds0, after_round=save
    )
    ensure_finite(adversary.model, f"{kind.upper()} reward net", step="the end", fix=f"lower disc_lr (now {adversary.disc_lr:g})")
    info: dict[str, Any] = {
        **_final_evaluation(model, env, cfg, round_, seconds),
        "expert_transitions": len(expert),
        "disc_lr": adversary.disc_lr,
        "disc_updates": adversary.disc_updates,
        "normalize_obs": bool(disc["normalize_obs"]),
        "disc_replay": int(disc["disc_replay"]),
        "config": cfg,
    }
    if adversary.potential is not None:
        info["potential"] = adversary.potential
        info["discount"] = gamma
    adversary.fold()
    reward = adversary.model.eval()
    return FitResult(reward=reward, policy=model, history=history, info=info)


class GAIL:
    """Generative adversarial imitation learning (Ho & Ermon 2016) with an SB3 PPO generator on a
    Gymnasium env with Box or Discrete actions (module docstring for the loop).

    ``fit(demos, env, *, rng)``: ``demos`` the expert's trajectories (a :class:`~rewardlab.data.TrajectoryDataset`),
    ``env`` an env id or a function returning a new env.

    Returns (:class:`~rewardlab.learner.FitResult`): ``reward`` the discriminator's reward (``config.reward``:
    ``-log(1 - D)`` as a :class:`~rewardlab.rewards.SoftplusReward`, or ``log D - log(1 - D)`` as a
    :class:`~rewardlab.rewards.NeuralReward`), ``policy`` the PPO model, ``history`` per round (``disc_loss``,
    the discriminator's accuracies, ``policy_reward``, ``true_return`` of recent training episodes,
    ``env_steps``, ``seconds``), ``info`` (``eval_return_mean``/``_std`` on the true reward, ``seconds``, ...).
    """

    def __init__(self, config: GAILConfig | None = None) -> None:
        self.config = config or GAILConfig()

    def fit(
        self,
        data: TrajectoryDataset,
        env_or_mdp: Any,
        *,
        rng: np.random.Generator,
        callback: Callback | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> FitResult:
        """Fit on ``data`` in ``env_or_mdp``; with ``checkpoint``, save the state after due rounds (the PPO
        generator's weights and optimiser, the discriminator's nets and Adam moments, the reward normaliser,
        the random states, the rounds' metrics) and resume from the latest. A resumed fit starts fresh env
        episodes (an env's internal state cannot be saved): it continues the same round schedule, not the same
        numbers."""
        return _fit("gail", self.config, data, env_or_mdp, rng, callback, checkpoint)


class AIRL:
    """Adversarial inverse reinforcement learning (Fu, Luo, Levine 2018) with an SB3 PPO generator on a
    Gymnasium env with Box or Discrete actions (module docstring for the loop).

    Returns (:class:`~rewardlab.learner.FitResult`): ``reward`` the learned reward ``g`` (a
    :class:`~rewardlab.rewards.NeuralReward`: ``g(s)``, or ``g(s, a)`` with ``state_only=False``), reusable
    with :func:`rewardlab.rl.train_policy` and :class:`rewardlab.rewards.wrappers.LearnedReward`; ``policy``
    the PPO model; ``history`` as :class:`GAIL`'s; ``info["potential"]`` the shaping net ``h`` and
    ``info["discount"]`` its ``gamma``. On a tabular world use :func:`tabular_airl`.

    ``g`` is the reward up to a constant (and, with ``state_only=False``, up to shaping). Where episodes end on
    failure the constant decides whether staying alive pays, so how ``g`` is used matters: on CartPole-v1 AIRL's own
    policy reached 500 in 40k steps; a fresh PPO on its ``g`` (30k steps) reached 9 with ``normalize="none"`` and
    488 with ``"running"``. On Pendulum-v1 (no termination) a fresh PPO on ``g`` reached 1.01 of the expert's
    normalised score on each of 5 seeds (benchmarks/adversarial_sweep.py ``--transfer``).
    """

    def __init__(self, config: AIRLConfig | None = None) -> None:
        self.config = config or AIRLConfig()

    def fit(
        self,
        data: TrajectoryDataset,
        env_or_mdp: Any,
        *,
        rng: np.random.Generator,
        callback: Callback | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> FitResult:
        """As :meth:`GAIL.fit` (checkpoints include the potential ``h``)."""
        return _fit("airl", self.config, data, env_or_mdp, rng, callback, checkpoint)
