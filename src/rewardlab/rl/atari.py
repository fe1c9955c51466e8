"""Atari environments as T-REX used them: the standard preprocessing (no-op starts, frame skip 4,
84 x 84 grey frames, a stack of 4) and the **score masked**, so a reward learned from frames cannot
read the game's own score (or lives) off the screen.

Masked regions (rows of the 84 x 84 frame set to 0) are our choice per game, covering the score and
lives displays: Breakout, Pong, Space Invaders and others show them at the top; Enduro shows its
odometer and day counter at the bottom. Unknown games mask the top ``default_rows`` rows.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from rewardlab.errors import ConfigError

__all__ = ["ATARI_PPO", "SCORE_ROWS", "MaskScore", "atari_env"]

#: ``(first_row, last_row)`` of the 84-row frame hidden from the reward, per game.
SCORE_ROWS: dict[str, tuple[int, int]] = {
    "Breakout": (0, 10),
    "Pong": (0, 10),
    "SpaceInvaders": (0, 10),
    "BeamRider": (0, 10),
    "Qbert": (0, 10),
    "Seaquest": (0, 10),
    "Hero": (72, 84),
    "Enduro": (71, 84),
}


#: PPO on Atari, the RL Baselines3 Zoo's tuned values (its learning rate and clip range decay linearly to 0;
#: these are their starting values, held constant). Pass as ``train_policy(..., hyperparams=ATARI_PPO)``.
ATARI_PPO: dict[str, Any] = {
    "n_envs": 8,
    "n_steps": 128,
    "n_epochs": 4,
    "batch_size": 256,
    "learning_rate": 2.5e-4,
    "clip_range": 0.1,
    "vf_coef": 0.5,
    "ent_coef": 0.01,
}


class MaskScore(gym.ObservationWrapper[Any, Any, Any]):
    """Zero rows ``[first, last)`` of every frame of a ``(stack, 84, 84)`` observation.

    Examples:
        >>> env = atari_env("Breakout")
        >>> obs, _ = env.reset(seed=0)
        >>> obs.shape, int(obs[:, :10].max())
        ((4, 84, 84), 0)
    """

    def __init__(self, env: gym.Env[Any, Any], rows: tuple[int, int]) -> None:
        super().__init__(env)
        first, last = rows
        height = int(env.observation_space.shape[-2]) if env.observation_space.shape else 0
        if not 0 <= first < last <= height:
            raise ConfigError("rows", f"is {rows}", f"pick rows within [0, {height}]")
        self.rows = (first, last)

    def observation(self, observation: Any) -> Any:
        out = np.array(observation, copy=True)
        out[..., self.rows[0] : self.rows[1], :] = 0
        return out


def atari_env(game: str, *, mask_score: bool = True, frame_stack: int = 4, default_rows: int = 10, **kwargs: Any) -> gym.Env[Any, Any]:
    """``ALE/<game>-v5`` with T-REX's preprocessing; observations ``(frame_stack, 84, 84)`` uint8.

    Extra keyword arguments go to ``gym.make`` (e.g. ``repeat_action_probability``).
    """
    import ale_py

    gym.register_envs(ale_py)
    env: gym.Env[Any, Any] = gym.make(f"ALE/{game}-v5", frameskip=1, **kwargs)
    env = gym.wrappers.AtariPreprocessing(env, noop_max=30, frame_skip=4, screen_size=84)
    env = gym.wrappers.FrameStackObservation(env, frame_stack)
    if mask_score:
        env = MaskScore(env, SCORE_ROWS.get(game, (0, default_rows)))
    return env
