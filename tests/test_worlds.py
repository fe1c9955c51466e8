"""Worlds: built as the references describe, drawn, and addressable by spec strings."""

import numpy as np
import pytest
import torch

from rewardlab.errors import ConfigError
from rewardlab.mdp import soft_value_iteration, value_iteration
from rewardlab.mdp.worlds import (
    NAVIGATION_MAPS,
    binaryworld,
    cliff_walking,
    frozen_lake,
    make_world,
    navigation_gridworld,
    objectworld,
    random_mdp,
    taxi,
)


def test_objectworld_matches_the_reference_definition():
    world = objectworld(32, seed=0)
    mdp = world.mdp
    assert (mdp.n_states, mdp.n_actions, mdp.branching, mdp.discount) == (1024, 5, 5, 0.9)
    # move succeeds w.p. 0.7, else the other four actions' targets w.p. 0.075 each
    assert sorted(mdp.probabilities[0, 1].tolist()) == pytest.approx([0.075] * 4 + [0.7])
    feats = mdp.features.numpy()
    n_objects = sum(ch != "." for row in world.layout for ch in row)
    assert 0.02 < n_objects / 1024 < 0.09
    # features are Euclidean distances to the nearest object of each colour: 0 on the object itself
    assert (feats.min(0) == 0).all()
    d1, d2 = feats[:, 0], feats[:, 1]
    r = world.reward.numpy()
    assert np.array_equal(r == 5, (d1 <= 3) & (d2 <= 2))
    assert np.array_equal(r == -10, (d1 <= 3) & ~(d2 <= 2))
    assert set(np.unique(r)) <= {-10.0, 0.0, 5.0}


def test_objectworld_discrete_features_are_thresholds_of_the_continuous_ones():
    cont, disc = objectworld(32, seed=1), objectworld(32, seed=1, discrete=True)
    assert disc.mdp.n_features == 124
    d = cont.mdp.features.numpy()
    bits = disc.mdp.features.numpy().reshape(1024, 4, 31)
    assert np.array_equal(bits, (d[:, :, None] <= np.arange(1, 32)).astype(float))
    assert torch.equal(cont.reward, disc.reward)
    # "within distance d" makes the true reward an AND of two features: (colour 1 <= 3) and (colour 2 <= 2).
    # Euclidean grid distances fall between integers (sqrt 5, sqrt 10), so "< d" could not express it.
    near1, near2 = bits[:, 0, 2] == 1, bits[:, 1, 1] == 1
    assert np.array_equal(disc.reward.numpy(), np.where(near1 & near2, 5.0, np.where(near1, -10.0, 0.0)))


def test_binaryworld_reward_rule():
    world = binaryworld(32, seed=2)
    f = world.mdp.features.numpy()
    assert f.shape == (1024, 9) and set(np.unique(f)) == {0.0, 1.0}
    blue = np.array([[ch == "b" for ch in row] for row in world.layout], dtype=float)
    assert np.array_equal(f[:, 4], blue.reshape(-1))  # centre of the neighbourhood is the cell itself
    assert f[0, 0] == 0 and f[0, 1] == 0  # outside the grid counts as red
    count = f.sum(1)
    assert np.array_equal(world.reward.numpy(), np.where(count == 4, 1.0, np.where(count == 5, -1.0, 0.0)))


def test_navigation_default_map_and_optimal_route():
    world = navigation_gridworld()
    assert world.layout == NAVIGATION_MAPS["crossing"]
    assert world.mdp.horizon == 2 * (8 + 10)
    sol = value_iteration(world.mdp, world.reward)
    # the optimal robot never enters water
    water = world.mdp.features[:, 3].bool()
    from rewardlab.mdp import occupancy

    assert float(occupancy(world.mdp, sol.policy)[water].sum()) == 0.0
    assert torch.allclose(world.reward, world.mdp.features @ world.weights)


def test_navigation_random_map_and_weights():
    world = navigation_gridworld(size=(6, 7), seed=3, slip=0.1, weights={"goal": 10.0})
    assert world.shape == (6, 7) and world.mdp.branching == 5
    assert world.layout[0][-1] == "G" and world.layout[-1][0] == "S"
    assert float(world.reward.max()) == 10.0
    with pytest.raises(ConfigError, match="weights"):
        navigation_gridworld(weights={"lava": -1.0})
    with pytest.raises(ConfigError, match="layout"):
        navigation_gridworld(("ab", "cd"))


def test_random_mdp_is_seeded():
    a, b = random_mdp(7, 2, 3, seed=9), random_mdp(7, 2, 3, seed=9)
    assert torch.equal(a.mdp.successors, b.mdp.successors) and torch.equal(a.reward, b.reward)
    assert not torch.equal(a.reward, random_mdp(7, 2, 3, seed=10).reward)
    # successors of each (s, a) are distinct states
    succ = a.mdp.successors.numpy()
    assert all(len(set(row)) == 3 for row in succ.reshape(-1, 3))


def test_toy_text_worlds_solve():
    lake = frozen_lake()
    sol = value_iteration(lake.mdp, lake.reward)
    # the optimal slippery-FrozenLake start value (gamma 0.99) is about 0.54
    assert 0.5 < float(sol.values @ lake.mdp.initial) < 0.6
    cliff = cliff_walking()
    v = value_iteration(cliff.mdp, cliff.reward).values
    # the shortest safe path from the start (state 36) to the goal takes 13 steps at -1 each
    assert float(v[36]) == pytest.approx(-sum(0.99**t for t in range(13)), abs=1e-6)
    t = taxi()
    assert (t.mdp.n_states, t.mdp.n_actions) == (500, 6)
    assert torch.isfinite(soft_value_iteration(t.mdp, t.reward).values).all()


def test_ascii_and_plot(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    world = navigation_gridworld("tiny")
    sol = value_iteration(world.mdp, world.reward)
    arrows = world.ascii(policy=sol.policy)
    assert arrows.splitlines()[0].endswith("o")  # stay at the goal
    assert len(world.ascii(values=sol.values[0]).splitlines()) == 3
    ax = world.plot(values=sol.values[0], policy=sol.policy, trajectories=[[6, 7, 4, 1, 2]], title="t")
    ax.figure.savefig(tmp_path / "x.png")
    assert (tmp_path / "x.png").stat().st_size > 1000


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("nowhere", "world"),
        ("objectworld:size", "key=value"),
        ("objectworld:colour=3", "not a setting.*did you mean .n_colours."),
        ("objectworld:size=1", "size"),
    ],
)
def test_make_world_errors(spec, match):
    with pytest.raises(ConfigError, match=match):
        make_world(spec)


def test_make_world_parses_values():
    world = make_world("objectworld:size=8,seed=4,discrete=true")
    assert world.mdp.n_features == 4 * 7
    assert torch.equal(world.reward, objectworld(8, seed=4).reward)
