"""The demonstrators IRL learns from on worlds with a known reward: the optimal (or soft-optimal) policy
of the true reward, rolled out.

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

from rewardlab.data import TrajectoryDataset, sample_tabular
from rewardlab.errors import ConfigError
from rewardlab.mdp import World, soft_value_iteration, value_iteration

__all__ = ["expert_demonstrations"]


def expert_demonstrations(
    world: World, n: int, *, rng: np.random.Generator, length: int | None = None, expert: str = "optimal", epsilon: float = 0.0
) -> tuple[TrajectoryDataset, torch.Tensor]:
    """``n`` demonstrations of the optimal (or soft-optimal) policy for the true reward, and that policy."""
    mdp = world.mdp
    if expert == "optimal":
        policy = value_iteration(mdp, world.reward).policy
    elif expert == "soft":
        policy = soft_value_iteration(mdp, world.reward).policy
    else:
        raise ConfigError("expert", f"is {expert!r}", "choose 'optimal' or 'soft'")
    steps = length if length is not None else (mdp.horizon if mdp.horizon is not None else 8)
    if steps < 1:
        raise ConfigError("length", f"is {steps}", "ask for demonstrations of at least one step")
    if mdp.horizon is not None and steps > mdp.horizon:
        raise ConfigError("length", f"is {steps} but the world's horizon is {mdp.horizon}", "use a length up to the horizon")
    demos = sample_tabular(mdp, policy, n, rng=rng, length=steps, epsilon=epsilon, reward=world.reward)
    return demos, policy
