"""Peer benchmark: one tabular MCE IRL gradient step with HumanCompatibleAI/imitation.

Times imitation's own public tabular MCE functions,
``imitation.algorithms.mce_irl.mce_partition_fh`` (finite-horizon soft value
iteration) and ``imitation.algorithms.mce_irl.mce_occupancy_measures`` (forward
pass for state occupancy), on a deterministic gridworld MDP, single-threaded.
This file only calls imitation's API; none of its code is copied here.

Environment (a separate venv, so that imitation's pins do not touch rewardlab's)::

    python3 -m venv benchmarks/.venv-imitation
    benchmarks/.venv-imitation/bin/pip install -c constraints.txt torch==2.13.0 imitation

That resolved to imitation 1.0.1, seals 0.2.1, gymnasium 0.29.1,
stable-baselines3 2.2.1, numpy 2.4.6, scipy 1.17.1, torch 2.13.0+cpu
(Python 3.11.7) with no extra pins; ``pip check`` is clean.

Run::

    benchmarks/.venv-imitation/bin/python benchmarks/imitation_mce.py --states 1000 10000

Each size runs in its own child process (so peak RSS is per size) and prints one
JSON line. The MDP: S states laid out row-major on a side x side grid with
side = ceil(sqrt(S)); only the first S cells exist, so the state count is exactly
S. 4 deterministic actions (N/E/S/W); moving off the grid or onto a missing cell
of the last row leaves the state unchanged. Horizon 20, state-only rewards drawn
from N(0, 1) with a fixed seed, uniform initial distribution, discount 1.
imitation needs the transition matrix dense, shape (S, 4, S) float64: 3.2 GB at
S = 10,000.

One "gradient step" is what ``imitation.algorithms.mce_irl.MCEIRL._train_step``
does for a tabular (one-parameter-per-state) reward: soft value iteration
(``mce_partition_fh``), occupancy measures under the resulting policy
(``mce_occupancy_measures``), then the gradient ``Dcum - demo_om`` through a torch
dot product and ``backward()``. The demonstration occupancy is a fixed stand-in
(uniform, with the same total mass as imitation's occupancy), which changes only
the gradient's value, not the cost.

imitation's time convention (see mce_irl.py): ``mce_partition_fh`` returns V, Q,
pi with ``horizon`` rows (H decisions, t = 0..H-1); ``mce_occupancy_measures``
returns D with ``horizon + 1`` rows (states at t = 0..H, the state after the
last decision included), so the undiscounted ``Dcum`` sums to H + 1 = 21.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

HORIZON = 20
N_ACTIONS = 4


def _rss_gb() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def build_gridworld(n_states: int):
    """Dense (S, 4, S) deterministic transitions on a near-square grid of exactly S cells."""
    import numpy as np

    side = math.ceil(math.sqrt(n_states))
    s = np.arange(n_states)
    row, col = divmod(s, side)
    moves = [(-1, 0), (0, 1), (1, 0), (0, -1)]  # N, E, S, W
    transition = np.zeros((n_states, N_ACTIONS, n_states), dtype=np.float64)
    for a, (dr, dc) in enumerate(moves):
        nr, nc = row + dr, col + dc
        nxt = nr * side + nc
        ok = (nr >= 0) & (nr < side) & (nc >= 0) & (nc < side) & (nxt < n_states)
        nxt = np.where(ok, nxt, s)
        transition[s, a, nxt] = 1.0
    return transition, side


def run_single(n_states: int, repeats: int, seed: int) -> dict:
    import numpy as np
    import torch as th

    th.set_num_threads(1)
    import imitation
    from imitation.algorithms.mce_irl import mce_occupancy_measures, mce_partition_fh
    from seals.base_envs import TabularModelMDP

    rss_after_imports = _rss_gb()
    rng = np.random.default_rng(seed)
    transition, side = build_gridworld(n_states)
    reward = rng.standard_normal(n_states)
    env = TabularModelMDP(
        transition_matrix=transition,
        reward_matrix=reward,
        horizon=HORIZON,
        initial_state_dist=np.full(n_states, 1.0 / n_states),
    )
    # Stand-in demonstration occupancy, same total mass as imitation's (H + 1).
    demo_om = np.full(n_states, (HORIZON + 1) / n_states)
    rss_after_build = _rss_gb()

    times, part_times, occ_times = [], [], []
    for _ in range(repeats):
        reward_param = th.nn.Parameter(th.as_tensor(reward, dtype=th.float64))
        t0 = time.perf_counter()
        r_np = reward_param.detach().numpy()
        _v, _q, pi = mce_partition_fh(env, reward=r_np, discount=1.0)
        t1 = time.perf_counter()
        d, dcum = mce_occupancy_measures(env, reward=r_np, pi=pi, discount=1.0)
        t2 = time.perf_counter()
        weights = th.as_tensor(dcum - demo_om, dtype=th.float64)
        loss = th.dot(weights, reward_param)
        loss.backward()
        grad = reward_param.grad
        t3 = time.perf_counter()
        times.append(t3 - t0)
        part_times.append(t1 - t0)
        occ_times.append(t2 - t1)

    best = min(range(repeats), key=lambda i: times[i])
    return {
        "states": n_states,
        "actions": N_ACTIONS,
        "horizon": HORIZON,
        "seconds_per_step": round(times[best], 4),
        "partition_seconds": round(part_times[best], 4),
        "occupancy_seconds": round(occ_times[best], 4),
        "repeats": repeats,
        "peak_rss_gb": round(_rss_gb(), 3),
        "rss_after_imports_gb": round(rss_after_imports, 3),
        "rss_after_mdp_build_gb": round(rss_after_build, 3),
        "transition_matrix_gb": round(transition.nbytes / 2**30, 3),
        "grid_side": side,
        "occupancy_sum": float(dcum.sum()),
        "occupancy_rows": int(d.shape[0]),
        "policy_rows": int(pi.shape[0]),
        "grad_l2": float(th.linalg.vector_norm(grad)),
        "threads": th.get_num_threads(),
        "imitation_version": imitation.__version__,
        "torch_version": th.__version__,
        "numpy_version": np.__version__,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--states", type=int, nargs="+", default=[1000, 10000])
    p.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed repetitions (best reported); default 5 if S <= 2000, else 1",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--_single", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()

    if args._single is not None:
        n = args._single
        repeats = args.repeats or (5 if n <= 2000 else 1)
        print(json.dumps(run_single(n, repeats, args.seed)), flush=True)
        return

    for n in args.states:
        cmd = [sys.executable, os.path.abspath(__file__), "--_single", str(n)]
        cmd += ["--seed", str(args.seed)]
        if args.repeats:
            cmd += ["--repeats", str(args.repeats)]
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
