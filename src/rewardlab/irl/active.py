"""Active IRL: ask the demonstrator about the state the posterior is least sure of.

Lopes, Melo & Montesano (2009): after each answer, re-sample the Bayesian IRL posterior and query
the state whose posterior action distribution has the largest *mean entropy*
(:meth:`RewardPosterior.action_entropy`). The risk-aware variant (Brown, Cui & Niekum 2018) queries
the state where the current policy's ``alpha``-Value-at-Risk of EVD, started from that state, is
highest: where acting on the current estimate could cost the most. ``"random"`` is the baseline.

The demonstrator answers a query ``s`` with an action (:func:`make_teacher`: optimal, ties broken at
random, or Boltzmann-rational); each answer adds one decision ``(s, a)`` to the data.

References:
    Manuel Lopes, Francisco Melo, Luis Montesano, "Active Learning for Reward Estimation in Inverse
    Reinforcement Learning", ECML PKDD 2009.
    Daniel S. Brown, Yuchen Cui, Scott Niekum, "Risk-Aware Active Inverse Reinforcement Learning", CoRL 2018.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from rewardlab.errors import ConfigError, ValidationError
from rewardlab.eval import policy_loss
from rewardlab.irl.bayesian import BayesianIRLConfig, sample_posterior
from rewardlab.irl.posterior import RewardPosterior
from rewardlab.mdp import TabularMDP, boltzmann_policy, value_iteration

__all__ = ["ActiveLearningResult", "active_learning", "make_teacher", "query_scores"]

Strategy = Literal["entropy", "var", "random"]


def query_scores(posterior: RewardPosterior, strategy: Strategy = "entropy", *, alpha: float = 0.95, bins: int = 10) -> Tensor:
    """How much asking about each state is worth, ``(S,)``; query the argmax.

    * ``"entropy"``: the mean entropy of the posterior action distribution (Lopes et al. 2009);
    * ``"var"``: the ``alpha``-VaR of the EVD of the MAP reward's optimal policy started in that state;
    * ``"random"``: zeros (every state ties).
    """
    if strategy == "entropy":
        return posterior.action_entropy(bins=bins)
    if strategy == "var":
        policy = value_iteration(posterior.mdp, posterior.map_reward().values).policy
        return torch.quantile(posterior.evd(policy, per_state=True), alpha, dim=0)
    if strategy == "random":
        return torch.zeros(posterior.mdp.n_states, dtype=posterior.mdp.dtype)
    raise ConfigError("strategy", f"is {strategy!r}", "choose 'entropy', 'var' or 'random'")


def make_teacher(mdp: TabularMDP, reward: Any, *, rng: np.random.Generator, beta: float | None = None) -> Callable[[int], int]:
    """A simulated demonstrator: ``teacher(state) -> action``, optimal for ``reward`` (ties at random)
    or, with ``beta``, Boltzmann-rational over the optimal Q-values."""
    sol = value_iteration(mdp, reward)
    assert sol.q_values is not None
    probs = (sol.policy if beta is None else boltzmann_policy(sol.q_values, 1.0 / beta)).cpu().numpy()

    def teacher(state: int) -> int:
        p = probs[state]
        return int(rng.choice(len(p), p=p / p.sum()))

    return teacher


@dataclass
class ActiveLearningResult:
    """Queried states and answers, a score per round, the last posterior, and a warning for each round
    whose chains had not mixed (its query was chosen from an unreliable posterior)."""

    states: list[int] = field(default_factory=list)
    actions: list[int] = field(default_factory=list)
    evd: list[float] = field(default_factory=list)
    posterior: RewardPosterior | None = None
    warnings: list[str] = field(default_factory=list)


def active_learning(
    mdp: TabularMDP,
    teacher: Callable[[int], int],
    config: BayesianIRLConfig,
    *,
    rng: np.random.Generator,
    n_queries: int,
    strategy: Strategy = "entropy",
    alpha: float = 0.95,
    initial_counts: Any = None,
    true_reward: Any = None,
) -> ActiveLearningResult:
    """Query ``n_queries`` states one at a time, updating the posterior after each answer.

    Args:
        mdp: a discounted MDP.
        teacher: ``teacher(state) -> action`` (e.g. :func:`make_teacher`).
        config: the Bayesian IRL sampler for every round.
        rng: seeds the samplers and the random strategy's choices.
        n_queries: how many questions to ask.
        strategy: ``"entropy"``, ``"var"`` or ``"random"``.
        initial_counts: decision counts ``(S, A)`` already known (default: none).
        true_reward: when given, ``evd`` records the true-reward EVD (uniform start) of the MAP
            reward's optimal policy before the first query and after each one.

    A round whose chains have not mixed (:meth:`RewardPosterior.mixing`) still asks its query, and adds
    a message to ``warnings``.
    """
    if mdp.horizon is not None:
        raise ValidationError("mdp.horizon", "is finite", "active IRL queries states of a discounted MDP")
    if n_queries < 0:
        raise ValidationError("n_queries", f"is {n_queries}", "ask for 0 or more queries")
    counts = (
        torch.zeros(mdp.n_states, mdp.n_actions, dtype=mdp.dtype)
        if initial_counts is None
        else torch.as_tensor(initial_counts, dtype=mdp.dtype).clone()
    )
    result = ActiveLearningResult()
    for round_ in range(n_queries + 1):
        posterior = sample_posterior(mdp, counts, config, rng=rng)
        problem = posterior.mixing()
        if problem is not None:
            result.warnings.append(f"active IRL round {round_}: {problem}; its query (or final posterior) is unreliable")
        if true_reward is not None:
            policy = value_iteration(mdp, posterior.map_reward().values).policy
            result.evd.append(policy_loss(mdp, true_reward, policy, initial="uniform"))
        if round_ == n_queries:
            result.posterior = posterior
            break
        scores = query_scores(posterior, strategy, alpha=alpha).cpu().numpy()
        best = np.flatnonzero(scores >= scores.max() - 1e-12)
        state = int(rng.choice(best))
        action = teacher(state)
        counts[state, action] += 1
        result.states.append(state)
        result.actions.append(action)
    return result
