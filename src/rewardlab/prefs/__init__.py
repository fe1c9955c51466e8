"""Learning rewards from rankings and preferences: losses, T-REX, D-REX, Bayesian REX."""

from rewardlab.prefs.brex import BayesianREX, BayesianREXConfig, HackingCheck, PreferencePosterior, reward_hacking_check
from rewardlab.prefs.drex import DREX, DREXConfig
from rewardlab.prefs.losses import bradley_terry_loss, plackett_luce_loss, preference_probability
from rewardlab.prefs.trex import TREX, TREXConfig

__all__ = [
    "DREX",
    "TREX",
    "BayesianREX",
    "BayesianREXConfig",
    "DREXConfig",
    "HackingCheck",
    "PreferencePosterior",
    "TREXConfig",
    "bradley_terry_loss",
    "plackett_luce_loss",
    "preference_probability",
    "reward_hacking_check",
]
