"""Tabular rewards: a table ``(S,)`` / ``(S, A)``, optionally linear in state features.

``TabularReward`` follows the reward-model protocol ``r(obs, act, next_obs, done) -> (B,)`` with
integer state observations, and saves as safetensors + JSON (never pickle).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import torch
from torch import Tensor

from rewardlab._io import read_tensors, save_tensors
from rewardlab.errors import DataFileError, ShapeError, ValidationError

__all__ = ["TabularReward"]

_FORMAT = "rewardlab.TabularReward"


class _TabularMeta(TypedDict):
    """The schema of a :class:`TabularReward`'s ``reward.json``."""

    format: str
    version: int
    shape: list[int]
    linear: bool


_VERSION = 1


@dataclass(frozen=True, eq=False)
class TabularReward:
    """A reward per state ``(S,)`` or per state-action ``(S, A)``.

    Args:
        values: the table.
        weights: ``(F,)`` when ``values = features @ weights`` (a linear reward), else None.

    Examples:
        >>> r = TabularReward(torch.tensor([0.0, 1.0, 2.0]))
        >>> r(torch.tensor([2, 0]))
        tensor([2., 0.])
        >>> r.per_state_action(2).shape
        torch.Size([3, 2])
    """

    values: Tensor
    weights: Tensor | None = None

    def __post_init__(self) -> None:
        v = torch.as_tensor(self.values)
        if v.ndim not in (1, 2):
            raise ShapeError("values", f"has shape {tuple(v.shape)}", "pass (S,) or (S, A)")
        if not bool(torch.isfinite(v).all()):
            raise ValidationError("values", "contain NaN or inf", "pass a finite reward")
        object.__setattr__(self, "values", v.detach())
        if self.weights is not None:
            object.__setattr__(self, "weights", torch.as_tensor(self.weights).detach())

    @classmethod
    def linear(cls, features: Tensor, weights: Tensor) -> TabularReward:
        """``r = features @ weights`` for features ``(S, F)`` and weights ``(F,)``."""
        w = torch.as_tensor(weights, dtype=features.dtype, device=features.device)
        return cls(features @ w, w)

    @property
    def n_states(self) -> int:
        return int(self.values.shape[0])

    @property
    def state_only(self) -> bool:
        """True for a per-state reward."""
        return self.values.ndim == 1

    def per_state_action(self, n_actions: int) -> Tensor:
        """The reward as ``(S, A)``."""
        return self.values[:, None].expand(-1, n_actions) if self.state_only else self.values

    def __call__(self, obs: Any, act: Any = None, next_obs: Any = None, done: Any = None) -> Tensor:
        """``r(s, a)`` for integer states ``obs`` ``(B,)`` (and actions ``act`` for a state-action table)."""
        s = torch.as_tensor(obs, device=self.values.device).long()
        if self.state_only:
            return self.values[s]
        if act is None:
            raise ValidationError("act", "is None for a state-action reward", "pass the actions")
        return self.values[s, torch.as_tensor(act, device=self.values.device).long()]

    def save(self, directory: str | Path) -> Path:
        """Write ``reward.safetensors`` and ``reward.json`` into ``directory`` as one unit
        (:func:`rewardlab._io.save_tensors`); NaN or infinite weights raise :class:`ValidationError`."""
        tensors = {"values": self.values}
        if self.weights is not None:
            tensors["weights"] = self.weights
        meta = {"format": _FORMAT, "version": _VERSION, "shape": list(self.values.shape), "linear": self.weights is not None}
        return save_tensors(directory, "reward", tensors, meta)

    @classmethod
    def load(cls, directory: str | Path) -> TabularReward:
        """Read what :meth:`save` wrote; a missing, corrupt or foreign file raises :class:`DataFileError`."""
        meta, tensors = read_tensors(directory, "reward", _FORMAT, "TabularReward", schema=_TabularMeta, required=("values",))
        if list(tensors["values"].shape) != meta["shape"]:
            raise DataFileError(
                f"{directory}: values have shape {list(tensors['values'].shape)}, the JSON says {meta['shape']}. Fix: re-save the reward"
            )
        try:
            return cls(tensors["values"], tensors.get("weights"))
        except ValidationError as exc:
            raise DataFileError(f"{directory}: {exc} Fix: re-save the reward") from exc
