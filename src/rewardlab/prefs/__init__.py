"""Learning rewards from rankings and preferences: losses, T-REX, D-REX, Bayesian REX, query strategies, teachers,
active preference learning of a linear reward."""

from rewardlab.prefs.active_linear import ActivePreferenceConfig, ActivePreferenceLearner
from rewardlab.prefs.brex import BayesianREX, BayesianREXConfig, HackingCheck, PreferencePosterior, reward_hacking_check
from rewardlab.prefs.drex import DREX, DREXConfig
from rewardlab.prefs.losses import bradley_terry_loss, plackett_luce_loss, preference_probability
from rewardlab.prefs.queries import QUERY_STRATEGIES, QueryContext, QueryStrategy, select_queries
from rewardlab.prefs.reward_trainer import PreferenceRewardTrainer, RewardTrainerConfig
from rewardlab.prefs.teachers import (
    TEACHER_PRESETS,
    HumanAnswers,
    HumanTeacher,
    ReplayTeacher,
    SimulatedTeacher,
    Teacher,
    TeacherConfig,
    TeacherLabels,
    bpref_labels,
    bpref_return_scale,
    myopic_returns,
    teacher_preset,
)
from rewardlab.prefs.trex import TREX, TREXConfig

__all__ = [
    "DREX",
    "QUERY_STRATEGIES",
    "TEACHER_PRESETS",
    "TREX",
    "ActivePreferenceConfig",
    "ActivePreferenceLearner",
    "BayesianREX",
    "BayesianREXConfig",
    "DREXConfig",
    "HackingCheck",
    "HumanAnswers",
    "HumanTeacher",
    "PreferencePosterior",
    "PreferenceRewardTrainer",
    "QueryContext",
    "QueryStrategy",
    "ReplayTeacher",
    "RewardTrainerConfig",
    "SimulatedTeacher",
    "TREXConfig",
    "Teacher",
    "TeacherConfig",
    "TeacherLabels",
    "bpref_labels",
    "bpref_return_scale",
    "bradley_terry_loss",
    "myopic_returns",
    "plackett_luce_loss",
    "preference_probability",
    "reward_hacking_check",
    "select_queries",
    "teacher_preset",
]
