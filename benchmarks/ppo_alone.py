"""Seconds of plain SB3 PPO on Pendulum-v1 with rewardlab's preset for 102,400 steps (25 rollouts of 4 x 1,024), the
RL part that rewardlab's RLHF loop and imitation's preference comparisons share (benchmarks/RESULTS.md, "Pendulum-v1
against imitation 1.0.1"). Imports only stable-baselines3, so it runs in either venv; run both side by side::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ppo_alone.py & OMP_NUM_THREADS=1 benchmarks/.venv-imitation/bin/python benchmarks/ppo_alone.py
"""

from __future__ import annotations

import json
import time

import stable_baselines3
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

from imitation_prefs import PPO_PRESET  # the preset, in a file that runs in either venv

if __name__ == "__main__":
    torch.set_num_threads(1)
    preset = {k: v for k, v in PPO_PRESET.items() if k != "n_envs"}
    model = PPO("MlpPolicy", make_vec_env("Pendulum-v1", n_envs=PPO_PRESET["n_envs"], seed=0), seed=0, verbose=0, **preset)
    start = time.perf_counter()
    model.learn(102_400)
    print(json.dumps({"stable_baselines3": stable_baselines3.__version__, "seconds": round(time.perf_counter() - start, 2)}))
