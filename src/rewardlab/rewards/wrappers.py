"""Gymnasium wrappers that replace an environment's reward with a learned one.

``r_t = transform(model(obs_t, a_t)) - ctrl_cost * ||a_t||^2`` where ``obs_t`` is the observation the
action was taken in (the convention of :class:`rewardlab.data.Trajectory` and of T-REX's snippet
returns), and ``transform`` is one of

* ``"none"``;
* ``"sigmoid"`` — ``sigmoid(r)``, T-REX's Atari choice: bounded, always positive;
* ``"running"`` — ``(r - mean) / std`` with the running mean and std of every reward seen so far
  (Welford's update), T-REX's MuJoCo choice.

The environment's own reward is kept in ``info["true_reward"]`` (per env for vector envs), so
learning curves against the truth stay one lookup away. :class:`LearnedReward` wraps one env,
:class:`VectorLearnedReward` a Gymnasium vector env (one batched call of the model per step).
"""

from __future__ import annotations

from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch

from rewardlab.errors import ConfigError, ShapeError

__all__ = ["LearnedReward", "RunningNormalizer", "VectorLearnedReward", "check_reward_spaces", "check_transform", "shaped_reward"]

Transform = Literal["none", "sigmoid", "running"]


class RunningNormalizer:
    """Running mean and variance of a stream of numbers (Welford / Chan's batch update).

    Examples:
        >>> n = RunningNormalizer()
        >>> n.update(np.array([1.0, 2.0, 3.0])); n.update(np.array([4.0]))
        >>> round(n.mean, 3), round(n.var, 3)
        (2.5, 1.25)
    """

    def __init__(self) -> None:
        self.count, self.mean, self.var = 0, 0.0, 0.0

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=float).reshape(-1)
        if not len(x):
            return
        n, m, v = len(x), float(x.mean()), float(x.var())
        total = self.count + n
        delta = m - self.mean
        self.var = (self.var * self.count + v * n + delta**2 * self.count * n / total) / total
        self.mean += delta * n / total
        self.count = total

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out: np.ndarray = (np.asarray(x, dtype=float) - self.mean) / np.sqrt(self.var + 1e-8)
        return out


def check_transform(transform: str, ctrl_cost: float) -> None:
    """Raise :class:`ConfigError` for an unknown transform or a negative control cost."""
    if transform not in ("none", "sigmoid", "running"):
        raise ConfigError("normalize", f"is {transform!r}", "choose 'none', 'sigmoid' or 'running'")
    if ctrl_cost < 0:
        raise ConfigError("ctrl_cost", f"is {ctrl_cost}", "use a control-cost weight >= 0")


def check_reward_spaces(
    model: Any, observation_space: gym.Space[Any], action_space: gym.Space[Any], *, reward: str = "model", env: str = "env"
) -> None:
    """Refuse a reward model on an env whose observations (or, for a reward of actions, actions) are not
    the ones it was trained on, naming both (``reward`` and ``env`` are their names for the caller, e.g.
    ``"--reward"`` and ``"--env"``). Models without a :class:`~rewardlab.rewards.nets.RewardNetSpec`
    (``model.spec``) are let through.

    Raises:
        ShapeError: on ``reward``: the shapes it was trained on and the env's.

    Examples:
        >>> from rewardlab.rewards.nets import NeuralReward, RewardNetSpec
        >>> cartpole = gym.make("CartPole-v1")
        >>> check_reward_spaces(NeuralReward(RewardNetSpec((3,), hidden=(8,))), cartpole.observation_space, cartpole.action_space)
        Traceback (most recent call last):
        ...
        rewardlab.errors.ShapeError: model: was trained on observations of shape (3,), but env gives shape (4,). Fix: pass a reward learned on env, or the env this reward was learned on.
    """
    spec = getattr(model, "spec", None)
    obs_shape = getattr(spec, "obs_shape", None)
    if spec is None or obs_shape is None:
        return
    fix = f"pass a reward learned on {env}, or the env this reward was learned on"
    shape = tuple(observation_space.shape or ())
    if tuple(obs_shape) != shape:
        raise ShapeError(reward, f"was trained on observations of shape {tuple(obs_shape)}, but {env} gives shape {shape}", fix)
    if not spec.uses_action:
        return
    if isinstance(action_space, gym.spaces.Discrete):
        same, theirs = spec.discrete_actions and spec.act_dim == int(action_space.n), f"{int(action_space.n)} discrete actions"
    else:
        size = int(np.prod(action_space.shape or ()))
        same, theirs = not spec.discrete_actions and spec.act_dim == size, f"actions of size {size}"
    if not same:
        ours = f"{spec.act_dim} discrete actions" if spec.discrete_actions else f"actions of size {spec.act_dim}"
        raise ShapeError(reward, f"was trained on {ours}, but {env} has {theirs}", fix)


@torch.no_grad()
def shaped_reward(
    model: Any, obs: np.ndarray, act: np.ndarray, *, transform: Transform, ctrl_cost: float, normalizer: RunningNormalizer | None
) -> np.ndarray:
    """``(B,)`` learned rewards for a batch of (observation, action): the model, the transform, the control cost."""
    first = next(iter(model.parameters()), None) if isinstance(model, torch.nn.Module) else None
    device = first.device if first is not None else "cpu"
    uses_action = getattr(getattr(model, "spec", None), "uses_action", True)
    o = torch.as_tensor(obs, device=device)
    a = torch.as_tensor(act, device=device) if uses_action else None
    with torch.no_grad():
        r = np.asarray(model(o, a).cpu().numpy(), dtype=float).reshape(-1)
    if transform == "sigmoid":
        r = 1.0 / (1.0 + np.exp(-r))
    elif transform == "running" and normalizer is not None:
        normalizer.update(r)
        r = normalizer(r)
    if ctrl_cost:
        r = r - ctrl_cost * np.square(np.asarray(act, dtype=float).reshape(len(r), -1)).sum(1)
    return r


class LearnedReward(gym.Wrapper[Any, Any, Any, Any]):
    """Replace a single env's reward with ``model``'s.

    Args:
        env: any Gymnasium env.
        model: a reward model ``model(obs (B, ...), act (B, ...) | None) -> (B,)`` (e.g. :class:`NeuralReward`).
        normalize: ``"none"``, ``"sigmoid"`` or ``"running"``.
        ctrl_cost: weight of ``-||a||^2`` added to the learned reward.

    Examples:
        >>> from rewardlab.rewards.nets import NeuralReward, RewardNetSpec
        >>> env = LearnedReward(gym.make("Pendulum-v1"), NeuralReward(RewardNetSpec((3,), hidden=(8,))))
        >>> _ = env.reset(seed=0)
        >>> _, r, _, _, info = env.step(np.zeros(1, np.float32))
        >>> isinstance(r, float), "true_reward" in info
        (True, True)
    """

    def __init__(self, env: gym.Env[Any, Any], model: Any, *, normalize: Transform = "none", ctrl_cost: float = 0.0) -> None:
        super().__init__(env)
        check_transform(normalize, ctrl_cost)
        check_reward_spaces(model, env.observation_space, env.action_space)
        self.model, self.transform, self.ctrl_cost = model, normalize, ctrl_cost
        self.normalizer = RunningNormalizer() if normalize == "running" else None
        self._obs: Any = None

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._obs = obs
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, true_reward, terminated, truncated, info = self.env.step(action)
        r = shaped_reward(
            self.model,
            np.asarray(self._obs)[None],
            np.asarray(action)[None],
            transform=self.transform,
            ctrl_cost=self.ctrl_cost,
            normalizer=self.normalizer,
        )
        self._obs = obs
        info = {**info, "true_reward": float(true_reward)}
        return obs, float(r[0]), terminated, truncated, info


class VectorLearnedReward(gym.vector.VectorWrapper):
    """Replace a Gymnasium vector env's rewards with ``model``'s, one batched model call per step.

    With the default next-step autoreset, the step that resets a finished sub-env ignores its action;
    its learned reward is 0 there, as the env's own reward is.

    Examples:
        >>> from rewardlab.rewards.nets import NeuralReward, RewardNetSpec
        >>> envs = VectorLearnedReward(gym.make_vec("Pendulum-v1", num_envs=2), NeuralReward(RewardNetSpec((3,), hidden=(8,))))
        >>> _ = envs.reset(seed=0)
        >>> _, r, _, _, info = envs.step(np.zeros((2, 1), np.float32))
        >>> r.shape, info["true_reward"].shape
        ((2,), (2,))
    """

    def __init__(self, env: gym.vector.VectorEnv, model: Any, *, normalize: Transform = "none", ctrl_cost: float = 0.0) -> None:
        super().__init__(env)
        check_transform(normalize, ctrl_cost)
        check_reward_spaces(model, env.single_observation_space, env.single_action_space)
        self.model, self.transform, self.ctrl_cost = model, normalize, ctrl_cost
        self.normalizer = RunningNormalizer() if normalize == "running" else None
        self._obs: Any = None
        self._resetting = np.zeros(env.num_envs, dtype=bool)

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._obs = obs
        self._resetting[:] = False
        return obs, info

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        obs, true_reward, terminated, truncated, info = self.env.step(actions)
        r = shaped_reward(
            self.model,
            np.asarray(self._obs),
            np.asarray(actions),
            transform=self.transform,
            ctrl_cost=self.ctrl_cost,
            normalizer=self.normalizer,
        )
        r = np.where(self._resetting, 0.0, r)
        self._resetting = np.asarray(terminated) | np.asarray(truncated)
        self._obs = obs
        info = {**info, "true_reward": np.asarray(true_reward, dtype=float)}
        return obs, r, terminated, truncated, info
