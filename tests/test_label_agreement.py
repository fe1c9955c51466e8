"""Agreement statistics of annotators (rewardlab.labeling.agreement) against hand-computed values."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from rewardlab.data.preferences import SKIPPED, Segment
from rewardlab.labeling.agreement import agreement_summary, cohen_kappa, fleiss_kappa, gold_agreement, labelling_speed, pairwise_agreement
from rewardlab.labeling.store import Answer, open_store


def answer(query: int, who: str, label: object, *, gold: float | None = None, shown: float = 0.0, answered: float = 2.0) -> Answer:
    choice = "skip" if label == SKIPPED else "left"
    return Answer(query, query * 10 + len(who), who, label, choice, True, shown, answered, gold)  # type: ignore[arg-type]


def test_cohen_kappa_by_hand() -> None:
    # 4 items: agree on 3 (1, 1, 0) and disagree on 1; marginals x: 1 -> 2, 0 -> 2; y: 1 -> 3, 0 -> 1
    # p_o = 3/4; p_e = (2*3 + 2*1) / 16 = 1/2; kappa = (3/4 - 1/2) / (1/2) = 1/2
    assert cohen_kappa([1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 1.0]) == pytest.approx(0.5)
    assert cohen_kappa([1.0, 0.0], [0.0, 1.0]) == pytest.approx(-1.0)
    assert math.isnan(cohen_kappa([1.0, 1.0], [1.0, 1.0]))  # one category only: chance agreement is 1
    assert math.isnan(cohen_kappa([1.0], [1.0]))


def test_fleiss_kappa_by_hand() -> None:
    # 3 queries x 2 raters: (a, a), (b, b), (a, b) over categories 1.0 / 0.0
    # P_i = 1, 1, 0 -> P_bar = 2/3; p_1 = p_0 = 1/2 -> P_e = 1/2; kappa = (2/3 - 1/2) / (1/2) = 1/3
    answers = [answer(1, "ann", 1.0), answer(1, "bob", 1.0), answer(2, "ann", 0.0), answer(2, "bob", 0.0)]
    answers += [answer(3, "ann", 1.0), answer(3, "bob", 0.0), answer(4, "ann", 1.0)]  # query 4: one answer, left out
    kappa, items = fleiss_kappa(answers)
    assert kappa == pytest.approx(1 / 3) and items == 3
    kappa, items = fleiss_kappa([answer(1, "ann", SKIPPED), answer(1, "bob", 1.0)])  # a skip is no answer
    assert math.isnan(kappa) and items == 0


def test_gold_pairwise_and_speed() -> None:
    answers = [
        answer(1, "ann", 1.0, gold=1.0, answered=3.0),
        answer(1, "bob", 0.0, gold=1.0, answered=5.0),
        answer(2, "ann", 0.5, answered=1.0),
        answer(2, "bob", 0.5, answered=7.0),
        answer(3, "bob", SKIPPED, answered=4.0),
    ]
    gold = gold_agreement(answers)
    assert gold["ann"] == {"agreement": 1.0, "gold_answered": 1.0} and gold["bob"]["agreement"] == 0.0
    pair = pairwise_agreement(answers)[("ann", "bob")]
    assert pair["agreement"] == 0.5 and pair["shared"] == 2.0
    speed = labelling_speed(answers)
    assert speed["bob"] == {"median_seconds": 5.0, "mean_seconds": pytest.approx(16 / 3), "answers": 3.0}
    summary = agreement_summary(answers)
    assert summary["answers"] == 5 and summary["skipped"] == 1 and "ann|bob" in summary["pairs"]


def test_statistics_of_a_real_store(tmp_path: Path) -> None:
    """Two annotators answer through the store (their own side orders); the summary reads its records."""
    store = open_store(tmp_path / "labels.db")
    rng = np.random.default_rng(0)
    segs = store.add_segments([Segment(rng.normal(size=(3, 2)), np.zeros((3, 1))) for _ in range(4)], env_id="Toy-v0")
    store.add_queries([(segs[0], segs[1]), (segs[2], segs[3])], gold=[1.0, None])
    for name in ("ann", "bob"):
        store.add_annotator(name)
    people = {a.name: a for a in store.annotators()}
    for name in ("ann", "bob"):
        while (job := store.next_assignment(people[name], rng, shown_at=10.0)) is not None:
            # both prefer segment a: the key pressed depends on the side it was shown on
            store.record_label(job.id, people[name], "left" if job.left_is_a else "right", answered_at=12.0)
    summary = agreement_summary(store.answer_records())
    assert summary["answers"] == 4 and summary["skipped"] == 0
    assert summary["pairs"]["ann|bob"]["agreement"] == 1.0 and summary["pairs"]["ann|bob"]["shared"] == 2.0
    assert math.isnan(summary["pairs"]["ann|bob"]["kappa"])  # every answer "a better": kappa is undefined, not 1
    assert summary["annotators"]["ann"]["agreement"] == 1.0 and summary["annotators"]["bob"]["median_seconds"] == 2.0
