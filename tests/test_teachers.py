"""Teachers: the B-Pref simulated teachers by construction (threshold arithmetic, order of operations,
flip and Boltzmann rates within binomial bounds, myopic weighting by hand), replayed labels and the
human-teacher protocol."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rewardlab.errors import ConfigError, ShapeError, ValidationError
from rewardlab.prefs import (
    TEACHER_PRESETS,
    HumanAnswers,
    HumanTeacher,
    ReplayTeacher,
    SimulatedTeacher,
    Teacher,
    TeacherConfig,
    TeacherLabels,
    bpref_labels,
    bpref_return_scale,
    myopic_returns,
    teacher_preset,
)
from rewardlab.prefs.losses import bradley_terry_loss


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def within_binomial(k: int, n: int, p: float, z: float = 5.0) -> bool:
    """``k`` successes in ``n`` trials are within ``z`` standard deviations of ``n p``."""
    return abs(k - n * p) <= z * math.sqrt(n * p * (1 - p))


def test_presets_are_bpref_exactly():
    # the authors' run scripts: teacher_beta=-1 (rational) gamma=1 eps_*=0 but the one each preset changes
    assert dict(TEACHER_PRESETS) == {
        "oracle": TeacherConfig(beta=math.inf, gamma=1.0, eps_mistake=0.0, eps_skip=0.0, eps_equal=0.0),
        "mistake": TeacherConfig(eps_mistake=0.1),
        "noisy": TeacherConfig(beta=1.0),
        "skip": TeacherConfig(eps_skip=0.1),
        "myopic": TeacherConfig(gamma=0.9),
        "equal": TeacherConfig(eps_equal=0.1),
    }
    assert teacher_preset("myopic") is TEACHER_PRESETS["myopic"]
    with pytest.raises(ConfigError, match="did you mean 'noisy'"):
        teacher_preset("nosy")


def test_oracle_is_the_sign_of_the_return_difference_with_ties_to_the_first():
    a, b = rng(1).normal(size=(300, 7)), rng(2).normal(size=(300, 7))
    out = SimulatedTeacher(TEACHER_PRESETS["oracle"]).label(a, b, rng=rng())
    np.testing.assert_array_equal(out.labels, (a.sum(1) > b.sum(1)).astype(float))
    assert not out.skipped.any()
    # B-Pref prefers the second segment only when it is strictly better
    tie = SimulatedTeacher().label(np.array([[1.0, 2.0]]), np.array([[2.0, 1.0]]), rng=rng())
    assert tie.labels.tolist() == [1.0]
    # the labels are the targets of the project's Bradley-Terry loss: 1.0 = first preferred
    loss_right = bradley_terry_loss(torch.tensor([5.0]), torch.tensor([0.0]), torch.tensor([1.0]))
    loss_wrong = bradley_terry_loss(torch.tensor([5.0]), torch.tensor([0.0]), torch.tensor([0.0]))
    assert SimulatedTeacher().label([[5.0]], [[0.0]], rng=rng()).labels[0] == 1.0 and loss_right < loss_wrong


def test_myopic_weighting_equals_a_hand_computation():
    # gamma^(H-1-t): 0.81 * 1 + 0.9 * 2 + 1 * 3
    assert myopic_returns(np.array([[1.0, 2.0, 3.0]]), 0.9) == pytest.approx([5.61])
    # undiscounted a (1.0) beats b (0.85); myopically a is 0.81 < 0.85
    a, b = np.array([[1.0, 0.0, 0.0]]), np.array([[0.0, 0.0, 0.85]])
    assert SimulatedTeacher(TEACHER_PRESETS["oracle"]).label(a, b, rng=rng()).labels.tolist() == [1.0]
    assert SimulatedTeacher(TEACHER_PRESETS["myopic"]).label(a, b, rng=rng()).labels.tolist() == [0.0]


def test_skip_threshold_is_eps_skip_times_the_return_scale():
    # B-Pref: scale = mean recent episode return * segment / episode length; threshold = 0.1 * scale
    scale = bpref_return_scale([80.0, 120.0], segment_length=50, episode_length=500)
    assert scale == pytest.approx(10.0)
    teacher = SimulatedTeacher(TEACHER_PRESETS["skip"]).with_return_scale(scale)  # threshold 1.0
    a = np.array([[0.5, 0.5], [0.6, 0.41], [-3.0, 0.0], [0.2, 0.2]])
    b = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.9], [0.0, 5.0]])
    out = teacher.label(a, b, rng=rng())
    # max returns 1.0 (not above 1: skipped), 1.01, 0.9 (skipped), 5.0
    assert out.skipped.tolist() == [True, False, True, False]
    assert np.isnan(out.labels[[0, 2]]).all() and out.labels[[1, 3]].tolist() == [1.0, 0.0]
    # a threshold <= 0 (negative recent returns, as on Pendulum) skips nothing, as B-Pref's `thres_skip > 0`
    assert not teacher.with_return_scale(-10.0).label(a, b, rng=rng()).skipped.any()


def test_equal_threshold_is_eps_equal_times_the_return_scale():
    teacher = SimulatedTeacher(TEACHER_PRESETS["equal"]).with_return_scale(10.0)  # |R_a - R_b| < 1.0
    a = np.array([[3.0, 0.99], [3.0, 1.0], [0.0, 0.0]])
    b = np.array([[3.0, 0.0], [3.0, 0.0], [-0.5, 0.0]])
    assert teacher.label(a, b, rng=rng()).labels.tolist() == [0.5, 1.0, 0.5]
    assert teacher.with_return_scale(-10.0).label(a, b, rng=rng()).labels.tolist() == [1.0, 1.0, 1.0]


def test_order_skip_before_equal():
    # both segments are below the skip threshold (1.0) and within the equal margin (1.0): skipped, not equal
    cfg = TeacherConfig(eps_skip=0.1, eps_equal=0.1)
    out = bpref_labels([[0.3], [2.0]], [[0.2], [1.5]], cfg, rng=rng(), return_scale=10.0)
    assert out.skipped.tolist() == [True, False] and out.labels[1] == 0.5


def test_order_equal_on_undiscounted_returns_preference_on_myopic_returns():
    cfg = TeacherConfig(gamma=0.5, eps_equal=0.1)
    # R: 2 vs 2 -> equal, although myopically b (2) beats a (1)
    # R: 3 vs 1.9 -> not equal (1.1 >= 1); myopically a is 1.5 < 1.9, so b is preferred
    out = bpref_labels([[2.0, 0.0], [3.0, 0.0]], [[0.0, 2.0], [0.0, 1.9]], cfg, rng=rng(), return_scale=10.0)
    assert out.labels.tolist() == [0.5, 0.0]


def test_order_equal_labels_overwrite_mistakes_and_mistakes_flip_boltzmann_draws():
    a = np.array([[1.0], [5.0], [0.0]])
    b = np.array([[1.2], [0.0], [5.0]])
    out = bpref_labels(a, b, TeacherConfig(eps_mistake=1.0, eps_equal=0.1), rng=rng(), return_scale=10.0)
    assert out.labels.tolist() == [0.5, 0.0, 1.0]  # every label flipped except the tie, set afterwards
    # the Boltzmann labels are drawn first and then flipped (with the same generator state)
    a, b = rng(3).normal(size=(500, 4)), rng(4).normal(size=(500, 4))
    noisy = bpref_labels(a, b, TeacherConfig(beta=1.0), rng=rng(7))
    flipped = bpref_labels(a, b, TeacherConfig(beta=1.0, eps_mistake=1.0), rng=rng(7))
    np.testing.assert_array_equal(flipped.labels, 1.0 - noisy.labels)


def test_mistake_flip_rate_within_binomial_bounds():
    n = 20_000
    a, b = rng(1).normal(size=(n, 5)), rng(2).normal(size=(n, 5))
    oracle = SimulatedTeacher(TEACHER_PRESETS["oracle"]).label(a, b, rng=rng()).labels
    for seed in range(3):
        labels = SimulatedTeacher(TEACHER_PRESETS["mistake"]).label(a, b, rng=rng(seed)).labels
        flips = int((labels != oracle).sum())
        assert within_binomial(flips, n, 0.1), flips


@pytest.mark.parametrize("beta", [1.0, 0.5])
def test_noisy_label_frequencies_match_the_sigmoid(beta):
    diffs = np.array([-3.0, -1.0, -0.25, 0.0, 0.5, 2.0])
    n = 4000
    a = np.repeat(diffs, n)[:, None] + 1.0
    b = np.ones_like(a)
    labels = SimulatedTeacher(TeacherConfig(beta=beta)).label(a, b, rng=rng(11)).labels.reshape(len(diffs), n)
    for d, row in zip(diffs, labels, strict=True):
        p = 1.0 / (1.0 + math.exp(-beta * d))
        assert within_binomial(int(row.sum()), n, p), (d, row.mean(), p)


def test_same_seed_same_labels_and_seed_matters():
    a, b = rng(5).normal(size=(200, 6)), rng(6).normal(size=(200, 6))
    cfg = TeacherConfig(beta=1.0, eps_mistake=0.1)
    first = bpref_labels(a, b, cfg, rng=rng(42))
    np.testing.assert_array_equal(first.labels, bpref_labels(a, b, cfg, rng=rng(42)).labels)
    assert (first.labels != bpref_labels(a, b, cfg, rng=rng(43)).labels).any()
    # tensors are accepted and give the same labels
    np.testing.assert_array_equal(first.labels, bpref_labels(torch.from_numpy(a), torch.from_numpy(b), cfg, rng=rng(42)).labels)


def test_input_validation_raises_rewardlab_errors():
    teacher = SimulatedTeacher()
    with pytest.raises(ShapeError, match="rewards_b"):
        teacher.label(np.zeros((3, 4)), np.zeros((3, 5)), rng=rng())
    with pytest.raises(ShapeError, match="rewards_a"):
        teacher.label(np.zeros(4), np.zeros(4), rng=rng())
    bad = np.zeros((3, 4))
    bad[1, 2] = np.nan
    with pytest.raises(ValidationError, match=r"rewards_a\[1, 2\]: is nan"):
        teacher.label(bad, np.zeros((3, 4)), rng=rng())
    with pytest.raises(ValidationError, match="rng"):
        teacher.label(np.zeros((3, 4)), np.zeros((3, 4)), rng=0)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="return_scale"):  # thresholds need a scale
        SimulatedTeacher(TEACHER_PRESETS["skip"]).label(np.zeros((3, 4)), np.zeros((3, 4)), rng=rng())
    for kwargs, name in [
        ({"beta": 0.0}, "beta"),
        ({"gamma": 1.5}, "gamma"),
        ({"eps_mistake": -0.1}, "eps_mistake"),
        ({"eps_equal": math.nan}, "eps_equal"),
    ]:
        with pytest.raises(ConfigError, match=name):
            TeacherConfig(**kwargs)
    with pytest.raises(ValidationError, match="labels"):
        TeacherLabels(np.array([1.0, 0.3]), np.array([False, False]))


def test_replay_teacher_answers_saved_pairs_from_either_side():
    teacher = ReplayTeacher(np.array([[0, 1], [2, 3], [4, 5], [0, 1]]), np.array([1.0, 0.5, np.nan, 1.0]))
    assert len(teacher) == 3
    assert isinstance(teacher, Teacher) and isinstance(SimulatedTeacher(), Teacher)
    out = teacher.label(np.zeros((4, 2)), np.zeros((4, 2)), rng=rng(), pairs=[[0, 1], [1, 0], [3, 2], [5, 4]])
    assert out.labels[:3].tolist() == [1.0, 0.0, 0.5] and out.skipped.tolist() == [False, False, False, True]
    with pytest.raises(ValidationError, match=r"pairs\[0\]: is \(7, 8\)"):
        teacher.lookup([[7, 8]])
    assert ReplayTeacher.from_mapping({(0, 1): 0.0}, missing="skip").lookup([[7, 8], [1, 0]]).skipped.tolist() == [True, False]
    with pytest.raises(ValidationError, match="pairs"):
        teacher.label(np.zeros((1, 2)), np.zeros((1, 2)), rng=rng())
    with pytest.raises(ShapeError, match="pairs"):
        teacher.label(np.zeros((2, 2)), np.zeros((2, 2)), rng=rng(), pairs=[[0, 1]])
    with pytest.raises(ValidationError, match=r"labels\[1\]"):  # (1, 0) labelled 1 says (0, 1) is 0: a contradiction
        ReplayTeacher([[0, 1], [1, 0]], [1.0, 1.0])
    with pytest.raises(ValidationError, match=r"labels\[0\]"):
        ReplayTeacher([[0, 1]], [2.0])


def test_human_teacher_protocol_and_answers():
    class Scripted:
        """A stand-in for the labelling app: the first query answered, the second skipped, the third pending."""

        def post(self, queries):
            return [f"q{k}" for k in range(len(queries))]

        def answers(self, ids, *, timeout):
            return HumanAnswers(np.array([1.0, np.nan, np.nan]), skipped=[False, True, False], pending=[False, False, True])

    human = Scripted()
    assert isinstance(human, HumanTeacher)
    got = human.answers(human.post([None, None, None]), timeout=0.0)
    assert got.labels[0] == 1.0 and np.isnan(got.labels[1:]).all()
    with pytest.raises(ValidationError, match="pending"):
        HumanAnswers(np.array([1.0]), skipped=[True], pending=[True])
    with pytest.raises(ValidationError, match=r"labels\[0\]"):
        HumanAnswers(np.array([0.7]), skipped=[False], pending=[False])
