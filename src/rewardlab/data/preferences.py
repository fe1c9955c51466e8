"""Preference labels and rankings as typed data, and their files.

**The label convention.** A :class:`Preference` compares segment ``a`` with segment ``b``; its
``label`` is ``P(a ≻ b)``: ``1.0`` = ``a`` (the first segment) preferred, ``0.0`` = ``b`` preferred,
``0.5`` = a tie (equally good), or the string ``"skipped"`` when the annotator gave no answer. This is
the ``target`` of :func:`rewardlab.prefs.losses.bradley_terry_log_likelihood` with ``logit = R_a - R_b``.
The label is about ``a`` and ``b`` whatever the screen showed: ``left_first`` only records whether ``a``
was displayed on the left (``True``) or on the right, so that side bias can be studied.

A segment holds ``T`` steps: observations ``(T, *obs_shape)`` (the state each action was taken in, no
final observation, unlike a :class:`~rewardlab.data.Trajectory`), actions ``(T, *act_shape)`` and
optionally the true rewards ``(T,)``. Every segment of a :class:`PreferenceDataset` has the same ``T``
and shapes, so that :meth:`PreferenceDataset.segments` can stack them.

A :class:`Ranking` is trajectories ordered **worst first, best last** (ascending, as rank numbers are:
higher = better), with optional scores (equal scores = ties).

Files (:func:`save_preferences` / :func:`load_preferences`), in one directory, written as one unit:

* ``preferences.npz`` — the segments, stacked: ``obs`` ``(S, T, *obs_shape)``, ``acts``
  ``(S, T, *act_shape)``, and ``rews`` ``(S, T)`` when every segment has rewards (never pickled);
* ``preferences.jsonl`` (default) or ``preferences.parquet`` (``format="parquet"``, needs pyarrow) — the
  table, one row per preference: ``a``, ``b`` (segment indices into the ``.npz``), ``label`` (0, 0.5,
  1, or null when ``skipped``), ``skipped``, ``annotator``, ``shown_at``, ``answered_at``, ``left_first``;
* ``preferences.json`` — format, version, env id, shapes, counts and which table is there.

:func:`import_pairs` reads a plain table of segment indices and labels (CSV or JSONL, columns ``a``,
``b``, ``label``) against an ``.npz`` of stacked segments in the same layout, and :func:`to_trl` exports
the TRL preference layout (``chosen`` / ``rejected`` plus a ``tie`` column).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict, overload

import numpy as np

from rewardlab._io import atomic_write, json_text, npz_bytes, read_meta, write_files
from rewardlab.data.ranking import ranked_pairs, ranking_scores
from rewardlab.data.trajectory import Trajectory, TrajectoryDataset
from rewardlab.data.validate import LABELS, check_indices
from rewardlab.errors import ConfigError, DataFileError, ShapeError, ValidationError

__all__ = [
    "SKIPPED",
    "Label",
    "Preference",
    "PreferenceDataset",
    "Ranking",
    "Segment",
    "SegmentBatch",
    "check_label",
    "import_pairs",
    "load_preferences",
    "save_preferences",
    "to_trl",
]

#: The label of a query the annotator did not answer.
SKIPPED: Literal["skipped"] = "skipped"
#: A preference label: ``P(a ≻ b)`` in {0.0, 0.5, 1.0}, or :data:`SKIPPED`.
Label = float | Literal["skipped"]

_FORMAT = "rewardlab.PreferenceDataset"
_WRITER = "rewardlab.data.save_preferences"
_LABEL_FIX = "label each pair 1.0 (a preferred), 0.0 (b preferred), 0.5 (a tie) or 'skipped'"


def _frozen(x: Any) -> np.ndarray:
    """A read-only copy of ``x`` as an array."""
    out = np.array(x, copy=True)
    out.setflags(write=False)
    return out


def _check_finite(x: np.ndarray, name: str) -> None:
    """Refuse NaN or infinite values in a float array ``(T, ...)``, naming the first step."""
    if np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.complexfloating):
        bad = ~np.isfinite(x)
        if bad.any():
            t = int(np.flatnonzero(bad.reshape(len(x), -1).any(1))[0])
            value = x[t].reshape(-1)[np.flatnonzero(bad[t].reshape(-1))[0]]
            raise ValidationError(name, f"holds {value} at step {t}", "pass finite values (drop or repair the segment)")


def check_label(label: Any, name: str = "label") -> Label:
    """``label`` as a float in {0.0, 0.5, 1.0} or :data:`SKIPPED`, else :class:`ValidationError` naming ``name``.

    Examples:
        >>> check_label(1), check_label("skipped")
        (1.0, 'skipped')
        >>> check_label(0.7)
        Traceback (most recent call last):
        ...
        rewardlab.errors.ValidationError: label: is 0.7. Fix: label each pair 1.0 (a preferred), 0.0 (b preferred), 0.5 (a tie) or 'skipped'.
    """
    if isinstance(label, str):
        if label == SKIPPED:
            return SKIPPED
        raise ValidationError(name, f"is {label!r}", _LABEL_FIX)
    if isinstance(label, (bool, np.bool_)) or not isinstance(label, (int, float, np.integer, np.floating)):
        raise ValidationError(name, f"is {label!r} ({type(label).__name__})", _LABEL_FIX)
    value = float(label)
    if value not in LABELS:
        raise ValidationError(name, f"is {value}", _LABEL_FIX)
    return value


@dataclass(frozen=True, eq=False)
class Segment:
    """``T`` consecutive steps of behaviour, the thing a person compares.

    Args:
        obs: ``(T, *obs_shape)`` observations, the state each action was taken in.
        acts: ``(T, *act_shape)`` actions.
        rews: optional ``(T,)`` true rewards (for simulated teachers and evaluation), float64.

    The arrays are read-only copies. NaN or infinite values raise :class:`ValidationError`.

    Examples:
        >>> seg = Segment(np.zeros((3, 2)), np.ones(3), rews=[1.0, 0.0, 2.0])
        >>> len(seg), seg.obs_shape, seg.ret
        (3, (2,), 3.0)
    """

    obs: np.ndarray
    acts: np.ndarray
    rews: np.ndarray | None = None

    def __post_init__(self) -> None:
        obs, acts = _frozen(self.obs), _frozen(self.acts)
        if obs.ndim == 0 or acts.ndim == 0:
            raise ShapeError("obs" if obs.ndim == 0 else "acts", "is a scalar", "pass arrays with a time axis (T, ...)")
        if len(obs) != len(acts):
            raise ShapeError("obs", f"has {len(obs)} steps for {len(acts)} actions", "pass one observation per action (T each)")
        if len(acts) == 0:
            raise ShapeError("acts", "has no steps", "pass a segment of at least one step")
        for name, x in (("obs", obs), ("acts", acts)):
            if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
                raise ValidationError(name, f"has dtype {x.dtype}", "pass numeric arrays")
            _check_finite(x, name)
        object.__setattr__(self, "obs", obs)
        object.__setattr__(self, "acts", acts)
        if self.rews is not None:
            rews = _frozen(np.asarray(self.rews, dtype=float))
            if rews.shape != (len(acts),):
                raise ShapeError("rews", f"has shape {rews.shape}", f"pass one reward per step: ({len(acts)},)")
            _check_finite(rews, "rews")
            object.__setattr__(self, "rews", rews)

    def __len__(self) -> int:
        return len(self.acts)

    @property
    def obs_shape(self) -> tuple[int, ...]:
        return tuple(self.obs.shape[1:])

    @property
    def act_shape(self) -> tuple[int, ...]:
        return tuple(self.acts.shape[1:])

    @property
    def ret(self) -> float:
        """Undiscounted true return ``sum_t rews[t]`` (requires ``rews``)."""
        if self.rews is None:
            raise ValidationError("rews", "is None", "record the true rewards to compute a return")
        return float(self.rews.sum())


def _as_segment(x: Any, name: str) -> Segment:
    if isinstance(x, Segment):
        return x
    if isinstance(x, Trajectory):
        return Segment(x.obs[:-1], x.acts, x.rews)
    raise ValidationError(name, f"is a {type(x).__name__}", "pass a Segment (or a Trajectory, whose final observation is dropped)")


def _check_time(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
        raise ValidationError(name, f"is {value!r}", "pass a finite time in seconds (e.g. time.time()) or None")
    return float(value)


@dataclass(frozen=True, eq=False)
class Preference:
    """One answered (or skipped) comparison of two segments.

    Args:
        a: the first segment (a :class:`Trajectory` is taken without its final observation).
        b: the second segment, of the same length ``T`` and observation and action shapes as ``a``.
        label: ``P(a ≻ b)``: 1.0 = ``a`` preferred, 0.0 = ``b`` preferred, 0.5 = a tie, or ``"skipped"``
            (no answer). The same convention as ``target`` in
            :func:`~rewardlab.prefs.losses.bradley_terry_log_likelihood` with ``logit = R_a - R_b``.
        annotator: who answered (a name or id), if known.
        shown_at: when the query was shown, in seconds (e.g. ``time.time()``).
        answered_at: when it was answered, in seconds.
        left_first: ``a`` was shown on the left (the label still refers to ``a`` and ``b``, not to sides).

    Examples:
        >>> a = Segment(np.zeros((2, 1)), np.zeros(2), rews=[1.0, 1.0])
        >>> b = Segment(np.ones((2, 1)), np.zeros(2), rews=[0.0, 0.0])
        >>> p = Preference(a, b, 1.0, annotator="ann", shown_at=10.0, answered_at=12.5)
        >>> p.label, p.skipped, p.answered_at - p.shown_at
        (1.0, False, 2.5)
    """

    a: Segment
    b: Segment
    label: Label
    annotator: str | None = None
    shown_at: float | None = None
    answered_at: float | None = None
    left_first: bool = True

    def __post_init__(self) -> None:
        a, b = _as_segment(self.a, "a"), _as_segment(self.b, "b")
        if len(a) != len(b):
            raise ShapeError("b", f"has {len(b)} steps, a has {len(a)}", "compare segments of equal length")
        if a.obs_shape != b.obs_shape:
            raise ShapeError("b.obs", f"has per-step shape {b.obs_shape}, a.obs has {a.obs_shape}", "compare segments of one env")
        if a.act_shape != b.act_shape:
            raise ShapeError("b.acts", f"has per-step shape {b.act_shape}, a.acts has {a.act_shape}", "compare segments of one env")
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "label", check_label(self.label))
        if self.annotator is not None and not isinstance(self.annotator, str):
            raise ValidationError(
                "annotator", f"is a {type(self.annotator).__name__}", "pass the annotator's name or id as a string, or None"
            )
        shown, answered = _check_time(self.shown_at, "shown_at"), _check_time(self.answered_at, "answered_at")
        if shown is not None and answered is not None and answered < shown:
            raise ValidationError("answered_at", f"is {answered}, before shown_at {shown}", "record the answer time after the time shown")
        object.__setattr__(self, "shown_at", shown)
        object.__setattr__(self, "answered_at", answered)
        if not isinstance(self.left_first, (bool, np.bool_)):
            raise ValidationError("left_first", f"is {self.left_first!r}", "pass True (a shown on the left) or False")
        object.__setattr__(self, "left_first", bool(self.left_first))

    @property
    def skipped(self) -> bool:
        return self.label == SKIPPED


@dataclass(frozen=True)
class SegmentBatch:
    """The segments of ``N`` preferences, stacked: ``obs_a`` / ``obs_b`` ``(N, T, *obs_shape)``, ``acts_a`` /
    ``acts_b`` ``(N, T, *act_shape)``, ``rews_a`` / ``rews_b`` ``(N, T)`` or None when a segment has none."""

    obs_a: np.ndarray
    acts_a: np.ndarray
    rews_a: np.ndarray | None
    obs_b: np.ndarray
    acts_b: np.ndarray
    rews_b: np.ndarray | None


class PreferenceDataset(Sequence[Preference]):
    """Preferences over segments of one env: same ``T``, observation and action shapes throughout.

    ``append`` / ``extend`` add preferences in place (labels arrive one by one in the RLHF loop), each
    checked; ``+`` returns a new dataset; indexing with a slice returns a new dataset.

    Args:
        preferences: the :class:`Preference` objects.
        env_id: the Gymnasium id of the env the segments come from (checked on load with ``expect_env``).

    Examples:
        >>> seg = Segment(np.zeros((2, 3)), np.zeros(2))
        >>> ds = PreferenceDataset([Preference(seg, seg, 0.5), Preference(seg, seg, "skipped")], env_id="Toy-v0")
        >>> len(ds), ds.n_skipped, len(ds.answered()), ds.obs_shape
        (2, 1, 1, (3,))
        >>> ds.labels().tolist()
        [0.5, nan]
    """

    def __init__(self, preferences: Iterable[Preference] = (), *, env_id: str | None = None) -> None:
        if env_id is not None and not isinstance(env_id, str):
            raise ValidationError("env_id", f"is a {type(env_id).__name__}", "pass the env's Gymnasium id as a string, or None")
        self.env_id = env_id
        self._items: list[Preference] = []
        self.extend(preferences)

    # -- the sequence --------------------------------------------------------------------------------
    @overload
    def __getitem__(self, index: int) -> Preference: ...
    @overload
    def __getitem__(self, index: slice) -> PreferenceDataset: ...
    def __getitem__(self, index: int | slice) -> Preference | PreferenceDataset:
        if isinstance(index, slice):
            return PreferenceDataset(self._items[index], env_id=self.env_id)
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Preference]:
        return iter(self._items)

    def __repr__(self) -> str:
        return f"PreferenceDataset({len(self)} preferences, {self.n_skipped} skipped, env_id={self.env_id!r})"

    def append(self, preference: Preference) -> None:
        """Add one preference (checked against the dataset's length and shapes)."""
        self.extend([preference])

    def extend(self, preferences: Iterable[Preference]) -> None:
        """Add several preferences; all are checked before any is added."""
        new = list(preferences)
        first = self._items[0].a if self._items else None
        for k, p in enumerate(new):
            self._check(p, f"preferences[{len(self) + k}]", first)
            first = first or p.a
        self._items.extend(new)

    def __add__(self, other: object) -> PreferenceDataset:
        if not isinstance(other, PreferenceDataset):
            return NotImplemented
        if self.env_id is not None and other.env_id is not None and self.env_id != other.env_id:
            raise ValidationError("env_id", f"is {other.env_id!r} in one dataset, {self.env_id!r} in the other", "join datasets of one env")
        out = PreferenceDataset(self._items, env_id=self.env_id if self.env_id is not None else other.env_id)
        out.extend(other)
        return out

    @staticmethod
    def _check(p: Any, name: str, first: Segment | None) -> None:
        if not isinstance(p, Preference):
            raise ValidationError(name, f"is a {type(p).__name__}", "pass Preference objects")
        if first is not None:
            if len(p.a) != len(first):
                raise ShapeError(f"{name}.a", f"has {len(p.a)} steps, the dataset's segments {len(first)}", "use one segment length")
            if p.a.obs_shape != first.obs_shape:
                raise ShapeError(f"{name}.a.obs", f"has per-step shape {p.a.obs_shape}, the dataset {first.obs_shape}", "use one env")
            if p.a.act_shape != first.act_shape:
                raise ShapeError(f"{name}.a.acts", f"has per-step shape {p.a.act_shape}, the dataset {first.act_shape}", "use one env")

    # -- views ---------------------------------------------------------------------------------------
    @property
    def length(self) -> int | None:
        """``T``, the steps of every segment (None while empty)."""
        return len(self._items[0].a) if self._items else None

    @property
    def obs_shape(self) -> tuple[int, ...] | None:
        return self._items[0].a.obs_shape if self._items else None

    @property
    def act_shape(self) -> tuple[int, ...] | None:
        return self._items[0].a.act_shape if self._items else None

    @property
    def n_skipped(self) -> int:
        return sum(p.skipped for p in self._items)

    def skipped_mask(self) -> np.ndarray:
        """``(N,)`` bool: which preferences were skipped."""
        return np.array([p.skipped for p in self._items], dtype=bool)

    def labels(self) -> np.ndarray:
        """``(N,)`` float64 labels ``P(a ≻ b)``, NaN where skipped (train on :meth:`answered` to have none)."""
        return np.array([math.nan if p.skipped else p.label for p in self._items], dtype=float)

    def answered(self) -> PreferenceDataset:
        """A new dataset without the skipped preferences."""
        return PreferenceDataset([p for p in self._items if not p.skipped], env_id=self.env_id)

    def segments(self) -> SegmentBatch:
        """The segments stacked (:class:`SegmentBatch`); rewards are None unless every segment has them."""
        if not self._items:
            raise ValidationError("preferences", "is empty", "add at least one preference before stacking segments")
        out: dict[str, np.ndarray | None] = {}
        for side in ("a", "b"):
            segs = [getattr(p, side) for p in self._items]
            out[f"obs_{side}"] = np.stack([s.obs for s in segs])
            out[f"acts_{side}"] = np.stack([s.acts for s in segs])
            out[f"rews_{side}"] = None if any(s.rews is None for s in segs) else np.stack([s.rews for s in segs])
        return SegmentBatch(**out)  # type: ignore[arg-type]


class Ranking(Sequence[Trajectory]):
    """Trajectories in order of quality, **worst first, best last**, with optional scores.

    Args:
        trajectories: the trajectories, worst first.
        scores: optional ``(N,)`` scores, non-decreasing along the order (higher = better; equal scores
            are ties). Without them the order is strict: scores ``0, 1, ..., N - 1``.

    Examples:
        >>> trs = [Trajectory(np.zeros(2), np.zeros(1)) for _ in range(3)]
        >>> first, second, label = Ranking(trs, scores=[0.0, 1.0, 1.0]).pairs()
        >>> list(zip(first.tolist(), second.tolist(), label.tolist()))
        [(0, 1, 0.0), (0, 2, 0.0), (1, 2, 0.5)]
    """

    def __init__(self, trajectories: Iterable[Trajectory], scores: Any = None) -> None:
        self._items = tuple(trajectories)
        for i, tr in enumerate(self._items):
            if not isinstance(tr, Trajectory):
                raise ValidationError(f"trajectories[{i}]", f"is a {type(tr).__name__}", "pass Trajectory objects, worst first")
        s = np.arange(len(self._items), dtype=float) if scores is None else ranking_scores(self._items, scores)
        down = np.flatnonzero(np.diff(s) < 0)
        if len(down):
            k = int(down[0])
            raise ValidationError(
                "scores",
                f"decrease from {s[k]} at {k} to {s[k + 1]} at {k + 1}",
                "order the trajectories worst first, best last (or use Ranking.from_dataset to sort them by score)",
            )
        s.setflags(write=False)
        self.scores = s

    @classmethod
    def from_dataset(cls, dataset: Sequence[Trajectory], scores: Any = None, *, key: str = "rank") -> Ranking:
        """A ranking of ``dataset`` by ``scores`` or each trajectory's ``infos[key]`` (today's
        ``infos["rank"]`` convention, higher = better), sorted worst first (stable: ties keep their order).

        Examples:
            >>> ds = TrajectoryDataset([Trajectory(np.zeros(2), np.zeros(1), infos={"rank": r}) for r in (2, 0, 1)])
            >>> r = Ranking.from_dataset(ds)
            >>> r.scores.tolist(), [tr.infos["rank"] for tr in r]
            ([0.0, 1.0, 2.0], [0, 1, 2])
        """
        s = ranking_scores(dataset, scores, key=key)
        order = np.argsort(s, kind="stable")
        return cls([dataset[int(i)] for i in order], s[order])

    @overload
    def __getitem__(self, index: int) -> Trajectory: ...
    @overload
    def __getitem__(self, index: slice) -> Ranking: ...
    def __getitem__(self, index: int | slice) -> Trajectory | Ranking:
        if isinstance(index, slice):
            return Ranking(self._items[index], self.scores[index])
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Trajectory]:
        return iter(self._items)

    def __repr__(self) -> str:
        return f"Ranking({len(self)} trajectories, worst first)"

    def pairs(self, *, ties: bool = True, min_gap: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every implied preference: ``(first, second, label)`` index arrays with ``first < second`` and
        ``label = P(first ≻ second)``: 0.0 when ``second`` scores higher, 0.5 for equal scores (ties;
        ``ties=False`` drops them). ``min_gap`` drops strict pairs closer than it
        (:func:`~rewardlab.data.ranking.ranked_pairs`)."""
        return ranked_pairs(self.scores, ties=ties, min_gap=min_gap)

    def to_dataset(self) -> TrajectoryDataset:
        """The trajectories, worst first, each with ``infos["rank"]`` set to its score (for the learners
        that still read that convention)."""
        return TrajectoryDataset(
            [
                Trajectory(tr.obs, tr.acts, tr.rews, tr.terminal, {**tr.infos, "rank": float(s)})
                for tr, s in zip(self._items, self.scores, strict=True)
            ]
        )


# -- files ---------------------------------------------------------------------------------------------


class PreferencesMeta(TypedDict):
    """The schema of ``preferences.json`` (what :func:`save_preferences` writes, version 1)."""

    format: str
    version: int
    count: int
    n_segments: int
    env_id: str | None
    length: int
    obs_shape: list[int]
    act_shape: list[int]
    table: str


class _RowRequired(TypedDict):
    a: int
    b: int


class PreferenceRow(_RowRequired, total=False):
    """One row of a preference table: segment indices ``a``, ``b`` and ``label`` (checked separately:
    0, 0.5, 1, ``"skipped"``, or null with ``skipped`` true), the rest optional."""

    skipped: bool
    annotator: str | None
    shown_at: float | None
    answered_at: float | None
    left_first: bool


_TABLES = ("jsonl", "parquet")


def _table_rows(ds: PreferenceDataset) -> list[dict[str, Any]]:
    return [
        {
            "a": 2 * k,
            "b": 2 * k + 1,
            "label": None if p.skipped else p.label,
            "skipped": p.skipped,
            "annotator": p.annotator,
            "shown_at": p.shown_at,
            "answered_at": p.answered_at,
            "left_first": p.left_first,
        }
        for k, p in enumerate(ds)
    ]


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row, sort_keys=True, allow_nan=False) + "\n" for row in rows).encode()


def _parquet(rows: list[dict[str, Any]]) -> bytes:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ConfigError("format", "is 'parquet' but pyarrow is not installed", "pip install pyarrow, or use format='jsonl'") from exc
    schema = pa.schema(
        [
            ("a", pa.int64()),
            ("b", pa.int64()),
            ("label", pa.float64()),
            ("skipped", pa.bool_()),
            ("annotator", pa.string()),
            ("shown_at", pa.float64()),
            ("answered_at", pa.float64()),
            ("left_first", pa.bool_()),
        ]
    )
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), buffer)
    return buffer.getvalue()


def _nonempty(ds: Any, verb: str) -> PreferenceDataset:
    if not isinstance(ds, PreferenceDataset):
        raise ValidationError("dataset", f"is a {type(ds).__name__}", "pass a PreferenceDataset")
    if not len(ds):
        raise ValidationError("dataset", "is empty", f"{verb} at least one preference")
    return ds


def save_preferences(dataset: PreferenceDataset, directory: str | Path, *, format: str = "jsonl", atomic: bool = True) -> Path:
    """Write ``dataset`` into ``directory`` as ``preferences.npz`` + ``preferences.jsonl`` (or
    ``.parquet`` with ``format="parquet"``) + ``preferences.json``, as one unit: everything is
    serialised first, then swapped in with renames (``atomic=False``: written in place, for a directory
    that is itself being written atomically). Other files in ``directory`` are kept. Segment ``2k`` is
    preference ``k``'s ``a``, ``2k + 1`` its ``b``.

    Examples:
        >>> import tempfile
        >>> seg = Segment(np.zeros((2, 3), np.float32), np.zeros(2, np.int64), rews=[0.0, 1.0])
        >>> d = save_preferences(PreferenceDataset([Preference(seg, seg, 1.0, annotator="x")], env_id="Toy-v0"), tempfile.mkdtemp())
        >>> back = load_preferences(d, expect_env="Toy-v0")
        >>> back[0].label, back[0].annotator, back[0].a.obs.dtype, back.env_id
        (1.0, 'x', dtype('float32'), 'Toy-v0')
    """
    ds = _nonempty(dataset, "save")
    if format not in _TABLES:
        raise ConfigError("format", f"is {format!r}", f"choose one of {list(_TABLES)}")
    rows = _table_rows(ds)
    table = _jsonl(rows) if format == "jsonl" else _parquet(rows)
    arrays: dict[str, np.ndarray] = {}
    segs = [s for p in ds for s in (p.a, p.b)]
    arrays["obs"] = np.stack([s.obs for s in segs])
    arrays["acts"] = np.stack([s.acts for s in segs])
    if all(s.rews is not None for s in segs):
        arrays["rews"] = np.stack([s.rews for s in segs])  # type: ignore[misc]
    meta = {
        "format": _FORMAT,
        "version": 1,
        "count": len(ds),
        "n_segments": len(segs),
        "env_id": ds.env_id,
        "length": ds.length,
        "obs_shape": list(ds.obs_shape or ()),
        "act_shape": list(ds.act_shape or ()),
        "table": format,
    }
    files = {"preferences.npz": npz_bytes(arrays), f"preferences.{format}": table, "preferences.json": json_text(meta).encode()}
    directory = write_files(directory, files, atomic=atomic)
    for other in _TABLES:  # a table of the other format from an earlier save is no longer described by the JSON
        if other != format:
            (directory / f"preferences.{other}").unlink(missing_ok=True)
    return directory


def _env_name(env: Any) -> str:
    if isinstance(env, str):
        return env
    spec = getattr(env, "spec", None)
    if spec is None or getattr(spec, "id", None) is None:
        raise ValidationError("expect_env", f"is a {type(env).__name__} without a spec id", "pass the env id as a string")
    return str(spec.id)


def load_preferences(directory: str | Path, *, expect_env: Any = None) -> PreferenceDataset:
    """Read what :func:`save_preferences` wrote. With ``expect_env`` (an env id or an env), refuse a
    dataset recorded in another env. Missing, corrupt or inconsistent files raise :class:`DataFileError`
    naming the file, the row or key, and the fix."""
    directory = Path(directory)
    meta, npz_path = read_meta(directory, "preferences", ".npz", _FORMAT, _WRITER, schema=PreferencesMeta)
    meta_path = directory / "preferences.json"
    if expect_env is not None:
        want = _env_name(expect_env)
        if meta["env_id"] != want:
            raise DataFileError(
                f"{meta_path}: env_id is {meta['env_id']!r}, expected {want!r}. Fix: load the preferences recorded in {want}, or pass expect_env={meta['env_id']!r}"
            )
    if meta["table"] not in _TABLES:
        raise DataFileError(f"{meta_path}: table is {meta['table']!r}, not one of {list(_TABLES)}. Fix: re-save it with {_WRITER}")
    table_path = directory / f"preferences.{meta['table']}"
    rows = _read_rows(table_path, f"re-save it with {_WRITER}")
    if len(rows) != meta["count"]:
        raise DataFileError(f"{table_path}: has {len(rows)} rows, {meta_path.name} says {meta['count']}. Fix: re-save it with {_WRITER}")
    arrays = _segment_arrays(npz_path, f"re-save it with {_WRITER}")
    n = len(arrays["obs"])
    if (
        n != meta["n_segments"]
        or tuple(arrays["obs"].shape[1:]) != (meta["length"], *meta["obs_shape"])
        or (tuple(arrays["acts"].shape[1:]) != (meta["length"], *meta["act_shape"]))
    ):
        raise DataFileError(
            f"{npz_path}: holds obs {arrays['obs'].shape} and acts {arrays['acts'].shape}, {meta_path.name} says {meta['n_segments']} segments "
            f"of {meta['length']} steps, observations {tuple(meta['obs_shape'])}, actions {tuple(meta['act_shape'])}. Fix: re-save it with {_WRITER}"
        )
    return _build(rows, arrays, meta["env_id"], table_path, npz_path, f"re-save it with {_WRITER}")


def _segment_arrays(path: Path, fix: str) -> dict[str, np.ndarray]:
    """``obs``, ``acts`` and optional ``rews`` of an ``.npz`` of stacked segments, checked against each other."""
    from rewardlab.data.io import _read_npz  # pydantic (through _schema) only when a file is read

    arrays = _read_npz(path, fix)
    for key in ("obs", "acts"):
        if key not in arrays:
            raise DataFileError(f"{path}: has no {key!r} array. Fix: {fix}")
        if arrays[key].ndim < 2:
            raise DataFileError(f"{path}: {key!r} has shape {arrays[key].shape}, not (segments, T, ...). Fix: {fix}")
    obs, acts = arrays["obs"], arrays["acts"]
    if obs.shape[:2] != acts.shape[:2]:
        raise DataFileError(f"{path}: 'obs' has shape {obs.shape}, 'acts' {acts.shape}: (segments, T) differ. Fix: {fix}")
    if "rews" in arrays and arrays["rews"].shape != obs.shape[:2]:
        raise DataFileError(f"{path}: 'rews' has shape {arrays['rews'].shape}, not (segments, T) = {obs.shape[:2]}. Fix: {fix}")
    return arrays


def _read_rows(path: Path, fix: str) -> list[dict[str, Any]]:
    """The rows of a ``.jsonl``, ``.csv`` or ``.parquet`` table as dicts (CSV cells converted by column type)."""
    if not path.is_file():
        raise DataFileError(f"{path}: missing. Fix: {fix}")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise DataFileError(f"{path}: is Parquet but pyarrow is not installed. Fix: pip install pyarrow") from exc
        try:
            return list(pq.read_table(path).to_pylist())
        except Exception as exc:  # pyarrow raises its own ArrowInvalid / OSError for damaged files
            raise DataFileError(f"{path}: not a readable Parquet file ({exc}). Fix: {fix}") from exc
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}). Fix: {fix}") from exc
    if suffix == ".csv":
        return [_from_text(row, f"{path}: row {k}", fix) for k, row in enumerate(csv.DictReader(io.StringIO(text)))]
    if suffix not in (".jsonl", ".json"):
        raise DataFileError(f"{path}: has suffix {suffix!r}. Fix: pass a .csv, .jsonl or .parquet table")
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DataFileError(f"{path}: line {n} is not valid JSON ({exc.msg}). Fix: {fix}") from exc
    return rows


#: The type of each known column of a CSV table (its cells are text).
_CSV_TYPES: dict[str, type] = {
    "a": int,
    "b": int,
    "skipped": bool,
    "annotator": str,
    "shown_at": float,
    "answered_at": float,
    "left_first": bool,
}


def _from_text(raw: dict[str, str], where: str, fix: str) -> dict[str, Any]:
    """A CSV row with each known column converted by its type; an empty cell is a missing value."""
    from rewardlab._schema import Mismatch, coerce

    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key is None or value is None or value.strip() == "":
            continue
        if key == "label":
            out[key] = SKIPPED if value.strip() == SKIPPED else _number(value, where)
        elif key in _CSV_TYPES:
            try:
                out[key] = coerce(value, _CSV_TYPES[key], text=True)
            except Mismatch:
                raise DataFileError(f"{where}: {key!r} is {value!r}, not {_CSV_TYPES[key].__name__}. Fix: {fix}") from None
        else:
            out[key] = value
    return out


def _row(raw: Any, where: str, fix: str) -> dict[str, Any]:
    """One table row checked against :class:`PreferenceRow`, its label read (1, 0, 0.5, ``"skipped"``,
    or null with ``skipped`` true)."""
    from rewardlab._schema import check_meta

    row = check_meta(raw, PreferenceRow, where, fix)
    if "label" not in row:
        raise DataFileError(f"{where}: has no 'label'. Fix: {fix}")
    label = row["label"]
    if label is None and row.get("skipped"):
        label = SKIPPED
    try:
        row["label"] = check_label(label)
    except ValidationError as exc:
        raise DataFileError(f"{where}: {exc}") from exc
    if row.get("skipped") is not None and row["skipped"] != (row["label"] == SKIPPED):
        raise DataFileError(f"{where}: skipped is {row['skipped']} but label is {row['label']!r}. Fix: {fix}")
    return row


def _number(value: str, where: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise DataFileError(f"{where}: 'label' is {value!r}. Fix: {_LABEL_FIX}") from None


def _build(
    rows: list[Any], arrays: dict[str, np.ndarray], env_id: str | None, table_path: Path, npz_path: Path, fix: str
) -> PreferenceDataset:
    """The preferences of ``rows`` (segment indices into ``arrays``) as a dataset; bad rows or segments
    raise :class:`DataFileError` naming the row."""
    obs, acts, rews = arrays["obs"], arrays["acts"], arrays.get("rews")
    n = len(obs)
    checked = [_row(raw, f"{table_path}: row {k}", fix) for k, raw in enumerate(rows)]
    for column in ("a", "b"):
        try:
            check_indices(
                np.array([r[column] for r in checked], dtype=np.int64),
                f"{table_path}: column {column!r}",
                n,
                kind=f"segment indices of {npz_path.name}",
                position="row",
            )
        except ValidationError as exc:
            raise DataFileError(f"{exc.field}: {exc.problem}. Fix: use indices of the {n} segments in {npz_path} (0 to {n - 1})") from exc
    segments: dict[int, Segment] = {}

    def segment(i: int, k: int, side: str) -> Segment:
        if i not in segments:
            try:
                segments[i] = Segment(obs[i], acts[i], None if rews is None else rews[i])
            except ValidationError as exc:
                raise DataFileError(f"{npz_path}: segment {i} (row {k}, {side}): {exc.field}: {exc.problem}. Fix: {exc.fix}") from exc
        return segments[i]

    out = []
    for k, r in enumerate(checked):
        try:
            out.append(
                Preference(
                    segment(r["a"], k, "a"),
                    segment(r["b"], k, "b"),
                    r["label"],
                    annotator=r.get("annotator"),
                    shown_at=r.get("shown_at"),
                    answered_at=r.get("answered_at"),
                    left_first=r.get("left_first", True),
                )
            )
        except ValidationError as exc:
            raise DataFileError(f"{table_path}: row {k}: {exc}") from exc
    return PreferenceDataset(out, env_id=env_id)


def import_pairs(table_path: str | Path, segments_npz: str | Path, env_id: str | None) -> PreferenceDataset:
    """Preferences from a plain table of segment indices and labels.

    Args:
        table_path: a ``.csv`` (with a header row) or ``.jsonl`` table with columns ``a``, ``b`` (indices
            of segments in ``segments_npz``) and ``label`` (``P(a ≻ b)``: 1, 0, 0.5 or ``skipped``);
            optional columns ``annotator``, ``shown_at``, ``answered_at``, ``left_first`` are read too.
        segments_npz: an ``.npz`` with ``obs`` ``(S, T, *obs_shape)``, ``acts`` ``(S, T, *act_shape)`` and
            optionally ``rews`` ``(S, T)`` (no pickled arrays).
        env_id: the env the segments were recorded in.

    Raises:
        DataFileError: a missing file, a row without ``a`` / ``b`` / ``label``, a label outside the set, an
            index outside ``[0, S)``, NaN in a segment, naming the file, row and column.

    Examples:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> np.savez(d / "seg.npz", obs=np.arange(6.0).reshape(3, 2, 1), acts=np.zeros((3, 2)))
        >>> _ = (d / "pairs.csv").write_text("a,b,label\\n0,1,1\\n2,1,0.5\\n")
        >>> ds = import_pairs(d / "pairs.csv", d / "seg.npz", "Toy-v0")
        >>> ds.labels().tolist(), ds[1].a.obs[:, 0].tolist()
        ([1.0, 0.5], [4.0, 5.0])
    """
    table_path, npz_path = Path(table_path), Path(segments_npz)
    fix = "give a table with columns a, b, label (segment indices and P(a ≻ b)) and an .npz of stacked obs / acts"
    if not npz_path.is_file():
        raise DataFileError(f"{npz_path}: missing. Fix: pass the .npz of segments (obs (S, T, ...), acts (S, T, ...))")
    rows = _read_rows(table_path, fix)
    if not rows:
        raise DataFileError(f"{table_path}: has no rows. Fix: {fix}")
    arrays = _segment_arrays(npz_path, fix)
    return _build(rows, arrays, env_id, table_path, npz_path, fix)


def to_trl(dataset: PreferenceDataset, path: str | Path | None = None) -> list[dict[str, Any]]:
    """The answered preferences in the TRL preference layout: one dict per pair with ``chosen`` and
    ``rejected`` (each ``{"obs": [...], "acts": [...]}`` plus ``"rews"`` when recorded, as nested lists)
    and ``tie`` (True for a 0.5 label, whose ``chosen`` is ``a``). Skipped preferences are left out
    (they say nothing about which is better). With ``path``, also written there as JSONL, atomically.

    Examples:
        >>> a, b = Segment(np.zeros((1, 1)), np.zeros(1)), Segment(np.ones((1, 1)), np.ones(1))
        >>> rows = to_trl(PreferenceDataset([Preference(a, b, 0.0), Preference(a, b, "skipped"), Preference(a, b, 0.5)]))
        >>> [(r["chosen"]["obs"], r["rejected"]["obs"], r["tie"]) for r in rows]
        [([[1.0]], [[0.0]], False), ([[0.0]], [[1.0]], True)]
    """
    if not isinstance(dataset, PreferenceDataset):
        raise ValidationError("dataset", f"is a {type(dataset).__name__}", "pass a PreferenceDataset")

    def side(s: Segment) -> dict[str, Any]:
        out: dict[str, Any] = {"obs": s.obs.tolist(), "acts": s.acts.tolist()}
        if s.rews is not None:
            out["rews"] = s.rews.tolist()
        return out

    rows = []
    for p in dataset:
        if p.skipped:
            continue
        chosen, rejected = (p.b, p.a) if p.label == 0.0 else (p.a, p.b)
        rows.append({"chosen": side(chosen), "rejected": side(rejected), "tie": p.label == 0.5})
    if path is not None:
        data = _jsonl(rows)
        atomic_write(path, lambda f: f.write(data))
    return rows
