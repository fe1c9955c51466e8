"""Reproduce Wulfmeier et al. (2015), figs. 5-6: EVD against the number of demonstrations for linear
MaxEnt and Deep MaxEnt on objectworld (continuous and discrete features) and binaryworld.

Setting (../shared/REFERENCES.md): 32x32 worlds, 5 actions, slip 0.3, gamma 0.9; N in
{4, 8, 16, 32, 64, 128} demonstrations of 8 steps from uniformly random starts, drawn from the optimal
policy with 30% random actions; EVD (Levine toolkit) = V*(uniform) - V^{pi_learned}(uniform) under the
true reward. "train" scores the learned reward on the world it was learned in; "transfer" applies it
(the same weights / network) to a fresh world with a different seed.

Run (on 2 cores, one single-threaded worker each)::

    OMP_NUM_THREADS=1 python benchmarks/objectworld.py [--seeds 5] [--first-seed 0] [--demos 32 64] [--out benchmarks/objectworld]

Writes ``objectworld.json`` and ``objectworld.png`` into ``--out`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from rewardlab.data import sample_tabular
from rewardlab.eval import expected_value_difference
from rewardlab.irl.deep_maxent import DeepMaxEntConfig, DeepMaxEntIRL, predict_reward
from rewardlab.irl.maxent import MaxEntConfig, MaxEntIRL
from rewardlab.mdp import value_iteration
from rewardlab.mdp.worlds import World, binaryworld, objectworld

WORLDS = {
    "objectworld-continuous": lambda seed: objectworld(32, seed=seed),
    "objectworld-discrete": lambda seed: objectworld(32, seed=seed, discrete=True),
    "binaryworld": lambda seed: binaryworld(32, seed=seed),
}
# Read off Wulfmeier et al. 2015, figs. 5-6 (training worlds): MaxEnt / DeepMaxEnt.
PAPER = {
    "objectworld-continuous": {4: (24.8, 18.5), 8: (21.6, 3.8), 16: (18.8, 1.9), 32: (14.3, 0.0), 64: (14.7, 0.2)},
    "objectworld-discrete": {4: (18.0, 19.3), 8: (16.2, 8.4), 16: (15.7, 2.8), 32: (15.9, 1.8), 64: (14.4, 0.4), 128: (14.9, 0.1)},
    "binaryworld": {4: (42.7, 12.4), 8: (37.5, 3.1), 16: (37.9, 2.6), 32: (38.1, 0.4), 64: (37.1, 0.1), 128: (38.0, 0.0)},
}
EPSILON = 0.3  # the demonstrations' random-action rate, known to both learners (action_noise)
LEARNERS = {
    "maxent": lambda: MaxEntIRL(MaxEntConfig(l2=0.01, action_noise=EPSILON)),  # L-BFGS
    "deep-maxent": lambda: DeepMaxEntIRL(
        DeepMaxEntConfig(hidden=(128, 128), iterations=300, weight_decay=1e-2, dropout=0.5, input_l1=1e-2, action_noise=EPSILON)
    ),
}


def demonstrations(world: World, n: int, seed: int, epsilon: float = 0.3):
    policy = value_iteration(world.mdp, world.reward).policy
    return sample_tabular(world.mdp, policy, n, rng=np.random.default_rng(seed), length=8, epsilon=epsilon)


def learned_reward_on(result, learner: str, world: World) -> torch.Tensor:
    """The learned reward evaluated on ``world``'s features (the training world or a transfer world)."""
    if learner == "maxent":
        return world.mdp.features @ result.reward.weights
    return predict_reward(result, world.mdp.features)


def run_job(job: tuple[str, int, list[int]]) -> list[dict]:
    """All demo counts and learners for one world and seed (one worker process)."""
    world_name, seed, demo_counts = job
    started = time.perf_counter()
    train, test = WORLDS[world_name](seed), WORLDS[world_name](1000 + seed)
    rows = []
    for n in demo_counts:
        demos = demonstrations(train, n, seed, EPSILON)
        for learner, make in LEARNERS.items():
            t0 = time.perf_counter()
            result = make().fit(demos, train.mdp, rng=np.random.default_rng(seed))
            fit_s = time.perf_counter() - t0
            rows.append(
                {
                    "world": world_name,
                    "seed": seed,
                    "demos": n,
                    "learner": learner,
                    "fit_seconds": fit_s,
                    "evd_train": expected_value_difference(train.mdp, train.reward, learned_reward_on(result, learner, train)),
                    "evd_transfer": expected_value_difference(test.mdp, test.reward, learned_reward_on(result, learner, test)),
                }
            )
    print(f"{world_name} seed {seed} done in {time.perf_counter() - started:.0f} s", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    parser.add_argument("--demos", type=int, nargs="+", default=[4, 8, 16, 32, 64, 128])
    parser.add_argument("--worlds", nargs="+", default=list(WORLDS))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/objectworld"))
    parser.add_argument("--workers", type=int, default=2, help="processes (each single-threaded)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    jobs = [(world_name, seed, args.demos) for world_name in args.worlds for seed in range(args.first_seed, args.first_seed + args.seeds)]
    with ProcessPoolExecutor(max_workers=args.workers, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        rows = [row for chunk in pool.map(run_job, jobs) for row in chunk]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "objectworld.json").write_text(json.dumps(rows, indent=1))
    print(f"\ntotal {time.perf_counter() - started:.0f} s\n")
    print("| world | N | MaxEnt train | Deep MaxEnt train | MaxEnt transfer | Deep MaxEnt transfer | paper MaxEnt / Deep (train) |")
    print("|---|---|---|---|---|---|---|")
    summary: dict[tuple[str, str, int, str], tuple[float, float]] = {}
    for world_name in args.worlds:
        for n in args.demos:
            cells = []
            for split in ("train", "transfer"):
                for learner in LEARNERS:
                    values = [r[f"evd_{split}"] for r in rows if r["world"] == world_name and r["demos"] == n and r["learner"] == learner]
                    mean, sem = float(np.mean(values)), float(np.std(values) / np.sqrt(len(values)))
                    summary[(world_name, split, n, learner)] = (mean, sem)
                    cells.append(f"{mean:.2f} ± {sem:.2f}")
            paper = PAPER.get(world_name, {}).get(n)
            print(f"| {world_name} | {n} | {' | '.join(cells)} | {f'{paper[0]} / {paper[1]}' if paper else '–'} |")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(args.worlds), figsize=(5 * len(args.worlds), 4), squeeze=False)
    for ax, world_name in zip(axes[0], args.worlds, strict=True):
        for learner, colour in zip(LEARNERS, ("tab:blue", "tab:red"), strict=True):
            for split, style in (("train", "-"), ("transfer", "--")):
                means = [summary[(world_name, split, n, learner)][0] for n in args.demos]
                sems = [summary[(world_name, split, n, learner)][1] for n in args.demos]
                ax.errorbar(args.demos, means, yerr=sems, fmt=style + "o", color=colour, ms=3, label=f"{learner} {split}")
            paper = PAPER.get(world_name, {})
            ns = sorted(paper)
            ax.plot(ns, [paper[n][0 if learner == "maxent" else 1] for n in ns], ":", color=colour, alpha=0.6, label=f"{learner} paper")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("demonstrations N")
        ax.set_ylabel("EVD")
        ax.set_title(world_name)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out / "objectworld.png", dpi=100)


if __name__ == "__main__":
    main()
