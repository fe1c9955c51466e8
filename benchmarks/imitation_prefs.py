"""Peer benchmark: HumanCompatibleAI/imitation's preference comparisons on Pendulum-v1 (issue 19, reproduction 2).

Runs ``imitation.algorithms.preference_comparisons.PreferenceComparisons`` with a noiseless
oracle teacher on Pendulum-v1 for a given label budget and env-step budget, then evaluates the
final policy on the env's true reward; writes one JSON file with the return and the wall-clock.
This file only calls imitation's public API; none of its code is copied here.

Environment (a separate venv, so that imitation's pins do not touch rewardlab's)::

    python3 -m venv benchmarks/.venv-imitation
    benchmarks/.venv-imitation/bin/pip install -c constraints.txt torch==2.13.0 imitation

That resolved to imitation 1.0.1, stable-baselines3 2.2.1, gymnasium 0.29.1, seals 0.2.1,
torch 2.13.0+cpu, numpy 2.4.6, scipy 1.17.1 (Python 3.11.7); ``pip check`` is clean. (rewardlab's
own venv has stable-baselines3 2.9.2 and gymnasium 1.4.0; Pendulum-v1's dynamics and reward are
the same in both.)

Run (from the repository root; one seed per process)::

    benchmarks/.venv-imitation/bin/python benchmarks/imitation_prefs.py \\
        --seed 0 --labels 500 --steps 100000 --out imitation_prefs_seed0.json

The setup is imitation's documented Pendulum example (docs/algorithms/preference_comparisons.rst)
and its ``train_preference_comparisons`` script's defaults, with these choices:

* Reward model: ``BasicRewardNet`` with a ``RunningNorm`` input layer, wrapped in
  ``NormalizedRewardNet`` (``RunningNorm`` output), as imitation's script builds it by default;
  the agent trains on the normalised output, the preference model on the raw one.
* Teacher: ``SyntheticGatherer(temperature=0)``: the noiseless oracle. Its default
  ``temperature=1`` is a Boltzmann-rational teacher that *samples* each label from
  ``sigmoid(R1 - R2)`` (sum of true rewards over the fragment, ``discount_factor=1``), so labels of
  close fragments are often wrong; ``temperature=0`` returns ``(sign(R1 - R2) + 1) / 2`` (0.5 for
  exact ties), i.e. B-Pref's oracle. ``discount_factor=1`` (its default, undiscounted) is kept.
* ``RandomFragmenter(warning_threshold=0)``, fragment length 50 (our segment length),
  ``PreferenceModel`` defaults (no label-noise term, undiscounted), ``BasicRewardTrainer`` with
  ``CrossEntropyRewardLoss`` and 3 epochs per round (the script's ``reward_trainer_kwargs``;
  ``--reward-epochs``; the trainer's own lr 1e-3, batch 32), ``PreferenceComparisons`` defaults
  otherwise: ``initial_comparison_frac=0.1``, ``initial_epoch_multiplier=200``
  (``--initial-epoch-multiplier``; the docs' example uses 4: round 0 then fits the reward for
  3 x 200 = 600 epochs on the initial comparisons, about a quarter of the train time at 100,000
  steps and 500 labels), ``transition_oversampling=1``,
  the ``"hyperbolic"`` query schedule, an unbounded comparison queue, ``AgentTrainer``'s
  ``exploration_frac=0``.
* Agent: SB3 PPO, ``MlpPolicy``, with rewardlab's Pendulum preset
  (``rewardlab.rl.sb3.PRESETS[("ppo", "Pendulum-v1")]``: 4 envs, ``n_steps=1024``, ``gamma=0.9``,
  ``gae_lambda=0.95``, ``n_epochs=10``, ``ent_coef=0``, ``lr=1e-3``, ``clip_range=0.2``, gSDE with
  ``sde_sample_freq=4``; SB3's ``batch_size=64``), on imitation's ``make_vec_env`` (4 DummyVecEnv
  envs, seeded from the run's generator).
* Steps: ``PreferenceComparisons.train`` runs ``num_iterations + 1`` rounds (one for the initial
  comparisons) and trains the agent ``total_timesteps // num_iterations`` steps in *each* of them,
  and SB3's PPO only stops at whole rollouts (4 x 1024 = 4096 steps). So that the agent trains the
  same number of steps as rewardlab's loop (``--steps`` rounded up to whole rollouts), the default
  is one rollout per round: ``num_iterations = ceil(steps / 4096) - 1`` (at least 1) and
  ``total_timesteps = num_iterations * 4096``; 100,000 steps give 24 iterations, 25 rounds and
  102,400 agent steps. ``--iterations N`` instead passes ``total_timesteps=--steps`` and
  ``num_iterations=N`` as given. The JSON records the agent's own step count (``agent_steps``) and
  every env step taken (``env_steps``: also those imitation samples outside training to cut
  fragments from, e.g. the untrained policy's rollouts for the initial comparisons).

Evaluation: the final policy, deterministic (the Gaussian's mean), on ``gymnasium.make("Pendulum-v1")``
with its true reward for ``--eval-episodes`` episodes (default 20); episode ``e`` resets with seed
``--eval-seed + e`` (default ``1_000_000 + seed``), as ``rewardlab.data.gym_rollouts.collect_rollouts``
seeds its episodes. Single-threaded (``OMP_NUM_THREADS=1``, ``torch.set_num_threads(1)``); the load
average before and after the run is recorded, as the machine may be shared.

Output JSON keys: ``seed``, ``labels`` (budget), ``labels_used`` (comparisons in imitation's
dataset at the end), ``steps`` (requested), ``agent_steps``, ``env_steps``, ``num_iterations``,
``total_timesteps_arg``, ``train_seconds`` (``PreferenceComparisons.train`` alone), ``total_seconds``
(process start to end, imports included), ``eval_seconds``, ``eval_return_mean``,
``eval_return_std``, ``eval_returns``, ``reward_accuracy`` and ``reward_loss`` (imitation's final
training metrics), ``curve`` (one row per round: labels, agent and env steps, seconds, mean true
return of the last 100 training episodes), ``settings``, ``versions``, ``loadavg_start``/``loadavg_end``.
"""

from __future__ import annotations

import os
import time

_T_START = time.perf_counter()

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("TQDM_DISABLE", "1")  # imitation's reward-training progress bars

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
from importlib import metadata  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ENV_ID = "Pendulum-v1"
SEGMENT = 50
SUMMARY_KEYS = ("seed", "labels_used", "agent_steps", "env_steps", "train_seconds", "eval_return_mean", "eval_return_std")

#: rewardlab.rl.sb3.PRESETS[("ppo", "Pendulum-v1")], repeated here because this runs in imitation's venv.
PPO_PRESET: dict[str, Any] = {
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
}


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("imitation", "stable-baselines3", "gymnasium", "seals", "torch", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out


def plan_iterations(steps: int, rollout: int) -> tuple[int, int]:
    """``(num_iterations, total_timesteps)`` so that imitation's ``num_iterations + 1`` rounds each train
    exactly one PPO rollout, ``ceil(steps / rollout)`` rollouts in all (at least 2)."""
    rollouts = max(2, math.ceil(steps / rollout))
    return rollouts - 1, (rollouts - 1) * rollout


def evaluate(model: Any, episodes: int, seed: int) -> list[float]:
    """True returns of ``model``'s deterministic policy; episode ``e`` resets with seed ``seed + e``."""
    import gymnasium as gym

    env = gym.make(ENV_ID)
    returns = []
    for e in range(episodes):
        obs, _ = env.reset(seed=seed + e)
        total, done = 0.0, False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return returns


def run(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import torch
    from imitation.algorithms import preference_comparisons as pc
    from imitation.rewards.reward_nets import BasicRewardNet, NormalizedRewardNet
    from imitation.util import logger as imit_logger
    from imitation.util.networks import RunningNorm
    from imitation.util.util import make_vec_env
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecEnvWrapper

    class CountSteps(VecEnvWrapper):
        """Counts every env step taken through it (all envs), for training and sampling alike."""

        def __init__(self, venv: Any) -> None:
            super().__init__(venv)
            self.steps = 0

        def reset(self) -> Any:
            return self.venv.reset()

        def step_wait(self) -> Any:
            self.steps += self.num_envs
            return self.venv.step_wait()

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    loadavg_start = os.getloadavg()

    ppo_kwargs = dict(PPO_PRESET)
    n_envs = int(ppo_kwargs.pop("n_envs"))
    rollout = n_envs * int(ppo_kwargs["n_steps"])
    if args.iterations is None:
        num_iterations, total_timesteps = plan_iterations(args.steps, rollout)
    else:
        num_iterations, total_timesteps = args.iterations, args.steps

    venv = CountSteps(make_vec_env(ENV_ID, rng=rng, n_envs=n_envs))
    reward_net = NormalizedRewardNet(
        BasicRewardNet(venv.observation_space, venv.action_space, normalize_input_layer=RunningNorm),
        normalize_output_layer=RunningNorm,
    )
    fragmenter = pc.RandomFragmenter(rng=rng, warning_threshold=0)
    gatherer = pc.SyntheticGatherer(temperature=0, rng=rng)
    preference_model = pc.PreferenceModel(reward_net)
    reward_trainer = pc.BasicRewardTrainer(
        preference_model=preference_model,
        loss=pc.CrossEntropyRewardLoss(),
        epochs=args.reward_epochs,
        rng=rng,
    )
    agent = PPO("MlpPolicy", venv, seed=args.seed, device="cpu", verbose=0, **ppo_kwargs)
    trajectory_generator = pc.AgentTrainer(algorithm=agent, reward_fn=reward_net, venv=venv, rng=rng)

    log_dir = tempfile.TemporaryDirectory(prefix="imitation_prefs_")
    custom_logger = imit_logger.configure(log_dir.name, format_strs=["stdout"] if args.verbose else [])
    trainer = pc.PreferenceComparisons(
        trajectory_generator,
        reward_net,
        num_iterations=num_iterations,
        fragmenter=fragmenter,
        preference_gatherer=gatherer,
        reward_trainer=reward_trainer,
        fragment_length=SEGMENT,
        initial_epoch_multiplier=args.initial_epoch_multiplier,
        custom_logger=custom_logger,
    )

    curve: list[dict[str, float]] = []
    t0 = time.perf_counter()

    def on_round(iteration: int) -> None:
        episodes = [info["r"] for info in agent.ep_info_buffer]
        curve.append(
            {
                "round": iteration,
                "labels": len(trainer.dataset),
                "agent_steps": int(agent.num_timesteps),
                "env_steps": venv.steps,
                "seconds": round(time.perf_counter() - t0, 3),
                "train_true_return": float(np.mean(episodes)) if episodes else float("nan"),
            }
        )
        if args.verbose:
            print(json.dumps(curve[-1]), flush=True)

    metrics = trainer.train(total_timesteps=total_timesteps, total_comparisons=args.labels, callback=on_round)
    train_seconds = time.perf_counter() - t0
    log_dir.cleanup()

    t1 = time.perf_counter()
    eval_seed = args.eval_seed if args.eval_seed is not None else 1_000_000 + args.seed
    returns = evaluate(agent, args.eval_episodes, eval_seed)
    eval_seconds = time.perf_counter() - t1
    return {
        "seed": args.seed,
        "labels": args.labels,
        "labels_used": len(trainer.dataset),
        "steps": args.steps,
        "agent_steps": int(agent.num_timesteps),
        "env_steps": venv.steps,
        "num_iterations": num_iterations,
        "total_timesteps_arg": total_timesteps,
        "train_seconds": round(train_seconds, 3),
        "eval_seconds": round(eval_seconds, 3),
        "total_seconds": round(time.perf_counter() - _T_START, 3),
        "eval_return_mean": float(np.mean(returns)),
        "eval_return_std": float(np.std(returns)),
        "eval_returns": [round(r, 3) for r in returns],
        "eval_episodes": args.eval_episodes,
        "eval_seed": eval_seed,
        "reward_accuracy": float(metrics["reward_accuracy"]),
        "reward_loss": float(metrics["reward_loss"]),
        "curve": curve,
        "settings": {
            "env": ENV_ID,
            "fragment_length": SEGMENT,
            "teacher": "SyntheticGatherer(temperature=0) (oracle)",
            "reward_net": "NormalizedRewardNet(BasicRewardNet(RunningNorm input), RunningNorm output)",
            "reward_epochs": args.reward_epochs,
            "initial_comparison_frac": trainer.initial_comparison_frac,
            "initial_epoch_multiplier": trainer.initial_epoch_multiplier,
            "transition_oversampling": trainer.transition_oversampling,
            "query_schedule": "hyperbolic",
            "ppo": PPO_PRESET,
            "threads": torch.get_num_threads(),
        },
        "versions": _versions(),
        "loadavg_start": [round(x, 2) for x in loadavg_start],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--labels", type=int, default=500, help="total comparisons (total_comparisons)")
    p.add_argument("--steps", type=int, default=100_000, help="agent env steps (rounded up to whole PPO rollouts)")
    p.add_argument("--iterations", type=int, default=None, help="num_iterations, total_timesteps=--steps (default: a rollout a round)")
    p.add_argument("--reward-epochs", type=int, default=3, help="BasicRewardTrainer epochs a round (imitation's script: 3)")
    p.add_argument("--initial-epoch-multiplier", type=float, default=200.0, help="round 0's epochs x this (imitation's default: 200)")
    p.add_argument("--eval-episodes", type=int, default=20)
    p.add_argument("--eval-seed", type=int, default=None, help="episode e resets with seed eval_seed + e (default 1_000_000 + seed)")
    p.add_argument("--out", type=Path, default=None, help="JSON file to write (also printed)")
    p.add_argument("--verbose", action="store_true", help="imitation's log and one line per round on stdout")
    args = p.parse_args()
    if min(args.labels, args.steps, args.reward_epochs, args.eval_episodes) < 1 or (args.iterations is not None and args.iterations < 1):
        p.error("--labels, --steps, --iterations, --reward-epochs and --eval-episodes must be positive")
    if not args.initial_epoch_multiplier > 0:
        p.error("--initial-epoch-multiplier must be positive")
    result = run(args)
    text = json.dumps(result, indent=1)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(json.dumps({k: result[k] for k in SUMMARY_KEYS}))


if __name__ == "__main__":
    main()
