"""rewardlab.eval.stats against hand-computed values, scipy references and the bootstrap's coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from rewardlab.errors import ShapeError, ValidationError
from rewardlab.eval.stats import (
    aggregate_iqm,
    aggregate_mean,
    iqm,
    mean_and_sem,
    probability_of_improvement,
    probability_of_improvement_ci,
    stratified_bootstrap_ci,
    task_scores,
)

# ---------------------------------------------------------------- IQM, mean and SEM by hand


def test_iqm_is_the_mean_of_the_middle_half() -> None:
    assert iqm(np.arange(1.0, 9.0)) == 4.5  # (3 + 4 + 5 + 6) / 4
    assert iqm([8, 1, 7, 2, 6, 3, 5, 4]) == 4.5  # order does not matter
    assert iqm([1, 2, 3, 4, 100]) == 3.0  # floor(5 / 4) = 1 dropped at each end: (2 + 3 + 4) / 3
    assert iqm([1, 2, 3, 4, 5, 6, 7, 8, 9, 1000, 2000, 3000]) == 6.5  # 3 dropped each end: mean of 4..9
    # (runs, tasks): all scores pooled; sorted 1 2 3 4 10 20 30 40 -> (3 + 4 + 10 + 20) / 4
    assert iqm([[1, 10], [2, 20], [3, 30], [4, 40]]) == 9.25
    # ragged run counts per task: pooled the same way
    assert iqm({"a": [1, 2, 3], "b": [4, 5, 6, 7, 8]}) == 4.5


def test_iqm_equals_scipy_trim_mean_of_the_pooled_scores() -> None:
    scores = np.random.default_rng(0).normal(size=(7, 3))
    assert iqm(scores) == pytest.approx(scipy.stats.trim_mean(scores.ravel(), 0.25))
    batch = np.random.default_rng(1).normal(size=(5, 6, 4))  # the batched kernel: one IQM per leading index
    expected = [scipy.stats.trim_mean(row.ravel(), 0.25) for row in batch]
    assert np.allclose(aggregate_iqm(batch[:, :, :2].reshape(5, -1), batch[:, :, 2:].reshape(5, -1)), expected)


def test_mean_and_sem_by_hand() -> None:
    mean, sem = mean_and_sem([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and sem == pytest.approx(math.sqrt(5 / 3) / 2)  # s^2 = (2.25 + 0.25 + 0.25 + 2.25) / 3
    assert sem == pytest.approx(scipy.stats.sem([1.0, 2.0, 3.0, 4.0]))
    # two tasks: means 2 and 20 -> 11; SEM = sqrt(s0^2 / 2 + s1^2 / 2) / 2 = sqrt(2 / 2 + 200 / 2) / 2
    mean, sem = mean_and_sem([[1.0, 10.0], [3.0, 30.0]])
    assert mean == 11.0 and sem == pytest.approx(math.sqrt(101) / 2)
    # ragged: task means 2 and 7.5 -> 4.75; s^2 = 1 and 0.5 -> sqrt(1 / 3 + 0.5 / 2) / 2
    mean, sem = mean_and_sem({"a": [1.0, 2.0, 3.0], "b": [7.0, 8.0]})
    assert mean == 4.75 and sem == pytest.approx(math.sqrt(1 / 3 + 0.25) / 2)
    mean, sem = mean_and_sem([5.0])
    assert mean == 5.0 and math.isnan(sem)  # one run: no standard error


def test_aggregate_mean_is_the_mean_of_task_means() -> None:
    assert float(aggregate_mean(np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0]))) == 8.5  # (2 + 15) / 2


# ---------------------------------------------------------------- probability of improvement


def test_probability_of_improvement_on_known_pairs() -> None:
    assert probability_of_improvement([3.0, 4.0, 5.0], [0.0, 1.0, 2.0]) == 1.0  # fully separated
    assert probability_of_improvement([0.0, 1.0, 2.0], [3.0, 4.0, 5.0]) == 0.0
    assert probability_of_improvement([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == 0.5  # identical
    assert probability_of_improvement([2.0, 2.0], [2.0, 2.0, 2.0]) == 0.5  # all ties
    # 3 x 3 counted by hand: x=1 beats 0; x=3 beats 0, ties 3; x=5 beats all -> (1 + 1.5 + 3) / 9
    assert probability_of_improvement([1.0, 3.0, 5.0], [0.0, 3.0, 4.0]) == pytest.approx(5.5 / 9)
    # 2 tasks (columns): task 0 fully separated (1), task 1 reversed (0) -> 0.5
    assert probability_of_improvement([[5.0, 0.0], [6.0, 1.0]], [[1.0, 5.0], [2.0, 6.0]]) == 0.5
    # different run counts per method and per task (mappings)
    x = {"a": [1.0, 2.0], "b": [10.0, 11.0, 12.0]}
    y = {"b": [10.5], "a": [0.0, 1.5, 3.0]}  # matched by task name: a: (1 + 2) / 6 pairs; b: 2 / 3
    assert probability_of_improvement(x, y) == pytest.approx((0.5 + 2 / 3) / 2)


def test_probability_of_improvement_is_mann_whitney_u_over_nm() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        n, m = rng.integers(2, 9, size=2)
        x, y = rng.integers(0, 5, size=n).astype(float), rng.integers(0, 5, size=m).astype(float)  # many ties
        u = scipy.stats.mannwhitneyu(x, y, alternative="greater").statistic
        assert probability_of_improvement(x, y) == pytest.approx(u / (n * m))
        assert probability_of_improvement(x, y) + probability_of_improvement(y, x) == pytest.approx(1.0)


def test_probability_of_improvement_ci() -> None:
    low, high = probability_of_improvement_ci([3.0, 4.0, 5.0], [0.0, 1.0], rng=np.random.default_rng(0))
    assert (low, high) == (1.0, 1.0)  # every resample is fully separated
    rng = np.random.default_rng(1)
    x, y = rng.normal(0.5, 1.0, size=(10, 3)), rng.normal(0.0, 1.0, size=(8, 3))
    point = probability_of_improvement(x, y)
    low, high = probability_of_improvement_ci(x, y, resamples=2000, rng=np.random.default_rng(2))
    assert 0.0 <= low < point < high <= 1.0
    again = probability_of_improvement_ci(x, y, resamples=2000, rng=np.random.default_rng(2))
    assert again == (low, high)  # same rng, same interval
    # X and Y resampled independently within each task: the same interval by hand, with the same rng
    hand = np.random.default_rng(2)
    xs = [x[:, t][hand.integers(0, 10, (2000, 10))] for t in range(3)]
    ys = [y[:, t][hand.integers(0, 8, (2000, 8))] for t in range(3)]
    per_task = [
        ((a[:, :, None] > b[:, None, :]).mean((1, 2)) + 0.5 * (a[:, :, None] == b[:, None, :]).mean((1, 2)))
        for a, b in zip(xs, ys, strict=True)
    ]
    assert np.allclose((low, high), np.percentile(np.mean(per_task, axis=0), [2.5, 97.5]), rtol=0, atol=1e-12)


# ---------------------------------------------------------------- the stratified bootstrap


def test_bootstrap_coverage_is_near_nominal() -> None:
    """200 synthetic experiments of 20 N(3, 2^2) runs: the 95% interval of the mean (and of the IQM, which for
    a symmetric distribution estimates the same centre) covers the true mean 3 about 95% of the time."""
    rng = np.random.default_rng(2024)
    covered_mean = covered_iqm = 0
    for _ in range(200):
        sample = rng.normal(3.0, 2.0, size=20)
        low, high = stratified_bootstrap_ci(sample, aggregate_mean, resamples=2000, rng=rng)
        covered_mean += low <= 3.0 <= high
        low, high = stratified_bootstrap_ci(sample, aggregate_iqm, resamples=2000, rng=rng)
        covered_iqm += low <= 3.0 <= high
    assert 0.90 <= covered_mean / 200 <= 0.99, covered_mean
    assert 0.90 <= covered_iqm / 200 <= 0.99, covered_iqm


def test_bootstrap_is_stratified_by_task() -> None:
    rng = np.random.default_rng(0)
    small, large = rng.normal(0.0, 1.0, size=10), rng.normal(1000.0, 50.0, size=7)
    scores = {"small": small, "large": large}
    low, high = stratified_bootstrap_ci(scores, aggregate_mean, resamples=5000, rng=np.random.default_rng(3))
    # 1. the same interval by hand: each task's runs drawn only from that task, same rng, same order
    hand = np.random.default_rng(3)
    means = (small[hand.integers(0, 10, (5000, 10))].mean(-1) + large[hand.integers(0, 7, (5000, 7))].mean(-1)) / 2
    assert np.allclose((low, high), np.percentile(means, [2.5, 97.5]), rtol=0, atol=1e-9)
    # 2. its width is the stratified theory's: 2 z sd, sd^2 = (var_small / 10 + var_large / 7) / 4 (plug-in variances);
    # a bootstrap that pooled the tasks would see the 1000-point gap between them and be ~100x wider
    sd = math.sqrt(small.var() / 10 + large.var() / 7) / 2
    assert (high - low) / (2 * 1.959964 * sd) == pytest.approx(1.0, abs=0.05)
    # 3. a resample of one task never holds another's scores: no resample of "small" reaches the other's scale
    share = stratified_bootstrap_ci(scores, lambda s, _: np.mean(s > 100.0, axis=-1), resamples=2000, rng=np.random.default_rng(4))
    assert share == (0.0, 0.0)


def test_bootstrap_default_is_the_iqm_and_deterministic_per_rng() -> None:
    scores = np.random.default_rng(5).normal(size=(6, 4))
    first = stratified_bootstrap_ci(scores, resamples=1000, rng=np.random.default_rng(9))
    assert first == stratified_bootstrap_ci(scores, aggregate_iqm, resamples=1000, rng=np.random.default_rng(9))
    assert first[0] < iqm(scores) < first[1]
    assert first != stratified_bootstrap_ci(scores, resamples=1000, rng=np.random.default_rng(10))


# ---------------------------------------------------------------- input validation


@pytest.mark.parametrize(
    ("scores", "error", "words"),
    [
        ([1.0, float("nan"), 2.0], ValidationError, "non-finite value(s), the first nan at run 1"),
        ([[1.0, 2.0], [3.0, float("inf")]], ValidationError, "at run 1, task 1"),
        ([], ValidationError, "is empty"),
        (np.zeros((0, 3)), ValidationError, "is empty"),
        ([[1.0, 2.0], [3.0]], ValidationError, "is ragged"),
        (np.zeros((2, 2, 2)), ShapeError, "has shape (2, 2, 2)"),
        (7.0, ShapeError, "has shape ()"),
        (["a", "b"], ValidationError, "is not numeric"),
        ({}, ValidationError, "empty mapping"),
        ({"a": [1.0, 2.0], "b": []}, ValidationError, "scores['b']: is empty"),
        ({"a": [1.0, float("nan")]}, ValidationError, "scores['a']: holds 1 non-finite"),
    ],
)
def test_bad_scores_are_refused_naming_the_argument(scores, error, words) -> None:
    for function in (iqm, mean_and_sem, task_scores):
        with pytest.raises(error, match=r"^scores") as caught:
            function(scores)
        assert words in str(caught.value)


def test_bad_bootstrap_arguments_are_refused() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValidationError, match=r"scores: task 1 has 1 run.*at least 2 runs"):
        stratified_bootstrap_ci({"a": [1.0, 2.0], "b": [3.0]}, rng=rng)
    with pytest.raises(ValidationError, match=r"^confidence"):
        stratified_bootstrap_ci([1.0, 2.0], confidence=95, rng=rng)
    with pytest.raises(ValidationError, match=r"^resamples"):
        stratified_bootstrap_ci([1.0, 2.0], resamples=0, rng=rng)
    with pytest.raises(ValidationError, match=r"^method.*percentile"):
        stratified_bootstrap_ci([1.0, 2.0], method="bca", rng=rng)
    with pytest.raises(ValidationError, match=r"^rng.*default_rng"):
        stratified_bootstrap_ci([1.0, 2.0], rng=0)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"^statistic.*aggregate_iqm"):
        stratified_bootstrap_ci([1.0, 2.0], iqm, rng=rng)
    with pytest.raises(ShapeError, match=r"^y: has 2 task"):
        probability_of_improvement(np.zeros((3, 3)), np.zeros((3, 2)))
    with pytest.raises(ValidationError, match=r"^y: has tasks"):
        probability_of_improvement({"a": [1.0]}, {"b": [1.0]})
    with pytest.raises(ValidationError, match=r"^y: task 0 has 1 run"):
        probability_of_improvement_ci([1.0, 2.0], [1.0], rng=rng)


def test_proportion_ci_is_wilsons_interval_by_hand():
    """Wilson (1927): centre (p + z²/2n) / (1 + z²/n), half-width z sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n)."""
    from scipy.stats import norm

    from rewardlab.eval.stats import proportion_ci

    for k, n in [(19, 20), (0, 12), (12, 12), (37, 50)]:
        p, z = k / n, norm.ppf(0.975)
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        assert proportion_ci(k, n) == pytest.approx((centre - half, centre + half), abs=1e-12)
    with pytest.raises(ValidationError, match="successes"):
        proportion_ci(5, 4)
