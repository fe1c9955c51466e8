"""Guided cost learning (rewardlab.irl.gcl): the mixture's importance weights against hand-computed values, the
objective's gradient against the sample-based MaxEnt gradient of rewardlab.irl.sample_based, segments cut within
episodes, and a short end-to-end run on Pendulum-v1 from the committed expert demonstrations that clearly beats a
random policy, with a reward that saves, loads and drives the library's env wrapper."""

from __future__ import annotations

import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from rewardlab.data import Trajectory, TrajectoryDataset
from rewardlab.data.gym_rollouts import collect_rollouts
from rewardlab.data.io import load_dataset
from rewardlab.errors import ConfigError, ShapeError, ValidationError
from rewardlab.irl.gcl import GCLConfig, GuidedCostLearning, _cut, gcl_objective, mixture_log_density
from rewardlab.irl.sample_based import importance_weights, sample_based_objective
from rewardlab.rewards import NeuralReward, load_reward

#: 10 episodes of an expert PPO on Pendulum-v1 (return -163.5), written by benchmarks/adversarial.py prepare
PENDULUM_DEMOS = Path(__file__).parent / "data" / "pendulum_expert"


def test_mixture_importance_weights_equal_the_hand_computed_ones() -> None:
    returns = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    q = torch.tensor([[0.5, 0.1], [0.25, 0.25], [0.1, 0.5]], dtype=torch.float64)  # 3 segments under 2 policies
    mix = np.array([0.3, 0.25, 0.3])  # (q1 + q2) / 2
    raw = np.exp([0.0, 1.0, 2.0]) / mix
    obj = gcl_objective(torch.tensor([2.0], dtype=torch.float64), returns, torch.log(q))
    np.testing.assert_allclose(mixture_log_density(torch.log(q)).exp().numpy(), mix, rtol=1e-12)
    np.testing.assert_allclose(obj.weights.numpy(), raw / raw.sum(), rtol=1e-12)
    np.testing.assert_allclose(obj.log_partition.numpy(), [math.log(raw.mean())], rtol=1e-12)
    assert float(obj.value) == pytest.approx(2.0 - math.log(raw.mean()), rel=1e-12)
    assert float(obj.ess[0]) == pytest.approx(1 / ((raw / raw.sum()) ** 2).sum(), rel=1e-12)
    # the same weights as the library's importance weights with log ratios -log q_mix
    same = importance_weights(torch.ones(1, dtype=torch.float64), returns[:, None], -torch.log(torch.tensor(mix)))
    np.testing.assert_allclose(obj.weights.numpy(), same.numpy(), rtol=1e-12)


def test_a_mixture_of_one_policy_is_that_policy_and_nothing_underflows() -> None:
    log_q = torch.tensor([[-3.0], [-1e4]], dtype=torch.float64)
    assert torch.equal(mixture_log_density(log_q), log_q[:, 0])
    two = mixture_log_density(torch.tensor([[-1e4, -1e4 + math.log(3.0)]], dtype=torch.float64))
    assert float(two[0]) == pytest.approx(-1e4 + math.log(2.0), rel=1e-12)  # log((1 + 3) / 2 e^-1e4)


def test_the_objective_gradient_equals_the_sample_based_maxent_gradient() -> None:
    """With a linear reward ``R(tau) = theta . f(tau)``, autograd through :func:`gcl_objective` gives
    :func:`sample_based_objective`'s analytic gradient ``f_hat - sum_m w_m f_m`` on the same inputs."""
    gen = torch.Generator().manual_seed(0)
    f_demo = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    f_samp = torch.randn(7, 3, generator=gen, dtype=torch.float64)
    log_q = torch.randn(7, 3, generator=gen, dtype=torch.float64) * 2
    theta = torch.tensor([0.3, -1.2, 0.7], dtype=torch.float64, requires_grad=True)
    obj = gcl_objective(f_demo @ theta, f_samp @ theta, log_q)
    (grad,) = torch.autograd.grad(obj.value, theta)
    reference = sample_based_objective(theta.detach(), f_demo, f_samp, -mixture_log_density(log_q))
    np.testing.assert_allclose(grad.numpy(), reference.gradient.numpy(), rtol=1e-10, atol=1e-12)
    assert float(obj.value.detach()) == pytest.approx(float(reference.value), rel=1e-12)
    np.testing.assert_allclose(obj.weights.detach().numpy(), reference.weights.numpy(), rtol=1e-12)


def test_segments_are_cut_within_episodes() -> None:
    obs = np.arange(7 * 2, dtype=np.float32).reshape(7, 2, 1)  # (T=7, n=2 envs, D=1): obs = 2 t + env
    acts = obs.copy()
    starts = np.zeros((7, 2), bool)
    starts[4, 0] = True  # env 0: an episode starts at step 4
    segs, seg_acts = _cut(obs, acts, starts, 3)  # steps 0-2 and 3-5 of each env (step 6 is left over)
    got = segs[:, :, 0].tolist()
    assert got == [[0, 2, 4], [1, 3, 5], [7, 9, 11]]  # env 0's steps 3-5 cross the episode start at 4: dropped
    assert np.array_equal(seg_acts, segs)
    starts[3, 0] = True  # a start at a segment's first step is fine
    starts[4, 0] = False
    assert len(_cut(obs, acts, starts, 3)[0]) == 4


def test_the_reward_step_size_decays_linearly_to_zero_over_the_rounds() -> None:
    demos = load_dataset(PENDULUM_DEMOS, env="Pendulum-v1")
    tiny = {"steps": 128, "segment": 4, "eval_episodes": 1, "hidden": (8,), "hyperparams": {"n_envs": 1, "n_steps": 32, "batch_size": 32}}
    cfg = GCLConfig(**tiny, reward_lr=3e-4, reward_lr_decay="linear")
    history = GuidedCostLearning(cfg).fit(demos, "Pendulum-v1", rng=np.random.default_rng(0)).history
    np.testing.assert_allclose(history["reward_lr"], [3e-4 * (1 - k / 4) for k in range(4)])
    constant = GuidedCostLearning(GCLConfig(**tiny)).fit(demos, "Pendulum-v1", rng=np.random.default_rng(0)).history
    assert constant["reward_lr"] == [3e-3] * 4


def test_bad_settings_and_shapes_are_refused() -> None:
    for name in ("segment", "mixture", "reward_updates", "steps"):
        with pytest.raises(ConfigError, match=name):
            GCLConfig(**{name: 0})
    with pytest.raises(ConfigError, match="reward_lr"):
        GCLConfig(reward_lr=-1.0)
    with pytest.raises(ConfigError, match="reward_lr_decay"):
        GCLConfig(reward_lr_decay="cosine")  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match="log_q"):
        gcl_objective(torch.zeros(1), torch.zeros(3), torch.zeros(2, 1))
    with pytest.raises(ShapeError, match="log_q"):
        mixture_log_density(torch.zeros(3))
    demos = load_dataset(PENDULUM_DEMOS, env="Pendulum-v1")
    with pytest.raises(ConfigError, match="segment"):  # no segment fits in a rollout of 32 steps per env
        GuidedCostLearning(GCLConfig(steps=64, segment=50, hyperparams={"n_envs": 1, "n_steps": 32, "batch_size": 32})).fit(
            demos, "Pendulum-v1", rng=np.random.default_rng(0)
        )
    with pytest.raises(ValidationError, match="data"):  # no demonstration lasts a segment
        GuidedCostLearning(GCLConfig(steps=64, segment=4, hyperparams={"n_envs": 1, "n_steps": 32, "batch_size": 32})).fit(
            TrajectoryDataset([Trajectory(tr.obs[:3], tr.acts[:2]) for tr in demos]), "Pendulum-v1", rng=np.random.default_rng(0)
        )


def test_gcl_on_pendulum_from_committed_demos_beats_a_random_policy(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """tests/data/pendulum_expert (10 expert episodes, return -163.5; see test_adversarial.py). GCL with its defaults
    (single-step segments, a mixture of every past policy), 8 envs x 512 steps per round, 32,768 env steps (about 10 s on idle
    cores, 25 s on busy ones)."""
    demos = load_dataset(PENDULUM_DEMOS, env="Pendulum-v1")
    draws = np.random.default_rng(0)
    random_return = (
        collect_rollouts("Pendulum-v1", lambda o: draws.uniform(-2, 2, (len(o), 1)).astype(np.float32), 10, seed=5).returns().mean()
    )
    cfg = GCLConfig(steps=32_768, eval_episodes=10, hyperparams={"n_envs": 8, "n_steps": 512})
    result = GuidedCostLearning(cfg).fit(demos, "Pendulum-v1", rng=np.random.default_rng(0))
    score = (result.info["eval_return_mean"] - random_return) / (demos.returns().mean() - random_return)
    assert random_return < -900 and score >= 0.6
    history = result.history
    assert len(history.steps) == 8 and history["env_steps"][-1] == 32_768
    assert history["objective"][-1] > history["objective"][0]  # the demonstrations' likelihood rose
    assert {"ess", "demo_reward", "policy_reward", "background", "true_return"} <= set(history.keys())
    assert history["reward_lr"] == [3e-3] * 8
    # the learned r(s, a) takes raw observations, saves, loads and replaces the env's reward in the wrapper
    reward = result.reward
    assert type(reward) is NeuralReward and reward.spec.uses_action
    back = load_reward(reward.save(tmp_path / "reward"))
    obs = torch.as_tensor(np.concatenate([tr.obs[:-1] for tr in demos[:2]]), dtype=torch.float32)
    acts = torch.as_tensor(np.concatenate([tr.acts for tr in demos[:2]]), dtype=torch.float32).reshape(-1, 1)
    assert torch.equal(back(obs, acts), reward(obs, acts))
    from rewardlab.rewards.wrappers import LearnedReward

    env = LearnedReward(gym.make("Pendulum-v1"), back)
    first, _ = env.reset(seed=0)
    _, r, _, _, info = env.step(np.array([0.5], np.float32))
    with torch.no_grad():
        expected = float(reward(torch.as_tensor(first[None]), torch.tensor([[0.5]]))[0])
    assert r == pytest.approx(expected, rel=1e-5) and "true_reward" in info
