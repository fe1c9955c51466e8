"""Atari end to end at toy scale (the GPU-sized run is a benchmark): frames with the score masked,
noise-ranked rollouts, a T-REX CNN reward on 4 x 84 x 84 stacks, and PPO's CNN policy trained on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rewardlab.prefs import TREX, TREXConfig
from rewardlab.prefs.drex import noise_rollouts
from rewardlab.prefs.trex import TrajectoryEncoder, predicted_returns
from rewardlab.rewards.wrappers import LearnedReward
from rewardlab.rl import atari_env, make_ranked_demos, train_policy


def test_trex_cnn_on_breakout_end_to_end() -> None:
    pytest.importorskip("ale_py")
    env = atari_env("Breakout")

    def fire_then_right(obs: np.ndarray) -> np.ndarray:
        return np.full(len(obs), 2, np.int64)  # RIGHT; noise supplies the FIREs that launch the ball

    ranked = noise_rollouts(lambda: atari_env("Breakout"), fire_then_right, (0.0, 0.5, 1.0), 2, seed=0, max_steps=40)
    assert len(ranked) == 6 and ranked[0].obs.shape[1:] == (4, 84, 84) and ranked[0].obs.dtype == np.uint8
    # the score rows are hidden from the reward in every recorded frame
    assert all(int(tr.obs[:, :, :10].max()) == 0 for tr in ranked)
    cfg = TREXConfig(hidden=(16,), snippet=(5, 15), pairs=60, steps=15, batch_size=4, lr=1e-4, validation=0.2)
    fit = TREX(cfg).fit(ranked, env, rng=np.random.default_rng(0))
    model = fit.reward
    assert model.spec.architecture == "cnn" and model.spec.obs_shape == (4, 84, 84)
    pred = predicted_returns(model, ranked, TrajectoryEncoder.for_env(env, hidden=(16,)))
    assert pred.shape == (6,) and np.isfinite(pred).all()

    # the library path: train_policy on an env factory picks SB3's CnnPolicy; here with the per-step reward wrapper
    trained = train_policy(
        lambda: atari_env("Breakout"),
        steps=32,
        reward=model,
        normalize="sigmoid",
        hyperparams={"n_envs": 2, "n_steps": 16, "batch_size": 16, "n_epochs": 1},
        reward_batch="step",
    )
    ppo = trained.model
    assert type(ppo.policy).__name__ == "ActorCriticCnnPolicy" and ppo.num_timesteps == 32
    assert ppo.get_env().env_is_wrapped(LearnedReward) == [True, True]
    wrapped = LearnedReward(atari_env("Breakout"), model, normalize="sigmoid")
    obs, _ = wrapped.reset(seed=1)
    _, r, _, _, info = wrapped.step(int(ppo.predict(obs)[0]))
    with torch.no_grad():
        expected = torch.sigmoid(model(torch.as_tensor(obs[None]))).item()
    assert r == pytest.approx(expected, rel=1e-5) and "true_reward" in info


def test_ranked_demos_from_ppo_checkpoints_on_atari() -> None:
    pytest.importorskip("ale_py")
    demos = make_ranked_demos(
        lambda: atari_env("Breakout"),
        checkpoints=2,
        steps=64,
        hyperparams={"n_envs": 2, "n_steps": 16, "batch_size": 16, "n_epochs": 1},
        max_steps=30,
    )
    assert [tr.infos["rank"] for tr in demos] == [0, 1]
    assert [tr.infos["checkpoint"] for tr in demos] == [32, 64]
    assert all(len(tr) == 30 and tr.obs.shape[1:] == (4, 84, 84) for tr in demos)
    assert all(int(tr.obs[:, :, :10].max()) == 0 for tr in demos)  # the score stays masked


def test_per_rollout_rewards_on_frames_equal_the_model_on_the_frames() -> None:
    pytest.importorskip("ale_py")
    from rewardlab.rewards import NeuralReward, RewardNetSpec

    model = NeuralReward(RewardNetSpec((4, 84, 84), architecture="cnn", hidden=(16,)), members=2, seed=0)
    calibration = noise_rollouts(lambda: atari_env("Breakout"), lambda o: np.ones(len(o), np.int64), (1.0,), 1, seed=3, max_steps=40)
    model.normalize(calibration[0].obs)  # unit-std outputs on frames, so that rewards differ frame to frame
    hp = {"n_envs": 2, "n_steps": 16, "batch_size": 16, "n_epochs": 1}
    # "auto" batches the reward per rollout for PPO on frames
    trained = train_policy(lambda: atari_env("Breakout"), steps=32, reward=model, normalize="none", hyperparams=hp)
    assert trained.model.get_env().env_is_wrapped(LearnedReward) == [False, False]  # not the per-step wrapper
    buffer = trained.model.rollout_buffer
    # after PPO's update SB3 has flattened the observations env-major; the rewards stay (n_steps, n_envs)
    frames = buffer.observations.reshape(32, 4, 84, 84)
    assert frames.dtype == np.uint8  # the net scales uint8 frames to [0, 1]; float frames would not be
    with torch.no_grad():
        expected = model(torch.as_tensor(frames)).numpy()
    assert expected.std() > 0.05
    np.testing.assert_allclose(buffer.rewards.swapaxes(0, 1).reshape(-1), expected, rtol=1e-5, atol=1e-6)
