"""The constant reward: the control of a learned-reward experiment.

A policy trained on a learned reward should be compared with one trained, with the same algorithm,
budget, normalisation and control cost, on a reward that carries no information about the task
(Brown et al. 2019, T-REX, MuJoCo section): whatever the control reaches comes from the training
set-up (the control cost, the initial policy, the episode's own dynamics), not from the reward.
:class:`ConstantReward` is that reward, ``r(s, a, s') = c`` for every transition. It follows the
reward-model protocol ``r(obs, act, next_obs, done) -> (B,)`` and saves and loads like the learned
rewards (``reward.safetensors`` + ``reward.json``), so ``rewardlab train-policy --reward DIR`` trains the
control from a directory written by :meth:`ConstantReward.save`.

With the running normalisation of :mod:`rewardlab.rewards.wrappers` (``(r - mean) / std``) a constant
reward becomes 0 for every transition, whatever ``c`` is: the control then optimises the control cost
alone.

Examples:
    >>> import torch
    >>> ConstantReward(2.5)(torch.zeros(3, 4))
    tensor([2.5000, 2.5000, 2.5000])
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import torch
from torch import Tensor, nn

from rewardlab._io import read_tensors, save_tensors
from rewardlab.errors import ConfigError, DataFileError, ShapeError

__all__ = ["ConstantReward"]

_FORMAT = "rewardlab.ConstantReward"
_VERSION = 1


class _ConstantMeta(TypedDict):
    """The schema of a :class:`ConstantReward`'s ``reward.json``."""

    format: str
    version: int


class ConstantReward(nn.Module):
    """The same reward ``value`` for every observation and action: ``(obs (B, ...), act) -> (B,)``.

    It has no parameters and no :class:`~rewardlab.rewards.nets.RewardNetSpec`, so it fits every
    environment (:func:`~rewardlab.rewards.wrappers.check_reward_spaces` lets it through).

    Args:
        value: the reward ``c``, finite.

    Examples:
        >>> import tempfile
        >>> r = ConstantReward(-1.0)
        >>> r(np.zeros((2, 3)), np.zeros((2, 1))).tolist()
        [-1.0, -1.0]
        >>> folder = tempfile.mkdtemp()
        >>> ConstantReward.load(r.save(folder)).value
        -1.0
    """

    constant: Tensor

    def __init__(self, value: float = 1.0) -> None:
        super().__init__()
        if not (isinstance(value, (int, float)) and math.isfinite(value)):
            raise ConfigError("value", f"is {value!r}", "give a finite number, e.g. 1.0")
        self.register_buffer("constant", torch.tensor(float(value), dtype=torch.float64))  # saved exactly

    @property
    def value(self) -> float:
        """The reward ``c``."""
        return float(self.constant)

    def forward(self, obs: Any, act: Any = None, next_obs: Any = None, done: Any = None) -> Tensor:
        """``(B,)`` the constant in torch's default dtype, for a batch of ``B`` observations ``(B, *obs_shape)``
        (on their device when a tensor); ``act``, ``next_obs`` and ``done`` are ignored."""
        shape = tuple(obs.shape) if isinstance(obs, Tensor) else np.shape(obs)
        if len(shape) == 0:
            raise ShapeError("obs", "is a scalar", "pass a batch of observations (B, *obs_shape)")
        device = obs.device if isinstance(obs, Tensor) else self.constant.device
        return torch.full((shape[0],), self.value, dtype=torch.get_default_dtype(), device=device)

    def save(self, directory: str | Path) -> Path:
        """Write ``reward.safetensors`` (the value) and ``reward.json`` into ``directory`` as one unit
        (:func:`rewardlab._io.save_tensors`)."""
        return save_tensors(directory, "reward", {"value": self.constant.reshape(1)}, {"format": _FORMAT, "version": _VERSION})

    @classmethod
    def load(cls, directory: str | Path, *, device: str = "cpu") -> ConstantReward:
        """Read what :meth:`save` wrote; a missing, corrupt or foreign file raises :class:`DataFileError`."""
        _, tensors = read_tensors(directory, "reward", _FORMAT, "ConstantReward", schema=_ConstantMeta, required=("value",))
        value = tensors["value"]
        if tuple(value.shape) != (1,) or not bool(torch.isfinite(value).all()):
            raise DataFileError(
                f"{directory}: the value is {value.tolist()}, not one finite number. Fix: re-save it with ConstantReward.save"
            )
        return cls(float(value[0])).to(device).eval()

    def describe(self) -> str:
        """One line for logs."""
        return f"constant reward {self.value:g}"
