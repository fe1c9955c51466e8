"""Reward models: tabular and linear now; neural nets and ensembles follow."""

from rewardlab.rewards.tabular import TabularReward

__all__ = ["TabularReward"]
