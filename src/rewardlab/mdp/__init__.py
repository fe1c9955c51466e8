"""Exact tabular MDPs: the :class:`TabularMDP`, its solvers, the MaxEnt objective and the worlds."""

from rewardlab.mdp.core import TabularMDP
from rewardlab.mdp.maxent import MaxEntObjective, log_likelihood, maxent_objective
from rewardlab.mdp.solvers import (
    Solution,
    Workspace,
    bellman_backup,
    boltzmann_policy,
    episode_occupancy,
    feature_expectations,
    greedy_policy,
    occupancy,
    policy_evaluation,
    policy_iteration,
    soft_value_iteration,
    state_action_occupancy,
    value_iteration,
)
from rewardlab.mdp.worlds import World, make_world

__all__ = [
    "MaxEntObjective",
    "Solution",
    "TabularMDP",
    "Workspace",
    "World",
    "bellman_backup",
    "boltzmann_policy",
    "episode_occupancy",
    "feature_expectations",
    "greedy_policy",
    "log_likelihood",
    "make_world",
    "maxent_objective",
    "occupancy",
    "policy_evaluation",
    "policy_iteration",
    "soft_value_iteration",
    "state_action_occupancy",
    "value_iteration",
]
