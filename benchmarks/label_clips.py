"""Seconds to render one labelling clip (``rewardlab.labeling.clips.render_segment``), per env, at the default
sizes, for segments of ``T`` steps recorded with random actions; one thread, the env built per clip (as the
ClipRenderer does). Rerun::

    OMP_NUM_THREADS=1 MPLBACKEND=Agg PYTHONPATH=src .venv/bin/python benchmarks/label_clips.py [T] [SIDE]

``SIDE`` (even) renders square clips of that side instead of the defaults.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

from rewardlab.data.preferences import Segment
from rewardlab.labeling.clips import render_segment


def recorded(env_id: str, steps: int) -> Segment:
    env = gym.make(env_id)
    obs, _ = env.reset(seed=0)
    env.action_space.seed(0)
    observations, actions = [], []
    for _ in range(steps):
        action = env.action_space.sample()
        observations.append(obs)
        actions.append(action)
        obs, *_ = env.step(action)
    env.close()
    return Segment(np.array(observations), np.array(actions))


if __name__ == "__main__":
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    size = (int(sys.argv[2]), int(sys.argv[2])) if len(sys.argv) > 2 else None
    rng = np.random.default_rng(0)
    cases = {
        "Pendulum-v1": recorded("Pendulum-v1", steps),
        "HalfCheetah-v5": recorded("HalfCheetah-v5", steps),
        "ALE/Pong-v5": Segment(rng.integers(0, 256, size=(steps, 4, 84, 84), dtype=np.uint8), np.zeros(steps)),
        "navigation:layout=tiny": Segment(rng.integers(0, 9, size=steps), np.zeros(steps)),
    }
    out = Path(tempfile.mkdtemp())
    results = {}
    for env_id, segment in cases.items():
        times = []
        for rep in range(3):
            start = time.perf_counter()
            path = render_segment(env_id, segment, out=out / f"{rep}.mp4", size=size)
            times.append(time.perf_counter() - start)
        results[env_id] = {
            "T": steps,
            "size": size or "default",
            "seconds_best_of_3": round(min(times), 3),
            "first": round(times[0], 3),
            "kB": path.stat().st_size // 1024,
        }
    print(json.dumps(results, indent=1))
