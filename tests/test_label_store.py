"""The labelling app's store (rewardlab.labeling.store) on a real SQLite file, and on a throwaway
PostgreSQL server where one can be started here."""

from __future__ import annotations

import hashlib
import socket
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sqlalchemy")
pytest.importorskip("alembic")

from rewardlab.data import Preference, PreferenceDataset, Segment, load_preferences, save_preferences
from rewardlab.errors import ConfigError, DataFileError, ValidationError
from rewardlab.labeling import AlreadyAnswered, Annotator, NotFound, NotYours, Store, open_store
from rewardlab.labeling.store import Base, NextPage, choice_label, migrate


def _segments(n: int, length: int = 3) -> list[Segment]:
    """``n`` distinct segments ``(length, 2)`` observations, ``(length,)`` actions, with rewards."""
    return [Segment(np.full((length, 2), float(k)), np.arange(length) % 2, rews=np.full(length, float(k))) for k in range(n)]


def _seed(left_is_a: bool) -> int:
    """A seed whose generator's first draw gives that side order."""
    return next(s for s in range(100) if (np.random.default_rng(s).random() < 0.5) == left_is_a)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sql(path: Path, query: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(query).fetchall()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "labels.db"


@pytest.fixture
def store(db: Path) -> Iterator[Store]:
    s = open_store(db)
    yield s
    s.close()


def _one_query(store: Store, gold: float | None = None) -> int:
    a, b = store.add_segments(_segments(2), env_id="Toy-v0")
    return store.add_queries([(a, b)], gold=None if gold is None else [gold])[0]


# -- schema and file -----------------------------------------------------------------------------------


def test_migrations_create_the_schema_and_reopening_changes_nothing(db: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    store = open_store(db)
    tables = {r[0] for r in _sql(db, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"alembic_version", "annotators", "segments", "queries", "assignments", "labels"}
    assert _sql(db, "SELECT version_num FROM alembic_version") == [("0002",)]
    with store.engine.connect() as conn:  # the models are exactly what the migrations built
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    [labels_sql] = _sql(db, "SELECT sql FROM sqlite_master WHERE name = 'labels'")
    assert "CONSTRAINT ck_labels_choice CHECK" in labels_sql[0] and "CONSTRAINT uq_labels_assignment_id UNIQUE" in labels_sql[0]
    store.add_annotator("ada")
    _one_query(store)
    before = store.counts()
    store.close()

    again = open_store(f"sqlite:///{db}")
    assert _sql(db, "SELECT version_num FROM alembic_version") == [("0002",)]
    assert again.counts() == before == {"annotators": 1, "segments": 2, "queries": 1, "assignments": 0, "labels": 0}
    assert migrate(again.engine) == "0002"
    again.close()


def test_migration_0002_counts_the_assignments_a_0001_store_holds(db: Path) -> None:
    """A store written by the first schema (three queries; the second assigned twice, the third once;
    one assignment answered) gains each query's assignment count and each assignment's answered flag,
    and the least-assigned query is handed out first."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    config = Config()
    config.set_main_option("script_location", str(Path(migrate.__code__.co_filename).parent / "migrations"))
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    engine.dispose()
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO annotators (id, name, token_hash, role, created_at) VALUES (?, ?, ?, 'annotator', 0)",
            [(k, f"a{k}", f"{k:064d}") for k in (1, 2, 3)],
        )
        conn.executemany("INSERT INTO segments (id, run, length, obs, acts, created_at) VALUES (?, '', 1, x'', x'', 0)", [(1,), (2,)])
        conn.executemany("INSERT INTO queries (id, segment_a, segment_b, created_at) VALUES (?, 1, 2, 0)", [(1,), (2,), (3,)])
        conn.executemany(
            "INSERT INTO assignments (query_id, annotator_id, left_is_a, shown_at) VALUES (?, ?, 1, 0)", [(2, 1), (2, 2), (3, 1)]
        )
        conn.execute("INSERT INTO labels (assignment_id, value, choice, answered_at) VALUES (2, 1.0, 'left', 1)")
    store = open_store(db)
    assert _sql(db, "SELECT version_num FROM alembic_version") == [("0002",)]
    assert _sql(db, "SELECT id, assigned FROM queries ORDER BY id") == [(1, 0), (2, 2), (3, 1)]
    indexes = {r[0] for r in _sql(db, "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix_%'")}
    assert indexes == {"ix_queries_assigned", "ix_assignments_annotator_id_query_id", "ix_assignments_annotator_id_answered"}
    assert _sql(db, "SELECT id, answered FROM assignments ORDER BY id") == [(1, 0), (2, 1), (3, 0)]
    a1 = Annotator(1, "a1", "annotator")  # their oldest open one (id 1) comes back; 2 open + 1 new left
    job = store.next_assignment(a1, np.random.default_rng(0))
    assert job is not None and job.id == 1 and store.progress(a1) == (0, 3)
    cleo = store.authenticate(store.add_annotator("cleo"))
    assert cleo is not None
    order = []
    while (job := store.next_assignment(cleo, np.random.default_rng(0))) is not None:
        store.record_label(job.id, cleo, "skip")
        order.append(job.query_id)
    assert order == [1, 3, 2]
    assert _sql(db, "SELECT id, assigned FROM queries ORDER BY id") == [(1, 1), (2, 3), (3, 2)]
    store.close()


def test_sqlite_runs_in_wal_mode(store: Store, db: Path) -> None:
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert _sql(db, "PRAGMA journal_mode") == [("wal",)]  # WAL is a property of the file


def test_open_store_refuses_an_in_memory_database_and_a_bad_url() -> None:
    with pytest.raises(ConfigError, match="in-memory"):
        open_store("sqlite://")
    with pytest.raises(ConfigError, match="url"):
        open_store("nosuchdialect+x://host/db")


def test_open_store_refuses_a_file_that_is_not_a_database_and_an_unknown_revision(tmp_path: Path, db: Path) -> None:
    text = tmp_path / "notes.db"
    text.write_text("not a database, " * 100)
    with pytest.raises(DataFileError, match="not a readable SQLite database"):
        open_store(text)
    open_store(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(DataFileError, match="revision is unknown"):
        open_store(db)
    pytest.importorskip("psycopg")
    with pytest.raises(DataFileError, match="cannot be opened"):
        open_store(f"postgresql+psycopg://nobody@127.0.0.1:{_free_port()}/none")


# -- annotators ---------------------------------------------------------------------------------------


def test_tokens_are_stored_only_as_hashes(store: Store, db: Path) -> None:
    token = store.add_annotator("ada")
    op_token = store.add_annotator("olga", role="operator")
    assert len(token) >= 40 and token != op_token
    assert store.authenticate(token) == store.annotators()[0]
    assert store.authenticate(token).name == "ada" and store.authenticate(op_token).role == "operator"
    assert store.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert store.authenticate("") is None and store.authenticate(None) is None
    files = b"".join(p.read_bytes() for p in db.parent.iterdir() if p.name.startswith(db.name))
    for t in (token, op_token):
        assert t.encode() not in files
        assert hashlib.sha256(t.encode()).hexdigest().encode() in files  # the search does see the stored hash
    with pytest.raises(ValidationError, match="taken"):
        store.add_annotator("ada")
    with pytest.raises(ValidationError, match="role"):
        store.add_annotator("bob", role="admin")
    assert store.counts()["annotators"] == 2


def test_an_accepted_token_is_remembered_for_a_few_seconds(store: Store, db: Path) -> None:
    """authenticate remembers a token it accepted (known_token reads that memory only), for
    AUTH_CACHE_SECONDS: an annotator removed by another process is refused once that has passed."""
    import time

    token = store.add_annotator("ada")
    assert store.known_token(token) is None  # not asked yet
    ada = store.authenticate(token)
    assert ada is not None and store.known_token(token) == ada and store.known_token(token + "x") is None
    store.AUTH_CACHE_SECONDS = 0.3
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM annotators")  # another process removes her
    assert store.authenticate(token) == ada  # within the time: from memory
    time.sleep(0.35)
    assert store.known_token(token) is None and store.authenticate(token) is None
    assert store.authenticate("nope") is None and store.known_token(None) is None


# -- assignments and labels --------------------------------------------------------------------------------


def test_side_order_is_drawn_from_the_rng_per_assignment_and_recorded(store: Store, db: Path) -> None:
    ids = store.add_segments(_segments(8), env_id="Toy-v0")
    queries = store.add_queries([(ids[k], ids[k + 1]) for k in range(7)])
    ada = store.authenticate(store.add_annotator("ada"))
    assert ada is not None
    rng, twin = np.random.default_rng(3), np.random.default_rng(3)
    sides = []
    for q in queries:
        job = store.next_assignment(ada, rng)
        assert job is not None and job.query_id == q
        assert store.next_assignment(ada, np.random.default_rng(99)) == job  # unanswered: the same one, same sides
        assert {job.left, job.right} == {job.a, job.b} and (job.left == job.a) == job.left_is_a
        sides.append(job.left_is_a)
        store.record_label(job.id, ada, "skip")
    assert sides == [bool(twin.random() < 0.5) for _ in queries]
    assert 0 < sum(sides) < len(sides)
    assert [bool(r[0]) for r in _sql(db, "SELECT left_is_a FROM assignments ORDER BY id")] == sides
    assert store.next_assignment(ada, rng) is None


@pytest.mark.parametrize("left_is_a", [True, False])
@pytest.mark.parametrize(
    ("choice", "if_a_left", "if_a_right"),
    [("left", 1.0, 0.0), ("right", 0.0, 1.0), ("equal", 0.5, 0.5), ("cant_tell", "skipped", "skipped"), ("skip", "skipped", "skipped")],
)
def test_a_choice_is_stored_as_p_a_beats_b_after_undoing_the_sides(
    store: Store, db: Path, choice: str, if_a_left: object, if_a_right: object, left_is_a: bool
) -> None:
    q = _one_query(store)
    ada = store.authenticate(store.add_annotator("ada"))
    assert ada is not None
    job = store.next_assignment(ada, np.random.default_rng(_seed(left_is_a)), shown_at=100.0)
    assert job is not None and job.left_is_a == left_is_a
    expected = if_a_left if left_is_a else if_a_right
    assert store.record_label(job.id, ada, choice, answered_at=102.5) == expected == choice_label(choice, left_is_a)
    value = None if expected == "skipped" else expected
    assert _sql(db, "SELECT value, choice, answered_at FROM labels") == [(value, choice, 102.5)]
    assert store.answers([q]) == {q: [expected]}
    [record] = store.answer_records()
    assert (record.annotator, record.choice, record.left_is_a, record.shown_at, record.answered_at) == (
        "ada",
        choice,
        left_is_a,
        100.0,
        102.5,
    )
    [pref] = store.export()
    assert (pref.label, pref.left_first, pref.annotator, pref.shown_at, pref.answered_at) == (expected, left_is_a, "ada", 100.0, 102.5)


def test_refused_answers_raise_and_store_nothing(store: Store, db: Path) -> None:
    q = _one_query(store)
    ada = store.authenticate(store.add_annotator("ada"))
    bob = store.authenticate(store.add_annotator("bob"))
    assert ada is not None and bob is not None
    job = store.next_assignment(ada, np.random.default_rng(0), shown_at=50.0)
    assert job is not None
    before = store.counts()
    assert before["labels"] == 0 and before["assignments"] == 1
    refusals = [
        (NotFound, lambda: store.record_label(job.id + 100, ada, "left")),
        (NotYours, lambda: store.record_label(job.id, bob, "left")),
        (ValidationError, lambda: store.record_label(job.id, ada, "up")),
        (ValidationError, lambda: store.record_label(job.id, ada, 1)),
        (ValidationError, lambda: store.record_label(job.id, ada, "left", answered_at=49.0)),
        (ValidationError, lambda: store.record_label(job.id, ada, "left", answered_at=float("nan"))),
        (ValidationError, lambda: store.record_label("1", ada, "left")),
    ]
    for error, call in refusals:
        with pytest.raises(error, match=r"assignment_id|choice|answered_at"):
            call()
        assert store.counts() == before
    first = store.record_label(job.id, ada, "left", answered_at=51.0)
    after = store.counts()
    with pytest.raises(AlreadyAnswered, match="answered already"):
        store.record_label(job.id, ada, "right", answered_at=52.0)
    assert store.counts() == after and after["labels"] == 1
    assert store.answers([q]) == {q: [first]}
    assert _sql(db, "SELECT choice, answered_at FROM labels") == [("left", 51.0)]
    assert issubclass(NotFound, ValidationError) and issubclass(NotYours, ValidationError) and issubclass(AlreadyAnswered, ValidationError)
    with pytest.raises(NotFound, match="query_ids"):
        store.answers([q + 1])


def test_a_label_is_committed_before_record_label_returns(store: Store, db: Path) -> None:
    _one_query(store)
    ada = store.authenticate(store.add_annotator("ada"))
    assert ada is not None
    job = store.next_assignment(ada, np.random.default_rng(0))
    assert job is not None
    store.record_label(job.id, ada, "equal")
    assert _sql(db, "SELECT value FROM labels") == [(0.5,)]  # another connection sees it: committed


def test_several_annotators_answer_one_query_each_with_their_own_sides(store: Store) -> None:
    q = _one_query(store)
    people = [store.authenticate(store.add_annotator(n)) for n in ("ada", "bob", "cy")]
    jobs = []
    for k, who in enumerate(people):
        assert who is not None
        job = store.next_assignment(who, np.random.default_rng(_seed(k % 2 == 0)))
        assert job is not None and job.query_id == q and job.annotator_id == who.id
        jobs.append(job)
    assert [j.left_is_a for j in jobs] == [True, False, True]
    for who, job in zip(people, jobs, strict=True):
        assert who is not None
        store.record_label(job.id, who, "left")  # each preferred whatever was on their left
    assert store.answers([q]) == {q: [1.0, 0.0, 1.0]}
    assert [p.annotator for p in store.export()] == ["ada", "bob", "cy"]
    # per_query caps the annotators of a query
    other = store.add_queries([(1, 2)])[0]
    got = [store.next_assignment(w, np.random.default_rng(0), per_query=2) for w in people if w is not None]
    assert [g.query_id if g else None for g in got] == [other, other, None]


def test_gold_queries_keep_their_answer(store: Store, db: Path) -> None:
    a, b, c = store.add_segments(_segments(3), env_id="Toy-v0")
    plain, gold = store.add_queries([(a, b), (b, c)], gold=[None, 0.0])
    assert _sql(db, "SELECT id, gold FROM queries ORDER BY id") == [(plain, None), (gold, 0.0)]
    ada = store.authenticate(store.add_annotator("ada"))
    assert ada is not None
    for _ in range(2):
        job = store.next_assignment(ada, np.random.default_rng(0))
        assert job is not None
        store.record_label(job.id, ada, "equal")
    assert {r.query_id: r.gold for r in store.answer_records()} == {plain: None, gold: 0.0}
    assert len(store.export()) == 2 and len(store.export(gold=False)) == 1
    for bad, match in (("skipped", "answer"), (0.7, "gold"), ([1.0, 1.0], "one gold label")):
        with pytest.raises(ValidationError, match=match):
            store.add_queries([(a, c)], gold=bad if isinstance(bad, list) else [bad])
    with pytest.raises(NotFound):
        store.add_queries([(a, 99)])
    with pytest.raises(ValidationError, match="itself"):
        store.add_queries([(a, a)])
    assert store.counts()["queries"] == 2


def test_concurrent_annotators_and_a_raced_answer(store: Store) -> None:
    _concurrency(store)


def _concurrency(store: Store) -> None:
    """Six threads label 10 queries each at once (no errors, every query once per annotator); four
    threads answering one assignment at once store one label, the others get AlreadyAnswered."""
    from concurrent.futures import ThreadPoolExecutor

    ids = store.add_segments(_segments(11), env_id="Toy-v0")
    queries = store.add_queries([(ids[k], ids[k + 1]) for k in range(10)])
    people = [store.authenticate(store.add_annotator(f"a{k}")) for k in range(6)]

    def work(k: int) -> list[int]:
        who, rng, seen = people[k], np.random.default_rng(k), []
        assert who is not None
        while (job := store.next_assignment(who, rng)) is not None:
            store.record_label(job.id, who, "left")
            seen.append(job.query_id)
        return seen

    with ThreadPoolExecutor(6) as pool:
        done = list(pool.map(work, range(6)))
    assert all(sorted(d) == queries for d in done)
    assert store.counts()["labels"] == store.counts()["assignments"] == 60
    assert all(len(v) == 6 for v in store.answers(queries).values())

    [q] = store.add_queries([(ids[0], ids[2])])
    who = people[0]
    assert who is not None
    job = store.next_assignment(who, np.random.default_rng(0))
    assert job is not None and job.query_id == q

    def answer(choice: str) -> str:
        try:
            store.record_label(job.id, who, choice)
            return "stored"
        except AlreadyAnswered:
            return "refused"

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(answer, ["left", "right", "equal", "skip"]))
    assert sorted(results) == ["refused"] * 3 + ["stored"]
    assert len(store.answers([q])[q]) == 1

    # per_query holds under concurrency: six new annotators at once, two annotators per query
    fresh = store.add_queries([(ids[k], ids[k + 2]) for k in range(1, 9)])
    crowd = [store.authenticate(store.add_annotator(f"b{k}")) for k in range(6)]
    start = threading.Barrier(6)

    def capped(k: int) -> list[int]:
        who, rng, seen = crowd[k], np.random.default_rng(k), []
        assert who is not None
        start.wait()
        while (job := store.next_assignment(who, rng, per_query=2)) is not None:
            store.record_label(job.id, who, "equal")
            seen.append(job.query_id)
        return seen

    with ThreadPoolExecutor(6) as pool:
        got = [q for seen in pool.map(capped, range(6)) for q in seen]
    assert sorted(got) == sorted([*fresh, *fresh, q])  # each query up to the cap (q had one), none over it
    assert all(len(v) == 2 for v in store.answers([*fresh, q]).values())


# -- export ----------------------------------------------------------------------------------------------


def test_export_round_trips_through_save_and_load_preferences(store: Store, tmp_path: Path) -> None:
    segs = _segments(4)
    ids = store.add_segments(segs, env_id="Toy-v0", run="run-1")
    queries = store.add_queries([(ids[0], ids[1]), (ids[2], ids[3]), (ids[1], ids[2])])
    ada, bob = (store.authenticate(store.add_annotator(n)) for n in ("ada", "bob"))
    assert ada is not None and bob is not None
    rng, t = np.random.default_rng(5), 1000.0
    for who, choices in ((ada, ["left", "right", "cant_tell"]), (bob, ["equal", "left", "skip"])):
        for choice in choices:
            job = store.next_assignment(who, rng, shown_at=t)
            assert job is not None
            store.record_label(job.id, who, choice, answered_at=t + 1.5)
            t += 2.0
    ds = store.export()
    assert isinstance(ds, PreferenceDataset) and ds.env_id == "Toy-v0" and len(ds) == 6 and ds.n_skipped == 2
    assert len(store.export(skipped=False)) == 4 and len(store.export(queries[:1])) == 2
    first = ds[0]
    assert np.array_equal(first.a.obs, segs[0].obs) and np.array_equal(first.b.acts, segs[1].acts)
    assert np.array_equal(first.a.rews, segs[0].rews)
    back = load_preferences(save_preferences(ds, tmp_path / "prefs"))
    assert back.env_id == "Toy-v0" and len(back) == len(ds)
    for p, q in zip(ds, back, strict=True):
        assert (p.label, p.annotator, p.shown_at, p.answered_at, p.left_first) == (
            q.label,
            q.annotator,
            q.shown_at,
            q.answered_at,
            q.left_first,
        )
        assert np.array_equal(p.a.obs, q.a.obs) and np.array_equal(p.b.acts, q.b.acts) and np.array_equal(p.b.rews, q.b.rews)


def test_exported_labels_train_trex(store: Store) -> None:
    """Labels given through the store (by side) train T-REX like any preference dataset: on a 4-state
    chain, staying in state 1 beats 0, 3 beats 1, 1 ties with 2; the learned reward orders them."""
    import torch

    from rewardlab.mdp.worlds import chain
    from rewardlab.prefs import TREX, TREXConfig

    ids = store.add_segments([Segment(np.full(3, s), np.zeros(3, int)) for s in range(4)], env_id=None)
    pairs, truth = [(ids[1], ids[0]), (ids[3], ids[1]), (ids[1], ids[2])], [1.0, 1.0, 0.5]
    store.add_queries(pairs)
    ada = store.authenticate(store.add_annotator("ada"))
    assert ada is not None
    rng = np.random.default_rng(0)
    while (job := store.next_assignment(ada, rng)) is not None:
        label = truth[pairs.index((job.a, job.b))]
        choice = "equal" if label == 0.5 else ("left" if job.left_is_a else "right")
        store.record_label(job.id, ada, choice)
    ds = store.export()
    assert ds.labels().tolist() == truth
    mdp = chain(4, discount=0.9).replace(features=torch.eye(4))
    r = TREX(TREXConfig(steps=300, lr=0.05, validation=0.0)).fit(ds, mdp, rng=np.random.default_rng(0)).reward.values
    assert bool(r[3] > r[1] > r[0]) and abs(float(r[1] - r[2])) < 0.05 * float(r[3] - r[0])


def test_export_of_a_store_with_two_envs_needs_env_id(store: Store) -> None:
    a, b = store.add_segments(_segments(2), env_id="Toy-v0")
    c, d = store.add_segments(_segments(2, length=4), env_id="Other-v0")
    store.add_queries([(a, b), (c, d)])
    with pytest.raises(ValidationError, match=r"pairs\[0\].*one env"):
        store.add_queries([(a, c)])
    with pytest.raises(ValidationError, match="env_id"):
        store.export()
    assert store.export(env_id="Other-v0").env_id == "Other-v0"


# -- PostgreSQL (the throwaway server of tests/conftest.py) ---------------------------------------------------


def test_the_store_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    store = open_store(postgres_url)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all() == ["0002"]
    token = store.add_annotator("ada")
    ada, bob = store.authenticate(token), store.authenticate(store.add_annotator("bob"))
    assert ada is not None and bob is not None and ada.name == "ada"
    ids = store.add_segments(_segments(3), env_id="Toy-v0")
    q, gold = store.add_queries([(ids[0], ids[1]), (ids[1], ids[2])], gold=[None, 1.0])
    job = store.next_assignment(ada, np.random.default_rng(_seed(False)), shown_at=10.0)
    assert job is not None and job.query_id == q and not job.left_is_a
    assert store.record_label(job.id, ada, "left", answered_at=11.0) == 0.0
    before = store.counts()
    for error, call in (
        (AlreadyAnswered, lambda: store.record_label(job.id, ada, "right")),
        (NotYours, lambda: store.record_label(job.id, bob, "right")),
        (NotFound, lambda: store.record_label(job.id + 50, ada, "right")),
        (ValidationError, lambda: store.record_label(job.id, ada, "sideways")),
    ):
        with pytest.raises(error):
            call()
        assert store.counts() == before
    second = store.next_assignment(ada, np.random.default_rng(_seed(True)), shown_at=12.0)
    assert second is not None and second.query_id == gold
    assert store.record_label(second.id, ada, "cant_tell", answered_at=13.0) == "skipped"
    assert store.answers([q, gold]) == {q: [0.0], gold: ["skipped"]}
    ds = store.export()
    assert [(p.label, p.left_first, p.annotator) for p in ds] == [(0.0, False, "ada"), ("skipped", True, "ada")]
    assert isinstance(ds[0], Preference) and len(load_preferences(save_preferences(ds, tmp_path / "p"))) == 2
    store.close()
    again = open_store(postgres_url)  # reopening migrates nothing and keeps everything
    assert again.counts() == {"annotators": 2, "segments": 3, "queries": 2, "assignments": 2, "labels": 2}
    with again.engine.begin() as conn:  # start empty for the concurrency check
        conn.exec_driver_sql("TRUNCATE labels, assignments, queries, segments, annotators RESTART IDENTITY CASCADE")
    _concurrency(again)
    again.close()


def test_next_page_is_next_assignment_progress_and_clip_paths_at_once(store: Store, tmp_path: Path) -> None:
    """What GET /api/next answers, read together: the same assignment, progress and clip paths as the
    three calls one by one."""
    segments = store.add_segments(_segments(4), env_id="Toy-v0")
    first, second = store.add_queries([(segments[0], segments[1]), (segments[2], segments[3])])
    store.set_clip(segments[1], tmp_path / "1.mp4")
    ada, bob = (store.authenticate(store.add_annotator(name)) for name in ("ada", "bob"))
    assert ada is not None and bob is not None
    page = store.next_page(ada, np.random.default_rng(_seed(False)))
    assert page.assignment is not None and page.assignment.query_id == first and not page.assignment.left_is_a
    assert page.assignment == store.next_assignment(ada, np.random.default_rng(1))  # the open one, same sides
    assert (page.answered, page.left) == store.progress(ada) == (0, 2)
    assert page.clips == store.clip_paths([segments[0], segments[1]]) == {segments[0]: None, segments[1]: str(tmp_path / "1.mp4")}
    assert store.next_page(ada, np.random.default_rng(2)) == page
    store.record_label(page.assignment.id, ada, "left")
    page = store.next_page(ada, np.random.default_rng(3))
    assert page.assignment is not None and page.assignment.query_id == second
    assert (page.answered, page.left, page.clips) == (1, 1, {segments[2]: None, segments[3]: None})
    store.record_label(page.assignment.id, ada, "skip")
    assert store.next_page(ada, np.random.default_rng(4)) == NextPage(None, 2, 0, {})
    assert store.next_page(bob, np.random.default_rng(5), per_query=1) == NextPage(None, 0, 0, {})  # ada holds both
    with pytest.raises(ValidationError, match="per_query"):
        store.next_page(bob, np.random.default_rng(5), per_query=0)


def test_a_label_cycle_runs_few_statements_whatever_the_store_holds(store: Store) -> None:
    """What a server runs per request stays small and does not grow with the labels: a new assignment
    with progress and clip paths (next_page) is 6 statements in 2 transactions, an answer 3 in 2 (the
    check outside the write lock), a cached token none."""
    from sqlalchemy import event

    segments = store.add_segments(_segments(10), env_id="Toy-v0")
    store.add_queries([(segments[i], segments[j]) for i in range(10) for j in range(10) if i != j])
    token = store.add_annotator("ada")
    ada = store.authenticate(token)
    assert ada is not None
    ran: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda conn, cursor, sql, *rest: ran.append(sql.split()[0].upper()))
    rng = np.random.default_rng(0)
    for n in range(40):
        ran.clear()
        page = store.next_page(ada, rng)
        assert page.assignment is not None and (page.answered, page.left) == (n, 90 - n)
        assert sorted(ran) == ["BEGIN", "BEGIN", "INSERT", "SELECT", "SELECT", "SELECT", "SELECT", "UPDATE"], ran
        ran.clear()
        store.record_label(page.assignment.id, ada, "left")
        assert sorted(ran) == ["BEGIN", "BEGIN", "INSERT", "SELECT", "UPDATE"], ran
    ran.clear()
    assert store.authenticate(token) == ada and ran == []


def test_progress_was_shown_and_clip_paths(store: Store, tmp_path: Path) -> None:
    """What the server reads per request: an annotator's (answered, left), whether a segment is in one of
    their assignments, and several clip paths at once."""
    segments = store.add_segments(_segments(4), env_id="Toy-v0")
    store.add_queries([(segments[0], segments[1]), (segments[2], segments[3])])
    ada, bob = (store.authenticate(store.add_annotator(name)) for name in ("ada", "bob"))
    assert ada is not None and bob is not None
    assert store.progress(ada) == (0, 2) and store.progress(ada, per_query=1) == (0, 2)
    job = store.next_assignment(ada, np.random.default_rng(0))
    assert job is not None and store.progress(ada) == (0, 2)  # the open assignment still counts as left
    assert store.progress(bob, per_query=1) == (0, 1)  # ada holds one query already
    store.record_label(job.id, ada, "equal")
    assert store.progress(ada) == (1, 1)
    assert [store.was_shown(ada, s) for s in segments] == [s in (job.a, job.b) for s in segments]
    assert not any(store.was_shown(bob, s) for s in segments)
    store.set_clip(segments[1], tmp_path / "1.mp4")
    assert store.clip_paths([segments[1], segments[0]]) == {segments[1]: str(tmp_path / "1.mp4"), segments[0]: None}
    with pytest.raises(NotFound, match="segment_ids: holds 999"):
        store.clip_paths([segments[0], 999])
