"""Learning rewards from rankings and preferences: losses, T-REX, D-REX, Bayesian REX."""

from rewardlab.prefs.brex import BayesianREX, BayesianREXConfig, PreferencePosterior
from rewardlab.prefs.drex import DREX, DREXConfig
from rewardlab.prefs.losses import bradley_terry_loss, plackett_luce_loss, preference_probability
from rewardlab.prefs.trex import TREX, TREXConfig

__all__ = [
    "DREX",
    "TREX",
    "BayesianREX",
    "BayesianREXConfig",
    "DREXConfig",
    "PreferencePosterior",
    "TREXConfig",
    "bradley_terry_loss",
    "plackett_luce_loss",
    "preference_probability",
]
