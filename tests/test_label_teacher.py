"""Queries posted by the RLHF loop and answers read back: ``POST /api/queries`` and ``GET /api/answers``
of a real ``rewardlab label serve`` process, through :class:`rewardlab.labeling.teacher.LabelServerTeacher`,
with scripted annotators answering over HTTP; and the server's renderer drawing the clips of what it holds."""

from __future__ import annotations

import io
import json
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

import httpx

from rewardlab.data import Segment
from rewardlab.errors import ConfigError, ValidationError
from rewardlab.labeling import open_store
from rewardlab.labeling.clips import clip_name
from rewardlab.labeling.teacher import LabelServerError, LabelServerTeacher
from rewardlab.prefs.teachers import HumanTeacher
from test_label_server import Server, _free_port, _serve, _sql


def _counts(db: Path | str) -> tuple[int, int]:
    return _sql(db, "SELECT count(*) FROM segments")[0][0], _sql(db, "SELECT count(*) FROM queries")[0][0]


def _pairs(n: int, rng: np.random.Generator, steps: int = 3) -> list[tuple[Segment, Segment]]:
    """``n`` pairs of toy segments with distinct true returns."""
    out = []
    for _ in range(n):
        ra, rb = rng.permutation(10)[:2].astype(float)
        out.append(
            (
                Segment(rng.normal(size=(steps, 2)), rng.integers(0, 2, steps), np.full(steps, ra)),
                Segment(rng.normal(size=(steps, 2)), rng.integers(0, 2, steps), np.full(steps, rb)),
            )
        )
    return out


@dataclass
class App:
    run: Path
    db: Path | str
    server: Server
    tokens: dict[str, str]

    def teacher(self, **kwargs: object) -> LabelServerTeacher:
        return LabelServerTeacher(self.server.url, self.tokens["olga"], **{"env_id": "Toy-v0", "poll": 0.05, **kwargs})  # type: ignore[arg-type]

    def client(self, who: str) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, headers={"Authorization": f"Bearer {self.tokens[who]}"}, timeout=10)


@pytest.fixture(scope="module")
def app(new_label_db: Callable[[Path], Path | str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """A served store (clips not rendered; query bodies up to 16 KiB) with an operator and two annotators,
    on SQLite and on PostgreSQL (tests/conftest.py's ``label_backend``)."""
    run = tmp_path_factory.mktemp("run")
    db = new_label_db(run)
    with open_store(db) as store:
        tokens = {"olga": store.add_annotator("olga", "operator")} | {n: store.add_annotator(n) for n in ("ada", "bob")}
    server = _serve(db, where=("--run", str(run), "--db", str(db), "--no-render", "--max-query-body", str(16 * 1024)))
    try:
        yield App(run, db, server, tokens)
    finally:
        server.stop()


Answerer = Callable[[dict, Segment, Segment], str]


def _annotate(app: App, who: str, answer: Answerer, stop: threading.Event, wanted: set[int]) -> None:
    """Answer the caller's assignments whose query is in ``wanted`` with ``answer(job, left, right)`` until ``stop``
    (skipping others), reading the segments' true rewards from the store as a scripted person would see the clips."""
    with app.client(who) as c, open_store(app.db) as store:
        while not stop.is_set():
            job = c.get("/api/next").json()
            if job["assignment"] is None:
                time.sleep(0.02)
                continue
            query = _sql(app.db, f"SELECT query_id FROM assignments WHERE id = {job['assignment']}")[0][0]
            left, right = store.segment(job["left"]["segment"]), store.segment(job["right"]["segment"])
            choice = answer(job, left, right) if query in wanted else "skip"
            assert c.post("/api/label", json={"assignment": job["assignment"], "choice": choice}).status_code == 201


def _oracle(job: dict, left: Segment, right: Segment) -> str:
    return "left" if left.ret > right.ret else "right"


def _in_thread(app: App, who: str, answer: Answerer, wanted: set[int]) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=_annotate, args=(app, who, answer, stop, wanted), daemon=True)
    thread.start()
    return thread, stop


def test_posted_pairs_come_back_labelled_p_a_over_b_whatever_the_side_order(app: App) -> None:
    rng = np.random.default_rng(0)
    pairs = _pairs(12, rng)
    with app.teacher() as teacher:
        assert isinstance(teacher, HumanTeacher) and app.tokens["olga"] not in repr(teacher)
        before = _counts(app.db)
        ids = teacher.post(pairs)
        assert all(isinstance(i, str) for i in ids) and len(set(ids)) == 12
        assert _counts(app.db) == (before[0] + 24, before[1] + 12)
        stored = _sql(app.db, f"SELECT env_id, run FROM segments s JOIN queries q ON q.segment_a = s.id WHERE q.id = {ids[0]}")
        assert stored == [("Toy-v0", "")]
        with open_store(app.db) as store:  # the arrays arrive as sent
            q = int(ids[3])
            [(a_id,)] = _sql(app.db, f"SELECT segment_a FROM queries WHERE id = {q}")
            back = store.segment(a_id)
            assert np.array_equal(back.obs, pairs[3][0].obs) and np.array_equal(back.acts, pairs[3][0].acts)
            assert np.array_equal(back.rews, pairs[3][0].rews)
        waiting = teacher.answers(ids, timeout=0)
        assert waiting.pending.all() and not waiting.skipped.any() and np.isnan(waiting.labels).all()
        thread, stop = _in_thread(app, "ada", _oracle, {int(i) for i in ids})
        try:
            got = teacher.answers(ids, timeout=30)
        finally:
            stop.set()
            thread.join(timeout=10)
        truth = [1.0 if a.ret > b.ret else 0.0 for a, b in pairs]
        assert not got.pending.any() and not got.skipped.any() and got.labels.tolist() == truth
        records = teacher.raw_answers(ids)
        sides = {r["left_is_a"] for rs in records.values() for r in rs}
        assert sides == {True, False}  # both side orders were shown (12 draws), and undone
        for k, i in enumerate(ids):
            [r] = records[i]
            assert r["annotator"] == "ada" and r["shown_at"] <= r["answered_at"]
            assert r["label"] == truth[k] == (1.0 if (r["choice"] == "left") == r["left_is_a"] else 0.0)


def test_a_large_batch_is_posted_in_several_requests_in_order(app: App) -> None:
    """The fixture's server takes query bodies up to 16 KiB (--max-query-body): five pairs of 40 steps (about
    22 KB) are refused in one request and taken in several (max_request_bytes), with their ids in order."""
    pairs = _pairs(5, np.random.default_rng(6), steps=40)
    one = len(json.dumps({"a": pairs[0][0].obs.tolist(), "b": pairs[0][1].obs.tolist()}))
    assert 5 * one > 16 * 1024 > 2 * one + 1024
    before = _counts(app.db)
    with app.teacher() as teacher, pytest.raises(ValidationError, match="413: the request body is over 16384 bytes; post fewer pairs"):
        teacher.post(pairs)
    assert _counts(app.db) == before
    with app.teacher(max_request_bytes=2 * one + 1024) as teacher:
        ids = teacher.post(pairs)
    assert [int(i) for i in ids] == list(range(int(ids[0]), int(ids[0]) + 5))
    assert _counts(app.db) == (before[0] + 10, before[1] + 5)
    with open_store(app.db) as store:
        for k, i in enumerate(ids):
            [(b_id,)] = _sql(app.db, f"SELECT segment_b FROM queries WHERE id = {i}")
            assert np.array_equal(store.segment(b_id).obs, pairs[k][1].obs)


def test_several_annotators_give_one_majority_label_and_the_rest_is_pending(app: App) -> None:
    """min_answers=2: ada answers like the oracle, bob the opposite on even pairs; both skip pair 0.
    Agreement -> that label, disagreement -> 0.5, both skipped -> skipped; pairs posted later,
    answered by one person only, stay pending when the wait ends."""
    rng = np.random.default_rng(1)
    pairs = _pairs(6, rng)
    with app.teacher(min_answers=2) as teacher:
        ids = teacher.post(pairs)
        wanted = {int(i) for i in ids}
        first = int(ids[0])

        def ada(job: dict, left: Segment, right: Segment) -> str:
            query = _sql(app.db, f"SELECT query_id FROM assignments WHERE id = {job['assignment']}")[0][0]
            return "cant_tell" if query == first else _oracle(job, left, right)

        def bob(job: dict, left: Segment, right: Segment) -> str:
            query = _sql(app.db, f"SELECT query_id FROM assignments WHERE id = {job['assignment']}")[0][0]
            if query == first:
                return "skip"
            flip = (query - first) % 2 == 0
            return {"left": "right", "right": "left"}[_oracle(job, left, right)] if flip else _oracle(job, left, right)

        threads = [_in_thread(app, "ada", ada, wanted), _in_thread(app, "bob", bob, wanted)]
        try:
            got = teacher.answers(ids, timeout=30)
        finally:
            for thread, stop in threads:
                stop.set()
                thread.join(timeout=10)
        truth = [1.0 if a.ret > b.ret else 0.0 for a, b in pairs]
        expect = [0.5 if k % 2 == 0 else truth[k] for k in range(6)]
        assert not got.pending.any()
        assert got.skipped.tolist() == [True] + [False] * 5
        assert got.labels[1:].tolist() == expect[1:] and np.isnan(got.labels[0])
        later = teacher.post(_pairs(2, rng))
        thread, stop = _in_thread(app, "ada", _oracle, {int(i) for i in later})
        try:
            start = time.monotonic()
            deadline = start + 20
            while any(len(r) < 1 for r in teacher.raw_answers(later).values()) and time.monotonic() < deadline:
                time.sleep(0.05)
            start = time.monotonic()
            partial = teacher.answers(later, timeout=0.3)
            assert 0.25 <= time.monotonic() - start < 5  # waited for the second answer, then gave up
        finally:
            stop.set()
            thread.join(timeout=10)
        assert partial.pending.all() and not partial.skipped.any()


def test_errors_name_the_url_the_token_and_the_ids(app: App) -> None:
    port = _free_port()
    with LabelServerTeacher(f"http://127.0.0.1:{port}", "secret-token", env_id="Toy-v0") as nowhere:
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port}: cannot be reached") as err:
            nowhere.post(_pairs(1, np.random.default_rng(2)))
        assert "secret-token" not in str(err.value)
    before = _counts(app.db)
    for token in (app.tokens["ada"], "not-a-token"):
        with LabelServerTeacher(app.server.url, token, env_id="Toy-v0") as teacher:
            with pytest.raises(ConfigError, match="add-annotator NAME --operator") as err:
                teacher.post(_pairs(1, np.random.default_rng(2)))
            assert token not in str(err.value) and str(err.value).startswith("token:")
            with pytest.raises(ConfigError, match="token"):
                teacher.answers(["1"], timeout=0)
    assert _counts(app.db) == before
    with app.teacher() as teacher:
        with pytest.raises(ValidationError, match=r"ids: .*404.*not in the store"):
            teacher.answers(["99999"], timeout=0)
        with pytest.raises(ValidationError, match=r"ids\[0\]"):
            teacher.answers(["1,2"], timeout=0)
        with pytest.raises(ValidationError, match=r"queries\[0\]"):
            teacher.post([np.zeros(3)])
        with pytest.raises(ValidationError, match=r"pairs\[0\]: a has 3 steps"):
            teacher.post([(_pairs(1, np.random.default_rng(3))[0][0], _pairs(1, np.random.default_rng(3), steps=4)[0][0])])
    with pytest.raises(ConfigError, match="env_id"):
        LabelServerTeacher(app.server.url, app.tokens["olga"], env_id=None)
    with pytest.raises(ConfigError, match="url"):
        LabelServerTeacher("127.0.0.1:8000", app.tokens["olga"], env_id="Toy-v0")
    assert _counts(app.db) == before


def _segment(seed: int = 0, steps: int = 2) -> dict:
    rng = np.random.default_rng(seed)
    return {"obs": rng.normal(size=(steps, 2)).tolist(), "acts": [0] * steps, "rews": [1.0] * steps}


def test_bad_query_bodies_are_422_naming_the_field_and_store_nothing(app: App) -> None:
    good = {"env_id": "Toy-v0", "pairs": [{"a": _segment(0), "b": _segment(1), "gold": None}]}
    cases: list[tuple[dict | list | bytes, str]] = [
        ({**good, "env_id": ""}, "env_id:"),
        ({**good, "env_id": 3}, "env_id:"),
        ({"pairs": good["pairs"]}, "env_id: is missing"),
        ({**good, "pairs": []}, "pairs: is a list of 0"),
        ({**good, "extra": 1}, "extra: is not a field"),
        ({**good, "run": 5}, "run:"),
        ([good], "is a JSON list"),
        (b'{"env_id": "Toy-v0", "pairs": [', "not valid JSON"),
        ({**good, "pairs": [good["pairs"][0], {"a": _segment(0)}]}, "pairs[1].b: is missing"),
        ({**good, "pairs": [{**good["pairs"][0], "gold": 0.7}]}, "pairs[0].gold:"),
        ({**good, "pairs": [{**good["pairs"][0], "gold": True}]}, "pairs[0].gold:"),
        (
            {**good, "pairs": [{"a": {**_segment(0), "obs": [[0.0, 1.0], [float("nan"), 0.0]]}, "b": _segment(1)}]},
            "pairs[0].a.obs: holds nan",
        ),
        ({**good, "pairs": [{"a": {**_segment(0), "obs": [[0.0, 1.0], [0.0]]}, "b": _segment(1)}]}, "pairs[0].a:"),
        ({**good, "pairs": [{"a": {**_segment(0), "obs": [["x", "y"], ["z", "w"]]}, "b": _segment(1)}]}, "pairs[0].a.obs: has dtype"),
        ({**good, "pairs": [{"a": {**_segment(0), "acts": [0]}, "b": _segment(1)}]}, "pairs[0].a.obs: has 2 steps for 1 actions"),
        ({**good, "pairs": [{"a": {**_segment(0), "rews": [1.0]}, "b": _segment(1)}]}, "pairs[0].a.rews: has shape (1,)"),
        ({**good, "pairs": [{"a": {**_segment(0), "obs": 3}, "b": _segment(1)}]}, "pairs[0].a.obs: is int"),
        ({**good, "pairs": [{"a": _segment(0), "b": _segment(1, steps=3)}]}, "pairs[0]: a has 2 steps"),
        ({**good, "pairs": [{"a": {**_segment(0), "colour": 1}, "b": _segment(1)}]}, "pairs[0].a.colour: is not a field"),
    ]
    before = _counts(app.db)
    with app.client("olga") as olga, app.client("ada") as ada:
        for body, message in cases:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()  # NaN as the JSON extension NaN
            response = olga.post("/api/queries", content=raw, headers={"content-type": "application/json"})
            assert response.status_code == 422, (body, response.text)
            assert message in response.json()["error"], (message, response.json())
        assert olga.post("/api/queries", content=b"env_id=x").status_code == 415
        assert ada.post("/api/queries", json=good).status_code == 403  # an annotator cannot post
        assert ada.get("/api/answers", params={"ids": "1"}).status_code == 403
        for ids, status in (("", 422), ("1,x", 422), ("-1", 422), (str(2**70), 422), ("99999", 404)):
            response = olga.get("/api/answers", params={"ids": ids})
            assert response.status_code == status and response.json()["error"].startswith("ids:"), (ids, response.text)
        assert olga.get("/api/answers").status_code == 422
        assert _counts(app.db) == before
        made = olga.post("/api/queries", json={**good, "run": "r1", "pairs": [{**good["pairs"][0], "gold": 1}]})
        assert made.status_code == 201
        [q] = made.json()["queries"]
        assert _sql(app.db, f"SELECT gold FROM queries WHERE id = {q}") == [(1.0,)]
        assert olga.get("/api/answers", params={"ids": str(q)}).json() == {"answers": {str(q): []}}


def test_queries_have_their_own_body_limit_in_process(tmp_path: Path) -> None:
    """A query body over the label limit (16 KiB) but under ``max_query_body`` is taken; one over it is 413
    and stores nothing; labels keep their own limit."""
    from fastapi.testclient import TestClient

    from rewardlab.labeling.server import create_app

    with open_store(tmp_path / "labels.db") as store:
        token = store.add_annotator("olga", "operator")
        client = TestClient(create_app(store, max_query_body=200_000), headers={"Authorization": f"Bearer {token}"})
        body = {"env_id": "Toy-v0", "pairs": [{"a": _segment(0, 700), "b": _segment(1, 700)}]}
        assert 16 * 1024 < len(json.dumps(body)) < 200_000
        assert client.post("/api/queries", json=body).status_code == 201
        huge = {"env_id": "Toy-v0", "pairs": [{"a": _segment(0, 3000), "b": _segment(1, 3000)}]}
        response = client.post("/api/queries", json=huge)
        assert response.status_code == 413 and "over 200000 bytes; post fewer pairs" in response.json()["error"]
        padded = client.post("/api/label", json={"assignment": 1, "choice": "left", "pad": "x" * 20_000})
        assert padded.status_code == 413 and "send one label at a time" in padded.json()["error"]
        assert store.counts()["segments"] == 2


def _pendulum(seed: int, steps: int = 4) -> Segment:
    rng = np.random.default_rng(seed)
    theta = rng.uniform(-np.pi, np.pi) + 0.1 * np.arange(steps)
    obs = np.stack([np.cos(theta), np.sin(theta), np.full(steps, 0.5)], axis=1)
    return Segment(obs, rng.uniform(-2, 2, (steps, 1)), -(theta**2))


def test_the_server_renders_the_clips_of_what_it_holds_and_of_what_is_posted(tmp_path: Path) -> None:
    """Pendulum-v1: one pair in the store before the server starts, one posted; both pairs' clips get
    rendered into RUN/clips and recorded, and GET /api/next names them; an env clips cannot be drawn
    for is refused (422) by a rendering server."""
    import av

    db = tmp_path / "labels.db"
    with open_store(db) as store:
        a, b = store.add_segments([_pendulum(0), _pendulum(1)], env_id="Pendulum-v1")
        store.add_queries([(a, b)])
        tokens = {"olga": store.add_annotator("olga", "operator"), "ada": store.add_annotator("ada")}
    server = _serve(db, where=("--run", str(tmp_path)))
    app = App(tmp_path, db, server, tokens)
    try:
        with app.teacher(env_id="Pendulum-v1") as teacher:
            ids = teacher.post([(_pendulum(2), _pendulum(3))])
            with pytest.raises(ValidationError, match="env_id: 'Toy-v0' is not an environment clips can be drawn for; use one of"):
                LabelServerTeacher(server.url, tokens["olga"], env_id="Toy-v0").post(_pairs(1, np.random.default_rng(0)))
            wrong = Segment(np.zeros((4, 2)), np.zeros((4, 1)))
            with pytest.raises(
                ValidationError, match=r"pairs\[0\]\.a: a segment with observations \(2,\) .* cannot be drawn for Pendulum-v1"
            ):
                teacher.post([(wrong, wrong)])
            assert _counts(db) == (4, 2)
        deadline = time.monotonic() + 60
        while _sql(db, "SELECT count(*) FROM segments WHERE clip_path IS NULL")[0][0] and time.monotonic() < deadline:
            time.sleep(0.1)
        with open_store(db) as store:
            names = [f"{clip_name(k, store.segment(k), 'Pendulum-v1')}.mp4" for k in range(1, 5)]
        assert _sql(db, "SELECT id, clip_path FROM segments ORDER BY id") == list(zip(range(1, 5), names, strict=True))
        assert sorted(p.name for p in (tmp_path / "clips").iterdir()) == sorted(names)
        with app.client("ada") as ada:
            for _ in range(2):
                job = ada.get("/api/next").json()
                for side in ("left", "right"):
                    assert job[side]["clip"] == f"/api/clips/{job[side]['segment']}.mp4"
                    clip = ada.get(job[side]["clip"])
                    assert clip.status_code == 200
                    with av.open(io.BytesIO(clip.content)) as container:
                        stream = container.streams.video[0]
                        assert stream.codec_context.name == "h264" and sum(1 for _ in container.decode(stream)) == 4
                ada.post("/api/label", json={"assignment": job["assignment"], "choice": "equal"})
        assert int(ids[0]) == 2
    finally:
        server.stop()


def _wait(condition: Callable[[], bool], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def test_the_clip_keeper_records_what_renders_and_keeps_what_cannot(tmp_path: Path) -> None:
    """In process: a Pendulum segment renders (into a subdirectory of the served clips, recorded relative to it);
    one of the wrong shape and one of an env clips cannot be drawn for stay without a clip, with the reason
    kept; a segment another process adds later is found and rendered; a restarted app records a clip already
    on disk without rendering it again; a renderer outside the clips directory is refused."""
    from rewardlab.labeling.clips import ClipRenderer
    from rewardlab.labeling.server import create_app

    bad_shape = Segment(np.zeros((4, 2)), np.zeros((4, 1)))
    with open_store(tmp_path / "labels.db") as store:
        good, wrong = store.add_segments([_pendulum(0), bad_shape], env_id="Pendulum-v1")
        [toy] = store.add_segments([bad_shape], env_id="Toy-v0")
        with pytest.raises(ConfigError, match="outside the clips directory"):
            create_app(store, clips_dir=tmp_path / "served", renderer=ClipRenderer(tmp_path / "elsewhere"))
        renderer = ClipRenderer(tmp_path / "served" / "clips")
        keeper_app = create_app(store, clips_dir=tmp_path / "served", renderer=renderer)
        keeper = keeper_app.state.clip_keeper
        try:
            assert _wait(lambda: store.clip_path(good) is not None and len(keeper.failed) == 2)
            name = clip_name(good, _pendulum(0), "Pendulum-v1")
            assert store.clip_path(good) == f"clips/{name}.mp4" and (tmp_path / "served" / "clips" / f"{name}.mp4").is_file()
            assert store.clip_path(wrong) is None and "ShapeError" in keeper.failed[wrong]
            assert store.clip_path(toy) is None and "'Toy-v0' is not an environment" in keeper.failed[toy]
            # a query over a segment whose clip failed: GET /api/next says why on that side, and a skip moves on
            from fastapi.testclient import TestClient

            [query] = store.add_queries([(good, wrong)])
            token = store.add_annotator("ada")
            client = TestClient(keeper_app, headers={"Authorization": f"Bearer {token}"})
            job = client.get("/api/next").json()
            sides = {job[k]["segment"]: job[k] for k in ("left", "right")}
            assert "error" not in sides[good] and sides[good]["clip"] == f"/api/clips/{good}.mp4"
            assert sides[wrong]["clip"] is None and "its clip could not be rendered" in sides[wrong]["error"]
            assert client.post("/api/label", json={"assignment": job["assignment"], "choice": "skip"}).status_code == 201
            assert store.answers([query]) == {query: ["skipped"]} and client.get("/api/next").json()["assignment"] is None
            with open_store(tmp_path / "labels.db") as other:  # another process's store object
                [late] = other.add_segments([_pendulum(1)], env_id="Pendulum-v1")
            assert _wait(lambda: store.clip_path(late) is not None)  # found by a rescan (every 2 s)
            assert store.unrendered() == [(wrong, "Pendulum-v1"), (toy, "Toy-v0")]
        finally:
            keeper.stop()
            renderer.close()
        late_name = clip_name(late, _pendulum(1), "Pendulum-v1")
        clip = tmp_path / "served" / "clips" / f"{late_name}.mp4"
        written = clip.stat().st_mtime_ns
        with sqlite3.connect(tmp_path / "labels.db") as conn:  # as if killed between writing the clip and recording it
            conn.execute(f"UPDATE segments SET clip_path = NULL WHERE id = {late}")
        renderer = ClipRenderer(tmp_path / "served" / "clips")
        keeper = create_app(store, clips_dir=tmp_path / "served", renderer=renderer).state.clip_keeper
        try:
            assert _wait(lambda: store.clip_path(late) == f"clips/{late_name}.mp4")
            assert clip.stat().st_mtime_ns == written  # not rendered again
        finally:
            keeper.stop()
            renderer.close()

        # a new database over the same clips directory: its segment 1 is another segment, so the clip of the old
        # segment 1 is not taken for it (its name holds a digest of the segment) and a new one is rendered
        (tmp_path / "labels.db").unlink()
        with open_store(tmp_path / "labels.db") as fresh:
            [first] = fresh.add_segments([_pendulum(5)], env_id="Pendulum-v1")
            assert first == good
            renderer = ClipRenderer(tmp_path / "served" / "clips")
            keeper = create_app(fresh, clips_dir=tmp_path / "served", renderer=renderer).state.clip_keeper
            try:
                assert _wait(lambda: fresh.clip_path(first) is not None)
                new_name = clip_name(first, _pendulum(5), "Pendulum-v1")
                assert new_name != name and fresh.clip_path(first) == f"clips/{new_name}.mp4"
                assert (tmp_path / "served" / "clips" / f"{name}.mp4").is_file()  # the old clip is left alone, not served
            finally:
                keeper.stop()
                renderer.close()


def test_answers_wait_through_a_server_restart(tmp_path: Path) -> None:
    """The server is killed after the queries are posted and started again on the same port while the teacher
    waits: the wait goes on and returns the answers given after the restart. A server that fails (its store's
    labels table dropped behind its back: 500) is a :class:`LabelServerError` with the server's message, and
    one that stays away a :class:`ConfigError` naming it, each once the timeout has passed."""
    db = tmp_path / "labels.db"
    with open_store(db) as store:
        tokens = {"olga": store.add_annotator("olga", "operator"), "ada": store.add_annotator("ada")}
    port = _free_port()
    server = _serve(db, port=port, where=("--db", str(db), "--no-render"))
    pairs = _pairs(2, np.random.default_rng(4))
    restarted: list[Server] = []

    def restart_and_answer() -> None:
        time.sleep(0.5)
        restarted.append(_serve(db, port=port, where=("--db", str(db), "--no-render")))
        app = App(tmp_path, db, restarted[0], tokens)
        with app.client("ada") as c, open_store(db) as store:
            while (job := c.get("/api/next").json())["assignment"] is not None:
                left, right = store.segment(job["left"]["segment"]), store.segment(job["right"]["segment"])
                c.post("/api/label", json={"assignment": job["assignment"], "choice": _oracle(job, left, right)})

    try:
        with LabelServerTeacher(server.url, tokens["olga"], env_id="Toy-v0", poll=0.1) as teacher:
            ids = teacher.post(pairs)
            server.stop(signal.SIGKILL)
            helper = threading.Thread(target=restart_and_answer, daemon=True)
            helper.start()
            got = teacher.answers(ids, timeout=30)
            helper.join(timeout=30)
            assert got.labels.tolist() == [1.0 if a.ret > b.ret else 0.0 for a, b in pairs]
            assert teacher.answers([f"00{i}" for i in ids], timeout=0).labels.tolist() == got.labels.tolist()  # ids are numbers
            with sqlite3.connect(db) as conn:  # the store fails behind the server's back: 500
                conn.execute("DROP TABLE labels")
            start = time.monotonic()
            with pytest.raises(LabelServerError, match=r"500: internal error \(OperationalError\)"):
                teacher.answers(ids, timeout=0.3)
            assert time.monotonic() - start >= 0.2  # asked again until the timeout
            restarted[0].stop()
            start = time.monotonic()
            with pytest.raises(ConfigError, match="cannot be reached"):
                teacher.answers(ids, timeout=0.5)
            assert 0.3 <= time.monotonic() - start < 5
    finally:
        server.stop(signal.SIGKILL)
        for s in restarted:
            s.stop(signal.SIGKILL)
