"""The demonstrators IRL learns from on worlds with a known reward: the optimal (soft-optimal, or
Boltzmann-rational) policy of the true reward, rolled out; and ranked suboptimal demonstrators for
learning from rankings.

Examples:
    >>> import numpy as np
    >>> from rewardlab.mdp.worlds import navigation_gridworld
    >>> world = navigation_gridworld("crossing")
    >>> demos, policy = expert_demonstrations(world, 3, rng=np.random.default_rng(0))
    >>> len(demos), len(demos[0]) == world.mdp.horizon
    (3, True)
"""

from __future__ import annotations

import numpy as np
import torch

from rewardlab.data import Trajectory, TrajectoryDataset, sample_tabular
from rewardlab.errors import ConfigError
from rewardlab.mdp import World, boltzmann_policy, soft_value_iteration, value_iteration

__all__ = ["expert_demonstrations", "pendulum_swing_up", "ranked_suboptimal_demonstrations"]


def _steps(world: World, length: int | None) -> int:
    """Decisions per demonstration: ``length``, else the horizon (8 for a discounted world), checked."""
    mdp = world.mdp
    steps = length if length is not None else (mdp.horizon if mdp.horizon is not None else 8)
    if steps < 1:
        raise ConfigError("length", f"is {steps}", "ask for demonstrations of at least one step")
    if mdp.horizon is not None and steps > mdp.horizon:
        raise ConfigError("length", f"is {steps} but the world's horizon is {mdp.horizon}", "use a length up to the horizon")
    return steps


def expert_demonstrations(
    world: World,
    n: int,
    *,
    rng: np.random.Generator,
    length: int | None = None,
    expert: str = "optimal",
    epsilon: float = 0.0,
    beta: float = 10.0,
) -> tuple[TrajectoryDataset, torch.Tensor]:
    """``n`` demonstrations of a policy for the true reward, and that policy.

    Args:
        world: a world with its true reward.
        n: number of demonstrations.
        rng: draws the starts, actions and transitions.
        length: decisions per demonstration (default: the horizon, 8 for a discounted world).
        expert: ``"optimal"`` (greedy in ``Q*``, ties split evenly), ``"soft"`` (the MaxEnt soft-optimal
            policy) or ``"boltzmann"`` (``pi(a | s) ∝ exp(beta Q*(s, a))``, the demonstrator Bayesian IRL's
            likelihood assumes, Ramachandran & Amir 2007).
        epsilon: with this probability each action is replaced by a uniformly random one.
        beta: the Boltzmann demonstrator's inverse temperature (``expert="boltzmann"`` only).

    Examples:
        >>> from rewardlab.mdp.worlds import feature_gridworld
        >>> world = feature_gridworld(3, seed=0)
        >>> demos, policy = expert_demonstrations(world, 2, rng=np.random.default_rng(0), length=4, expert="boltzmann", beta=1.0)
        >>> len(demos), tuple(policy.shape), bool((policy > 0).all())  # every action has some probability
        (2, (9, 4), True)
    """
    mdp = world.mdp
    if expert == "optimal":
        policy = value_iteration(mdp, world.reward).policy
    elif expert == "soft":
        policy = soft_value_iteration(mdp, world.reward).policy
    elif expert == "boltzmann":
        if not (beta > 0 and np.isfinite(beta)):
            raise ConfigError("beta", f"is {beta}", "use a positive finite inverse temperature, e.g. 10")
        policy = boltzmann_policy(value_iteration(mdp, world.reward).q_values, 1 / beta)
    else:
        raise ConfigError("expert", f"is {expert!r}", "choose 'optimal', 'soft' or 'boltzmann'")
    steps = _steps(world, length)
    demos = sample_tabular(mdp, policy, n, rng=rng, length=steps, epsilon=epsilon, reward=world.reward)
    return demos, policy


def ranked_suboptimal_demonstrations(
    world: World, n: int, *, rng: np.random.Generator, length: int | None = None
) -> tuple[TrajectoryDataset, np.ndarray]:
    """``n`` suboptimal demonstrations ranked by their true return: the gridworld data of Bayesian REX.

    Brown et al. 2020 (Bayesian REX, gridworld table) rank demonstrations that are suboptimal without
    saying how they were made; here (our reading) demonstration ``i`` is one rollout of ``length``
    decisions, from a start drawn from ``world.mdp.initial``, of the optimal policy for its own random
    reward ``phi(s)^T w_i`` with ``w_i`` uniform on the unit sphere (a random direction in feature
    space). Its score is its true (undiscounted) return under ``world.reward``, recorded in
    ``rews`` and, as its rank (higher = better, equal returns tie), in ``infos["rank"]``; ``infos["weights"]``
    holds ``w_i``.

    Args:
        world: a world whose MDP has state features ``(S, F)`` and whose true reward is known.
        n: number of demonstrations, at least 1.
        rng: draws each ``w_i`` then its rollout, in turn (the same seed gives the same demonstrations).
        length: decisions per demonstration (default: the horizon, 8 for a discounted world).

    Returns:
        ``(demos, returns)``: the :class:`TrajectoryDataset` and its ``(n,)`` true returns.

    Raises:
        ConfigError: ``n < 1``, a bad ``length``, or a world without state features.

    Examples:
        >>> from rewardlab.mdp.worlds import feature_gridworld
        >>> world = feature_gridworld(4, seed=0)
        >>> demos, returns = ranked_suboptimal_demonstrations(world, 3, rng=np.random.default_rng(0), length=5)
        >>> [tr.infos["rank"] for tr in demos] == returns.tolist() == demos.returns().tolist()
        True
    """
    mdp = world.mdp
    if n < 1:
        raise ConfigError("n", f"is {n}", "ask for at least one demonstration")
    if mdp.features is None:
        raise ConfigError("world", f"{world.name!r} has no state features", "use a world with features, e.g. feature_gridworld")
    steps = _steps(world, length)
    demos = []
    for _ in range(n):
        w = rng.standard_normal(mdp.n_features)
        w /= np.linalg.norm(w)
        policy = value_iteration(mdp, mdp.features @ torch.as_tensor(w, dtype=mdp.features.dtype)).policy
        tr = sample_tabular(mdp, policy, 1, rng=rng, length=steps, reward=world.reward)[0]
        demos.append(Trajectory(tr.obs, tr.acts, tr.rews, tr.terminal, {"rank": tr.ret, "weights": w.tolist()}))
    dataset = TrajectoryDataset(demos)
    return dataset, dataset.returns()


def pendulum_swing_up(obs: np.ndarray) -> np.ndarray:
    """A hand-written Pendulum-v1 expert, batched: ``obs (B, 3)`` ``(cos theta, sin theta, theta')`` ->
    torques ``(B, 1)`` float32 in ``[-2, 2]``.

    Pendulum's dynamics are ``theta'' = 15 sin(theta) + 3 u`` (``g = 10``, ``l = 1``, ``m = 1``; ``theta = 0``
    upright), so the energy ``E = theta'^2 / 2 + 15 cos(theta)`` changes as ``dE/dt = 3 u theta'``: the torque
    ``u = 0.5 (15 - E) theta'`` (clipped) pumps ``E`` towards the upright rest energy 15 (Astrom and Furuta
    2000's energy control); within about 32 degrees of upright (``cos theta > 0.85``) the PD law
    ``u = -10 theta - 2 theta'`` holds it there. Mean return about -140 over 200 steps (uniformly random
    torques: about -1,200; PPO with the RL Zoo preset: about -170).

    Examples:
        >>> obs = np.array([[np.cos(0.1), np.sin(0.1), 0.0], [-1.0, 0.0, 1.0]])  # near upright; hanging, swinging
        >>> np.round(pendulum_swing_up(obs), 3).ravel().tolist()
        [-1.0, 2.0]
    """
    c, s, w = obs[:, 0], obs[:, 1], obs[:, 2]
    energy = 0.5 * w**2 + 15.0 * c
    pump = np.clip(0.5 * (15.0 - energy) * w, -2.0, 2.0)
    hold = np.clip(-10.0 * np.arctan2(s, c) - 2.0 * w, -2.0, 2.0)
    torque: np.ndarray = np.where(c > 0.85, hold, pump)[:, None].astype(np.float32)
    return torque
