"""Issue 17's bad-input cases (indices, finite horizons, NaN and inf, labels, divergence): what each
call returns or raises. Run against any checkout to compare before and after:

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/bad_inputs.py

A trustworthy library raises a rewardlab error naming the field for every line; none returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rewardlab.data import Trajectory, TrajectoryDataset, sample_tabular
from rewardlab.irl.bayesian import BayesianIRL, BayesianIRLConfig
from rewardlab.irl.bc import BCConfig, BehaviouralCloning
from rewardlab.irl.maxent import MaxEntConfig, MaxEntIRL
from rewardlab.mdp.worlds import chain, navigation_gridworld
from rewardlab.prefs.brex import BayesianREXConfig, sample_brex
from rewardlab.prefs.trex import TREX, TREXConfig


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def run(name: str, call: Callable[[], Any]) -> None:
    try:
        print(f"{name}: returned {call()}")
    except Exception as exc:  # the point is to show what escapes
        print(f"{name}: {type(exc).__name__}: {str(exc)[:200]}")


def summary(x: Any) -> str:
    x = torch.as_tensor(x).detach()
    return f"max |value| {float(x.abs().max()):.3g}, all finite: {bool(torch.isfinite(x).all())}"


def main() -> None:
    world = navigation_gridworld("tiny")
    uniform = torch.full((world.mdp.n_states, world.mdp.n_actions), 1.0 / world.mdp.n_actions, dtype=torch.float64)
    long = sample_tabular(world.mdp, uniform, 20, rng=rng(), length=12)
    run(
        "MaxEnt (defaults), horizon-4 MDP, 12-decision demos",
        lambda: summary(MaxEntIRL().fit(long, world.mdp.replace(horizon=4), rng=rng()).reward.values),
    )

    mdp = chain(4, discount=0.9)
    minus_one = TrajectoryDataset([Trajectory(np.array([0, 1, -1, 3]), np.array([1, 1, 1]))])
    run("stationary MaxEnt, state -1", lambda: summary(MaxEntIRL(MaxEntConfig(iterations=20)).fit(minus_one, mdp, rng=rng()).reward.values))
    fractional = TrajectoryDataset([Trajectory(np.array([0.0, 1.5, 2.0]), np.array([1, 1]))])
    birl = BayesianIRLConfig(reward="state", samples=20, burn_in=0, chains=1)
    run("Bayesian IRL, state 1.5", lambda: summary(BayesianIRL(birl).fit(fractional, mdp, rng=rng()).reward.values))
    ranked = TrajectoryDataset(
        [
            Trajectory(np.array([0, 1, 2, 3]), np.array([1, 1, 1]), infos={"rank": 1}),
            Trajectory(np.array([0, 4, 2, 3]), np.array([1, 1, 1]), infos={"rank": 0}),
        ]
    )
    run(
        "tabular T-REX, state S = 4",
        lambda: summary(TREX(TREXConfig(pairs=8, steps=5, snippet=(1, 2))).fit(ranked, mdp, rng=rng()).reward.values),
    )

    spaces = (gym.spaces.Box(-np.inf, np.inf, (3,), np.float32), gym.spaces.Box(-2.0, 2.0, (1,), np.float32))
    g = rng()
    vec = [
        Trajectory(g.normal(size=(11, 3)).astype(np.float32), g.uniform(-1, 1, (10, 1)).astype(np.float32), infos={"rank": k})
        for k in range(3)
    ]
    obs = vec[1].obs.copy()
    obs[4, 0] = np.nan
    with_nan = TrajectoryDataset([vec[0], Trajectory(obs, vec[1].acts, infos={"rank": 1}), vec[2]])

    def trex_reward(data: TrajectoryDataset, **overrides: Any) -> str:
        cfg = TREXConfig(pairs=20, steps=20, snippet=(2, 4), hidden=(16, 16), validation=0.0, **overrides)
        return summary(TREX(cfg).fit(data, spaces, rng=rng()).reward(torch.as_tensor(vec[0].obs[:-1])))

    run("T-REX, a NaN observation", lambda: trex_reward(with_nan))
    run("T-REX, lr = 1e30", lambda: trex_reward(TrajectoryDataset(vec), lr=1e30))
    demos = sample_tabular(mdp, np.full((4, 2), 0.5), 5, rng=rng(), length=3)
    bc = BCConfig(model="mlp", epochs=20, lr=1e200, hidden=(8, 8))
    run("BC MLP, lr = 1e200", lambda: summary(BehaviouralCloning(bc).fit(demos, mdp, rng=rng()).policy))

    for label, row in (("NaN", [np.nan, 0.5]), ("negative", [-0.5, 1.5]), ("unnormalised", [0.9, 0.5])):
        policy = np.full((4, 2), 0.5)
        policy[2] = row
        run(
            f"sample_tabular, a {label} policy row",
            lambda p=policy: [tr.acts.tolist() for tr in sample_tabular(mdp, p, 2, rng=rng(), length=3)],
        )
    brex = BayesianREXConfig(samples=20, burn_in=0, thin=1)
    run("sample_brex, label 2.0", lambda: tuple(sample_brex(np.array([[1.0, 0.0]]), np.array([2.0]), brex, rng=rng()).samples.shape))


if __name__ == "__main__":
    main()
