"""Learning from a learner with neural networks (Jacq, Geist, Paiva, Pietquin, ICML 2019, section 4):
the reward a learning agent improves on, from trajectories of its successive policies on a Gymnasium env.

The tabular method (:mod:`rewardlab.irl.lfl`) solves the soft policy-improvement equations exactly.
With function approximation the paper splits it into two regressions, which this module follows:

1. **Policy estimation.** Each stage ``k``'s policy ``pi_k`` is fitted by maximum likelihood to that
   stage's (observation, action) pairs: a Gaussian with state-dependent mean and log-std (Box actions)
   or a softmax (Discrete). Stage ``k + 1`` starts from stage ``k``'s weights, so that the small
   differences between successive policies are not drowned by independent fitting noise.
2. **Reward extraction.** If ``pi_{k+1}`` is the soft improvement of ``pi_k`` (temperature ``alpha``),
   then for every transition ``(s, a, s')``, with ``V_{k+1}`` the improvement's normaliser,

       ``r(s, a) + gamma V_{k+1}(s') - V_{k+1}(s) = alpha log pi_{k+1}(a | s) + gamma alpha KL(pi_k(.|s') || pi_{k+1}(.|s'))``

   in expectation over ``s'`` (derivation: ``V^{pi_k}(s) = V_{k+1}(s) - alpha KL(pi_k || pi_{k+1})(s)``
   substituted into ``alpha log pi_{k+1} = Q^{pi_k} - V_{k+1}``). The right side is known from step 1
   (:func:`lfl_targets`); the left is a reward net ``r_theta`` plus a shaping potential ``phi_k`` per
   improvement step (one head each), fitted by least squares over all steps' transitions. The reward
   is identified up to that shaping, as in the tabular case; on terminal transitions ``s'`` contributes
   nothing.

The learner's temperature ``alpha`` is assumed known (SAC's ``ent_coef`` when the learner is SAC).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

from rewardlab._optim import Adam
from rewardlab.checkpoint import Checkpoint, rng_state, set_rng_state
from rewardlab.data.gym_rollouts import env_spaces
from rewardlab.data.ranking import as_dataset
from rewardlab.data.validate import validate_dataset
from rewardlab.errors import ConfigError, ValidationError
from rewardlab.learner import Callback, FitResult, History, ensure_finite, run_callback
from rewardlab.rewards import NeuralReward, RewardNetSpec
from rewardlab.rewards.nets import mlp

__all__ = ["DeepLearnerIRL", "DeepLearnerIRLConfig", "StagePolicy", "fit_stage_policies", "gaussian_kl", "lfl_targets"]

_LOG_STD = (-5.0, 2.0)


def gaussian_kl(mean_p: Tensor, log_std_p: Tensor, mean_q: Tensor, log_std_q: Tensor) -> Tensor:
    """``KL(N(mean_p, std_p^2) || N(mean_q, std_q^2))`` of diagonal Gaussians, summed over the last axis: ``(B, D) -> (B,)``.

    Examples:
        >>> z = torch.zeros(1, 2)
        >>> float(gaussian_kl(z, z, z, z))
        0.0
        >>> round(float(gaussian_kl(z, z, torch.ones(1, 2), z)), 6)  # two unit shifts at unit variance
        1.0
    """
    var_p, var_q = torch.exp(2 * log_std_p), torch.exp(2 * log_std_q)
    return (log_std_q - log_std_p + (var_p + (mean_p - mean_q).square()) / (2 * var_q) - 0.5).sum(-1)


class StagePolicy(nn.Module):
    """One stage's stochastic policy: an MLP from standardised observations to a diagonal Gaussian's
    mean and log-std (Box actions, log-std clamped to ``[-5, 2]``) or to logits (Discrete).

    ``log_prob(obs (B, D), act) -> (B,)`` and ``kl(other, obs) -> (B,)`` = ``KL(self || other)`` per state.
    """

    mean: Tensor
    std: Tensor

    def __init__(self, obs_dim: int, action_space: gym.Space[Any], hidden: tuple[int, ...], mean: Tensor, std: Tensor) -> None:
        super().__init__()
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        self.act_dim = int(action_space.n) if self.discrete else int(np.prod(action_space.shape or ()))  # type: ignore[attr-defined]
        self.net = mlp(obs_dim, hidden, self.act_dim if self.discrete else 2 * self.act_dim, activation="tanh").double()
        self.register_buffer("mean", mean.double())
        self.register_buffer("std", std.double())

    def _out(self, obs: Tensor) -> Tensor:
        out: Tensor = self.net((torch.as_tensor(obs, dtype=torch.float64) - self.mean) / self.std)
        return out

    def _gaussian(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        out = self._out(obs)
        return out[:, : self.act_dim], out[:, self.act_dim :].clamp(*_LOG_STD)

    def log_prob(self, obs: Tensor, act: Tensor) -> Tensor:
        if self.discrete:
            logp = torch.log_softmax(self._out(obs), dim=-1)
            return logp.gather(1, torch.as_tensor(act).long().reshape(-1, 1))[:, 0]
        mu, log_std = self._gaussian(obs)
        a = torch.as_tensor(act, dtype=torch.float64).reshape(mu.shape)
        z = (a - mu) / torch.exp(log_std)
        return (-0.5 * z.square() - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)

    def kl(self, other: StagePolicy, obs: Tensor) -> Tensor:
        if self.discrete:
            lp, lq = torch.log_softmax(self._out(obs), -1), torch.log_softmax(other._out(obs), -1)
            return (lp.exp() * (lp - lq)).sum(-1)
        return gaussian_kl(*self._gaussian(obs), *other._gaussian(obs))


def _transitions(stage: Any, i: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(obs (N, D), act (N, ...), next_obs (N, D), nonterminal (N,))`` of a stage's trajectories."""
    try:
        data = as_dataset(stage)
    except ValidationError as exc:
        raise ValidationError(f"stages[{i}]", str(exc), "pass each stage as a dataset of its trajectories") from exc
    if not len(data):
        raise ValidationError(f"stages[{i}]", "is empty", "give every stage at least one trajectory")
    obs, act, nxt, live = [], [], [], []
    for tr in data:
        o = np.asarray(tr.obs, dtype=np.float64).reshape(len(tr.obs), -1)
        t = len(tr)
        obs.append(o[:-1])
        nxt.append(o[1:])
        act.append(np.asarray(tr.acts).reshape(t, -1))
        alive = np.ones(t)
        if tr.terminal:
            alive[-1] = 0.0
        live.append(alive)
    return tuple(torch.as_tensor(np.concatenate(x)) for x in (obs, act, nxt, live))  # type: ignore[return-value]


def fit_stage_policies(
    stages: Sequence[Any],
    action_space: gym.Space[Any],
    *,
    rng: np.random.Generator,
    hidden: tuple[int, ...] = (64, 64),
    epochs: int = 100,
    lr: float = 1e-3,
    batch_size: int = 256,
) -> list[StagePolicy]:
    """Maximum-likelihood :class:`StagePolicy` per stage (oldest first), each warm-started from the last.

    Observations are standardised with statistics over all stages (shared, so that every stage's
    network sees the same inputs).
    """
    data = [_transitions(stage, i) for i, stage in enumerate(stages)]
    return _fit_policies(data, action_space, rng=rng, hidden=hidden, epochs=epochs, lr=lr, batch_size=batch_size)


def _fit_policies(
    data: Sequence[tuple[Tensor, Tensor, Tensor, Tensor]],
    action_space: gym.Space[Any],
    *,
    rng: np.random.Generator,
    hidden: tuple[int, ...],
    epochs: int,
    lr: float,
    batch_size: int,
    checkpoint: Checkpoint | None = None,
) -> list[StagePolicy]:
    """:func:`fit_stage_policies` on the stages' transitions (from :func:`_transitions`).

    With ``checkpoint``, the fitted policies so far and ``rng``'s state are saved after every stage
    (step = the stage's index), and a fit run again continues after the latest saved stage.
    """
    all_obs = torch.cat([d[0] for d in data])
    mean, std = all_obs.mean(0), all_obs.std(0, unbiased=False).clamp_min(1e-6)
    torch.manual_seed(int(rng.integers(2**31)))
    policy = StagePolicy(all_obs.shape[1], action_space, hidden, mean, std)
    out: list[StagePolicy] = []
    saved = checkpoint.restore() if checkpoint is not None else None
    if saved is not None:  # the stages fitted before the kill, each warm-started from the one before
        for weights in saved["policies"]:
            done = StagePolicy(all_obs.shape[1], action_space, hidden, mean, std)
            done.load_state_dict(weights)
            out.append(done)
        policy.load_state_dict(out[-1].state_dict())
        set_rng_state(rng, saved["rng"])
    for obs, act, _, _ in data[len(out) :]:
        opt = Adam(policy.parameters(), lr=lr)
        n = len(obs)
        for epoch in range(epochs):
            order = torch.as_tensor(rng.permutation(n))
            for k in range(0, n, batch_size):
                idx = order[k : k + batch_size]
                opt.zero_grad()
                nll = -policy.log_prob(obs[idx], act[idx]).mean()
                ensure_finite(
                    nll.detach(), f"LfL stage-policy loss (stage {len(out)})", step=f"epoch {epoch}", fix=f"lower policy_lr (now {lr:g})"
                )
                torch.autograd.backward(nll)
                opt.step()
        out.append(policy)
        if checkpoint is not None:
            checkpoint.save(len(out) - 1, {"policies": [p.state_dict() for p in out], "rng": rng_state(rng)})
        nxt = StagePolicy(all_obs.shape[1], action_space, hidden, mean, std)
        nxt.load_state_dict(policy.state_dict())
        policy = nxt
    return [p.eval() for p in out]


@torch.no_grad()
def lfl_targets(
    pi_k: StagePolicy, pi_next: StagePolicy, obs: Tensor, act: Tensor, next_obs: Tensor, nonterminal: Tensor, alpha: float, discount: float
) -> Tensor:
    """``(N,)`` regression targets ``alpha log pi_{k+1}(a | s) + gamma alpha KL(pi_k || pi_{k+1})(s')``, the
    KL term dropped after terminal transitions (the right side of the module docstring's equation)."""
    return alpha * pi_next.log_prob(obs, act) + discount * alpha * pi_k.kl(pi_next, next_obs) * nonterminal


@dataclass(frozen=True)
class DeepLearnerIRLConfig:
    """Settings of :class:`DeepLearnerIRL`.

    Attributes:
        alpha: the learner's entropy temperature (assumed known).
        discount: the learner's discount ``gamma``.
        use_action: reward on (observation, action); False for an observation-only reward.
        hidden: the reward net's and the potential net's hidden widths.
        steps, lr, batch_size, weight_decay: reward extraction (Adam on the squared error).
        policy_hidden, policy_epochs, policy_lr: policy estimation.
    """

    alpha: float = 1.0
    discount: float = 0.99
    use_action: bool = True
    hidden: tuple[int, ...] = (64, 64)
    steps: int = 3000
    lr: float = 1e-3
    batch_size: int = 256
    weight_decay: float = 0.0
    policy_hidden: tuple[int, ...] = (64, 64)
    policy_epochs: int = 100
    policy_lr: float = 1e-3

    def __post_init__(self) -> None:
        if not self.alpha > 0:
            raise ConfigError("alpha", f"is {self.alpha}", "use the learner's positive entropy temperature")
        if not 0 <= self.discount < 1:
            raise ConfigError("discount", f"is {self.discount}", "use a discount in [0, 1)")
        if self.steps < 1 or self.batch_size < 1 or self.policy_epochs < 1:
            raise ConfigError(
                "steps", f"is {self.steps} (batch {self.batch_size}, policy epochs {self.policy_epochs})", "use positive counts"
            )


@dataclass
class DeepLearnerIRL:
    """Neural learning from a learner with the estimator shape of :mod:`rewardlab.learner`.

    ``fit(stages, spaces, *, rng)``: ``stages`` is a sequence of the learner's stages, oldest first, each
    a dataset of that stage's trajectories (or, instead, a sequence of fitted :class:`StagePolicy`
    paired with them: ``fit(stages, spaces, rng=..., policies=[...])``); ``spaces`` is
    ``(observation_space, action_space)`` or an env. Returns ``FitResult(reward=NeuralReward)`` with
    ``info["policies"]`` (the estimated stage policies), ``info["potential"]`` (the shaping net, one
    output per improvement step) and ``info["rmse"]`` (root-mean-square residual on all transitions).
    """

    config: DeepLearnerIRLConfig = field(default_factory=DeepLearnerIRLConfig)

    def fit(
        self,
        data: Any,
        env_or_mdp: Any,
        *,
        rng: np.random.Generator,
        callback: Callback | None = None,
        policies: Sequence[StagePolicy] | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> FitResult:
        """Estimate the stage policies, then regress the reward (see the class docstring).

        With ``checkpoint``, the stage policies are saved after each stage (in its ``policies`` child)
        and the regression's state after a step (reward and potential nets, Adam moments, ``rng``'s
        state, history) when ``checkpoint.due(step)`` and after the last step; a fit run again with the
        same settings, data and seed continues from the latest one and returns what an uninterrupted
        fit returns. Nothing draws from torch's global random state after the nets are built, so it is
        not saved.
        """
        cfg = self.config
        stages = list(data)
        if len(stages) < 2:
            raise ValidationError("stages", f"has {len(stages)} stage(s)", "pass at least two of the learner's stages, oldest first")
        obs_space, act_space = env_spaces(env_or_mdp)
        if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
            raise ValidationError("observation_space", f"is {obs_space}", "use vector (Box) observations")
        stages = [validate_dataset(stage, (obs_space, act_space), name=f"stages[{i}]") for i, stage in enumerate(stages)]
        trans = [_transitions(stage, i) for i, stage in enumerate(stages)]
        if policies is not None and len(policies) != len(stages):
            raise ValidationError("policies", f"has {len(policies)} for {len(stages)} stages", "give one policy per stage")
        if checkpoint is not None:
            given = None if policies is None else [p.state_dict() for p in policies]
            checkpoint = checkpoint.bind("deep-lfl", cfg, str(obs_space), str(act_space), trans, given, rng_state(rng))
        if policies is None:
            policies = _fit_policies(
                trans,
                act_space,
                rng=rng,
                hidden=cfg.policy_hidden,
                epochs=cfg.policy_epochs,
                lr=cfg.policy_lr,
                batch_size=256,
                checkpoint=None if checkpoint is None else checkpoint.child("policies"),
            )
        # every improvement step k -> k+1 is fitted on the transitions of both of its stages
        batches = []
        for k in range(len(stages) - 1):
            obs, act, nxt, live = (torch.cat([trans[k][j], trans[k + 1][j]]) for j in range(4))
            y = lfl_targets(policies[k], policies[k + 1], obs, act, nxt, live, cfg.alpha, cfg.discount)
            batches.append((obs, act, nxt, live, y, torch.full((len(obs),), k)))
        obs, act, nxt, live, y, step = (torch.cat([b[j] for b in batches]) for j in range(6))
        discrete = isinstance(act_space, gym.spaces.Discrete)
        act_dim = 0
        if cfg.use_action:
            act_dim = int(act_space.n) if discrete else int(np.prod(act_space.shape or ()))  # type: ignore[attr-defined]
        torch.manual_seed(int(rng.integers(2**31)))
        reward = NeuralReward(RewardNetSpec((obs.shape[1],), "mlp", cfg.hidden, act_dim=act_dim, discrete_actions=discrete))
        net = reward.member(0)
        potential = mlp(obs.shape[1], cfg.hidden, len(stages) - 1, activation="leaky_relu")
        mean, std = obs.mean(0), obs.std(0, unbiased=False).clamp_min(1e-6)
        r_act = (act.reshape(-1) if discrete else act.float()) if cfg.use_action else None
        opt = Adam([*net.parameters(), *potential.parameters()], lr=cfg.lr, weight_decay=cfg.weight_decay)
        history = History()
        y32, live32 = y.float(), live.float()
        saved = checkpoint.restore() if checkpoint is not None else None
        first = 0
        if saved is not None:  # built as above (same draws), then overwritten by the saved state
            net.load_state_dict(saved["net"])
            potential.load_state_dict(saved["potential"])
            opt.load_state_dict(saved["optimizer"])
            history.load_state_dict(saved["history"])
            set_rng_state(rng, saved["rng"])
            first = saved["step"] + 1
        for t in range(first, cfg.steps):
            idx = torch.as_tensor(rng.integers(len(obs), size=cfg.batch_size))
            opt.zero_grad()
            pred = _shaped(
                net,
                potential,
                obs[idx].float(),
                None if r_act is None else r_act[idx],
                nxt[idx].float(),
                live32[idx],
                step[idx],
                mean,
                std,
                cfg.discount,
            )
            loss = (pred - y32[idx]).square().mean()
            torch.autograd.backward(loss)
            opt.step()
            if t % 100 == 0 or t == cfg.steps - 1:  # the loss is read (one device sync) only here
                value = loss.item()
                ensure_finite(value, "LfL reward regression loss", step=t, fix=f"lower lr (now {cfg.lr:g}) or policy_lr")
                history.log(t, loss=value)
                if run_callback(callback, t, {"loss": value}):
                    break
            if checkpoint is not None and (checkpoint.due(t) or t == cfg.steps - 1):
                state = {"net": net.state_dict(), "potential": potential.state_dict(), "optimizer": opt.state_dict()}
                checkpoint.save(t, {**state, "history": history.state_dict(), "rng": rng_state(rng)})
        with torch.no_grad():
            full = _shaped(net, potential, obs.float(), r_act, nxt.float(), live32, step, mean, std, cfg.discount)
            rmse = float((full - y32).square().mean().sqrt())
            reward.normalize(obs.float(), r_act)
        ensure_finite(reward, "LfL reward weights", step="the end", fix=f"lower lr (now {cfg.lr:g})")
        return FitResult(
            reward=reward.eval(),
            history=history,
            info={"policies": list(policies), "potential": potential, "rmse": rmse, "stages": len(stages)},
        )


def _shaped(
    net: nn.Module,
    potential: nn.Module,
    obs: Tensor,
    act: Tensor | None,
    nxt: Tensor,
    live: Tensor,
    step: Tensor,
    mean: Tensor,
    std: Tensor,
    discount: float,
) -> Tensor:
    """``r(s, a) + gamma phi_k(s') - phi_k(s)`` (``phi_k(s')`` = 0 after a terminal transition)."""
    rows = torch.arange(len(obs))
    phi = potential((obs - mean.float()) / std.float())[rows, step]
    phi_next = potential((nxt - mean.float()) / std.float())[rows, step]
    out: Tensor = net(obs, act) + discount * phi_next * live - phi
    return out
