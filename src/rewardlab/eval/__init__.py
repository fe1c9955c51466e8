"""Evaluation against the truth when it is known: values, EVD, reward distances, likelihoods, ranking quality."""

from rewardlab.eval.metrics import (
    expected_value_difference,
    feature_expectation_gap,
    heldout_log_likelihood,
    policy_loss,
    policy_value,
    reward_distance,
)
from rewardlab.eval.ranking import (
    MIN_RANKING_TAU,
    RankingAgreement,
    extrapolation_plot,
    kendall_tau,
    pairwise_accuracy,
    ranking_agreement,
)

__all__ = [
    "MIN_RANKING_TAU",
    "RankingAgreement",
    "expected_value_difference",
    "extrapolation_plot",
    "feature_expectation_gap",
    "heldout_log_likelihood",
    "kendall_tau",
    "pairwise_accuracy",
    "policy_loss",
    "policy_value",
    "ranking_agreement",
    "reward_distance",
]
