"""The MaxEnt objective: its gradient vanishes at the truth, matches finite differences, and the
objective equals the trajectory log-likelihood under deterministic dynamics."""

import numpy as np
import pytest
import torch

from rewardlab.data import empirical_visitation, sample_tabular, start_distribution
from rewardlab.errors import ShapeError
from rewardlab.mdp import Workspace, log_likelihood, maxent_objective, occupancy, soft_value_iteration, state_action_occupancy
from rewardlab.mdp.worlds import navigation_gridworld, objectworld, random_mdp


@pytest.mark.parametrize("horizon", [None, 8])
def test_gradient_vanishes_at_true_reward_with_exact_expert_visitation(horizon):
    world = objectworld(8, seed=3)
    mdp = world.mdp if horizon is None else world.mdp.replace(horizon=horizon, discount=1.0)
    expert = soft_value_iteration(mdp, world.reward)
    mu_e = occupancy(mdp, expert.policy)
    obj = maxent_objective(mdp, world.reward, mu_e)
    assert float(obj.gradient.abs().max()) < 1e-10
    # ... and not anywhere else: a perturbed reward has a non-zero gradient pointing back.
    wrong = world.reward + torch.as_tensor(np.random.default_rng(0).normal(size=64))
    assert float(maxent_objective(mdp, wrong, mu_e).gradient.abs().max()) > 1e-3


@pytest.mark.parametrize(
    ("horizon", "state_action", "temperature"), [(None, False, 1.0), (6, False, 0.5), (6, True, 1.0), (None, True, 2.0)]
)
def test_gradient_matches_finite_differences(horizon, state_action, temperature):
    world = random_mdp(8, 3, 3, seed=1)
    mdp = world.mdp if horizon is None else world.mdp.replace(horizon=horizon, discount=1.0)
    rng = np.random.default_rng(2)
    shape = (8, 3) if state_action else (8,)
    r = torch.as_tensor(rng.normal(size=shape))
    demos = sample_tabular(mdp, soft_value_iteration(mdp, world.reward).policy, 30, rng=rng, length=6)
    mu_d = empirical_visitation(demos, 8, n_actions=3 if state_action else None, discount=mdp.discount)
    rho = start_distribution(demos, 8)
    obj = maxent_objective(mdp, r, mu_d, demo_initial=rho, temperature=temperature)
    eps = 1e-6
    for idx in [(0,), (5,)] if not state_action else [(0, 1), (7, 2)]:
        up, down = r.clone(), r.clone()
        up[idx] += eps
        down[idx] -= eps
        fd = (
            maxent_objective(mdp, up, mu_d, demo_initial=rho, temperature=temperature).value
            - maxent_objective(mdp, down, mu_d, demo_initial=rho, temperature=temperature).value
        ) / (2 * eps)
        assert abs(float(fd) - float(obj.gradient[idx])) < 1e-6


def test_objective_is_log_likelihood_under_deterministic_dynamics():
    world = navigation_gridworld("tiny")
    mdp = world.mdp
    sol = soft_value_iteration(mdp, world.reward, 0.8)
    demos = sample_tabular(mdp, sol.policy, 12, rng=np.random.default_rng(5))
    guess = torch.as_tensor(np.random.default_rng(6).normal(size=(9, 5)))
    mu_d = empirical_visitation(demos, 9, n_actions=5)
    obj = maxent_objective(mdp, guess, mu_d, demo_initial=start_distribution(demos, 9), temperature=0.8)
    model = soft_value_iteration(mdp, guess, 0.8)
    s, a, t = demos.decisions()
    assert abs(float(obj.value) * len(demos) - float(log_likelihood(mdp, model.policy, s, a, t))) < 1e-9


def test_state_reward_takes_state_action_demo_counts_and_batches():
    world = random_mdp(10, 3, 2, seed=4)
    mdp = world.mdp
    pi = soft_value_iteration(mdp, world.reward).policy
    sa = state_action_occupancy(mdp, pi)
    a = maxent_objective(mdp, world.reward, sa)
    b = maxent_objective(mdp, world.reward, sa.sum(1))
    assert torch.allclose(a.gradient, b.gradient)
    batch = maxent_objective(mdp, torch.stack([world.reward, 2 * world.reward]), sa.sum(1))
    assert batch.gradient.shape == (2, 10) and torch.allclose(batch.gradient[0], a.gradient, atol=1e-12)
    with pytest.raises(ShapeError, match="demo_visitation"):
        maxent_objective(mdp, torch.zeros(10, 3), sa.sum(1))


def test_workspace_gives_identical_results():
    world = objectworld(10, seed=0)
    mdp = world.mdp.replace(horizon=12, discount=1.0)
    mu = occupancy(mdp, soft_value_iteration(mdp, world.reward).policy)
    ws = Workspace()
    plain = maxent_objective(mdp, torch.zeros(100), mu)
    for _ in range(2):
        reused = maxent_objective(mdp, torch.zeros(100), mu, workspace=ws)
        assert torch.equal(plain.gradient, reused.gradient) and torch.equal(plain.value, reused.value)


@pytest.mark.parametrize("state_action", [False, True])
def test_stationary_objective_gradient_is_exact_and_warm_starts_agree(state_action):
    from rewardlab.mdp.maxent import stationary_objective

    world = random_mdp(8, 3, 3, seed=0)
    demos = sample_tabular(world.mdp, soft_value_iteration(world.mdp, world.reward).policy, 5, rng=np.random.default_rng(0), length=4)
    s, a, _ = demos.decisions()
    r = torch.as_tensor(np.random.default_rng(1).normal(size=(8, 3) if state_action else 8))
    obj = stationary_objective(world.mdp, r, s, a, n_trajectories=5, temperature=0.7)
    # the value is the log-likelihood of the decisions under the stationary soft policy
    pi = soft_value_iteration(world.mdp, r, 0.7).policy
    assert abs(float(obj.value) - float(torch.log(pi[s, a]).sum()) / 5) < 1e-8
    eps = 1e-6
    for idx in [(0,), (7,)] if not state_action else [(0, 1), (6, 2)]:
        up, down = r.clone(), r.clone()
        up[idx] += eps
        down[idx] -= eps
        value = lambda x: float(stationary_objective(world.mdp, x, s, a, n_trajectories=5, temperature=0.7).value)  # noqa: E731
        assert abs((value(up) - value(down)) / (2 * eps) - float(obj.gradient[idx])) < 1e-6
    warm = stationary_objective(
        world.mdp, r, s, a, n_trajectories=5, temperature=0.7, init_values=obj.values * 0.5, init_occupancy=obj.occupancy
    )
    assert torch.allclose(warm.gradient, obj.gradient, atol=1e-8)


def test_an_objective_without_a_maximum_is_flagged_not_passed_off_as_a_fit() -> None:
    """Twenty optimal demonstrations on the slippery crossing map (seed 11) never slip into water, more luck than
    any policy has in expectation: the MaxEnt objective then has no maximum, and L-BFGS walked theta to 1e25
    with the gradient stuck at 3.0, returning a reward whose policy lost 230 (BC-level) without a word. Now the
    fit says so; an L2 prior gives the objective a maximum again, a converged fit, and a near-optimal policy."""
    import numpy as np

    from rewardlab.eval import policy_loss
    from rewardlab.irl import MaxEntConfig, MaxEntIRL
    from rewardlab.irl.experts import expert_demonstrations
    from rewardlab.mdp import value_iteration
    from rewardlab.mdp.worlds import navigation_gridworld

    world = navigation_gridworld("crossing", slip=0.2)
    demos, _ = expert_demonstrations(world, 20, rng=np.random.default_rng(11))
    plain = MaxEntIRL(MaxEntConfig()).fit(demos, world.mdp, rng=np.random.default_rng(0))
    assert not plain.info["converged"] and float(plain.reward.weights.abs().max()) > 1e6
    assert len(plain.info["warnings"]) == 1 and "has no maximum" in plain.info["warnings"][0] and "l2" in plain.info["warnings"][0]
    prior = MaxEntIRL(MaxEntConfig(l2=0.01)).fit(demos, world.mdp, rng=np.random.default_rng(0))
    assert prior.info["converged"] and prior.info["warnings"] == []
    loss = policy_loss(world.mdp, world.reward, value_iteration(world.mdp, prior.reward.values).policy)
    assert loss < 10
