"""Learning rewards from demonstrations: one module per learner, each with the estimator shape of
:mod:`rewardlab.learner`."""

from rewardlab.irl.deep_maxent import DeepMaxEntConfig, DeepMaxEntIRL
from rewardlab.irl.maxent import MaxEntConfig, MaxEntIRL

__all__ = ["DeepMaxEntConfig", "DeepMaxEntIRL", "MaxEntConfig", "MaxEntIRL"]
