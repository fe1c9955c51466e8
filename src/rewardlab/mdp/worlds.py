"""Worlds with a known reward: the lecture's navigation gridworld, Levine's objectworld and
binaryworld, random MDPs, and Gymnasium's toy-text environments.

Every builder returns a :class:`World`: the reward-free :class:`~rewardlab.mdp.TabularMDP`, the true
reward, and what is needed to draw it (:meth:`World.plot`, :meth:`World.ascii`).

Grid actions are ``0 stay, 1 north, 2 east, 3 south, 4 west``; moving into a wall leaves the agent
in place. With slip probability ``p`` an action goes where it should with probability ``1 - p`` and
otherwise where one of the other four actions would (``p / 4`` each), as in Levine et al. (2011).
States are numbered row-major: ``s = row * cols + col``, row 0 at the top.

References:
    Levine, Popovic, Koltun, "Nonlinear Inverse Reinforcement Learning with Gaussian Processes",
    NeurIPS 2011 (objectworld). Wulfmeier, Ondruska, Posner, "Maximum Entropy Deep Inverse
    Reinforcement Learning", 2015 (binaryworld, the x5 objectworld reward).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rewardlab._memory import check_memory
from rewardlab._schema import apply_settings, did_you_mean
from rewardlab.errors import ConfigError, ValidationError
from rewardlab.mdp.core import TabularMDP

__all__ = [
    "GRID_ACTIONS",
    "NAVIGATION_MAPS",
    "TERRAIN",
    "World",
    "binaryworld",
    "chain",
    "cliff_walking",
    "feature_gridworld",
    "frozen_lake",
    "grid_dynamics",
    "gymnasium_reward",
    "make_world",
    "navigation_gridworld",
    "objectworld",
    "parse_world_spec",
    "random_mdp",
    "taxi",
    "world_builder",
]

#: Names of the five grid actions, in order.
GRID_ACTIONS: tuple[str, ...] = ("stay", "north", "east", "south", "west")
_MOVES = np.array([(0, 0), (-1, 0), (0, 1), (1, 0), (0, -1)])


@dataclass(frozen=True, eq=False)
class World:
    """An MDP together with its true reward and what is needed to draw it.

    Attributes:
        name: short name, e.g. ``"objectworld"``.
        mdp: the reward-free MDP.
        reward: the true reward, ``(S,)`` or ``(S, A)``.
        shape: ``(rows, cols)`` for grid worlds, else None.
        weights: ``(F,)`` with ``reward = mdp.features @ weights`` when the reward is linear, else None.
        feature_names: one name per feature column.
        layout: the ASCII map of a grid world, one string per row, else None.
        action_names: one name per action.
    """

    name: str
    mdp: TabularMDP
    reward: Tensor
    shape: tuple[int, int] | None = None
    weights: Tensor | None = None
    feature_names: tuple[str, ...] = ()
    layout: tuple[str, ...] | None = None
    action_names: tuple[str, ...] = ()

    def ascii(self, values: Any = None, policy: Any = None) -> str:
        """Text picture of the map, or of ``values`` ``(S,)``, or of ``policy`` arrows (see :mod:`.render`)."""
        from rewardlab.mdp.render import ascii_grid

        return ascii_grid(self, values=values, policy=policy)

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Draw the reward (or ``values=``) as a heat map with ``policy=`` arrows and ``trajectories=``
        on top (see :func:`rewardlab.mdp.render.plot_grid`); returns the axes."""
        from rewardlab.mdp.render import plot_grid

        return plot_grid(self, ax=ax, **kwargs)


def _mdp(successors: Any, probabilities: Any, initial: Any, **kwargs: Any) -> TabularMDP:
    """TabularMDP from numpy arrays (features too), converted to tensors."""
    if kwargs.get("features") is not None:
        kwargs["features"] = torch.as_tensor(kwargs["features"], dtype=torch.float64)
    if kwargs.get("terminal") is not None:
        kwargs["terminal"] = torch.as_tensor(kwargs["terminal"])
    return TabularMDP(
        torch.as_tensor(successors),
        torch.as_tensor(probabilities, dtype=torch.float64),
        torch.as_tensor(initial, dtype=torch.float64),
        **kwargs,
    )


def _check_size(field: str, n_states: int, bytes_per_state: float, what: str) -> None:
    """Refuse a world whose arrays (successor lists, probabilities, features) would not fit in memory."""
    check_memory(field, n_states * bytes_per_state, what, "build a smaller world")


def grid_dynamics(rows: int, cols: int, slip: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Successor lists of a ``rows x cols`` grid with the five actions and slip.

    Returns:
        ``successors`` ``(S, 5, K)`` and ``probabilities`` ``(S, 5, K)``, ``K = 1`` without slip else 5.

    Examples:
        >>> succ, prob = grid_dynamics(2, 2)
        >>> succ[0, :, 0].tolist()  # from the top-left corner: stay, north(wall), east, south, west(wall)
        [0, 0, 1, 2, 0]
    """
    if rows < 1 or cols < 1:
        raise ValidationError("size", f"is {rows}x{cols}", "use at least one row and one column")
    if not 0 <= slip < 1:
        raise ValidationError("slip", f"is {slip}", "choose a slip probability in [0, 1)")
    r, c = np.divmod(np.arange(rows * cols), cols)
    targets = np.stack(
        [np.clip(r + dr, 0, rows - 1) * cols + np.clip(c + dc, 0, cols - 1) for dr, dc in _MOVES], axis=1
    )  # (S, 5): where each action leads
    if slip == 0:
        return targets[:, :, None], np.ones((rows * cols, 5, 1))
    succ = np.broadcast_to(targets[:, None, :], (rows * cols, 5, 5)).copy()
    prob = np.full((5, 5), slip / 4)
    np.fill_diagonal(prob, 1 - slip)
    return succ, np.broadcast_to(prob, (rows * cols, 5, 5)).copy()


def chain(n: int = 2, *, discount: float | None = None, horizon: int | None = None) -> TabularMDP:
    """A deterministic chain: action 0 stays, action 1 moves one state right (the last state stays).

    Starts in state 0; features are one-hot. The smallest world with hand-computable answers.
    ``discount`` defaults to 0.9 when discounted and 1 with a finite ``horizon``.

    Examples:
        >>> chain(3).successors[:, :, 0].tolist()
        [[0, 1], [1, 2], [2, 2]]
    """
    idx = np.arange(n)
    succ = np.stack([idx, np.minimum(idx + 1, n - 1)], axis=1)[:, :, None]
    initial = np.zeros(n)
    initial[0] = 1
    if discount is None:
        discount = 0.9 if horizon is None else 1.0
    return _mdp(succ, np.ones_like(succ, dtype=float), initial, discount=discount, horizon=horizon, features=np.eye(n))


# ----------------------------------------------------------------------------- navigation
#: Terrain of the navigation gridworld: map character -> (name, true reward per step).
TERRAIN: dict[str, tuple[str, float]] = {
    "=": ("road", -1.0),
    ".": ("grass", -2.0),
    "#": ("rough", -5.0),
    "~": ("water", -20.0),
    "G": ("goal", 5.0),
}

#: Named maps. ``S`` marks a start cell (road underneath).
NAVIGATION_MAPS: dict[str, tuple[str, ...]] = {
    "crossing": (
        "......##.G",
        ".=========",
        ".=..~~~..=",
        ".=..~~~#.=",
        ".=##~~~#.=",
        ".=.......=",
        ".=========",
        ".S........",
    ),
    "tiny": (
        "..G",
        ".~=",
        "S==",
    ),
}


def navigation_gridworld(
    layout: str | tuple[str, ...] = "crossing",
    *,
    size: tuple[int, int] | None = None,
    seed: int = 0,
    slip: float = 0.0,
    horizon: int | None = None,
    discount: float = 1.0,
    weights: dict[str, float] | None = None,
) -> World:
    """The navigation gridworld of the classic IRL lecture: a robot crossing road, grass, rough
    ground and water to a goal. Features are one-hot terrain ``(S, 5)``; the reward is linear in them.

    Args:
        layout: a name from :data:`NAVIGATION_MAPS` or the map rows themselves (characters of
            :data:`TERRAIN`, plus ``S`` for start cells).
        size: ``(rows, cols)`` for a random map instead (seeded); start bottom-left, goal top-right.
        seed: seed of the random map.
        slip: probability that a move goes elsewhere.
        horizon: number of decisions; default ``2 * (rows + cols)``.
        discount: ``gamma`` (1 for the finite-horizon default).
        weights: reward per terrain name, overriding :data:`TERRAIN`.

    Examples:
        >>> world = navigation_gridworld("tiny")
        >>> world.mdp.n_states, world.shape, world.feature_names
        (9, (3, 3), ('road', 'grass', 'rough', 'water', 'goal'))
        >>> print(world.ascii())
        . . G
        . ~ =
        S = =
    """
    if size is not None:
        rows, cols = size
        if rows < 2 or cols < 2:
            raise ConfigError("size", f"is {size}", "use at least 2x2")
        _check_size("size", rows * cols, 25 * 16 + 5 * 8 + 64, f"a {rows}x{cols} navigation grid")
        rng = np.random.default_rng(seed)
        chars = rng.choice(np.array(["=", ".", "#", "~"]), size=(rows, cols), p=[0.25, 0.45, 0.2, 0.1])
        chars[rows - 1, 0] = "S"
        chars[0, cols - 1] = "G"
        rows_text: tuple[str, ...] = tuple("".join(row) for row in chars)
    elif isinstance(layout, str):
        if layout not in NAVIGATION_MAPS:
            raise ConfigError("layout", f"{layout!r} is not a named map", f"choose one of {sorted(NAVIGATION_MAPS)} or pass map rows")
        rows_text = NAVIGATION_MAPS[layout]
    else:
        rows_text = tuple(layout)
    rows, cols = len(rows_text), len(rows_text[0]) if rows_text else 0
    if rows == 0 or any(len(row) != cols for row in rows_text):
        raise ConfigError("layout", "has rows of different lengths or no rows", "give equal-length strings")
    names = [name for name, _ in TERRAIN.values()]
    rewards = {name: value for name, value in TERRAIN.values()}
    if weights is not None:
        unknown = set(weights) - set(names)
        if unknown:
            raise ConfigError("weights", f"name unknown terrain {sorted(unknown)}", f"use names from {names}")
        rewards.update(weights)
    char_to_index = {ch: i for i, ch in enumerate(TERRAIN)}
    terrain = np.zeros(rows * cols, dtype=np.int64)
    starts = np.zeros(rows * cols)
    for i, row in enumerate(rows_text):
        for j, ch in enumerate(row):
            if ch == "S":
                starts[i * cols + j] = 1
                ch = "="
            if ch not in char_to_index:
                raise ConfigError("layout", f"has unknown character {ch!r} at row {i}, column {j}", f"use {sorted(TERRAIN)} or S")
            terrain[i * cols + j] = char_to_index[ch]
    if starts.sum() == 0:
        starts[(rows - 1) * cols] = 1
    features = np.eye(len(TERRAIN))[terrain]
    w = torch.tensor([rewards[name] for name in names], dtype=torch.float64)
    succ, prob = grid_dynamics(rows, cols, slip)
    mdp = _mdp(
        succ,
        prob,
        starts / starts.sum(),
        discount=discount,
        horizon=2 * (rows + cols) if horizon is None and discount >= 1 else horizon,
        features=features,
    )
    return World("navigation", mdp, mdp.features @ w, (rows, cols), w, tuple(names), rows_text, GRID_ACTIONS)  # type: ignore[operator]


# ----------------------------------------------------------------------------- objectworld
def _nearest_distances(rows: int, cols: int, points: np.ndarray) -> np.ndarray:
    """Euclidean distance from every cell to the nearest of ``points`` ``(P, 2)``; ``rows + cols`` if none."""
    if len(points) == 0:
        return np.full(rows * cols, float(rows + cols))
    r, c = np.divmod(np.arange(rows * cols), cols)
    d = np.hypot(r[:, None] - points[None, :, 0], c[:, None] - points[None, :, 1])
    return np.asarray(d.min(axis=1))


def objectworld(
    size: int = 32,
    *,
    seed: int = 0,
    n_colours: int = 2,
    object_probability: float = 0.05,
    slip: float = 0.3,
    discount: float = 0.9,
    discrete: bool = False,
    horizon: int | None = None,
) -> World:
    """Levine's objectworld, built as ../shared/REFERENCES.md states.

    A ``size x size`` grid; each cell holds an object with probability 0.05, whose primary and
    secondary colours are drawn uniformly from ``n_colours``. Continuous features (``2 C``) are the
    Euclidean distances to the nearest object of each primary and each secondary colour; discrete
    features are the indicators "within distance d", ``distance <= d``, for ``d = 1 .. size - 1`` of
    each (124 for the standard 32x32, 2 colours), so the true reward is an AND of two of them. The
    true reward, scaled x5 as in Wulfmeier et al. (2015), is ``+5`` within distance 3 of primary
    colour 1 and distance 2 of primary colour 2, ``-10`` within 3 of colour 1 only, else 0. Slip 0.3,
    ``gamma = 0.9``, uniform start.

    Examples:
        >>> world = objectworld(8, seed=1)
        >>> world.mdp.n_states, world.mdp.n_features, world.mdp.branching
        (64, 4, 5)
        >>> objectworld(32, discrete=True).mdp.n_features
        124
    """
    if size < 2:
        raise ConfigError("size", f"is {size}", "use a grid of at least 2x2")
    if n_colours < 2:
        raise ConfigError("n_colours", f"is {n_colours}", "use at least 2 colours (the reward needs two)")
    if not 0 <= object_probability <= 1:
        raise ConfigError("object_probability", f"is {object_probability}", "choose a probability in [0, 1]")
    n_states, n_features = size * size, 2 * n_colours * ((size - 1) if discrete else 1)
    # dynamics and features per state, and the (S, objects) distance table of the nearest-object search
    _check_size("size", n_states, 25 * 16 + 8 * n_features + 24 * object_probability * n_states, f"a {size}x{size} objectworld")
    rng = np.random.default_rng(seed)
    has = rng.random((size, size)) < object_probability
    cells = np.argwhere(has)
    primary = rng.integers(0, n_colours, len(cells))
    secondary = rng.integers(0, n_colours, len(cells))
    dists = [_nearest_distances(size, size, cells[primary == c]) for c in range(n_colours)]
    dists += [_nearest_distances(size, size, cells[secondary == c]) for c in range(n_colours)]
    cont = np.stack(dists, axis=1)  # (S, 2C)
    names = [f"dist_primary_{c}" for c in range(n_colours)] + [f"dist_secondary_{c}" for c in range(n_colours)]
    if discrete:
        thresholds = np.arange(1, size)
        features = (cont[:, :, None] <= thresholds[None, None, :]).reshape(size * size, -1).astype(float)
        names = [f"{n}<={d}" for n in names for d in thresholds]
    else:
        features = cont
    near1, near2 = dists[0] <= 3, dists[1] <= 2
    reward = np.where(near1 & near2, 5.0, np.where(near1, -10.0, 0.0))
    succ, prob = grid_dynamics(size, size, slip)
    mdp = _mdp(succ, prob, np.full(size * size, 1.0 / (size * size)), discount=discount, horizon=horizon, features=features)
    layout = tuple("".join(("ABCDEFGH"[primary[k]] if k >= 0 else ".") for k in row) for row in _object_index(size, cells))
    return World("objectworld", mdp, torch.tensor(reward), (size, size), None, tuple(names), layout, GRID_ACTIONS)


def _object_index(size: int, cells: np.ndarray) -> np.ndarray:
    index = np.full((size, size), -1)
    for k, (i, j) in enumerate(cells):
        index[i, j] = k
    return index


def binaryworld(size: int = 32, *, seed: int = 0, slip: float = 0.3, discount: float = 0.9, horizon: int | None = None) -> World:
    """Wulfmeier et al.'s binaryworld: each cell is blue or red w.p. 1/2; the 9 features are the
    colours (blue = 1) of the 3x3 neighbourhood, row-major, cells outside the grid counting as red.
    The reward is +1 if exactly 4 of the 9 are blue, -1 if exactly 5, else 0. Dynamics as objectworld.

    Examples:
        >>> world = binaryworld(8, seed=0)
        >>> world.mdp.n_features, sorted(set(world.reward.tolist())) <= [-1.0, 0.0, 1.0]
        (9, True)
    """
    if size < 2:
        raise ConfigError("size", f"is {size}", "use a grid of at least 2x2")
    _check_size("size", size * size, 25 * 16 + 9 * 8 * 3, f"a {size}x{size} binaryworld")
    rng = np.random.default_rng(seed)
    blue = (rng.random((size, size)) < 0.5).astype(float)
    padded = np.pad(blue, 1)
    feats = np.stack([padded[1 + dr : 1 + dr + size, 1 + dc : 1 + dc + size] for dr in (-1, 0, 1) for dc in (-1, 0, 1)], axis=-1)
    features = feats.reshape(size * size, 9)
    count = features.sum(1)
    reward = np.where(count == 4, 1.0, np.where(count == 5, -1.0, 0.0))
    succ, prob = grid_dynamics(size, size, slip)
    mdp = _mdp(succ, prob, np.full(size * size, 1.0 / (size * size)), discount=discount, horizon=horizon, features=features)
    layout = tuple("".join("b" if x else "r" for x in row) for row in blue)
    names = tuple(f"blue[{dr:+d},{dc:+d}]" for dr in (-1, 0, 1) for dc in (-1, 0, 1))
    return World("binaryworld", mdp, torch.tensor(reward), (size, size), None, names, layout, GRID_ACTIONS)


def feature_gridworld(
    size: int = 6, *, n_features: int = 4, seed: int = 0, discount: float = 0.9, slip: float = 0.0, horizon: int | None = None
) -> World:
    """The random feature grids of the Bayesian IRL experiments (Brown & Niekum 2018; Brown et al.
    2020; Trinh et al. 2024): each cell gets one of ``n_features`` one-hot features at random, the
    true weights are a random unit vector, and the agent moves north, east, south or west (no
    "stay"; a move into a wall stays put). Uniform start.

    Examples:
        >>> world = feature_gridworld(6, seed=1)
        >>> world.mdp.n_states, world.mdp.n_actions, world.mdp.n_features, round(float(world.weights.norm()), 6)
        (36, 4, 4, 1.0)
    """
    if size < 2:
        raise ConfigError("size", f"is {size}", "use a grid of at least 2x2")
    if n_features < 1:
        raise ConfigError("n_features", f"is {n_features}", "use at least one feature")
    _check_size("size", size * size, 16 * 16 + 8 * n_features + 64, f"a {size}x{size} feature grid with {n_features} features")
    rng = np.random.default_rng(seed)
    kinds = rng.integers(n_features, size=size * size)
    features = np.eye(n_features)[kinds]
    weights = rng.standard_normal(n_features)
    weights /= np.linalg.norm(weights)
    succ, prob = grid_dynamics(size, size, slip)
    if slip > 0:  # slip moves among the four moves only
        targets = succ[:, 1:, 0]
        succ = np.broadcast_to(targets[:, None, :], (size * size, 4, 4)).copy()
        p = np.full((4, 4), slip / 3)
        np.fill_diagonal(p, 1 - slip)
        prob = np.broadcast_to(p, (size * size, 4, 4)).copy()
    else:
        succ, prob = succ[:, 1:], prob[:, 1:]
    mdp = _mdp(succ, prob, np.full(size * size, 1.0 / (size * size)), discount=discount, horizon=horizon, features=features)
    layout = tuple("".join(chr(ord("a") + int(k)) for k in row) for row in kinds.reshape(size, size))
    names = tuple(f"feature {j}" for j in range(n_features))
    w = torch.tensor(weights)
    return World("feature_grid", mdp, torch.as_tensor(features) @ w, (size, size), w, names, layout, GRID_ACTIONS[1:])


# ----------------------------------------------------------------------------- random
def random_mdp(
    n_states: int = 10,
    n_actions: int = 3,
    branching: int = 2,
    *,
    seed: int = 0,
    n_features: int = 4,
    discount: float = 0.9,
    horizon: int | None = None,
    state_action_reward: bool = False,
) -> World:
    """A random MDP: each ``(s, a)`` leads to ``branching`` distinct random states with Dirichlet(1)
    probabilities; Gaussian features ``(S, F)`` and a reward linear in them (or a random ``(S, A)``
    reward with ``state_action_reward=True``); random start distribution.

    Examples:
        >>> world = random_mdp(6, 2, 3, seed=0)
        >>> world.mdp.successors.shape, world.reward.shape
        (torch.Size([6, 2, 3]), torch.Size([6]))
    """
    for field, value in (("n_states", n_states), ("n_actions", n_actions), ("n_features", n_features)):
        if value < 1:
            raise ConfigError(field, f"is {value}", "use at least 1")
    if not 1 <= branching <= n_states:
        raise ConfigError("branching", f"is {branching}", f"choose 1..n_states={n_states}")
    _check_size("n_states", n_states, n_actions * branching * 16 + 8 * n_features, f"a random MDP of {n_states} states")
    rng = np.random.default_rng(seed)
    succ = np.stack([rng.permutation(n_states)[:branching] for _ in range(n_states * n_actions)]).reshape(n_states, n_actions, branching)
    prob = rng.dirichlet(np.ones(branching), size=(n_states, n_actions))
    features = rng.normal(size=(n_states, n_features))
    weights = torch.tensor(rng.normal(size=n_features))
    initial = rng.dirichlet(np.ones(n_states))
    mdp = _mdp(succ, prob, initial, discount=discount, horizon=horizon, features=features)
    if state_action_reward:
        reward = torch.tensor(rng.normal(size=(n_states, n_actions)))
        return World(
            "random", mdp, reward, None, None, tuple(f"f{i}" for i in range(n_features)), None, tuple(f"a{i}" for i in range(n_actions))
        )
    assert mdp.features is not None
    return World(
        "random",
        mdp,
        mdp.features @ weights,
        None,
        weights,
        tuple(f"f{i}" for i in range(n_features)),
        None,
        tuple(f"a{i}" for i in range(n_actions)),
    )


# ----------------------------------------------------------------------------- gymnasium
def gymnasium_reward(env: Any) -> Tensor:
    """Expected reward ``r(s, a) = sum_s' P(s' | s, a) R(s, a, s')`` of a toy-text env, ``(S, A)``.

    Terminal states (those entered with ``terminated=True``) get reward 0: in Gymnasium the episode
    is over on arrival, while a :class:`TabularMDP` lets the agent act once in a terminal state.

    Examples:
        >>> import gymnasium as gym
        >>> gymnasium_reward(gym.make("CliffWalking-v1")).min().item()
        -100.0
    """
    unwrapped = getattr(env, "unwrapped", env)
    n_states, n_actions = int(unwrapped.observation_space.n), int(unwrapped.action_space.n)
    reward = np.zeros((n_states, n_actions))
    terminal = np.zeros(n_states, dtype=bool)
    for s in range(n_states):
        for a in range(n_actions):
            reward[s, a] = sum(p * r for p, _nxt, r, _done in unwrapped.P[s][a])
            for _p, nxt, _r, done in unwrapped.P[s][a]:
                terminal[int(nxt)] |= bool(done)
    reward[terminal] = 0.0
    return torch.tensor(reward)


def _toy_text(env_id: str, name: str, discount: float, horizon: int | None, **kwargs: Any) -> World:
    import gymnasium as gym

    env = gym.make(env_id, **kwargs)
    try:
        mdp = TabularMDP.from_gymnasium(env, discount=discount, horizon=horizon)
        # one-hot state features, so that feature-based learners (linear MaxEnt, projection, MWAL) apply
        mdp = mdp.replace(features=torch.eye(mdp.n_states, dtype=mdp.dtype))
        reward = gymnasium_reward(env)
        unwrapped: Any = env.unwrapped
        shape = (int(unwrapped.nrow), int(unwrapped.ncol)) if hasattr(unwrapped, "nrow") else getattr(unwrapped, "shape", None)
        layout = tuple(b"".join(row).decode() for row in unwrapped.desc) if hasattr(unwrapped, "desc") and name == "frozenlake" else None
    finally:
        env.close()
    actions = {"frozenlake": ("west", "south", "east", "north"), "cliffwalking": ("north", "east", "south", "west")}
    return World(
        name,
        mdp,
        reward,
        tuple(shape) if shape else None,
        None,
        (),
        layout,
        actions.get(name, tuple(f"a{i}" for i in range(mdp.n_actions))),
    )


def frozen_lake(*, map_name: str = "4x4", is_slippery: bool = True, discount: float = 0.99, horizon: int | None = None) -> World:
    """Gymnasium's FrozenLake-v1 as a :class:`World` (actions: west, south, east, north), one-hot state features."""
    from gymnasium.envs.toy_text.frozen_lake import MAPS

    if map_name not in MAPS:
        raise ConfigError("map_name", f"is {map_name!r}", f"{did_you_mean(map_name, MAPS)}choose one of {sorted(MAPS)}")
    return _toy_text("FrozenLake-v1", "frozenlake", discount, horizon, map_name=map_name, is_slippery=is_slippery)


def cliff_walking(*, discount: float = 0.99, horizon: int | None = None) -> World:
    """Gymnasium's CliffWalking-v1 as a :class:`World` (actions: north, east, south, west)."""
    return _toy_text("CliffWalking-v1", "cliffwalking", discount, horizon)


def taxi(*, discount: float = 0.99, horizon: int | None = None) -> World:
    """Gymnasium's Taxi-v4 as a :class:`World` (500 states, 6 actions)."""
    return _toy_text("Taxi-v4", "taxi", discount, horizon)


# ----------------------------------------------------------------------------- specs
_BUILDERS: dict[str, Callable[..., World]] = {
    "navigation": navigation_gridworld,
    "objectworld": objectworld,
    "binaryworld": binaryworld,
    "featuregrid": feature_gridworld,
    "random": random_mdp,
    "frozenlake": frozen_lake,
    "cliffwalking": cliff_walking,
    "taxi": taxi,
}


def world_builder(name: str) -> Callable[..., World]:
    """The builder of the world called ``name`` (``"objectworld"``, ...); its keyword parameters are the
    world's options, each with its declared type.

    Raises:
        ConfigError: an unknown name, with a did-you-mean and the known names.
    """
    if name not in _BUILDERS:
        raise ConfigError("world", f"{name!r} is not a known world", f"{did_you_mean(name, _BUILDERS)}choose one of {sorted(_BUILDERS)}")
    return _BUILDERS[name]


def parse_world_spec(spec: str) -> tuple[str, dict[str, str]]:
    """``"NAME[:key=value,...]"`` -> ``(NAME, {key: text})``; the texts are read by :func:`make_world` (or a
    run config) by the builder's declared types.

    Examples:
        >>> parse_world_spec("objectworld:size=16,seed=3")
        ('objectworld', {'size': '16', 'seed': '3'})
    """
    name, _, rest = spec.partition(":")
    name = name.strip()
    world_builder(name)
    options: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError("world", f"option {item!r} of {spec!r} is not key=value", f"write options as {name}:key=value,key=value")
        if key.strip() in options:
            raise ConfigError(f"world option {key.strip()}", "is given twice", "give each option once")
        options[key.strip()] = value.strip()
    return name, options


def make_world(spec: str) -> World:
    """Build a world from a spec ``NAME[:key=value,...]``, e.g. ``"objectworld:size=16,seed=3"``.

    Examples:
        >>> make_world("objectworld:size=8,seed=2").mdp.n_states
        64
        >>> make_world("navigation:size=4x5").shape
        (4, 5)
    """
    name, options = parse_world_spec(spec)
    builder = world_builder(name)
    # each value is read by the builder's declared parameter type; ranges are checked by the builder
    return builder(**apply_settings(builder, options, f"world {name!r}"))
