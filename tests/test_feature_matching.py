"""Feature-expectation matching (Abbeel & Ng 2004) and MWAL (Syed & Schapire 2007).

Apprenticeship learning recovers an optimal expert on deterministic worlds (where a single
demonstration per start state gives the exact ``mu_E``), its three small problems match hand
answers and each other (max-margin ``t`` = mixture gap, by the minimax theorem), and MWAL beats a
noisy demonstrator when the signs of the reward weights are known.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from rewardlab.data import Trajectory, sample_tabular, start_distribution
from rewardlab.errors import ConfigError, ValidationError
from rewardlab.eval.metrics import policy_loss, policy_value
from rewardlab.irl.feature_matching import (
    Apprenticeship,
    ApprenticeshipConfig,
    max_margin_weights,
    mixture_weights,
    policy_feature_expectations,
    projection_step,
)
from rewardlab.irl.mwal import MWAL, MWALConfig, mwal_beta, mwal_gain, mwal_update, scale_features
from rewardlab.mdp import value_iteration
from rewardlab.mdp.worlds import chain, navigation_gridworld, random_mdp

NAV_SIGNS = (-1, -1, -1, -1, 1)  # road, grass, rough, water cost; the goal pays


def _expert_mass_on_optimal_actions(mdp, reward, policy, demos):
    """Average probability ``policy`` puts on the true-optimal actions at the demonstrated ``(t, s)``."""
    q = value_iteration(mdp, reward).q_values  # (H, S, A)
    optimal = (q >= q.amax(-1, keepdim=True) - 1e-9).to(q.dtype)
    s, _, t = demos.decisions()
    return float((policy[t, s] * optimal[t, s]).sum(-1).mean())


# ----------------------------------------------------------------------------- apprenticeship learning
@pytest.mark.parametrize("method", ["projection", "max_margin"])
@pytest.mark.parametrize("world", ["crossing", "random8x8"])
def test_recovers_optimal_expert_on_navigation_gridworld(method, world):
    world = navigation_gridworld("crossing") if world == "crossing" else navigation_gridworld(size=(8, 8), seed=1)
    mdp = world.mdp
    expert = value_iteration(mdp, world.reward).policy  # time-indexed (H, S, A)
    demos = sample_tabular(mdp, expert, 20, rng=np.random.default_rng(0))
    config = ApprenticeshipConfig(method=method, epsilon=1e-3)
    result = Apprenticeship(config).fit(demos, mdp, rng=np.random.default_rng(0))
    info = result.info
    # Deterministic world and expert: mu_E is exact, so t (distance or margin) reaches epsilon.
    assert info["converged"] and info["t"] <= 1e-3 and result.history["t"][-1] <= 1e-3
    assert info["best_gap"] < 1e-9 and info["mixture_gap"] <= info["best_gap"] + 1e-9
    assert policy_loss(mdp, world.reward, result.policy) < 1e-9
    assert _expert_mass_on_optimal_actions(mdp, world.reward, result.policy, demos) >= 0.95
    # The returned reward is the one the returned policy is optimal for.
    assert torch.allclose(value_iteration(mdp, result.reward.values).policy, result.policy)
    assert len(info["policies"]) == info["iterations"] + 1 == len(info["feature_expectations"]) == len(info["mixture_weights"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_projection_and_max_margin_agree_on_random_deterministic_mdps(seed):
    """Finite horizon, deterministic dynamics, random Gaussian features: both methods match the expert
    exactly (from the demonstrations' own start states) in a handful of iterations, and ``t`` never
    increases: the projection's distance shrinks, the max-margin only gains constraints."""
    world = random_mdp(30, 4, 1, seed=seed, n_features=5, horizon=12, discount=1.0)
    mdp = world.mdp
    demos = sample_tabular(mdp, value_iteration(mdp, world.reward).policy, 15, rng=np.random.default_rng(seed))
    rho = start_distribution(demos, mdp.n_states)
    for method in ("projection", "max_margin"):
        result = Apprenticeship(ApprenticeshipConfig(method=method)).fit(demos, mdp, rng=np.random.default_rng(0))
        assert result.info["converged"]  # measured: projection 4 / 40 / 75 iterations, max-margin 19 / 6 / 18
        assert policy_loss(mdp, world.reward, result.policy, initial=rho) < 1e-9
        assert np.all(np.diff(result.history["t"]) <= 1e-9)


def test_noisy_demonstrations_bound_the_loss_by_the_feature_gap():
    """Discounted, stochastic world, sampled demonstrations: mu_E is off by sampling and truncation, so
    epsilon may be out of reach; still the projection distance never grows, the mixture is at least as
    close as mu_bar and the best policy, and the true loss obeys ``V* - V^pi <= ||w|| ||mu* - mu(pi)||``."""
    world = random_mdp(20, 3, 2, seed=4, n_features=4, discount=0.9)
    mdp = world.mdp
    optimal = value_iteration(mdp, world.reward).policy
    demos = sample_tabular(mdp, optimal, 200, rng=np.random.default_rng(1), length=60)
    result = Apprenticeship(ApprenticeshipConfig(max_iter=25)).fit(demos, mdp, rng=np.random.default_rng(0))
    info = result.info
    t = result.history["t"]
    assert np.all(np.diff(t) <= 1e-9) and t[-1] < 0.05 * t[0]
    assert info["mixture_gap"] <= min(info["best_gap"], info["t"]) + 1e-9
    rho = start_distribution(demos, mdp.n_states)
    mu_star = policy_feature_expectations(mdp, optimal, initial=rho)
    mu_best = info["feature_expectations"][info["best_index"]]
    loss = policy_loss(mdp, world.reward, result.policy, initial=rho)
    assert loss <= float(world.weights.norm()) * np.linalg.norm(mu_star - mu_best) + 1e-9
    assert loss < 0.1 * (
        policy_value(mdp, world.reward, optimal, initial=rho) - policy_value(mdp, world.reward, info["policies"][0], initial=rho)
    )


def test_callback_stops_apprenticeship():
    world = navigation_gridworld(size=(8, 8), seed=1)
    demos = sample_tabular(world.mdp, value_iteration(world.mdp, world.reward).policy, 3, rng=np.random.default_rng(0))
    seen = []
    result = Apprenticeship().fit(demos, world.mdp, rng=np.random.default_rng(0), callback=lambda step, m: seen.append(m["t"]) or step == 2)
    # Step i logs t^(i) before solving for pi^(i): stopping at step 2 leaves pi^(0) and pi^(1).
    assert seen == result.history["t"] and len(seen) == 2 and not result.info["converged"] and result.info["iterations"] == 1


# ----------------------------------------------------------------------------- the small problems by hand
def test_projection_step_by_hand():
    assert projection_step([0.0, 0.0], [2.0, 0.0], [1.0, 1.0]).tolist() == [1.0, 0.0]  # foot of the perpendicular
    assert projection_step([0.0, 0.0], [2.0, 0.0], [3.0, 1.0]).tolist() == [2.0, 0.0]  # beyond mu_new: clipped to it
    assert projection_step([0.0, 0.0], [2.0, 0.0], [-1.0, 1.0]).tolist() == [0.0, 0.0]  # behind mu_bar: stays
    assert projection_step([1.0, 1.0], [1.0, 1.0], [5.0, 0.0]).tolist() == [1.0, 1.0]  # no step
    # Abbeel & Ng's formula, c = (mu - mu_bar).(mu_E - mu_bar) / |mu - mu_bar|^2 = (3 * 1 + 4 * 2) / 25.
    np.testing.assert_allclose(projection_step([0.0, 0.0], [3.0, 4.0], [1.0, 2.0]), [3 * 11 / 25, 4 * 11 / 25])


@given(st.integers(0, 10_000))
def test_projection_step_is_the_nearest_point_of_the_segment(seed):
    rng = np.random.default_rng(seed)
    bar, new, target = rng.normal(size=(3, 4)) * rng.uniform(0.1, 10)
    out = projection_step(bar, new, target)
    grid = bar + np.linspace(0, 1, 2001)[:, None] * (new - bar)
    assert np.linalg.norm(out - target) <= np.linalg.norm(grid - target, axis=1).min() + 1e-12
    c = (out - bar) @ (new - bar) / ((new - bar) @ (new - bar))
    np.testing.assert_allclose(out, bar + c * (new - bar), atol=1e-12)  # on the segment


def test_mixture_weights_by_hand():
    points = [[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]]
    np.testing.assert_allclose(mixture_weights([1.0, 1.0], points), [0.5, 0.25, 0.25], atol=1e-9)  # inside: gap 0
    np.testing.assert_allclose(mixture_weights([3.0, 3.0], points), [0.0, 0.5, 0.5], atol=1e-9)  # nearest: (2, 2)
    np.testing.assert_allclose(mixture_weights([-1.0, -5.0], points), [1.0, 0.0, 0.0], atol=1e-9)  # nearest: a vertex
    assert mixture_weights([7.0, 7.0], [[1.0, 2.0]]).tolist() == [1.0]


def test_max_margin_by_hand():
    w, t = max_margin_weights([3.0, 3.0], [[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    np.testing.assert_allclose(w, [math.sqrt(0.5), math.sqrt(0.5)], atol=1e-7)
    assert t == pytest.approx(math.sqrt(2), abs=1e-9)
    w, t = max_margin_weights([1.0, 1.0], [[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])  # expert inside the hull
    assert t == 0.0 and not w.any()


@given(st.integers(0, 10_000))
def test_mixture_is_optimal_and_equals_the_max_margin(seed):
    """KKT for the nearest point ``p`` of a hull: every vertex lies on the far side of the plane through
    ``p`` orthogonal to ``mu_E - p``. By the minimax theorem, the max-margin ``t`` is ``||mu_E - p||``."""
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 12)), int(rng.integers(2, 6))
    scale = rng.uniform(0.1, 50)
    points = rng.normal(size=(n, k)) * scale
    target = rng.normal(size=k) * scale * 2 if rng.random() < 0.7 else rng.dirichlet(np.ones(n)) @ points
    lam = mixture_weights(target, points)
    assert (lam >= 0).all() and abs(lam.sum() - 1) < 1e-12
    p = lam @ points
    r = target - p
    gap = float(np.linalg.norm(r))
    assert gap <= np.linalg.norm(points - target, axis=1).min() + 1e-9 * scale
    assert ((points - p) @ r).max() <= 1e-7 * scale**2
    w, t = max_margin_weights(target, points)
    assert t == pytest.approx(gap, abs=1e-6 * scale)
    assert np.linalg.norm(w) <= 1 + 1e-9 and ((target - points) @ w).min() == pytest.approx(t, abs=1e-9 * scale)


# ----------------------------------------------------------------------------- MWAL
@pytest.mark.parametrize("slip", [0.0, 0.2])
def test_mwal_beats_a_noisy_demonstrator_when_signs_are_known(slip):
    """Every true terrain weight has a known sign, so the true reward is in MWAL's class: the mixture,
    better than the demonstrator on every feature, is better under the true reward too."""
    world = navigation_gridworld("crossing", slip=slip)
    mdp = world.mdp
    optimal = value_iteration(mdp, world.reward).policy
    demonstrator = 0.5 * optimal + 0.5 / mdp.n_actions  # epsilon-greedy, epsilon = 0.5
    demos = sample_tabular(mdp, demonstrator, 50, rng=np.random.default_rng(0))
    result = MWAL(MWALConfig(iterations=50, feature_signs=NAV_SIGNS)).fit(demos, mdp, rng=np.random.default_rng(0))
    info = result.info
    demo_value = policy_value(mdp, world.reward, demonstrator)
    mixture_value = sum(
        lam * policy_value(mdp, world.reward, pi) for lam, pi in zip(info["mixture_weights"], info["policies"], strict=True)
    )
    best_value = policy_value(mdp, world.reward, optimal)
    assert mixture_value >= demo_value + 0.5 * (best_value - demo_value)  # measured: -29 -> 88 of 90 (slip 0)
    assert policy_value(mdp, world.reward, result.policy) >= mixture_value - 1e-9
    assert info["mixture_margin"] > 0 and result.history["mixture_margin"][-1] == info["mixture_margin"]
    np.testing.assert_allclose(info["mixture_weights"], np.full(50, 1 / 50))


def test_mwal_beta_and_update():
    assert mwal_beta(5, 100) == pytest.approx(1 / (1 + math.sqrt(2 * math.log(5) / 100)), rel=1e-15)
    assert mwal_beta(1, 7) == 1.0 and mwal_beta(4, 10**8) == pytest.approx(1.0, abs=1e-3)
    # G in [0, 1] for normalised values in [-1, 1]; the feature the policy did best on loses weight.
    g = mwal_gain([20.0, -20.0, 0.0], [-20.0, 20.0, 0.0], 0.05)
    assert g.tolist() == [1.0, 0.0, 0.5]
    w = mwal_update(np.ones(3), g, 0.5)
    assert w.sum() == pytest.approx(1.0) and w[0] < w[2] < w[1] and w[1] / w[0] == pytest.approx(2.0)
    world = navigation_gridworld("tiny")  # no rough terrain: that feature is constant and sits out
    demos = sample_tabular(world.mdp, value_iteration(world.mdp, world.reward).policy, 5, rng=np.random.default_rng(0), epsilon=0.5)
    result = MWAL(MWALConfig(iterations=30, feature_signs=NAV_SIGNS)).fit(demos, world.mdp, rng=np.random.default_rng(0))
    assert result.info["active_features"].tolist() == [True, True, False, True, True]
    assert result.info["beta"] == mwal_beta(4, 30) and not result.info["weights"][:, 2].any()
    np.testing.assert_allclose(result.info["weights"].sum(1), 1.0)


def test_scale_features_maps_signed_features_onto_minus_one_one():
    phi = torch.as_tensor(np.random.default_rng(0).normal(size=(12, 3)) * 7)
    scaled = scale_features(phi, (1, -1, 1))
    ones = torch.ones(3, dtype=torch.float64)
    assert torch.allclose(scaled.amin(0), -ones) and torch.allclose(scaled.amax(0), ones)
    assert torch.equal(scaled[:, 1].argsort(), (-phi[:, 1]).argsort())  # less is better: order reversed
    assert scale_features(torch.ones(4, 2)).abs().max() == 0


def test_same_seed_same_result():
    world = navigation_gridworld("crossing", slip=0.2)
    demos = sample_tabular(world.mdp, value_iteration(world.mdp, world.reward).policy, 10, rng=np.random.default_rng(3), epsilon=0.3)
    for learner in (MWAL(MWALConfig(iterations=10, feature_signs=NAV_SIGNS)), Apprenticeship(ApprenticeshipConfig(max_iter=5))):
        a = learner.fit(demos, world.mdp, rng=np.random.default_rng(7))
        b = learner.fit(demos, world.mdp, rng=np.random.default_rng(7))
        assert torch.equal(a.policy, b.policy) and torch.equal(a.reward.values, b.reward.values)
        assert np.array_equal(a.info["feature_expectations"], b.info["feature_expectations"]) and a.history.to_dict() == b.history.to_dict()


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: ApprenticeshipConfig(method="svm"), "method"),  # type: ignore[arg-type]
        (lambda: ApprenticeshipConfig(epsilon=-1.0), "epsilon"),
        (lambda: ApprenticeshipConfig(epsilon=float("nan")), "epsilon"),
        (lambda: ApprenticeshipConfig(max_iter=0), "max_iter"),
        (lambda: MWALConfig(iterations=0), "iterations"),
        (lambda: MWALConfig(iterations=True), "iterations"),
        (lambda: MWALConfig(feature_signs=(1, 0)), "feature_signs"),
        (lambda: MWALConfig(feature_signs=()), "feature_signs"),
    ],
)
def test_bad_config_names_the_field(make, field):
    with pytest.raises(ConfigError, match=field) as err:
        make()
    assert err.value.field == field


def test_bad_inputs_name_the_field():
    mdp = chain(3, horizon=2)
    demos = [Trajectory(np.array([0, 1, 2]), np.array([1, 1]))]
    for learner in (Apprenticeship(), MWAL()):
        with pytest.raises(ValidationError, match=r"mdp\.features") as err:
            learner.fit(demos, mdp.replace(features=None), rng=np.random.default_rng(0))
        assert err.value.field == "mdp.features"
        with pytest.raises(ValidationError, match=r"data\[0\]"):  # 1 decision in a 2-step MDP
            learner.fit([Trajectory(np.array([0, 1]), np.array([1]))], mdp, rng=np.random.default_rng(0))
        with pytest.raises(ValidationError, match="data"):
            learner.fit([], mdp, rng=np.random.default_rng(0))
    with pytest.raises(ConfigError, match="feature_signs"):
        MWAL(MWALConfig(feature_signs=(1, 1))).fit(demos, mdp, rng=np.random.default_rng(0))


# ----------------------------------------------------------------------------- like with like (issue 17)
def _short_featuregrid_demos():
    from rewardlab.mdp.worlds import feature_gridworld

    world = feature_gridworld(6)  # discounted (0.9): demonstrations default to 8 steps
    expert = value_iteration(world.mdp, world.reward).policy
    return world, sample_tabular(world.mdp, expert, 16, rng=np.random.default_rng(0), length=8)


@pytest.mark.parametrize("method", ["max_margin", "projection"])
def test_short_demonstrations_on_a_discounted_world_give_a_nonzero_reward_whose_policy_matches_the_expert(method):
    """`irl max-margin --world featuregrid:size=6 --demos 16` returned the uniform policy's all-zero weights:
    8-step discounted counts were compared with infinite-horizon expectations, a gap no policy closes."""
    world, demos = _short_featuregrid_demos()
    fit = Apprenticeship(ApprenticeshipConfig(method=method)).fit(demos, world.mdp, rng=np.random.default_rng(0))
    weights = fit.info["weights"][fit.info["best_index"]]
    assert np.linalg.norm(weights) == pytest.approx(1.0)  # a unit-norm reward guess, not the zero vector
    assert bool((fit.reward.values != 0).any())
    assert fit.info["converged"] and fit.info["warnings"] == []
    learned = value_iteration(world.mdp, fit.reward.values).policy
    assert policy_loss(world.mdp, world.reward, learned, initial="uniform") <= 1e-6  # EVD of the learned reward's policy


def test_a_run_that_does_not_close_the_gap_says_so():
    world, demos = _short_featuregrid_demos()
    fit = Apprenticeship(ApprenticeshipConfig(max_iter=1)).fit(demos, world.mdp, rng=np.random.default_rng(0))
    assert not fit.info["converged"]
    assert len(fit.info["warnings"]) == 1 and "epsilon" in fit.info["warnings"][0] and "max_iter" in fit.info["warnings"][0]
    assert fit.info["best_index"] == 1 and np.any(fit.info["weights"][1])  # the guess, not the uniform policy's zeros


def test_an_all_zero_reward_is_reported():
    """Features constant over the states: every policy matches the expert, no reward is identified."""
    mdp = chain(4, discount=0.9).replace(features=np.ones((4, 2)))
    demos = sample_tabular(mdp, torch.full((4, 2), 0.5, dtype=torch.float64), 5, rng=np.random.default_rng(0), length=6)
    fit = Apprenticeship(ApprenticeshipConfig()).fit(demos, mdp, rng=np.random.default_rng(0))
    assert fit.info["converged"] and not np.any(fit.info["weights"][fit.info["best_index"]])
    assert any("all zero" in w for w in fit.info["warnings"])


def test_episode_occupancy_equals_the_empirical_visitation_of_a_deterministic_expert():
    from rewardlab.data import empirical_visitation
    from rewardlab.irl.feature_matching import demonstration_episodes
    from rewardlab.mdp import episode_occupancy
    from rewardlab.mdp.worlds import feature_gridworld

    world = feature_gridworld(6)  # deterministic moves
    q = value_iteration(world.mdp, world.reward).q_values
    expert = torch.nn.functional.one_hot(q.argmax(-1), 4).to(q.dtype)  # one action per state: no sampling noise
    demos = sample_tabular(world.mdp, expert, 9, rng=np.random.default_rng(3), length=8)
    starts, lengths = demonstration_episodes(demos, world.mdp)
    assert lengths.tolist() == [8] * 9
    model = episode_occupancy(world.mdp, expert, starts, lengths).numpy()
    assert np.allclose(model, empirical_visitation(demos, 36, discount=0.9), atol=1e-12)
    assert model.sum() == pytest.approx(sum(0.9**t for t in range(8)))  # not 1 / (1 - 0.9)
