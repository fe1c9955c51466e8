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
from rewardlab.rl import atari_env


def test_trex_cnn_on_breakout_end_to_end() -> None:
    pytest.importorskip("ale_py")
    from stable_baselines3 import PPO

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

    wrapped = LearnedReward(atari_env("Breakout"), model, normalize="sigmoid")
    ppo = PPO("CnnPolicy", wrapped, n_steps=32, batch_size=16, n_epochs=1, seed=0, device="cpu", verbose=0)
    ppo.learn(32)
    obs, _ = wrapped.reset(seed=1)
    _, r, _, _, info = wrapped.step(int(ppo.predict(obs)[0]))
    with torch.no_grad():
        expected = torch.sigmoid(model(torch.as_tensor(obs[None]))).item()
    assert r == pytest.approx(expected, rel=1e-5) and "true_reward" in info
