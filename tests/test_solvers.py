"""Exact solvers: hand-solved answers, properties, and equivalence with slow dense references."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import reference as ref
from rewardlab.errors import ConvergenceError, ShapeError, ValidationError
from rewardlab.mdp import (
    TabularMDP,
    bellman_backup,
    boltzmann_policy,
    greedy_policy,
    occupancy,
    policy_evaluation,
    policy_iteration,
    soft_value_iteration,
    state_action_occupancy,
    value_iteration,
)
from rewardlab.mdp.worlds import chain, grid_dynamics, random_mdp

LOG2 = math.log(2)


# ----------------------------------------------------------------------------- hand-solved
def test_chain_discounted_by_hand():
    # r = [0, 1], gamma = 0.5: V(1) = 1 / (1 - 0.5) = 2; V(0) = max(0.5 V(0), 0.5 V(1)) = 1.
    sol = value_iteration(chain(2, discount=0.5), torch.tensor([0.0, 1.0]))
    assert torch.allclose(sol.values, torch.tensor([1.0, 2.0], dtype=torch.float64))
    assert torch.allclose(sol.q_values, torch.tensor([[0.5, 1.0], [2.0, 2.0]], dtype=torch.float64))
    assert sol.policy[0].tolist() == [0.0, 1.0] and sol.policy[1].tolist() == [0.5, 0.5]


def test_chain_soft_finite_by_hand():
    # H = 2, r = [0, 1], T = 1: V_1 = r + log 2; V_0(0) = log(e^{V_1(0)} + e^{V_1(1)}) = log 2 + log(1 + e).
    sol = soft_value_iteration(chain(2, horizon=2), torch.tensor([0.0, 1.0]))
    expected = torch.tensor([[LOG2 + math.log(1 + math.e), 2 + 2 * LOG2], [LOG2, 1 + LOG2]], dtype=torch.float64)
    assert torch.allclose(sol.values, expected)
    p_move = math.e / (1 + math.e)
    assert torch.allclose(sol.policy[0, 0], torch.tensor([1 - p_move, p_move], dtype=torch.float64))
    assert torch.allclose(sol.policy[1], torch.full((2, 2), 0.5, dtype=torch.float64))


def test_chain_occupancy_by_hand():
    mdp = chain(2, horizon=3)
    sol = soft_value_iteration(mdp, torch.tensor([0.0, 1.0]))
    # Per time: D_0 = [1, 0]; D_{t+1}(0) = D_t(0) pi_t(stay | 0).
    per_t = occupancy(mdp, sol.policy, per_time=True)
    stay = sol.policy[:, 0, 0]
    assert torch.allclose(per_t[1, 0], stay[0]) and torch.allclose(per_t[2, 0], stay[0] * stay[1])
    assert torch.allclose(per_t.sum(1), torch.ones(3, dtype=torch.float64))


def test_three_by_three_grid_by_hand():
    # Deterministic 3x3 grid, +1 in the bottom-right corner, gamma 0.9: V(s) = 0.9^manhattan * 10.
    succ, prob = grid_dynamics(3, 3)
    mdp = TabularMDP(succ, prob, np.full(9, 1 / 9), discount=0.9)
    r = torch.zeros(9)
    r[8] = 1
    sol = value_iteration(mdp, r)
    rows, cols = np.divmod(np.arange(9), 3)
    expected = 10 * 0.9 ** ((2 - rows) + (2 - cols))
    assert np.allclose(sol.values.numpy(), expected)
    assert torch.allclose(policy_iteration(mdp, r).values, sol.values)
    # at the goal, stay and the two moves into walls all stay: the greedy policy splits the tie
    assert torch.allclose(sol.policy[8], torch.tensor([1 / 3, 0, 1 / 3, 1 / 3, 0], dtype=torch.float64))


# ----------------------------------------------------------------------------- visitation sums
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_visitation_sums_to_horizon_and_effective_horizon(seed):
    world = random_mdp(12, 3, 3, seed=seed)
    finite = world.mdp.replace(horizon=17, discount=1.0)
    sol = soft_value_iteration(finite, world.reward)
    assert abs(float(occupancy(finite, sol.policy).sum()) - 17) < 1e-9
    disc = world.mdp.replace(discount=0.95)
    d = occupancy(disc, soft_value_iteration(disc, world.reward).policy)
    assert abs(float(d.sum()) - 1 / (1 - 0.95)) < 1e-8
    sa = state_action_occupancy(disc, soft_value_iteration(disc, world.reward).policy)
    assert torch.allclose(sa.sum(1), d)


def test_large_discounted_occupancy_uses_iteration():
    succ, prob = grid_dynamics(60, 60, slip=0.2)  # 3,600 states: above the dense-solve limit
    mdp = TabularMDP(succ, prob, np.full(3600, 1 / 3600), discount=0.9)
    pi = torch.full((3600, 5), 0.2, dtype=torch.float64)
    d = occupancy(mdp, pi)
    assert abs(float(d.sum()) - 10) < 1e-7
    assert torch.allclose(d, torch.full_like(d, 10 / 3600), rtol=0.2)  # uniform policy, uniform start: near uniform


# ----------------------------------------------------------------------------- properties
@given(seed=st.integers(0, 10_000), temperature=st.sampled_from([1e-2, 1e-3, 1e-4]), finite=st.booleans())
def test_soft_tends_to_hard_as_temperature_falls(seed, temperature, finite):
    world = random_mdp(8, 3, 2, seed=seed)
    mdp = world.mdp.replace(horizon=6, discount=1.0) if finite else world.mdp
    soft = soft_value_iteration(mdp, world.reward, temperature)
    hard = value_iteration(mdp, world.reward)
    gap = soft.values - hard.values
    # 0 <= V_soft - V_hard <= T log A per remaining decision (H, or 1 / (1 - gamma)).
    bound = temperature * math.log(3) * (6 if finite else 1 / (1 - mdp.discount))
    assert float(gap.min()) >= -1e-9 and float(gap.max()) <= bound + 1e-9


@given(seed=st.integers(0, 10_000), scale=st.floats(0.1, 10.0))
def test_potential_shaping_keeps_the_optimal_policy(seed, scale):
    world = random_mdp(9, 3, 3, seed=seed, state_action_reward=True)
    mdp = world.mdp
    phi = torch.as_tensor(np.random.default_rng(seed).normal(size=9) * scale)
    shaped = world.reward + bellman_backup(mdp, torch.zeros(9), phi) - phi[:, None]  # r + gamma E phi(s') - phi(s)
    a, b = value_iteration(mdp, world.reward), value_iteration(mdp, shaped)
    assert torch.allclose(b.q_values, a.q_values - phi[:, None], atol=1e-7)
    assert torch.equal(a.policy.argmax(1), b.policy.argmax(1))


def test_autograd_of_log_partition_is_the_visitation():
    world = random_mdp(7, 3, 2, seed=3)
    for mdp in (world.mdp.replace(horizon=5, discount=1.0), world.mdp.replace(horizon=5, discount=0.8), world.mdp):
        for temperature in (1.0, 0.5):
            r = world.reward.clone().requires_grad_(True)
            ref.soft_log_partition(mdp, r, temperature).backward()
            sol = soft_value_iteration(mdp, world.reward, temperature)
            assert torch.allclose(r.grad, occupancy(mdp, sol.policy), atol=1e-8), (mdp, temperature)
            r_sa = world.reward[:, None].repeat(1, 3).requires_grad_(True)
            ref.soft_log_partition(mdp, r_sa, temperature).backward()
            assert torch.allclose(r_sa.grad, state_action_occupancy(mdp, sol.policy), atol=1e-8)


def test_policy_iteration_agrees_and_warm_start_is_one_step():
    world = random_mdp(15, 4, 3, seed=7)
    vi = value_iteration(world.mdp, world.reward)
    pi = policy_iteration(world.mdp, world.reward)
    assert torch.allclose(vi.values, pi.values, atol=1e-8)
    warm = policy_iteration(world.mdp, world.reward, policy=pi.policy)
    assert warm.iterations == 1


# ----------------------------------------------------------------------------- equivalence
def _worlds():
    for seed, (S, A, K) in enumerate([(6, 2, 1), (9, 3, 2), (11, 4, 4)]):
        world = random_mdp(S, A, K, seed=seed)
        terminal = np.zeros(S, dtype=bool)
        terminal[S - 1] = True
        for mdp in (
            world.mdp,
            world.mdp.replace(horizon=4, discount=1.0),
            world.mdp.replace(horizon=5, discount=0.9),
            world.mdp.replace(terminal=terminal),
            world.mdp.replace(terminal=terminal, horizon=4, discount=1.0),
        ):
            rng = np.random.default_rng(seed)
            yield mdp, rng.normal(size=S), rng.normal(size=(S, A))


@pytest.mark.parametrize(
    "case", list(_worlds()), ids=lambda c: f"S{c[0].n_states}K{c[0].branching}H{c[0].horizon}T{c[0].terminal is not None}"
)
def test_solvers_match_dense_loops(case):
    mdp, r_s, r_sa = case
    for reward in (r_s, r_sa):
        v_ref, pi_ref = ref.solve(mdp, reward, soft=True, T=0.7)
        sol = soft_value_iteration(mdp, torch.as_tensor(reward), 0.7)
        assert np.allclose(sol.values.numpy(), v_ref, atol=1e-8)
        assert np.allclose(sol.policy.numpy(), pi_ref, atol=1e-8)
        hv_ref, _ = ref.solve(mdp, reward, soft=False)
        hard = value_iteration(mdp, torch.as_tensor(reward))
        assert np.allclose(hard.values.numpy(), hv_ref, atol=1e-8)
        assert np.allclose(
            policy_evaluation(mdp, torch.as_tensor(reward), sol.policy).values.numpy(), ref.evaluate(mdp, reward, pi_ref), atol=1e-8
        )
        sa = state_action_occupancy(mdp, sol.policy)
        assert np.allclose(sa.numpy(), ref.visitation(mdp, pi_ref), atol=1e-8)


@pytest.mark.parametrize("horizon", [None, 6])
def test_batched_equals_one_at_a_time(horizon):
    world = random_mdp(10, 3, 3, seed=11)
    mdp = world.mdp if horizon is None else world.mdp.replace(horizon=horizon, discount=1.0)
    rewards = torch.as_tensor(np.random.default_rng(0).normal(size=(4, 10, 3)))
    batch = soft_value_iteration(mdp, rewards)
    hard = value_iteration(mdp, rewards[:, :, 0] * 0 + rewards[:, :, 0])  # (B, S) state rewards
    d_batch = occupancy(mdp, batch.policy)
    for i in range(4):
        one = soft_value_iteration(mdp, rewards[i])
        assert torch.allclose(batch.values[i], one.values, atol=1e-10)
        assert torch.allclose(batch.policy[i], one.policy, atol=1e-10)
        assert torch.allclose(d_batch[i], occupancy(mdp, one.policy), atol=1e-10)
        assert torch.allclose(hard.values[i], value_iteration(mdp, rewards[i, :, 0]).values, atol=1e-10)


def test_terminal_state_ends_the_episode():
    # chain of 3 where state 2 is terminal: reward 1 there is collected once, then nothing.
    mdp = chain(3, discount=0.5).replace(terminal=[False, False, True])
    sol = value_iteration(mdp, torch.tensor([0.0, 0.0, 1.0]))
    assert torch.allclose(sol.values, torch.tensor([0.25, 0.5, 1.0], dtype=torch.float64))
    d = occupancy(mdp, sol.policy)
    assert torch.allclose(d, torch.tensor([1.0, 0.5, 0.25], dtype=torch.float64))


# ----------------------------------------------------------------------------- robustness
def test_no_overflow_with_large_rewards_and_low_temperature():
    succ, prob = grid_dynamics(100, 100, slip=0.1)
    mdp = TabularMDP(succ, prob, np.full(10_000, 1e-4), discount=0.95)
    r = torch.as_tensor(np.random.default_rng(0).choice([-100.0, 100.0], size=10_000))
    sol = soft_value_iteration(mdp, r, temperature=0.01)
    assert torch.isfinite(sol.values).all() and torch.isfinite(sol.policy).all()
    assert float(sol.values.max()) <= 100 / 0.05 + 0.01 * math.log(5) / 0.05 + 1e-6


def test_million_states_finite_horizon_is_finite():
    succ, prob = grid_dynamics(1000, 1000)
    mdp = TabularMDP(succ, prob, np.full(1_000_000, 1e-6), horizon=3)
    r = torch.full((1_000_000,), -100.0, dtype=torch.float64)
    r[::7] = 100.0
    sol = soft_value_iteration(mdp, r, temperature=0.05)
    assert torch.isfinite(sol.values).all()
    assert abs(float(occupancy(mdp, sol.policy).sum()) - 3) < 1e-9


def test_reward_shape_and_value_errors():
    mdp = chain(3)
    with pytest.raises(ShapeError, match="reward"):
        value_iteration(mdp, torch.zeros(4))
    with pytest.raises(ValidationError, match="reward"):
        value_iteration(mdp, torch.tensor([0.0, float("nan"), 0.0]))
    with pytest.raises(ValidationError, match="temperature"):
        soft_value_iteration(mdp, torch.zeros(3), temperature=0.0)
    with pytest.raises(ShapeError, match="policy"):
        occupancy(mdp, torch.full((3, 3), 1 / 3))
    with pytest.raises(ValidationError, match="policy"):
        occupancy(mdp, torch.full((3, 2), 0.7))


def test_convergence_error_names_the_budget():
    world = random_mdp(5, 2, 2, seed=0)
    with pytest.raises(ConvergenceError, match="max_iter"):
        value_iteration(world.mdp, world.reward, max_iter=2)


def test_policy_helpers():
    q = torch.tensor([[0.0, 1.0], [2.0, 2.0 + 1e-12]], dtype=torch.float64)
    assert greedy_policy(q).tolist() == [[0.0, 1.0], [0.5, 0.5]]
    assert torch.allclose(boltzmann_policy(q, 1.0)[0], torch.softmax(q[0], 0))


def test_float32_close_to_float64():
    world = random_mdp(20, 4, 3, seed=5)
    mdp = world.mdp.replace(horizon=30, discount=1.0)
    s64 = soft_value_iteration(mdp, world.reward)
    s32 = soft_value_iteration(mdp.to(dtype=torch.float32), world.reward.float())
    assert s32.values.dtype == torch.float32
    assert torch.allclose(s32.values.double(), s64.values, rtol=1e-5, atol=1e-4)
    d32 = occupancy(mdp.to(dtype=torch.float32), s32.policy)
    assert torch.allclose(d32.double(), occupancy(mdp, s64.policy), atol=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_agrees_with_cpu():
    world = random_mdp(50, 4, 3, seed=2)
    mdp = world.mdp.replace(horizon=20, discount=1.0)
    cpu = soft_value_iteration(mdp, world.reward)
    gpu = soft_value_iteration(mdp.to("cuda"), world.reward.cuda())
    assert torch.allclose(gpu.values.cpu(), cpu.values, atol=1e-10)
    assert torch.allclose(occupancy(mdp.to("cuda"), gpu.policy).cpu(), occupancy(mdp, cpu.policy), atol=1e-10)


@pytest.mark.parametrize(("temperature", "scale", "discount"), [(1.0, 1.0, 1.0), (0.5, 3.0, 0.9), (0.01, 100.0, 1.0)])
def test_shared_exponential_backup_equals_per_state_maxima(monkeypatch, temperature, scale, discount):
    """Large deterministic worlds with state rewards take the shared-exponential path; it must agree
    with the per-state-maximum path, including when values spread so far that it has to fall back."""
    from rewardlab.mdp import solvers

    succ, prob = grid_dynamics(70, 70)
    mdp = TabularMDP(succ, prob, np.full(4900, 1 / 4900), horizon=12, discount=discount)
    assert mdp.n_states >= solvers.SHARED_EXP_MIN_STATES
    r = torch.as_tensor(np.random.default_rng(1).normal(size=4900) * scale)
    calls = []
    original = solvers._soft_step_shared_exp
    monkeypatch.setattr(solvers, "_soft_step_shared_exp", lambda *a: calls.append(original(*a)) or calls[-1])
    fast = soft_value_iteration(mdp, r, temperature)
    monkeypatch.setattr(solvers, "SHARED_EXP_MIN_STATES", 10**9)
    slow = soft_value_iteration(mdp, r, temperature)
    if scale == 100.0:
        assert calls and not calls[-1] and len(calls) < 12  # values spread by >> 600 T: it fell back, then stopped trying
    else:
        assert len(calls) == 12 and all(calls)
    assert torch.allclose(fast.values, slow.values, rtol=1e-12, atol=1e-9)
    assert torch.allclose(fast.policy, slow.policy, atol=1e-12)


@pytest.mark.parametrize("horizon", [None, 5])
def test_noncausal_maxent_backup_matches_reference_and_equals_causal_when_deterministic(horizon):
    world = random_mdp(7, 3, 3, seed=8)
    mdp = world.mdp if horizon is None else world.mdp.replace(horizon=horizon, discount=1.0)
    v_ref, pi_ref = ref.solve(mdp, world.reward.numpy(), soft=True, T=0.8, causal=False)
    sol = soft_value_iteration(mdp, world.reward, 0.8, causal=False)
    assert np.allclose(sol.values.numpy(), v_ref, atol=1e-8) and np.allclose(sol.policy.numpy(), pi_ref, atol=1e-8)
    # optimism: the non-causal value is never below the causal one (Jensen)
    assert bool((sol.values >= soft_value_iteration(mdp, world.reward, 0.8).values - 1e-9).all())
    det = random_mdp(7, 3, 1, seed=8).mdp
    a, b = soft_value_iteration(det, world.reward, causal=False), soft_value_iteration(det, world.reward)
    assert torch.allclose(a.values, b.values)


# ----------------------------------------------------------------------------- discount near 1 (issue 17)
NEAR_ONE = 0.99999
NEAR_ONE_WORLDS = ["random:n_states=16,n_actions=4", "featuregrid:size=6", "frozenlake", "navigation"]


def _near_one(spec: str):
    from rewardlab.mdp import make_world

    return make_world(f"{spec}{',' if ':' in spec else ':'}discount={NEAR_ONE}")


@pytest.mark.parametrize("spec", NEAR_ONE_WORLDS)
def test_value_iteration_near_discount_one_is_optimal_without_one_over_one_minus_gamma_sweeps(spec):
    """One value iteration at gamma = 0.99999 used to take ~87 s (10^6 sweeps); an exact finish needs a few
    policy evaluations. The answer must satisfy Bellman's optimality equation to round-off."""
    world = _near_one(spec)
    mdp = world.mdp
    sol = value_iteration(mdp, world.reward)
    assert sol.iterations < 10_000  # sweeps + evaluations, not ~10^6 sweeps
    v = sol.values.numpy()
    q = ref.backup(ref.dense(mdp), ref.sa_reward(mdp, world.reward.numpy()), mdp.discount, v)
    scale = 1 + np.abs(v).max()
    assert np.abs(q.max(1) - v).max() <= 1e-12 * scale  # V = max_a [r + gamma P V]
    assert np.allclose(sol.q_values.numpy(), q, rtol=0, atol=1e-12 * scale)
    assert torch.allclose(policy_evaluation(mdp, world.reward, sol.policy).values, sol.values, rtol=1e-9)  # its greedy policy earns it
    assert torch.allclose(policy_iteration(mdp, world.reward).values, sol.values, rtol=1e-9)


@pytest.mark.parametrize("causal", [True, False])
def test_soft_value_iteration_near_discount_one_solves_the_soft_bellman_equation(causal):
    from scipy.special import logsumexp

    world = random_mdp(16, 4, 3, seed=4, discount=NEAR_ONE)
    mdp, temperature = world.mdp, 0.7
    batch = torch.stack([world.reward, -world.reward])
    sol = soft_value_iteration(mdp, batch, temperature, causal=causal)
    assert sol.iterations < 10_000
    p = ref.dense(mdp)
    for i in range(2):
        v = sol.values[i].numpy()
        r = ref.sa_reward(mdp, batch[i].numpy())
        if causal:
            q = ref.backup(p, r, mdp.discount, v)
        else:  # T log sum_s' P(s' | s, a) exp(gamma V(s') / T), computed stably (V ~ 1e5 here)
            q = r + temperature * logsumexp(mdp.discount * v / temperature, b=p, axis=-1)
        v_next, pi = ref.soft_max(q, temperature)
        assert np.abs(v_next - v).max() <= 1e-12 * (1 + np.abs(v).max())
        assert np.allclose(sol.policy[i].numpy(), pi, atol=1e-9)
        one = soft_value_iteration(mdp, batch[i], temperature, causal=causal)  # batched = one at a time
        assert torch.allclose(one.values, sol.values[i], rtol=1e-10)


def test_occupancy_and_values_beyond_the_dense_limit_near_discount_one_are_exact():
    """Over DENSE_SOLVE_LIMIT states on the CPU a sparse LU replaces ~10^5 sweeps at gamma = 0.9999."""
    from rewardlab.mdp.solvers import DENSE_SOLVE_LIMIT

    succ, prob = grid_dynamics(56, 56, slip=0.2)
    n = 56 * 56
    assert n > DENSE_SOLVE_LIMIT
    rng = np.random.default_rng(0)
    mu0 = rng.dirichlet(np.ones(n))
    mdp = TabularMDP(succ, prob, mu0, discount=0.9999)
    pi = torch.as_tensor(rng.dirichlet(np.ones(5), size=n))
    reward = torch.as_tensor(rng.normal(size=n))
    d = occupancy(mdp, pi).numpy()
    v = policy_evaluation(mdp, reward, pi).values.numpy()
    # P_pi as explicit sums over the successor lists
    w = pi.numpy()[:, :, None] * prob  # (S, A, K)
    rows = np.repeat(np.arange(n), succ.shape[1] * succ.shape[2])
    pushed = np.zeros(n)
    np.add.at(pushed, succ.reshape(-1), (w * d[:, None, None]).reshape(-1))
    assert np.abs(d - (mu0 + mdp.discount * pushed)).max() <= 1e-9 * d.max()  # d = mu0 + gamma P_pi^T d
    assert abs(d.sum() - 1 / (1 - mdp.discount)) <= 1e-6 * d.sum()
    expected_next = np.zeros(n)
    np.add.at(expected_next, rows, (w * v[succ]).reshape(-1))
    assert np.abs(v - (reward.numpy() + mdp.discount * expected_next)).max() <= 1e-9 * (1 + np.abs(v).max())  # V = r + gamma P_pi V


def test_stationary_objective_near_discount_one_matches_a_dense_solve():
    from rewardlab.mdp.maxent import stationary_objective

    world = random_mdp(16, 4, 3, seed=2, discount=NEAR_ONE)
    mdp = world.mdp
    s, a = np.array([0, 3, 5, 5, 9]), np.array([1, 0, 2, 3, 1])
    obj = stationary_objective(mdp, world.reward, s, a)
    pi = obj.policy.numpy()
    p = ref.dense(mdp)
    p_pi = np.einsum("sa,sat->st", pi, p)
    nu = np.zeros((16, 4))
    np.add.at(nu, (s, a), 1.0)
    measure = nu.sum(1) - mdp.discount * np.einsum("sa,sat->t", nu, p)
    d = np.linalg.solve(np.eye(16) - mdp.discount * p_pi.T, measure)
    assert np.allclose(obj.occupancy.numpy(), d, rtol=1e-8, atol=1e-8)
    assert np.allclose(obj.gradient.numpy(), nu.sum(1) - (pi * d[:, None]).sum(1), atol=1e-8)
    assert abs(float(obj.gradient.sum())) < 1e-8  # decisions in = occupancy out


def test_maxent_fit_near_discount_one_recovers_the_expert():
    """The CLI case `irl mce --world featuregrid:size=6,discount=0.99999` through the Python API: it
    converges (it used to hang) and the learned reward's optimal policy loses little against the expert."""
    from rewardlab.eval import policy_loss
    from rewardlab.irl.experts import expert_demonstrations
    from rewardlab.irl.maxent import MaxEntConfig, MaxEntIRL

    world = _near_one("featuregrid:size=6")
    demos, _ = expert_demonstrations(world, 16, rng=np.random.default_rng(0))
    fit = MaxEntIRL(MaxEntConfig(causal=True)).fit(demos, world.mdp, rng=np.random.default_rng(1))
    assert fit.info["converged"]
    learned = value_iteration(world.mdp, fit.reward.values).policy
    optimal = value_iteration(world.mdp, world.reward)
    assert policy_loss(world.mdp, world.reward, learned, initial="uniform") <= 1e-3 * float(optimal.values.abs().mean())
