"""Learning rewards from rankings and preferences: losses, T-REX, D-REX, Bayesian REX."""

from rewardlab.prefs.brex import BayesianREX, BayesianREXConfig, PreferencePosterior
from rewardlab.prefs.losses import bradley_terry_loss, plackett_luce_loss, preference_probability
from rewardlab.prefs.trex import TREX, TREXConfig

__all__ = [
    "TREX",
    "BayesianREX",
    "BayesianREXConfig",
    "PreferencePosterior",
    "TREXConfig",
    "bradley_terry_loss",
    "plackett_luce_loss",
    "preference_probability",
]
