"""Learning rewards from demonstrations and from a learner's successive policies: one module per learner, each with the estimator shape of
:mod:`rewardlab.learner`."""

from rewardlab.irl.bc import BCConfig, BehaviouralCloning
from rewardlab.irl.deep_maxent import DeepMaxEntConfig, DeepMaxEntIRL
from rewardlab.irl.feature_matching import Apprenticeship, ApprenticeshipConfig
from rewardlab.irl.lfl import LearnerIRL, LearnerIRLConfig
from rewardlab.irl.lfl_deep import DeepLearnerIRL, DeepLearnerIRLConfig
from rewardlab.irl.maxent import MaxEntConfig, MaxEntIRL
from rewardlab.irl.mwal import MWAL, MWALConfig
from rewardlab.irl.sample_based import PerturbationConfig, PerturbationIRL, RelativeEntropyConfig, RelativeEntropyIRL

__all__ = [
    "MWAL",
    "Apprenticeship",
    "ApprenticeshipConfig",
    "BCConfig",
    "BehaviouralCloning",
    "DeepLearnerIRL",
    "DeepLearnerIRLConfig",
    "DeepMaxEntConfig",
    "DeepMaxEntIRL",
    "LearnerIRL",
    "LearnerIRLConfig",
    "MWALConfig",
    "MaxEntConfig",
    "MaxEntIRL",
    "PerturbationConfig",
    "PerturbationIRL",
    "RelativeEntropyConfig",
    "RelativeEntropyIRL",
]
