"""PPO on relative-entropy IRL's learned reward on Pendulum-v1 (``relent-gym``), against PPO on the true reward.

Protocol, per seed ``s``:

1. demonstrations: 10 episodes (200 steps each) of :func:`rewardlab.irl.experts.pendulum_swing_up`, the
   hand-written swing-up controller (reset seeds 0..9, the same for every seed);
2. :class:`rewardlab.irl.sample_based.GymRelativeEntropyIRL` with its defaults (256 random tanh features of
   the observation, bandwidth 5, single-step segments, ``Z`` over 50 episodes of the uniformly random policy, 300 Adam
   steps, ``l2 = 0.01``), ``rng = default_rng(s)``;
3. PPO (:func:`rewardlab.rl.sb3.train_policy`, the RL Zoo Pendulum preset: 4 envs x 1,024 steps, gSDE) for
   ``--steps`` env steps with seed ``s``, on the learned reward (running-normalised, no control cost) and,
   as the expert, on the true reward;
4. each policy's true return over the same 20 deterministic evaluation episodes (reset seeds 10,000..),
   and the uniformly random policy's over them; normalised score = (score - random) / (expert - random).

Run (about 1.5 min per seed on an idle core; ``--set KEY=VALUE`` changes a setting of the config, e.g. ``--set segment=20
--set bandwidth=3`` for the earlier defaults, whose results are kept in ``benchmarks/relent_gym/segment20/``)::

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/relent_gym_pendulum.py --seeds 0 1 2 3 4 --out benchmarks/relent_gym/seeds01234.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from rewardlab.data.gym_rollouts import collect_rollouts
from rewardlab.irl.experts import pendulum_swing_up
from rewardlab.irl.sample_based import GymRelativeEntropyConfig, GymRelativeEntropyIRL
from rewardlab.rl.sb3 import evaluate, train_policy

ENV = "Pendulum-v1"
EVAL_EPISODES, EVAL_SEED = 20, 10_000


def uniform(obs: np.ndarray) -> np.ndarray:
    return np.zeros((len(obs), 1), np.float32)  # every action replaced by a uniform draw (epsilon = 1)


def run(seed: int, steps: int, settings: dict[str, object]) -> dict[str, object]:
    demos = collect_rollouts(ENV, pendulum_swing_up, 10, seed=0)
    t0 = time.perf_counter()
    fit = GymRelativeEntropyIRL(GymRelativeEntropyConfig(**settings)).fit(demos, ENV, rng=np.random.default_rng(seed))
    fit_seconds = time.perf_counter() - t0
    learned = train_policy(ENV, steps=steps, seed=seed, reward=fit.reward)
    expert = train_policy(ENV, steps=steps, seed=seed)
    score = float(evaluate(learned.model, ENV, episodes=EVAL_EPISODES, seed=EVAL_SEED).returns().mean())
    best = float(evaluate(expert.model, ENV, episodes=EVAL_EPISODES, seed=EVAL_SEED).returns().mean())
    random = float(collect_rollouts(ENV, uniform, EVAL_EPISODES, seed=EVAL_SEED, epsilon=1.0).returns().mean())
    return {
        "seed": seed,
        "steps": steps,
        "settings": settings,
        "demo_return": float(demos.returns().mean()),
        "relent_return": score,
        "true_reward_ppo_return": best,
        "random_return": random,
        "normalised": (score - random) / (best - random),
        "fit_seconds": round(fit_seconds, 2),
        "ppo_seconds_learned": round(learned.seconds, 1),
        "ppo_seconds_true": round(expert.seconds, 1),
        "ess_min": fit.info["ess_min"],
    }


if __name__ == "__main__":
    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, default=102_400)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a GymRelativeEntropyConfig setting")
    args = parser.parse_args()
    settings = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    rows = []
    for s in args.seeds:
        rows.append(run(s, args.steps, settings))
        print(json.dumps(rows[-1]), flush=True)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
