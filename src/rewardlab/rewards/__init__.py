"""Reward models: tabular and linear tables, neural nets and ensembles, and env wrappers that use them."""

from rewardlab.rewards.nets import NeuralReward, RewardNet, RewardNetSpec
from rewardlab.rewards.tabular import TabularReward

__all__ = ["NeuralReward", "RewardNet", "RewardNetSpec", "TabularReward"]
