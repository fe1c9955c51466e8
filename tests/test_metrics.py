"""Evaluation metrics: known answers and the invariances they promise."""

import numpy as np
import pytest
import torch

from rewardlab.data import sample_tabular
from rewardlab.errors import DataFileError, ShapeError
from rewardlab.eval import (
    expected_value_difference,
    feature_expectation_gap,
    heldout_log_likelihood,
    policy_loss,
    policy_value,
    reward_distance,
)
from rewardlab.mdp import bellman_backup, soft_value_iteration, value_iteration
from rewardlab.mdp.worlds import chain, objectworld, random_mdp
from rewardlab.rewards import TabularReward


def test_evd_is_zero_for_the_true_reward_and_positive_for_a_wrong_one():
    world = objectworld(8, seed=2)
    assert expected_value_difference(world.mdp, world.reward, world.reward) == pytest.approx(0.0, abs=1e-9)
    assert expected_value_difference(world.mdp, world.reward, 2 * world.reward + 3) == pytest.approx(0.0, abs=1e-9)
    assert expected_value_difference(world.mdp, world.reward, -world.reward) > 1.0


def test_policy_loss_by_hand_and_value():
    mdp = chain(2, discount=0.5)
    r = torch.tensor([0.0, 1.0])
    stay = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    # optimal from state 0: move then stay = 0 + 0.5 * 2 = 1; staying in 0 earns 0.
    assert policy_value(mdp, r, stay) == 0.0
    assert policy_loss(mdp, r, stay) == pytest.approx(1.0)
    assert policy_loss(mdp, r, value_iteration(mdp, r).policy) == pytest.approx(0.0, abs=1e-12)


def test_feature_gap():
    assert feature_expectation_gap([3.0, 4.0], [0.0, 0.0]) == 5.0
    with pytest.raises(ShapeError):
        feature_expectation_gap([1.0], [1.0, 2.0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reward_distance_ignores_shaping_scale_and_offset(seed):
    world = random_mdp(12, 3, 3, seed=seed, state_action_reward=True)
    mdp = world.mdp
    phi = torch.as_tensor(np.random.default_rng(seed).normal(size=12) * 5)
    shaped = 2.5 * (world.reward + bellman_backup(mdp, torch.zeros(12), phi) - phi[:, None]) - 7.0
    assert reward_distance(mdp, world.reward, shaped) == pytest.approx(0.0, abs=1e-6)
    assert reward_distance(mdp, world.reward, -world.reward) == pytest.approx(1.0, abs=1e-6)
    other = torch.as_tensor(np.random.default_rng(seed + 100).normal(size=(12, 3)))
    assert 0.3 < reward_distance(mdp, world.reward, other) < 0.95  # unrelated rewards: about sqrt(1/2)
    # a pure shaping term is distance 0 from zero reward
    assert reward_distance(mdp, bellman_backup(mdp, torch.zeros(12), phi) - phi[:, None], torch.zeros(12, 3)) == 0.0


def test_heldout_log_likelihood_prefers_the_true_model():
    world = objectworld(6, seed=0)
    mdp = world.mdp.replace(horizon=6, discount=1.0)
    expert = soft_value_iteration(mdp, world.reward)
    held = sample_tabular(mdp, expert.policy, 200, rng=np.random.default_rng(1))
    uniform = torch.full((6, 36, 5), 0.2, dtype=torch.float64)
    assert heldout_log_likelihood(mdp, expert.policy, held) > heldout_log_likelihood(mdp, uniform, held)
    assert heldout_log_likelihood(mdp, uniform, held) == pytest.approx(np.log(0.2))


def test_tabular_reward_save_load_round_trip_and_corruption(tmp_path):
    features = torch.as_tensor(np.random.default_rng(0).normal(size=(5, 3)))
    reward = TabularReward.linear(features, torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64))
    reward.save(tmp_path / "r")
    again = TabularReward.load(tmp_path / "r")
    assert torch.equal(again.values, reward.values) and torch.equal(again.weights, reward.weights)
    assert torch.equal(again(torch.tensor([4, 0])), reward.values[[4, 0]])
    (tmp_path / "r" / "reward.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(DataFileError, match="unreadable"):
        TabularReward.load(tmp_path / "r")
    with pytest.raises(DataFileError, match="missing"):
        TabularReward.load(tmp_path / "nowhere")
    sa = TabularReward(torch.zeros(3, 2))
    assert sa(torch.tensor([1]), torch.tensor([1])).tolist() == [0.0]
