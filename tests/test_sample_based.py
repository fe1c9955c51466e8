"""Sample-based MaxEnt IRL (relative-entropy IRL, noisy-perturbation Z): importance weights by hand, the
sampled gradient converging to the exact MaxEnt gradient like 1/sqrt(n), and recovery on small grids."""

import math

import numpy as np
import pytest
import torch

from rewardlab.data import Trajectory, empirical_visitation, sample_tabular, start_distribution
from rewardlab.errors import ConfigError, ShapeError, ValidationError
from rewardlab.eval import policy_loss, reward_distance
from rewardlab.irl.experts import expert_demonstrations
from rewardlab.irl.sample_based import (
    PerturbationConfig,
    PerturbationIRL,
    RelativeEntropyConfig,
    RelativeEntropyIRL,
    importance_weights,
    log_importance_ratio,
    perturbed_copies,
    sample_based_objective,
    trajectory_features,
)
from rewardlab.mdp import maxent_objective, soft_value_iteration, value_iteration
from rewardlab.mdp.worlds import chain, navigation_gridworld
from rewardlab.registry import make_learner

RNG = np.random.default_rng

#: the convergence tests draw POOL samples once and cut them into disjoint chunks of each size (640 of 100,
#: ..., 10 of 6400): the RMSE at each size is over independent estimates
SIZES = (100, 400, 1600, 6400)
POOL = 64_000
#: reward weights a twentieth of the lecture's: importance weights light-tailed enough for the asymptotic rate
SCALE = 0.05


# ----------------------------------------------------------------------------- hand-computed weights
def three_trajectories() -> tuple[list[Trajectory], torch.Tensor, torch.Tensor]:
    """On a 3-state chain (actions: 0 stay, 1 advance), horizon 2, features one-hot, reward r = (0, 1, 2),
    a background policy that advances with probability 3/4:

    ======  ========  ===========  =============  ============  ===============
    tau     states    theta . f    pi(tau)        U / pi        exp(theta.f) U/pi
    ======  ========  ===========  =============  ============  ===============
    tau_1   0, 0, 0   0            1/4 * 1/4      4             4
    tau_2   0, 1, 2   0 + 1 = 1    3/4 * 3/4      4/9           4e/9
    tau_3   0, 0, 1   0            1/4 * 3/4      4/3           4/3
    ======  ========  ===========  =============  ============  ===============

    so the weights are 9/(12 + e), e/(12 + e), 3/(12 + e)."""
    trajectories = [
        Trajectory(np.array([0, 0, 0]), np.array([0, 0])),
        Trajectory(np.array([0, 1, 2]), np.array([1, 1])),
        Trajectory(np.array([0, 0, 1]), np.array([0, 1])),
    ]
    policy = torch.tensor([[0.25, 0.75]] * 3, dtype=torch.float64)
    return trajectories, policy, torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)


def test_importance_weights_match_hand_computed_values_on_three_trajectories() -> None:
    trajectories, policy, theta = three_trajectories()
    features = trajectory_features(trajectories, torch.eye(3, dtype=torch.float64))
    assert features.tolist() == [[2.0, 0.0, 0.0], [1.0, 1.0, 0.0], [2.0, 0.0, 0.0]]
    log_ratio = log_importance_ratio(trajectories, 2, policy)
    torch.testing.assert_close(log_ratio, torch.log(torch.tensor([4.0, 4 / 9, 4 / 3], dtype=torch.float64)))
    e = math.e
    weights = importance_weights(theta, features, log_ratio)
    torch.testing.assert_close(weights, torch.tensor([9.0, e, 3.0], dtype=torch.float64) / (12 + e))
    # one partition function per group: tau_1 and tau_2 together, tau_3 alone
    grouped = importance_weights(theta, features, log_ratio, groups=[0, 0, 1])
    torch.testing.assert_close(grouped, torch.tensor([9 / (9 + e), e / (9 + e), 1.0], dtype=torch.float64))
    # the objective: demonstration tau_2; Z ~= (4 + 4e/9 + 4/3) / 3; E[f] = sum_m w_m f_m
    obj = sample_based_objective(theta, features[1:2], features, log_ratio)
    torch.testing.assert_close(obj.log_partition, torch.tensor([math.log((4 + 4 * e / 9 + 4 / 3) / 3)], dtype=torch.float64))
    torch.testing.assert_close(obj.value, 1.0 - obj.log_partition[0])
    expected = torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64) - torch.tensor([24 + e, e, 0.0], dtype=torch.float64) / (12 + e)
    torch.testing.assert_close(obj.gradient, expected)
    torch.testing.assert_close(obj.ess, 1 / (weights**2).sum().reshape(1))


def test_weights_are_computed_in_log_space() -> None:
    """``theta . f`` of 10^4 does not overflow: the largest trajectory takes the weight."""
    w = importance_weights(
        torch.tensor([1e4], dtype=torch.float64), torch.tensor([[1.0], [0.0], [0.5]], dtype=torch.float64), torch.zeros(3)
    )
    torch.testing.assert_close(w, torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))


# ----------------------------------------------------------------------------- convergence to the exact gradient
def exact_gradient(mdp, theta, demos, *, causal: bool) -> torch.Tensor:
    """The exact gradient in ``theta`` of the MaxEnt log-likelihood per demonstration.

    Deterministic dynamics: ``Phi^T`` times :func:`maxent_objective`'s gradient ``mu_D - mu_pi``.
    Stochastic dynamics: the trajectory model ``P(tau) ~ D(tau) exp(theta . f)`` of relative-entropy IRL is
    the non-causal MaxEnt model, whose value ``maxent_objective(causal=False).value`` is exact but whose
    forward-pass gradient is Ziebart's approximation (transitions are not tilted): central differences of
    the value instead."""
    phi = mdp.features
    mu = torch.as_tensor(empirical_visitation(demos, mdp.n_states))
    rho = torch.as_tensor(start_distribution(demos, mdp.n_states))
    if causal:
        return phi.T @ maxent_objective(mdp, phi @ theta, mu, demo_initial=rho).gradient

    def value(t: torch.Tensor) -> float:
        return float(maxent_objective(mdp, phi @ t, mu, demo_initial=rho, causal=False).value)

    h = 1e-5
    return torch.tensor([(value(theta + h * e) - value(theta - h * e)) / (2 * h) for e in torch.eye(len(theta), dtype=theta.dtype)])


def rmse_by_size(error) -> np.ndarray:  # type: ignore[no-untyped-def]
    """``error(n, r)``: the error norm of the estimate from chunk ``r`` of size ``n``; RMSE over the chunks."""
    return np.array([math.sqrt(np.mean([error(n, r) ** 2 for r in range(POOL // n)])) for n in SIZES])


def slope(errors: np.ndarray, exact: torch.Tensor) -> float:
    """The log-log slope of RMSE against sample size (printed with the errors: ``pytest -s -k converges``)."""
    fitted = float(np.polyfit(np.log(SIZES), np.log(errors), 1)[0])
    print(
        f"sizes {SIZES}: RMSE {np.round(errors, 4).tolist()}, relative {np.round(errors / float(exact.norm()), 4).tolist()}, slope {fitted:.3f}"
    )
    return fitted


@pytest.mark.parametrize(
    ("slip", "background"),
    [(0.0, "uniform"), (0.2, "uniform"), (0.0, "given")],
    ids=["deterministic-uniform", "slippery-uniform", "deterministic-given-policy"],
)
def test_relent_gradient_converges_to_the_exact_maxent_gradient_like_one_over_sqrt_n(slip: float, background: str) -> None:
    world = navigation_gridworld("tiny", slip=slip)  # 3x3, 5 actions, horizon 12, one start state
    mdp, phi = world.mdp, world.mdp.features
    theta = SCALE * world.weights
    demos, _ = expert_demonstrations(world, 10, rng=RNG(0), expert="soft")
    exact = exact_gradient(mdp, theta, demos, causal=slip == 0.0)
    policy = None
    if background == "given":  # a soft-optimal policy for half the reward, mixed with uniform
        policy = 0.5 * soft_value_iteration(mdp, phi @ (0.5 * theta)).policy + 0.5 / mdp.n_actions
    pi = policy if policy is not None else torch.full((mdp.n_states, mdp.n_actions), 1 / mdp.n_actions, dtype=torch.float64)
    pool = sample_tabular(mdp, pi, POOL, rng=RNG(1))
    features, log_ratio = trajectory_features(pool, phi), log_importance_ratio(pool, mdp.n_actions, policy)
    demo_features = trajectory_features(demos, phi)

    def error(n: int, r: int) -> float:
        part = slice(r * n, (r + 1) * n)  # independent samples within one size
        return float((sample_based_objective(theta, demo_features, features[part], log_ratio[part]).gradient - exact).norm())

    errors = rmse_by_size(error)
    assert -0.65 <= slope(errors, exact) <= -0.35, errors
    assert errors[-1] < 0.03 * float(exact.norm())
    # the log partition function too: Z relative to the uniform base is Z of the action sequences times A^-H
    everything = sample_based_objective(theta, demo_features, features, log_ratio)
    mu = torch.as_tensor(empirical_visitation(demos, mdp.n_states))
    rho = torch.as_tensor(start_distribution(demos, mdp.n_states))
    value = float(maxent_objective(mdp, phi @ theta, mu, demo_initial=rho, causal=slip == 0.0).value)
    assert abs(float(everything.value) - mdp.horizon * math.log(mdp.n_actions) - value) < 0.05


def test_perturbation_gradient_with_importance_correction_converges_to_the_exact_gradient() -> None:
    """Kalakrishnan et al.'s samples around each demonstration, weighted by ``q_U / q_noise``: each
    demonstration's ``Z_i`` estimate converges, so the gradient does, like ``1/sqrt(K)``."""
    world = navigation_gridworld("tiny")
    mdp, phi = world.mdp, world.mdp.features
    theta = SCALE * world.weights
    demos, _ = expert_demonstrations(world, 2, rng=RNG(0), expert="soft")
    exact = exact_gradient(mdp, theta, demos, causal=True)
    demo_features = trajectory_features(demos, phi)
    k = POOL // 2
    copies, log_ratio, groups = perturbed_copies(mdp, demos, k, noise=0.8, rng=RNG(1))
    features = trajectory_features(copies, phi)

    def error(n: int, r: int) -> float:
        chunk = r * (n // 2) + torch.arange(n // 2)
        keep = torch.cat([chunk, k + chunk])  # n/2 copies of each demonstration
        obj = sample_based_objective(theta, demo_features, features[keep], log_ratio[keep], groups=groups[keep])
        return float((obj.gradient - exact).norm())

    errors = rmse_by_size(error)
    assert -0.65 <= slope(errors, exact) <= -0.35, errors
    assert errors[-1] < 0.03 * float(exact.norm())


def test_perturbed_copies_follow_the_demonstration_without_noise_and_score_their_proposal() -> None:
    world = navigation_gridworld("tiny", slip=0.0)
    demos, _ = expert_demonstrations(world, 3, rng=RNG(0))
    same, log_ratio, groups = perturbed_copies(world.mdp, demos, 4, noise=0.0, rng=RNG(1))
    assert groups.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    for i, copy in enumerate(same):
        np.testing.assert_array_equal(copy.obs, demos[i // 4].obs)
    torch.testing.assert_close(log_ratio, torch.full((12,), -12 * math.log(5), dtype=torch.float64))
    # with noise 1 every action is uniform: q = q_U and every ratio is 1
    _, log_ratio, _ = perturbed_copies(world.mdp, demos, 4, noise=1.0, rng=RNG(1))
    torch.testing.assert_close(log_ratio, torch.zeros(12, dtype=torch.float64), atol=1e-12, rtol=0)


# ----------------------------------------------------------------------------- learners
@pytest.fixture(scope="module")
def soft_world():
    """The tiny navigation grid with rewards a quarter of the lecture's, and 200 soft-optimal demonstrations."""
    weights = {"road": -0.25, "grass": -0.5, "rough": -1.25, "water": -5.0, "goal": 1.25}
    world = navigation_gridworld("tiny", weights=weights)
    demos, _ = expert_demonstrations(world, 200, rng=RNG(0), expert="soft")
    return world, demos


@pytest.mark.parametrize(
    ("name", "settings"),
    [("relent", {"samples": 20_000, "iterations": 1000}), ("perturb", {"copies": 50, "iterations": 1000})],
)
def test_learners_recover_the_soft_experts_reward_up_to_shaping(soft_world, name: str, settings: dict) -> None:
    world, demos = soft_world
    result = make_learner(name, **settings).fit(demos, world.mdp, rng=RNG(1))
    assert reward_distance(world.mdp, world.reward, result.reward.values) < 0.05
    assert policy_loss(world.mdp, world.reward, value_iteration(world.mdp, result.reward.values).policy) < 1e-9
    assert result.history["objective"][-1] > result.history["objective"][0]


@pytest.mark.parametrize(
    "learner", [RelativeEntropyIRL(RelativeEntropyConfig()), PerturbationIRL(PerturbationConfig())], ids=["relent", "perturb"]
)
def test_learners_recover_the_optimal_policy_on_the_crossing_grid(learner) -> None:  # type: ignore[no-untyped-def]
    world = navigation_gridworld("crossing")  # 80 states, horizon 36
    demos, _ = expert_demonstrations(world, 20, rng=RNG(0))
    result = learner.fit(demos, world.mdp, rng=RNG(1))
    assert policy_loss(world.mdp, world.reward, value_iteration(world.mdp, result.reward.values).policy) < 1e-9
    assert world.feature_names[int(result.reward.weights.argmax())] == "goal"


def test_a_better_background_policy_gives_more_effective_samples() -> None:
    world = navigation_gridworld("tiny")
    demos, expert = expert_demonstrations(world, 20, rng=RNG(0), expert="soft")
    cfg = RelativeEntropyConfig(samples=2000, iterations=50)
    uniform = RelativeEntropyIRL(cfg).fit(demos, world.mdp, rng=RNG(1))
    informed = RelativeEntropyIRL(cfg).fit(demos, world.mdp, rng=RNG(1), background=0.5 * expert + 0.1)
    assert informed.history["ess_min"][-1] > 2 * uniform.history["ess_min"][-1]


def test_relent_start_mdp_uses_one_partition_function_and_a_discounted_world_its_demos_length() -> None:
    world = navigation_gridworld("tiny", discount=0.9, horizon=None)
    demos, _ = expert_demonstrations(world, 10, rng=RNG(0), length=6)
    result = RelativeEntropyIRL(RelativeEntropyConfig(start="mdp", samples=300, iterations=20)).fit(demos, world.mdp, rng=RNG(1))
    assert result.info["model_horizon"] == 6 and result.info["partition_functions"] == 1 and result.info["samples"] == 300


@pytest.mark.parametrize("method", ["relent", "perturb"])
def test_rewardlab_irl_runs_the_sample_based_learners(method: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from rewardlab.experiments.irl import run_irl

    summary = run_irl(method, "navigation:layout=tiny", 20, tmp_path / "run")
    assert summary["metrics"]["agreement_on_demo_states"] == 1.0 and summary["info"]["ess_min"] >= 1.0
    assert (tmp_path / "run" / "result.json").exists()


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("config", "settings", "field"),
    [
        (RelativeEntropyConfig, {"samples": 0}, "samples"),
        (RelativeEntropyConfig, {"start": "anywhere"}, "start"),
        (RelativeEntropyConfig, {"lr": -1.0}, "lr"),
        (RelativeEntropyConfig, {"optimizer": "lbfgs"}, "optimizer"),
        (PerturbationConfig, {"noise": 0.0}, "noise"),
        (PerturbationConfig, {"copies": 0}, "copies"),
        (PerturbationConfig, {"correction": "some"}, "correction"),
        (PerturbationConfig, {"l1": -0.1}, "l1"),
    ],
)
def test_bad_settings_raise_config_errors_naming_the_field(config, settings: dict, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=field):
        config(**settings)


def test_bad_inputs_raise_errors_naming_the_field() -> None:
    features = torch.zeros(3, 2, dtype=torch.float64)
    with pytest.raises(ShapeError, match="log_ratio"):
        sample_based_objective(torch.zeros(2), features[:1], features, torch.zeros(2))
    with pytest.raises(ShapeError, match="demo_features"):
        sample_based_objective(torch.zeros(2), torch.zeros(1, 3), features, torch.zeros(3))
    with pytest.raises(ValidationError, match="groups"):
        importance_weights(torch.zeros(2), features, torch.zeros(3), groups=[0, 2, 2])
    with pytest.raises(ValidationError, match="group_weights"):
        sample_based_objective(torch.zeros(2), features[:1], features, torch.zeros(3), groups=[0, 1, 1], group_weights=[0.5, 0.6])
    with pytest.raises(ValidationError, match="trajectories"):
        trajectory_features([Trajectory(np.array([0, 5]), np.array([0]))], torch.eye(3))
    with pytest.raises(ValidationError, match="action"):
        log_importance_ratio([Trajectory(np.array([0, 1]), np.array([2]))], 2, torch.full((3, 2), 0.5))
    mdp = chain(3, horizon=2)
    with pytest.raises(ValidationError, match="data"):
        RelativeEntropyIRL().fit([], mdp, rng=RNG(0))
    with pytest.raises(ValidationError, match="background"):
        RelativeEntropyIRL().fit([Trajectory(np.array([0, 1]), np.array([1]))], mdp, rng=RNG(0), background=torch.ones(3, 2))


def test_a_fit_resting_on_a_few_samples_or_out_of_steps_says_so(soft_world) -> None:
    """Uniform background trajectories of 36 steps on the slippery crossing map rarely resemble an optimal
    demonstration: Z rests on a handful of them (ESS about 4 of 2,000) and the weights are still growing when
    the 500 steps run out, the gradient still 80% of the first. Both are said; a fit on soft demonstrations with
    20,000 samples, whose gradient fell to 4e-6 of the first (short of tol 1e-6 in absolute terms), says nothing."""
    world = navigation_gridworld("crossing", slip=0.2)
    demos, _ = expert_demonstrations(world, 20, rng=RNG(0))
    result = RelativeEntropyIRL(RelativeEntropyConfig()).fit(demos, world.mdp, rng=RNG(1))
    assert result.info["ess_min"] < 10 and not result.info["converged"]
    assert len(result.info["warnings"]) == 2
    assert "effective samples of 2000" in result.info["warnings"][0] and "did not converge in 500 steps" in result.info["warnings"][1]
    world_, soft = soft_world
    good = make_learner("relent", samples=20_000, iterations=1000).fit(soft, world_.mdp, rng=RNG(1))
    assert good.info["ess_min"] >= 10 and good.history["grad_max"][-1] < 1e-3 and good.info["warnings"] == []
