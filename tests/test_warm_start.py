"""Warm-starting PPO's actor from a behavioural-cloning policy (``train_policy(init_policy=...)``)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from torch import nn

from rewardlab.data import Trajectory
from rewardlab.errors import ConfigError
from rewardlab.irl.bc import fit_gym_bc
from rewardlab.rl import init_actor, train_policy


def _clone(hidden: tuple[int, ...]):
    """A clone of a made-up Pendulum controller, with observations far from standardised."""
    rng = np.random.default_rng(0)
    obs = np.column_stack([rng.uniform(-1, 1, 201), rng.uniform(-1, 1, 201), rng.uniform(-8, 8, 201)]).astype(np.float32)
    acts = np.clip(-2.0 * obs[:-1, 1:2] - 0.3 * obs[:-1, 2:3], -2, 2).astype(np.float32)
    demo = Trajectory(obs, acts)
    return fit_gym_bc([demo], gym.make("Pendulum-v1").action_space, rng=np.random.default_rng(1), hidden=hidden, epochs=300)


def test_warm_started_actor_acts_like_the_clone() -> None:
    bc = _clone((16, 16))
    model = train_policy("Pendulum-v1", steps=0, seed=0, init_policy=bc).model
    obs = np.random.default_rng(2).uniform([-1, -1, -8], [1, 1, 8], (64, 3)).astype(np.float32)
    ours, _ = model.predict(obs, deterministic=True)
    np.testing.assert_allclose(ours, bc.predict(obs)[0], atol=1e-4)
    assert np.ptp(ours) > 0.5  # a real controller, not a constant that would match trivially
    # training moves on from the clone: one PPO update changes the actor
    trained = train_policy(
        "Pendulum-v1", steps=1, seed=0, init_policy=bc, hyperparams={"n_envs": 1, "n_steps": 64, "batch_size": 32, "n_epochs": 1}
    ).model
    assert not np.allclose(trained.predict(obs, deterministic=True)[0], ours, atol=1e-4)


def test_warm_start_refuses_what_it_cannot_copy() -> None:
    bc = _clone((16,))
    with pytest.raises(ConfigError, match="init_policy"):
        train_policy(
            "Pendulum-v1",
            steps=0,
            init_policy=bc,
            hyperparams={"policy_kwargs": {"net_arch": {"pi": [32], "vf": [8]}, "activation_fn": nn.ReLU}},
        )
    with pytest.raises(ConfigError, match="init_policy"):
        train_policy("Pendulum-v1", steps=0, init_policy=bc, hyperparams={"policy_kwargs": {"net_arch": {"pi": [16, 16], "vf": [8]}}})
    with pytest.raises(ConfigError, match="init_policy"):
        train_policy("Pendulum-v1", steps=0, algo="sac", init_policy=bc)
    model = train_policy("Pendulum-v1", steps=0, init_policy=bc).model
    init_actor(model, bc)  # idempotent on a matching actor


def test_critic_warmup_trains_the_value_function_only() -> None:
    import torch

    bc = _clone((16, 16))
    small = {"n_envs": 1, "n_steps": 64, "batch_size": 32, "n_epochs": 2}
    obs = np.random.default_rng(3).uniform([-1, -1, -8], [1, 1, 8], (32, 3)).astype(np.float32)
    fresh = train_policy("Pendulum-v1", steps=0, seed=0, init_policy=bc, hyperparams=small).model
    critic_only = train_policy("Pendulum-v1", steps=128, seed=0, init_policy=bc, hyperparams=small, critic_warmup=128).model
    both = train_policy("Pendulum-v1", steps=192, seed=0, init_policy=bc, hyperparams=small, critic_warmup=128).model
    with torch.no_grad():
        values = [m.policy.predict_values(torch.as_tensor(obs)) for m in (fresh, critic_only)]
    assert not torch.allclose(*values)  # the critic learned ...
    np.testing.assert_array_equal(
        critic_only.predict(obs, deterministic=True)[0], fresh.predict(obs, deterministic=True)[0]
    )  # ... the actor did not
    assert both.num_timesteps == 192
    assert not np.allclose(both.predict(obs, deterministic=True)[0], fresh.predict(obs, deterministic=True)[0], atol=1e-4)  # then it does
    with pytest.raises(ConfigError, match="critic_warmup"):
        train_policy("Pendulum-v1", steps=64, init_policy=bc, critic_warmup=65)


def test_critic_warmup_lr_applies_to_the_warmup_only() -> None:
    import torch

    bc = _clone((16,))
    small = {"n_envs": 1, "n_steps": 64, "batch_size": 32, "n_epochs": 2}
    obs = torch.as_tensor(np.random.default_rng(4).uniform([-1, -1, -8], [1, 1, 8], (32, 3)).astype(np.float32))

    def critic(**kw):
        model = train_policy("Pendulum-v1", steps=128, seed=0, init_policy=bc, critic_warmup=128, **kw).model
        with torch.no_grad():
            return model, model.policy.predict_values(obs)

    # a warm-up at critic_warmup_lr=x is the warm-up at learning rate x, whatever the rate afterwards
    _, at_x = critic(hyperparams={**small, "learning_rate": 1e-3})
    _, via_warmup_lr = critic(hyperparams={**small, "learning_rate": 1e-6}, critic_warmup_lr=1e-3)
    _, at_main = critic(hyperparams={**small, "learning_rate": 1e-6})
    torch.testing.assert_close(via_warmup_lr, at_x)
    assert not torch.allclose(at_main, at_x)
    # afterwards PPO trains at its own rate again
    model = train_policy(
        "Pendulum-v1",
        steps=192,
        seed=0,
        init_policy=bc,
        critic_warmup=128,
        critic_warmup_lr=1e-3,
        hyperparams={**small, "learning_rate": 1e-6},
    ).model
    assert model.policy.optimizer.param_groups[0]["lr"] == pytest.approx(1e-6)
    for bad in ({"critic_warmup_lr": 1e-3}, {"critic_warmup": 64, "critic_warmup_lr": 0.0}):
        with pytest.raises(ConfigError, match="critic_warmup_lr"):
            train_policy("Pendulum-v1", steps=128, init_policy=bc, **bad)


def test_clone_save_load_round_trip_and_corruption(tmp_path) -> None:
    from rewardlab.errors import DataFileError
    from rewardlab.irl.bc import GymBCPolicy

    bc = _clone((16, 8))
    bc.save(tmp_path / "bc")
    back = GymBCPolicy.load(tmp_path / "bc")
    obs = np.random.default_rng(4).uniform([-1, -1, -8], [1, 1, 8], (32, 3)).astype(np.float32)
    np.testing.assert_array_equal(back.predict(obs)[0], bc.predict(obs)[0])
    (tmp_path / "bc" / "policy.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(DataFileError, match=r"policy\.safetensors"):
        GymBCPolicy.load(tmp_path / "bc")
    with pytest.raises(DataFileError, match=r"policy\.json"):
        GymBCPolicy.load(tmp_path / "nowhere")
