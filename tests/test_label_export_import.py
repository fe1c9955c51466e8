"""Offline labelling end to end: ``rewardlab label import`` puts saved Pendulum-v1 segment pairs into the store,
scripted annotators answer them through a real ``rewardlab label serve`` process (like the oracle teacher, from
the segments' true rewards), ``rewardlab label export`` writes the answers as a preference dataset, and T-REX
trained on that export orders held-out pairs well above chance. Also: gold queries, clips rendered on import,
``serve --per-query/--seed``, and the errors of bad files and options."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from typer.testing import CliRunner  # noqa: E402

from rewardlab.cli import app  # noqa: E402
from rewardlab.data import PreferenceDataset, Segment, load_preferences, save_preferences  # noqa: E402
from rewardlab.data.gym_rollouts import collect_rollouts  # noqa: E402
from rewardlab.labeling import open_store  # noqa: E402
from rewardlab.labeling.clips import clip_name  # noqa: E402
from rewardlab.prefs.fragments import RandomFragmenter, labelled_preferences  # noqa: E402
from rewardlab.prefs.teachers import SimulatedTeacher, teacher_preset  # noqa: E402
from rewardlab.prefs.trex import TREX, TrajectoryEncoder, TREXConfig, predicted_returns  # noqa: E402
from test_label_server import _serve  # noqa: E402

runner = CliRunner()


def _pendulum_pairs(n: int, seed: int, length: int = 20) -> PreferenceDataset:
    """``n`` oracle-labelled pairs of ``length``-step segments of 8 Pendulum-v1 episodes of random torques."""
    rng = np.random.default_rng(seed)
    rollouts = collect_rollouts(
        "Pendulum-v1", lambda obs: rng.uniform(-2, 2, size=(len(obs), 1)).astype(np.float32), 8, seed=1000 * seed, max_steps=100
    )
    pairs = RandomFragmenter(length).fragment(rollouts, n, rng=rng)
    labels = SimulatedTeacher(teacher_preset("oracle")).label(*pairs.rewards(), rng=rng)
    return labelled_preferences(pairs, labels, env_id="Pendulum-v1")


def _sql(db: Path, query: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(query).fetchall()


def _cli(*args: object) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, " ".join(result.output.split())


@dataclass
class Labelled:
    run: Path
    pairs: PreferenceDataset
    tokens: dict[str, str]
    answers: dict[str, int]
    import_output: str


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Labelled]:
    """120 saved pairs imported (10 gold), then answered over HTTP: ada answers every query like the oracle
    (the side she saw undone), bob answers 30 and skips every third."""
    tmp = tmp_path_factory.mktemp("offline")
    pairs = _pendulum_pairs(120, seed=0)
    save_preferences(pairs, tmp / "pairs")
    run = tmp / "run"
    code, out = _cli("label", "import", tmp / "pairs", "--run", run, "--gold", 10, "--seed", 3, "--no-render")
    assert code == 0, out
    with open_store(run / "labels.db") as store:
        tokens = {name: store.add_annotator(name) for name in ("ada", "bob")}
        returns = {sid: float(store.segment(sid).rews.sum()) for (sid,) in _sql(run / "labels.db", "SELECT id FROM segments")}
    server = _serve(run / "labels.db", where=("--run", str(run)))
    answers = {"ada": 0, "bob": 0}
    try:
        for name, limit in (("ada", None), ("bob", 30)):
            with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {tokens[name]}"}, timeout=10) as client:
                while limit is None or answers[name] < limit:
                    job = client.get("/api/next").json()
                    if job["assignment"] is None:
                        break
                    left, right = returns[job["left"]["segment"]], returns[job["right"]["segment"]]
                    choice = (
                        "skip"
                        if name == "bob" and answers[name] % 3 == 2
                        else "left"
                        if left > right
                        else "right"
                        if right > left
                        else "equal"
                    )
                    assert client.post("/api/label", json={"assignment": job["assignment"], "choice": choice}).status_code == 201
                    answers[name] += 1
    finally:
        server.stop()
    yield Labelled(run, pairs, tokens, answers, out)


def _content(segment: Segment) -> bytes:
    return segment.obs.tobytes() + segment.acts.tobytes()


def test_import_stores_segments_and_queries_without_answers_and_flags_gold(labelled: Labelled) -> None:
    """Equal fragments (random windows can coincide) are one segment, equal pairs one query; gold queries keep the file's label."""
    db = labelled.run / "labels.db"
    n_segments = len({_content(s) for p in labelled.pairs for s in (p.a, p.b)})
    first_label = {}
    for p in labelled.pairs:
        first_label.setdefault((_content(p.a), _content(p.b)), p.label)
    assert f"imported 120 pairs: {n_segments} segments, {len(first_label)} queries (10 gold)" in labelled.import_output
    assert _sql(db, "SELECT count(*) FROM queries") == [(len(first_label),)]
    gold = _sql(db, "SELECT segment_a, segment_b, gold FROM queries WHERE gold IS NOT NULL")
    assert len(gold) == 10
    with open_store(db) as store:
        for a, b, value in gold:
            assert value == first_label[(_content(store.segment(a)), _content(store.segment(b)))]
        first = store.segment(1)
        assert np.array_equal(first.obs, labelled.pairs[0].a.obs) and np.array_equal(first.rews, labelled.pairs[0].a.rews)
    sources = _sql(db, "SELECT DISTINCT env_id, source, run FROM segments")
    assert sources == [("Pendulum-v1", str((labelled.run.parent / "pairs").resolve()), str(labelled.run))]
    assert _sql(db, "SELECT count(*) FROM labels") == [(labelled.answers["ada"] + labelled.answers["bob"],)]  # only people's


def test_export_writes_every_answer_and_trex_on_it_beats_chance(labelled: Labelled, tmp_path: Path) -> None:
    code, out = _cli("label", "export", "--run", labelled.run, "--out", tmp_path / "all")
    assert code == 0, out
    exported = load_preferences(tmp_path / "all", expect_env="Pendulum-v1")
    total = labelled.answers["ada"] + labelled.answers["bob"]
    assert labelled.answers["bob"] == 30 and len(exported) == total and exported.n_skipped == 10
    assert f"wrote {total} preferences (10 skipped) of 2 annotators, env Pendulum-v1, to {tmp_path / 'all'}" in out
    assert {p.annotator for p in exported} == {"ada", "bob"} and {p.left_first for p in exported} == {True, False}
    assert all(p.answered_at >= p.shown_at for p in exported)  # type: ignore[operator]
    ada = [p for p in exported if p.annotator == "ada"]
    truth = np.array([1.0 if p.a.ret > p.b.ret else 0.0 if p.b.ret > p.a.ret else 0.5 for p in ada])
    assert np.array_equal(np.array([p.label for p in ada]), truth)  # the side order undone

    code, out = _cli(
        "label", "export", "--run", labelled.run, "--out", tmp_path / "kept", "--no-skipped", "--no-gold", "--format", "parquet"
    )
    assert code == 0, out
    kept = load_preferences(tmp_path / "kept")
    assert (tmp_path / "kept" / "preferences.parquet").exists() and kept.n_skipped == 0
    gold_answers = _sql(
        labelled.run / "labels.db",
        "SELECT count(*) FROM labels l JOIN assignments s ON s.id = l.assignment_id JOIN queries q ON q.id = s.query_id"
        " WHERE q.gold IS NOT NULL AND l.value IS NOT NULL",
    )[0][0]
    assert gold_answers > 0 and len(kept) == total - 10 - gold_answers

    fit = TREX(TREXConfig(hidden=(32, 32), steps=300, batch_size=32, lr=3e-3)).fit(exported, "Pendulum-v1", rng=np.random.default_rng(0))
    test = _pendulum_pairs(200, seed=1)
    returns = predicted_returns(fit.reward, test, TrajectoryEncoder.for_reward("Pendulum-v1", fit.reward)).reshape(-1, 2)
    strict = test.labels() != 0.5
    accuracy = float(((returns[:, 0] > returns[:, 1]) == (test.labels() == 1.0))[strict].mean())
    print(f"T-REX on the export: held-out accuracy {accuracy:.3f} on {int(strict.sum())} pairs")
    assert accuracy > 0.75  # chance is 0.5


def test_import_of_a_pairs_table_renders_the_clips(tmp_path: Path) -> None:
    """A .csv table over an .npz of segments: equal rows become one query, the clips are H.264 files the store records."""
    rng = np.random.default_rng(0)
    theta = rng.uniform(-3, 3, size=(3, 1)) + 0.1 * np.arange(6)
    obs = np.stack([np.cos(theta), np.sin(theta), np.ones_like(theta)], axis=-1)
    np.savez(tmp_path / "segments.npz", obs=obs, acts=np.zeros((3, 6, 1)))
    (tmp_path / "pairs.csv").write_text("a,b,label\n0,1,1\n1,2,skipped\n0,1,0\n2,0,0.5\n")
    run = tmp_path / "run"
    code, out = _cli(
        "label", "import", tmp_path / "pairs.csv", "--segments", tmp_path / "segments.npz", "--env", "Pendulum-v1", "--run", run
    )
    assert code == 0, out
    assert "imported 4 pairs: 3 segments, 3 queries (0 gold)" in out and f"rendered 3 clips into {run}/clips" in out
    rows = _sql(run / "labels.db", "SELECT id, clip_path FROM segments ORDER BY id")
    with open_store(run / "labels.db") as store:
        names = [clip_name(i, store.segment(i), "Pendulum-v1") for i, _ in rows]
    assert [Path(p) for _, p in rows] == [(run / "clips" / f"{name}.mp4").resolve() for name in names]
    assert all(Path(p).read_bytes()[4:8] == b"ftyp" for _, p in rows)


def test_import_and_export_errors_name_the_fix(tmp_path: Path) -> None:
    pairs = _pendulum_pairs(4, seed=2, length=5)
    save_preferences(pairs, tmp_path / "pairs")
    run = tmp_path / "run"
    cases = [
        (("label", "import", tmp_path / "nope", "--run", run), "nope: missing. Fix: pass a preference dataset directory"),
        (("label", "import", tmp_path / "pairs" / "preferences.jsonl", "--run", run), "--segments: is missing"),
        (("label", "import", tmp_path / "pairs", "--segments", tmp_path / "x.npz", "--run", run), "--segments: is given but"),
        (("label", "import", tmp_path / "pairs", "--run", run, "--env", "Hopper-v5"), "env_id is 'Pendulum-v1', expected 'Hopper-v5'"),
        (("label", "import", tmp_path / "pairs", "--db", run / "labels.db"), "--run: is missing: clips are rendered into RUN/clips"),
        (
            ("label", "import", tmp_path / "pairs", "--run", run, "--gold", 9, "--no-render"),
            "gold: is 9 but the dataset has 4 labelled pairs",
        ),
        (("label", "import", tmp_path / "pairs", "--no-render"), "--run: is missing (and so is --db)"),
        (("label", "export", "--run", run, "--out", tmp_path / "out"), "--out: would hold no preferences"),
    ]
    for args, message in cases:
        code, out = _cli(*args)
        assert code == 2 and message in out, (args, out)
    assert not (tmp_path / "out").exists()
    # a table whose label is outside the set, and one whose index is outside the .npz: the file, row and column
    np.savez(tmp_path / "seg.npz", obs=np.zeros((2, 3, 3)), acts=np.zeros((2, 3, 1)))
    (tmp_path / "bad.csv").write_text("a,b,label\n0,1,2\n")
    (tmp_path / "far.jsonl").write_text('{"a": 0, "b": 7, "label": 1}\n')
    (tmp_path / "same.csv").write_text("a,b,label\n0,1,1\n")
    code, out = _cli("label", "import", tmp_path / "bad.csv", "--segments", tmp_path / "seg.npz", "--env", "Pendulum-v1", "--run", run)
    assert code == 2 and "bad.csv: row 0" in out and "label" in out, out
    code, out = _cli("label", "import", tmp_path / "far.jsonl", "--segments", tmp_path / "seg.npz", "--env", "Pendulum-v1", "--run", run)
    assert code == 2 and "far.jsonl: column 'b'" in out, out
    code, out = _cli("label", "import", tmp_path / "same.csv", "--segments", tmp_path / "seg.npz", "--env", "Pendulum-v1", "--run", run)
    assert code == 2 and "dataset[0]: compares a segment with itself (equal arrays)" in out, out  # seg.npz's two are equal
    # no env named anywhere; an env clips cannot be drawn for: refused before anything is stored
    np.savez(tmp_path / "cart.npz", obs=np.arange(24.0).reshape(2, 3, 4), acts=np.zeros((2, 3), np.int64))
    (tmp_path / "ok.csv").write_text("a,b,label\n0,1,1\n")
    code, out = _cli("label", "import", tmp_path / "ok.csv", "--segments", tmp_path / "cart.npz", "--run", run)
    assert code == 2 and "--env ID" in out, out
    code, out = _cli("label", "import", tmp_path / "ok.csv", "--segments", tmp_path / "cart.npz", "--env", "CartPole-v1", "--run", run)
    assert code == 2 and "CartPole-v1" in out, out
    assert _sql(run / "labels.db", "SELECT count(*) FROM segments") == [(0,)]
    # two envs in one store: export names --env
    assert _cli("label", "import", tmp_path / "pairs", "--run", run, "--no-render")[0] == 0
    assert (
        _cli(
            "label", "import", tmp_path / "ok.csv", "--segments", tmp_path / "cart.npz", "--env", "CartPole-v1", "--run", run, "--no-render"
        )[0]
        == 0
    )
    code, out = _cli("label", "export", "--run", run, "--out", tmp_path / "out")
    assert code == 2 and "--env: is None but the store holds segments of ['CartPole-v1', 'Pendulum-v1']" in out, out


def test_serve_per_query_and_seed(tmp_path: Path) -> None:
    """--per-query 1 hands each query to one person; --seed S gives the same side orders on the same store."""
    orders = []
    for copy in ("one", "two"):
        run = tmp_path / copy
        with open_store(run / "labels.db") as store:
            segs = store.add_segments([pairs.a for pairs in _pendulum_pairs(8, seed=4, length=3)], env_id="Pendulum-v1")
            store.add_queries([(segs[k], segs[k + 1]) for k in range(0, 8, 2)])
            tokens = [store.add_annotator(name) for name in ("ada", "bob")]
        server = _serve(run / "labels.db", where=("--run", str(run), "--per-query", "1", "--seed", "7"))
        try:
            seen: dict[int, list[int]] = {0: [], 1: []}
            sides = []
            for turn in range(6):  # ada and bob take turns until nothing is left
                who = turn % 2
                with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {tokens[who]}"}, timeout=10) as client:
                    job = client.get("/api/next").json()
                    if job["assignment"] is None:
                        continue
                    seen[who].append(job["assignment"])
                    sides.append(job["left"]["segment"])
                    assert client.post("/api/label", json={"assignment": job["assignment"], "choice": "left"}).status_code == 201
        finally:
            server.stop()
        per_query = _sql(run / "labels.db", "SELECT query_id, count(*) FROM assignments GROUP BY query_id")
        assert [n for _, n in per_query] == [1, 1, 1, 1] and len(seen[0]) == len(seen[1]) == 2
        orders.append(sides)
    assert orders[0] == orders[1]
