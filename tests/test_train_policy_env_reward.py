"""`rewardlab train-policy` without `--reward` trains on the env's own reward: the baseline every learned
reward is compared with."""

from __future__ import annotations

import json

import torch
from stable_baselines3 import PPO
from typer.testing import CliRunner

from rewardlab.cli import app
from rewardlab.rl import train_policy

runner = CliRunner()
TINY = ["--steps", "128", "--set", "n_steps=64", "--set", "n_envs=1", "--set", "n_epochs=1"]


def test_train_policy_without_reward_trains_on_the_env_reward(tmp_path):
    r = runner.invoke(app, ["train-policy", "--env", "Pendulum-v1", "--out", str(tmp_path / "ppo"), *TINY])
    assert r.exit_code == 0, r.output
    assert "with the env's reward" in r.output
    result = json.loads((tmp_path / "ppo" / "result.json").read_text())
    assert result["reward"] is None and result["normalize"] is None and result["ctrl_cost"] is None
    assert result["steps"] == 128 and result["beats_best_demo"] is None and "env's own reward" in result["beats_best_demo_reason"]
    # the same policy as the library's env-reward training (reward=None) with the same seed
    direct = train_policy("Pendulum-v1", steps=128, seed=0, hyperparams={"n_steps": 64, "n_envs": 1, "n_epochs": 1}).model
    saved = PPO.load(tmp_path / "ppo" / "model.zip")
    for (name, p), q in zip(saved.policy.state_dict().items(), direct.policy.state_dict().values(), strict=True):
        torch.testing.assert_close(p, q, msg=name)


def test_control_cost_without_reward_is_refused(tmp_path):
    r = runner.invoke(app, ["train-policy", "--env", "Pendulum-v1", "--out", str(tmp_path / "ppo"), "--ctrl-cost", "0.1", *TINY])
    assert r.exit_code == 2 and "ctrl_cost" in r.output and "--reward" in r.output
