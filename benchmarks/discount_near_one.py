"""Seconds per exact solve at discounts near 1 on the library's small worlds (issue 17: "discount near 1 hangs").

Each solver the learners call is timed once per world and discount, with a time limit per call (a
call still running at the limit is reported as ``> limit``). The target is under one second per
call at discount 0.99999. Worlds: navigation (crossing map, discounted), featuregrid:size=6,
objectworld:size=8, frozenlake (4x4, slippery) and a 16-state random MDP.

Run::

    OMP_NUM_THREADS=1 python benchmarks/discount_near_one.py [--discounts 0.9 0.9999 0.99999] [--limit 20]
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from rewardlab.mdp import (
    make_world,
    maxent_objective,
    occupancy,
    policy_evaluation,
    policy_iteration,
    soft_value_iteration,
    value_iteration,
)
from rewardlab.mdp.maxent import stationary_objective

WORLDS = ("navigation", "featuregrid:size=6", "objectworld:size=8", "frozenlake", "random:n_states=16,n_actions=4")
TARGET_SECONDS = 1.0


def _child(fn: Callable[[], Any], conn: Any) -> None:
    t0 = time.perf_counter()
    try:
        fn()
        conn.send(f"{time.perf_counter() - t0:.3f}")
    except Exception as exc:  # reported in the table, e.g. a ConvergenceError
        conn.send(type(exc).__name__)


def timed(fn: Callable[[], Any], limit: float) -> str:
    """Seconds of one call of ``fn`` (in a forked process) as text, ``> limit`` if it had not returned by then."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(fn, child))
    proc.start()
    if parent.poll(limit):
        out = str(parent.recv())
        proc.join()
        return out
    proc.kill()
    proc.join()
    return f"> {limit:g}"


def _calls(mdp: Any, reward: torch.Tensor, pi: torch.Tensor) -> dict[str, Callable[[], Any]]:
    """One call of each solver on this MDP, reward and policy."""
    rng = np.random.default_rng(0)
    states = rng.integers(mdp.n_states, size=64)
    actions = rng.integers(mdp.n_actions, size=64)
    visitation = occupancy(mdp, pi, per_action=reward.ndim == 2)
    return {
        "value_iteration": lambda: value_iteration(mdp, reward),
        "policy_iteration": lambda: policy_iteration(mdp, reward),
        "soft_value_iteration": lambda: soft_value_iteration(mdp, reward),
        "policy_evaluation": lambda: policy_evaluation(mdp, reward, pi),
        "occupancy": lambda: occupancy(mdp, pi),
        "maxent_objective": lambda: maxent_objective(mdp, reward, visitation),
        "stationary_objective": lambda: stationary_objective(mdp, reward, states, actions),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--discounts", type=float, nargs="+", default=[0.9, 0.9999, 0.99999])
    parser.add_argument("--limit", type=float, default=20, help="seconds allowed per call")
    args = parser.parse_args()
    torch.set_num_threads(1)
    solvers = (
        "value_iteration",
        "policy_iteration",
        "soft_value_iteration",
        "policy_evaluation",
        "occupancy",
        "maxent_objective",
        "stationary_objective",
    )
    print(f"seconds per call (target < {TARGET_SECONDS:g} s at 0.99999; '> N': still running after N s)\n")
    print("| world | discount | " + " | ".join(solvers) + " |\n|---|---|" + "---|" * len(solvers))
    for spec in WORLDS:
        for gamma in args.discounts:
            world = make_world(f"{spec}{',' if ':' in spec else ':'}discount={gamma}")
            mdp, reward = world.mdp, world.reward
            assert mdp.horizon is None
            pi = torch.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions, dtype=mdp.dtype)  # uniform
            calls = _calls(mdp, reward, pi)
            row = [timed(calls[name], args.limit) for name in solvers]
            print(f"| {spec} | {gamma:g} | " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
