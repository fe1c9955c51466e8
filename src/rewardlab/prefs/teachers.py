"""Teachers: who labels a pair of segments. Simulated B-Pref labellers, replayed labels, and people.

A teacher answers a batch of queries "which of these two segments is better?". Labels follow the
convention of :mod:`rewardlab.prefs.losses` (the target of :func:`~rewardlab.prefs.losses.bradley_terry_loss`):
``y = P(a ≻ b)``, **1.0 = the first segment (a) preferred**, 0.0 = the second (b) preferred, 0.5 =
equally preferable; a query the teacher declines to answer is *skipped* (its label is NaN and its entry
of the ``skipped`` mask is True), so a forgotten mask fails loudly in any loss instead of training on it.

**Simulated teachers** are those of B-Pref (Lee, Smith, Dragan & Abbeel, "B-Pref: Benchmarking
Preference-Based Reinforcement Learning", NeurIPS Datasets and Benchmarks 2021, Section 3.2; the
definitions and their order below are those of the authors' code, ``reward_model.py``, ``get_label``).
With per-step true rewards ``r_a, r_b`` of two segments of length ``H``, returns ``R = sum_t r_t`` and a
*return scale* ``s`` (B-Pref: the mean true return of the 10 most recent training episodes times
``H / episode length``, :func:`bpref_return_scale`), the teacher with parameters
``(beta, gamma, eps_mistake, eps_skip, eps_equal)`` labels a batch in this order:

1. **skip**: when ``eps_skip * s > 0``, a query with ``max(R_a, R_b) <= eps_skip * s`` is skipped
   (neither segment is good enough to judge);
2. **equal**: the remaining queries with ``|R_a - R_b| < eps_equal * s`` are marked equally preferable
   (on the undiscounted returns);
3. **myopic** returns ``R^gamma = sum_t gamma^(H-1-t) r_t`` (the last step weighs 1, earlier steps less);
4. **rational or Boltzmann**: with ``beta = inf`` (B-Pref's ``teacher_beta = -1``) the first segment is
   preferred iff ``R^gamma_a >= R^gamma_b`` (B-Pref prefers the second only when it is strictly better, so
   exact ties go to the first); with finite ``beta > 0`` the first is preferred with probability
   ``P = sigmoid(beta (R^gamma_a - R^gamma_b))`` (Bradley–Terry, :func:`~rewardlab.prefs.losses.preference_probability`);
5. **mistake**: each label is flipped (``y -> 1 - y``) with probability ``eps_mistake``;
6. the queries found equal in step 2 are then labelled 0.5, whatever steps 4–5 said.

Consequences of B-Pref's definitions worth knowing: the thresholds scale with the *sign* of the returns
too, so where recent returns are negative (Pendulum) ``eps_skip * s <= 0`` and ``eps_equal * s <= 0``,
and the skip and equal teachers answer as the oracle does; and mistakes are drawn before the equal
labels overwrite them, so a mistake never turns a tie into a preference.

The six B-Pref presets are :data:`TEACHER_PRESETS`. :class:`ReplayTeacher` answers from saved labels
of known pairs; :class:`HumanTeacher` is the protocol a person behind the labelling app satisfies.

Examples:
    >>> import numpy as np
    >>> teacher = SimulatedTeacher(TEACHER_PRESETS["oracle"])
    >>> out = teacher.label(np.array([[1.0, 2.0], [0.0, 0.0]]), np.array([[0.0, 0.0], [1.0, 0.0]]), rng=np.random.default_rng(0))
    >>> out.labels.tolist(), out.skipped.tolist()
    ([1.0, 0.0], [False, False])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import torch

from rewardlab.data.validate import as_numpy
from rewardlab.errors import ConfigError, ShapeError, ValidationError
from rewardlab.prefs.losses import preference_probability

__all__ = [
    "TEACHER_PRESETS",
    "HumanAnswers",
    "HumanTeacher",
    "ReplayTeacher",
    "SimulatedTeacher",
    "Teacher",
    "TeacherConfig",
    "TeacherLabels",
    "bpref_labels",
    "bpref_return_scale",
    "myopic_returns",
    "teacher_preset",
]


def _readonly(x: np.ndarray) -> np.ndarray:
    x.flags.writeable = False
    return x


@dataclass(frozen=True)
class TeacherLabels:
    """A teacher's answers to a batch of ``B`` queries.

    Attributes:
        labels: ``(B,)`` float64 ``P(first ≻ second)``: 1.0 first preferred, 0.0 second preferred, 0.5
            equally preferable, NaN where skipped. Read-only.
        skipped: ``(B,)`` bool, True where the teacher declined to answer. Read-only.
    """

    labels: np.ndarray
    skipped: np.ndarray

    def __post_init__(self) -> None:
        labels = np.array(self.labels, dtype=np.float64)
        skipped = np.array(self.skipped, dtype=bool)
        if labels.ndim != 1 or skipped.shape != labels.shape:
            raise ShapeError("labels", f"has shape {labels.shape} and skipped {skipped.shape}", "pass two (B,) arrays")
        answered = labels[~skipped]
        bad = ~((answered == 0) | (answered == 0.5) | (answered == 1))
        if bad.any():
            k = int(np.flatnonzero(~skipped)[np.flatnonzero(bad)[0]])
            raise ValidationError(f"labels[{k}]", f"is {labels[k]}", "label each answered pair 1, 0 or 0.5 (mark skipped ones in skipped)")
        labels[skipped] = np.nan
        object.__setattr__(self, "labels", _readonly(labels))
        object.__setattr__(self, "skipped", _readonly(skipped))

    def __len__(self) -> int:
        return len(self.labels)


@runtime_checkable
class Teacher(Protocol):
    """Labels pairs of segments from their per-step true rewards.

    ``pairs`` (``(B, 2)`` int, optional) names the two segments of each query for teachers that answer by
    identity (:class:`ReplayTeacher`); teachers that judge rewards ignore it.
    """

    def label(self, rewards_a: Any, rewards_b: Any, *, rng: np.random.Generator, pairs: Any = None) -> TeacherLabels:
        """Labels of ``B`` queries: ``rewards_a``, ``rewards_b`` are ``(B, T)`` true per-step rewards."""
        ...


@dataclass(frozen=True)
class TeacherConfig:
    """A B-Pref simulated teacher (Lee et al. 2021, Section 3.2), by B-Pref's parameter names
    (``teacher_beta``, ``teacher_gamma``, ``teacher_eps_mistake``, ``teacher_eps_skip``, ``teacher_eps_equal``).

    Attributes:
        beta: rationality; ``math.inf`` is perfectly rational (B-Pref writes -1), a finite ``beta > 0``
            labels by ``sigmoid(beta (R_a - R_b))``.
        gamma: myopia discount in ``(0, 1]``: the step ``t`` of an ``H``-step segment weighs ``gamma^(H-1-t)``.
        eps_mistake: probability in ``[0, 1]`` that a label is flipped.
        eps_skip: skip threshold as a fraction of the return scale (``>= 0``).
        eps_equal: equal threshold as a fraction of the return scale (``>= 0``).

    Examples:
        >>> TeacherConfig(gamma=0.9).gamma
        0.9
        >>> TeacherConfig(beta=-1)
        Traceback (most recent call last):
        ...
        rewardlab.errors.ConfigError: beta: is -1. Fix: give a rationality > 0, or math.inf for a perfectly rational teacher (B-Pref's -1).
    """

    beta: float = math.inf
    gamma: float = 1.0
    eps_mistake: float = 0.0
    eps_skip: float = 0.0
    eps_equal: float = 0.0

    def __post_init__(self) -> None:
        if math.isnan(self.beta) or self.beta <= 0:
            raise ConfigError(
                "beta", f"is {self.beta}", "give a rationality > 0, or math.inf for a perfectly rational teacher (B-Pref's -1)"
            )
        if not 0 < self.gamma <= 1:
            raise ConfigError("gamma", f"is {self.gamma}", "give a myopia discount in (0, 1] (1: not myopic)")
        if not 0 <= self.eps_mistake <= 1:
            raise ConfigError("eps_mistake", f"is {self.eps_mistake}", "give a flip probability in [0, 1]")
        for name in ("eps_skip", "eps_equal"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(name, f"is {value}", "give a finite fraction of the return scale >= 0 (0: never)")

    @property
    def needs_scale(self) -> bool:
        """Whether the skip or equal threshold is in use, so labelling needs a return scale."""
        return self.eps_skip > 0 or self.eps_equal > 0


#: The six B-Pref teachers (Lee et al. 2021, Table 1 / the authors' run scripts): each changes one
#: parameter of the oracle.
TEACHER_PRESETS: Mapping[str, TeacherConfig] = MappingProxyType(
    {
        "oracle": TeacherConfig(),
        "mistake": TeacherConfig(eps_mistake=0.1),
        "noisy": TeacherConfig(beta=1.0),
        "skip": TeacherConfig(eps_skip=0.1),
        "myopic": TeacherConfig(gamma=0.9),
        "equal": TeacherConfig(eps_equal=0.1),
    }
)


def teacher_preset(name: str) -> TeacherConfig:
    """The B-Pref preset ``name`` (:data:`TEACHER_PRESETS`), or a ConfigError with a suggestion.

    Examples:
        >>> teacher_preset("mistake").eps_mistake
        0.1
        >>> teacher_preset("oracel")
        Traceback (most recent call last):
        ...
        rewardlab.errors.ConfigError: teacher: is 'oracel'. Fix: did you mean 'oracle'? choose one of oracle, mistake, noisy, skip, myopic, equal.
    """
    from rewardlab._schema import did_you_mean

    if name not in TEACHER_PRESETS:
        raise ConfigError("teacher", f"is {name!r}", f"{did_you_mean(name, TEACHER_PRESETS)}choose one of {', '.join(TEACHER_PRESETS)}")
    return TEACHER_PRESETS[name]


def bpref_return_scale(episode_returns: Any, segment_length: int, episode_length: int) -> float:
    """B-Pref's return scale of a segment: ``mean(episode_returns) * segment_length / episode_length``.

    B-Pref sets both thresholds from it before each round of queries, with ``episode_returns`` the true
    returns of the 10 most recent training episodes (``eps_skip * scale``, ``eps_equal * scale``).

    Examples:
        >>> bpref_return_scale([100.0, 300.0], segment_length=50, episode_length=1000)
        10.0
    """
    returns = as_numpy(episode_returns).astype(np.float64).reshape(-1)
    if not returns.size or not np.isfinite(returns).all():
        raise ValidationError(
            "episode_returns", f"holds {returns.size} values, not all finite", "pass the finite true returns of recent episodes"
        )
    if (
        not (isinstance(segment_length, (int, np.integer)) and isinstance(episode_length, (int, np.integer)))
        or not 0 < segment_length <= episode_length
    ):
        raise ValidationError(
            "segment_length",
            f"is {segment_length} with episode_length {episode_length}",
            "pass integers with 0 < segment_length <= episode_length",
        )
    return float(returns.mean() * segment_length / episode_length)


def _check_rewards(rewards_a: Any, rewards_b: Any) -> tuple[np.ndarray, np.ndarray]:
    a = as_numpy(rewards_a).astype(np.float64, copy=False)
    b = as_numpy(rewards_b).astype(np.float64, copy=False)
    for name, x in (("rewards_a", a), ("rewards_b", b)):
        if x.ndim != 2 or x.shape[1] < 1:
            raise ShapeError(name, f"has shape {x.shape}", "pass (B, T) per-step rewards of B segments of T >= 1 steps")
    if a.shape != b.shape:
        raise ShapeError("rewards_b", f"has shape {b.shape}, rewards_a {a.shape}", "pass segments of the same batch size and length")
    for name, x in (("rewards_a", a), ("rewards_b", b)):
        bad = np.argwhere(~np.isfinite(x))
        if len(bad):
            i, t = (int(v) for v in bad[0])
            raise ValidationError(f"{name}[{i}, {t}]", f"is {x[i, t]}", "pass finite rewards")
    return a, b


def myopic_returns(rewards: Any, gamma: float) -> np.ndarray:
    """Myopic segment returns ``R^gamma = sum_t gamma^(H-1-t) r_t`` (B-Pref's myopic teacher: the most
    recent step weighs 1).

    Args:
        rewards: ``(B, H)`` per-step rewards.
        gamma: discount in ``(0, 1]``.

    Returns:
        ``(B,)`` float64.

    Examples:
        >>> myopic_returns(np.array([[1.0, 1.0, 1.0]]), 0.5).tolist()
        [1.75]
    """
    r = as_numpy(rewards).astype(np.float64, copy=False)
    weights = gamma ** np.arange(r.shape[-1] - 1, -1, -1, dtype=np.float64)
    return np.asarray(r @ weights, dtype=np.float64)


def bpref_labels(
    rewards_a: Any, rewards_b: Any, config: TeacherConfig, *, rng: np.random.Generator, return_scale: float | None = None
) -> TeacherLabels:
    """Labels of a B-Pref simulated teacher, in B-Pref's order (see the module docstring).

    Args:
        rewards_a: ``(B, H)`` true per-step rewards of the first segments.
        rewards_b: ``(B, H)`` of the second segments.
        config: the teacher's parameters.
        rng: draws the Boltzmann labels (finite ``beta``) and then the mistakes (``eps_mistake > 0``),
            one uniform per query each; nothing else is random.
        return_scale: ``s`` of the thresholds ``eps_skip * s`` and ``eps_equal * s``
            (:func:`bpref_return_scale`); needed when either fraction is positive.

    Returns:
        :class:`TeacherLabels` with 1.0 = first segment preferred.

    Examples:
        >>> cfg = TeacherConfig(eps_equal=0.1)
        >>> out = bpref_labels(np.array([[5.0], [5.0]]), np.array([[4.5], [3.0]]), cfg, rng=np.random.default_rng(0), return_scale=10.0)
        >>> out.labels.tolist()  # |5 - 4.5| < 0.1 * 10: equal; |5 - 3| is not
        [0.5, 1.0]
    """
    a, b = _check_rewards(rewards_a, rewards_b)
    if not isinstance(rng, np.random.Generator):
        raise ValidationError("rng", f"is a {type(rng).__name__}", "pass a numpy.random.Generator, e.g. np.random.default_rng(seed)")
    if config.needs_scale:
        if return_scale is None:
            raise ValidationError(
                "return_scale",
                f"is None with eps_skip={config.eps_skip}, eps_equal={config.eps_equal}",
                "give the B-Pref scale of a segment's return: bpref_return_scale(recent episode returns, segment length, episode length)",
            )
        if not math.isfinite(return_scale):
            raise ValidationError("return_scale", f"is {return_scale}", "give a finite return scale")
    scale = 0.0 if return_scale is None else float(return_scale)
    ret_a, ret_b = a.sum(axis=1), b.sum(axis=1)
    # 1. skip: only a positive threshold skips (B-Pref tests `thres_skip > 0`)
    thres_skip = config.eps_skip * scale
    skipped = np.maximum(ret_a, ret_b) <= thres_skip if thres_skip > 0 else np.zeros(len(a), dtype=bool)
    # 2. equal, on the undiscounted returns (a threshold <= 0 marks nothing: |d| < 0 never holds)
    equal = np.abs(ret_a - ret_b) < config.eps_equal * scale
    # 3. myopic returns, 4. rational or Boltzmann preference of the first segment
    my_a, my_b = myopic_returns(a, config.gamma), myopic_returns(b, config.gamma)
    if math.isinf(config.beta):
        first = my_a >= my_b  # B-Pref: the second is preferred only when strictly better
    else:
        p_first = preference_probability(torch.from_numpy(config.beta * my_a), torch.from_numpy(config.beta * my_b)).numpy()
        first = rng.random(len(a)) < p_first
    labels = first.astype(np.float64)
    # 5. mistakes flip labels; 6. the equal queries are 0.5 whatever was drawn
    if config.eps_mistake > 0:
        flip = rng.random(len(a)) < config.eps_mistake
        labels[flip] = 1.0 - labels[flip]
    labels[equal] = 0.5
    return TeacherLabels(labels, skipped)


@dataclass(frozen=True)
class SimulatedTeacher:
    """A B-Pref simulated teacher (Lee et al. 2021): :func:`bpref_labels` with a fixed config.

    The skip and equal thresholds follow the return scale the caller sets with :meth:`with_return_scale`
    (as B-Pref resets its thresholds from recent episode returns before each round of queries).

    Args:
        config: the teacher's parameters, e.g. ``TEACHER_PRESETS["mistake"]``.
        return_scale: ``s`` of the thresholds (:func:`bpref_return_scale`); None while unknown.

    Examples:
        >>> teacher = SimulatedTeacher(TEACHER_PRESETS["skip"]).with_return_scale(10.0)
        >>> teacher.label(np.array([[0.5], [3.0]]), np.array([[0.2], [1.0]]), rng=np.random.default_rng(0)).skipped.tolist()
        [True, False]
    """

    config: TeacherConfig = field(default_factory=TeacherConfig)
    return_scale: float | None = None

    def with_return_scale(self, return_scale: float) -> SimulatedTeacher:
        """This teacher with thresholds relative to ``return_scale``."""
        if not math.isfinite(return_scale):
            raise ValidationError("return_scale", f"is {return_scale}", "give a finite return scale")
        return replace(self, return_scale=float(return_scale))

    def label(self, rewards_a: Any, rewards_b: Any, *, rng: np.random.Generator, pairs: Any = None) -> TeacherLabels:
        """:func:`bpref_labels` of ``(B, T)`` true rewards (``pairs`` is not used)."""
        return bpref_labels(rewards_a, rewards_b, self.config, rng=rng, return_scale=self.return_scale)


class ReplayTeacher:
    """Answers from saved labels of known pairs (a dataset labelled before, by a person or a teacher).

    A query is named by its pair of segment indices ``(i, j)``; a saved ``(i, j)`` answers with its
    label, a saved ``(j, i)`` with the label seen from the other side (``1 - y``; 0.5 stays 0.5); a
    saved NaN label is a skipped query. The rewards passed to :meth:`label` are not used (only their
    batch size is checked against ``pairs``).

    Args:
        pairs: ``(N, 2)`` integer segment indices.
        labels: ``(N,)`` labels in {0, 0.5, 1} (1 = the first of the pair preferred) or NaN (skipped).
            A pair saved twice must agree with itself.
        missing: what a query of an unsaved pair gets: ``"error"`` (a ValidationError) or ``"skip"``.

    Examples:
        >>> teacher = ReplayTeacher([[0, 1], [2, 3]], [1.0, 0.5])
        >>> out = teacher.label(np.zeros((2, 4)), np.zeros((2, 4)), rng=np.random.default_rng(0), pairs=[[1, 0], [2, 3]])
        >>> out.labels.tolist()
        [0.0, 0.5]
    """

    def __init__(self, pairs: Any, labels: Any, *, missing: Literal["error", "skip"] = "error") -> None:
        p = as_numpy(pairs)
        y = as_numpy(labels).astype(np.float64)
        if p.ndim != 2 or p.shape[1] != 2:
            raise ShapeError("pairs", f"has shape {p.shape}", "pass (N, 2) segment indices")
        if y.shape != (len(p),):
            raise ShapeError("labels", f"has shape {y.shape} for {len(p)} pairs", "pass one label per pair")
        if p.size and (p.dtype == np.bool_ or not np.issubdtype(p.dtype, np.integer)):
            raise ValidationError("pairs", f"has dtype {p.dtype}", "pass integer segment indices")
        if missing not in ("error", "skip"):
            raise ValidationError("missing", f"is {missing!r}", "choose 'error' or 'skip'")
        self.missing = missing
        self._table: dict[tuple[int, int], float] = {}
        for k, ((i, j), label) in enumerate(zip(p.tolist(), y.tolist(), strict=True)):
            if not (math.isnan(label) or label in (0.0, 0.5, 1.0)):
                raise ValidationError(f"labels[{k}]", f"is {label}", "label each pair 1, 0 or 0.5, or NaN for a skipped query")
            for key, value in (((i, j), label), ((j, i), 1.0 - label)):
                old = self._table.setdefault(key, value)
                if not (old == value or (math.isnan(old) and math.isnan(value))):
                    raise ValidationError(
                        f"labels[{k}]", f"labels pair {(i, j)} {label}, which an earlier entry contradicts", "keep one label per pair"
                    )

    @classmethod
    def from_mapping(cls, table: Mapping[tuple[int, int], float], *, missing: Literal["error", "skip"] = "error") -> ReplayTeacher:
        """A replay teacher from ``{(i, j): label}``.

        Examples:
            >>> ReplayTeacher.from_mapping({(0, 1): 0.0}).lookup([[0, 1]]).labels.tolist()
            [0.0]
        """
        keys = list(table)
        return cls(np.array(keys, dtype=np.int64).reshape(-1, 2), np.array([table[k] for k in keys], dtype=np.float64), missing=missing)

    def __len__(self) -> int:
        return len(self._table) // 2 if self._table else 0

    def lookup(self, pairs: Any) -> TeacherLabels:
        """The saved labels of ``(B, 2)`` ``pairs``."""
        p = as_numpy(pairs)
        if p.ndim != 2 or p.shape[1] != 2:
            raise ShapeError("pairs", f"has shape {p.shape}", "pass (B, 2) segment indices")
        labels = np.full(len(p), np.nan)
        for k, (i, j) in enumerate(p.tolist()):
            value = self._table.get((int(i), int(j)))
            if value is None:
                if self.missing == "error":
                    raise ValidationError(
                        f"pairs[{k}]",
                        f"is {(int(i), int(j))}, which has no saved label",
                        "query pairs of the saved dataset, or pass missing='skip'",
                    )
                continue
            labels[k] = value
        return TeacherLabels(labels, np.isnan(labels))

    def label(self, rewards_a: Any, rewards_b: Any, *, rng: np.random.Generator, pairs: Any = None) -> TeacherLabels:
        """The saved labels of ``pairs`` (``(B, 2)``, required); ``rewards_a``/``rewards_b`` only fix ``B``."""
        if pairs is None:
            raise ValidationError(
                "pairs", "is None", "pass the (B, 2) segment indices of the queries: a replay teacher answers by identity"
            )
        a, _ = _check_rewards(rewards_a, rewards_b)
        out = self.lookup(pairs)
        if len(out) != len(a):
            raise ShapeError("pairs", f"names {len(out)} queries for {len(a)} segment pairs", "pass one pair of indices per query")
        return out


@dataclass(frozen=True)
class HumanAnswers:
    """What people have answered so far to posted queries, in the order of the ids asked about.

    Attributes:
        labels: ``(N,)`` float64: 1.0 first preferred, 0.0 second, 0.5 equally preferable; NaN where
            skipped or still pending.
        skipped: ``(N,)`` bool: the person declined ("can't tell").
        pending: ``(N,)`` bool: no answer yet when the wait timed out.
    """

    labels: np.ndarray
    skipped: np.ndarray
    pending: np.ndarray

    def __post_init__(self) -> None:
        skipped = np.array(self.skipped, dtype=bool)
        pending = np.array(self.pending, dtype=bool)
        if pending.shape != skipped.shape:
            raise ShapeError("pending", f"has shape {pending.shape}, skipped {skipped.shape}", "pass one flag per id")
        if (pending & skipped).any():
            raise ValidationError("pending", "marks a query that is also skipped", "mark each query pending, skipped or neither")
        done = TeacherLabels(self.labels, skipped | pending)  # checks the answered labels and the shapes
        object.__setattr__(self, "labels", done.labels)
        object.__setattr__(self, "skipped", _readonly(skipped))
        object.__setattr__(self, "pending", _readonly(pending))


@runtime_checkable
class HumanTeacher(Protocol):
    """People labelling queries through the labelling app (``rewardlab.labeling``): post, then collect.

    Unlike a simulated teacher, people answer later and may not answer at all, so the loop posts a
    batch of queries, keeps training, and collects what has been answered; a query still pending at the
    end of its wait stays pending (ask again later, or drop it).
    """

    def post(self, queries: Sequence[Any]) -> list[str]:
        """Show ``queries`` to the labellers.

        Args:
            queries: the pairs of segments to show, each one query record of :mod:`rewardlab.data`
                (the two segments' observations and actions; the side each is shown on is the app's to
                randomise and record).

        Returns:
            one id per query, in order, for :meth:`answers`.
        """
        ...

    def answers(self, ids: Sequence[str], *, timeout: float) -> HumanAnswers:
        """Wait up to ``timeout`` seconds (0: do not wait) for answers to the queries ``ids``.

        Returns:
            :class:`HumanAnswers` in the order of ``ids``: labels as :class:`TeacherLabels` has them
            (1.0 = the first segment of the posted query preferred, whichever side it was shown on),
            skipped, and pending where no answer came in time.

        Raises:
            ValidationError: an id that was never posted.
        """
        ...
