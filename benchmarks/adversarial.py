"""GAIL and AIRL (issue 21): rewardlab against imitation 1.0.1 on the same demonstrations, env, PPO settings and env steps.

``prepare`` trains an expert PPO on the true reward (CartPole-v1: the setting of ``tests/test_adversarial.py``,
about 10k steps; Pendulum-v1: rewardlab's PPO preset, 100k steps; HalfCheetah-v5: SB3's defaults, 1M steps), keeps it
as ``DIR/expert_ENV.zip``, rolls out 8 (CartPole) or 10 expert episodes and a uniformly random policy's 20, and writes
them to ``DIR/demos_ENV.npz`` with their mean returns (and the demonstrations in the library's format to
``DIR/dataset_ENV``). ``benchmarks/adversarial_sweep.py`` runs both libraries over seeds as a sweep.
``run`` fits rewardlab's GAIL or AIRL on them and writes one JSON line: the final policy's mean return over
10 evaluation episodes, its normalised score ``(score - random) / (expert - random)``, and the fit's
wall-clock (the loop alone, without the final evaluation); with ``--transfer`` also the true return of a fresh
PPO trained on the learned reward alone (same settings and steps, ``normalize="running"``). ``benchmarks/imitation_adversarial.py`` does the
same with imitation's GAIL and AIRL in its own venv, reading the same file::

    OMP_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/adversarial.py prepare --env CartPole-v1 --out /tmp/adv
    OMP_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/adversarial.py run --algo gail --env CartPole-v1 --steps 30720 --dir /tmp/adv
    OMP_NUM_THREADS=1 benchmarks/.venv-imitation/bin/python benchmarks/imitation_adversarial.py --algo gail --env CartPole-v1 --steps 30720 --dir /tmp/adv

Both use 8 envs x 256 steps per round on CartPole (rewardlab's Pendulum preset: 4 x 1024 on Pendulum; SB3's
defaults, 1 x 2048, on HalfCheetah), PPO with 10 epochs of minibatch 256 (64 on Pendulum and HalfCheetah), a (64, 64) discriminator and the same number of discriminator steps per
round on a batch of the round's size.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

#: PPO per env, shared with imitation_adversarial.py (which reads this file's constants by import)
PPO_SETTINGS = {
    "CartPole-v1": {
        "n_envs": 8,
        "n_steps": 256,
        "batch_size": 256,
        "gae_lambda": 0.8,
        "gamma": 0.98,
        "n_epochs": 10,
        "learning_rate": 1e-3,
    },
    "Pendulum-v1": {
        "n_envs": 4,
        "n_steps": 1024,
        "gae_lambda": 0.95,
        "gamma": 0.9,
        "n_epochs": 10,
        "ent_coef": 0.0,
        "learning_rate": 1e-3,
        "clip_range": 0.2,
        "use_sde": True,
        "sde_sample_freq": 4,
    },
    # SB3's defaults (the PPO paper's MuJoCo settings: 1 env x 2048 steps, minibatch 64, 10 epochs, lr 3e-4), as
    # rewardlab's train_policy uses for HalfCheetah-v5
    "HalfCheetah-v5": {"n_envs": 1},
}
#: discriminator steps per round and step size per (algorithm, env): rewardlab's DISC_PRESETS and defaults, given
#: to both libraries
DISC_SETTINGS = {
    ("gail", "CartPole-v1"): (8, 3e-4),
    ("airl", "CartPole-v1"): (4, 3e-4),
    ("gail", "Pendulum-v1"): (16, 1e-3),
    ("airl", "Pendulum-v1"): (16, 1e-3),
    ("gail", "HalfCheetah-v5"): (4, 3e-4),
    ("airl", "HalfCheetah-v5"): (4, 3e-4),
}
#: env steps of the expert PPO that ``prepare`` trains on the true reward (CartPole-v1's expert has its own settings)
EXPERT_STEPS = {"Pendulum-v1": 100_000, "HalfCheetah-v5": 1_000_000}


def prepare(env: str, out: Path) -> None:
    from rewardlab.data.gym_rollouts import collect_rollouts

    if env == "CartPole-v1":
        from stable_baselines3 import PPO
        from stable_baselines3.common.env_util import make_vec_env

        expert_settings = {
            "n_steps": 32,
            "batch_size": 256,
            "gae_lambda": 0.8,
            "gamma": 0.98,
            "n_epochs": 20,
            "ent_coef": 0.0,
            "learning_rate": 1e-3,
        }
        expert = PPO(
            "MlpPolicy",
            make_vec_env(env, n_envs=8, seed=0),
            seed=0,
            verbose=0,
            policy_kwargs={"net_arch": {"pi": [32, 32], "vf": [64, 64]}},
            **expert_settings,
        )  # type: ignore[arg-type]
        expert.learn(10_240)
        demos = collect_rollouts(env, expert, 8, seed=0)
        draws = np.random.default_rng(0)
        rand = collect_rollouts(env, lambda o: draws.integers(2, size=len(o)), 20, seed=5)
    else:
        import gymnasium as gym

        from rewardlab.rl import train_policy

        expert = train_policy(env, steps=EXPERT_STEPS[env], seed=0).model
        demos = collect_rollouts(env, expert, 10, seed=0)
        space = gym.make(env).action_space
        draws = np.random.default_rng(0)
        rand = collect_rollouts(env, lambda o: draws.uniform(space.low, space.high, (len(o), *space.shape)).astype(np.float32), 20, seed=5)
    out.mkdir(parents=True, exist_ok=True)
    expert.save(out / f"expert_{env}.zip")  # the expert PPO itself, a small file (tens of KB), kept beside its demos
    from rewardlab.data.io import save_dataset

    save_dataset(demos, out / f"dataset_{env}", env_id=env)  # the library's format (tests/data/pendulum_expert is Pendulum-v1's)
    np.savez(
        out / f"demos_{env}.npz",
        obs=np.concatenate([tr.obs for tr in demos]),
        acts=np.concatenate([tr.acts for tr in demos]),
        lengths=np.array([len(tr) for tr in demos]),
        terminal=np.array([tr.terminal for tr in demos]),
        expert_return=demos.returns().mean(),
        random_return=rand.returns().mean(),
    )
    print(json.dumps({"env": env, "expert": float(demos.returns().mean()), "random": float(rand.returns().mean())}))


def load(directory: Path, env: str) -> tuple[list[tuple[np.ndarray, np.ndarray, bool]], float, float]:
    """``[(obs (T+1, D), acts (T, ...), terminal)]``, the expert's and the random policy's mean returns."""
    data = np.load(directory / f"demos_{env}.npz")
    out, o, a = [], 0, 0
    for length, terminal in zip(data["lengths"], data["terminal"], strict=True):
        out.append((data["obs"][o : o + length + 1], data["acts"][a : a + length], bool(terminal)))
        o, a = o + length + 1, a + length
    return out, float(data["expert_return"]), float(data["random_return"])


def run(algo: str, env: str, steps: int, directory: Path, seed: int, transfer: bool, device: str = "cpu") -> None:
    from rewardlab.data import Trajectory, TrajectoryDataset
    from rewardlab.irl.adversarial import AIRL, GAIL, AIRLConfig, GAILConfig

    episodes, expert, random_ = load(directory, env)
    demos = TrajectoryDataset([Trajectory(obs, acts, terminal=term) for obs, acts, term in episodes])
    updates, lr = DISC_SETTINGS.get((algo, env), (4, 3e-4))  # GCL has no discriminator
    common = {
        "steps": steps,
        "hyperparams": PPO_SETTINGS[env],
        "eval_episodes": 10,
        "disc_updates": updates,
        "disc_lr": lr,
        "device": device,
    }
    if algo == "gcl":  # guided cost learning: no discriminator, its own reward settings (GCLConfig's defaults)
        from rewardlab.irl.gcl import GCLConfig, GuidedCostLearning

        learner: Any = GuidedCostLearning(GCLConfig(steps=steps, hyperparams=PPO_SETTINGS[env], eval_episodes=10, device=device))
    else:
        learner = GAIL(GAILConfig(**common)) if algo == "gail" else AIRL(AIRLConfig(**common))  # type: ignore[arg-type]
    result = learner.fit(demos, env, rng=np.random.default_rng(seed))
    score = result.info["eval_return_mean"]
    row = {
        "library": "rewardlab",
        "algo": algo,
        "env": env,
        "seed": seed,
        "device": device,
        "env_steps": result.info["env_steps"],
        "return": score,
    }
    row |= {"normalised": (score - random_) / (expert - random_), "seconds": round(result.info["seconds"], 2)}
    if transfer:  # a fresh PPO on the learned reward alone (AIRL's g), same settings and steps, then the true return
        from rewardlab.rl import evaluate, train_policy

        fresh = train_policy(env, steps=steps, seed=seed + 100, reward=result.reward, normalize="running", hyperparams=PPO_SETTINGS[env])
        ret = float(evaluate(fresh.model, env, episodes=10, seed=1_000_000).returns().mean())
        row |= {"transfer_return": ret, "transfer_normalised": (ret - random_) / (expert - random_)}
    print(json.dumps(row))


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["prepare", "run"])
    parser.add_argument("--env", default="CartPole-v1", choices=sorted(PPO_SETTINGS))
    parser.add_argument("--algo", default="gail", choices=["gail", "airl", "gcl"])
    parser.add_argument("--steps", type=int, default=30_720)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--transfer", action="store_true", help="also train a fresh PPO on the learned reward")
    parser.add_argument("--out", "--dir", dest="dir", type=Path, default=Path("/tmp/adversarial"))
    parser.add_argument("--device", default="cpu", help="torch device of the policy and the discriminator (or GCL's reward)")
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.env, args.dir)
    else:
        run(args.algo, args.env, args.steps, args.dir, args.seed, args.transfer, args.device)
