"""Learning from rankings: the B-REX gridworld table and the speed of B-REX and T-REX.

Experiments (settings from ../shared/REFERENCES.md; what the papers leave open is stated here):

* ``table SWEEP_DIR`` — Brown et al. 2020 (Bayesian REX), gridworld table: the sweep
  ``benchmarks/rankings.toml`` (its comments state the setting and each learner's settings: B-REX,
  B-IRL treating the ranked suboptimal demonstrations as optimal, linear T-REX; 2/5/10/20/30
  demonstrations; 100 random 6x6 feature grids) as the paper lays it out, with the paper's rows.
* ``speed`` — B-REX posterior samples per second over 64-dim features (12 ranked trajectories,
  66 pairs; the paper: 100,000 samples in about 5 minutes on a laptop), and T-REX training pairs per
  second for the MuJoCo MLP (2 x 256, 50-step snippets) and the Atari CNN (4 x 84 x 84, 50-frame
  snippets), on CPU and on CUDA when present.
* ``ppo`` — PPO (SB3 defaults, one env) environment steps per second on HalfCheetah-v5 on its true
  reward and on a T-REX-sized learned reward (3 x MLP 2 x 256, running normalisation, control cost)
  computed after every step (``reward_batch="step"``) or once per rollout (``"rollout"``), one run
  after the other in the same process.

Run (single-threaded)::

    OMP_NUM_THREADS=1 rewardlab sweep benchmarks/rankings.toml --out benchmarks/rankings/sweep --workers 2
    python benchmarks/rankings.py table benchmarks/rankings/sweep
    OMP_NUM_THREADS=1 python benchmarks/rankings.py speed|ppo

``speed`` and ``ppo`` are timings in one process, not grids of runs, so they stay here; they write
``benchmarks/rankings/<experiment>.json``. All print markdown.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from rewardlab.prefs import TREX, BayesianREXConfig, TREXConfig

OUT = Path(__file__).parent / "rankings"
DEMOS = (2, 5, 10, 20, 30)
PAPER = {"B-REX": (1.796, 0.393, 0.026, 0.006, 0.006), "B-IRL": (3.512, 3.319, 2.791, 3.078, 3.158)}


def run_table(args: argparse.Namespace) -> None:
    from sweep_tables import curve_table

    print(curve_table(args.sweep, "policy_loss", "data.demos", paper={k: dict(zip(DEMOS, v, strict=True)) for k, v in PAPER.items()}))


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
    parser.add_argument("experiment", choices=("table", "speed", "ppo"))
    parser.add_argument("sweep", type=Path, nargs="?", help="table: the sweep directory of benchmarks/rankings.toml")
    parser.add_argument("--brex-samples", type=int, default=100_000)
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"], help="speed: devices to time (cuda only when present)")
    parser.add_argument("--ppo-steps", type=int, default=20_480, help="ppo: environment steps per run")
    parser.add_argument("--tag", default="", help="suffix of the output file")
    args = parser.parse_args()
    if args.experiment == "table":
        if args.sweep is None:
            parser.error("table needs the sweep directory")
        run_table(args)
        return
    result = {"speed": run_speed, "ppo": run_ppo}[args.experiment](args)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{args.experiment}{args.tag}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
