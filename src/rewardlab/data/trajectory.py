"""Trajectories and datasets of them, independent of any RL framework.

A :class:`Trajectory` of ``T`` decisions holds ``T + 1`` observations (the last is where the final
action led), ``T`` actions, optionally ``T`` rewards, and whether it ended in a terminal state.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np

from rewardlab.errors import ShapeError, ValidationError

__all__ = ["Trajectory", "TrajectoryDataset", "empirical_visitation", "feature_counts", "start_distribution"]


@dataclass(frozen=True, eq=False)
class Trajectory:
    """One episode (or a piece of one).

    Args:
        obs: ``(T + 1, *obs_shape)`` observations; for tabular worlds, state indices ``(T + 1,)``.
        acts: ``(T, *act_shape)`` actions.
        rews: optional ``(T,)`` rewards (the environment's true reward, when known).
        terminal: True when the episode ended in a terminal state rather than being cut off.
        infos: optional free-form metadata (JSON-serialisable), e.g. the policy checkpoint.

    Examples:
        >>> tr = Trajectory(obs=np.array([0, 1, 2]), acts=np.array([1, 1]), rews=np.array([0.0, 1.0]))
        >>> len(tr), tr.ret
        (2, 1.0)
    """

    obs: np.ndarray
    acts: np.ndarray
    rews: np.ndarray | None = None
    terminal: bool = False
    infos: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        obs, acts = np.asarray(self.obs), np.asarray(self.acts)
        if obs.ndim == 0 or acts.ndim == 0:
            raise ShapeError("obs", "is a scalar", "pass arrays with a time axis")
        if len(obs) != len(acts) + 1:
            raise ShapeError("obs", f"has {len(obs)} entries for {len(acts)} actions", "pass T + 1 observations for T actions")
        object.__setattr__(self, "obs", obs)
        object.__setattr__(self, "acts", acts)
        if self.rews is not None:
            rews = np.asarray(self.rews, dtype=float)
            if rews.shape != (len(acts),):
                raise ShapeError("rews", f"has shape {rews.shape}", f"pass one reward per action: ({len(acts)},)")
            if not np.isfinite(rews).all():
                raise ValidationError("rews", "contain NaN or inf", "pass finite rewards")
            object.__setattr__(self, "rews", rews)

    def __len__(self) -> int:
        return len(self.acts)

    @property
    def ret(self) -> float:
        """Undiscounted return ``sum_t rews[t]`` (requires ``rews``)."""
        if self.rews is None:
            raise ValidationError("rews", "is None", "record rewards to compute a return")
        return float(self.rews.sum())


class TrajectoryDataset(Sequence[Trajectory]):
    """An immutable sequence of trajectories.

    Examples:
        >>> ds = TrajectoryDataset([Trajectory(np.array([0, 1]), np.array([1]))])
        >>> len(ds), ds.n_decisions
        (1, 1)
    """

    def __init__(self, trajectories: Iterable[Trajectory]) -> None:
        self._items = tuple(trajectories)
        for i, tr in enumerate(self._items):
            if not isinstance(tr, Trajectory):
                raise ValidationError(f"trajectories[{i}]", f"is a {type(tr).__name__}", "pass Trajectory objects")

    @overload
    def __getitem__(self, index: int) -> Trajectory: ...
    @overload
    def __getitem__(self, index: slice) -> TrajectoryDataset: ...
    def __getitem__(self, index: int | slice) -> Trajectory | TrajectoryDataset:
        if isinstance(index, slice):
            return TrajectoryDataset(self._items[index])
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Trajectory]:
        return iter(self._items)

    def __repr__(self) -> str:
        return f"TrajectoryDataset({len(self)} trajectories, {self.n_decisions} decisions)"

    @property
    def n_decisions(self) -> int:
        """Total number of actions over all trajectories."""
        return sum(len(tr) for tr in self._items)

    def returns(self) -> np.ndarray:
        """``(N,)`` undiscounted returns."""
        return np.array([tr.ret for tr in self._items])

    def decisions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Concatenated ``(states, actions, times)`` of every decision, for tabular log-likelihoods."""
        if not self._items:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
        states = np.concatenate([tr.obs[:-1] for tr in self._items]).astype(np.int64)
        actions = np.concatenate([tr.acts for tr in self._items]).astype(np.int64)
        times = np.concatenate([np.arange(len(tr)) for tr in self._items])
        return states, actions, times


def _tabular(dataset: Iterable[Trajectory], n_states: int) -> list[Trajectory]:
    """The trajectories as a list, each ``obs`` checked to be state indices in ``[0, n_states)``."""
    from rewardlab.data.validate import check_indices  # validate imports this module

    items = list(dataset)
    if not items:
        raise ValidationError("trajectories", "is empty", "pass at least one trajectory")
    for i, tr in enumerate(items):
        check_indices(tr.obs, f"trajectories[{i}].obs", n_states, kind="state indices", position="step")
    return items


def empirical_visitation(
    dataset: Iterable[Trajectory], n_states: int, *, n_actions: int | None = None, discount: float = 1.0
) -> np.ndarray:
    """Average (discounted) visitation of tabular trajectories: ``(1/N) sum_n sum_t gamma^t [s_t = s]``.

    Counts the states where decisions were taken (``obs[:-1]``), matching
    :func:`rewardlab.mdp.occupancy`. With ``n_actions`` it returns state-action counts ``(S, A)``.

    Examples:
        >>> tr = Trajectory(np.array([0, 1, 1]), np.array([1, 0]))
        >>> empirical_visitation([tr], 2).tolist()
        [1.0, 1.0]
        >>> empirical_visitation([tr], 2, n_actions=2, discount=0.5).tolist()
        [[0.0, 1.0], [0.5, 0.0]]
    """
    items = _tabular(dataset, n_states)
    shape = (n_states,) if n_actions is None else (n_states, n_actions)
    total = np.zeros(shape)
    for tr in items:
        w = discount ** np.arange(len(tr))
        if n_actions is None:
            np.add.at(total, tr.obs[:-1], w)
        else:
            np.add.at(total, (tr.obs[:-1], tr.acts.astype(np.int64)), w)
    return total / len(items)


def start_distribution(dataset: Iterable[Trajectory], n_states: int) -> np.ndarray:
    """Empirical distribution of the first state ``(S,)``.

    Examples:
        >>> start_distribution([Trajectory(np.array([1, 0]), np.array([0]))], 2).tolist()
        [0.0, 1.0]
    """
    items = _tabular(dataset, n_states)
    return np.bincount([int(tr.obs[0]) for tr in items], minlength=n_states) / len(items)


def feature_counts(dataset: Iterable[Trajectory], features: Any, *, discount: float = 1.0) -> np.ndarray:
    """Average (discounted) feature counts ``(1/N) sum_n sum_t gamma^t phi(s_t)`` of tabular trajectories, ``(F,)``.

    Args:
        dataset: trajectories of state indices.
        features: ``(S, F)`` state features (a tensor or array, e.g. ``mdp.features``).
        discount: ``gamma``.

    Examples:
        >>> tr = Trajectory(np.array([0, 1, 1]), np.array([1, 0]))
        >>> feature_counts([tr], np.array([[1.0, 0.0], [0.0, 2.0]])).tolist()
        [1.0, 2.0]
    """
    phi = np.asarray(features.detach().cpu() if hasattr(features, "detach") else features, dtype=float)
    if phi.ndim != 2:
        raise ShapeError("features", f"has shape {phi.shape}", "pass (S, F) state features")
    return np.asarray(empirical_visitation(dataset, phi.shape[0], discount=discount) @ phi)
