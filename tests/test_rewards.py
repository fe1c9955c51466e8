"""Neural reward models and the env wrappers: save/load round trips, normalisation, and wrapped
rewards equal to the model's."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from rewardlab.errors import ConfigError, DataFileError, ShapeError
from rewardlab.rewards import NeuralReward, RewardNetSpec
from rewardlab.rewards.wrappers import LearnedReward, RunningNormalizer, VectorLearnedReward


@pytest.mark.parametrize(
    ("spec", "obs", "act"),
    [
        (RewardNetSpec((5,), "mlp", (16, 16), act_dim=3, discrete_actions=True), torch.randn(7, 5), torch.randint(3, (7,))),
        (RewardNetSpec((5,), "mlp", (16,), act_dim=2), torch.randn(7, 5), torch.randn(7, 2)),
        (RewardNetSpec((5,), "linear"), torch.randn(7, 5), None),
        (RewardNetSpec((4, 84, 84), "cnn", (32,)), torch.randint(0, 256, (3, 4, 84, 84), dtype=torch.uint8), None),
    ],
)
def test_save_then_load_gives_identical_outputs(tmp_path, spec, obs, act) -> None:
    model = NeuralReward(spec, members=2, seed=5)
    model.normalize(obs, act)
    model.save(tmp_path / "r")
    back = NeuralReward.load(tmp_path / "r")
    assert back.spec == spec
    assert torch.equal(back.offset, model.offset) and torch.equal(back.scale, model.scale)
    with torch.no_grad():
        assert torch.equal(back(obs, act), model(obs, act))
        assert torch.equal(back.member_rewards(obs, act), model.member_rewards(obs, act))


def test_load_rejects_missing_corrupt_and_mismatched_files(tmp_path) -> None:
    model = NeuralReward(RewardNetSpec((3,), hidden=(4,)))
    with pytest.raises(DataFileError, match="missing"):
        NeuralReward.load(tmp_path / "nothing")
    model.save(tmp_path / "r")
    (tmp_path / "r" / "reward.safetensors").write_bytes(b"garbage")
    with pytest.raises(DataFileError, match="unreadable"):
        NeuralReward.load(tmp_path / "r")
    model.save(tmp_path / "r")
    NeuralReward(RewardNetSpec((3,), hidden=(8,))).save(tmp_path / "other")
    (tmp_path / "r" / "reward.json").write_text((tmp_path / "other" / "reward.json").read_text())
    with pytest.raises(DataFileError, match="do not match"):
        NeuralReward.load(tmp_path / "r")


def test_spec_and_input_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match="obs_shape"):
        RewardNetSpec((4, 4), "mlp")
    with pytest.raises(ConfigError, match="architecture"):
        RewardNetSpec((4,), "transformer")  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match="obs"):
        NeuralReward(RewardNetSpec((3,), hidden=(4,)))(torch.zeros(2, 4))


def test_normalisation_centres_and_scales_each_member() -> None:
    model = NeuralReward(RewardNetSpec((3,), hidden=(8,)), members=3)
    obs = torch.randn(500, 3)
    model.normalize(obs)
    r = model.member_rewards(obs).detach()
    assert torch.allclose(r.mean(1), torch.zeros(3), atol=1e-5)
    assert torch.allclose(r.std(1), torch.ones(3), atol=1e-4)
    mean, std = model.predict(obs)
    assert torch.allclose(mean, r.mean(0)) and torch.allclose(std, r.std(0, unbiased=False))


@given(st.lists(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=20), min_size=1, max_size=5))
def test_running_normalizer_matches_numpy(batches: list[list[float]]) -> None:
    n = RunningNormalizer()
    for b in batches:
        n.update(np.array(b))
    allv = np.concatenate([np.array(b) for b in batches])
    assert n.mean == pytest.approx(allv.mean(), abs=1e-6 * (1 + abs(allv).max()))
    assert n.var == pytest.approx(allv.var(), rel=1e-6, abs=1e-6 * (1 + allv.var()))


def test_wrapper_rewards_equal_the_models() -> None:
    model = NeuralReward(RewardNetSpec((3,), hidden=(8,), act_dim=1), members=2, seed=1)
    env = LearnedReward(gym.make("Pendulum-v1"), model, ctrl_cost=0.1)
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = rng.uniform(-2, 2, size=1).astype(np.float32)
        expected = float(model(torch.as_tensor(obs[None]), torch.as_tensor(a[None])).detach()) - 0.1 * float(a @ a)
        # Pendulum's own reward is kept: -(theta^2 + 0.1 thetadot^2 + 0.001 u^2) at the state before the step
        true = -(np.arctan2(obs[1], obs[0]) ** 2 + 0.1 * obs[2] ** 2 + 0.001 * float(a @ a))
        obs, r, _, _, info = env.step(a)
        assert r == pytest.approx(expected, rel=1e-6, abs=1e-6)
        assert info["true_reward"] == pytest.approx(true, rel=1e-5, abs=1e-5)


def test_vector_wrapper_matches_the_single_env_wrapper_and_zeroes_autoreset_steps() -> None:
    model = NeuralReward(RewardNetSpec((3,), hidden=(8,)), seed=2)
    envs = VectorLearnedReward(
        gym.make_vec("Pendulum-v1", num_envs=2, wrappers=[lambda e: gym.wrappers.TimeLimit(e, 5)]), model, normalize="sigmoid"
    )
    singles = [LearnedReward(gym.wrappers.TimeLimit(gym.make("Pendulum-v1"), 5), model, normalize="sigmoid") for _ in range(2)]
    envs.reset(seed=[0, 1])
    for k, single in enumerate(singles):
        single.reset(seed=k)
    a = np.zeros((2, 1), np.float32)
    for t in range(7):
        _, r, _, _, _ = envs.step(a)
        if t < 5:
            for k, single in enumerate(singles):
                _, rk, *_ = single.step(a[k])
                assert r[k] == pytest.approx(rk, rel=1e-6)
        if t == 5:  # the autoreset step: the action is ignored and the reward is 0
            assert r.tolist() == [0.0, 0.0]


def test_pessimistic_reward_penalises_disagreement_and_drives_the_wrapper() -> None:
    from rewardlab.rewards import PessimisticReward

    model = NeuralReward(RewardNetSpec((3,), hidden=(8,)), members=3, seed=1)
    obs = torch.randn(20, 3)
    with torch.no_grad():
        mean, std = model.predict(obs)
        members = model.member_rewards(obs)
    # mean minus k population standard deviations of the three members' rewards
    assert torch.allclose(std, ((members - members.mean(0)) ** 2).mean(0).sqrt(), atol=1e-6)
    with torch.no_grad():
        assert torch.allclose(PessimisticReward(model, 0.0)(obs), mean)
        assert torch.allclose(PessimisticReward(model, 1.0)(obs), mean - std, atol=1e-6)
    env = LearnedReward(gym.make("Pendulum-v1"), PessimisticReward(model, 1.5))
    o, _ = env.reset(seed=0)
    _, r, _, _, _ = env.step(np.zeros(1, np.float32))
    with torch.no_grad():
        m, s = model.predict(torch.as_tensor(o[None]))
    assert r == pytest.approx(float(m[0] - 1.5 * s[0]), rel=1e-5)
    with pytest.raises(ConfigError, match="model"):
        PessimisticReward(NeuralReward(RewardNetSpec((3,), hidden=(8,))), 1.0)
    with pytest.raises(ConfigError, match="k"):
        PessimisticReward(model, -1.0)


def test_clipped_input_reward_is_the_model_inside_the_box_and_constant_beyond_it() -> None:
    from rewardlab.rewards import ClippedInputReward, PessimisticReward

    model = NeuralReward(RewardNetSpec((3,), hidden=(8,)), members=2, seed=3)
    data = torch.rand(50, 3) * torch.tensor([1.0, 2.0, 4.0]) - 1.0
    clipped = ClippedInputReward.from_data(PessimisticReward(model, 1.0), data, margin=0.25)
    span = data.max(0).values - data.min(0).values
    assert torch.allclose(clipped.low, data.min(0).values - 0.25 * span)
    assert torch.allclose(clipped.high, data.max(0).values + 0.25 * span)
    with torch.no_grad():
        inside = data[:10]
        assert torch.equal(clipped(inside), PessimisticReward(model, 1.0)(inside))
        # any point beyond the box scores what its projection onto the box scores
        far = torch.tensor([[100.0, -100.0, 0.0], [-7.0, 0.5, 1e6]])
        projected = torch.maximum(torch.minimum(far, clipped.high), clipped.low)
        assert torch.equal(clipped(far), clipped(projected))
        further = torch.tensor([[300.0, -200.0, 0.0], [-70.0, 0.5, 1e7]])  # same in-box coordinates
        assert torch.equal(clipped(further), clipped(far))
    # it drives the env wrapper like any reward model
    env = LearnedReward(gym.make("Pendulum-v1"), clipped)
    o, _ = env.reset(seed=0)
    _, r, _, _, _ = env.step(np.zeros(1, np.float32))
    with torch.no_grad():
        assert r == pytest.approx(float(clipped(torch.as_tensor(o[None]))[0]), rel=1e-6)
    with pytest.raises(ConfigError, match="margin"):
        ClippedInputReward.from_data(model, data, margin=-0.1)
    with pytest.raises(ConfigError, match="low/high"):
        ClippedInputReward(model, torch.zeros(2), torch.ones(2))  # the model takes 3 dimensions
    with pytest.raises(ConfigError, match="low/high"):
        ClippedInputReward(model, torch.ones(3), torch.zeros(3))
