"""Learning from rankings: the B-REX gridworld table and the speed of B-REX and T-REX.

Experiments (settings from ../shared/REFERENCES.md; what the papers leave open is stated here):

* ``gridworld`` — Brown et al. 2020 (Bayesian REX), gridworld table: 100 random 6x6 feature grids
  (4 one-hot features, unit-norm true weights, 4 deterministic moves, gamma 0.9). Suboptimal
  demonstrations: each is ``--length`` steps from a uniformly random start of the optimal policy for
  its own random unit reward (our reading of "suboptimal"), and they are ranked by their true return
  (:func:`rewardlab.irl.experts.ranked_suboptimal_demonstrations`).
  For 2/5/10/20/30 demonstrations (nested), policy loss ``V*(uniform) - V^{pi}(uniform)`` under the
  true reward of the policy optimal for

  - **B-REX**: MAP of the ranking posterior (beta 1, all ranked pairs, 6,000-step chain with the step
    adapting toward 30% acceptance in the first 1,000);
  - **B-IRL**: MAP of Bayesian IRL treating the same demonstrations as optimal (beta 50, sphere prior,
    the paper's fixed 0.01 step, 5,000 steps);
  - **T-REX** (linear, whole trajectories): the point estimate, for comparison.

* ``speed`` — B-REX posterior samples per second over 64-dim features (12 ranked trajectories,
  66 pairs; the paper: 100,000 samples in about 5 minutes on a laptop), and T-REX training pairs per
  second for the MuJoCo MLP (2 x 256, 50-step snippets) and the Atari CNN (4 x 84 x 84, 50-frame
  snippets), on CPU and on CUDA when present.
* ``ppo`` — PPO (SB3 defaults, one env) environment steps per second on HalfCheetah-v5 on its true
  reward and on a T-REX-sized learned reward (3 x MLP 2 x 256, running normalisation, control cost)
  computed after every step (``reward_batch="step"``) or once per rollout (``"rollout"``), one run
  after the other in the same process.

Run (each worker single-threaded)::

    OMP_NUM_THREADS=1 python benchmarks/rankings.py gridworld|speed|ppo [--workers 2]

Writes ``benchmarks/rankings/<experiment>.json`` and prints markdown.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from rewardlab.eval import policy_loss
from rewardlab.irl.bayesian import BayesianIRLConfig, decision_counts, sample_posterior
from rewardlab.irl.experts import ranked_suboptimal_demonstrations
from rewardlab.mdp import value_iteration
from rewardlab.mdp.worlds import feature_gridworld
from rewardlab.prefs import TREX, BayesianREX, BayesianREXConfig, TREXConfig

OUT = Path(__file__).parent / "rankings"
DEMOS = (2, 5, 10, 20, 30)
PAPER = {"B-REX": (1.796, 0.393, 0.026, 0.006, 0.006), "B-IRL": (3.512, 3.319, 2.791, 3.078, 3.158)}


def _init() -> None:
    torch.set_num_threads(1)


def gridworld_world(job: tuple[int, int]) -> dict[str, list[float]]:
    seed, length = job
    world = feature_gridworld(6, seed=seed, discount=0.9)
    rng = np.random.default_rng(30_000 + seed)
    demos, returns = ranked_suboptimal_demonstrations(world, max(DEMOS), rng=rng, length=length)
    out: dict[str, list[float]] = {"B-REX": [], "B-IRL": [], "T-REX": []}
    brex_cfg = BayesianREXConfig(samples=5000, burn_in=1000, thin=1, step_size=0.05, adapt=True)
    trex_cfg = TREXConfig(snippet=None, pairs=500, steps=300, batch_size=16, lr=0.05, validation=0.0)
    for n in DEMOS:
        sub, scores = demos[:n], returns[:n]
        if np.ptp(scores) == 0:  # all demonstrations equally good: nothing to rank, no reward learned
            scores = scores + np.arange(n) * 1e-9
        for name, learner in (("B-REX", BayesianREX(brex_cfg)), ("T-REX", TREX(trex_cfg))):
            fit = learner.fit(sub, world.mdp, rng=rng, scores=scores)
            out[name].append(policy_loss(world.mdp, world.reward, fit.policy, initial="uniform"))
    counts = torch.stack([decision_counts(demos[:n], world.mdp) for n in DEMOS])
    cfg = BayesianIRLConfig(prior="sphere", beta=50.0, chains=len(DEMOS), samples=5000, burn_in=0, thin=1, step_size=0.01, adapt=False)
    post = sample_posterior(world.mdp, counts, cfg, rng=np.random.default_rng(seed))
    for c in range(len(DEMOS)):
        theta = post.samples[c, int(post.log_posterior[c].argmax())]
        policy = value_iteration(world.mdp, world.mdp.features @ theta).policy
        out["B-IRL"].append(policy_loss(world.mdp, world.reward, policy, initial="uniform"))
    return out


def run_gridworld(args: argparse.Namespace) -> dict:
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.workers, initializer=_init) as pool:
        rows = list(pool.map(gridworld_world, [(seed, args.length) for seed in range(args.worlds)]))
    seconds = time.perf_counter() - t0
    result: dict = {"demos": DEMOS, "length": args.length, "worlds": args.worlds, "seconds": seconds, "paper": PAPER}
    print(f"| policy loss ({args.worlds} worlds, mean ± s.e.) | {' | '.join(map(str, DEMOS))} |\n|---|{'---|' * len(DEMOS)}")
    for name in ("B-REX", "B-IRL", "T-REX"):
        losses = np.array([r[name] for r in rows])
        mean, sem = losses.mean(0), losses.std(0, ddof=1) / np.sqrt(len(losses))
        result[name] = {"losses": losses.tolist(), "mean": mean.tolist(), "sem": sem.tolist()}
        print(f"| rewardlab {name} | " + " | ".join(f"{m:.3f} ± {s:.3f}" for m, s in zip(mean, sem, strict=True)) + " |")
        if name in PAPER:
            print(f"| paper {name} | " + " | ".join(f"{p:.3f}" for p in PAPER[name]) + " |")
    print(f"{seconds:.0f} s with {args.workers} workers")
    return result


# ---------------------------------------------------------------------------- speed
def _trex_pairs_per_second(obs_shape: tuple[int, ...], hidden: tuple[int, ...], device: str, steps: int) -> float:
    import gymnasium as gym

    from rewardlab.data import Trajectory

    rng = np.random.default_rng(0)
    dtype = np.uint8 if len(obs_shape) == 3 else np.float32
    demos = []
    for k in range(12):
        obs = (rng.integers(0, 255, size=(201, *obs_shape)) if dtype == np.uint8 else rng.standard_normal((201, *obs_shape))).astype(dtype)
        demos.append(Trajectory(obs, np.zeros(200, np.int64), infos={"rank": k}))
    low, high = (0, 255) if dtype == np.uint8 else (-np.inf, np.inf)
    spaces = (gym.spaces.Box(low, high, obs_shape, dtype), gym.spaces.Discrete(2))
    cfg = TREXConfig(
        hidden=hidden,
        snippet=(50, 50),
        pairs=2000,
        steps=steps,
        batch_size=16,
        validation=0.0,
        device=device,
        normalize=False,
        report_every=1,
    )
    stamps: dict[int, float] = {}

    def clock(step: int, _metrics: dict) -> bool:  # the loss is read each step, so the device is in step
        stamps[step] = time.perf_counter()
        return False

    TREX(cfg).fit(demos, spaces, rng=rng, callback=clock)
    first = 5  # skip the warm-up steps
    return (steps - first) * cfg.batch_size / (stamps[steps] - stamps[first])


def run_speed(args: argparse.Namespace) -> dict:
    from rewardlab.data.ranking import ranked_pairs
    from rewardlab.prefs.brex import sample_brex

    torch.set_num_threads(1)
    devices = [d for d in args.devices if d == "cpu" or torch.cuda.is_available()]
    out: dict = {"device_names": {d: (torch.cuda.get_device_name() if d == "cuda" else "cpu, 1 thread") for d in devices}}
    rng = np.random.default_rng(0)
    counts = rng.standard_normal((12, 64)) * 10
    i, j, y = ranked_pairs(np.arange(12))
    for device in devices:
        cfg = BayesianREXConfig(samples=args.brex_samples, burn_in=0, thin=1, device=device)
        t0 = time.perf_counter()
        sample_brex(counts[i] - counts[j], y, cfg, rng=rng)
        seconds = time.perf_counter() - t0
        out[f"brex_{device}"] = {"samples": args.brex_samples, "seconds": seconds, "per_second": args.brex_samples / seconds}
        print(f"B-REX {device}: {args.brex_samples} samples over 64 features in {seconds:.1f} s")
        for name, shape, hidden, steps in (("mlp", (17,), (256, 256), 200), ("cnn", (4, 84, 84), (64,), 20 if device == "cpu" else 200)):
            pps = _trex_pairs_per_second(shape, hidden, device, steps)
            out[f"trex_{name}_{device}"] = pps
            print(f"T-REX {name} {device}: {pps:.0f} pairs/s")
    return out


def run_ppo(args: argparse.Namespace) -> dict:
    from rewardlab.rewards import NeuralReward, RewardNetSpec
    from rewardlab.rl import train_policy

    torch.set_num_threads(1)
    reward = NeuralReward(RewardNetSpec((17,), hidden=(256, 256)), members=3).eval()
    steps = args.ppo_steps
    out: dict = {"env": "HalfCheetah-v5", "steps": steps}
    runs = {
        "true_reward": {},
        "learned_step": {"reward": reward, "reward_batch": "step"},
        "learned_rollout": {"reward": reward, "reward_batch": "rollout"},
    }
    for name, kw in runs.items():
        result = train_policy("HalfCheetah-v5", steps=steps, seed=0, ctrl_cost=0.1, **kw)
        out[name] = {"seconds": result.seconds, "steps_per_second": steps / result.seconds}
        print(f"PPO {name}: {steps / result.seconds:.0f} steps/s")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", choices=("gridworld", "speed", "ppo"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worlds", type=int, default=100)
    parser.add_argument("--length", type=int, default=10, help="decisions per demonstration (gridworld)")
    parser.add_argument("--brex-samples", type=int, default=100_000)
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"], help="speed: devices to time (cuda only when present)")
    parser.add_argument("--ppo-steps", type=int, default=20_480, help="ppo: environment steps per run")
    parser.add_argument("--tag", default="", help="suffix of the output file")
    args = parser.parse_args()
    result = {"gridworld": run_gridworld, "speed": run_speed, "ppo": run_ppo}[args.experiment](args)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{args.experiment}{args.tag}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
