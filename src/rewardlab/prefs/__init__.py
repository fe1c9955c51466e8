"""Learning rewards from rankings and preferences: losses, T-REX, D-REX, Bayesian REX, query strategies."""

from rewardlab.prefs.brex import BayesianREX, BayesianREXConfig, HackingCheck, PreferencePosterior, reward_hacking_check
from rewardlab.prefs.drex import DREX, DREXConfig
from rewardlab.prefs.losses import bradley_terry_loss, plackett_luce_loss, preference_probability
from rewardlab.prefs.queries import QUERY_STRATEGIES, QueryContext, QueryStrategy, select_queries
from rewardlab.prefs.trex import TREX, TREXConfig

__all__ = [
    "DREX",
    "QUERY_STRATEGIES",
    "TREX",
    "BayesianREX",
    "BayesianREXConfig",
    "DREXConfig",
    "HackingCheck",
    "PreferencePosterior",
    "QueryContext",
    "QueryStrategy",
    "TREXConfig",
    "bradley_terry_loss",
    "plackett_luce_loss",
    "preference_probability",
    "reward_hacking_check",
    "select_queries",
]
