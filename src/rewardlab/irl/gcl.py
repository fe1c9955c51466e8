"""Guided cost learning (Finn, Levine, Abbeel 2016): MaxEnt IRL with a neural reward whose partition function is
importance-sampled from the policy being trained on that reward.

The model is MaxEnt IRL over trajectory segments ``tau = (s_0, a_0, ..., s_{L-1}, a_{L-1})`` of ``L`` steps
with a neural reward ``r_theta(s[, a])`` (the paper's cost is ``c_theta = -r_theta``),

    ``P_theta(tau) = exp(R_theta(tau)) / Z(theta)``,   ``R_theta(tau) = sum_t r_theta(s_t, a_t)``,

whose average log-likelihood of the demonstrations' segments ``tau_1..tau_N`` is

    ``L(theta) = (1/N) sum_i R_theta(tau_i) - log Z(theta)``.

``Z`` is estimated from a background set: the segments drawn by the generator policies ``q_1..q_k`` of the last
``k`` rounds (the same number of segments from each, up to the episodes' cuts) together with the demonstrations'
segments (the paper's fusion of demonstrations and samples), each weighted against the mixture of the policies,

    ``Z ~= (1/M) sum_m exp(R_theta(tau_m)) / q_mix(tau_m)``,   ``q_mix(tau) = (1/k) sum_j q_j(tau)``,
    ``q_j(tau) = prod_t pi_j(a_t | s_t)``

(the dynamics cancel from every ratio; densities are relative to the Lebesgue or counting measure on actions;
a segment's first state is taken as given, so its density under each policy is left out, as in the paper's
trajectories from a fixed start). The default segment is one step: ``Z`` is then a sum over the background's
state-action pairs and the fit approaches a log density ratio of the expert's pairs against those of the policies
so far, whose importance weights stay well spread where those of long segments collapse onto a few.
``log pi_j(a_t | s_t)`` is SB3's per-step log-probability; with generalised state-dependent exploration
(``use_sde``, as in the Pendulum-v1 preset) the actions of nearby steps share one noise matrix, so the product is
the per-step marginals' product, an approximation of the segment's density.
This is :func:`rewardlab.irl.sample_based.sample_based_objective` with the features ``f(tau) = R_theta(tau)``,
``theta = 1`` and the log ratios ``-log q_mix(tau_m)`` (:func:`gcl_objective`); its gradient is

    ``dL/dtheta = (1/N) sum_i dR_theta(tau_i)/dtheta - sum_m w_m dR_theta(tau_m)/dtheta``,
    ``w_m ∝ exp(R_theta(tau_m)) / q_mix(tau_m)`` (self-normalised, :func:`mixture_log_density`).

**The loop** (:meth:`GuidedCostLearning.fit`), one SB3 PPO rollout per round, on the machinery of
:mod:`rewardlab.irl.adversarial` (the rollout collected, relabelled once and its advantages recomputed)::

    1. rollouts   PPO collects n_steps x n_envs transitions with the current policy q_k
    2. background the rollout cut into segments of L steps (within one episode); q_k kept; the log-densities
                  of every background segment (the last `mixture` rounds' and the demonstrations') under
                  each kept policy
    3. reward     `reward_updates` Adam steps ascending the importance-sampled log-likelihood
    4. relabel    the rollout's rewards r_theta(s, a) (scaled by their running std), returns and advantages recomputed
    5. policy     PPO's update on the relabelled rollout (a few policy steps on the current reward)

The learned reward ``r_theta`` is returned as a :class:`~rewardlab.rewards.NeuralReward` that takes raw
observations, usable in :class:`rewardlab.rewards.wrappers.LearnedReward` and :func:`rewardlab.rl.train_policy`.

References:
    Finn, Levine, Abbeel, "Guided Cost Learning: Deep Inverse Optimal Control via Policy Optimization", ICML 2016.
    Ziebart, Maas, Bagnell, Dey, "Maximum Entropy Inverse Reinforcement Learning", AAAI 2008.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from rewardlab.data import TrajectoryDataset
from rewardlab.errors import ConfigError, ShapeError, ValidationError
from rewardlab.irl.adversarial import (
    _Adversary,
    _as_actions,
    _Batch,
    _final_evaluation,
    _generator,
    _Recorder,
    _relabel_callback,
    _train_rounds,
)
from rewardlab.irl.sample_based import SampleBasedObjective, sample_based_objective
from rewardlab.learner import Callback, FitResult, ensure_finite

__all__ = ["GCLConfig", "GuidedCostLearning", "gcl_objective", "mixture_log_density"]


# ----------------------------------------------------------------------------- pure functions
def mixture_log_density(log_q: Tensor) -> Tensor:
    """``log q_mix(tau) = log((1/k) sum_j q_j(tau))`` of each segment, from its log-densities under the ``k``
    policies of the mixture (in log space: no underflow at ``log q`` of -10^4).

    Reference: Finn, Levine, Abbeel 2016, section 4.2 (the importance weights ``1 / ((1/k) sum_j q_j(tau))``).

    Args:
        log_q: ``(M, k)`` ``log q_j(tau_m)``.

    Returns:
        ``(M,)``.

    Examples:
        >>> log_q = torch.log(torch.tensor([[0.5, 0.1], [0.2, 0.2]], dtype=torch.float64))
        >>> mixture_log_density(log_q).exp()  # (0.5 + 0.1) / 2, (0.2 + 0.2) / 2
        tensor([0.3000, 0.2000], dtype=torch.float64)
    """
    lq = torch.as_tensor(log_q)
    if lq.ndim != 2 or lq.shape[0] == 0 or lq.shape[1] == 0:
        raise ShapeError("log_q", f"has shape {tuple(lq.shape)}", "pass (M, k) log-densities, M, k >= 1")
    return torch.logsumexp(lq, dim=1) - math.log(lq.shape[1])


def gcl_objective(demo_returns: Tensor, sample_returns: Tensor, log_q: Tensor) -> SampleBasedObjective:
    """Guided cost learning's importance-sampled MaxEnt log-likelihood of the demonstrations:

    ``L = (1/N) sum_i R(tau_i) - log((1/M) sum_m exp(R(tau_m)) / q_mix(tau_m))``, with ``q_mix`` the mixture of
    the sampling policies (:func:`mixture_log_density`). It is :func:`rewardlab.irl.sample_based.sample_based_objective`
    with one feature ``f(tau) = R(tau)``, weight 1 and log ratios ``-log q_mix``, so ``value`` is
    differentiable in the returns (its autograd gradient is ``(1/N) sum_i dR_i - sum_m w_m dR_m``).

    Reference: Finn, Levine, Abbeel 2016, eq. (2)-(3) and Algorithm 1 (with the reward ``R = -cost``).

    Args:
        demo_returns: ``(N,)`` ``R_theta`` of the demonstrations' segments.
        sample_returns: ``(M,)`` ``R_theta`` of the background segments (policy samples and, in GCL, the demonstrations).
        log_q: ``(M, k)`` the background segments' log-densities under each of the ``k`` policies.

    Returns:
        :class:`~rewardlab.irl.sample_based.SampleBasedObjective`: ``value`` ``()``, ``weights`` ``(M,)`` the
        self-normalised importance weights ``w_m``, ``log_partition`` ``(1,)`` ``log Z``, ``ess`` ``(1,)``;
        ``gradient`` is with respect to the single weight (``mean R_demo - sum_m w_m R_m``).

    Examples:
        >>> obj = gcl_objective(torch.tensor([2.0]), torch.tensor([0.0, 2.0]), torch.zeros(2, 1))
        >>> round(float(obj.value), 4), round(2 - math.log((1 + math.exp(2)) / 2), 4)
        (0.5662, 0.5662)
    """
    rd, rs = torch.as_tensor(demo_returns), torch.as_tensor(sample_returns)
    if rd.ndim != 1 or rs.ndim != 1:
        raise ShapeError("returns", f"have shapes {tuple(rd.shape)} and {tuple(rs.shape)}", "pass (N,) and (M,) segment returns")
    lq = torch.as_tensor(log_q, dtype=rs.dtype, device=rs.device)
    if lq.ndim != 2 or lq.shape[0] != rs.shape[0]:
        raise ShapeError("log_q", f"has shape {tuple(lq.shape)}", f"pass ({rs.shape[0]}, k): one row per background segment")
    one = torch.ones(1, dtype=rs.dtype, device=rs.device)
    return sample_based_objective(one, rd[:, None], rs[:, None], -mixture_log_density(lq))


# ----------------------------------------------------------------------------- the learner
@dataclass(frozen=True)
class GCLConfig:
    """Hyperparameters of :class:`GuidedCostLearning`.

    Attributes:
        steps: generator env steps (PPO), rounded up to whole rollouts.
        segment: ``L``, the steps of a trajectory segment (the unit of the MaxEnt model and of the importance
            weights; longer segments give more variable weights). Single steps by default: on Pendulum-v1 (102,400
            steps) segments of 10 steps with a mixture of 5 policies gave a policy at 0.50 normalised (mean of 3
            seeds) and a reward that did not transfer; single steps with every past policy (and
            ``reward_lr=3e-3``) IQM 0.96 over 10 seeds (0.67-1.01), and a fresh PPO on its reward IQM 0.93
            (benchmarks/RESULTS.md).
        mixture: ``k``, the rounds whose policies form the mixture and whose samples form the background (100:
            every round of a 100-round fit; the background then covers the states of all the policies so far,
            which is what lets the learned reward rank them below the expert's).
        demos_in_background: add the demonstrations' segments to the background (Finn et al.'s fusion).
        reward_updates: full-batch Adam steps on the reward per round.
        reward_lr: their step size (on Pendulum-v1 with the defaults, 1e-3 gave a policy at 0.77-0.98 normalised over
            5 seeds and 3e-4 fell to -0.08 on one; 3e-3 kept it at 0.90-1.01 on the same seeds: a reward that moves
            fast enough to follow the policy).
        reward_lr_decay: ``"linear"``: the step size falls linearly from ``reward_lr`` in the first round to 0
            after the last, so the reward settles and the last rounds' policy steps optimise a fixed reward.
        l2: weight decay ``l2/2 ||theta||^2`` on the reward net's parameters.
        state_only: ``r(s)`` instead of ``r(s, a)``.
        hidden: hidden widths of the reward net.
        activation: of the reward net (``"relu"``, ``"tanh"``, ``"leaky_relu"``).
        normalize_obs: standardise the reward net's observations by the demonstrations' mean and std (folded
            into its first layer at the end).
        normalize_reward: divide the policy's rewards by their running standard deviation.
        hyperparams: PPO's settings over :data:`rewardlab.rl.sb3.PRESETS` (``n_envs`` and SB3's arguments).
        eval_episodes: episodes of the final evaluation on the true reward.
        eval_seed: evaluation episode ``e`` resets with seed ``eval_seed + e``.
        device: torch device of the policy and the reward.
    """

    steps: int = 100_000
    segment: int = 1
    mixture: int = 100
    demos_in_background: bool = True
    reward_updates: int = 10
    reward_lr: float = 3e-3
    reward_lr_decay: Literal["none", "linear"] = "none"
    l2: float = 0.0
    state_only: bool = False
    hidden: tuple[int, ...] = (64, 64)
    activation: Literal["relu", "tanh", "leaky_relu"] = "relu"
    normalize_obs: bool = True
    normalize_reward: bool = True
    hyperparams: dict[str, Any] = field(default_factory=dict)
    eval_episodes: int = 5
    eval_seed: int = 1_000_000
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("steps", "segment", "mixture", "reward_updates", "eval_episodes"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"is {getattr(self, name)}", "use at least 1")
        if not 0 < self.reward_lr < math.inf:
            raise ConfigError("reward_lr", f"is {self.reward_lr}", "use a positive finite step size")
        if self.reward_lr_decay not in ("none", "linear"):
            raise ConfigError("reward_lr_decay", f"is {self.reward_lr_decay!r}", "choose 'none' or 'linear'")
        if not 0 <= self.l2 < math.inf:
            raise ConfigError("l2", f"is {self.l2}", "use a non-negative finite number")
        if self.activation not in ("relu", "tanh", "leaky_relu"):
            raise ConfigError("activation", f"is {self.activation!r}", "choose 'relu', 'tanh' or 'leaky_relu'")
        if any(int(w) < 1 for w in self.hidden):
            raise ConfigError("hidden", f"is {self.hidden}", "use positive widths")


@dataclass
class _Segments:
    """``m`` segments of ``L`` steps: observations ``(m, L, D)``, the reward's actions ``(m, L, ...)`` (clipped),
    the policy's actions (as sampled, for its log-densities) and ``log_q[j]`` ``(m,)`` under kept policy ``j``."""

    obs: Tensor
    acts: Tensor
    raw: Tensor
    log_q: dict[int, Tensor] = field(default_factory=dict)


def _cut(obs: np.ndarray, acts: np.ndarray, starts: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Segments of ``length`` steps from ``(T, n, ...)`` time-major columns, each within one episode (no episode
    start ``starts[t]`` after its first step); returns ``(m, length, ...)`` observations and actions."""
    t = (obs.shape[0] // length) * length
    n = obs.shape[1]

    def split(x: np.ndarray) -> np.ndarray:  # (T, n, ...) -> (T/L * n, L, ...)
        y = x[:t].reshape(t // length, length, n, *x.shape[2:])
        return np.moveaxis(y, 2, 1).reshape(-1, length, *x.shape[2:])

    keep = ~split(starts.astype(bool))[:, 1:].any(axis=1)
    return split(obs)[keep], split(acts)[keep]


class _Background:
    """The mixture's policies (the last ``k`` rounds') and the background segments with their log-densities."""

    def __init__(self, model: Any, k: int, device: str) -> None:
        self.k, self.device = k, device
        self.evaluator = model.policy  # the kept policies are loaded into it in turn, then the current one back
        self.policies: deque[tuple[int, dict[str, Tensor]]] = deque()
        self.rounds: deque[tuple[int, _Segments]] = deque()
        self.demos: _Segments | None = None
        self.discrete = model.action_space.__class__.__name__ == "Discrete"

    def _log_q(self, seg: _Segments) -> Tensor:
        m, length = seg.obs.shape[:2]
        with torch.no_grad():
            dist = self.evaluator.get_distribution(seg.obs.reshape(m * length, -1))
            acts = seg.raw.reshape(m * length).long() if self.discrete else seg.raw.reshape(m * length, -1)
            log_prob: Tensor = dist.log_prob(acts)
        return log_prob.reshape(m, length).sum(1).double()

    def add(self, round_: int, model: Any, seg: _Segments) -> None:
        """Keep the policy that drew ``seg``; evaluate every segment under every kept policy; drop the oldest round."""
        current = {k: v.detach().clone() for k, v in model.policy.state_dict().items()}
        self.policies.append((round_, current))
        self.rounds.append((round_, seg))
        if len(self.policies) > self.k:
            old, _ = self.policies.popleft()
            self.rounds.popleft()
            for s in self.segments():
                s.log_q.pop(old, None)
        for j, state in self.policies:
            self.evaluator.load_state_dict(state)
            for s in self.segments():
                if j not in s.log_q:
                    s.log_q[j] = self._log_q(s)
        self.evaluator.load_state_dict(current)

    def segments(self) -> list[_Segments]:
        return [s for _, s in self.rounds] + ([self.demos] if self.demos is not None else [])

    def log_q(self) -> Tensor:
        """``(M, k)`` the log-densities of every background segment (rounds', then demonstrations') under each kept policy."""
        keys = [j for j, _ in self.policies]
        return torch.cat([torch.stack([s.log_q[j] for j in keys], 1) for s in self.segments()])


class GuidedCostLearning:
    """Guided cost learning (Finn, Levine, Abbeel 2016) with an SB3 PPO policy on a Gymnasium env with vector
    observations and Box or Discrete actions (module docstring for the model and the loop).

    ``fit(demos, env, *, rng)``: ``demos`` the expert's trajectories, ``env`` an env id or a function returning a
    new env.

    Returns (:class:`~rewardlab.learner.FitResult`): ``reward`` the learned ``r_theta`` (a
    :class:`~rewardlab.rewards.NeuralReward` over raw observations; ``r(s, a)``, or ``r(s)`` with
    ``state_only``), ``policy`` the PPO model trained on it, ``history`` per round (``objective`` the
    importance-sampled log-likelihood per segment, ``ess`` of the background's weights, ``demo_reward`` and
    ``policy_reward`` per step, ``background`` segments, ``reward_lr`` the step size, ``true_return`` of recent training episodes,
    ``env_steps``, ``seconds``), ``info`` (``eval_return_mean``/``_std`` on the true reward, ``seconds``, ...).
    """

    def __init__(self, config: GCLConfig | None = None) -> None:
        self.config = config or GCLConfig()

    def fit(self, data: TrajectoryDataset, env_or_mdp: Any, *, rng: np.random.Generator, callback: Callback | None = None) -> FitResult:
        from rewardlab.rewards.wrappers import RunningNormalizer

        cfg = self.config
        gen = _generator("GCL", cfg, data, env_or_mdp, rng)
        model, spaces_, length = gen.model, gen.spaces, cfg.segment
        if int(model.n_steps) < length:
            raise ConfigError(
                "segment", f"is {length}, longer than PPO's rollout of {model.n_steps} steps per env", "lower segment or raise n_steps"
            )
        reward = _Adversary("gcl", cfg, spaces_, float(model.gamma), gen.seed, cfg.device, (cfg.reward_lr, cfg.reward_updates))
        device = cfg.device

        def tensor(x: np.ndarray) -> Tensor:
            return torch.as_tensor(x, device=device)

        # the demonstrations' segments
        demo_obs, demo_acts = [], []
        for tr in gen.demos:
            n = (len(tr) // length) * length
            if n:
                demo_obs.append(np.asarray(tr.obs[:n], dtype=np.float32).reshape(n // length, length, -1))
                demo_acts.append(np.asarray(tr.acts[:n]).reshape(n // length, length, -1))
        if not demo_obs:
            raise ValidationError(
                "data", f"holds no trajectory of {length} steps or more", f"pass longer demonstrations or lower segment (now {length})"
            )
        d_obs, d_acts = np.concatenate(demo_obs), np.concatenate(demo_acts)
        if cfg.normalize_obs:
            reward.standardise_by(d_obs.reshape(-1, d_obs.shape[-1]))
        act_space = spaces_[1]
        discrete = act_space.__class__.__name__ == "Discrete"
        demos = _Segments(
            tensor(d_obs),
            tensor(_as_actions(d_acts.reshape(len(d_acts) * length, -1), act_space).reshape(len(d_acts), length, -1)),
            tensor(d_acts.astype(np.float32)),
        )
        background = _Background(model, cfg.mixture, device)
        if cfg.demos_in_background:
            background.demos = demos
        params = list(reward.model.parameters())
        rounds = [0]
        metrics: dict[str, float] = {}

        def segment_returns(seg: _Segments) -> Tensor:
            m = seg.obs.shape[0]
            acts = seg.acts.reshape(m * length, *seg.acts.shape[2:])
            if discrete:
                acts = acts.reshape(-1)
            obs = seg.obs.reshape(m * length, -1)
            return reward.logits(obs, acts, obs, torch.zeros(m * length, dtype=torch.bool), None).reshape(m, length).sum(1)

        def rewards_of(model: Any, rollout: _Batch) -> Tensor:
            # -- 2. background: the rollout's segments, the mixture's policies and the log-densities
            buffer = model.rollout_buffer
            raw = buffer.actions if not discrete else buffer.actions.reshape(*buffer.actions.shape[:2], 1)
            obs, acts_raw = _cut(buffer.observations, raw, buffer.episode_starts, length)
            m = len(obs)
            clipped = _as_actions(acts_raw.reshape(m * length, -1), act_space).reshape(m, length, -1)
            background.add(
                rounds[0], model, _Segments(tensor(obs.astype(np.float32)), tensor(clipped), tensor(acts_raw.astype(np.float32)))
            )
            rounds[0] += 1
            log_q = background.log_q()
            segs = background.segments()
            # -- 3. reward: ascend the importance-sampled MaxEnt log-likelihood
            if cfg.reward_lr_decay == "linear":
                reward.optimizer.lr = cfg.reward_lr * max(0.0, 1.0 - (rounds[0] - 1) / total_rounds)
            for _ in range(cfg.reward_updates):
                returns = [segment_returns(s) for s in segs]
                sample_r = torch.cat(returns).double()
                demo_r = (returns[-1] if cfg.demos_in_background else segment_returns(demos)).double()
                obj = gcl_objective(demo_r, sample_r, log_q)
                loss = -obj.value
                if cfg.l2 > 0:
                    loss = loss + 0.5 * cfg.l2 * sum((p * p).sum() for p in params)
                reward.optimizer.zero_grad()
                torch.autograd.backward(loss)
                reward.optimizer.step()
            ensure_finite(
                float(obj.value.detach()), "GCL objective", step=f"round {rounds[0] - 1}", fix=f"lower reward_lr (now {cfg.reward_lr:g})"
            )
            metrics.update(
                objective=float(obj.value.detach()) / length,
                ess=float(obj.ess[0].detach()),
                demo_reward=float(demo_r.detach().mean()) / length,
                background=float(len(sample_r)),
                reward_lr=float(reward.optimizer.lr),
            )
            # -- 4. relabel: r_theta(s, a) of every step of the rollout
            with torch.no_grad():
                obs_all, acts_all = rollout[0], rollout[1]
                return reward.logits(obs_all, acts_all, obs_all, rollout[3], None)

        normalizer = RunningNormalizer() if cfg.normalize_reward else None
        per_round = int(model.n_steps) * gen.n_envs
        total_rounds = -(-cfg.steps // per_round)
        round_cb = _relabel_callback(_Recorder(), rewards_of, device, metrics, normalizer, log_pi=False)
        # -- 1-5. rollouts, background, reward steps, relabel (in the callback), PPO's update
        history, n_rounds, seconds = _train_rounds(model, cfg.steps, per_round, round_cb, metrics, callback)
        ensure_finite(reward.model, "GCL reward net", step="the end", fix=f"lower reward_lr (now {cfg.reward_lr:g})")
        info = {**_final_evaluation(model, env_or_mdp, cfg, n_rounds, seconds), "demo_segments": len(d_obs), "config": cfg}
        reward.fold()
        return FitResult(reward=reward.model.eval(), policy=model, history=history, info=info)
