"""Learning from a learner (Jacq, Geist, Paiva, Pietquin, ICML 2019): recover the reward that a
*learning* agent is improving on, from its successive policies.

The observed learner runs entropy-regularised (soft) policy iteration with temperature ``alpha``:

    ``pi_{k+1}(a | s) = exp((Q_k(s, a) - V_{k+1}(s)) / alpha)``,
    ``Q_k(s, a) = r(s, a) + gamma E_{s'|s,a} V^{pi_k}(s')``,
    ``V^{pi_k} = (I - gamma P_{pi_k})^{-1} (r_{pi_k} + alpha H(pi_k))``,

with ``V_{k+1}(s) = alpha log sum_a exp(Q_k(s, a) / alpha)`` the normaliser. Taking logs,

    ``alpha log pi_{k+1}(a | s) = r(s, a) + gamma (P V^{pi_k})(s, a) - V_{k+1}(s)``,

which is **linear** in the unknowns ``r`` and ``V_1, ..., V_K``, because ``V^{pi_k}`` is linear in
``r`` once ``pi_k`` is known. Stacking the ``S x A`` equations of every improvement step gives a least
squares problem (:func:`learner_reward`). Its solution is unique up to potential-based shaping
``gamma E Phi(s') - Phi(s)`` (which shifts every ``V`` by ``-Phi``) — the paper's identifiability
result — so the recovered reward has the true reward's optimal policies.

:func:`soft_policy_improvement` is the learner model (for tests and simulations);
:class:`LearnerIRL` fits from exact policies or estimates them from each step's trajectories
(tabular counts with a pseudo-count).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rewardlab._memory import check_memory
from rewardlab.data.validate import validate_dataset, validate_policy
from rewardlab.errors import ConfigError, ShapeError, ValidationError
from rewardlab.learner import Callback, FitResult
from rewardlab.mdp import TabularMDP, value_iteration
from rewardlab.rewards import TabularReward

__all__ = [
    "LearnerIRL",
    "LearnerIRLConfig",
    "learner_reward",
    "soft_policy_evaluation",
    "soft_policy_improvement",
    "soft_policy_iteration",
]


def _sa(mdp: TabularMDP, reward: Any) -> Tensor:
    r = torch.as_tensor(reward, dtype=torch.float64)
    if r.shape == (mdp.n_states,):
        return r[:, None].expand(-1, mdp.n_actions)
    if r.shape != (mdp.n_states, mdp.n_actions):
        raise ShapeError("reward", f"has shape {tuple(r.shape)}", f"pass ({mdp.n_states},) or ({mdp.n_states}, {mdp.n_actions})")
    return r


def _entropy(policy: Tensor) -> Tensor:
    return -(policy * torch.log(policy.clamp_min(1e-300))).sum(1)


def soft_policy_evaluation(mdp: TabularMDP, reward: Any, policy: Tensor, alpha: float) -> Tensor:
    """``V^pi = (I - gamma P_pi)^-1 (r_pi + alpha H(pi))``, the entropy-regularised value ``(S,)`` (dense solve)."""
    p = mdp.to_dense().to(torch.float64).cpu()  # (S, A, S)
    r = _sa(mdp, reward)
    pi = torch.as_tensor(policy, dtype=torch.float64)
    p_pi = torch.einsum("sa,sat->st", pi, p)
    rhs = (pi * r).sum(1) + alpha * _entropy(pi)
    out: Tensor = torch.linalg.solve(torch.eye(mdp.n_states, dtype=torch.float64) - mdp.discount * p_pi, rhs)
    return out


def soft_policy_improvement(mdp: TabularMDP, reward: Any, policy: Tensor, alpha: float) -> Tensor:
    """One step of the learner: ``pi'(a | s) ∝ exp(Q^pi(s, a) / alpha)`` with ``Q^pi = r + gamma P V^pi`` ``(S, A)``.

    Examples:
        >>> from rewardlab.mdp.worlds import chain
        >>> mdp = chain(3, discount=0.9)
        >>> pi = torch.full((3, 2), 0.5, dtype=torch.float64)
        >>> new = soft_policy_improvement(mdp, torch.tensor([0.0, 0.0, 1.0]), pi, alpha=0.1)
        >>> bool(new[1, 1] > 0.99)  # from the middle, move toward the rewarding end
        True
    """
    if not alpha > 0:
        raise ConfigError("alpha", f"is {alpha}", "use a positive temperature")
    if mdp.horizon is not None:
        raise ValidationError("mdp", "is finite-horizon", "use a discounted MDP for learning from a learner")
    v = soft_policy_evaluation(mdp, reward, policy, alpha)
    q = _sa(mdp, reward) + mdp.discount * torch.einsum("sat,t->sa", mdp.to_dense().to(torch.float64).cpu(), v)
    return torch.softmax(q / alpha, dim=1)


def soft_policy_iteration(mdp: TabularMDP, reward: Any, alpha: float, stages: int, *, start: Tensor | None = None) -> list[Tensor]:
    """The observed learner's successive policies ``pi_0, ..., pi_{stages-1}`` (``(S, A)`` float64 each):
    ``pi_0`` is ``start`` (default: uniform), each next one :func:`soft_policy_improvement` of the last.
    What :class:`LearnerIRL` learns from (Jacq et al. 2019, section 3).

    Examples:
        >>> from rewardlab.mdp.worlds import chain
        >>> pis = soft_policy_iteration(chain(3, discount=0.9), torch.tensor([0.0, 0.0, 1.0]), 0.1, 3)
        >>> len(pis), pis[0][1].tolist(), bool(pis[2][1, 1] > 0.99)
        (3, [0.5, 0.5], True)
    """
    if stages < 1:
        raise ConfigError("stages", f"is {stages}", "ask for at least one stage")
    pi = torch.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions, dtype=torch.float64) if start is None else start
    policies = [torch.as_tensor(pi, dtype=torch.float64)]
    for _ in range(stages - 1):
        policies.append(soft_policy_improvement(mdp, reward, policies[-1], alpha))
    return policies


def learner_reward(mdp: TabularMDP, policies: Sequence[Any] | Tensor, alpha: float, *, state_only: bool = False) -> tuple[Tensor, float]:
    """Least-squares reward from a learner's successive policies ``pi_0, ..., pi_K`` (``K >= 1``).

    Unknowns: ``r`` (``(S, A)``, or ``(S,)`` with ``state_only``) and one normaliser ``V_{k+1}`` ``(S,)`` per step.

    Returns:
        ``(reward, residual)``: the minimum-norm least-squares reward ``(S, A)`` / ``(S,)`` and the RMS
        residual of the equations (0 when the policies came from exact soft policy iteration).
    """
    pis = torch.stack([torch.as_tensor(p, dtype=torch.float64) for p in policies])
    n_s, n_a = mdp.n_states, mdp.n_actions
    if pis.ndim != 3 or pis.shape[1:] != (n_s, n_a) or len(pis) < 2:
        raise ShapeError("policies", f"have shape {tuple(pis.shape)}", f"pass at least two ({n_s}, {n_a}) policies, oldest first")
    if bool((pis <= 0).any()):
        raise ValidationError(
            "policies", "have zero probabilities", "pass soft (full-support) policies, e.g. estimated with a pseudo-count"
        )
    if mdp.horizon is not None:
        raise ValidationError("mdp", "is finite-horizon", "use a discounted MDP for learning from a learner")
    k_steps = len(pis) - 1
    n_rows, n_cols = k_steps * n_s * n_a, (n_s if state_only else n_s * n_a) + k_steps * n_s
    # the blocks, the stacked system and its copy inside the least-squares solver; the (SA, SA) products of a block
    check_memory(
        "policies",
        8.0 * (3 * n_rows * n_cols + 3 * (n_s * n_a) ** 2),
        f"the least-squares system of {k_steps} improvement steps on {n_s} states x {n_a} actions",
        "observe fewer stages, or use a smaller world",
    )
    p = mdp.to_dense().to(torch.float64).cpu().reshape(n_s * n_a, n_s)  # (SA, S)
    eye = torch.eye(n_s, dtype=torch.float64)
    expand = torch.repeat_interleave(eye, n_a, dim=0)  # (SA, S): row (s, a) picks s
    n_r = n_s if state_only else n_s * n_a
    rows, rhs = [], []
    for k in range(k_steps):
        pi = pis[k]
        # (S, SA): r_pi = Pi r for a state-action reward r flattened as (s, a)
        big_pi = torch.zeros(n_s, n_s * n_a, dtype=torch.float64)
        big_pi[torch.arange(n_s).repeat_interleave(n_a), torch.arange(n_s * n_a)] = pi.reshape(-1)
        m = torch.linalg.inv(eye - mdp.discount * torch.einsum("sa,sat->st", pi, p.reshape(n_s, n_a, n_s)))
        # alpha log pi_{k+1} = r + gamma P M (Pi r + alpha H) - E V_{k+1}
        coef_r = torch.eye(n_s * n_a, dtype=torch.float64) + mdp.discount * p @ m @ big_pi
        if state_only:
            coef_r = coef_r @ expand
        block = torch.zeros(n_s * n_a, n_r + k_steps * n_s, dtype=torch.float64)
        block[:, :n_r] = coef_r
        block[:, n_r + k * n_s : n_r + (k + 1) * n_s] = -expand
        rows.append(block)
        rhs.append(alpha * torch.log(pis[k + 1]).reshape(-1) - mdp.discount * alpha * (p @ (m @ _entropy(pi))))
    a_mat, b_vec = torch.cat(rows), torch.cat(rhs)
    x = torch.linalg.lstsq(a_mat, b_vec[:, None], driver="gelsd").solution[:, 0]
    residual = float((a_mat @ x - b_vec).square().mean().sqrt())
    r = x[:n_r]
    return (r if state_only else r.reshape(n_s, n_a)), residual


@dataclass(frozen=True)
class LearnerIRLConfig:
    """Settings of :class:`LearnerIRL`.

    Attributes:
        alpha: the learner's (assumed known) entropy temperature.
        state_only: recover a reward per state instead of per state-action.
        smoothing: pseudo-count when estimating each step's policy from its trajectories.
    """

    alpha: float = 1.0
    state_only: bool = False
    smoothing: float = 1.0

    def __post_init__(self) -> None:
        if not self.alpha > 0:
            raise ConfigError("alpha", f"is {self.alpha}", "use a positive temperature")
        if not self.smoothing > 0:
            raise ConfigError("smoothing", f"is {self.smoothing}", "use a positive pseudo-count (log pi needs full support)")


@dataclass
class LearnerIRL:
    """Learning from a learner with the estimator shape of :mod:`rewardlab.learner`.

    ``fit(data, mdp, *, rng)``: ``data`` is a sequence of the learner's stages, oldest first; each stage
    is an ``(S, A)`` policy, or a dataset of that stage's trajectories (its policy is then estimated
    from the counts with ``smoothing``). Returns the reward and its optimal policy; ``info["residual"]``
    is the fit's RMS residual.

    Examples:
        >>> from rewardlab.mdp.worlds import random_mdp
        >>> from rewardlab.eval import reward_distance
        >>> w = random_mdp(5, 2, 2, seed=0, discount=0.8)
        >>> pis = [torch.full((5, 2), 0.5, dtype=torch.float64)]
        >>> for _ in range(2):
        ...     pis.append(soft_policy_improvement(w.mdp, w.reward, pis[-1], alpha=0.5))
        >>> fit = LearnerIRL(LearnerIRLConfig(alpha=0.5)).fit(pis, w.mdp, rng=np.random.default_rng(0))
        >>> round(reward_distance(w.mdp, w.reward, fit.reward.values), 6), fit.info["residual"] < 1e-8
        (0.0, True)
    """

    config: LearnerIRLConfig = field(default_factory=LearnerIRLConfig)

    def fit(self, data: Any, env_or_mdp: Any, *, rng: np.random.Generator, callback: Callback | None = None) -> FitResult:
        mdp = env_or_mdp
        if not isinstance(mdp, TabularMDP):
            raise ValidationError("env_or_mdp", f"is a {type(mdp).__name__}", "pass a TabularMDP")
        stages = list(data)
        if len(stages) < 2:
            raise ValidationError("data", f"holds {len(stages)} stage(s)", "pass at least two of the learner's stages, oldest first")
        policies = [self._policy(stage, mdp, i) for i, stage in enumerate(stages)]
        reward, residual = learner_reward(mdp, policies, self.config.alpha, state_only=self.config.state_only)
        tab = TabularReward(reward.to(mdp.dtype))
        policy = value_iteration(mdp, tab.values.to(mdp.device)).policy
        return FitResult(reward=tab, policy=policy, info={"residual": residual, "stages": len(stages)})

    def _policy(self, stage: Any, mdp: TabularMDP, i: int) -> Tensor:
        if isinstance(stage, Tensor) or (isinstance(stage, np.ndarray) and stage.dtype.kind == "f"):
            return torch.as_tensor(validate_policy(stage, mdp.n_states, mdp.n_actions, name=f"data[{i}]"))
        from rewardlab.irl.bc import tabular_bc_policy

        states, actions, _ = validate_dataset(stage, mdp, name=f"data[{i}]").decisions()
        return tabular_bc_policy(states, actions, mdp.n_states, mdp.n_actions, smoothing=self.config.smoothing).to(torch.float64).cpu()
