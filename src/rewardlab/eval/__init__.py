"""Evaluation against the truth when it is known: values, EVD, reward distances, likelihoods."""

from rewardlab.eval.metrics import (
    expected_value_difference,
    feature_expectation_gap,
    heldout_log_likelihood,
    policy_loss,
    policy_value,
    reward_distance,
)

__all__ = [
    "expected_value_difference",
    "feature_expectation_gap",
    "heldout_log_likelihood",
    "policy_loss",
    "policy_value",
    "reward_distance",
]
