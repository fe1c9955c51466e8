"""Reward models: tabular and linear tables, neural nets and ensembles, and env wrappers that use them."""

from rewardlab.rewards.nets import ClippedInputReward, NeuralReward, PessimisticReward, RewardNet, RewardNetSpec
from rewardlab.rewards.tabular import TabularReward

__all__ = ["ClippedInputReward", "NeuralReward", "PessimisticReward", "RewardNet", "RewardNetSpec", "TabularReward"]
