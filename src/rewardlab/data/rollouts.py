"""Sampling trajectories from tabular policies, many at once.

All ``N`` episodes advance together: one vectorised draw of actions and one of successors per time
step, so sampling 10,000 episodes costs about as many numpy calls as sampling one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from rewardlab._memory import check_memory
from rewardlab.data.trajectory import Trajectory, TrajectoryDataset
from rewardlab.data.validate import as_numpy, validate_distribution, validate_policy
from rewardlab.errors import ShapeError, ValidationError

if TYPE_CHECKING:
    from rewardlab.mdp.core import TabularMDP

__all__ = ["sample_tabular"]


def _draw(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One categorical draw per row of ``probs`` ``(N, C)`` by inverse CDF."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random((len(probs), 1)) * cdf[:, -1:]
    index: np.ndarray = np.minimum((cdf <= u).sum(axis=1), probs.shape[1] - 1)
    return index


def sample_tabular(
    mdp: TabularMDP,
    policy: Any,
    n: int,
    *,
    rng: np.random.Generator,
    length: int | None = None,
    initial: Any = None,
    epsilon: float = 0.0,
    reward: Any = None,
) -> TrajectoryDataset:
    """Roll out ``n`` episodes of a tabular policy.

    Args:
        mdp: the MDP.
        policy: ``(S, A)``, or ``(H, S, A)`` time-indexed (then ``length <= H``).
        n: number of episodes.
        rng: numpy generator; the same seed gives the same episodes.
        length: decisions per episode; defaults to ``mdp.horizon`` (required when discounted).
            Episodes that act in a terminal state stop there, so some may be shorter.
        initial: start distribution ``(S,)``; defaults to ``mdp.initial``.
        epsilon: with this probability each action is replaced by a uniformly random one
            (the noise injection of D-REX).
        reward: optional true reward ``(S,)`` or ``(S, A)`` to record in ``rews``.

    Returns:
        A :class:`TrajectoryDataset` of ``n`` trajectories of state indices.

    Raises:
        ProbabilityError: a policy row (``policy[s=3]``, ``policy[t=0, s=3]``) or ``initial`` that is
            not a distribution (NaN, negative, not summing to 1).

    Examples:
        >>> import torch
        >>> from rewardlab.mdp.worlds import chain
        >>> mdp = chain(3, horizon=2)
        >>> go = torch.tensor([[0.0, 1.0]] * 3).expand(2, 3, 2)
        >>> ds = sample_tabular(mdp, go, 2, rng=np.random.default_rng(0))
        >>> ds[0].obs.tolist(), ds[0].acts.tolist()
        ([0, 1, 2], [1, 1])
    """
    n_s, n_a = mdp.n_states, mdp.n_actions
    pi = validate_policy(policy, n_s, n_a)
    time_indexed = pi.ndim == 3
    steps = length if length is not None else mdp.horizon
    if steps is None:
        raise ValidationError("length", "is None for a discounted MDP", "pass the number of decisions per episode")
    if time_indexed and steps > pi.shape[0]:
        raise ValidationError("length", f"is {steps} but the policy has {pi.shape[0]} time steps", "sample at most H steps")
    if steps < 1:
        raise ValidationError("length", f"is {steps}", "sample episodes of at least one decision")
    if n < 1:
        raise ValidationError("n", f"is {n}", "sample at least one episode")
    # states, actions and rewards with their per-trajectory copies, the start draw (n, S), ~1 KiB of objects each
    check_memory("n", n * (8 * (5 * steps + 2 + n_s) + 1024), f"{n} episodes of {steps} steps", "sample fewer or shorter episodes")
    if not 0 <= epsilon <= 1:
        raise ValidationError("epsilon", f"is {epsilon}", "choose epsilon in [0, 1]")
    mu0 = as_numpy(mdp.initial if initial is None else initial).astype(float)
    if mu0.shape != (n_s,):
        raise ShapeError("initial", f"has shape {mu0.shape}", f"pass ({n_s},)")
    validate_distribution(mu0, "initial")
    succ = as_numpy(mdp.successors)
    prob = as_numpy(mdp.probabilities).astype(float)
    terminal = as_numpy(mdp.terminal_mask())
    r = None if reward is None else as_numpy(reward).astype(float)
    if r is not None and r.shape not in ((n_s,), (n_s, n_a)):
        raise ShapeError("reward", f"has shape {r.shape}", f"pass ({n_s},) or ({n_s}, {n_a})")
    if r is not None and not np.isfinite(r).all():
        raise ValidationError("reward", "holds NaN or inf", "pass a finite reward to record")

    states = np.empty((n, steps + 1), dtype=np.int64)
    actions = np.empty((n, steps), dtype=np.int64)
    lengths = np.full(n, steps)
    alive = np.ones(n, dtype=bool)
    states[:, 0] = _draw(np.broadcast_to(mu0, (n, n_s)), rng)
    rows = np.arange(n)
    for t in range(steps):
        s = states[:, t]
        p = (pi[t] if time_indexed else pi)[s]
        if epsilon > 0:
            p = (1 - epsilon) * p + epsilon / n_a
        a = _draw(p, rng)
        actions[:, t] = a
        k = _draw(prob[s, a], rng)
        states[:, t + 1] = succ[s, a, k]
        ended = alive & terminal[s]
        lengths[ended] = t + 1
        alive &= ~ended
        if not alive.any():
            break
    out = []
    for i in rows:
        T = int(lengths[i])
        obs, acts = states[i, : T + 1], actions[i, :T]
        rews = None
        if r is not None:
            rews = r[obs[:-1]] if r.ndim == 1 else r[obs[:-1], acts]
        out.append(Trajectory(obs=obs.copy(), acts=acts.copy(), rews=rews, terminal=bool(terminal[obs[T - 1]]) if T else False))
    return TrajectoryDataset(out)
