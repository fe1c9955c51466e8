"""The fragmenter (segments of fixed length at uniform offsets, paired across trajectories), labelled
candidates as a PreferenceDataset, and T-REX / B-REX fitting a Ranking exactly as its dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from rewardlab.data import Ranking, Trajectory, TrajectoryDataset
from rewardlab.errors import ShapeError, ValidationError
from rewardlab.mdp.worlds import chain
from rewardlab.prefs import TEACHER_PRESETS, TREX, BayesianREX, BayesianREXConfig, SimulatedTeacher, TREXConfig
from rewardlab.prefs.fragments import Fragmenter, FragmentPairs, RandomFragmenter, labelled_preferences
from rewardlab.prefs.queries import pair_features
from rewardlab.prefs.teachers import TeacherLabels


def _trajectories(lengths: list[int], *, obs_dim: int = 2, rews: bool = True) -> list[Trajectory]:
    """Trajectory ``i`` has obs ``[[1000 i + t, -t], ...]`` and rewards ``1000 i + t``, so a segment names its source."""
    out = []
    for i, n in enumerate(lengths):
        t = np.arange(n + 1, dtype=float)
        obs = np.stack([1000 * i + t] + [-t] * (obs_dim - 1), axis=1)
        acts = (np.arange(n) % 3).astype(np.int64)
        out.append(Trajectory(obs, acts, (1000 * i + t[:-1]) if rews else None))
    return out


def test_shapes_and_contents_are_the_recorded_windows() -> None:
    trs = _trajectories([12, 9, 20], obs_dim=3)
    pairs = RandomFragmenter(5).fragment(trs, 40, rng=np.random.default_rng(0))
    assert isinstance(RandomFragmenter(5), Fragmenter)
    assert len(pairs) == 40 and pairs.length == 5 and pairs.skipped == ()
    obs_a, obs_b = pairs.observations()
    rews_a, rews_b = pairs.rewards()
    assert obs_a.shape == obs_b.shape == (40, 5, 3) and rews_a.shape == rews_b.shape == (40, 5)
    assert pair_features(obs_a, obs_b).shape == (40, 2 * 5 * 3)
    for side in ("a", "b"):
        for seg, i, o in zip(
            getattr(pairs, f"segments_{side}"), getattr(pairs, f"traj_{side}"), getattr(pairs, f"start_{side}"), strict=True
        ):
            tr = trs[int(i)]
            assert len(seg) == 5 and seg.acts.shape == (5,)
            np.testing.assert_array_equal(seg.obs, tr.obs[o : o + 5])  # the states the actions were taken in
            np.testing.assert_array_equal(seg.acts, tr.acts[o : o + 5])
            np.testing.assert_array_equal(seg.rews, tr.rews[o : o + 5])  # true rewards carried
    # taking the selected pairs keeps them and their sources, in the given order
    sub = pairs.take([3, 0])
    assert sub.segments_a == (pairs.segments_a[3], pairs.segments_a[0]) and sub.start_b.tolist() == pairs.start_b[[3, 0]].tolist()


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 30), min_size=1, max_size=6),
    length=st.integers(1, 12),
    seed=st.integers(0, 2**32 - 1),
)
def test_offsets_in_bounds_short_ones_skipped_and_pairs_across_trajectories(lengths: list[int], length: int, seed: int) -> None:
    trs = _trajectories(lengths)
    long_enough = [i for i, n in enumerate(lengths) if n >= length]
    frag = RandomFragmenter(length)
    if not long_enough:
        with pytest.raises(ValidationError, match=r"^length: is"):
            frag.fragment(trs, 5, rng=np.random.default_rng(seed))
        return
    pairs = frag.fragment(trs, 25, rng=np.random.default_rng(seed))
    assert list(pairs.skipped) == [i for i, n in enumerate(lengths) if n < length]
    for traj, start in ((pairs.traj_a, pairs.start_a), (pairs.traj_b, pairs.start_b)):
        assert set(traj.tolist()) <= set(long_enough)  # a short trajectory is never cut
        ends = np.array(lengths)[traj] - length
        assert (start >= 0).all() and (start <= ends).all()
    if len(long_enough) > 1:
        assert (pairs.traj_a != pairs.traj_b).all()
    else:
        assert (pairs.traj_a == pairs.traj_b).all()


def test_windows_are_uniform_offsets_uniform_and_b_from_the_other_trajectories() -> None:
    # windows per trajectory: 1, 3, 6 (lengths 4, 6, 9 with T = 4)
    trs = _trajectories([4, 6, 9])
    n = 30_000
    pairs = RandomFragmenter(4).fragment(trs, n, rng=np.random.default_rng(1))
    w = np.array([1, 3, 6])
    # a: trajectory with probability w_i / W
    assert stats.chisquare(np.bincount(pairs.traj_a, minlength=3), n * w / w.sum()).pvalue > 1e-3
    # offsets uniform within each trajectory, for both sides
    for traj, start in ((pairs.traj_a, pairs.start_a), (pairs.traj_b, pairs.start_b)):
        for i in (1, 2):
            got = np.bincount(start[traj == i], minlength=w[i])
            assert len(got) == w[i]
            assert stats.chisquare(got).pvalue > 1e-3
    # b given a = 0: the other trajectories with probability w_j / (W - w_0)
    b = pairs.traj_b[pairs.traj_a == 0]
    got = np.bincount(b, minlength=3)
    assert got[0] == 0
    assert stats.chisquare(got[1:], len(b) * w[1:] / w[1:].sum()).pvalue > 1e-3


def test_same_seed_same_pairs_other_seed_other_pairs() -> None:
    trs = _trajectories([15, 22, 8])
    a = RandomFragmenter(6).fragment(trs, 30, rng=np.random.default_rng(7))
    b = RandomFragmenter(6).fragment(TrajectoryDataset(trs), 30, rng=np.random.default_rng(7))
    c = RandomFragmenter(6).fragment(trs, 30, rng=np.random.default_rng(8))
    for name in ("traj_a", "start_a", "traj_b", "start_b"):
        assert getattr(a, name).tolist() == getattr(b, name).tolist()
    np.testing.assert_array_equal(a.observations()[0], b.observations()[0])
    assert (a.start_a.tolist(), a.traj_b.tolist()) != (c.start_a.tolist(), c.traj_b.tolist())


def test_without_true_rewards_segments_have_none_and_a_teacher_is_refused() -> None:
    pairs = RandomFragmenter(3).fragment(_trajectories([5, 5], rews=False), 4, rng=np.random.default_rng(0))
    assert all(s.rews is None for s in pairs.segments_a + pairs.segments_b)
    with pytest.raises(ValidationError, match=r"^segments_a\[0\]\.rews: is None"):
        pairs.rewards()


def test_errors_name_the_field() -> None:
    trs = _trajectories([5, 5])
    rng = np.random.default_rng(0)
    for bad in (0, -2, 2.5, True, "5"):
        with pytest.raises(ValidationError, match=r"^length:"):
            RandomFragmenter(bad)  # type: ignore[arg-type]
    for bad_n in (0, 1.0, None):
        with pytest.raises(ValidationError, match=r"^n_pairs:"):
            RandomFragmenter(2).fragment(trs, bad_n, rng=rng)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"^rng:"):
        RandomFragmenter(2).fragment(trs, 3, rng=0)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"^trajectories: is empty"):
        RandomFragmenter(2).fragment([], 3, rng=rng)
    with pytest.raises(ValidationError, match=r"^length: is 6 but the longest trajectory has 5 steps"):
        RandomFragmenter(6).fragment(trs, 3, rng=rng)
    mixed = [_trajectories([5], obs_dim=2)[0], _trajectories([5], obs_dim=3)[0]]
    with pytest.raises(ShapeError, match=r"^trajectories\[1\]\.obs:"):
        RandomFragmenter(2).fragment(mixed, 3, rng=rng)
    pairs = RandomFragmenter(2).fragment(trs, 3, rng=rng)
    with pytest.raises(ValidationError, match=r"^indices:"):
        pairs.take([3])
    with pytest.raises(ShapeError, match=r"^labels: has 2 labels for 3 pairs"):
        labelled_preferences(pairs, [1.0, 0.0])
    with pytest.raises(ValidationError, match=r"^labels\[1\]: is 0.7"):
        labelled_preferences(pairs, [1.0, 0.7, 0.0])


def test_labelled_candidates_become_a_preference_dataset() -> None:
    trs = _trajectories([10, 10, 10])
    pairs = RandomFragmenter(4).fragment(trs, 6, rng=np.random.default_rng(0))
    # the oracle teacher on the carried rewards: trajectory i's rewards are 1000 i + t, so the later trajectory wins
    answers = SimulatedTeacher(TEACHER_PRESETS["oracle"]).label(*pairs.rewards(), rng=np.random.default_rng(0))
    assert answers.labels.tolist() == (pairs.traj_a > pairs.traj_b).astype(float).tolist()
    ds = labelled_preferences(pairs, answers, env_id="Toy-v0", annotator="oracle")
    assert len(ds) == 6 and ds.env_id == "Toy-v0" and ds.length == 4 and ds.obs_shape == (2,)
    assert ds.labels().tolist() == answers.labels.tolist()
    assert all(p.a is a and p.b is b and p.annotator == "oracle" for p, a, b in zip(ds, pairs.segments_a, pairs.segments_b, strict=True))
    # skipped answers stay skipped; NaN in a plain array is read as skipped
    skipped = TeacherLabels(np.array([1.0, 0.0, 0.5, 0.0, 1.0, 0.0]), np.array([False, False, False, True, False, True]))
    ds2 = labelled_preferences(pairs, skipped)
    assert ds2.n_skipped == 2 and np.isnan(ds2.labels()[[3, 5]]).all() and ds2.labels()[:3].tolist() == [1.0, 0.0, 0.5]
    ds3 = labelled_preferences(pairs, np.array([1.0, 0.0, 0.5, np.nan, 1.0, np.nan]))
    assert ds3.skipped_mask().tolist() == ds2.skipped_mask().tolist()
    empty = FragmentPairs((), (), [], [], [], [])
    assert len(labelled_preferences(empty, [])) == 0


# ------------------------------------------------------------------------------ T-REX / B-REX on a Ranking
def _ranked_chain() -> tuple[object, TrajectoryDataset]:
    mdp = chain(4, discount=0.9).replace(features=torch.eye(4))
    rng = np.random.default_rng(0)
    # worst first (rank ascending), so Ranking.from_dataset keeps the order and the fits draw the same pairs
    demos = [
        Trajectory(np.array([s] * 5 + [min(s + 1, 3)]), rng.integers(0, 2, 5), rews=np.full(5, float(s)), infos={"rank": s})
        for s in range(4)
    ]
    return mdp, TrajectoryDataset(demos)


def test_trex_fit_on_a_ranking_equals_the_fit_on_its_dataset() -> None:
    mdp, ds = _ranked_chain()
    cfg = TREXConfig(snippet=(2, 4), pairs=100, steps=40, lr=0.05)
    a = TREX(cfg).fit(ds, mdp, rng=np.random.default_rng(3))
    b = TREX(cfg).fit(Ranking.from_dataset(ds), mdp, rng=np.random.default_rng(3))
    assert torch.equal(a.reward.values, b.reward.values)
    assert a.info["val_accuracy"] == b.info["val_accuracy"] and a.info["ranking_tau"] == b.info["ranking_tau"] == pytest.approx(1.0)
    # a Ranking of trajectories that carry no infos["rank"]: its own scores give the order
    bare = [Trajectory(tr.obs, tr.acts, tr.rews) for tr in ds]
    c = TREX(cfg).fit(Ranking(bare, scores=[0.0, 1.0, 2.0, 3.0]), mdp, rng=np.random.default_rng(3))
    d = TREX(cfg).fit(bare, mdp, rng=np.random.default_rng(3), scores=[0.0, 1.0, 2.0, 3.0])
    assert torch.equal(c.reward.values, d.reward.values) and torch.equal(c.reward.values, a.reward.values)
    with pytest.raises(ValidationError, match=r"^scores: was given with a Ranking"):
        TREX(cfg).fit(Ranking.from_dataset(ds), mdp, rng=np.random.default_rng(3), scores=[0, 1, 2, 3])


def test_brex_fit_on_a_ranking_equals_the_fit_on_its_dataset() -> None:
    mdp, ds = _ranked_chain()
    cfg = BayesianREXConfig(samples=400, burn_in=100, thin=1, step_size=0.2)
    a = BayesianREX(cfg).fit(ds, mdp, rng=np.random.default_rng(5))
    b = BayesianREX(cfg).fit(Ranking.from_dataset(ds), mdp, rng=np.random.default_rng(5))
    assert torch.equal(a.reward.values, b.reward.values)
    bare = Ranking([Trajectory(tr.obs, tr.acts, tr.rews) for tr in ds])  # strict order 0..3, no infos["rank"]
    assert torch.equal(BayesianREX(cfg).fit(bare, mdp, rng=np.random.default_rng(5)).reward.values, a.reward.values)
    with pytest.raises(ValidationError, match=r"^scores: was given with a Ranking"):
        BayesianREX(cfg).fit(Ranking.from_dataset(ds), mdp, rng=np.random.default_rng(5), scores=[0, 1, 2, 3])
