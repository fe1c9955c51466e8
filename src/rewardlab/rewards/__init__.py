"""Reward models: tabular and linear tables, neural nets and ensembles, the constant control, and env wrappers that use them."""

from rewardlab.rewards.constant import ConstantReward
from rewardlab.rewards.io import load_reward
from rewardlab.rewards.nets import ClippedInputReward, NeuralReward, PessimisticReward, RewardNet, RewardNetSpec, SoftplusReward
from rewardlab.rewards.tabular import TabularReward

__all__ = [
    "ClippedInputReward",
    "ConstantReward",
    "NeuralReward",
    "PessimisticReward",
    "RewardNet",
    "RewardNetSpec",
    "SoftplusReward",
    "TabularReward",
    "load_reward",
]
