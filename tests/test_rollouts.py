"""Tabular rollouts: seeded, honour terminals and noise, and their visitation converges to the exact one."""

import numpy as np
import pytest
import torch

from rewardlab.data import Trajectory, TrajectoryDataset, empirical_visitation, feature_counts, sample_tabular, start_distribution
from rewardlab.errors import ShapeError, ValidationError
from rewardlab.mdp import feature_expectations, occupancy, soft_value_iteration
from rewardlab.mdp.worlds import chain, objectworld


def test_empirical_visitation_converges_to_occupancy():
    world = objectworld(8, seed=0)
    mdp = world.mdp.replace(horizon=10, discount=1.0)
    pi = soft_value_iteration(mdp, world.reward).policy
    demos = sample_tabular(mdp, pi, 20_000, rng=np.random.default_rng(0))
    emp = empirical_visitation(demos, 64)
    exact = occupancy(mdp, pi).numpy()
    assert abs(emp.sum() - 10) < 1e-9
    assert np.abs(emp - exact).max() < 0.03  # ~5 standard errors at 20k episodes
    f_emp = feature_counts(demos, mdp.features)
    assert np.allclose(f_emp, feature_expectations(mdp, torch.as_tensor(emp)).numpy())
    assert np.allclose(f_emp, feature_expectations(mdp, torch.as_tensor(exact)).numpy(), rtol=0.02)


def test_same_seed_same_episodes_and_rewards_recorded():
    world = objectworld(6, seed=1)
    pi = torch.full((36, 5), 0.2, dtype=torch.float64)
    a = sample_tabular(world.mdp, pi, 5, rng=np.random.default_rng(3), length=8, reward=world.reward)
    b = sample_tabular(world.mdp, pi, 5, rng=np.random.default_rng(3), length=8, reward=world.reward)
    assert all(np.array_equal(x.obs, y.obs) and np.array_equal(x.acts, y.acts) for x, y in zip(a, b, strict=True))
    assert np.allclose(a[0].rews, world.reward.numpy()[a[0].obs[:-1]])


def test_terminal_states_end_episodes():
    mdp = chain(4, horizon=10).replace(terminal=[False, False, True, False])
    go = torch.tensor([[0.0, 1.0]] * 4, dtype=torch.float64).expand(10, 4, 2)
    ds = sample_tabular(mdp, go, 3, rng=np.random.default_rng(0))
    assert all(tr.obs.tolist() == [0, 1, 2, 3] and tr.terminal for tr in ds)
    assert abs(float(occupancy(mdp, go).sum()) - empirical_visitation(ds, 4).sum()) < 1e-12


def test_epsilon_noise_mixes_in_uniform_actions():
    mdp = chain(2, discount=0.9)
    stay = torch.tensor([[1.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    ds = sample_tabular(mdp, stay, 4000, rng=np.random.default_rng(1), length=1, epsilon=0.5)
    frac_move = np.mean([tr.acts[0] for tr in ds])
    assert abs(frac_move - 0.25) < 0.03


def test_rollout_errors():
    mdp = chain(2, discount=0.9)
    pi = torch.full((2, 2), 0.5)
    with pytest.raises(ValidationError, match="length"):
        sample_tabular(mdp, pi, 2, rng=np.random.default_rng(0))
    with pytest.raises(ShapeError, match="policy"):
        sample_tabular(mdp, torch.full((3, 2), 0.5), 2, rng=np.random.default_rng(0), length=3)
    with pytest.raises(ValidationError, match="epsilon"):
        sample_tabular(mdp, pi, 2, rng=np.random.default_rng(0), length=3, epsilon=2.0)


def test_trajectory_validation_and_dataset():
    with pytest.raises(ShapeError, match="obs"):
        Trajectory(np.array([0, 1]), np.array([0, 1]))
    with pytest.raises(ShapeError, match="rews"):
        Trajectory(np.array([0, 1]), np.array([0]), rews=np.array([1.0, 2.0]))
    ds = TrajectoryDataset([Trajectory(np.array([0, 1, 1]), np.array([1, 0]), rews=np.array([0.0, 2.0]))] * 3)
    assert ds.returns().tolist() == [2.0] * 3 and len(ds[:2]) == 2 and ds.n_decisions == 6
    with pytest.raises(ValidationError, match="obs"):
        empirical_visitation(ds, 1)
    with pytest.raises(ValidationError, match="trajectories"):
        start_distribution([], 3)
