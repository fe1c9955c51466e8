"""Query strategies pick the pairs they should on hand-made ensembles, feature sets and posteriors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rewardlab.errors import ConfigError, ProbabilityError, ShapeError, ValidationError
from rewardlab.prefs import QUERY_STRATEGIES, QueryContext, QueryStrategy, select_queries
from rewardlab.prefs.queries import (
    Entropy,
    KCenterUncertainty,
    Uniform,
    candidate_batch_size,
    disagreement_scores,
    entropy_scores,
    information_gain_scores,
    kcenter_greedy,
    pair_features,
    top_k,
    volume_removal_scores,
)

RNG = np.random.default_rng


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _h2(p: float) -> float:
    return -p * math.log2(p) - (1 - p) * math.log2(1 - p)


# ------------------------------------------------------------------------------- ensemble strategies


def test_disagreement_picks_the_pair_members_disagree_on_most():
    probs = np.array([[0.5, 0.9, 0.2], [0.5, 0.1, 0.3], [0.5, 0.5, 0.25]])  # (M=3, C=3)
    # by hand: column 1 mean 0.5, variance (0.16 + 0.16 + 0) / 3; column 2 mean 0.25, (0.0025 * 2) / 3
    np.testing.assert_allclose(disagreement_scores(probs), [0.0, 0.32 / 3, 0.005 / 3])
    ctx = QueryContext(member_probs=probs)
    assert QUERY_STRATEGIES["disagreement"].select(3, 1, rng=RNG(0), context=ctx).tolist() == [1]
    assert QUERY_STRATEGIES["disagreement"].select(3, 3, rng=RNG(0), context=ctx).tolist() == [1, 2, 0]


def test_entropy_picks_the_probability_closest_to_a_half():
    ctx = QueryContext(member_probs=[[0.9, 0.45, 0.2, 0.6, 0.99]])
    assert QUERY_STRATEGIES["entropy"].select(5, 2, rng=RNG(0), context=ctx).tolist() == [1, 3]
    assert entropy_scores([[0.5]]).tolist() == pytest.approx([math.log(2)])


def test_entropy_is_b_prefs_mean_of_member_entropies_not_the_entropy_of_the_mean():
    # pair 0: members say 0.1 and 0.9 (each confident, mean 0.5); pair 1: both say 0.4
    probs = [[0.1, 0.4], [0.9, 0.4]]
    h = lambda p: -p * math.log(p) - (1 - p) * math.log(1 - p)  # noqa: E731
    np.testing.assert_allclose(entropy_scores(probs), [h(0.1), h(0.4)])
    np.testing.assert_allclose(entropy_scores(probs, of="mean"), [math.log(2), h(0.4)])
    ctx = QueryContext(member_probs=probs)
    assert Entropy().select(2, 1, rng=RNG(0), context=ctx).tolist() == [1]
    assert Entropy(of="mean").select(2, 1, rng=RNG(0), context=ctx).tolist() == [0]


def test_entropy_of_certain_answers_is_zero():
    np.testing.assert_array_equal(entropy_scores([[0.0, 1.0]]), [0.0, 0.0])


# -------------------------------------------------------------------------------------------- K-center

POINTS = np.array([[1.0, 0.0], [4.0, 0.0], [0.0, 3.0], [4.0, 3.0], [2.0, 1.5]])


def test_kcenter_greedy_order_by_hand_with_a_labelled_centre():
    # distances to the labelled (0,0): 1, 4, 3, 5, 2.5 -> pick 3 (4,3); nearest becomes 1, 3, 3, -, 2.5:
    # a tie between 1 and 2 goes to 1 (4,0); then 1, -, 3, -, 2.5 -> 2 (0,3); then 1, 2.5 -> 4; then 0
    assert kcenter_greedy(POINTS, 5, labelled=[[0.0, 0.0]]).tolist() == [3, 1, 2, 4, 0]
    ctx = QueryContext(features=POINTS, labelled_features=[[0.0, 0.0]])
    assert QUERY_STRATEGIES["kcenter"].select(5, 2, rng=RNG(0), context=ctx).tolist() == [3, 1]


def test_kcenter_greedy_without_labels_starts_farthest_from_the_mean():
    # mean (2.2, 1.5): distances 1.92, 2.34, 2.66, 2.34, 0.2 -> 2 (0,3); to (0,3): 3.16, 5, 4, 2.5 -> 1 (4,0);
    # then min: 3, -, -, 3, 2.5 -> tie 0 and 3 goes to 0; then 3 (3 > 1.80); then 4
    assert kcenter_greedy(POINTS, 5).tolist() == [2, 1, 0, 3, 4]


def _kcenter_loop(x: np.ndarray, k: int, labelled: np.ndarray) -> list[int]:
    """Slow reference: recompute every candidate's distance to its nearest centre at every step."""
    picked: list[int] = []
    for _ in range(k):
        best, best_d = -1, -1.0
        for i in range(len(x)):
            if i in picked:
                continue
            centres = [*labelled, *x[picked]]
            d = min(math.dist(x[i], c) for c in centres)
            if d > best_d:
                best, best_d = i, d
        picked.append(best)
    return picked


def test_kcenter_greedy_equals_a_slow_loop_reference():
    rng = RNG(3)
    x, labelled = rng.normal(size=(40, 3)), rng.normal(size=(7, 3))
    assert kcenter_greedy(x, 12, labelled=labelled).tolist() == _kcenter_loop(x, 12, labelled)


def test_kcenter_never_repeats_a_duplicate_candidate():
    x = np.zeros((4, 2))
    assert sorted(kcenter_greedy(x, 4, labelled=[[0.0, 0.0]]).tolist()) == [0, 1, 2, 3]


def test_pair_features_concatenate_both_segments_observations():
    a, b = np.arange(12.0).reshape(2, 3, 2), -np.arange(12.0).reshape(2, 3, 2)
    f = pair_features(a, b)
    np.testing.assert_array_equal(f[1], [*a[1].ravel(), *b[1].ravel()])


def test_kcenter_disagreement_keeps_the_uncertain_half_then_spreads():
    features = np.array([[10.0, 10.0], [1.0, 0.0], [9.0, 9.0], [3.0, 0.0], [0.0, 2.0], [8.0, 8.0]])
    probs = np.array([[0.5, 0.2, 0.5, 0.3, 0.1, 0.5], [0.5, 0.8, 0.52, 0.7, 0.9, 0.5]])
    ctx = QueryContext(member_probs=probs, features=features, labelled_features=[[0.0, 0.0]])
    # top half (3 of 6) by disagreement: 4, 1, 3; among (0,2), (1,0), (3,0) K-center from (0,0) picks
    # (3,0) at distance 3, then (0,2) at min(2, 3.6) = 2 over (1,0) at 1
    assert QUERY_STRATEGIES["kcenter_disagreement"].select(6, 2, rng=RNG(0), context=ctx).tolist() == [3, 4]
    # plain K-center goes to the far, certain (10,10) first, then (3,0) at 3; disagreement to the two most uncertain
    assert QUERY_STRATEGIES["kcenter"].select(6, 2, rng=RNG(0), context=ctx).tolist() == [0, 3]
    assert QUERY_STRATEGIES["disagreement"].select(6, 2, rng=RNG(0), context=ctx).tolist() == [4, 1]


def test_kcenter_entropy_filters_by_entropy():
    features = np.array([[5.0], [1.0], [2.0], [9.0]])
    probs = np.array([[0.5, 0.4, 0.99, 0.01]])  # entropy keeps 0 and 1 (half of 4)
    ctx = QueryContext(member_probs=probs, features=features, labelled_features=[[0.0]])
    assert QUERY_STRATEGIES["kcenter_entropy"].select(4, 1, rng=RNG(0), context=ctx).tolist() == [0]


# ------------------------------------------------------------------------------- posterior strategies

# two samples w = (1, 1) and (-1, 1); pair 0 (delta (2, 0)) splits them, pair 1 (delta (0, 2)) they agree on
SAMPLES = np.array([[1.0, 1.0], [-1.0, 1.0]])
DIFFS = np.array([[2.0, 0.0], [0.0, 2.0]])


def test_information_gain_by_hand_and_picks_the_splitting_query():
    p = _sigmoid(2.0)
    # I = H2(mean P) - mean H2(P): pair 0: H2(0.5) - H2(p); pair 1: H2(p) - H2(p) = 0
    np.testing.assert_allclose(information_gain_scores(DIFFS, SAMPLES), [1 - _h2(p), 0.0], atol=1e-12)
    ctx = QueryContext(feature_diffs=DIFFS, weight_samples=SAMPLES)
    assert QUERY_STRATEGIES["information_gain"].select(2, 1, rng=RNG(0), context=ctx).tolist() == [0]


def test_information_gain_equals_aprels_sum_form_for_three_samples():
    samples, diffs, beta = np.array([[1.0], [1.0], [-1.0]]), np.array([[1.0], [0.5], [-3.0]]), 2.0
    expected = []
    for d in diffs[:, 0]:
        probs = [[_sigmoid(beta * w * d), 1 - _sigmoid(beta * w * d)] for w in samples[:, 0]]  # (S, answers)
        m = len(probs)
        col = [sum(row[q] for row in probs) for q in range(2)]
        expected.append(sum(row[q] * math.log2(m * row[q] / col[q]) for row in probs for q in range(2)) / m)
    np.testing.assert_allclose(information_gain_scores(diffs, samples, beta=beta), expected, atol=1e-12)


def test_volume_removal_by_hand_and_picks_the_splitting_query():
    p = _sigmoid(2.0)
    # expected removal 1 - sum_q (mean_s P(q | w_s))^2: pair 0 mean 0.5 -> 0.5; pair 1 mean p -> 2 p (1 - p)
    np.testing.assert_allclose(volume_removal_scores(DIFFS, SAMPLES), [0.5, 2 * p * (1 - p)], atol=1e-12)
    ctx = QueryContext(feature_diffs=DIFFS, weight_samples=SAMPLES)
    assert QUERY_STRATEGIES["volume_removal"].select(2, 1, rng=RNG(0), context=ctx).tolist() == [0]


def test_volume_removal_three_samples_by_hand():
    samples, diffs = np.array([[1.0], [1.0], [-1.0]]), np.array([[1.0]])
    mean = (2 * _sigmoid(1.0) + _sigmoid(-1.0)) / 3
    np.testing.assert_allclose(volume_removal_scores(diffs, samples), [1 - mean**2 - (1 - mean) ** 2], atol=1e-12)


def test_volume_removal_orders_queries_like_sadighs_min_form():
    rng = RNG(1)
    diffs, samples = rng.normal(size=(30, 3)), rng.normal(size=(20, 3))
    vr = volume_removal_scores(diffs, samples)
    p = 1 / (1 + np.exp(-(samples @ diffs.T)))
    sadigh = np.minimum(p.mean(0), 1 - p.mean(0))
    assert np.argsort(-vr, kind="stable").tolist() == np.argsort(-sadigh, kind="stable").tolist()


def test_beta_sharpens_the_user_model():
    # with beta -> large the two samples' answers become certain and opposite: 1 bit
    assert information_gain_scores(DIFFS, SAMPLES, beta=50.0)[0] == pytest.approx(1.0, abs=1e-9)


# ------------------------------------------------------------------------------ uniform and first batch


def test_uniform_is_a_seeded_draw_without_replacement():
    a = QUERY_STRATEGIES["uniform"].select(10, 6, rng=RNG(5), context=QueryContext())
    b = QUERY_STRATEGIES["uniform"].select(10, 6, rng=RNG(5), context=QueryContext())
    assert a.tolist() == b.tolist()
    assert len(set(a.tolist())) == 6 and a.min() >= 0 and a.max() < 10 and a.dtype == np.int64


def test_uniform_picks_every_candidate_equally_often():
    rng, n, k, draws = RNG(0), 10, 3, 20_000
    counts = np.zeros(n)
    for _ in range(draws):
        counts[Uniform().select(n, k, rng=rng)] += 1
    # each index is in the batch with probability k / n; 5 binomial standard deviations
    sd = math.sqrt(draws * (k / n) * (1 - k / n))
    assert np.all(np.abs(counts - draws * k / n) < 5 * sd)


def test_first_batch_is_uniform_whatever_the_strategy():
    for name in QUERY_STRATEGIES:
        got = select_queries(name, 8, 4, rng=RNG(2), first_batch=True)  # no context needed
        assert got.tolist() == Uniform().select(8, 4, rng=RNG(2)).tolist()


def test_later_batches_use_the_strategy():
    ctx = QueryContext(member_probs=[[0.1, 0.5, 0.2], [0.9, 0.5, 0.3]])
    assert select_queries("disagreement", 3, 1, rng=RNG(0), context=ctx).tolist() == [0]


def test_candidate_batch_is_k_times_large_batch():
    assert candidate_batch_size(128, 10) == 1280
    with pytest.raises(ValidationError, match="large_batch"):
        candidate_batch_size(10, 0)


def test_every_strategy_returns_k_distinct_indices():
    rng = RNG(4)
    c, k = 50, 7
    ctx = QueryContext(
        member_probs=rng.uniform(size=(5, c)),
        features=rng.normal(size=(c, 4)),
        labelled_features=rng.normal(size=(3, 4)),
        feature_diffs=rng.normal(size=(c, 3)),
        weight_samples=rng.normal(size=(16, 3)),
        beta=2.0,
    )
    candidates = [(i, i + 1) for i in range(c)]  # any sized collection of pairs
    for name, strategy in QUERY_STRATEGIES.items():
        assert isinstance(strategy, QueryStrategy) and strategy.name == name
        got = strategy.select(candidates, k, rng=RNG(0), context=ctx)
        assert got.shape == (k,) and len(set(got.tolist())) == k and got.min() >= 0 and got.max() < c, name
        assert got.tolist() == strategy.select(candidates, k, rng=RNG(0), context=ctx).tolist(), name


# -------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("name", list(QUERY_STRATEGIES))
def test_k_above_the_candidates_names_k(name):
    with pytest.raises(ValidationError, match=r"^k: is 4, more than the 3 candidate pairs"):
        select_queries(name, 3, 4, rng=RNG(0), context=QueryContext())


@pytest.mark.parametrize(
    ("name", "ctx", "field", "error"),
    [
        ("disagreement", QueryContext(member_probs=np.full((2, 4), 0.5)), "member_probs", ShapeError),
        ("entropy", QueryContext(member_probs=np.full(3, 0.5)), "member_probs", ShapeError),
        ("entropy", QueryContext(member_probs=[[0.5, 1.5, 0.2]]), "member_probs", ProbabilityError),
        ("disagreement", QueryContext(), "member_probs", ValidationError),
        ("kcenter", QueryContext(features=np.zeros((2, 2))), "features", ShapeError),
        ("kcenter", QueryContext(features=np.zeros((3, 2)), labelled_features=np.zeros((1, 5))), "labelled_features", ShapeError),
        ("kcenter_disagreement", QueryContext(member_probs=np.full((2, 3), 0.5)), "features", ValidationError),
        ("information_gain", QueryContext(feature_diffs=np.zeros((3, 2)), weight_samples=np.zeros((4, 3))), "weight_samples", ShapeError),
        ("volume_removal", QueryContext(feature_diffs=np.zeros((2, 2)), weight_samples=np.zeros((4, 2))), "feature_diffs", ShapeError),
        ("volume_removal", QueryContext(feature_diffs=np.zeros((3, 2))), "weight_samples", ValidationError),
        (
            "information_gain",
            QueryContext(feature_diffs=np.zeros((3, 2)), weight_samples=np.zeros((4, 2)), beta=0.0),
            "beta",
            ValidationError,
        ),
        ("kcenter", QueryContext(features=np.full((3, 2), np.nan)), "features", ValidationError),
    ],
)
def test_bad_context_names_the_field(name, ctx, field, error):
    with pytest.raises(error, match=rf"^{field}: "):
        select_queries(name, 3, 1, rng=RNG(0), context=ctx)


def test_unknown_strategy_and_bad_k_are_named():
    with pytest.raises(ConfigError, match=r"^query: is 'bald'.*disagreement"):
        select_queries("bald", 3, 1, rng=RNG(0))
    with pytest.raises(ValidationError, match=r"^k: "):
        select_queries("uniform", 3, 0, rng=RNG(0))
    with pytest.raises(ValidationError, match=r"^candidates: is empty"):
        select_queries("uniform", [], 1, rng=RNG(0))
    with pytest.raises(ConfigError, match=r"^fraction: "):
        KCenterUncertainty(fraction=0.0).select(3, 1, rng=RNG(0), context=QueryContext())


def test_ties_go_to_the_lowest_index():
    scores = np.zeros(200)
    scores[[150, 40, 7]] = 1.0
    assert top_k(scores, 5).tolist() == [7, 40, 150, 0, 1]
    ctx = QueryContext(member_probs=np.full((3, 200), 0.5))  # every pair ties
    assert QUERY_STRATEGIES["entropy"].select(200, 4, rng=RNG(0), context=ctx).tolist() == [0, 1, 2, 3]
