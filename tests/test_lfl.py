"""Learning from a learner (Jacq et al. 2019): exact soft policy-iteration steps give back the reward
up to potential shaping; estimated policies from the learner's trajectories come close."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rewardlab.data import sample_tabular
from rewardlab.errors import ValidationError
from rewardlab.eval import reward_distance
from rewardlab.irl.lfl import LearnerIRL, LearnerIRLConfig, learner_reward, soft_policy_evaluation, soft_policy_improvement
from rewardlab.mdp import value_iteration
from rewardlab.mdp.worlds import feature_gridworld, random_mdp


def _learner(mdp, reward, alpha: float, steps: int) -> list[torch.Tensor]:
    pis = [torch.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions, dtype=torch.float64)]
    for _ in range(steps):
        pis.append(soft_policy_improvement(mdp, reward, pis[-1], alpha))
    return pis


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("steps", [1, 3])
def test_exact_steps_recover_the_reward_up_to_shaping(seed: int, steps: int) -> None:
    w = random_mdp(8, 3, 3, seed=seed, discount=0.9)
    true = torch.as_tensor(np.random.default_rng(seed).standard_normal((8, 3)))
    reward, residual = learner_reward(w.mdp, _learner(w.mdp, true, 0.7, steps), 0.7)
    assert residual < 1e-9
    assert reward_distance(w.mdp, true, reward) < 1e-6
    # what is left is exactly a potential-based shaping term: r_hat - r = gamma P Phi - Phi for some Phi
    p = w.mdp.to_dense().double()
    n_s, n_a = 8, 3
    design = (w.mdp.discount * p - torch.eye(n_s, dtype=torch.float64)[:, None, :].expand(n_s, n_a, n_s)).reshape(n_s * n_a, n_s)
    phi = torch.linalg.lstsq(design, (reward - true).reshape(-1, 1)).solution
    assert float((design @ phi - (reward - true).reshape(-1, 1)).abs().max()) < 1e-8
    same = value_iteration(w.mdp, reward.to(w.mdp.dtype)).policy
    assert torch.equal(same, value_iteration(w.mdp, true.to(w.mdp.dtype)).policy)


def test_state_only_reward_on_a_feature_grid() -> None:
    w = feature_gridworld(4, seed=3, discount=0.9)
    true = w.reward.double()
    reward, residual = learner_reward(w.mdp, _learner(w.mdp, true, 0.3, 2), 0.3, state_only=True)
    assert reward.shape == (16,) and residual < 1e-9
    assert reward_distance(w.mdp, true, reward) < 1e-6


def test_the_learner_model_is_soft_policy_iteration() -> None:
    """Repeated improvement converges to the soft-optimal policy, whose value is a fixed point."""
    w = random_mdp(6, 2, 2, seed=4, discount=0.8)
    pis = _learner(w.mdp, w.reward, 0.5, 40)
    assert torch.allclose(pis[-1], pis[-2], atol=1e-10)
    v = soft_policy_evaluation(w.mdp, w.reward, pis[-1], 0.5)
    q = w.reward.double()[:, None] + 0.8 * torch.einsum("sat,t->sa", w.mdp.to_dense().double(), v)
    assert torch.allclose(v, 0.5 * torch.logsumexp(q / 0.5, dim=1), atol=1e-9)


def test_estimated_policies_from_trajectories_come_close() -> None:
    w = random_mdp(6, 2, 2, seed=5, discount=0.8)
    true = torch.as_tensor(np.random.default_rng(5).standard_normal((6, 2)))
    pis = _learner(w.mdp, true, 1.0, 2)
    rng = np.random.default_rng(0)
    uniform_start = torch.full((6,), 1 / 6, dtype=torch.float64)
    stages = [sample_tabular(w.mdp, pi, 4000, rng=rng, length=10, initial=uniform_start) for pi in pis]
    fit = LearnerIRL(LearnerIRLConfig(alpha=1.0, smoothing=0.5)).fit(stages, w.mdp, rng=rng)
    assert reward_distance(w.mdp, true, fit.reward.values) < 0.1
    exact = LearnerIRL(LearnerIRLConfig(alpha=1.0)).fit(pis, w.mdp, rng=rng)
    assert fit.info["residual"] > exact.info["residual"]


def test_bad_policies_are_refused() -> None:
    w = random_mdp(4, 2, 2, seed=0)
    hard = torch.tensor([[1.0, 0.0]] * 4, dtype=torch.float64)
    with pytest.raises(ValidationError, match="policies"):
        learner_reward(w.mdp, [hard, hard], 1.0)
    with pytest.raises(ValidationError, match="policies"):
        learner_reward(w.mdp, [torch.full((4, 2), 0.5)], 1.0)
