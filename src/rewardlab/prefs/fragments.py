"""Fragmenters: candidate pairs of fixed-length segments cut from rollouts, and labelled pairs as data.

The first stage of the preference pipeline (Christiano et al. 2017; imitation's ``Fragmenter``; B-Pref's
``get_queries``): cut segments of ``T`` steps from the policy's rollouts and pair them up, giving the
query strategy (:mod:`rewardlab.prefs.queries`) a large batch of candidates to choose from and the
teacher (:mod:`rewardlab.prefs.teachers`) their true rewards to judge.

A :class:`Fragmenter` is anything with ``fragment(trajectories, n_pairs, *, rng) -> FragmentPairs``;
:class:`RandomFragmenter` is the default. Its rule, for segment length ``T`` and trajectories of
``L_i`` actions:

* a trajectory shorter than ``T`` (``L_i < T``) is **skipped** (its indices are in
  :attr:`FragmentPairs.skipped`); if every trajectory is shorter, :class:`ValidationError` names
  ``length``;
* trajectory ``i`` has ``w_i = L_i - T + 1`` windows (start offsets ``0 .. L_i - T``). Segment ``a`` is a
  window drawn uniformly from all ``W = sum_i w_i`` windows, so its trajectory is drawn with probability
  ``w_i / W`` and its offset uniformly within that trajectory;
* segment ``b`` is a window drawn uniformly from the windows of the *other* trajectories (probability
  ``w_j / (W - w_i)`` for trajectory ``j != i``, offset uniform), so a pair never compares a trajectory
  with itself when two trajectories are long enough; with a single long-enough trajectory both come
  from it.

Windows are drawn with replacement, as imitation's ``RandomFragmenter`` samples fragments ("uniformly at
random with replacement"): one window can appear in several candidate pairs.

A segment holds the observations the actions were taken in (``obs[o : o + T]``, no final observation),
the actions ``acts[o : o + T]`` and, when the trajectory recorded them, the true rewards
``rews[o : o + T]``. The same ``rng`` state gives the same pairs.

:func:`labelled_preferences` turns candidates and the teacher's answers into a
:class:`~rewardlab.data.PreferenceDataset`.

References:
    Paul Christiano, Jan Leike, Tom B. Brown, Miljan Martic, Shane Legg, Dario Amodei, "Deep
    Reinforcement Learning from Human Preferences", NeurIPS 2017.
    Kimin Lee, Laura Smith, Pieter Abbeel, "B-Pref: Benchmarking Preference-Based Reinforcement
    Learning", NeurIPS Datasets and Benchmarks 2021.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from rewardlab.data.preferences import SKIPPED, Label, Preference, PreferenceDataset, Segment, check_label
from rewardlab.data.ranking import as_dataset
from rewardlab.data.trajectory import Trajectory
from rewardlab.errors import ShapeError, ValidationError
from rewardlab.prefs.teachers import TeacherLabels

__all__ = ["FragmentPairs", "Fragmenter", "RandomFragmenter", "labelled_preferences"]


def _readonly(x: np.ndarray) -> np.ndarray:
    x = np.array(x, dtype=np.int64)
    x.setflags(write=False)
    return x


@dataclass(frozen=True, eq=False)
class FragmentPairs:
    """``N`` candidate pairs of segments of one length ``T``, with where each was cut.

    Attributes:
        segments_a, segments_b: the ``N`` first and second segments.
        traj_a, traj_b: ``(N,)`` int64 index of the trajectory each segment was cut from.
        start_a, start_b: ``(N,)`` int64 start offset of each segment in its trajectory.
        skipped: indices of the trajectories too short to cut a segment from.
    """

    segments_a: tuple[Segment, ...]
    segments_b: tuple[Segment, ...]
    traj_a: np.ndarray
    start_a: np.ndarray
    traj_b: np.ndarray
    start_b: np.ndarray
    skipped: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.segments_a)
        if len(self.segments_b) != n:
            raise ShapeError("segments_b", f"has {len(self.segments_b)} segments, segments_a {n}", "pass one b per a")
        for name in ("traj_a", "start_a", "traj_b", "start_b"):
            value = _readonly(getattr(self, name))
            if value.shape != (n,):
                raise ShapeError(name, f"has shape {value.shape}", f"pass one index per pair: ({n},)")
            object.__setattr__(self, name, value)
        object.__setattr__(self, "segments_a", tuple(self.segments_a))
        object.__setattr__(self, "segments_b", tuple(self.segments_b))
        object.__setattr__(self, "skipped", tuple(int(i) for i in self.skipped))

    def __len__(self) -> int:
        return len(self.segments_a)

    @property
    def length(self) -> int:
        """``T``, the steps of every segment."""
        if not self.segments_a:
            raise ValidationError("segments_a", "is empty", "fragment at least one pair")
        return len(self.segments_a[0])

    def take(self, indices: Any) -> FragmentPairs:
        """The pairs at ``indices`` (e.g. those a query strategy selected), in that order."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if len(idx) and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise ValidationError(
                "indices", f"reach {int(idx.max()) if idx.max() >= len(self) else int(idx.min())}", f"pass indices in [0, {len(self)})"
            )
        return FragmentPairs(
            tuple(self.segments_a[i] for i in idx),
            tuple(self.segments_b[i] for i in idx),
            self.traj_a[idx],
            self.start_a[idx],
            self.traj_b[idx],
            self.start_b[idx],
            self.skipped,
        )

    def observations(self) -> tuple[np.ndarray, np.ndarray]:
        """``(obs_a, obs_b)``, each ``(N, T, *obs_shape)`` (the input of
        :func:`~rewardlab.prefs.queries.pair_features`)."""
        return np.stack([s.obs for s in self.segments_a]), np.stack([s.obs for s in self.segments_b])

    def rewards(self) -> tuple[np.ndarray, np.ndarray]:
        """``(rews_a, rews_b)``, each ``(N, T)`` true rewards (the input of a simulated teacher's ``label``)."""
        for side, segs in (("a", self.segments_a), ("b", self.segments_b)):
            for k, s in enumerate(segs):
                if s.rews is None:
                    raise ValidationError(
                        f"segments_{side}[{k}].rews", "is None", "record the true rewards in the rollouts for a simulated teacher"
                    )
        return np.stack([s.rews for s in self.segments_a]), np.stack([s.rews for s in self.segments_b])  # type: ignore[misc]


@runtime_checkable
class Fragmenter(Protocol):
    """Cuts ``n_pairs`` candidate pairs of equal-length segments from trajectories."""

    def fragment(self, trajectories: Sequence[Trajectory], n_pairs: int, *, rng: np.random.Generator) -> FragmentPairs:
        """``n_pairs`` pairs of segments from ``trajectories``, drawn with ``rng``."""
        ...


def _positive_int(value: Any, field: str, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValidationError(field, f"is {value!r}", fix)
    return int(value)


def _window(x: np.ndarray, cum: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Window numbers ``x`` in ``[0, W)`` as (position among the eligible trajectories, start offset)."""
    j = np.searchsorted(cum, x, side="right")
    return j, x - (cum[j] - w[j])


@dataclass(frozen=True)
class RandomFragmenter:
    """Segments of ``length`` steps at uniformly random offsets, paired across trajectories (module docstring).

    Args:
        length: ``T``, the steps of every segment (B-Pref uses 50; Christiano et al. 1-2 seconds of play).

    Examples:
        >>> trs = [Trajectory(np.arange(11.0)[:, None], np.zeros(10), rews=np.ones(10)) for _ in range(3)]
        >>> pairs = RandomFragmenter(4).fragment(trs, 5, rng=np.random.default_rng(0))
        >>> len(pairs), pairs.length, bool((pairs.traj_a != pairs.traj_b).all())
        (5, 4, True)
        >>> pairs.rewards()[0].shape
        (5, 4)
    """

    length: int

    def __post_init__(self) -> None:
        _positive_int(self.length, "length", "pass the segment length T as a positive int (B-Pref uses 50)")

    def fragment(self, trajectories: Sequence[Trajectory], n_pairs: int, *, rng: np.random.Generator) -> FragmentPairs:
        """``n_pairs`` candidate pairs; shapes and the skipping rule as in the module docstring."""
        n = _positive_int(n_pairs, "n_pairs", "pass how many candidate pairs to cut, a positive int")
        if not isinstance(rng, np.random.Generator):
            raise ValidationError("rng", f"is a {type(rng).__name__}", "pass np.random.default_rng(seed)")
        trs = as_dataset(trajectories)
        if not len(trs):
            raise ValidationError("trajectories", "is empty", "pass rollouts to cut segments from")
        T = self.length
        lengths = np.array([len(tr) for tr in trs], dtype=np.int64)
        eligible = np.flatnonzero(lengths >= T)
        if not len(eligible):
            raise ValidationError(
                "length", f"is {T} but the longest trajectory has {int(lengths.max())} steps", "pass a shorter length or longer rollouts"
            )
        first = trs[int(eligible[0])]
        obs_shape, act_shape = first.obs.shape[1:], first.acts.shape[1:]
        for i in eligible:
            tr = trs[int(i)]
            if tr.obs.shape[1:] != obs_shape:
                raise ShapeError(
                    f"trajectories[{i}].obs",
                    f"has per-step shape {tr.obs.shape[1:]}, trajectories[{eligible[0]}] {obs_shape}",
                    "fragment rollouts of one env",
                )
            if tr.acts.shape[1:] != act_shape:
                raise ShapeError(
                    f"trajectories[{i}].acts",
                    f"has per-step shape {tr.acts.shape[1:]}, trajectories[{eligible[0]}] {act_shape}",
                    "fragment rollouts of one env",
                )
        w = lengths[eligible] - T + 1  # windows per eligible trajectory
        cum = np.cumsum(w)
        total = int(cum[-1])
        ja, start_a = _window(rng.integers(0, total, size=n), cum, w)
        if len(eligible) > 1:
            # a window of the other trajectories: skip over trajectory ja's block of windows
            x = rng.integers(0, total - w[ja])
            x = np.where(x >= cum[ja] - w[ja], x + w[ja], x)
        else:
            x = rng.integers(0, total, size=n)
        jb, start_b = _window(x, cum, w)
        traj_a, traj_b = eligible[ja], eligible[jb]

        def cut(i: int, o: int) -> Segment:
            tr = trs[i]
            return Segment(tr.obs[o : o + T], tr.acts[o : o + T], None if tr.rews is None else tr.rews[o : o + T])

        return FragmentPairs(
            tuple(cut(int(i), int(o)) for i, o in zip(traj_a, start_a, strict=True)),
            tuple(cut(int(i), int(o)) for i, o in zip(traj_b, start_b, strict=True)),
            traj_a,
            start_a,
            traj_b,
            start_b,
            tuple(int(i) for i in np.flatnonzero(lengths < T)),
        )


def labelled_preferences(
    pairs: FragmentPairs,
    labels: TeacherLabels | Sequence[Label] | np.ndarray,
    *,
    env_id: str | None = None,
    annotator: str | None = None,
) -> PreferenceDataset:
    """The labelled candidates as a :class:`~rewardlab.data.PreferenceDataset`.

    Args:
        pairs: ``N`` candidate pairs (e.g. ``candidates.take(selected)``).
        labels: the teacher's :class:`~rewardlab.prefs.teachers.TeacherLabels`, or ``N`` labels
            ``P(a ≻ b)`` in {0, 0.5, 1}, ``"skipped"`` (NaN is read as skipped).
        env_id: the env's Gymnasium id, recorded on the dataset.
        annotator: who answered, recorded on every preference.

    Examples:
        >>> trs = [Trajectory(np.arange(6.0)[:, None], np.zeros(5), rews=np.full(5, r)) for r in (0.0, 1.0)]
        >>> pairs = RandomFragmenter(2).fragment(trs, 2, rng=np.random.default_rng(0))
        >>> ds = labelled_preferences(pairs, [1.0, "skipped"], env_id="Toy-v0")
        >>> len(ds), ds.n_skipped, ds.length
        (2, 1, 2)
    """
    if isinstance(labels, TeacherLabels):
        values: list[Any] = [SKIPPED if s else float(v) for v, s in zip(labels.labels, labels.skipped, strict=True)]
    elif isinstance(labels, str):
        raise ValidationError("labels", f"is the string {labels!r}", f"pass one label per pair ({len(pairs)})")
    else:
        if np.ndim(labels) != 1:
            raise ShapeError("labels", f"has shape {np.shape(labels)}", f"pass one label per pair: ({len(pairs)},)")
        values = [SKIPPED if isinstance(v, float | np.floating) and np.isnan(v) else v for v in labels]
    if len(values) != len(pairs):
        raise ShapeError("labels", f"has {len(values)} labels for {len(pairs)} pairs", "pass one label per pair")
    checked = [check_label(v, f"labels[{k}]") for k, v in enumerate(values)]
    return PreferenceDataset(
        (Preference(a, b, lab, annotator=annotator) for a, b, lab in zip(pairs.segments_a, pairs.segments_b, checked, strict=True)),
        env_id=env_id,
    )
