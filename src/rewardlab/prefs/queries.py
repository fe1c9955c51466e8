"""Query strategies: which pairs of segments to show the teacher next.

Every strategy picks ``k`` of ``C`` candidate pairs. As in B-Pref, the candidates are a large *uniform*
batch (``k * large_batch`` pairs, :func:`candidate_batch_size`) and the strategy keeps the ``k`` best by
its score; the first batch of a run is always uniform (:func:`select_queries` with ``first_batch=True``),
since there is no trained ensemble or posterior to score with yet.

Ensemble strategies (Lee, Smith & Abbeel 2021, B-Pref, Sec. 4 and ``reward_model.py``), from the
per-member predictions ``P_m = P_m(a ≻ b)`` of an ``M``-member reward ensemble, ``(M, C)``:

* ``"uniform"``: ``k`` pairs drawn uniformly without replacement.
* ``"disagreement"``: the largest spread of ``P_m`` over members. B-Pref ranks by the standard deviation;
  we score by the variance ``Var_m[P_m]`` (the issue's wording), which orders pairs identically.
* ``"entropy"``: the largest entropy of the Bradley–Terry answer. B-Pref averages the members' entropies,
  ``mean_m H(P_m)`` with ``H(p) = -p ln p - (1-p) ln(1-p)`` (``get_entropy`` then ``entropy_sampling``);
  that is the default (``of="members"``). ``of="mean"`` scores the entropy of the ensemble-mean
  probability, ``H(mean_m P_m)``.
* ``"kcenter"``: greedy K-center (farthest-point) coreset selection (Sener & Savarese 2018) on pair
  features: each step adds the candidate whose distance to the nearest centre is largest, the centres
  being the already-labelled pairs plus those picked so far. B-Pref's features are the two segments'
  observations (not actions), flattened and concatenated, ``(C, 2 T d_obs)`` (:func:`pair_features`).
* ``"kcenter_disagreement"`` / ``"kcenter_entropy"``: keep the top half of the candidates by disagreement
  (entropy), then greedy K-center among them (B-Pref's ``kcenter_disagree_sampling``, ``num_init_half``).

Posterior strategies for rewards linear in features, ``r = w · phi`` (Bıyık et al. 2022, APReL,
``aprel.querying.acquisition_functions``), from posterior samples ``w_s`` ``(S, F)`` and the pairs'
feature differences ``Δ = phi(a) - phi(b)`` ``(C, F)``, under APReL's softmax (Bradley–Terry) user
``P_s = P(a ≻ b | w_s) = sigmoid(beta w_s · Δ)``:

* ``"information_gain"``: the mutual information between the answer and ``w`` (Bıyık et al. 2019,
  "Asking Easy Questions"), estimated from the samples in bits as APReL does,
  ``I = H2(mean_s P_s) - mean_s H2(P_s)``, which equals APReL's
  ``(1/S) sum_s sum_q p_sq log2(S p_sq / sum_s' p_s'q)``.
* ``"volume_removal"``: the expected volume removed from the unnormalised belief (Sadigh et al. 2017;
  Bıyık & Sadigh 2018): an answer ``q`` keeps volume ``E_w[P(q | w)]`` and is given with that same
  probability, so the expected removal is ``1 - sum_q (E_w P(q | w))^2 = 2 p (1 - p)`` with
  ``p = mean_s P_s``. (APReL's stored code returns the kept part ``sum_q (...)^2`` while its optimiser
  maximises; we return the removed part, which its docstring describes. Sadigh et al.'s
  ``min(E[1 - P], E[P]) = min(p, 1 - p)`` orders queries identically.)

Every score is maximised; ties go to the lowest candidate index, so the same inputs give the same pairs.

References:
    Kimin Lee, Laura Smith, Pieter Abbeel, "B-Pref: Benchmarking Preference-Based Reinforcement
    Learning", NeurIPS Datasets and Benchmarks 2021.
    Erdem Bıyık, Aditi Talati, Dorsa Sadigh, "APReL: A Library for Active Preference-based Reward
    Learning Algorithms", HRI 2022.
    Erdem Bıyık, Malayandi Palan, Nicholas C. Landolfi, Dylan P. Losey, Dorsa Sadigh, "Asking Easy
    Questions: A User-Friendly Approach to Active Reward Learning", CoRL 2019.
    Dorsa Sadigh, Anca D. Dragan, Shankar Sastry, Sanjit A. Seshia, "Active Preference-Based Learning of
    Reward Functions", RSS 2017.
    Ozan Sener, Silvio Savarese, "Active Learning for Convolutional Neural Networks: A Core-Set
    Approach", ICLR 2018.
"""

from __future__ import annotations

import math
from collections.abc import Sized
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import torch
from scipy.spatial.distance import cdist

from rewardlab.data.validate import as_numpy
from rewardlab.errors import ConfigError, ProbabilityError, ShapeError, ValidationError
from rewardlab.prefs.losses import preference_probability

__all__ = [
    "QUERY_STRATEGIES",
    "Disagreement",
    "Entropy",
    "InformationGain",
    "KCenter",
    "KCenterUncertainty",
    "QueryContext",
    "QueryStrategy",
    "Uniform",
    "VolumeRemoval",
    "binary_entropy",
    "candidate_batch_size",
    "disagreement_scores",
    "entropy_scores",
    "information_gain_scores",
    "kcenter_greedy",
    "linear_preference_probabilities",
    "pair_features",
    "query_strategy",
    "select_queries",
    "top_k",
    "volume_removal_scores",
]


@dataclass(frozen=True)
class QueryContext:
    """What the strategies score candidates with; each strategy reads only the fields it needs.

    Attributes:
        member_probs: ``(M, C)`` each ensemble member's ``P(a ≻ b)`` for each candidate pair
            (disagreement, entropy, K-center + disagreement/entropy).
        features: ``(C, D)`` one feature vector per candidate pair (K-center; see :func:`pair_features`).
        labelled_features: ``(L, D)`` the features of the pairs labelled so far, which K-center treats as
            existing centres; ``None`` or ``L = 0`` when nothing is labelled.
        feature_diffs: ``(C, F)`` ``phi(a) - phi(b)`` for a reward linear in features ``phi``
            (information gain, volume removal).
        weight_samples: ``(S, F)`` samples of the reward weights from the current posterior.
        beta: the softmax user's rationality ``beta > 0`` in ``P(a ≻ b | w) = sigmoid(beta w · Δ)``.
    """

    member_probs: Any = None
    features: Any = None
    labelled_features: Any = None
    feature_diffs: Any = None
    weight_samples: Any = None
    beta: float = 1.0


@runtime_checkable
class QueryStrategy(Protocol):
    """Picks ``k`` of the candidate pairs: ``select(candidates, k, *, rng, context) -> (k,) int64 indices``.

    ``candidates`` is the sized collection of candidate pairs (only ``len(candidates) = C`` is used; the
    scores come from ``context``); the indices are distinct, in ``[0, C)``, best first.
    """

    @property
    def name(self) -> str:
        """The strategy's key in :data:`QUERY_STRATEGIES`."""
        ...

    def select(self, candidates: Sized | int, k: int, *, rng: np.random.Generator, context: QueryContext) -> np.ndarray:
        """Indices ``(k,)`` of the pairs to query."""
        ...


# ---------------------------------------------------------------------------------------------- checks


def _n_candidates(candidates: Sized | int) -> int:
    if isinstance(candidates, bool):
        raise ValidationError("candidates", "is a bool", "pass the candidate pairs (any sized collection) or their count")
    n = candidates if isinstance(candidates, int | np.integer) else len(candidates)
    if n < 1:
        raise ValidationError("candidates", "is empty", "draw at least k candidate pairs before selecting queries")
    return int(n)


def _check_k(k: Any, n: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise ValidationError("k", f"is {k!r}", "pass the number of pairs to query as a positive int")
    if k < 1:
        raise ValidationError("k", f"is {k}", "ask for at least one pair")
    if k > n:
        raise ValidationError(
            "k",
            f"is {k}, more than the {n} candidate pairs",
            "draw a larger candidate batch (see candidate_batch_size) or ask for fewer pairs",
        )
    return int(k)


def _matrix(value: Any, field: str, shape_doc: str, needed_by: str) -> np.ndarray:
    if value is None:
        raise ValidationError(field, f"is missing; {needed_by} needs it", f"pass {field} of shape {shape_doc} in the QueryContext")
    x = as_numpy(value).astype(np.float64, copy=False)
    if x.ndim != 2:
        raise ShapeError(field, f"has shape {x.shape}", f"pass a 2-D array of shape {shape_doc}")
    if not np.isfinite(x).all():
        raise ValidationError(field, "holds NaN or infinite values", "pass finite values")
    return x


def _check_candidates(n_rows: int, n: int, field: str, axis: str) -> None:
    if n_rows != n:
        raise ShapeError(
            field, f"covers {n_rows} pairs along its {axis} axis but there are {n} candidates", "pass one entry per candidate pair"
        )


def _probs(member_probs: Any, field: str = "member_probs", needed_by: str = "this strategy") -> np.ndarray:
    p = _matrix(member_probs, field, "(M, C)", needed_by)
    if p.shape[0] < 1 or p.shape[1] < 1:
        raise ShapeError(field, f"has shape {p.shape}", "pass at least one member and one pair")
    if (p < 0).any() or (p > 1).any():
        raise ProbabilityError(field, "holds values outside [0, 1]", "pass probabilities P(a ≻ b), not returns or logits")
    return p


# ------------------------------------------------------------------------------------------- the maths


def binary_entropy(p: Any) -> np.ndarray:
    """``H(p) = -p ln p - (1 - p) ln(1 - p)`` in nats, elementwise, with ``0 ln 0 = 0``.

    Examples:
        >>> binary_entropy([0.5, 1.0, 0.0]).round(4).tolist()
        [0.6931, 0.0, 0.0]
    """
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = 0.0 - np.where(p > 0, p * np.log(p), 0.0) - np.where(p < 1, (1 - p) * np.log1p(-p), 0.0)  # 0.0 - : no -0.0
    return np.asarray(h)


def disagreement_scores(member_probs: Any) -> np.ndarray:
    """``Var_m[P_m(a ≻ b)]`` over ensemble members (population variance), ``(M, C) -> (C,)``.

    B-Pref ranks by the standard deviation; the order is the same.

    Examples:
        >>> disagreement_scores([[0.1, 0.5], [0.9, 0.5]]).round(4).tolist()
        [0.16, 0.0]
    """
    return np.asarray(_probs(member_probs).var(axis=0))


def entropy_scores(member_probs: Any, *, of: Literal["members", "mean"] = "members") -> np.ndarray:
    """Entropy of the answer per pair, ``(M, C) -> (C,)``, in nats.

    ``of="members"`` (B-Pref): ``mean_m H(P_m)``; ``of="mean"``: ``H(mean_m P_m)``.

    Examples:
        >>> entropy_scores([[0.1, 0.5], [0.9, 0.5]]).round(4).tolist()
        [0.3251, 0.6931]
        >>> entropy_scores([[0.1, 0.5], [0.9, 0.5]], of="mean").round(4).tolist()
        [0.6931, 0.6931]
    """
    p = _probs(member_probs)
    if of == "members":
        return np.asarray(binary_entropy(p).mean(axis=0))
    if of == "mean":
        return binary_entropy(p.mean(axis=0))
    raise ConfigError("of", f"is {of!r}", "choose 'members' (B-Pref: mean of the members' entropies) or 'mean'")


def linear_preference_probabilities(feature_diffs: Any, weight_samples: Any, *, beta: float = 1.0) -> np.ndarray:
    """``P(a ≻ b | w_s) = sigmoid(beta w_s · (phi(a) - phi(b)))`` per sample and pair, ``(S, C)``.

    Args:
        feature_diffs: ``(C, F)`` ``phi(a) - phi(b)``.
        weight_samples: ``(S, F)`` posterior samples of the reward weights.
        beta: rationality, ``> 0``.

    Examples:
        >>> linear_preference_probabilities([[1.0], [0.0]], [[2.0], [-2.0]]).round(4).tolist()
        [[0.8808, 0.5], [0.1192, 0.5]]
    """
    d = _matrix(feature_diffs, "feature_diffs", "(C, F)", "a posterior strategy")
    w = _matrix(weight_samples, "weight_samples", "(S, F)", "a posterior strategy")
    if w.shape[0] < 1:
        raise ShapeError("weight_samples", f"has shape {w.shape}", "pass at least one posterior sample")
    if w.shape[1] != d.shape[1]:
        raise ShapeError(
            "weight_samples",
            f"has {w.shape[1]} features but feature_diffs has {d.shape[1]}",
            "pass weights and feature differences of the same feature dimension F",
        )
    if not (isinstance(beta, int | float) and math.isfinite(beta) and beta > 0):
        raise ValidationError("beta", f"is {beta!r}", "pass a finite rationality beta > 0")
    logit = torch.from_numpy(beta * (w @ d.T))
    return preference_probability(logit, torch.zeros_like(logit)).numpy()


def information_gain_scores(feature_diffs: Any, weight_samples: Any, *, beta: float = 1.0) -> np.ndarray:
    """Mutual information between the answer and ``w``, in bits, ``(C,)``: ``H2(mean_s P_s) - mean_s H2(P_s)``.

    The sample estimate APReL's ``mutual_information`` computes (Bıyık et al. 2019), each sample weighted
    ``1/S``; between 0 and 1 bit.

    Examples:
        >>> information_gain_scores([[1.0], [0.0]], [[50.0], [-50.0]]).round(4).tolist()
        [1.0, 0.0]
    """
    p = linear_preference_probabilities(feature_diffs, weight_samples, beta=beta)
    return np.asarray((binary_entropy(p.mean(axis=0)) - binary_entropy(p).mean(axis=0)) / math.log(2))


def volume_removal_scores(feature_diffs: Any, weight_samples: Any, *, beta: float = 1.0) -> np.ndarray:
    """Expected volume removed from the unnormalised belief, ``1 - p^2 - (1 - p)^2 = 2 p (1 - p)``, ``(C,)``.

    ``p = mean_s P(a ≻ b | w_s)`` (Sadigh et al. 2017; Bıyık & Sadigh 2018; APReL's ``volume_removal``).

    Examples:
        >>> volume_removal_scores([[1.0], [0.0]], [[50.0], [-50.0]]).round(4).tolist()
        [0.5, 0.5]
    """
    p = linear_preference_probabilities(feature_diffs, weight_samples, beta=beta).mean(axis=0)
    return np.asarray(2 * p * (1 - p))


def top_k(scores: Any, k: int) -> np.ndarray:
    """Indices of the ``k`` largest scores, best first; ties go to the lower index.

    Examples:
        >>> top_k([0.2, 0.9, 0.9, 0.1], 2).tolist()
        [1, 2]
    """
    s = as_numpy(scores).astype(np.float64, copy=False)
    if s.ndim != 1:
        raise ShapeError("scores", f"has shape {s.shape}", "pass one score per candidate, shape (C,)")
    k = _check_k(k, len(s))
    return np.argsort(-s, kind="stable")[:k].astype(np.int64)


def kcenter_greedy(features: Any, k: int, *, labelled: Any = None) -> np.ndarray:
    """Greedy K-center (farthest-point) selection of ``k`` of the ``C`` rows of ``features``, in pick order.

    Each step picks the candidate whose Euclidean distance to its nearest centre is largest; the centres
    are the ``labelled`` rows ``(L, D)`` plus the candidates picked so far (Sener & Savarese 2018; B-Pref's
    ``KCenterGreedy``). With nothing labelled, the first pick is the candidate farthest from the mean of
    the candidates. Ties go to the lowest index; no randomness.

    Examples:
        >>> kcenter_greedy([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0]], 2, labelled=[[0.0, 0.0]]).tolist()
        [2, 1]
    """
    x = _matrix(features, "features", "(C, D)", "K-center")
    k = _check_k(k, x.shape[0])
    if labelled is not None and as_numpy(labelled).size:
        centres = _matrix(labelled, "labelled_features", "(L, D)", "K-center")
        if centres.shape[1] != x.shape[1]:
            raise ShapeError(
                "labelled_features",
                f"has {centres.shape[1]} columns but features has {x.shape[1]}",
                "pass features of labelled pairs built the same way as the candidates'",
            )
        nearest: np.ndarray | None = cdist(x, centres).min(axis=1)  # (C, L) at a time, never (C, L, D)
    else:
        nearest = None
    picked: list[int] = []
    for _ in range(k):
        if nearest is None:  # no centre yet: start from the candidate farthest from the candidates' mean
            i = int(np.argmax(np.sqrt(((x - x.mean(axis=0)) ** 2).sum(-1))))
            nearest = np.sqrt(((x - x[i]) ** 2).sum(-1))
        else:
            i = int(np.argmax(nearest))  # the first maximum: ties go to the lowest index
            nearest = np.minimum(nearest, np.sqrt(((x - x[i]) ** 2).sum(-1)))
        picked.append(i)
        nearest[picked] = -np.inf  # a picked candidate is never picked again, even among duplicates
    return np.asarray(picked, dtype=np.int64)


def pair_features(obs_a: Any, obs_b: Any) -> np.ndarray:
    """B-Pref's K-center features: both segments' observations flattened and concatenated, ``(C, 2 T d)``.

    Args:
        obs_a: ``(C, T, ...)`` the observations of the first segment of each pair.
        obs_b: ``(C, T, ...)`` those of the second.

    Examples:
        >>> pair_features(np.zeros((3, 4, 2)), np.ones((3, 4, 2))).shape
        (3, 16)
    """
    a, b = as_numpy(obs_a), as_numpy(obs_b)
    if a.ndim < 2 or a.shape != b.shape:
        raise ShapeError(
            "obs_b", f"has shape {b.shape} but obs_a has {a.shape}", "pass segments of the same shape (C, T, ...) for both sides"
        )
    n = a.shape[0]
    return np.concatenate([a.reshape(n, -1), b.reshape(n, -1)], axis=1).astype(np.float64)


def candidate_batch_size(k: int, large_batch: int) -> int:
    """How many uniform candidate pairs to draw for ``k`` queries: ``k * large_batch`` (B-Pref).

    Examples:
        >>> candidate_batch_size(10, 10)
        100
    """
    if isinstance(large_batch, bool) or not isinstance(large_batch, int | np.integer) or large_batch < 1:
        raise ValidationError("large_batch", f"is {large_batch!r}", "pass a positive int (B-Pref uses 10)")
    return _check_k(k, 2**62) * int(large_batch)


# ------------------------------------------------------------------------------------------ strategies


@dataclass(frozen=True)
class Uniform:
    """``k`` pairs uniformly at random without replacement (B-Pref's ``uniform_sampling``)."""

    name: str = "uniform"

    def select(self, candidates: Sized | int, k: int, *, rng: np.random.Generator, context: QueryContext | None = None) -> np.ndarray:
        """Indices ``(k,)``; uses only ``rng``."""
        n = _n_candidates(candidates)
        k = _check_k(k, n)
        return rng.choice(n, size=k, replace=False).astype(np.int64)


@dataclass(frozen=True)
class Disagreement:
    """The ``k`` pairs with the largest ensemble variance of ``P(a ≻ b)`` (B-Pref's ``disagreement_sampling``)."""

    name: str = "disagreement"

    def select(self, candidates: Sized | int, k: int, *, rng: np.random.Generator, context: QueryContext) -> np.ndarray:
        """Indices ``(k,)``; reads ``context.member_probs`` ``(M, C)``."""
        n = _n_candidates(candidates)
        k = _check_k(k, n)
        p = _probs(context.member_probs, needed_by="the disagreement strategy")
        _check_candidates(p.shape[1], n, "member_probs", "second")
        return top_k(disagreement_scores(p), k)


@dataclass(frozen=True)
class Entropy:
    """The ``k`` pairs with the largest answer entropy (B-Pref's ``entropy_sampling``); see :func:`entropy_scores`."""

    of: Literal["members", "mean"] = "members"
    name: str = "entropy"

    def select(self, candidates: Sized | int, k: int, *, rng: np.random.Generator, context: QueryContext) -> np.ndarray:
        """Indices ``(k,)``; reads ``context.member_probs`` ``(M, C)``."""
        n = _n_candidates(candidates)
        k = _check_k(k, n)
        p = _probs(context.member_probs, needed_by="the entropy strategy")
        _check_candidates(p.shape[1], n, "member_probs", "second")
        return top_k(entropy_scores(p, of=self.of), k)


@dataclass(frozen=True)
class KCenter:
    """Greedy K-center on pair features (B-Pref's ``kcenter_sampling``); see :func:`kcenter_greedy`."""

    name: str = "kcenter"

    def select(self, candidates: Sized | int, k: int, *, rng: np.random.Generator, context: QueryContext) -> np.ndarray:
        """Indices ``(k,)``; reads ``context.features`` ``(C, D)`` and ``context.labelled_features`` ``(L, D)``."""
        n = _n_candidates(candidates)
        k = _check_k(k, n)
        x = _matrix(context.features, "features", "(C, D)", "the kcenter strategy")
        _check_candidates(x.shape[0], n, "features", "first")
        return kcenter_greedy(x, k, labelled=context.labelled_features)


@dataclass(frozen=True)
class KCenterUncertainty:
    """Keep the top ``fraction`` of candidates by an uncertainty score, then greedy K-center among them.

    B-Pref's ``kcenter_disagree_sampling`` (``by="disagreement"``) and ``kcenter_entropy_sampling``
    (``by="entropy"``) keep ``int(0.5 C)``; we keep at least ``k``.
    """

    by: Literal["disagreement", "entropy"] = "disagreement"
    fraction: float = 0.5
    name: str = "kcenter_disagreement"

    def select(self, candidates: Sized | int, k: int, *, rng: np.random.Generator, context: QueryContext) -> np.ndarray:
        """Indices ``(k,)`` into the candidates; reads ``member_probs``, ``features``, ``labelled_features``."""
        n = _n_candidates(candidates)
        k = _check_k(k, n)
        if not 0 < self.fraction <= 1:
            raise ConfigError("fraction", f"is {self.fraction}", "keep a fraction in (0, 1] of the candidates (B-Pref: 0.5)")
        p = _probs(context.member_probs, needed_by=f"the {self.name} strategy")
        _check_candidates(p.shape[1], n, "member_probs", "second")
        x = _matrix(context.features, "features", "(C, D)", f"the {self.name} strategy")
        _check_candidates(x.shape[0], n, "features", "first")
        if self.by == "disagreement":
            scores = disagreement_scores(p)
        elif self.by == "entropy":
            scores = entropy_scores(p)
        else:
            raise ConfigError("by", f"is {self.by!r}", "choose 'disagreement' or 'entropy'")
        kept = top_k(scores, max(k, int(self.fraction * n)))
        return np.asarray(kept[kcenter_greedy(x[kept], k, labelled=context.labelled_features)])


@dataclass(frozen=True)
class _WeightPosteriorQuery:
    """The ``k`` pairs with the largest score of a linear reward's posterior (``feature_diffs``, ``weight_samples``, ``beta``)."""

    name: str

    def scores(self, diffs: np.ndarray, weights: Any, beta: float) -> np.ndarray:
        raise NotImplementedError

    def select(self, candidates: Sized | int, k: int, *, rng: np.random.Generator, context: QueryContext) -> np.ndarray:
        """Indices ``(k,)``; reads ``feature_diffs`` ``(C, F)``, ``weight_samples`` ``(S, F)``, ``beta``."""
        n = _n_candidates(candidates)
        k = _check_k(k, n)
        d = _matrix(context.feature_diffs, "feature_diffs", "(C, F)", f"the {self.name} strategy")
        _check_candidates(d.shape[0], n, "feature_diffs", "first")
        return top_k(self.scores(d, context.weight_samples, context.beta), k)


@dataclass(frozen=True)
class InformationGain(_WeightPosteriorQuery):
    """The ``k`` pairs with the largest mutual information between answer and weights (APReL's ``mutual_information``)."""

    name: str = "information_gain"

    def scores(self, diffs: np.ndarray, weights: Any, beta: float) -> np.ndarray:
        return information_gain_scores(diffs, weights, beta=beta)


@dataclass(frozen=True)
class VolumeRemoval(_WeightPosteriorQuery):
    """The ``k`` pairs with the largest expected volume removal (APReL's ``volume_removal``)."""

    name: str = "volume_removal"

    def scores(self, diffs: np.ndarray, weights: Any, beta: float) -> np.ndarray:
        return volume_removal_scores(diffs, weights, beta=beta)


QUERY_STRATEGIES: dict[str, QueryStrategy] = {
    "uniform": Uniform(),
    "disagreement": Disagreement(),
    "entropy": Entropy(),
    "kcenter": KCenter(),
    "kcenter_disagreement": KCenterUncertainty(by="disagreement", name="kcenter_disagreement"),
    "kcenter_entropy": KCenterUncertainty(by="entropy", name="kcenter_entropy"),
    "information_gain": InformationGain(),
    "volume_removal": VolumeRemoval(),
}
"""Strategy name (the CLI's ``--query``) -> strategy."""


def query_strategy(name: str) -> QueryStrategy:
    """The strategy called ``name``, or a ConfigError listing the names.

    Examples:
        >>> query_strategy("entropy").name
        'entropy'
    """
    try:
        return QUERY_STRATEGIES[name]
    except (KeyError, TypeError):
        raise ConfigError("query", f"is {name!r}", f"choose one of {', '.join(QUERY_STRATEGIES)}") from None


def select_queries(
    strategy: QueryStrategy | str,
    candidates: Sized | int,
    k: int,
    *,
    rng: np.random.Generator,
    context: QueryContext | None = None,
    first_batch: bool = False,
) -> np.ndarray:
    """``strategy.select(...)``, except that the first batch of a run is always uniform (B-Pref, APReL).

    Args:
        strategy: a strategy or its name in :data:`QUERY_STRATEGIES`.
        candidates: the candidate pairs (or their count ``C``).
        k: pairs to query, ``1 <= k <= C``.
        rng: the generator uniform sampling draws from.
        context: the strategy's inputs; not needed for the first batch or for ``"uniform"``.
        first_batch: True for round 0 (nothing trained yet): draw uniformly whatever the strategy.

    Returns:
        ``(k,)`` int64 distinct candidate indices.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> sorted(select_queries("disagreement", 5, 5, rng=rng, first_batch=True).tolist())
        [0, 1, 2, 3, 4]
    """
    chosen = query_strategy(strategy) if isinstance(strategy, str) else strategy
    if first_batch or isinstance(chosen, Uniform):
        return Uniform().select(candidates, k, rng=rng)
    return chosen.select(candidates, k, rng=rng, context=context if context is not None else QueryContext())
