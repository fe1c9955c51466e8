"""The policy-walk Q* solvers (mdp/policy_walk.py) against value and policy iteration: exact at every
discount, for state, state-action and linear features, deterministic and stochastic dynamics."""

from __future__ import annotations

import pytest
import torch

from rewardlab.errors import ConvergenceError, ShapeError, ValidationError
from rewardlab.mdp import policy_iteration, value_iteration
from rewardlab.mdp.policy_walk import PolicyWalkSolver, WarmValueIteration
from rewardlab.mdp.worlds import chain, feature_gridworld


def _near_tie_chain() -> tuple[torch.Tensor, torch.Tensor]:
    """chain(2): state 1 is absorbing under both actions. Reward per (s, a) as theta_{s A + a}: a start
    reward where action 0 is best in state 1, and one where action 1 beats it by 1e-5 per step."""
    start = torch.tensor([[0.0, 0.0, 1.0, 0.0]], dtype=torch.float64)
    near_tie = torch.tensor([[0.0, 0.0, 1.0, 1.0 + 1e-5]], dtype=torch.float64)
    return start, near_tie


def test_warm_start_is_exact_at_discount_near_one():
    # Staying with action 0 in state 1 loses 1e-5 per step, 1e-5 / (1 - gamma) = 1 in value at gamma 0.99999,
    # while its one-step disadvantage (1e-5) is below the old fixed slack 1e-9 (1 + |Q|) = 1e-4: the
    # walk kept the suboptimal policy and returned its Q (off by ~1) as Q*.
    mdp = chain(2, discount=0.99999)
    sa = torch.eye(4, dtype=torch.float64).view(2, 2, 4)
    solver = PolicyWalkSolver(mdp, sa)
    start, near_tie = _near_tie_chain()
    _, actions, qfeat = solver.solve_cold(start)
    assert actions.tolist() == [[1, 0]]
    q, actions, _ = solver.solve(near_tie, actions, qfeat)
    exact = policy_iteration(mdp, near_tie.view(1, 2, 2))
    assert actions.tolist() == [[1, 1]]
    assert torch.allclose(q.transpose(1, 2), exact.q_values, rtol=1e-9, atol=0)
    assert torch.allclose(q.transpose(1, 2), value_iteration(mdp, near_tie.view(1, 2, 2)).q_values, rtol=1e-9, atol=0)


@pytest.mark.parametrize("discount", [0.9, 0.99999])
@pytest.mark.parametrize(
    "world,kind",
    [
        (dict(size=4), "linear"),
        (dict(size=4, slip=0.2), "state"),
        (dict(size=3), "state_action"),
        (dict(size=24, slip=0.1), "linear"),  # > 512 states, stochastic: sparse LU
        (dict(size=24), "linear"),  # > 512 states, deterministic: pointer doubling
    ],
)
def test_cold_and_warm_solves_equal_value_iteration(world, kind, discount):
    mdp = feature_gridworld(**world, seed=1, discount=discount).mdp
    n_s, n_a = mdp.n_states, mdp.n_actions
    if kind == "linear":
        features = mdp.features
    elif kind == "state":
        features = torch.eye(n_s, dtype=mdp.dtype)
    else:
        features = torch.eye(n_s * n_a, dtype=mdp.dtype).view(n_s, n_a, n_s * n_a)
    gen = torch.Generator().manual_seed(0)
    theta = torch.randn(3, features.shape[-1], generator=gen, dtype=mdp.dtype)
    tables = torch.einsum("s...d,bd->bs...", features, theta)
    exact = value_iteration(mdp, tables).q_values
    solver = PolicyWalkSolver(mdp, features)
    q, actions, qfeat = solver.solve_cold(theta)
    assert torch.allclose(q.transpose(1, 2), exact, rtol=1e-8, atol=1e-8)
    # warm: every chain moves to another's reward, starting from its own policy
    moved = theta.roll(1, 0)
    q2, _, _ = solver.solve(moved, actions, qfeat)
    assert torch.allclose(q2.transpose(1, 2), exact.roll(1, 0), rtol=1e-8, atol=1e-8)


def test_warm_value_iteration_matches_value_iteration():
    mdp = feature_gridworld(4, seed=2, slip=0.2, discount=0.99999).mdp
    tables = torch.randn(2, mdp.n_states, generator=torch.Generator().manual_seed(1), dtype=mdp.dtype)
    q, v = WarmValueIteration(mdp).solve(tables, None)
    exact = value_iteration(mdp, tables)
    assert torch.allclose(q.transpose(1, 2), exact.q_values, rtol=1e-9, atol=1e-6)
    q_warm, _ = WarmValueIteration(mdp).solve(tables, v)  # from the fixed point: unchanged
    assert torch.allclose(q_warm, q, rtol=1e-9, atol=1e-6)


def test_bad_input_is_named():
    mdp = chain(3, discount=0.9)
    with pytest.raises(ShapeError, match="features"):
        PolicyWalkSolver(mdp, torch.eye(4, dtype=torch.float64))
    with pytest.raises(ValidationError, match="horizon"):
        PolicyWalkSolver(chain(3, horizon=4), torch.eye(3, dtype=torch.float64))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_iterative_successor_features_match_cpu_and_stop_at_their_cap():
    world = dict(size=24, slip=0.1, seed=1)  # > 512 states, stochastic: iteration on CUDA, sparse LU on the CPU
    cpu = feature_gridworld(**world).mdp
    gpu = cpu.to("cuda")
    theta = torch.randn(2, cpu.features.shape[1], generator=torch.Generator().manual_seed(0), dtype=cpu.dtype)
    q_cpu, _, _ = PolicyWalkSolver(cpu, cpu.features).solve_cold(theta)
    q_gpu, _, _ = PolicyWalkSolver(gpu, gpu.features).solve_cold(theta.cuda())
    assert torch.allclose(q_gpu.cpu(), q_cpu, rtol=1e-8, atol=1e-7)
    slow = feature_gridworld(**world, discount=0.99999).mdp.to("cuda")
    with pytest.raises(ConvergenceError, match="successor features"):
        PolicyWalkSolver(slow, slow.features).solve_cold(theta.cuda())
