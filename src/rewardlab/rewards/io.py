"""Loading any saved reward model from its directory.

Every reward model saves as ``reward.safetensors`` + ``reward.json`` whose ``format`` names the class
(:class:`~rewardlab.rewards.nets.NeuralReward`, :class:`~rewardlab.rewards.nets.SoftplusReward`,
:class:`~rewardlab.rewards.constant.ConstantReward`,
:class:`~rewardlab.rewards.tabular.TabularReward`); :func:`load_reward` reads that name and hands the
directory to the class's own ``load``, which checks everything else.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rewardlab.errors import DataFileError
from rewardlab.rewards.constant import ConstantReward
from rewardlab.rewards.nets import NeuralReward, SoftplusReward
from rewardlab.rewards.tabular import TabularReward

__all__ = ["REWARD_FORMATS", "load_reward"]


def _tabular(directory: str | Path, device: str) -> TabularReward:
    reward = TabularReward.load(directory)
    if device == "cpu":
        return reward
    weights = None if reward.weights is None else reward.weights.to(device)
    return dataclasses.replace(reward, values=reward.values.to(device), weights=weights)


#: ``reward.json`` format -> the loader ``(directory, device) -> model``.
REWARD_FORMATS: dict[str, Callable[[str | Path, str], Any]] = {
    "rewardlab.NeuralReward": lambda d, device: NeuralReward.load(d, device=device),
    "rewardlab.SoftplusReward": lambda d, device: SoftplusReward.load(d, device=device),
    "rewardlab.ConstantReward": lambda d, device: ConstantReward.load(d, device=device),
    "rewardlab.TabularReward": _tabular,
}


def load_reward(directory: str | Path, *, device: str = "cpu") -> Any:
    """The reward model saved in ``directory`` by any reward's ``save``, whatever its class.

    Raises:
        DataFileError: the directory holds no reward (the message names what wrote the learned ones),
            a reward of a format this version does not know, or a corrupt one.

    Examples:
        >>> import tempfile
        >>> from rewardlab.rewards.nets import RewardNetSpec
        >>> folder = tempfile.mkdtemp()
        >>> type(load_reward(ConstantReward(0.0).save(folder + "/c"))).__name__
        'ConstantReward'
        >>> type(load_reward(NeuralReward(RewardNetSpec((2,), hidden=(4,))).save(folder + "/n"))).__name__
        'NeuralReward'
    """
    meta = Path(directory) / "reward.json"
    try:
        fmt = json.loads(meta.read_bytes().decode("utf-8")).get("format")
    except (OSError, ValueError, AttributeError, RecursionError):
        fmt = None  # missing or unreadable: NeuralReward.load says exactly what is wrong
    if fmt is None:
        return NeuralReward.load(directory, device=device)
    if fmt not in REWARD_FORMATS:
        known = ", ".join(sorted(REWARD_FORMATS))
        raise DataFileError(f"{meta}: format is {fmt!r}, not a reward model this version reads ({known}). Fix: point at a saved reward")
    return REWARD_FORMATS[fmt](directory, device)
