"""Preference data types (issue 19): Preference / PreferenceDataset / Ranking, their files, TRL export,
import of plain tables, and the errors on bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from rewardlab.data import (
    SKIPPED,
    Preference,
    PreferenceDataset,
    Ranking,
    Segment,
    Trajectory,
    TrajectoryDataset,
    import_pairs,
    load_preferences,
    save_preferences,
    to_trl,
)
from rewardlab.errors import ConfigError, DataFileError, ShapeError, ValidationError
from rewardlab.prefs.losses import bradley_terry_log_likelihood

T, OBS, ACT = 4, (3,), (2,)


def _segment(rng: np.random.Generator, rews: bool = True) -> Segment:
    return Segment(rng.normal(size=(T, *OBS)).astype(np.float32), rng.normal(size=(T, *ACT)), rews=rng.normal(size=T) if rews else None)


def _dataset(rews: bool = True) -> PreferenceDataset:
    """Every label, annotators and times present and absent, both sides."""
    rng = np.random.default_rng(0)
    specs = [
        (1.0, "ann-1", 10.0, 12.25, True),
        (0.0, None, None, None, False),
        (0.5, "ann-2", 1.7e9 + 0.125, 1.7e9 + 3.5, True),
        (SKIPPED, "ann-1", 20.0, None, False),
    ]
    return PreferenceDataset(
        [
            Preference(_segment(rng, rews), _segment(rng, rews), y, annotator=n, shown_at=s, answered_at=a, left_first=l)
            for y, n, s, a, l in specs
        ],
        env_id="Toy-v0",
    )


def _same(x: PreferenceDataset, y: PreferenceDataset) -> bool:
    """Exact equality: fields, array values and dtypes."""
    if len(x) != len(y) or x.env_id != y.env_id:
        return False
    for p, q in zip(x, y, strict=True):
        if (p.label, p.annotator, p.shown_at, p.answered_at, p.left_first) != (
            q.label,
            q.annotator,
            q.shown_at,
            q.answered_at,
            q.left_first,
        ):
            return False
        for s, t in ((p.a, q.a), (p.b, q.b)):
            for u, v in ((s.obs, t.obs), (s.acts, t.acts)):
                if u.dtype != v.dtype or not np.array_equal(u, v):
                    return False
            if (s.rews is None) != (t.rews is None) or (s.rews is not None and not np.array_equal(s.rews, t.rews)):
                return False
    return True


# ----------------------------------------------------------------------------- the types
def test_label_convention_is_the_bradley_terry_target() -> None:
    """label 1.0 = a preferred: with R_a > R_b the log-likelihood of the label is the higher one."""
    a = Segment(np.zeros((2, 1)), np.zeros(2), rews=[1.0, 1.0])
    b = Segment(np.zeros((2, 1)), np.zeros(2), rews=[0.0, 0.0])
    ds = PreferenceDataset([Preference(a, b, 1.0), Preference(a, b, 0.0)])
    logit = torch.tensor([p.a.ret - p.b.ret for p in ds])
    ll = bradley_terry_log_likelihood(logit, torch.tensor(ds.labels()))
    assert ll[0] > ll[1]
    assert ll[0].item() == pytest.approx(np.log(1 / (1 + np.exp(-2.0))))


def test_dataset_views_labels_segments_filter_append_concat_slice() -> None:
    ds = _dataset()
    assert len(ds) == 4 and ds.length == T and ds.obs_shape == OBS and ds.act_shape == ACT
    labels = ds.labels()
    assert labels[:3].tolist() == [1.0, 0.0, 0.5] and np.isnan(labels[3])
    assert ds.skipped_mask().tolist() == [False, False, False, True] and ds.n_skipped == 1
    answered = ds.answered()
    assert len(answered) == 3 and answered.env_id == "Toy-v0" and not np.isnan(answered.labels()).any()
    batch = ds.segments()
    assert batch.obs_a.shape == (4, T, *OBS) and batch.acts_b.shape == (4, T, *ACT) and batch.rews_a.shape == (4, T)
    assert np.array_equal(batch.obs_b[2], ds[2].b.obs) and batch.obs_a.dtype == np.float32
    assert _dataset(rews=False).segments().rews_a is None
    grown = PreferenceDataset(env_id="Toy-v0")
    assert grown.length is None
    for p in ds:
        grown.append(p)
    assert _same(grown, ds)
    joined = ds[:2] + ds[2:]
    assert isinstance(ds[1:], PreferenceDataset) and _same(joined, ds) and len(ds) == 4
    assert [p.label for p in iter(ds)][:3] == [1.0, 0.0, 0.5]


def test_arrays_are_read_only_copies() -> None:
    obs = np.zeros((2, 1))
    seg = Segment(obs, np.zeros(2))
    obs[0, 0] = 5.0
    assert seg.obs[0, 0] == 0.0
    with pytest.raises(ValueError, match="read-only"):
        seg.obs[0, 0] = 1.0


def test_a_trajectory_is_taken_as_a_segment_without_its_final_observation() -> None:
    tr = Trajectory(np.arange(4.0).reshape(4, 1), np.zeros(3), rews=np.ones(3))
    p = Preference(tr, tr, 0.5)
    assert p.a.obs[:, 0].tolist() == [0.0, 1.0, 2.0] and p.a.ret == 3.0


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("label", [2.0, -1, 0.3, float("nan"), "yes", True, None])
def test_labels_outside_the_set_are_refused(label: object) -> None:
    seg = Segment(np.zeros((2, 1)), np.zeros(2))
    with pytest.raises(ValidationError, match=r"^label: .*Fix: label each pair 1.0 \(a preferred\), 0.0 \(b preferred\), 0.5"):
        Preference(seg, seg, label)  # type: ignore[arg-type]


def test_mismatched_segment_shapes_and_lengths_are_refused() -> None:
    seg = Segment(np.zeros((2, 1)), np.zeros(2))
    with pytest.raises(ShapeError, match=r"^b: has 3 steps, a has 2"):
        Preference(seg, Segment(np.zeros((3, 1)), np.zeros(3)), 1.0)
    with pytest.raises(ShapeError, match=r"^b.obs: has per-step shape \(2,\), a.obs has \(1,\)"):
        Preference(seg, Segment(np.zeros((2, 2)), np.zeros(2)), 1.0)
    with pytest.raises(ShapeError, match=r"^b.acts: has per-step shape \(1,\)"):
        Preference(seg, Segment(np.zeros((2, 1)), np.zeros((2, 1))), 1.0)
    with pytest.raises(ShapeError, match=r"^obs: has 3 steps for 2 actions"):
        Segment(np.zeros((3, 1)), np.zeros(2))
    with pytest.raises(ShapeError, match=r"^rews: has shape \(3,\)"):
        Segment(np.zeros((2, 1)), np.zeros(2), rews=np.zeros(3))
    ds = PreferenceDataset([Preference(seg, seg, 1.0)])
    with pytest.raises(ShapeError, match=r"^preferences\[1\].a: has 3 steps, the dataset's segments 2"):
        ds.append(Preference(Segment(np.zeros((3, 1)), np.zeros(3)), Segment(np.zeros((3, 1)), np.zeros(3)), 1.0))
    with pytest.raises(ShapeError, match=r"^preferences\[1\].a.obs: has per-step shape \(2,\)"):
        ds.extend([Preference(Segment(np.zeros((2, 2)), np.zeros(2)), Segment(np.zeros((2, 2)), np.zeros(2)), 1.0)])
    assert len(ds) == 1  # nothing added
    with pytest.raises(ValidationError, match=r"^env_id: is 'B-v0' in one dataset, 'A-v0' in the other"):
        PreferenceDataset(env_id="A-v0") + PreferenceDataset(env_id="B-v0")


def test_nan_observations_and_bad_times_are_refused() -> None:
    obs = np.zeros((3, 2))
    obs[1, 1] = np.nan
    with pytest.raises(ValidationError, match=r"^obs: holds nan at step 1\. Fix: pass finite values"):
        Segment(obs, np.zeros(3))
    seg = Segment(np.zeros((2, 1)), np.zeros(2))
    with pytest.raises(ValidationError, match=r"^answered_at: is 1.0, before shown_at 2.0"):
        Preference(seg, seg, 1.0, shown_at=2.0, answered_at=1.0)
    with pytest.raises(ValidationError, match=r"^shown_at: is inf"):
        Preference(seg, seg, 1.0, shown_at=float("inf"))
    with pytest.raises(ValidationError, match=r"^annotator: is a int"):
        Preference(seg, seg, 1.0, annotator=3)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- files
@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
@pytest.mark.parametrize("rews", [True, False])
def test_round_trip_is_exact(tmp_path: Path, fmt: str, rews: bool) -> None:
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    ds = _dataset(rews)
    save_preferences(ds, tmp_path / "p", format=fmt)
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == sorted(["preferences.json", "preferences.npz", f"preferences.{fmt}"])
    back = load_preferences(tmp_path / "p", expect_env="Toy-v0")
    assert _same(back, ds)
    assert back[3].skipped and back[2].shown_at == 1.7e9 + 0.125


def test_jsonl_table_content(tmp_path: Path) -> None:
    save_preferences(_dataset(), tmp_path / "p")
    rows = [json.loads(line) for line in (tmp_path / "p" / "preferences.jsonl").read_text().splitlines()]
    assert rows[0] == {
        "a": 0,
        "b": 1,
        "label": 1.0,
        "skipped": False,
        "annotator": "ann-1",
        "shown_at": 10.0,
        "answered_at": 12.25,
        "left_first": True,
    }
    assert rows[3]["label"] is None and rows[3]["skipped"] is True


def test_trl_export_content(tmp_path: Path) -> None:
    ds = _dataset()
    rows = to_trl(ds, tmp_path / "trl.jsonl")
    assert len(rows) == 3  # the skipped preference is left out
    assert rows[0]["chosen"] == {"obs": ds[0].a.obs.tolist(), "acts": ds[0].a.acts.tolist(), "rews": ds[0].a.rews.tolist()}
    assert rows[0]["rejected"]["obs"] == ds[0].b.obs.tolist() and rows[0]["tie"] is False
    assert rows[1]["chosen"]["obs"] == ds[1].b.obs.tolist() and rows[1]["rejected"]["obs"] == ds[1].a.obs.tolist()  # label 0: b won
    assert rows[2]["tie"] is True and rows[2]["chosen"]["acts"] == ds[2].a.acts.tolist()
    written = [json.loads(line) for line in (tmp_path / "trl.jsonl").read_text().splitlines()]
    assert written == rows


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_import_pairs_from_a_plain_table(tmp_path: Path, kind: str) -> None:
    rng = np.random.default_rng(1)
    obs, acts, rews = rng.normal(size=(5, T, *OBS)), rng.integers(0, 3, size=(5, T)), rng.normal(size=(5, T))
    np.savez(tmp_path / "seg.npz", obs=obs, acts=acts, rews=rews)
    table = [(0, 1, "1"), (4, 2, "0.5"), (3, 3, "0"), (2, 0, "skipped")]
    if kind == "csv":
        (tmp_path / "t.csv").write_text("a,b,label,annotator\n" + "".join(f"{a},{b},{y},{'x' if a else ''}\n" for a, b, y in table))
        path = tmp_path / "t.csv"
    else:
        lines = [
            json.dumps({"a": a, "b": b, "label": y if y == SKIPPED else float(y), **({"annotator": "x"} if a else {})}) for a, b, y in table
        ]
        (tmp_path / "t.jsonl").write_text("\n".join(lines) + "\n")
        path = tmp_path / "t.jsonl"
    ds = import_pairs(path, tmp_path / "seg.npz", "Toy-v0")
    assert ds.env_id == "Toy-v0" and len(ds) == 4
    assert ds.labels()[:3].tolist() == [1.0, 0.5, 0.0] and ds[3].skipped
    assert [p.annotator for p in ds] == [None, "x", "x", "x"]
    for p, (a, b, _) in zip(ds, table, strict=True):
        assert np.array_equal(p.a.obs, obs[a]) and np.array_equal(p.b.acts, acts[b]) and np.array_equal(p.b.rews, rews[b])
    assert ds[0].a.acts.dtype == acts.dtype


def test_a_failed_save_leaves_the_earlier_files_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = _dataset()
    save_preferences(old, tmp_path / "p")
    calls = {"n": 0}
    real = os.fsync

    def fsync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the .npz is flushed, the table is not
            raise OSError(28, "No space left on device")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError, match="No space"):
        save_preferences(old[:2], tmp_path / "p")
    monkeypatch.undo()
    assert _same(load_preferences(tmp_path / "p"), old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]


# ----------------------------------------------------------------------------- bad files
def test_wrong_env_on_load(tmp_path: Path) -> None:
    save_preferences(_dataset(), tmp_path / "p")
    with pytest.raises(
        DataFileError, match=r"env_id is 'Toy-v0', expected 'Pendulum-v1'\. Fix: load the preferences recorded in Pendulum-v1"
    ):
        load_preferences(tmp_path / "p", expect_env="Pendulum-v1")


def test_missing_files(tmp_path: Path) -> None:
    save_preferences(_dataset(), tmp_path / "p")
    (tmp_path / "p" / "preferences.jsonl").unlink()
    with pytest.raises(DataFileError, match=r"preferences.jsonl: missing\. Fix"):
        load_preferences(tmp_path / "p")
    with pytest.raises(
        DataFileError, match=r"preferences.json: missing\. Fix: point at a directory written by rewardlab.data.save_preferences"
    ):
        load_preferences(tmp_path / "nothing")
    np.savez(tmp_path / "seg.npz", obs=np.zeros((2, T, 1)), acts=np.zeros((2, T)))
    with pytest.raises(DataFileError, match=r"t.csv: missing"):
        import_pairs(tmp_path / "t.csv", tmp_path / "seg.npz", None)
    (tmp_path / "t.csv").write_text("a,b,label\n0,1,1\n")
    with pytest.raises(DataFileError, match=r"none.npz: missing"):
        import_pairs(tmp_path / "t.csv", tmp_path / "none.npz", None)


def test_bad_labels_and_shapes_in_files(tmp_path: Path) -> None:
    save_preferences(_dataset(), tmp_path / "p")
    path = tmp_path / "p" / "preferences.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[1]["label"] = 0.7
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataFileError, match=r"preferences.jsonl: row 1: label: is 0.7\. Fix: label each pair"):
        load_preferences(tmp_path / "p")
    save_preferences(_dataset(), tmp_path / "q")
    with np.load(tmp_path / "q" / "preferences.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["acts"] = arrays["acts"][:, :2]
    np.savez(tmp_path / "q" / "preferences.npz", **arrays)
    with pytest.raises(DataFileError, match=r"'obs' has shape \(8, 4, 3\), 'acts' \(8, 2, 2\): \(segments, T\) differ"):
        load_preferences(tmp_path / "q")


def test_import_errors_name_the_row_and_column(tmp_path: Path) -> None:
    obs = np.zeros((3, T, 1))
    obs[2, 1, 0] = np.nan
    np.savez(tmp_path / "seg.npz", obs=obs, acts=np.zeros((3, T)))
    cases = {
        "a,b,label\n0,1,1\n1,3,0\n": r"t.csv: column 'b': holds 3 at row 1, outside the segment indices of seg.npz \[0, 3\)\. Fix: use indices of the 3 segments",
        "a,b,label\n0,-1,1\n": r"column 'b': holds -1 at row 0",
        "a,b,label\n0,1,2\n": r"t.csv: row 0: label: is 2.0\. Fix: label each pair",
        "a,b,label\n0,1,maybe\n": r"t.csv: row 0: 'label' is 'maybe'",
        "a,b\n0,1\n": r"t.csv: row 0: has no 'label'",
        "a,label\n0,1\n": r"t.csv: row 0: has no 'b'",
        "a,b,label\nx,1,1\n": r"t.csv: row 0: 'a' is 'x', not int",
        "a,b,label\n0,2,1\n": r"seg.npz: segment 2 \(row 0, b\): obs: holds nan at step 1",
    }
    for text, message in cases.items():
        (tmp_path / "t.csv").write_text(text)
        with pytest.raises(DataFileError, match=message):
            import_pairs(tmp_path / "t.csv", tmp_path / "seg.npz", "Toy-v0")


def test_saving_refuses_an_empty_dataset_and_an_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"^dataset: is empty"):
        save_preferences(PreferenceDataset(), tmp_path / "p")
    with pytest.raises(ConfigError, match=r"^format: is 'csv'\. Fix: choose one of \['jsonl', 'parquet'\]"):
        save_preferences(_dataset(), tmp_path / "p", format="csv")
    assert not (tmp_path / "p").exists()


# ----------------------------------------------------------------------------- rankings
def _trs(n: int, ranks: list[float] | None = None) -> list[Trajectory]:
    return [Trajectory(np.full(3, float(i)), np.zeros(2), infos={} if ranks is None else {"rank": ranks[i]}) for i in range(n)]


def test_ranking_pairs_on_a_hand_example() -> None:
    """Worst first: scores 1, 2, 2, 5: pairs (i < j) with P(i ≻ j): 0 when j is better, 0.5 for the tie."""
    first, second, label = Ranking(_trs(4), scores=[1.0, 2.0, 2.0, 5.0]).pairs()
    assert list(zip(first.tolist(), second.tolist(), label.tolist(), strict=True)) == [
        (0, 1, 0.0),
        (0, 2, 0.0),
        (0, 3, 0.0),
        (1, 2, 0.5),
        (1, 3, 0.0),
        (2, 3, 0.0),
    ]
    first, second, label = Ranking(_trs(3)).pairs()  # no scores: a strict order
    assert list(zip(first.tolist(), second.tolist(), label.tolist(), strict=True)) == [(0, 1, 0.0), (0, 2, 0.0), (1, 2, 0.0)]
    assert len(Ranking(_trs(4), scores=[1.0, 2.0, 2.0, 5.0]).pairs(ties=False)[0]) == 5


def test_ranking_from_dataset_reads_infos_rank_and_sorts_worst_first() -> None:
    ds = TrajectoryDataset(_trs(4, ranks=[3, 0, 2, 0]))
    r = Ranking.from_dataset(ds)
    assert r.scores.tolist() == [0.0, 0.0, 2.0, 3.0]
    assert [float(tr.obs[0]) for tr in r] == [1.0, 3.0, 2.0, 0.0]  # stable: the two rank-0 keep their order
    assert [tr.infos["rank"] for tr in r.to_dataset()] == [0.0, 0.0, 2.0, 3.0]
    assert len(r[1:]) == 3 and r[1:].scores.tolist() == [0.0, 2.0, 3.0]
    with pytest.raises(ValidationError, match=r"has no 'rank'"):
        Ranking.from_dataset(TrajectoryDataset(_trs(2)))
    with pytest.raises(ValidationError, match=r"^scores: decrease from 2.0 at 0 to 1.0 at 1\. Fix: order the trajectories worst first"):
        Ranking(_trs(2), scores=[2.0, 1.0])


def test_resaving_in_the_other_format_leaves_one_table(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    ds = _dataset()
    save_preferences(ds, tmp_path / "p", format="parquet")
    (tmp_path / "p" / "notes.txt").write_text("kept")
    save_preferences(ds[:2], tmp_path / "p", format="jsonl")
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["notes.txt", "preferences.json", "preferences.jsonl", "preferences.npz"]
    assert _same(load_preferences(tmp_path / "p"), ds[:2])
