"""Agreement statistics of the people who label: what the operator page reports (issue 20).

Every statistic reads the store's :class:`~rewardlab.labeling.store.Answer` records (``Store.answer_records()``)
and counts only *answers*: labels ``P(a ≻ b)`` in {0, 0.5, 1}; skipped and can't-tell answers say nothing
about agreement and are left out (their numbers are reported). The categories are the three labels, so
"a better", "equal" and "b better" are three classes, whatever side each person saw them on.

* :func:`gold_agreement`: per annotator, the fraction of their answers to gold queries that equal the gold label.
* :func:`pairwise_agreement`: per pair of annotators, the fraction of the queries both answered on which they
  agree, and Cohen's kappa on those queries (Cohen 1960; ``statsmodels.stats.inter_rater.cohens_kappa``).
* :func:`fleiss_kappa`: Fleiss' kappa (Fleiss 1971; ``statsmodels.stats.inter_rater.fleiss_kappa``) over the
  queries with at least two answers, each query's answers counted per category.
* :func:`labelling_speed`: per annotator, the median and mean seconds from shown to answered.

Kappa is NaN where it is undefined (fewer than two shared queries, or every answer in one category, where
chance agreement is 1) rather than a number that cannot be trusted.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from rewardlab.data.preferences import SKIPPED
from rewardlab.labeling.store import Answer

__all__ = ["CATEGORIES", "agreement_summary", "cohen_kappa", "fleiss_kappa", "gold_agreement", "labelling_speed", "pairwise_agreement"]

#: The answer categories: P(a ≻ b) of "b better", "equal", "a better".
CATEGORIES = (0.0, 0.5, 1.0)


def _answered(answers: Iterable[Answer]) -> list[Answer]:
    return [a for a in answers if a.label != SKIPPED]


def _category(label: Any) -> int:
    return CATEGORIES.index(float(label))


def cohen_kappa(x: Sequence[float], y: Sequence[float]) -> float:
    """Cohen's kappa of two raters' labels on the same items (``x[i]``, ``y[i]`` in :data:`CATEGORIES`).

    Examples:
        >>> cohen_kappa([1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0])
        1.0
        >>> round(cohen_kappa([1.0, 1.0, 0.0, 0.0, 0.5], [1.0, 0.0, 0.0, 1.0, 0.5]), 6)  # p_o = 3/5, p_e = 9/25: 0.24 / 0.64
        0.375
    """
    from statsmodels.stats.inter_rater import cohens_kappa

    if len(x) != len(y) or len(x) < 2:
        return math.nan
    table = np.zeros((len(CATEGORIES), len(CATEGORIES)))
    for a, b in zip(x, y, strict=True):
        table[_category(a), _category(b)] += 1
    expected = float(table.sum(0) @ table.sum(1)) / float(table.sum()) ** 2
    if expected >= 1.0:  # both raters always used one and the same category: kappa is 0/0
        return math.nan
    return float(cohens_kappa(table, return_results=False))


def fleiss_kappa(answers: Iterable[Answer]) -> tuple[float, int]:
    """Fleiss' kappa over the queries with at least two answers, and how many such queries there are.

    Every query's answers are counted per category; statsmodels' ``fleiss_kappa`` needs the same number of
    raters per item, so a query answered by more people than the fewest is counted on its first answers (in
    the order answered) up to that number.
    """
    from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss

    by_query: dict[int, list[Answer]] = defaultdict(list)
    for a in _answered(answers):
        by_query[a.query_id].append(a)
    rated = [labels for labels in by_query.values() if len(labels) >= 2]
    if not rated:
        return math.nan, 0
    raters = min(len(labels) for labels in rated)
    table = np.zeros((len(rated), len(CATEGORIES)))
    for i, labels in enumerate(rated):
        for a in labels[:raters]:
            table[i, _category(a.label)] += 1
    shares = table.sum(0) / table.sum()
    if float(np.square(shares).sum()) >= 1.0:  # every answer in one category
        return math.nan, len(rated)
    return float(statsmodels_fleiss(table)), len(rated)


def gold_agreement(answers: Iterable[Answer]) -> dict[str, dict[str, float]]:
    """Per annotator: ``agreement`` (fraction of answered gold queries whose label equals the gold one, NaN
    when none) and ``gold_answered`` (how many)."""
    hits: dict[str, list[bool]] = defaultdict(list)
    for a in _answered(answers):
        if a.gold is not None:
            hits[a.annotator].append(float(a.label) == float(a.gold))
    return {name: {"agreement": float(np.mean(h)) if h else math.nan, "gold_answered": float(len(h))} for name, h in hits.items()}


def pairwise_agreement(answers: Iterable[Answer]) -> dict[tuple[str, str], dict[str, float]]:
    """Per pair of annotators (names sorted): ``agreement`` on the queries both answered, Cohen's ``kappa``
    there, and ``shared`` (how many). An annotator who answered one query twice counts their first answer."""
    first: dict[str, dict[int, float]] = defaultdict(dict)
    for a in _answered(answers):
        first[a.annotator].setdefault(a.query_id, float(a.label))
    out = {}
    for p, q in itertools.combinations(sorted(first), 2):
        shared = sorted(set(first[p]) & set(first[q]))
        x, y = [first[p][i] for i in shared], [first[q][i] for i in shared]
        out[(p, q)] = {
            "agreement": float(np.mean([u == v for u, v in zip(x, y, strict=True)])) if shared else math.nan,
            "kappa": cohen_kappa(x, y),
            "shared": float(len(shared)),
        }
    return out


def labelling_speed(answers: Iterable[Answer]) -> dict[str, dict[str, float]]:
    """Per annotator, over every answer (skips included: they take time too): ``median_seconds`` and
    ``mean_seconds`` from shown to answered, and ``answers``."""
    seconds: dict[str, list[float]] = defaultdict(list)
    for a in answers:
        seconds[a.annotator].append(a.answered_at - a.shown_at)
    return {
        name: {"median_seconds": float(np.median(s)), "mean_seconds": float(np.mean(s)), "answers": float(len(s))}
        for name, s in seconds.items()
    }


def agreement_summary(answers: Iterable[Answer]) -> dict[str, Any]:
    """Everything the operator page shows, as plain JSON-ready values: per annotator gold agreement and speed,
    per pair agreement and kappa (keyed ``"a|b"``), Fleiss' kappa, and the counts of answers and skips."""
    records = list(answers)
    kappa, items = fleiss_kappa(records)
    gold = gold_agreement(records)
    speed = labelling_speed(records)
    return {
        "annotators": {name: {**speed.get(name, {}), **gold.get(name, {})} for name in sorted({a.annotator for a in records})},
        "pairs": {f"{p}|{q}": v for (p, q), v in pairwise_agreement(records).items()},
        "fleiss_kappa": kappa,
        "fleiss_items": items,
        "answers": len(records),
        "skipped": sum(a.label == SKIPPED for a in records),
    }
