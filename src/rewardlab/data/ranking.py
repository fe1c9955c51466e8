"""Rankings of trajectories and the training pairs drawn from them.

A ranking is one score per trajectory (higher is better, equal scores are ties): a checkpoint index,
a noise level's rank, or a person's order. Nothing here looks at true rewards.

* :func:`ranked_pairs` — every ordered pair ``(i, j)`` with its label ``P(i ≻ j)`` in {0, 0.5, 1}.
* :func:`snippet_pairs` — T-REX's training pairs (Brown et al. 2019, section 5): two trajectories of
  different rank, one random length, and start times such that the **better trajectory's snippet starts
  no earlier than the worse one's** (so a learner cannot win by rewarding "later in the episode").
* :func:`with_mirror_images` — a ranked dataset plus each trajectory's image under a symmetry of the
  task (same rank), so that a learned reward cannot prefer one side of a symmetric task.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rewardlab._memory import check_memory
from rewardlab.data.trajectory import Trajectory, TrajectoryDataset
from rewardlab.errors import ShapeError, ValidationError

__all__ = ["PAIR_NBYTES", "SnippetPairs", "ranked_pairs", "ranking_scores", "sign_flip", "snippet_pairs", "with_mirror_images"]

#: Bytes a drawn pair takes at the peak of :func:`snippet_pairs` (138 measured with tracemalloc for 2
#: million pairs) plus T-REX's shuffle and label tensor: the memory estimate of a number of pairs.
PAIR_NBYTES = 160


def ranking_scores(dataset: Sequence[Trajectory], scores: Any = None, *, key: str = "rank") -> np.ndarray:
    """The ``(N,)`` scores of a ranked dataset: ``scores`` if given, else each trajectory's ``infos[key]``.

    Examples:
        >>> ds = [Trajectory(np.zeros(3), np.zeros(2), infos={"rank": r}) for r in (0, 2)]
        >>> ranking_scores(ds).tolist()
        [0.0, 2.0]
    """
    if scores is None:
        missing = [i for i, tr in enumerate(dataset) if key not in tr.infos]
        if missing:
            raise ValidationError(
                f"trajectories[{missing[0]}].infos", f"has no {key!r}", f"pass scores=, or record infos[{key!r}] (higher = better)"
            )
        scores = [tr.infos[key] for tr in dataset]
    out = np.asarray(scores, dtype=float)
    if out.shape != (len(dataset),):
        raise ShapeError("scores", f"has shape {out.shape}", f"pass one score per trajectory: ({len(dataset)},)")
    if not np.isfinite(out).all():
        raise ValidationError("scores", "contain NaN or inf", "pass finite scores (higher = better)")
    return out


def ranked_pairs(scores: Any, *, ties: bool = False, min_gap: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs ``i < j`` with their labels ``P(i ≻ j)``: 1 if ``i`` scores higher, 0 if lower, 0.5 if equal.

    Args:
        scores: ``(N,)`` scores, higher is better.
        ties: keep equal-score pairs (label 0.5); otherwise they are dropped.
        min_gap: drop strict pairs whose scores differ by less than this (D-REX: noise levels at
            least 0.3 apart).

    Returns:
        ``(first, second, label)``, each ``(P,)``.

    Examples:
        >>> i, j, y = ranked_pairs([0.0, 2.0, 1.0])
        >>> list(zip(i.tolist(), j.tolist(), y.tolist()))
        [(0, 1, 0.0), (0, 2, 0.0), (1, 2, 1.0)]
    """
    s = np.asarray(scores, dtype=float)
    i, j = np.triu_indices(len(s), k=1)
    label = np.where(s[i] > s[j], 1.0, np.where(s[i] < s[j], 0.0, 0.5))
    keep = np.ones(len(i), bool) if ties else label != 0.5
    keep &= (label == 0.5) | (np.abs(s[i] - s[j]) >= min_gap)
    return i[keep], j[keep], label[keep]


@dataclass(frozen=True)
class SnippetPairs:
    """``P`` training pairs: snippet ``k`` of trajectory ``first[k]`` covers decisions
    ``first_start[k] : first_start[k] + first_length[k]``, likewise ``second``; ``label[k] = P(first ≻ second)``."""

    first: np.ndarray
    second: np.ndarray
    first_start: np.ndarray
    second_start: np.ndarray
    first_length: np.ndarray
    second_length: np.ndarray
    label: np.ndarray

    def __len__(self) -> int:
        return len(self.label)


def snippet_pairs(
    dataset: Sequence[Trajectory],
    scores: Any,
    n: int,
    *,
    length: tuple[int, int] | None,
    rng: np.random.Generator,
    ties: bool = False,
    min_gap: float = 0.0,
) -> SnippetPairs:
    """Draw ``n`` T-REX training pairs.

    Each pair picks two trajectories of different score (or equal, with ``ties``), a snippet length
    ``L ~ U{lo, hi}`` (cut to the shorter trajectory), a start ``t_w ~ U{0, min_len - L}`` for the
    worse trajectory and ``t_b ~ U{t_w, len_b - L}`` for the better one, so ``t_b >= t_w``. The
    order within a pair is random, and the label says which is better. ``length=None`` uses whole
    trajectories (start 0, each its own length).

    Args:
        dataset: ``N`` trajectories (lengths count decisions).
        scores: ``(N,)`` ranking scores, higher is better.
        n: number of pairs.
        length: ``(lo, hi)`` snippet lengths in decisions, or None for whole trajectories.
        rng: numpy generator.
        ties: allow pairs of equal score (label 0.5).
        min_gap: only pair trajectories whose scores differ by at least this.

    Examples:
        >>> ds = [Trajectory(np.zeros(11), np.zeros(10)) for _ in range(3)]
        >>> p = snippet_pairs(ds, [0, 1, 2], 100, length=(3, 5), rng=np.random.default_rng(0))
        >>> better_start = np.where(p.label == 1, p.first_start, p.second_start)
        >>> worse_start = np.where(p.label == 1, p.second_start, p.first_start)
        >>> bool((better_start >= worse_start).all()), int(p.first_length.min()), int(p.first_length.max())
        (True, 3, 5)
    """
    s = ranking_scores(dataset, scores)
    if n < 1:
        raise ValidationError("n", f"is {n}", "ask for at least one pair")
    check_memory("n", n * PAIR_NBYTES, f"{n} pairs", "draw fewer pairs")
    i_all, j_all, y_all = ranked_pairs(s, ties=ties, min_gap=min_gap)
    if len(i_all) == 0:
        raise ValidationError("scores", "rank every trajectory equally", "pass at least two trajectories of different rank")
    lens = np.array([len(tr) for tr in dataset])
    if (lens < 1).any():
        raise ValidationError("trajectories", "include an empty trajectory", "drop trajectories without decisions")
    if length is not None:
        lo, hi = length
        if not 1 <= lo <= hi:
            raise ValidationError("length", f"is {length}", "pass (lo, hi) with 1 <= lo <= hi")
    pick = rng.integers(len(i_all), size=n)
    a, b, y = i_all[pick], j_all[pick], y_all[pick]
    # worse / better (for a tie the order is arbitrary)
    worse = np.where(y == 1.0, b, a)
    better = np.where(y == 1.0, a, b)
    if length is None:  # whole trajectories: lengths may differ
        start_w = start_b = np.zeros(n, np.int64)
        size_w, size_b = lens[worse], lens[better]
    else:
        shortest = np.minimum(lens[worse], lens[better])
        size_w = size_b = np.minimum(rng.integers(lo, hi + 1, size=n), shortest)
        start_w = (rng.random(n) * (shortest - size_w + 1)).astype(np.int64)
        start_b = start_w + (rng.random(n) * (lens[better] - size_w - start_w + 1)).astype(np.int64)
    flip = rng.random(n) < 0.5  # random order within a pair: (first, second) = (better, worse) or (worse, better)
    label = np.where(y == 0.5, 0.5, np.where(flip, 1.0, 0.0))
    return SnippetPairs(
        first=np.where(flip, better, worse),
        second=np.where(flip, worse, better),
        first_start=np.where(flip, start_b, start_w),
        second_start=np.where(flip, start_w, start_b),
        first_length=np.where(flip, size_b, size_w),
        second_length=np.where(flip, size_w, size_b),
        label=label,
    )


def as_dataset(data: Any) -> TrajectoryDataset:
    """A :class:`TrajectoryDataset` from a dataset or any iterable of trajectories."""
    return data if isinstance(data, TrajectoryDataset) else TrajectoryDataset(list(data))


def sign_flip(signs: Sequence[float]) -> Callable[[np.ndarray], np.ndarray]:
    """The map ``x -> x * signs`` over the last axis: a reflection that flips some coordinates' signs.

    Examples:
        >>> sign_flip([1, -1, -1])(np.array([[0.5, 0.2, 3.0]]))  # Pendulum: (cos, sin, velocity)
        array([[ 0.5, -0.2, -3. ]])
    """
    sign = np.asarray(signs)

    def flip(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        out: np.ndarray = (x * sign).astype(x.dtype, copy=False)  # float32 observations stay float32
        return out

    return flip


def with_mirror_images(
    dataset: Sequence[Trajectory],
    obs_map: Callable[[np.ndarray], np.ndarray],
    act_map: Callable[[np.ndarray], np.ndarray] | None = None,
) -> TrajectoryDataset:
    """``dataset`` followed by each trajectory's image under a symmetry of the task: observations
    ``obs_map(obs)`` ``(T + 1, *obs_shape)``, actions ``act_map(acts)`` (unchanged if None), the same true
    rewards, rank and other ``infos``, plus ``infos["mirror"] = True``.

    A symmetry maps every trajectory of the task to another one with the same return (Pendulum: the
    reflection ``theta -> -theta``, ``obs * (1, -1, -1)``, ``act * -1``). Ranking both copies alike tells
    a reward learner that the two sides are equally good, which it cannot infer from a few demonstrations:
    a T-REX reward that is linear in Pendulum's observation otherwise tends to pick up a weight on the
    angular velocity, which PPO collects by spinning in one direction.

    Raises:
        ShapeError: a map changed the shape of what it was given.
    """
    images = []
    for tr in dataset:
        obs = np.asarray(obs_map(tr.obs))
        acts = tr.acts if act_map is None else np.asarray(act_map(tr.acts))
        if obs.shape != tr.obs.shape:
            raise ShapeError("obs_map", f"turned observations {tr.obs.shape} into {obs.shape}", "return an array of the same shape")
        if acts.shape != tr.acts.shape:
            raise ShapeError("act_map", f"turned actions {tr.acts.shape} into {acts.shape}", "return an array of the same shape")
        images.append(Trajectory(obs, acts, tr.rews, tr.terminal, {**tr.infos, "mirror": True}))
    return TrajectoryDataset([*dataset, *images])
