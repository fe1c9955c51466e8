"""Neural learning from a learner (Jacq et al. 2019, section 4): the regression targets are the soft
policy-improvement identity, the networks recover a tabular reward up to shaping from exact stage
policies, and from sampled trajectories of Gaussian stage policies they recover a continuous reward."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from rewardlab.data import Trajectory, TrajectoryDataset
from rewardlab.errors import ValidationError
from rewardlab.eval import reward_distance
from rewardlab.irl.lfl import soft_policy_evaluation, soft_policy_improvement
from rewardlab.irl.lfl_deep import DeepLearnerIRL, DeepLearnerIRLConfig, StagePolicy, gaussian_kl, lfl_targets
from rewardlab.mdp.worlds import feature_gridworld


def _tabular_policy(pi: torch.Tensor) -> StagePolicy:
    """A StagePolicy on one-hot states whose logits are log pi exactly."""
    n_s, n_a = pi.shape
    policy = StagePolicy(n_s, gym.spaces.Discrete(n_a), (), torch.zeros(n_s), torch.ones(n_s))
    with torch.no_grad():
        policy.net[0].weight.copy_(torch.log(pi).T)
        policy.net[0].bias.zero_()
    return policy.eval()


def _grid_learner(alpha: float, steps: int):
    w = feature_gridworld(4, seed=2, discount=0.9)
    true = w.reward.double()
    pis = [torch.full((16, 4), 0.25, dtype=torch.float64)]
    for _ in range(steps):
        pis.append(soft_policy_improvement(w.mdp, true, pis[-1], alpha))
    p = w.mdp.to_dense().double()
    succ = p.argmax(-1)  # deterministic moves
    eye = np.eye(16, dtype=np.float32)
    # every (s, a) once, as one-step trajectories
    data = TrajectoryDataset([Trajectory(eye[[s, int(succ[s, a])]], np.array([a])) for s in range(16) for a in range(4)])
    return w, true, pis, data


def test_targets_are_the_soft_improvement_identity() -> None:
    """alpha log pi_{k+1}(a|s) + gamma alpha KL(pi_k || pi_{k+1})(s') = r(s, a) + gamma V_{k+1}(s') - V_{k+1}(s)."""
    alpha = 0.5
    w, true, pis, data = _grid_learner(alpha, 2)
    obs = torch.as_tensor(np.stack([tr.obs[0] for tr in data]))
    nxt = torch.as_tensor(np.stack([tr.obs[1] for tr in data]))
    act = torch.as_tensor(np.stack([tr.acts[0] for tr in data]))
    s, s2 = obs.argmax(1), nxt.argmax(1)
    for k in range(2):
        y = lfl_targets(_tabular_policy(pis[k]), _tabular_policy(pis[k + 1]), obs, act, nxt, torch.ones(len(obs)), alpha, 0.9)
        v = soft_policy_evaluation(w.mdp, true, pis[k], alpha)
        q = true[:, None] + 0.9 * torch.einsum("sat,t->sa", w.mdp.to_dense().double(), v)
        v_next = alpha * torch.logsumexp(q / alpha, dim=1)
        torch.testing.assert_close(y, true[s] + 0.9 * v_next[s2] - v_next[s], atol=1e-9, rtol=0)


def test_gaussian_kl_matches_monte_carlo() -> None:
    g = torch.Generator().manual_seed(0)
    mp, lp, mq, lq = (torch.randn(1, 3, generator=g, dtype=torch.float64) * 0.5 for _ in range(4))
    x = mp + torch.exp(lp) * torch.randn(200_000, 3, generator=g, dtype=torch.float64)

    def logpdf(x, m, ls):
        return (-0.5 * ((x - m) / torch.exp(ls)).square() - ls - 0.5 * np.log(2 * np.pi)).sum(-1)

    mc = (logpdf(x, mp, lp) - logpdf(x, mq, lq)).mean()
    assert abs(float(gaussian_kl(mp, lp, mq, lq)) - float(mc)) < 0.02


def test_exact_stage_policies_give_the_reward_up_to_shaping() -> None:
    alpha = 0.5
    w, true, pis, data = _grid_learner(alpha, 3)
    cfg = DeepLearnerIRLConfig(alpha=alpha, discount=0.9, use_action=False, hidden=(64,), steps=3000, lr=3e-3, batch_size=64)
    space = (gym.spaces.Box(0, 1, (16,)), gym.spaces.Discrete(4))
    fit = DeepLearnerIRL(cfg).fit([data] * 4, space, rng=np.random.default_rng(0), policies=[_tabular_policy(p) for p in pis])
    assert fit.info["rmse"] < 1e-3  # the equations have an exact solution (measured: 6e-5)
    with torch.no_grad():
        learned = fit.reward(torch.eye(16)).double()
    assert reward_distance(w.mdp, true, learned) < 1e-3  # measured 1e-5; a random reward is at 0.6


def _bandit_stage(mean_fn, std: float, n: int, rng: np.random.Generator) -> TrajectoryDataset:
    """One-step episodes: s ~ U(-1, 1), a ~ N(mean(s), std^2), then a random s' (actions do not move the
    state, so V(s') does not depend on a)."""
    s = rng.uniform(-1, 1, n)
    a = mean_fn(s) + std * rng.standard_normal(n)
    s2 = rng.uniform(-1, 1, n)
    return TrajectoryDataset([Trajectory(np.array([[s[i]], [s2[i]]], np.float32), np.array([[a[i]]], np.float32)) for i in range(n)])


def test_gaussian_learner_on_trajectories_recovers_a_continuous_reward() -> None:
    """r(s, a) = -(a - s)^2; the learner's soft improvement of N(0, 1) at alpha = 1 is N(s, 1/2)
    (pi' ∝ exp(Q / alpha) and Q(s, a) = r(s, a) + const(s) when actions do not move the state)."""
    rng = np.random.default_rng(0)
    stages = [_bandit_stage(lambda s: 0 * s, 1.0, 3000, rng), _bandit_stage(lambda s: s, np.sqrt(0.5), 3000, rng)]
    cfg = DeepLearnerIRLConfig(alpha=1.0, discount=0.5, hidden=(64, 64), steps=2000, lr=2e-3, policy_epochs=40, policy_hidden=(32,))
    fit = DeepLearnerIRL(cfg).fit(stages, (gym.spaces.Box(-1, 1, (1,)), gym.spaces.Box(-3, 3, (1,))), rng=rng)
    s, a = np.meshgrid(np.linspace(-0.8, 0.8, 9), np.linspace(-1.5, 1.5, 13), indexing="ij")
    with torch.no_grad():
        r = fit.reward(
            torch.as_tensor(s.reshape(-1, 1), dtype=torch.float32), torch.as_tensor(a.reshape(-1, 1), dtype=torch.float32)
        ).numpy()
    r = r.reshape(s.shape)
    # up to shaping (a function of s here) and scale: compare within each state
    true = -((a - s) ** 2)
    rc, tc = r - r.mean(1, keepdims=True), true - true.mean(1, keepdims=True)
    corr = float((rc * tc).sum() / np.sqrt((rc**2).sum() * (tc**2).sum()))
    assert corr > 0.95
    # the estimated second stage is the learner's N(s, 1/2)
    pi = fit.info["policies"][1]
    with torch.no_grad():
        mu, log_std = pi._gaussian(torch.tensor([[0.5]], dtype=torch.float64))
    assert abs(float(mu) - 0.5) < 0.1 and abs(float(torch.exp(log_std)) - np.sqrt(0.5)) < 0.07


def test_bad_stages_are_refused() -> None:
    space = (gym.spaces.Box(-1, 1, (1,)), gym.spaces.Box(-1, 1, (1,)))
    one = _bandit_stage(lambda s: s, 1.0, 10, np.random.default_rng(0))
    with pytest.raises(ValidationError, match="stages"):
        DeepLearnerIRL().fit([one], space, rng=np.random.default_rng(0))
    with pytest.raises(ValidationError, match="stages\\[1\\]"):
        DeepLearnerIRL().fit([one, TrajectoryDataset([])], space, rng=np.random.default_rng(0))
