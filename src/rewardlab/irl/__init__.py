"""Learning rewards from demonstrations: one module per learner, each with the estimator shape of
:mod:`rewardlab.learner`."""

from rewardlab.irl.bc import BCConfig, BehaviouralCloning
from rewardlab.irl.deep_maxent import DeepMaxEntConfig, DeepMaxEntIRL
from rewardlab.irl.feature_matching import Apprenticeship, ApprenticeshipConfig
from rewardlab.irl.maxent import MaxEntConfig, MaxEntIRL
from rewardlab.irl.mwal import MWAL, MWALConfig

__all__ = [
    "MWAL",
    "Apprenticeship",
    "ApprenticeshipConfig",
    "BCConfig",
    "BehaviouralCloning",
    "DeepMaxEntConfig",
    "DeepMaxEntIRL",
    "MWALConfig",
    "MaxEntConfig",
    "MaxEntIRL",
]
