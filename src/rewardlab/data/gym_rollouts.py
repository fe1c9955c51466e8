"""Rolling out any policy in Gymnasium environments, several envs at once.

``policy`` is a Stable-Baselines3 model (anything with ``predict(obs, deterministic=...)``) or a
callable ``actions = policy(obs_batch)``. ``K`` envs step side by side, and one policy call serves
all of them per step. With ``epsilon > 0`` each action is replaced, with that probability, by a
uniformly random one from the action space (D-REX's noise injection).

Each :class:`Trajectory` records the observations, actions and the env's true rewards, whether it ended
in a terminal state, and in ``infos``: the episode seed, ``epsilon``, and for MuJoCo locomotion envs
the distance travelled along x (``x_distance``), the metric of the T-REX MuJoCo figures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from rewardlab.data.trajectory import Trajectory, TrajectoryDataset
from rewardlab.errors import ValidationError

__all__ = ["as_policy_fn", "check_env_id", "collect_rollouts", "env_spaces"]


def as_policy_fn(policy: Any, *, deterministic: bool = True) -> Callable[[np.ndarray], np.ndarray]:
    """A batched ``obs -> actions`` function from an SB3 model or a callable."""
    if hasattr(policy, "predict"):
        return lambda obs: policy.predict(obs, deterministic=deterministic)[0]
    if callable(policy):
        return policy  # type: ignore[no-any-return]
    raise ValidationError("policy", f"is a {type(policy).__name__}", "pass an SB3 model or a callable obs_batch -> actions")


def env_spaces(env: Any) -> tuple[gym.Space[Any], gym.Space[Any]]:
    """``(observation_space, action_space)`` of an env id, an env, a vector env (one sub-env's spaces), a
    function returning a new env, or such a pair.

    Examples:
        >>> env_spaces("Pendulum-v1")[1].shape
        (1,)
    """
    if isinstance(env, tuple) and len(env) == 2:
        return env
    if isinstance(env, str) or (callable(env) and not hasattr(env, "observation_space")):
        env = _make(env)
    if hasattr(env, "observation_space") and hasattr(env, "action_space"):
        return getattr(env, "single_observation_space", env.observation_space), getattr(env, "single_action_space", env.action_space)
    raise ValidationError("env", f"is a {type(env).__name__}", "pass an env, an env id or (observation_space, action_space)")


def check_env_id(env_id: str, field: str = "env") -> str:
    """Refuse an id that Gymnasium has not registered, with the closest registered ids as a suggestion.

    An id without a version (``"Pendulum"``) is accepted when some version is registered, as
    :func:`gymnasium.make` takes the latest. Ids of namespaces registered on import (``ALE/...``
    after ``import ale_py``) are checked against the registry as it stands.

    Examples:
        >>> check_env_id("Pendulum-v1")
        'Pendulum-v1'
        >>> from rewardlab.errors import ConfigError
        >>> try:
        ...     check_env_id("Pendulm-v1", "--env")
        ... except ConfigError as err:
        ...     print(err.field, "|", err.problem, "|", err.fix.split(" or ")[0])
        --env | 'Pendulm-v1' is not a registered Gymnasium env | did you mean 'Pendulum-v1'
    """
    import difflib

    from rewardlab.errors import ConfigError

    registered = list(gym.registry)
    if env_id in gym.registry or any(key.startswith(f"{env_id}-v") for key in registered):
        return env_id
    close = difflib.get_close_matches(env_id, registered, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    raise ConfigError(field, f"{env_id!r} is not a registered Gymnasium env", f"{hint}Give a registered id such as 'Pendulum-v1'")


def _make(env: Any) -> gym.Env[Any, Any]:
    if isinstance(env, str):
        return gym.make(env)
    if callable(env):
        made = env()
        if isinstance(made, gym.Env):
            return made
    raise ValidationError("env", f"is {env!r}", "pass an env id like 'Pendulum-v1' or a function returning a new gymnasium.Env")


def collect_rollouts(
    env: Any,
    policy: Any,
    episodes: int,
    *,
    seed: int,
    epsilon: float = 0.0,
    n_envs: int = 4,
    max_steps: int | None = None,
    deterministic: bool = True,
    infos: dict[str, Any] | None = None,
) -> TrajectoryDataset:
    """Roll out ``episodes`` episodes of ``policy``.

    Args:
        env: an env id, or a function returning a new env (called ``n_envs`` times).
        policy: an SB3 model or a batched callable ``obs (K, ...) -> actions (K, ...)``.
        episodes: number of episodes.
        seed: episode ``e`` resets with seed ``seed + e``; the noise draws use ``seed`` too.
        epsilon: probability of replacing each action by a uniformly random one.
        n_envs: envs stepped side by side.
        max_steps: cut episodes after this many decisions (the env's own time limit applies too).
        deterministic: SB3 models act deterministically (the mean action) unless False.
        infos: extra metadata copied into every trajectory's ``infos``.

    Examples:
        >>> ds = collect_rollouts("Pendulum-v1", lambda o: np.zeros((len(o), 1), np.float32), 2, seed=0, max_steps=5)
        >>> [len(tr) for tr in ds], ds[0].obs.shape
        ([5, 5], (6, 3))
    """
    if episodes < 1:
        raise ValidationError("episodes", f"is {episodes}", "collect at least one episode")
    if not 0 <= epsilon <= 1:
        raise ValidationError("epsilon", f"is {epsilon}", "choose epsilon in [0, 1]")
    act = as_policy_fn(policy, deterministic=deterministic)
    rng = np.random.default_rng(seed)
    envs = [_make(env) for _ in range(min(n_envs, episodes))]
    for k, e in enumerate(envs):
        e.action_space.seed(seed + 10_000 + k)
    out: list[Trajectory | None] = [None] * episodes
    next_episode = 0
    # per env slot: episode index, observations, actions, rewards, first x position
    slots: list[dict[str, Any] | None] = [None] * len(envs)

    def start(k: int) -> None:
        nonlocal next_episode
        if next_episode >= episodes:
            slots[k] = None
            return
        obs, info = envs[k].reset(seed=seed + next_episode)
        slots[k] = {"episode": next_episode, "obs": [obs], "acts": [], "rews": [], "x0": info.get("x_position")}
        next_episode += 1

    for k in range(len(envs)):
        start(k)
    while any(s is not None for s in slots):
        live = [k for k, s in enumerate(slots) if s is not None]
        batch = np.stack([slots[k]["obs"][-1] for k in live])  # type: ignore[index]
        actions = np.asarray(act(batch))
        for row, k in enumerate(live):
            slot = slots[k]
            assert slot is not None
            a = actions[row]
            if epsilon > 0 and rng.random() < epsilon:
                a = envs[k].action_space.sample()
            obs, r, terminated, truncated, info = envs[k].step(a)
            slot["acts"].append(np.asarray(a))
            slot["rews"].append(float(r))
            slot["obs"].append(obs)
            cut = max_steps is not None and len(slot["acts"]) >= max_steps
            if terminated or truncated or cut:
                meta = {"seed": seed + slot["episode"], "epsilon": epsilon, **(infos or {})}
                if slot["x0"] is not None and "x_position" in info:
                    meta["x_distance"] = float(info["x_position"] - slot["x0"])
                out[slot["episode"]] = Trajectory(
                    obs=np.stack(slot["obs"]),
                    acts=np.stack(slot["acts"]),
                    rews=np.array(slot["rews"]),
                    terminal=bool(terminated),
                    infos=meta,
                )
                start(k)
    for e in envs:
        e.close()
    return TrajectoryDataset([tr for tr in out if tr is not None])
