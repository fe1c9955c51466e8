"""Behavioural cloning: exact counts, an exact copy of a deterministic expert where it was shown,
generalisation of the MLP through features, and the compounding error of Ross & Bagnell (2010)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from rewardlab.data import Trajectory, TrajectoryDataset, sample_tabular
from rewardlab.errors import ConfigError, ValidationError
from rewardlab.eval.metrics import policy_loss, policy_value
from rewardlab.irl.bc import BCConfig, BehaviouralCloning, as_time_indexed, tabular_bc_policy
from rewardlab.mdp import occupancy, policy_evaluation, value_iteration
from rewardlab.mdp.worlds import chain, navigation_gridworld, objectworld


def _deterministic_expert(mdp, reward):
    """One-hot optimal policy (ties broken towards the lowest action), (S, A) or (H, S, A)."""
    sol = value_iteration(mdp, reward)
    return torch.nn.functional.one_hot(sol.policy.argmax(-1), mdp.n_actions).to(torch.float64)


def _demos(*pairs):
    return TrajectoryDataset(Trajectory(np.array(obs), np.array(acts)) for obs, acts in pairs)


# ----------------------------------------------------------------------------- counts by hand
def test_counts_by_hand_with_and_without_smoothing():
    # chain(3): action 0 stays, action 1 moves right. Decisions: state 0 -> actions (1, 0, 1, 1), state 1 -> (0,).
    mdp = chain(3, discount=0.9)
    demos = _demos(([0, 1, 1], [1, 0]), ([0, 0, 1], [0, 1]), ([0, 1], [1]))
    third = 1.0 / 3.0
    laplace = BehaviouralCloning(BCConfig(smoothing=1.0)).fit(demos, mdp, rng=np.random.default_rng(0))
    # (N(s, a) + 1) / (N(s) + 2): state 0 (1+1)/6, (3+1)/6; state 1 (1+1)/3, (0+1)/3; state 2 unseen: 1/2.
    expected = torch.tensor([[2 / 6, 4 / 6], [2 * third, third], [0.5, 0.5]], dtype=torch.float64)
    assert laplace.reward is None
    assert laplace.policy.dtype == torch.float64
    assert torch.allclose(laplace.policy, expected, atol=1e-15)
    assert torch.equal(laplace.info["counts"], torch.tensor([[1.0, 3.0], [1.0, 0.0], [0.0, 0.0]], dtype=torch.float64))
    assert laplace.info["visited"].tolist() == [True, True, False] and laplace.info["n_decisions"] == 5

    plain = BehaviouralCloning(BCConfig(smoothing=0.0)).fit(demos, mdp, rng=np.random.default_rng(0))
    assert torch.allclose(plain.policy, torch.tensor([[0.25, 0.75], [1.0, 0.0], [0.5, 0.5]], dtype=torch.float64), atol=1e-15)
    # the logged log-likelihood is (1/N) sum log pi(a | s) = (log 1/4 + 3 log 3/4 + log 1) / 5
    assert plain.history["log_likelihood"][0] == pytest.approx((math.log(0.25) + 3 * math.log(0.75)) / 5, abs=1e-12)
    # fit is the pure function on the dataset's decisions
    states, actions, _ = demos.decisions()
    assert torch.equal(plain.policy, tabular_bc_policy(states, actions, 3, 2, 0.0))


@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2)), min_size=1, max_size=30),
    st.floats(0.01, 10.0),
)
def test_tabular_policy_is_a_distribution_and_smoothing_zero_maximises_likelihood(pairs, alpha):
    s = np.array([p[0] for p in pairs])
    a = np.array([p[1] for p in pairs])
    mle = tabular_bc_policy(s, a, 4, 3, 0.0)
    smoothed = tabular_bc_policy(s, a, 4, 3, alpha)
    for pi in (mle, smoothed):
        assert torch.allclose(pi.sum(1), torch.ones(4, dtype=torch.float64)) and bool((pi >= 0).all())
        assert torch.allclose(pi[np.setdiff1d(np.arange(4), s)], torch.full((1, 3), 1 / 3, dtype=torch.float64))
    # the empirical frequencies are the maximum-likelihood estimate: no smoothed table does better
    assert float(torch.log(mle[s, a]).sum()) >= float(torch.log(smoothed[s, a]).sum()) - 1e-12


# ----------------------------------------------------------------------------- copying an expert
def test_tabular_bc_copies_a_deterministic_expert_where_it_was_shown():
    world = navigation_gridworld("crossing", discount=0.95)  # deterministic moves, discounted: a stationary expert
    mdp = world.mdp
    expert = _deterministic_expert(mdp, world.reward)
    uniform = torch.full((mdp.n_states,), 1.0 / mdp.n_states, dtype=torch.float64)
    demos = sample_tabular(mdp, expert, 300, rng=np.random.default_rng(0), length=30, initial=uniform)

    plain = BehaviouralCloning(BCConfig(smoothing=0.0)).fit(demos, mdp, rng=np.random.default_rng(1))
    shown = plain.info["visited"]
    agreement = float((plain.policy.argmax(1)[shown] == expert.argmax(1)[shown]).double().mean())
    assert agreement >= 0.95
    assert agreement == 1.0  # with no noise and alpha = 0 the copy is exact where shown
    assert policy_value(mdp, world.reward, plain.policy) == pytest.approx(policy_value(mdp, world.reward, expert), abs=1e-9)

    # Laplace smoothing leaves mass on wrong actions that more demonstrations wash out.
    losses = []
    for n in (10, 100, 1000):
        more = sample_tabular(mdp, expert, n, rng=np.random.default_rng(2), length=30, initial=uniform)
        losses.append(policy_loss(mdp, world.reward, BehaviouralCloning().fit(more, mdp, rng=np.random.default_rng(3)).policy))
    assert losses[0] > losses[1] > losses[2] > 0
    assert losses[2] < 0.1 * policy_value(mdp, world.reward, expert)


# ----------------------------------------------------------------------------- generalisation
def _mass_on_optimal(policy, expert_support, states):
    """Average probability the policy gives to the expert's optimal actions, over ``states``."""
    return float((policy[states] * expert_support[states]).sum(1).mean())


def test_mlp_generalises_to_states_the_expert_never_visited():
    world = objectworld(12, seed=0)  # slip 0.3, gamma 0.9, features: distances to the nearest objects
    mdp = world.mdp
    expert = value_iteration(mdp, world.reward).policy
    support = (expert > 0).to(torch.float64)
    top_half = torch.zeros(mdp.n_states, dtype=torch.float64)
    top_half[: mdp.n_states // 2] = 1.0
    # Short episodes from the top half only: most states are never demonstrated.
    demos = sample_tabular(mdp, expert, 40, rng=np.random.default_rng(0), length=5, initial=top_half / top_half.sum())
    tabular = BehaviouralCloning().fit(demos, mdp, rng=np.random.default_rng(1))
    mlp = BehaviouralCloning(BCConfig(model="mlp")).fit(demos, mdp, rng=np.random.default_rng(1))
    unseen = ~tabular.info["visited"]
    assert int(unseen.sum()) > mdp.n_states // 3
    assert torch.allclose(tabular.policy[unseen], torch.full((int(unseen.sum()), 5), 0.2, dtype=torch.float64))
    tab_unseen = _mass_on_optimal(tabular.policy, support, unseen)
    mlp_unseen = _mass_on_optimal(mlp.policy, support, unseen)
    # Uniform puts ~1/5 on the optimal action; the MLP does clearly better (0.35-0.57 over 10 demo x 3 network seeds).
    assert tab_unseen < 0.25
    assert mlp_unseen > tab_unseen + 0.1
    # ... and it still fits the states it was shown.
    assert _mass_on_optimal(mlp.policy, support, ~unseen) > 0.8  # 0.90-0.98 over seeds
    assert mlp.policy.shape == (mdp.n_states, 5) and mlp.policy.dtype == torch.float64
    assert torch.allclose(mlp.policy.sum(1), torch.ones(mdp.n_states, dtype=torch.float64))


# ----------------------------------------------------------------------------- compounding error
def test_compounding_error_grows_faster_than_the_horizon():
    """Ross & Bagnell (2010): a per-step mistake rate eps on the expert's states costs up to O(T^2 eps).

    Five demonstrations of the optimal (time-indexed) expert on the crossing map with slip 0.2, for
    horizons 5 and 20. Slips take the stationary BC policy to states never shown, where it acts
    uniformly and drifts further. The expert loses nothing; BC loses more per step at the longer horizon,
    and more per unit of its own classification error on the expert's state distribution (over 30 demo
    seeds the worst H = 20 value of that ratio is 1.4, the best H = 5 one 0.51)."""
    results = {}
    for horizon in (5, 20):
        world = navigation_gridworld("crossing", slip=0.2, horizon=horizon)
        mdp = world.mdp
        expert = _deterministic_expert(mdp, world.reward)  # (H, S, A)
        assert policy_loss(mdp, world.reward, expert) == pytest.approx(0.0, abs=1e-9)
        expert_states = occupancy(mdp, expert, per_time=True)  # (H, S): P(s_t = s) under the expert
        losses, eps = [], []
        for seed in range(3):
            demos = sample_tabular(mdp, expert, 5, rng=np.random.default_rng(seed))
            result = BehaviouralCloning(BCConfig(smoothing=0.0)).fit(demos, mdp, rng=np.random.default_rng(seed))
            assert result.policy.shape == (mdp.n_states, mdp.n_actions)  # stationary
            pi = as_time_indexed(result.policy, horizon)
            losses.append(policy_loss(mdp, world.reward, pi))
            eps.append(float((expert_states * (1 - (pi * expert).sum(-1))).sum(-1).mean()))
        results[horizon] = (np.array(losses), np.array(eps))
    (loss5, eps5), (loss20, eps20) = results[5], results[20]
    assert loss5.min() > 0.01 and loss20.min() > 0.01  # worse than the expert's 0
    assert bool((loss20 > loss5).all())
    assert bool((loss20 / 20 > 2 * loss5 / 5).all())  # per-step regret grows with the horizon
    assert bool((loss20 / (20 * eps20) > 2 * loss5 / (5 * eps5)).all())  # each mistake costs more


# ----------------------------------------------------------------------------- helpers and errors
def test_as_time_indexed_evaluates_like_the_stationary_policy_repeated():
    mdp = chain(3, horizon=4)
    pi = torch.tensor([[0.3, 0.7], [0.5, 0.5], [1.0, 0.0]], dtype=torch.float64)
    timed = as_time_indexed(pi, 4)
    assert timed.shape == (4, 3, 2) and all(torch.equal(timed[t], pi) for t in range(4))
    # r = [0, 0, 1]: from state 0 the value is sum_t P(s_t = 2) under the chain's moves
    values = policy_evaluation(mdp, torch.tensor([0.0, 0.0, 1.0]), timed).values
    p = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    step = torch.tensor([[0.3, 0.7, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0]], dtype=torch.float64)
    expected = 0.0
    for _ in range(4):
        expected += float(p[2])
        p = p @ step
    assert float(values[0, 0]) == pytest.approx(expected, abs=1e-12)


def test_mlp_same_seed_same_policy_and_global_rng_untouched():
    world = navigation_gridworld("tiny", discount=0.9)
    demos = sample_tabular(world.mdp, _deterministic_expert(world.mdp, world.reward), 10, rng=np.random.default_rng(0), length=6)
    config = BCConfig(model="mlp", hidden=(16,), epochs=30, batch_size=8)
    state = torch.get_rng_state()
    a = BehaviouralCloning(config).fit(demos, world.mdp, rng=np.random.default_rng(7))
    b = BehaviouralCloning(config).fit(demos, world.mdp, rng=np.random.default_rng(7))
    c = BehaviouralCloning(config).fit(demos, world.mdp, rng=np.random.default_rng(8))
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a.policy, b.policy) and a.history["loss"] == b.history["loss"]
    assert not torch.equal(a.policy, c.policy)
    assert len(a.history["loss"]) == 30 and a.history["loss"][-1] < a.history["loss"][0]


def test_callback_stops_mlp_training():
    world = navigation_gridworld("tiny", discount=0.9)
    demos = sample_tabular(world.mdp, _deterministic_expert(world.mdp, world.reward), 5, rng=np.random.default_rng(0), length=6)
    seen = []

    def stop_at_four(step, metrics):
        seen.append((step, metrics["loss"]))
        return step == 4

    result = BehaviouralCloning(BCConfig(model="mlp", hidden=(8,))).fit(
        demos, world.mdp, rng=np.random.default_rng(0), callback=stop_at_four
    )
    assert [s for s, _ in seen] == [0, 1, 2, 3, 4]
    assert result.history.steps == [0, 1, 2, 3, 4] and result.history["loss"] == [m for _, m in seen]
    assert result.info["epochs"] == 5 and result.info["stopped_early"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("smoothing", -0.5),
        ("smoothing", float("nan")),
        ("model", "tree"),
        ("hidden", (64, 0)),
        ("hidden", [64]),
        ("epochs", 0),
        ("lr", 0.0),
        ("weight_decay", -1e-4),
        ("batch_size", 0),
    ],
)
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ConfigError) as err:
        BCConfig(**{field: value})
    assert err.value.field == field and "Fix:" in str(err.value)


def test_mlp_without_features_names_mdp_features():
    mdp = chain(3, discount=0.9).replace(features=None)
    demos = _demos(([0, 1, 2], [1, 1]))
    with pytest.raises(ValidationError, match=r"mdp\.features") as err:
        BehaviouralCloning(BCConfig(model="mlp")).fit(demos, mdp, rng=np.random.default_rng(0))
    assert err.value.field == "mdp.features" and "model='tabular'" in err.value.fix


def test_data_from_another_mdp_is_refused():
    mdp = chain(3, discount=0.9)
    with pytest.raises(ValidationError, match=r"data\[0\]\.acts: holds 4 at step 0"):
        BehaviouralCloning().fit(_demos(([0, 1], [4])), mdp, rng=np.random.default_rng(0))
    with pytest.raises(ValidationError, match=r"data\[0\]\.obs: holds 7 at step 0"):
        BehaviouralCloning().fit(_demos(([7, 1], [1])), mdp, rng=np.random.default_rng(0))
    with pytest.raises(ValidationError, match="data"):
        BehaviouralCloning().fit(TrajectoryDataset([]), mdp, rng=np.random.default_rng(0))
