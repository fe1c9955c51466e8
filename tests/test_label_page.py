"""The labelling page (rewardlab/labeling/static) in real headless Chromium, driven by Selenium, against a
real ``rewardlab label serve`` process: the page opens with a token, both clips play, the keys answer, and
the SQLite file holds the labels as ``P(a ≻ b)`` after undoing the randomised side order."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("av")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

from conftest import headless_chromium, needs_chromium  # noqa: E402
from rewardlab.data import Segment  # noqa: E402
from rewardlab.labeling import open_store  # noqa: E402
from rewardlab.labeling.clips import render_segment  # noqa: E402
from test_label_server import Server, _serve  # noqa: E402

#: The labelling-app page's screenshot (docs/labelling-app.md), rewritten when REWARDLAB_DOC_SHOTS=1 (so a test run leaves the tree clean).
DOC_SHOT = Path(__file__).resolve().parents[1] / "docs" / "label_page.png"

pytestmark = needs_chromium


def _pendulum(start: float, spin: float, steps: int = 20) -> Segment:
    """A Pendulum-v1 segment: the angle from ``start`` turning by ``spin`` rad per step (obs: cos, sin, velocity)."""
    theta = start + spin * np.arange(steps)
    obs = np.stack([np.cos(theta), np.sin(theta), np.full(steps, spin / 0.05)], axis=1)
    return Segment(obs, np.zeros((steps, 1)))


@dataclass
class Page:
    db: Path
    server: Server
    token: str
    queries: list[int]
    unrendered: list[tuple[int, Path]]  # segments of the last query and their clips, stored only during the test


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    """Eight queries over seven Pendulum segments with real H.264 clips (one second, 96 px), served; the last
    query's two clips are rendered but not yet in the store (the page waits for them)."""
    tmp = tmp_path_factory.mktemp("page")
    db = tmp / "labels.db"
    segments = [_pendulum(0.5 * k, 0.1 * (k - 2)) for k in range(7)]
    with open_store(db) as store:
        ids = store.add_segments(segments, env_id="Pendulum-v1")
        clips = [
            render_segment("Pendulum-v1", seg, out=tmp / "clips" / f"{sid}.mp4", size=(96, 96))
            for sid, seg in zip(ids, segments, strict=True)
        ]
        for sid, clip in zip(ids[:5], clips[:5], strict=True):
            store.set_clip(sid, clip)
        pairs = [
            (ids[0], ids[1]),
            (ids[2], ids[3]),
            (ids[1], ids[4]),
            (ids[3], ids[0]),
            (ids[4], ids[2]),
            (ids[0], ids[2]),
            (ids[1], ids[3]),
        ]
        queries = store.add_queries([*pairs, (ids[5], ids[6])])
        token = store.add_annotator("ada")
    server = _serve(db)
    try:
        yield Page(db, server, token, queries, list(zip(ids[5:], clips[5:], strict=True)))
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from headless_chromium("1000,700", "--autoplay-policy=no-user-gesture-required")


def _wait(what: str, ready: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = ready()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting until {what}")


PLAYING = "return [...document.querySelectorAll('video')].map(v => [v.currentTime, v.paused, v.readyState, v.videoWidth])"


def _both_playing(driver: Any) -> bool:
    state = driver.execute_script(PLAYING)
    return len(state) == 2 and all(t > 0 and not paused and width == 96 for t, paused, _, width in state)


def _assignment(driver: Any) -> int | None:
    shown = driver.execute_script("return !busy && job && job.assignment")  # the page's globals: the pair on screen, ready
    return None if shown is None else int(shown)


def _sql(db: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(query).fetchall()


def test_the_page_plays_both_clips_and_stores_the_keys_as_labels(page: Page, browser: Any, tmp_path: Path) -> None:
    browser.get(f"{page.server.url}/#token={page.token}")
    assert "token" not in browser.current_url  # dropped from the address bar once read
    _wait("both clips play", lambda: _both_playing(browser))
    assert browser.find_element(By.ID, "progress").text == "0 done · 8 left"
    shot = tmp_path / "label_page.png"
    browser.save_screenshot(str(shot))
    print(f"screenshot of the labelling page: {shot}")
    if os.environ.get("REWARDLAB_DOC_SHOTS") == "1":
        shutil.copyfile(shot, DOC_SHOT)
    # A tablet (portrait): both clips and every button fit the width.
    browser.set_window_size(820, 1180)
    width = browser.execute_script("return document.documentElement.clientWidth")
    for element in browser.find_elements(By.CSS_SELECTOR, "video, #choices button"):
        assert element.is_displayed() and element.rect["x"] >= 0 and element.rect["x"] + element.rect["width"] <= width, element.text
    browser.save_screenshot(str(tmp_path / "label_page_tablet.png"))
    browser.set_window_size(1000, 700)

    # Space pauses both, again plays both; the speed applies to both.
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.SPACE)
    assert all(paused for _, paused, _, _ in browser.execute_script(PLAYING))
    body.send_keys(Keys.SPACE)
    _wait("both play again", lambda: _both_playing(browser))
    browser.execute_script("const s = document.getElementById('speed'); s.value = '2'; s.dispatchEvent(new Event('change'))")
    assert browser.execute_script("return [...document.querySelectorAll('video')].map(v => v.playbackRate)") == [2, 2]
    # The one-second clips loop together: wait for a restart, then both are within 0.15 s of each other.
    start = browser.execute_script(PLAYING)[0][0]
    _wait("the clips restart", lambda: browser.execute_script(PLAYING)[0][0] < start)
    _wait("both play after the restart", lambda: _both_playing(browser))

    # one sample can catch them mid-correction on a loaded machine: the page must bring them within 0.15 s
    def in_step() -> bool:
        times = [t for t, _, _, _ in browser.execute_script(PLAYING)]
        return abs(times[0] - times[1]) < 0.15

    _wait("both clips are within 0.15 s of each other", in_step, timeout=5.0)

    pressed: dict[int, str] = {}
    keys = [(Keys.ARROW_LEFT, "left"), (Keys.ARROW_RIGHT, "right"), ("=", "equal"), (Keys.ARROW_UP, "equal")]
    keys += [(Keys.ARROW_DOWN, "cant_tell"), ("s", "skip"), ("button:left", "left")]  # the button: a tap on a tablet
    keys += [("wait for the clips", "right")]  # the last pair's clips are rendered while the page waits
    assert len(keys) == len(page.queries)
    for key, choice in keys:
        if key == "wait for the clips":
            _wait("the page says the clips are coming", lambda: "rendered" in browser.find_element(By.ID, "message").text)
            with open_store(page.db) as store:
                for segment, clip in page.unrendered:
                    store.set_clip(segment, clip)
            key = Keys.ARROW_RIGHT
        shown = _wait("a new pair is on screen", lambda: _assignment(browser) not in (None, *pressed) and _assignment(browser))
        _wait("both clips play", lambda: _both_playing(browser))
        if key.startswith("button:"):
            browser.find_element(By.CSS_SELECTOR, f"button[data-choice={key[7:]}]").click()
        else:
            body.send_keys(key)
        pressed[shown] = choice
        query = f"SELECT count(*) FROM labels WHERE assignment_id = {shown}"
        _wait("the answer is saved", partial(_sql, page.db, query))
    _wait("the end message", lambda: "Nothing left" in browser.find_element(By.ID, "message").text)
    assert browser.find_element(By.ID, "progress").text == "8 done · 0 left"

    rows = _sql(page.db, "SELECT s.id, s.left_is_a, l.choice, l.value FROM assignments s JOIN labels l ON l.assignment_id = s.id")
    assert {r[0]: r[2] for r in rows} == pressed
    sides = {bool(r[1]) for r in rows}
    for assignment, left_is_a, choice, value in rows:
        expected = {"left": 1.0 if left_is_a else 0.0, "right": 0.0 if left_is_a else 1.0, "equal": 0.5, "cant_tell": None, "skip": None}[
            choice
        ]
        assert value == expected, (assignment, left_is_a, choice, value)
    print(f"side orders seen (left_is_a): {sorted(sides)}")


def test_a_bad_token_asks_for_it_again_and_stores_nothing(page: Page, browser: Any) -> None:
    before = _sql(page.db, "SELECT count(*) FROM assignments")[0][0]
    browser.get(f"{page.server.url}/#token=not-a-token")
    _wait("the token form", lambda: browser.find_element(By.ID, "login").is_displayed())
    assert "not accepted" in browser.find_element(By.ID, "message").text
    assert _sql(page.db, "SELECT count(*) FROM assignments")[0][0] == before


def test_a_pair_whose_clip_cannot_be_rendered_says_why_and_can_only_be_skipped(browser: Any, tmp_path: Path) -> None:
    """A rendering server (``--run``) holding a pair of an env clips cannot be drawn for: the page names the
    reason instead of waiting for clips, ignores the preference keys, and S stores a skip."""
    run = tmp_path / "run"
    run.mkdir()
    with open_store(run / "labels.db") as store:
        a, b = store.add_segments([Segment(np.zeros((3, 2)), np.zeros(3)), Segment(np.ones((3, 2)), np.zeros(3))], env_id="Toy-v0")
        store.add_queries([(a, b)])
        token = store.add_annotator("ada")
    server = _serve(run / "labels.db", where=("--run", str(run)))
    try:
        browser.get(f"{server.url}/#token={token}")
        _wait("the page says the pair cannot be shown", lambda: "cannot be shown" in browser.find_element(By.ID, "message").text)
        assert "could not be rendered" in browser.find_element(By.ID, "message").text
        body = browser.find_element(By.TAG_NAME, "body")
        body.send_keys(Keys.ARROW_LEFT)
        time.sleep(0.3)
        assert _sql(run / "labels.db", "SELECT count(*) FROM labels")[0][0] == 0  # a preference key does nothing here
        body.send_keys("s")
        _wait("the skip is stored", lambda: _sql(run / "labels.db", "SELECT count(*) FROM labels")[0][0] == 1)
        assert _sql(run / "labels.db", "SELECT choice, value FROM labels") == [("skip", None)]
        _wait("nothing is left", lambda: "Nothing left" in browser.find_element(By.ID, "message").text)
    finally:
        server.stop()
