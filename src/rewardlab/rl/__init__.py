"""Policy optimisation: Stable-Baselines3 PPO/SAC on learned rewards, and ranked demonstrations from checkpoints."""

from rewardlab.rl.atari import ATARI_PPO, MaskScore, atari_env
from rewardlab.rl.sb3 import PRESETS, TrainResult, evaluate, init_actor, make_ranked_demos, make_vec_env, train_policy

__all__ = [
    "ATARI_PPO",
    "PRESETS",
    "MaskScore",
    "TrainResult",
    "atari_env",
    "evaluate",
    "init_actor",
    "make_ranked_demos",
    "make_vec_env",
    "train_policy",
]
