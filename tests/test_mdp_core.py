"""TabularMDP: validation with clear errors, constructors and conversions."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from rewardlab.errors import ProbabilityError, RewardLabError, ShapeError, ValidationError
from rewardlab.mdp import TabularMDP
from rewardlab.mdp.worlds import chain, random_mdp


def two_state(**overrides):
    args = dict(successors=[[[0, 1]], [[1, 1]]], probabilities=[[[0.5, 0.5]], [[1.0, 0.0]]], initial=[1.0, 0.0], discount=0.9)
    args.update(overrides)
    return TabularMDP(**args)


def test_valid_mdp_properties():
    mdp = two_state(features=np.eye(2))
    assert (mdp.n_states, mdp.n_actions, mdp.branching, mdp.n_features) == (2, 1, 2, 2)
    assert mdp.dtype == torch.float64 and not mdp.is_finite_horizon
    assert mdp.successors.shape == (2, 1, 2) and mdp.successors.dtype == torch.int64


@pytest.mark.parametrize(
    ("overrides", "error", "field"),
    [
        (dict(probabilities=[[[0.5, 0.4]], [[1.0, 0.0]]]), ProbabilityError, "probabilities"),
        (dict(probabilities=[[[1.5, -0.5]], [[1.0, 0.0]]]), ProbabilityError, "probabilities"),
        (dict(probabilities=[[[float("nan"), 0.5]], [[1.0, 0.0]]]), ProbabilityError, "probabilities"),
        (dict(successors=[[[0, 2]], [[1, 1]]]), ValidationError, "successors"),
        (dict(successors=[[[0, -1]], [[1, 1]]]), ValidationError, "successors"),
        (dict(successors=[[0, 1], [1, 1]]), ShapeError, "successors"),
        (dict(successors=[[[0.0, 1.0]], [[1.0, 1.0]]]), ValidationError, "successors"),
        (dict(probabilities=[[[1.0]], [[1.0]]]), ShapeError, "probabilities"),
        (dict(initial=[0.5, 0.2]), ProbabilityError, "initial"),
        (dict(initial=[1.0, 0.0, 0.0]), ShapeError, "initial"),
        (dict(initial=[1.5, -0.5]), ProbabilityError, "initial"),
        (dict(discount=0.0), ValidationError, "discount"),
        (dict(discount=1.0), ValidationError, "discount"),
        (dict(horizon=0), ValidationError, "horizon"),
        (dict(horizon=2.5), ValidationError, "horizon"),
        (dict(features=np.ones((3, 2))), ShapeError, "features"),
        (dict(features=np.array([[np.inf], [0.0]])), ValidationError, "features"),
        (dict(terminal=[True]), ShapeError, "terminal"),
    ],
)
def test_invalid_input_names_the_field(overrides, error, field):
    with pytest.raises(error) as info:
        two_state(**overrides)
    assert info.value.field == field
    assert field in str(info.value) and "Fix:" in str(info.value)
    assert isinstance(info.value, RewardLabError)


def test_discount_one_allowed_with_horizon():
    assert two_state(discount=1.0, horizon=3).horizon == 3


def test_frozen():
    mdp = two_state()
    with pytest.raises(AttributeError):
        mdp.discount = 0.5


def test_dense_round_trip_random():
    world = random_mdp(7, 3, 3, seed=4)
    P = world.mdp.to_dense()
    again = TabularMDP.from_dense(P, world.mdp.initial, discount=0.9)
    assert torch.allclose(again.to_dense(), P)
    assert again.branching == 3
    assert torch.allclose(P.sum(-1), torch.ones(7, 3, dtype=torch.float64))


def test_from_dense_rejects_bad_shape():
    with pytest.raises(ShapeError, match="transitions"):
        TabularMDP.from_dense(np.ones((2, 2, 3)) / 3, [1.0, 0.0], discount=0.9)


def test_replace_revalidates():
    mdp = chain(3)
    assert mdp.replace(horizon=5, discount=1.0).horizon == 5
    with pytest.raises(ValidationError, match="discount"):
        mdp.replace(discount=2.0)


def test_to_float32_and_back():
    mdp = random_mdp(5, 2, 2, seed=1).mdp
    m32 = mdp.to(dtype=torch.float32)
    assert m32.dtype == torch.float32 and m32.successors.dtype == torch.int64
    assert torch.allclose(m32.to(dtype=torch.float64).to_dense(), mdp.to_dense(), atol=1e-6)


@pytest.mark.parametrize("env_id", ["FrozenLake-v1", "CliffWalking-v1", "Taxi-v4"])
def test_from_gymnasium_matches_transition_table(env_id):
    env = gym.make(env_id)
    mdp = TabularMDP.from_gymnasium(env)
    P = mdp.to_dense().numpy()
    table = env.unwrapped.P
    for s in range(0, mdp.n_states, 7):
        for a in range(mdp.n_actions):
            expected = np.zeros(mdp.n_states)
            for p, nxt, _r, _d in table[s][a]:
                expected[nxt] += p
            np.testing.assert_allclose(P[s, a], expected, atol=1e-12)
    assert abs(float(mdp.initial.sum()) - 1) < 1e-12


def test_from_gymnasium_rejects_envs_without_table():
    with pytest.raises(ValidationError, match="env"):
        TabularMDP.from_gymnasium(gym.make("CartPole-v1"))


def test_to_dense_refuses_huge():
    succ = torch.zeros(30_000, 1, 1, dtype=torch.int64)
    big = TabularMDP(
        succ, torch.ones(30_000, 1, 1, dtype=torch.float64), torch.full((30_000,), 1 / 30_000, dtype=torch.float64), discount=0.9
    )
    with pytest.raises(ValidationError, match="n_states"):
        big.to_dense()


def test_errors_survive_pickling_across_processes():
    import pickle

    from rewardlab.errors import ConfigError

    err = pickle.loads(pickle.dumps(ConfigError("size", "is 1", "use at least 2")))
    assert isinstance(err, ConfigError) and err.field == "size" and str(err) == "size: is 1. Fix: use at least 2."
