"""Drawing worlds: ASCII for terminals and doctests, matplotlib heat maps with policy arrows.

matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from rewardlab.errors import ShapeError, ValidationError

if TYPE_CHECKING:
    from rewardlab.mdp.worlds import World

__all__ = ["ascii_grid", "plot_grid", "policy_arrows"]

# Arrow per grid action (stay, north, east, south, west).
_ARROWS = {"stay": "o", "north": "^", "east": ">", "south": "v", "west": "<"}
_DIRECTIONS = {"stay": (0.0, 0.0), "north": (0.0, -1.0), "east": (1.0, 0.0), "south": (0.0, 1.0), "west": (-1.0, 0.0)}


def _numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=float)


def _state_policy(world: World, policy: Any) -> np.ndarray:
    """Reduce a policy to ``(S, A)``: time-indexed policies are shown at ``t = 0``."""
    pi = _numpy(policy)
    if pi.ndim == 3:
        pi = pi[0]
    if pi.shape != (world.mdp.n_states, world.mdp.n_actions):
        raise ShapeError("policy", f"has shape {pi.shape}", f"pass ({world.mdp.n_states}, {world.mdp.n_actions}) or (H, S, A)")
    return pi


def _state_values(world: World, values: Any) -> np.ndarray:
    v = _numpy(values)
    if v.ndim == 2 and v.shape[1] == world.mdp.n_actions and v.shape[0] == world.mdp.n_states:
        v = v.max(1)  # a state-action reward: show its best action
    if v.shape != (world.mdp.n_states,):
        raise ShapeError("values", f"has shape {v.shape}", f"pass ({world.mdp.n_states},)")
    return v


def policy_arrows(world: World, policy: Any) -> list[str]:
    """One character per state: the arrow of the most likely action (``o`` = stay).

    Examples:
        >>> from rewardlab.mdp.worlds import navigation_gridworld
        >>> import torch
        >>> w = navigation_gridworld("tiny")
        >>> policy_arrows(w, torch.eye(5)[[2] * 9])[:3]
        ['>', '>', '>']
    """
    pi = _state_policy(world, policy)
    names = world.action_names or tuple(f"a{i}" for i in range(world.mdp.n_actions))
    return [_ARROWS.get(names[a], str(a)) for a in pi.argmax(1)]


def ascii_grid(world: World, *, values: Any = None, policy: Any = None) -> str:
    """Text picture of a grid world: the map, a value per cell, or policy arrows."""
    if world.shape is None:
        raise ValidationError("world", f"{world.name} is not a grid world", "draw a grid world, or print the arrays")
    rows, cols = world.shape
    if policy is not None:
        cells = policy_arrows(world, policy)
    elif values is not None:
        v = _state_values(world, values)
        cells = [f"{x:7.2f}" for x in v]
    elif world.layout is not None:
        cells = [ch for row in world.layout for ch in row]
    else:
        cells = [f"{x:7.2f}" for x in _state_values(world, world.reward)]
    return "\n".join(" ".join(cells[r * cols : (r + 1) * cols]) for r in range(rows))


def plot_grid(
    world: World,
    *,
    ax: Any = None,
    values: Any = None,
    policy: Any = None,
    title: str | None = None,
    trajectories: Any = None,
    cmap: str = "viridis",
) -> Any:
    """Heat map of ``values`` (default: the true reward), policy arrows and trajectories on top.

    Args:
        world: a grid world.
        ax: matplotlib axes; a new figure when None.
        values: ``(S,)`` per-state numbers (``(S, A)`` shows the max over actions).
        policy: ``(S, A)`` or ``(H, S, A)``; arrows of length proportional to each move's probability.
        trajectories: iterable of state-index sequences to draw as lines.

    Returns:
        The axes.
    """
    import matplotlib.pyplot as plt

    if world.shape is None:
        raise ValidationError("world", f"{world.name} is not a grid world", "plot a grid world")
    rows, cols = world.shape
    if ax is None:
        _, ax = plt.subplots(figsize=(cols * 0.45 + 1.5, rows * 0.45 + 1))
    v = _state_values(world, world.reward if values is None else values).reshape(rows, cols)
    image = ax.imshow(v, cmap=cmap, origin="upper")
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    if policy is not None:
        pi = _state_policy(world, policy)
        r, c = np.divmod(np.arange(world.mdp.n_states), cols)
        names = world.action_names
        for a, name in enumerate(names):
            dx, dy = _DIRECTIONS.get(name, (0.0, 0.0))
            if dx == dy == 0:
                stay = pi[:, a] > 0.5
                ax.scatter(c[stay], r[stay], s=12, c="white", edgecolors="black", linewidths=0.5)
                continue
            keep = pi[:, a] > 0.05
            ax.quiver(
                c[keep],
                r[keep],
                dx * pi[keep, a],
                dy * pi[keep, a],
                angles="xy",
                scale_units="xy",
                scale=2.2,
                color="white",
                edgecolor="black",
                linewidth=0.3,
                width=0.006,
            )
    if trajectories is not None:
        for k, states in enumerate(trajectories):
            r, c = np.divmod(np.asarray(states), cols)
            jitter = (k % 5 - 2) * 0.06
            ax.plot(c + jitter, r + jitter, "-", lw=1.5, alpha=0.8, color=plt.cm.autumn(k / 6 % 1))
            ax.plot(c[0] + jitter, r[0] + jitter, "o", ms=4, color="red")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)
    return ax
