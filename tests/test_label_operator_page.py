"""The operator page and its endpoint (GET /operator, GET /api/operator/stats) against a real
``rewardlab label serve`` process: five annotators label over HTTP (with gold queries, mistakes, skips and
think times), the endpoint answers what :func:`rewardlab.labeling.agreement.agreement_summary` computes
from the store, and the page in real headless Chromium shows those very numbers (and "–" with a reason
where a statistic is undefined)."""

from __future__ import annotations

import math
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from conftest import headless_chromium, needs_chromium  # noqa: E402
from rewardlab.data import Segment  # noqa: E402
from rewardlab.labeling import open_store  # noqa: E402
from rewardlab.labeling.agreement import agreement_summary  # noqa: E402
from rewardlab.labeling.server import operator_stats  # noqa: E402
from test_label_server import Server, _serve  # noqa: E402

#: The labelling-app page's screenshot (docs/labelling-app.md), rewritten when REWARDLAB_DOC_SHOTS=1 (so a test run leaves the tree clean).
DOC_SHOT = Path(__file__).resolve().parents[1] / "docs" / "operator_page.png"

#: P(a ≻ b) of each of the 12 queries; the first three are gold queries with these answers.
TRUTH = [1.0, 0.0, 1.0, 0.0, 1.0, 0.5, 1.0, 0.0, 1.0, 0.0, 0.5, 1.0]
GOLD = 3


@dataclass(frozen=True)
class Plan:
    """How a scripted annotator answers: how many queries, which ones wrong (flipped), skipped or can't
    tell, and the seconds spent on each."""

    answers: int
    flip: frozenset[int] = frozenset()
    skip: frozenset[int] = frozenset()
    cant_tell: frozenset[int] = frozenset()
    think: float = 0.0


PLANS = {
    "ada": Plan(12, think=0.12),
    "bob": Plan(12, flip=frozenset({1, 6, 9}), skip=frozenset({11}), think=0.2),
    "cy": Plan(12, flip=frozenset({3}), cant_tell=frozenset({4}), think=0.25),
    "dee": Plan(1, think=0.25),
    "eve": Plan(0),
}


def _choice(plan: Plan, query: int, left_is_a: bool) -> str:
    """The key a person who means ``TRUTH[query]`` (or its opposite when it is in ``plan.flip``) presses."""
    if query in plan.skip:
        return "skip"
    if query in plan.cant_tell:
        return "cant_tell"
    label = TRUTH[query]
    if query in plan.flip:
        label = 1.0 - label
    if label == 0.5:
        return "equal"
    return "left" if (label == 1.0) == left_is_a else "right"


@dataclass
class Labelled:
    db: Path | str
    server: Server
    tokens: dict[str, str]

    def client(self, who: str) -> Any:
        return httpx.Client(base_url=self.server.url, headers={"Authorization": f"Bearer {self.tokens[who]}"}, timeout=10)


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Labelled]:
    """:func:`_labelled` on a SQLite file (what the browser tests read)."""
    with _labelled(tmp_path_factory.mktemp("operator") / "labels.db") as setup:
        yield setup


@pytest.fixture(scope="module")
def labelled_any(new_label_db: Callable[[Path], Path | str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Labelled]:
    """:func:`_labelled` on SQLite and on PostgreSQL (the API's tests run on both)."""
    with _labelled(new_label_db(tmp_path_factory.mktemp("operator"))) as setup:
        yield setup


@contextmanager
def _labelled(db: Path | str) -> Iterator[Labelled]:
    """Twelve queries (three gold) served; the annotators of :data:`PLANS` label them at once over HTTP."""
    with open_store(db) as store:
        segments = store.add_segments([Segment(np.full((4, 2), float(k)), np.zeros(4)) for k in range(2 * len(TRUTH))], env_id="Toy-v0")
        pairs = [(segments[2 * i], segments[2 * i + 1]) for i in range(len(TRUTH))]
        store.add_queries(pairs, gold=[TRUTH[i] if i < GOLD else None for i in range(len(TRUTH))])
        tokens = {name: store.add_annotator(name) for name in PLANS}
        tokens["olga"] = store.add_annotator("olga", "operator")
    query_of = {a: (i, True) for i, (a, _) in enumerate(pairs)} | {b: (i, False) for i, (_, b) in enumerate(pairs)}
    server = _serve(db)
    setup = Labelled(db, server, tokens)
    failures: list[str] = []

    def annotate(name: str, plan: Plan) -> None:
        with setup.client(name) as client:
            for _ in range(plan.answers):
                job = client.get("/api/next").json()
                query, left_is_a = query_of[job["left"]["segment"]]
                time.sleep(plan.think)
                response = client.post("/api/label", json={"assignment": job["assignment"], "choice": _choice(plan, query, left_is_a)})
                if response.status_code != 201:
                    failures.append(response.text)

    threads = [threading.Thread(target=annotate, args=item) for item in PLANS.items()]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert failures == []
        yield setup
    finally:
        server.stop()


def _expected(db: Path | str) -> dict[str, Any]:
    with open_store(db) as store:
        return operator_stats(store) | {"summary": agreement_summary(store.answer_records())}


def _same(shown: Any, value: Any) -> bool:
    """A JSON value equals a summary value: None stands for NaN."""
    if isinstance(value, float) and math.isnan(value):
        return shown is None
    return bool(shown == value)


def test_the_stats_endpoint_is_the_agreement_summary_and_needs_the_operator_token(labelled_any: Labelled) -> None:
    labelled = labelled_any
    expected = _expected(labelled.db)
    summary = expected["summary"]
    with labelled.client("olga") as olga, labelled.client("ada") as ada:
        assert ada.get("/api/operator/stats").status_code == 403
        assert httpx.get(f"{labelled.server.url}/api/operator/stats", timeout=10).status_code == 401
        stats = olga.get("/api/operator/stats").json()
    assert stats["answers"] == summary["answers"] == 12 + 12 + 12 + 1 and stats["skipped"] == summary["skipped"] == 2
    assert _same(stats["fleiss_kappa"], summary["fleiss_kappa"]) and stats["fleiss_items"] == summary["fleiss_items"] == 12
    for name, row in summary["annotators"].items():
        assert all(_same(stats["annotators"][name][k], v) for k, v in row.items()), name
    for pair, row in summary["pairs"].items():
        assert all(_same(stats["pairs"][pair][k], v) for k, v in row.items()), pair
    assert stats["counts"] == expected["counts"] and stats["counts"]["labels"] == 37
    assert stats["people"]["bob"] == {"role": "annotator", "answers": 12, "skipped": 1}
    assert stats["people"]["eve"] == {"role": "annotator", "answers": 0, "skipped": 0} and "eve" not in stats["annotators"]
    assert stats["people"]["olga"]["role"] == "operator"
    # by hand: gold agreement of ada 3/3, bob 2/3 (query 1 flipped), cy 3/3; dee answered one query, so each of her
    # pairs shares at most one: Cohen's kappa is undefined; ada and bob agree on 8 of the 11 that bob did not skip
    assert stats["annotators"]["ada"]["agreement"] == 1.0 and stats["annotators"]["bob"]["agreement"] == pytest.approx(2 / 3)
    assert stats["annotators"]["cy"]["agreement"] == 1.0 and stats["annotators"]["cy"]["gold_answered"] == 3
    assert stats["pairs"]["ada|bob"]["shared"] == 11 and stats["pairs"]["ada|bob"]["agreement"] == pytest.approx(8 / 11)
    assert all(stats["pairs"][p]["kappa"] is None for p in stats["pairs"] if "dee" in p)


# ------------------------------------------------------------------------------------------------ the page
browser_only = needs_chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from headless_chromium("1000,900")


def _wait(what: str, ready: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = ready()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting until {what}")


#: Every cell of the page: (table, row key, field) -> [data-value, text, tooltip].
CELLS = """
const out = {};
for (const tr of document.querySelectorAll('#people tbody tr, #pairs tbody tr')) {
  for (const td of tr.querySelectorAll('td')) {
    out[[tr.closest('table').id, tr.dataset.key, td.dataset.field].join(' ')] = [td.dataset.value ?? null, td.textContent, td.title];
  }
}
for (const id of ['queries', 'segments', 'assignments', 'answers', 'skipped', 'fleiss', 'fleiss-items']) {
  const dd = document.getElementById(id);
  out['totals ' + id] = [dd.dataset.value, dd.textContent, dd.title];
}
return out;
"""


def _check(cell: list[str], value: Any, digits: int | None) -> None:
    """A cell shows ``value``: exactly in data-value, rounded to ``digits`` in its text; NaN as "–" with a reason."""
    raw, text, why = cell
    if value is None or (isinstance(value, float) and math.isnan(value)):
        assert raw == "" and text == "–" and len(why) > 10, cell
        return
    assert float(raw) == value, (cell, value)
    shown = float(text.removesuffix(" s"))
    assert abs(shown - value) <= (0.5 * 10**-digits + 1e-12 if digits is not None else 0), (cell, value)


@browser_only
def test_the_operator_page_shows_the_agreement_summary(labelled: Labelled, browser: Any, tmp_path: Path) -> None:
    browser.get(f"{labelled.server.url}/operator#token={labelled.tokens['olga']}")
    assert "token" not in browser.current_url  # dropped from the address bar once read
    _wait("the tables", lambda: browser.execute_script("return !document.getElementById('stats').hidden && last !== null"))
    cells = browser.execute_script(CELLS)
    expected = _expected(labelled.db)
    summary = expected["summary"]
    people = expected["people"]
    assert {k.split(" ")[1] for k in cells if k.startswith("people ")} == set(people)
    for name, who in people.items():
        row = summary["annotators"].get(name, {})
        assert cells[f"people {name} name"][1] == name and cells[f"people {name} role"][1] == who["role"]
        _check(cells[f"people {name} answers"], who["answers"], None)
        _check(cells[f"people {name} skipped"], who["skipped"], None)
        _check(cells[f"people {name} agreement"], row.get("agreement", math.nan), 3)
        _check(cells[f"people {name} gold_answered"], row.get("gold_answered", 0), None)
        _check(cells[f"people {name} median_seconds"], row.get("median_seconds", math.nan), 1)
        _check(cells[f"people {name} mean_seconds"], row.get("mean_seconds", math.nan), 1)
    assert {k.split(" ")[1] for k in cells if k.startswith("pairs ")} == set(summary["pairs"])
    for pair, row in summary["pairs"].items():
        for field, digits in (("shared", None), ("agreement", 3), ("kappa", 3)):
            _check(cells[f"pairs {pair} {field}"], row[field], digits)
    for field, value, digits in (
        ("queries", expected["counts"]["queries"], None),
        ("answers", summary["answers"], None),
        ("skipped", summary["skipped"], None),
        ("fleiss", summary["fleiss_kappa"], 3),
        ("fleiss-items", summary["fleiss_items"], None),
    ):
        _check(cells[f"totals {field}"], value, digits)
    # the undefined ones say why
    assert "no answers yet" in cells["people eve median_seconds"][2]
    assert "fewer than two queries" in cells["pairs ada|dee kappa"][2]
    assert "no answers yet" in cells["people olga agreement"][2]
    browser.set_window_size(1000, 1010)  # every row in the picture
    shot = tmp_path / "operator_page.png"
    browser.save_screenshot(str(shot))
    print(f"screenshot of the operator page: {shot}")
    if os.environ.get("REWARDLAB_DOC_SHOTS") == "1":
        shutil.copyfile(shot, DOC_SHOT)

    # a new label, then Refresh: the page reads the endpoint again
    with labelled.client("eve") as eve:
        job = eve.get("/api/next").json()
        assert eve.post("/api/label", json={"assignment": job["assignment"], "choice": "equal"}).status_code == 201
    browser.find_element("id", "refresh").click()
    _wait("eve's answer is shown", lambda: browser.execute_script(CELLS)["people eve answers"][1] == "1")
    assert browser.execute_script(CELLS)["totals answers"][1] == str(summary["answers"] + 1)


@browser_only
def test_the_operator_page_refuses_an_annotator_token(labelled: Labelled, browser: Any) -> None:
    browser.execute_script("sessionStorage.clear()")
    browser.get(f"{labelled.server.url}/operator#token={labelled.tokens['ada']}")
    _wait("the token form", lambda: browser.find_element("id", "login").is_displayed())
    assert "needs an operator token" in browser.find_element("id", "message").text
    assert not browser.find_element("id", "stats").is_displayed()
    browser.get(f"{labelled.server.url}/operator#token=not-a-token")
    _wait("the token form", lambda: "not accepted" in browser.find_element("id", "message").text)


def test_the_operator_page_is_served_with_the_labelling_pages_policy(labelled: Labelled) -> None:
    page = httpx.get(f"{labelled.server.url}/operator", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == httpx.get(f"{labelled.server.url}/", timeout=10).headers["content-security-policy"]
    assert 'src="static/operator.js"' in page.text and "http" not in page.text.split("<body>")[1]  # no CDN
    script = httpx.get(f"{labelled.server.url}/static/operator.js", timeout=10)
    assert script.status_code == 200 and "Authorization" in script.text and "innerHTML" not in script.text
