"""The labelling API (rewardlab.labeling.server) against a real server process started with
``python -m rewardlab label serve``, driven over loopback with httpx; the store's database is read from
the test to check what was (and was not) stored. The tests that take ``label_backend`` (or ``setup``) run twice: on a SQLite
file and on a database of the throwaway PostgreSQL server of tests/conftest.py (skipped, with the reason,
where none can be started)."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")

import httpx

from rewardlab.data import Segment
from rewardlab.labeling import open_store

SRC = Path(__file__).resolve().parents[1] / "src"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sql(db: Path | str, query: str) -> list[tuple]:
    """The rows of ``query`` on the store ``db`` (a SQLite file, or a database URL), read on a new connection."""
    if isinstance(db, Path):
        with sqlite3.connect(db) as conn:
            return conn.execute(query).fetchall()  # committed on leaving
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(db, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            result = conn.exec_driver_sql(query)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def _labels(db: Path | str) -> int:
    return int(_sql(db, "SELECT count(*) FROM labels")[0][0])


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "rewardlab", *args], capture_output=True, text=True, timeout=60, env=env)


@dataclass
class Server:
    """A running ``rewardlab label serve`` process and where to reach it."""

    process: subprocess.Popen[bytes]
    url: str

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=20)


def _serve(db: Path | str, port: int | None = None, where: tuple[str, ...] = ()) -> Server:
    """Start the server on ``db`` (or on ``where``, e.g. ``("--run", DIR)``) and wait until it answers (any HTTP status)."""
    port = port or _free_port()
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "rewardlab", "label", "serve", *(where or ("--db", str(db))), "--port", str(port)]
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            httpx.get(f"{url}/api/next", timeout=1)
            return Server(process, url)
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError("the server did not answer within 30 s")


def _segments(n: int) -> list[Segment]:
    return [Segment(np.full((3, 2), float(k)), np.arange(3) % 2) for k in range(n)]


@dataclass
class Setup:
    db: Path | str
    server: Server
    tokens: dict[str, str]
    queries: list[int]
    segments: list[int]

    def client(self, who: str | None) -> httpx.Client:
        headers = {} if who is None else {"Authorization": f"Bearer {self.tokens[who]}"}
        return httpx.Client(base_url=self.server.url, headers=headers, timeout=10)


@pytest.fixture(scope="module")
def setup(new_label_db: Callable[[Path], Path | str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """A store with three annotators (two annotators, one operator) and three queries, served."""
    tmp = tmp_path_factory.mktemp("labels")
    db = new_label_db(tmp)
    with open_store(db) as store:
        segments = store.add_segments(_segments(4), env_id="Toy-v0")
        queries = store.add_queries([(segments[0], segments[1]), (segments[2], segments[3]), (segments[0], segments[3])])
        clip = tmp / "clip.mp4"
        clip.write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
        store.set_clip(segments[0], clip)
        tokens = {name: store.add_annotator(name) for name in ("ada", "bob")}
    done = _cli("label", "add-annotator", "olga", "--operator", "--db", str(db))  # the CLI prints the token alone on stdout
    assert done.returncode == 0 and "shown once" in done.stderr, done.stderr
    tokens["olga"] = done.stdout.strip()
    server = _serve(db)
    try:
        yield Setup(db, server, tokens, queries, segments)
    finally:
        server.stop()


def test_add_annotator_prints_a_token_that_is_stored_only_hashed(setup: Setup) -> None:
    import hashlib

    hashes = {row[0]: row[1] for row in _sql(setup.db, "SELECT name, token_hash FROM annotators")}
    for name, token in setup.tokens.items():
        assert len(token) >= 40 and "\n" not in token
        assert hashes[name] == hashlib.sha256(token.encode()).hexdigest() != token
    assert _sql(setup.db, "SELECT role FROM annotators WHERE name = 'olga'") == [("operator",)]


def test_no_token_or_a_bad_one_is_401_and_stores_nothing(setup: Setup) -> None:
    before = _sql(setup.db, "SELECT count(*) FROM assignments")[0][0], _labels(setup.db)
    body = {"assignment": 1, "choice": "left"}
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {setup.tokens['ada']}"}, {"Authorization": "Bearer"}):
        with httpx.Client(base_url=setup.server.url, headers=headers, timeout=10) as c:
            for response in (c.get("/api/next"), c.post("/api/label", json=body), c.get(f"/api/clips/{setup.segments[0]}.mp4")):
                assert response.status_code == 401, (headers, response.text)
                assert "error" in response.json() and response.headers["www-authenticate"] == "Bearer"
    with setup.client(None) as c:
        assert c.get("/api/next", params={"token": setup.tokens["ada"]}).status_code == 401  # the header only
    with httpx.Client(base_url=setup.server.url, cookies={"token": setup.tokens["ada"]}, timeout=10) as c:
        assert c.get("/api/next").status_code == 401
        assert c.get("/docs").status_code == 404 and c.get("/openapi.json").status_code == 404
    assert (_sql(setup.db, "SELECT count(*) FROM assignments")[0][0], _labels(setup.db)) == before


def test_an_annotator_labels_and_the_store_holds_it_after_undoing_the_sides(setup: Setup) -> None:
    with setup.client("ada") as ada:
        job = ada.get("/api/next").json()
        assert ada.get("/api/next").json() == job  # the same assignment until it is answered
        assert job["progress"] == {"answered": 0, "left": 3}
        [(a, b, left_is_a)] = _sql(
            setup.db,
            f"SELECT q.segment_a, q.segment_b, s.left_is_a FROM assignments s JOIN queries q ON q.id = s.query_id WHERE s.id = {job['assignment']}",
        )
        assert (job["left"]["segment"], job["right"]["segment"]) == ((a, b) if left_is_a else (b, a))
        response = ada.post("/api/label", json={"assignment": job["assignment"], "choice": "left"})
        assert response.status_code == 201 and response.json() == {"saved": True}
        assert _sql(setup.db, f"SELECT value, choice FROM labels WHERE assignment_id = {job['assignment']}") == [
            (1.0 if left_is_a else 0.0, "left")
        ]
        again = ada.post("/api/label", json={"assignment": job["assignment"], "choice": "right"})
        assert again.status_code == 409 and "answered already" in again.json()["error"]
        assert _sql(setup.db, f"SELECT choice FROM labels WHERE assignment_id = {job['assignment']}") == [("left",)]
        following = ada.get("/api/next").json()
        assert following["assignment"] != job["assignment"] and following["progress"] == {"answered": 1, "left": 2}


def test_another_annotators_assignment_is_403_and_unknown_is_404(setup: Setup) -> None:
    with setup.client("bob") as bob, setup.client("ada") as ada:
        job = bob.get("/api/next").json()
        before = _labels(setup.db)
        mine = ada.post("/api/label", json={"assignment": job["assignment"], "choice": "left"})
        assert mine.status_code == 403 and "another annotator" in mine.json()["error"]
        unknown = ada.post("/api/label", json={"assignment": 10_000, "choice": "left"})
        assert unknown.status_code == 404 and "not in the store" in unknown.json()["error"]
        for path in ("/api/clips/10000.mp4", f"/api/clips/{2**70}.mp4", "/api/clips/-1.mp4", "/api/clips/x.mp4", "/api/nowhere"):
            assert ada.get(path).status_code == 404, path
        assert _labels(setup.db) == before


def test_bad_bodies_are_refused_with_a_message_and_store_nothing(setup: Setup) -> None:
    with setup.client("bob") as bob:
        job = bob.get("/api/next").json()
        before = _labels(setup.db)
        cases = {
            422: [
                {"json": {"assignment": job["assignment"], "choice": "maybe"}},
                {"json": {"assignment": job["assignment"], "choice": 1}},
                {"json": {"assignment": str(job["assignment"]), "choice": "left"}},
                {"json": {"assignment": True, "choice": "left"}},
                {"json": {"assignment": 2**64, "choice": "left"}},
                {"json": {"assignment": -1, "choice": "left"}},
                {"content": b'{"assignment": ' + b"9" * 5000 + b', "choice": "left"}', "headers": {"content-type": "application/json"}},
                {"json": {"choice": "left"}},
                {"json": {"assignment": job["assignment"], "choice": "left", "value": 1.0}},
                {"json": [job["assignment"], "left"]},
                {"content": b'{"assignment": 1, "choice": "le', "headers": {"content-type": "application/json"}},
                {"content": b"\xff\xfe", "headers": {"content-type": "application/json"}},
            ],
            415: [{"data": {"assignment": str(job["assignment"]), "choice": "left"}}, {"content": b"{}"}],
            413: [{"json": {"assignment": job["assignment"], "choice": "left", "pad": "x" * 20_000}}],
        }
        for status, requests in cases.items():
            for kwargs in requests:
                response = bob.post("/api/label", **kwargs)  # type: ignore[arg-type]
                assert response.status_code == status, (kwargs, response.text)
                assert response.json()["error"], kwargs
        chunked = bob.post(
            "/api/label", content=iter([b"{" + b" " * 10_000, b" " * 10_000 + b"}"]), headers={"content-type": "application/json"}
        )
        assert chunked.status_code == 413  # no Content-Length: counted as it arrives
        assert _labels(setup.db) == before
        assert "choice: is 'maybe'" in bob.post("/api/label", json={"assignment": job["assignment"], "choice": "maybe"}).json()["error"]
        assert bob.post("/api/label", json={"assignment": job["assignment"], "choice": "skip"}).status_code == 201  # still answerable


def test_clips_are_served_only_for_the_callers_assignments(setup: Setup) -> None:
    with open_store(setup.db) as store:  # a new annotator, added while the server runs
        token = store.add_annotator("cleo")
    with httpx.Client(base_url=setup.server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as cleo:
        refused = cleo.get(f"/api/clips/{setup.segments[0]}.mp4")
        assert refused.status_code == 403 and "not in one of your assignments" in refused.json()["error"]
        job = cleo.get("/api/next").json()
        shown = {job["left"]["segment"], job["right"]["segment"]}
        for segment in setup.segments:
            response = cleo.get(f"/api/clips/{segment}.mp4")
            if segment not in shown:
                assert response.status_code == 403
            elif segment == setup.segments[0]:  # the only rendered one
                assert response.status_code == 200 and response.headers["content-type"] == "video/mp4"
                assert response.content.startswith(b"\x00\x00\x00\x18ftyp")
                assert job["left" if job["left"]["segment"] == segment else "right"]["clip"] == f"/api/clips/{segment}.mp4"
            else:
                assert response.status_code == 404 and response.json()["error"].endswith("not rendered yet; try again shortly")
                assert job["left" if job["left"]["segment"] == segment else "right"]["clip"] is None
    with setup.client("olga") as olga:  # an operator watches any clip
        assert olga.get(f"/api/clips/{setup.segments[0]}.mp4").status_code == 200


def test_the_operator_endpoint_needs_the_operator_token(setup: Setup) -> None:
    with setup.client("ada") as ada, setup.client("olga") as olga:
        refused = ada.get("/api/operator/counts")
        assert refused.status_code == 403 and "operator token" in refused.json()["error"]
        counts = olga.get("/api/operator/counts").json()
        assert counts["annotators"] >= 3 and counts["queries"] == 3 and counts["labels"] == _labels(setup.db)


def test_the_server_binds_to_loopback_by_default(setup: Setup) -> None:
    port = int(setup.server.url.rsplit(":", 1)[1])
    lines = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]] if Path("/proc/net/tcp").exists() else []
    listening = [fields[1] for fields in lines if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port]
    if not lines:
        pytest.skip("no /proc/net/tcp here to read the bound address from")
    assert listening == ["0100007F:" + f"{port:04X}"]  # 127.0.0.1


def test_cli_without_a_database_names_the_option() -> None:
    done = _cli("label", "serve")
    assert done.returncode == 2 and "--run" in done.stderr and "--db" in done.stderr


def test_no_acknowledged_label_is_lost_when_the_server_is_killed(new_label_db: Callable[[Path], Path | str], tmp_path: Path) -> None:
    """Four annotators post labels at once; the server is SIGKILLed while requests are in flight and
    restarted: every label a client saw a 201 for is in the database, and labelling goes on."""
    db = new_label_db(tmp_path)
    n, people = 40, 4
    with open_store(db) as store:
        segments = store.add_segments(_segments(2 * n), env_id="Toy-v0")
        store.add_queries([(segments[2 * k], segments[2 * k + 1]) for k in range(n)])
        tokens = [store.add_annotator(f"a{k}") for k in range(people)]
    server = _serve(db)
    acknowledged: list[int] = []
    broken: list[int] = []

    def annotate(token: str) -> None:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
            for _ in range(n):
                try:
                    job = client.get("/api/next").json()
                    if client.post("/api/label", json={"assignment": job["assignment"], "choice": "left"}).status_code == 201:
                        acknowledged.append(job["assignment"])
                except httpx.TransportError:
                    broken.append(1)
                    return

    threads = [threading.Thread(target=annotate, args=(t,), daemon=True) for t in tokens]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while len(acknowledged) < n and time.monotonic() < deadline:
            time.sleep(0.001)
        server.process.send_signal(signal.SIGKILL)  # mid-stream: the four clients are posting
        for t in threads:
            t.join(timeout=20)
        server.process.wait(timeout=20)
        assert server.process.returncode == -signal.SIGKILL and len(broken) == people
        assert n <= len(acknowledged) < people * n
        server = _serve(db)
        stored = {row[0] for row in _sql(db, "SELECT assignment_id FROM labels")}
        assert set(acknowledged) <= stored
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {tokens[0]}"}, timeout=10) as client:
            job = client.get("/api/next").json()  # and the server goes on from where it was
            answered = _sql(db, "SELECT count(*) FROM labels l JOIN assignments s ON s.id = l.assignment_id WHERE s.annotator_id = 1")
            assert job["progress"]["answered"] == answered[0][0]
            assert client.post("/api/label", json={"assignment": job["assignment"], "choice": "right"}).status_code == 201
    finally:
        server.stop(signal.SIGKILL)


def test_concurrent_annotators_label_without_errors(new_label_db: Callable[[Path], Path | str], label_backend: str, tmp_path: Path) -> None:
    """Six annotators label 15 queries each at once (a short form of the load test): every request
    succeeds, every query gets one label from each, and none twice. ``--run DIR`` puts the database
    at DIR/labels.db (SQLite)."""
    n_people, n_queries = 6, 15
    db = new_label_db(tmp_path)
    with open_store(db) as store:
        segments = store.add_segments(_segments(2 * n_queries), env_id="Toy-v0")
        store.add_queries([(segments[2 * k], segments[2 * k + 1]) for k in range(n_queries)])
        tokens = [store.add_annotator(f"a{k}") for k in range(n_people)]
    server = _serve(db, where=("--run", str(tmp_path)) if label_backend == "sqlite" else ())
    latencies: list[float] = []
    failures: list[str] = []

    def annotate(token: str) -> None:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            while True:
                job = client.get("/api/next").json()
                if job["assignment"] is None:
                    return
                start = time.perf_counter()
                response = client.post("/api/label", json={"assignment": job["assignment"], "choice": "equal"})
                latencies.append(time.perf_counter() - start)
                if response.status_code != 201:
                    failures.append(response.text)
                    return

    try:
        threads = [threading.Thread(target=annotate, args=(t,)) for t in tokens]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        server.stop()
    assert failures == [] and len(latencies) == n_people * n_queries
    rows = _sql(
        db,
        "SELECT s.query_id, s.annotator_id, count(*) FROM labels l JOIN assignments s ON s.id = l.assignment_id GROUP BY s.query_id, s.annotator_id",
    )
    assert len(rows) == n_people * n_queries and {r[2] for r in rows} == {1}
    assert float(np.percentile(latencies, 99)) < 2.0  # loose here (2 shared cores); benchmarks/ holds the real figure


def test_a_server_fault_is_a_json_500(new_label_db: Callable[[Path], Path | str], label_backend: str, tmp_path: Path) -> None:
    """A failure inside the store (here: its labels table dropped behind its back) answers 500 with
    ``{"error": ...}``, not a bare text page (in process: the fault cannot be made in a server process
    without reaching into it)."""
    from fastapi.testclient import TestClient

    from rewardlab.labeling.server import create_app

    db = new_label_db(tmp_path)
    with open_store(db) as store:
        a, b = store.add_segments(_segments(2), env_id="Toy-v0")
        store.add_queries([(a, b)])
        token = store.add_annotator("ada")
        client = TestClient(create_app(store), headers={"Authorization": f"Bearer {token}"}, raise_server_exceptions=False)
        job = client.get("/api/next").json()
        _sql(db, "DROP TABLE labels")
        response = client.post("/api/label", json={"assignment": job["assignment"], "choice": "left"})
        error = "OperationalError" if label_backend == "sqlite" else "ProgrammingError"  # PostgreSQL: undefined table
        assert response.status_code == 500 and response.json()["error"].startswith(f"internal error ({error})")


def test_the_page_and_its_files_are_served_without_a_token_and_read_nothing(setup: Setup) -> None:
    with setup.client(None) as c:
        page = c.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["content-security-policy"] and "blob:" in page.headers["content-security-policy"]
        assert 'src="static/label.js"' in page.text and "http" not in page.text.split("<body>")[1]  # no CDN
        script = c.get("/static/label.js")
        assert script.status_code == 200 and "javascript" in script.headers["content-type"] and "Authorization" in script.text
        assert c.get("/static/label.css").status_code == 200
        for path in ("/static/nope.js", "/static/../server.py", "/static/%2e%2e/server.py"):
            response = c.get(path)
            assert response.status_code == 404 and "error" in response.json(), path
