"""MaxEnt, maximum causal entropy and Deep MaxEnt IRL recover known rewards on small worlds."""

import numpy as np
import pytest
import torch

from rewardlab.data import sample_tabular
from rewardlab.errors import ConfigError, ValidationError
from rewardlab.eval import expected_value_difference, reward_distance
from rewardlab.irl.deep_maxent import DeepMaxEntConfig, DeepMaxEntIRL, FeatureScaling, predict_reward
from rewardlab.irl.maxent import MaxEntConfig, MaxEntIRL, model_mdp
from rewardlab.mdp import occupancy, soft_value_iteration, value_iteration
from rewardlab.mdp.worlds import binaryworld, navigation_gridworld, objectworld, random_mdp

RNG = np.random.default_rng


@pytest.fixture(scope="module")
def navigation():
    world = navigation_gridworld()
    demos = sample_tabular(world.mdp, soft_value_iteration(world.mdp, world.reward).policy, 50, rng=RNG(0))
    return world, demos


def agreement_on_demonstrated_states(world, learned_reward, demos) -> float:
    expert = value_iteration(world.mdp, world.reward).policy
    mine = value_iteration(world.mdp, learned_reward).policy
    states, _, times = demos.decisions()
    best = expert[times, states] > 0
    return float((best * (mine[times, states] > 0)).any(-1).double().mean())


@pytest.mark.parametrize(("optimizer", "lr"), [("gd", 0.05), ("adam", 0.1), ("lbfgs", 1.0)])
def test_linear_maxent_recovers_the_navigation_policy(navigation, optimizer, lr):
    world, demos = navigation
    result = MaxEntIRL(MaxEntConfig(optimizer=optimizer, lr=lr, iterations=150)).fit(demos, world.mdp, rng=RNG(0))
    assert agreement_on_demonstrated_states(world, result.reward.values, demos) >= 0.95
    assert expected_value_difference(world.mdp, world.reward, result.reward.values, initial="mdp") < 1e-6
    w = result.reward.weights
    assert int(w.argmax()) == 4 and float(w[0]) > float(w[3])  # goal best, road beats water
    obj = result.history["objective"]
    assert obj[-1] > obj[0] and not torch.allclose(w, torch.zeros_like(w))


def test_optimisers_reach_the_same_objective(navigation):
    world, demos = navigation
    gd, adam, lbfgs = [
        MaxEntIRL(MaxEntConfig(optimizer=o, lr=lr, iterations=400, l2=0.1)).fit(demos, world.mdp, rng=RNG(0)).history["objective"][-1]
        for o, lr in [("gd", 0.05), ("adam", 0.05), ("lbfgs", 1.0)]
    ]
    # the L2-penalised linear problem is strictly concave: one optimum
    assert abs(gd - lbfgs) < 1e-5
    assert lbfgs - 0.1 < adam <= lbfgs + 1e-9  # Adam at a constant step approaches it more slowly


def test_fit_stops_at_the_truth_when_demos_are_exact():
    """Starting anywhere, the learned weights give the expert's visitation back (moment matching)."""
    world = random_mdp(10, 3, 1, seed=2)
    mdp = world.mdp.replace(horizon=6, discount=1.0)
    expert = soft_value_iteration(mdp, world.reward).policy
    demos = sample_tabular(mdp, expert, 4000, rng=RNG(1))
    result = MaxEntIRL(MaxEntConfig(optimizer="lbfgs", lr=1.0, iterations=300, start="mdp")).fit(demos, mdp, rng=RNG(0))
    mu_learned = occupancy(mdp, result.policy) @ mdp.features
    mu_demo = torch.as_tensor(np.mean([mdp.features[tr.obs[:-1]].sum(0).numpy() for tr in demos], axis=0))
    assert torch.allclose(mu_learned, mu_demo, atol=1e-4)
    assert reward_distance(mdp, world.reward, result.reward.values) < 0.15


def test_state_and_state_action_tables_and_l1(navigation):
    world, demos = navigation
    state = MaxEntIRL(MaxEntConfig(reward="state", iterations=150)).fit(demos, world.mdp, rng=RNG(0))
    assert state.reward.values.shape == (80,) and state.reward.weights is None
    assert agreement_on_demonstrated_states(world, state.reward.values, demos) >= 0.95
    sa = MaxEntIRL(MaxEntConfig(reward="state_action", iterations=150)).fit(demos, world.mdp, rng=RNG(0))
    assert sa.reward.values.shape == (80, 5)
    dense = MaxEntIRL(MaxEntConfig(reward="state", optimizer="gd", lr=0.05, iterations=150)).fit(demos, world.mdp, rng=RNG(0))
    sparse = MaxEntIRL(MaxEntConfig(reward="state", optimizer="gd", lr=0.05, iterations=150, l1=0.5)).fit(demos, world.mdp, rng=RNG(0))
    assert int((sparse.reward.values == 0).sum()) > int((dense.reward.values == 0).sum()) + 10


def test_causal_and_original_maxent_differ_only_with_stochastic_dynamics():
    world = objectworld(8, seed=1)
    demos = sample_tabular(world.mdp, value_iteration(world.mdp, world.reward).policy, 40, rng=RNG(0), length=8)
    fit = lambda causal, mdp: MaxEntIRL(MaxEntConfig(causal=causal, iterations=60)).fit(demos, mdp, rng=RNG(0)).reward.weights  # noqa: E731
    assert not torch.allclose(fit(True, world.mdp), fit(False, world.mdp), atol=1e-4)
    det = world.mdp.replace(successors=world.mdp.successors[:, :, :1], probabilities=torch.ones(64, 5, 1, dtype=torch.float64))
    assert torch.allclose(fit(True, det), fit(False, det), atol=1e-10)


def test_discounted_mdp_models_stationary_or_over_the_demo_length():
    world = objectworld(8, seed=0)
    demos = sample_tabular(world.mdp, value_iteration(world.mdp, world.reward).policy, 10, rng=RNG(0), length=8)
    assert model_mdp(world.mdp, demos).horizon == 8 and model_mdp(world.mdp, demos).discount == 0.9
    stationary = MaxEntIRL(MaxEntConfig(iterations=5)).fit(demos, world.mdp, rng=RNG(0))
    finite = MaxEntIRL(MaxEntConfig(iterations=5, model="finite")).fit(demos, world.mdp, rng=RNG(0))
    assert stationary.info["model"] == "stationary" and stationary.policy.shape == (64, 5)
    assert finite.info["model"] == "finite" and finite.policy.shape == (8, 64, 5)
    with pytest.raises(ConfigError, match="model"):
        MaxEntIRL(MaxEntConfig(model="stationary")).fit(demos, world.mdp.replace(horizon=8), rng=RNG(0))


def test_full_fit_on_32x32_objectworld_converges():
    """Its speed (target 2 s) is measured by benchmarks/maxent_fit.py, not asserted on shared cores."""
    world = objectworld(32, seed=0)
    demos = sample_tabular(world.mdp, value_iteration(world.mdp, world.reward).policy, 64, rng=RNG(0), length=8)
    fit = MaxEntIRL(MaxEntConfig(iterations=200, model="finite")).fit(demos, world.mdp, rng=RNG(0))
    assert fit.info["model"] == "finite" and fit.info["converged"]
    assert fit.info["iterations"] < 200 and np.isfinite(fit.history["objective"][-1])


def test_deep_maxent_beats_linear_on_a_nonlinear_reward():
    world = binaryworld(16, seed=0)
    uniform = torch.full((256,), 1 / 256, dtype=torch.float64)
    demos = sample_tabular(world.mdp, value_iteration(world.mdp, world.reward).policy, 64, rng=RNG(0), length=8, initial=uniform)
    linear = MaxEntIRL(MaxEntConfig(iterations=150, model="finite")).fit(demos, world.mdp, rng=RNG(0))
    deep = DeepMaxEntIRL(DeepMaxEntConfig(iterations=150, model="finite")).fit(demos, world.mdp, rng=RNG(0))
    evd_linear = expected_value_difference(world.mdp, world.reward, linear.reward.values)
    evd_deep = expected_value_difference(world.mdp, world.reward, deep.reward.values)
    assert evd_deep < 0.7 * evd_linear
    again = DeepMaxEntIRL(DeepMaxEntConfig(iterations=150, model="finite")).fit(demos, world.mdp, rng=RNG(0))
    assert torch.equal(again.reward.values, deep.reward.values)  # same seed, same result


def test_deep_maxent_cnn_runs_on_grid_features():
    world = binaryworld(8, seed=1)
    demos = sample_tabular(world.mdp, value_iteration(world.mdp, world.reward).policy, 32, rng=RNG(0), length=8)
    result = DeepMaxEntIRL(DeepMaxEntConfig(architecture="cnn", grid_shape=(8, 8), iterations=30)).fit(demos, world.mdp, rng=RNG(0))
    assert result.reward.values.shape == (64,) and result.history["objective"][-1] > result.history["objective"][0]


def test_quantile_scaling_is_the_standardised_average_rank_and_bounded():
    from scipy.stats import rankdata

    continuous = objectworld(16, seed=3).mdp.features.to(torch.float32)  # distances, with many ties
    quantile = FeatureScaling.fit(continuous, "quantile")
    ranks = torch.tensor(rankdata(continuous.numpy(), axis=0, method="average"), dtype=torch.float32)
    expected = 12**0.5 * ((ranks - 0.5) / len(ranks) - 0.5)  # mid-rank in (0, 1), standardised as a uniform
    scaled = quantile(continuous)
    assert torch.allclose(scaled, expected, atol=1e-5)
    assert scaled.mean(0).abs().max() < 1e-5 and torch.allclose(scaled.std(0), torch.ones(4), atol=0.02)
    # far beyond the reference range: no further out than one step past the largest reference value
    far = quantile(continuous * 100.0)
    assert far.max(0).values.le(scaled.max(0).values + 0.1).all()
    assert far.abs().max() <= 3**0.5 + 1e-5 and FeatureScaling.fit(continuous, "zscore")(continuous * 100.0).abs().max() > 100
    # a binary feature: centred, its two values sqrt(3) apart however rare its ones (z-scores grow as 1 / sqrt(p))
    binary = torch.zeros(100, 3)
    binary[:50, 0], binary[:10, 1], binary[:1, 2] = 1.0, 1.0, 1.0
    scaled = FeatureScaling.fit(binary, "quantile")(binary)
    assert torch.allclose(scaled[0] - scaled[-1], torch.full((3,), 3**0.5)) and scaled.mean(0).abs().max() < 1e-5
    zscored = FeatureScaling.fit(binary, "zscore")(binary)
    assert zscored[0, 2] - zscored[-1, 2] > 9.0
    assert torch.equal(FeatureScaling.fit(binary, "none")(binary), binary)
    with pytest.raises(ConfigError, match="feature_scaling"):
        DeepMaxEntConfig(feature_scaling="minmax")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="dropout"):
        DeepMaxEntConfig(dropout=1.0)


def test_input_l1_shrinks_the_first_layer_and_still_learns():
    world = objectworld(16, seed=1)
    demos = sample_tabular(world.mdp, value_iteration(world.mdp, world.reward).policy, 32, rng=RNG(0), length=8)
    mass = {}
    for l1 in (0.0, 0.05, 0.2):
        result = DeepMaxEntIRL(DeepMaxEntConfig(iterations=100, input_l1=l1)).fit(demos, world.mdp, rng=RNG(0))
        mass[l1] = float(next(result.info["network"].parameters()).detach().abs().sum())  # sum |W_1|
        assert result.history["objective"][-1] > result.history["objective"][0] + 3.0
    assert mass[0.2] < 0.5 * mass[0.05] and mass[0.05] < 0.6 * mass[0.0]
    with pytest.raises(ConfigError, match="input_l1"):
        DeepMaxEntConfig(input_l1=-1.0)


@pytest.mark.parametrize(("scaling", "dropout"), [("quantile", 0.0), ("zscore", 0.0), ("quantile", 0.5)])
def test_deep_maxent_predict_reward_reproduces_the_training_reward(scaling, dropout):
    world = objectworld(8, seed=1)
    demos = sample_tabular(world.mdp, value_iteration(world.mdp, world.reward).policy, 16, rng=RNG(0), length=8)
    config = DeepMaxEntConfig(iterations=20, feature_scaling=scaling, dropout=dropout)
    result = DeepMaxEntIRL(config).fit(demos, world.mdp, rng=RNG(0))
    assert torch.allclose(predict_reward(result, world.mdp.features), result.reward.values)  # dropout is off afterwards
    torch.manual_seed(123)  # the global RNG does not reach the fit: initialisation and masks come from rng
    assert torch.equal(DeepMaxEntIRL(config).fit(demos, world.mdp, rng=RNG(0)).reward.values, result.reward.values)
    transfer = objectworld(8, seed=2).mdp.features
    assert predict_reward(result, transfer).shape == (64,) and torch.isfinite(predict_reward(result, transfer)).all()


def test_callback_stops_and_config_errors(navigation):
    world, demos = navigation
    seen = []
    result = MaxEntIRL(MaxEntConfig(iterations=100)).fit(
        demos, world.mdp, rng=RNG(0), callback=lambda step, m: seen.append(step) or step == 4
    )
    assert seen == [0, 1, 2, 3, 4] and result.info["iterations"] == 5
    with pytest.raises(ConfigError, match="optimizer"):
        MaxEntConfig(optimizer="sgd")
    with pytest.raises(ConfigError, match="l1"):
        MaxEntConfig(optimizer="lbfgs", l1=0.1)
    with pytest.raises(ConfigError, match="grid_shape"):
        DeepMaxEntConfig(architecture="cnn")
    no_features = random_mdp(5, 2, 1, seed=0).mdp.replace(features=None, horizon=3, discount=1.0)
    few = sample_tabular(no_features, torch.full((3, 5, 2), 0.5, dtype=torch.float64), 3, rng=RNG(0))
    with pytest.raises(ValidationError, match=r"mdp\.features"):
        MaxEntIRL().fit(few, no_features, rng=RNG(0))
