"""Offline labelling: a saved set of segment pairs becomes queries that people answer in the app (issue 20).

:func:`import_preferences` puts the pairs of a :class:`~rewardlab.data.PreferenceDataset` (read by
:func:`~rewardlab.data.load_preferences` or :func:`~rewardlab.data.import_pairs`) into a
:class:`~rewardlab.labeling.store.Store` as segments and queries. The dataset's labels are **not** answers
(people give those); only ``gold=N`` uses them: ``N`` of the answered pairs, drawn with ``seed``, become gold
queries whose known answer is the file's label (what the operator page's gold agreement compares with).
With ``clips_dir``, every segment is rendered to ``clips_dir/<segment id>.mp4``
(:class:`~rewardlab.labeling.clips.ClipRenderer`) and recorded with :meth:`Store.set_clip`.

What people answered comes back out with ``Store.export`` (``rewardlab label export``): one
:class:`~rewardlab.data.Preference` per answer, a dataset T-REX or the preference reward trains on.

Segments that are equal (the same observations, actions and rewards, dtype and shape) are stored once, and a
pair that occurs several times (the same ``a`` and ``b``) is one query.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab.data.preferences import SKIPPED, PreferenceDataset, Segment
from rewardlab.errors import ValidationError
from rewardlab.labeling.store import Store

__all__ = ["Imported", "import_preferences"]


@dataclass(frozen=True)
class Imported:
    """What :func:`import_preferences` stored: ``segments`` and ``queries`` (their ids, in the dataset's
    order of first appearance), ``gold`` (the ids of the gold queries), ``rows`` (preferences read),
    ``clips`` (clips rendered and recorded) and ``failed`` (``segment id: error`` of clips that failed)."""

    segments: list[int]
    queries: list[int]
    gold: list[int]
    rows: int
    clips: int = 0
    failed: tuple[str, ...] = ()


def _check_count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValidationError(name, f"is {value!r}", "pass a number of pairs >= 0")
    return int(value)


def import_preferences(
    store: Store,
    dataset: PreferenceDataset,
    *,
    env_id: str | None = None,
    gold: int = 0,
    seed: int | None = 0,
    run: str = "",
    source: str | Path | None = None,
    clips_dir: str | Path | None = None,
    size: tuple[int, int] | None = None,
    workers: int = 1,
) -> Imported:
    """Store the pairs of ``dataset`` as queries for people to answer (their labels are not answers).

    Args:
        store: the open labelling database.
        dataset: the pairs; ``N`` preferences of segments ``(T, *obs_shape)`` / ``(T, *act_shape)``.
        env_id: the env the segments come from; default the dataset's (one of the two must name it; if both
            do, they must agree).
        gold: how many of the pairs with a label (0, 0.5 or 1; skipped rows are not candidates) become gold
            queries, with the file's label as their known answer ``P(a ≻ b)``; drawn without replacement.
        seed: seed of the gold draw.
        run, source: recorded with each segment (the run it belongs to; the file it came from).
        clips_dir: render every segment's clip into ``clips_dir/<segment id>.mp4`` and record it (None: no
            clips; a server with a renderer makes them later). The env is checked first by drawing one step,
            so an env that clips cannot be drawn for stores nothing.
        size, workers: passed to :class:`~rewardlab.labeling.clips.ClipRenderer`.

    Returns:
        :class:`Imported`: the ids stored and the clips made.

    Raises:
        ValidationError: an empty dataset, no env id or two that differ, a pair of a segment with itself,
            ``gold`` above the number of labelled pairs.
        ConfigError, ShapeError: (with ``clips_dir``) an env clips cannot be drawn for, or observations that
            do not fit it; nothing is stored then.

    Examples:
        >>> import tempfile
        >>> from rewardlab.data import Preference
        >>> from rewardlab.labeling import open_store
        >>> segs = [Segment(np.full((2, 1), float(k)), np.zeros(2)) for k in range(3)]
        >>> data = PreferenceDataset([Preference(segs[0], segs[1], 1.0), Preference(segs[1], segs[2], 0.0),
        ...                           Preference(segs[0], segs[1], "skipped")], env_id="Toy-v0")
        >>> store = open_store(tempfile.mkdtemp() + "/labels.db")
        >>> done = import_preferences(store, data, gold=1)
        >>> len(done.segments), len(done.queries), len(done.gold), store.answer_records()
        (3, 2, 1, [])
        >>> store.close()
    """
    from rewardlab.labeling.clips import ClipRenderer, clip_name, render_frames, segment_digest

    if not isinstance(dataset, PreferenceDataset):
        raise ValidationError("dataset", f"is a {type(dataset).__name__}", "pass a PreferenceDataset (load_preferences, import_pairs)")
    if not len(dataset):
        raise ValidationError("dataset", "is empty", "import at least one pair")
    if env_id is not None and dataset.env_id is not None and env_id != dataset.env_id:
        raise ValidationError("env_id", f"is {env_id!r} but the dataset was recorded in {dataset.env_id!r}", "pass the dataset's env id")
    env = env_id if env_id is not None else dataset.env_id
    if env is None:
        raise ValidationError("env_id", "is None and the dataset names no env", "pass the env the segments come from (--env ID)")
    n_gold = _check_count(gold, "gold")

    keys: dict[bytes, int] = {}  # segment digest -> index into unique
    unique: list[Segment] = []
    pairs: dict[tuple[int, int], int] = {}  # (a, b) -> index into order
    order: list[tuple[int, int]] = []
    labels: list[float | None] = []  # the first label of each distinct pair (None: only skips)
    for k, pref in enumerate(dataset):
        ends = []
        for seg in (pref.a, pref.b):
            key = segment_digest(seg)
            if key not in keys:
                keys[key] = len(unique)
                unique.append(seg)
            ends.append(keys[key])
        a, b = ends
        if a == b:
            raise ValidationError(f"dataset[{k}]", "compares a segment with itself (equal arrays)", "leave that pair out")
        if (a, b) not in pairs:
            pairs[(a, b)] = len(order)
            order.append((a, b))
            labels.append(None)
        i = pairs[(a, b)]
        if labels[i] is None and pref.label != SKIPPED:
            labels[i] = float(pref.label)
    candidates = [i for i, label in enumerate(labels) if label is not None]
    if n_gold > len(candidates):
        raise ValidationError(
            "gold", f"is {n_gold} but the dataset has {len(candidates)} labelled pairs", f"pass at most {len(candidates)} (or 0)"
        )
    chosen = set(np.random.default_rng(seed).choice(len(candidates), size=n_gold, replace=False).tolist()) if n_gold else set()
    golds = [labels[i] if j in chosen else None for j, i in enumerate(candidates)]
    gold_of = dict(zip(candidates, golds, strict=True))

    if clips_dir is not None:  # refuse an env clips cannot be drawn for before anything is stored
        first = unique[0]
        render_frames(env, Segment(first.obs[:1], first.acts[:1]), size=(16, 16))

    segment_ids = store.add_segments(unique, env_id=env, run=run, source=source)
    query_ids = store.add_queries([(segment_ids[a], segment_ids[b]) for a, b in order], gold=[gold_of.get(i) for i in range(len(order))])
    gold_ids = [q for i, q in enumerate(query_ids) if gold_of.get(i) is not None]
    if clips_dir is None:
        return Imported(segment_ids, query_ids, gold_ids, len(dataset))

    made, failed = 0, []
    with ClipRenderer(clips_dir, workers=workers, size=size) as renderer:
        names = {sid: clip_name(sid, seg, env) for sid, seg in zip(segment_ids, unique, strict=True)}
        for sid, seg in zip(segment_ids, unique, strict=True):
            renderer.submit(names[sid], env, seg)
        renderer.wait()
        for sid in segment_ids:
            path = renderer.path(names[sid])
            if path is None:
                failed.append(f"{sid}: {renderer.error(names[sid])}")
                continue
            store.set_clip(sid, path.resolve())
            made += 1
    return Imported(segment_ids, query_ids, gold_ids, len(dataset), made, tuple(failed))
