"""Peer benchmark: imitation 1.0.1's GAIL and AIRL on the demonstrations that ``benchmarks/adversarial.py prepare``
wrote, with the same env, PPO settings, env steps, discriminator width and discriminator steps per round (module
docstring of adversarial.py). Only imitation's public API is called; runs in its own venv (MuJoCo for HalfCheetah)::

    python3 -m venv benchmarks/.venv-imitation
    benchmarks/.venv-imitation/bin/pip install -c constraints.txt torch==2.13.0 imitation mujoco==3.1.6 imageio

    OMP_NUM_THREADS=1 benchmarks/.venv-imitation/bin/python benchmarks/imitation_adversarial.py --algo gail --env CartPole-v1 --steps 30720 --dir /tmp/adv

imitation's own choices are kept where rewardlab has no counterpart: its reward nets' ``RunningNorm`` input layer,
GAIL's reward ``-log(1 - D)`` (as rewardlab's default), AIRL's shaped net ``BasicShapedRewardNet`` (state-only
``g`` and a potential ``h``, as rewardlab's default). The discriminator batch (``demo_batch_size``) is one round
of generator samples, as rewardlab's full-batch steps, or all the demonstrations' transitions where they are fewer
(Pendulum-v1: 2,000 against a round of 4,096; imitation refuses a larger batch, rewardlab draws one with
replacement); ``gen_replay_buffer_capacity`` is one round.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from adversarial import DISC_SETTINGS, PPO_SETTINGS, load

#: imitation 1.0.1 pins gymnasium 0.29, which has HalfCheetah up to -v4: the same model, observation and reward as
#: -v5 (checked: the same reset observation and first reward for seed 0 under mujoco 3.1.6 and 4.0)
OLD_GYM_ID = {"HalfCheetah-v5": "HalfCheetah-v4"}

if __name__ == "__main__":
    from imitation.algorithms.adversarial.airl import AIRL
    from imitation.algorithms.adversarial.gail import GAIL
    from imitation.data.types import Trajectory
    from imitation.data.wrappers import RolloutInfoWrapper
    from imitation.rewards.reward_nets import BasicRewardNet, BasicShapedRewardNet
    from imitation.util.networks import RunningNorm
    from imitation.util.util import make_vec_env
    from stable_baselines3 import PPO
    from stable_baselines3.common.evaluation import evaluate_policy

    torch.set_num_threads(1)
    parser = argparse.ArgumentParser()
    parser.add_argument("--algo", default="gail", choices=["gail", "airl"])
    parser.add_argument("--env", default="CartPole-v1", choices=sorted(PPO_SETTINGS))
    parser.add_argument("--steps", type=int, default=30_720)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/adversarial"))
    args = parser.parse_args()

    episodes, expert, random_ = load(args.dir, args.env)
    demos = [Trajectory(obs=obs, acts=acts, infos=None, terminal=term) for obs, acts, term in episodes]
    settings = dict(PPO_SETTINGS[args.env])
    n_envs = settings.pop("n_envs")
    rollout = n_envs * settings.get("n_steps", 2048)  # SB3 PPO's default where the settings leave it
    venv = make_vec_env(
        OLD_GYM_ID.get(args.env, args.env),
        rng=np.random.default_rng(args.seed),
        n_envs=n_envs,
        post_wrappers=[lambda env, _: RolloutInfoWrapper(env)],
    )
    learner = PPO("MlpPolicy", venv, seed=args.seed, verbose=0, **settings)
    updates, lr = DISC_SETTINGS[args.algo, args.env]
    if args.algo == "gail":
        net = BasicRewardNet(venv.observation_space, venv.action_space, hid_sizes=(64, 64), normalize_input_layer=RunningNorm)
        cls = GAIL
    else:
        net = BasicShapedRewardNet(
            venv.observation_space,
            venv.action_space,
            reward_hid_sizes=(64, 64),
            potential_hid_sizes=(64, 64),
            normalize_input_layer=RunningNorm,
            discount_factor=settings.get("gamma", 0.99),  # PPO's (SB3 default 0.99), as rewardlab's AIRL
        )
        cls = AIRL
    trainer = cls(
        demonstrations=demos,
        demo_batch_size=min(rollout, sum(len(acts) for _, acts, _ in episodes)),  # imitation needs a batch of at most the demos' size
        gen_replay_buffer_capacity=rollout,
        n_disc_updates_per_round=updates,
        disc_opt_kwargs={"lr": lr},
        venv=venv,
        gen_algo=learner,
        reward_net=net,
        allow_variable_horizon=True,
    )
    start = time.perf_counter()
    trainer.train(args.steps)
    seconds = time.perf_counter() - start
    returns, _ = evaluate_policy(learner, venv, n_eval_episodes=10, return_episode_rewards=True)
    score = float(np.mean(returns))
    row = {
        "library": "imitation",
        "algo": args.algo,
        "env": args.env,
        "seed": args.seed,
        "env_steps": int(learner.num_timesteps),
        "return": score,
    }
    row |= {"normalised": (score - random_) / (expert - random_), "seconds": round(seconds, 2)}
    print(json.dumps(row))
