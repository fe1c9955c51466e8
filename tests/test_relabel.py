"""Rollout relabelling (:mod:`rewardlab.rl.relabel`): PPO trained with the learned reward computed once
per rollout must be the same PPO as with the reward computed after every step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rewardlab.errors import ConfigError
from rewardlab.rewards import NeuralReward, RewardNetSpec
from rewardlab.rl import train_policy

# 2 envs x 64 steps per rollout, 4 rollouts: 256 steps per env crosses Pendulum's 200-step time limit,
# so SB3's bootstrap of truncated episodes is in the buffer too
PPO_SMALL = {"n_envs": 2, "n_steps": 64, "batch_size": 32, "n_epochs": 2}


def _reward(act_dim: int = 1) -> NeuralReward:
    model = NeuralReward(RewardNetSpec((3,), hidden=(16,), act_dim=act_dim), members=2, seed=3)
    model.normalize(torch.randn(50, 3), torch.randn(50, act_dim) if act_dim else None)
    return model.eval()


def _params(model) -> list[np.ndarray]:
    return [p.detach().numpy().copy() for p in model.policy.parameters()]


@pytest.mark.parametrize(("normalize", "ctrl_cost", "act_dim"), [("none", 0.1, 1), ("sigmoid", 0.0, 0)])
def test_rollout_relabelling_trains_the_same_policy_as_per_step_rewards(normalize, ctrl_cost, act_dim) -> None:
    reward = _reward(act_dim)
    kw = {"steps": 512, "seed": 4, "reward": reward, "normalize": normalize, "ctrl_cost": ctrl_cost, "hyperparams": PPO_SMALL}
    step = train_policy("Pendulum-v1", reward_batch="step", **kw)
    rollout = train_policy("Pendulum-v1", reward_batch="rollout", **kw)
    assert step.model.num_timesteps == rollout.model.num_timesteps == 512
    # the last rollout's buffer: same rewards, returns and advantages
    a, b = step.model.rollout_buffer, rollout.model.rollout_buffer
    np.testing.assert_allclose(b.rewards, a.rewards, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b.advantages, a.advantages, rtol=1e-4, atol=1e-4)
    # ...and they are the learned reward of each buffered transition (training flattened observations and
    # actions env-major; rewards keep their (step, env) shape), except where SB3 added gamma V(s_T) to the
    # step at which each env's episode was truncated: the 200th, row 7 of the last rollout (env steps 192-255)
    obs = a.observations.reshape(2, 64, 3).transpose(1, 0, 2).reshape(-1, 3)
    act = np.clip(a.actions.reshape(2, 64, 1).transpose(1, 0, 2).reshape(-1, 1), -2.0, 2.0)
    with torch.no_grad():
        r = reward(obs, act if act_dim else None).numpy().reshape(64, 2)
    expected = 1 / (1 + np.exp(-r)) if normalize == "sigmoid" else r - ctrl_cost * act.reshape(64, 2) ** 2
    rows, cols = np.nonzero(~np.isclose(a.rewards, expected, rtol=1e-5, atol=1e-5))
    assert rows.tolist() == [7, 7] and cols.tolist() == [0, 1]
    for p, q in zip(_params(step.model), _params(rollout.model), strict=True):
        np.testing.assert_allclose(q, p, rtol=1e-4, atol=1e-5)


def test_running_normalisation_is_updated_with_whole_rollouts() -> None:
    reward = _reward()
    out = train_policy("Pendulum-v1", steps=256, seed=1, reward=reward, normalize="running", hyperparams=PPO_SMALL, reward_batch="rollout")
    buf = out.model.rollout_buffer
    # two rollouts of 128 transitions, no truncation yet (so no bootstrap term in the buffer)
    assert out.model.num_timesteps == 256
    obs = buf.observations.reshape(-1, 3)
    act = np.clip(buf.actions.reshape(-1, 1), -2.0, 2.0)
    with torch.no_grad():
        raw = reward(obs, act).numpy()
    assert np.isfinite(buf.rewards).all()
    # the buffer holds (raw - mean) / std with the statistics after both rollouts: one straight line.
    # (PPO's training flattened observations and actions env-major; rewards keep their (step, env) shape)
    z = buf.rewards.T.reshape(-1)
    slope, intercept = np.polyfit(raw, z, 1)
    np.testing.assert_allclose(slope * raw + intercept, z, atol=1e-4)
    assert slope > 0


def test_rollout_relabelling_refuses_off_policy_algorithms() -> None:
    with pytest.raises(ConfigError, match="reward_batch"):
        train_policy("Pendulum-v1", steps=10, algo="sac", reward=_reward(), reward_batch="rollout")
    with pytest.raises(ConfigError, match="reward_batch"):
        train_policy("Pendulum-v1", steps=10, reward=_reward(), reward_batch="batch")


def test_control_cost_on_raw_actions_charges_what_lies_beyond_the_bounds() -> None:
    reward = _reward()
    kw = {"steps": 128, "seed": 2, "reward": reward, "normalize": "none", "ctrl_cost": 0.1, "hyperparams": PPO_SMALL}
    executed = train_policy("Pendulum-v1", **kw).model.rollout_buffer  # one rollout of 2 x 64
    raw = train_policy("Pendulum-v1", ctrl_cost_on="raw", **kw).model.rollout_buffer
    np.testing.assert_array_equal(raw.actions, executed.actions)  # the same samples
    a = executed.actions.reshape(2, 64).T  # training flattened the actions env-major; rewards are (step, env)
    beyond = np.abs(a) > 2.0
    assert beyond.any()
    np.testing.assert_allclose(raw.rewards - executed.rewards, -0.1 * (a**2 - np.clip(a, -2, 2) ** 2), atol=1e-6)
    assert np.all((raw.rewards == executed.rewards) | beyond)
    with pytest.raises(ConfigError, match="ctrl_cost_on"):
        train_policy("Pendulum-v1", ctrl_cost_on="raw", reward_batch="step", **kw)
    with pytest.raises(ConfigError, match="ctrl_cost_on"):
        train_policy("Pendulum-v1", ctrl_cost_on="squared", **kw)
