"""T-REX on Atari end to end, sized for a GPU: ranked demonstrations from PPO checkpoints, a T-REX CNN
reward learned from score-masked frames, PPO on that reward, and the true game score of the result.

Protocol (Brown et al. 2019, Atari section; ../shared/REFERENCES.md), scaled to fit a lent GPU:

1. Demonstrations: PPO (``rewardlab.rl.ATARI_PPO``, SB3's ``CnnPolicy``) on the true reward for
   ``--demo-steps``, ``--checkpoints`` evenly spaced checkpoints, one stochastic rollout of each (at
   most ``--demo-length`` decisions); the rank is the checkpoint index (training time), never the score.
   Every frame the reward sees has the score and lives masked (``rewardlab.rl.atari_env``).
2. T-REX: an ensemble of the paper's CNN on 4 x 84 x 84 stacks, 6,000 snippet pairs of 50–100 frames
   per member (the paper's numbers), Bradley–Terry, on ``--device``.
3. PPO for ``--policy-steps`` on the learned reward through a sigmoid (as the paper), the reward computed
   once per rollout on the device (``reward_batch="rollout"``).
4. Evaluation: the true game score of 10 stochastic episodes; the best demonstration's score; Kendall
   tau between predicted and true returns of the demonstrations.

The paper trains PPO for 50M steps on the learned reward (Breakout: best demo 32 -> 221.3); a lent GPU
gives minutes, so the default budget is far smaller and the headline to look for is the pipeline's
speed and whether the learned reward orders the checkpoints, not the paper's scores.

Run::

    python benchmarks/atari_trex.py --device cuda                     # GPU-sized default budget
    OMP_NUM_THREADS=1 python benchmarks/atari_trex.py --smoke         # tiny, minutes on CPU: checks the pipeline

Writes ``benchmarks/trex/atari_<game><tag>.json`` and prints a markdown row.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rewardlab.eval import kendall_tau
from rewardlab.prefs import TREX, TREXConfig
from rewardlab.prefs.trex import TrajectoryEncoder, predicted_returns
from rewardlab.rl import ATARI_PPO, atari_env, evaluate, make_ranked_demos, train_policy

OUT = Path(__file__).parent / "trex"


class GameEnv:
    """A new env of ``game`` (score masked) per call: what train_policy and the rollouts build their envs with."""

    def __init__(self, game: str) -> None:
        self.game = game

    def __call__(self) -> gym.Env[Any, Any]:
        return atari_env(self.game)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--game", default="Breakout")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--checkpoints", type=int, default=12)
    parser.add_argument("--demo-steps", type=int, default=240_000, help="PPO steps on the true reward for the demonstrations")
    parser.add_argument("--demo-length", type=int, default=2_000, help="decisions per demonstration at most")
    parser.add_argument("--policy-steps", type=int, default=400_000, help="PPO steps on the learned reward")
    parser.add_argument("--ensemble", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=6000)
    parser.add_argument("--trex-steps", type=int, default=3000)
    parser.add_argument("--episodes", type=int, default=10, help="evaluation episodes")
    parser.add_argument("--smoke", action="store_true", help="tiny budget everywhere: checks that the pipeline runs")
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    if args.smoke:
        args.checkpoints, args.demo_steps, args.demo_length, args.policy_steps = 3, 3 * 1024, 200, 1024
        args.ensemble, args.pairs, args.trex_steps, args.episodes = 1, 60, 20, 2
        args.tag = args.tag or "_smoke"
    torch.manual_seed(args.seed)
    env = GameEnv(args.game)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    demos = make_ranked_demos(
        env,
        checkpoints=args.checkpoints,
        steps=args.demo_steps,
        seed=args.seed,
        hyperparams=ATARI_PPO,
        device=args.device,
        max_steps=args.demo_length,
    )
    seconds["demos"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    snippet = (50, 100) if not args.smoke else (10, 20)
    cfg = TREXConfig(
        architecture="cnn",
        ensemble=args.ensemble,
        pairs=args.pairs,
        snippet=snippet,
        steps=args.trex_steps,
        batch_size=16,
        lr=1e-4,
        device=args.device,
    )
    fit = TREX(cfg).fit(demos, env(), rng=np.random.default_rng(args.seed))
    seconds["reward_learning"] = time.perf_counter() - t0
    encoder = TrajectoryEncoder.for_env(env(), hidden=cfg.hidden)
    predicted = predicted_returns(fit.reward, demos, encoder)
    returns = demos.returns()

    t0 = time.perf_counter()
    trained = train_policy(
        env,
        steps=args.policy_steps,
        seed=args.seed,
        reward=fit.reward,
        normalize="sigmoid",
        hyperparams=ATARI_PPO,
        device=args.device,
        reward_batch="rollout",
    )
    seconds["ppo_learned"] = time.perf_counter() - t0
    ev = evaluate(trained.model, env, episodes=args.episodes, seed=50_000 + args.seed, deterministic=False)
    scores = ev.returns()
    result = {
        "game": args.game,
        "seed": args.seed,
        "device": args.device,
        "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
        "settings": {k: v for k, v in vars(args).items() if k not in ("tag",)},
        "demo_returns": returns.tolist(),
        "demo_lengths": [len(tr) for tr in demos],
        "predicted_demos": predicted.tolist(),
        "kendall_tau_demos": kendall_tau(predicted, returns),
        "val_accuracy": fit.info["val_accuracy"],
        "policy_scores": scores.tolist(),
        "ppo_steps_per_second": args.policy_steps / seconds["ppo_learned"],
        "seconds": seconds,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"atari_{args.game.lower()}{args.tag}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print("| game | device | best demo | T-REX policy | Kendall tau | demos s | reward s | PPO s (steps/s) |")
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.game} | {result['gpu'] or args.device} | {returns.max():.1f} | {scores.mean():.1f} ± {scores.std():.1f} | "
        f"{result['kendall_tau_demos']:.2f} | {seconds['demos']:.0f} | {seconds['reward_learning']:.0f} | "
        f"{seconds['ppo_learned']:.0f} ({result['ppo_steps_per_second']:.0f}) |"
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
