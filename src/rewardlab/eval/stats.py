"""Statistics for comparing methods over seeds and tasks: mean with standard error, interquartile mean
(IQM), stratified bootstrap confidence intervals and the probability of improvement.

The definitions are those of rliable (Agarwal, Schwarzer, Castro, Courville & Bellemare, 2021, "Deep
Reinforcement Learning at the Edge of the Statistical Precipice", NeurIPS): the IQM is the 25% trimmed
mean of every score of every run and task pooled; a confidence interval is a percentile bootstrap that
resamples runs *within* each task (tasks are strata, never mixed); the probability of improvement of X
over Y is the Mann-Whitney U statistic of each task divided by ``n m``, averaged over tasks. The
bootstrap is :func:`scipy.stats.bootstrap`, given one sample per task, which resamples each sample
independently: that is exactly the stratified bootstrap.

Scores are given as one of:

- a ``(runs,)`` array: one task;
- a ``(runs, tasks)`` array: ``scores[i, t]`` is run ``i`` of task ``t`` (every task has the same runs);
- a mapping ``task -> (runs_t,)`` array, whose run counts may differ between tasks (a failed seed).

Every score must be finite. "Higher is better" throughout; for a metric where lower is better (EVD, a
loss) negate the scores before :func:`probability_of_improvement`, as
:func:`rewardlab.experiments.summarize.summarize` does.

Examples:
    >>> import numpy as np
    >>> scores = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0]])  # 4 runs x 2 tasks
    >>> iqm(scores)  # the middle half of the 8 pooled scores: (3 + 4 + 10 + 20) / 4
    9.25
    >>> low, high = stratified_bootstrap_ci(scores, aggregate_iqm, resamples=2000, rng=np.random.default_rng(0))
    >>> bool(low <= iqm(scores) <= high)
    True
    >>> probability_of_improvement(scores + 1, scores)  # task 0: 11.5 / 16 pairs (3 ties), task 1: 10 / 16
    0.671875
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import scipy.stats

from rewardlab.errors import ShapeError, ValidationError

__all__ = [
    "BOOTSTRAP_METHODS",
    "aggregate_iqm",
    "aggregate_mean",
    "iqm",
    "mean_and_sem",
    "probability_of_improvement",
    "probability_of_improvement_ci",
    "proportion_ci",
    "stratified_bootstrap_ci",
    "task_scores",
]

#: the interval methods of :func:`scipy.stats.bootstrap`; rliable's default, and ours, is ``"percentile"``
BOOTSTRAP_METHODS = ("percentile", "basic", "BCa")

#: at most this many boolean comparisons in memory at once in the bootstrap of the probability of improvement
_MAX_PAIRS = 4_000_000

Statistic = Callable[..., Any]


def task_scores(scores: Any, name: str = "scores") -> list[np.ndarray]:
    """The scores of each task as a list of finite float arrays ``[(runs_0,), (runs_1,), ...]``.

    Args:
        scores: a ``(runs,)`` array (one task), a ``(runs, tasks)`` array, or a mapping task -> ``(runs_t,)``
            array (run counts may differ between tasks; the tasks in the mapping's order).
        name: the argument's name in error messages.

    Raises:
        ValidationError: empty, ragged (a nested list whose rows differ in length), not numeric, or holding
            NaN or infinity; ``ShapeError`` for an array of 0 or more than 2 dimensions.

    Examples:
        >>> [t.tolist() for t in task_scores([[1, 10], [2, 20], [3, 30]])]
        [[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]]
        >>> [t.tolist() for t in task_scores({"a": [1, 2, 3], "b": [7, 8]})]
        [[1.0, 2.0, 3.0], [7.0, 8.0]]
        >>> task_scores([[1, 2], [3]])
        Traceback (most recent call last):
        ...
        rewardlab.errors.ValidationError: scores: is ragged (its rows have different lengths), not a (runs, tasks) array. Fix: pass a (runs, tasks) array, or a mapping task -> (runs,) array when tasks have different numbers of runs.
    """
    if isinstance(scores, Mapping):
        if not scores:
            raise ValidationError(name, "is an empty mapping", "give at least one task with at least one score")
        return [_one_task(value, f"{name}[{key!r}]") for key, value in scores.items()]
    array = _as_float_array(scores, name)
    if array.ndim not in (1, 2):
        raise ShapeError(name, f"has shape {array.shape}", "pass a (runs,) array for one task or a (runs, tasks) array")
    if array.size == 0:
        raise ValidationError(name, f"is empty (shape {array.shape})", "give at least one run of at least one task")
    matrix = array.reshape(len(array), -1)
    bad = np.argwhere(~np.isfinite(matrix))
    if len(bad):
        run, task = bad[0]
        where = f"run {run}" + (f", task {task}" if array.ndim == 2 else "")
        raise ValidationError(
            name, f"holds {len(bad)} non-finite value(s), the first {matrix[run, task]} at {where}", "drop or repair the failed runs"
        )
    return [np.ascontiguousarray(column) for column in matrix.T]


def _as_float_array(values: Any, name: str) -> np.ndarray:
    """``values`` as a float array; a ragged nested list or a non-number is a :class:`ValidationError`."""
    try:
        return np.asarray(values, dtype=float)
    except ValueError as exc:
        if "inhomogeneous" in str(exc) or "sequence" in str(exc):
            raise ValidationError(
                name,
                "is ragged (its rows have different lengths), not a (runs, tasks) array",
                "pass a (runs, tasks) array, or a mapping task -> (runs,) array when tasks have different numbers of runs",
            ) from None
        raise ValidationError(name, f"is not numeric ({exc})", "pass numbers") from None
    except TypeError as exc:
        raise ValidationError(name, f"is not numeric ({exc})", "pass numbers") from None


def _one_task(values: Any, name: str) -> np.ndarray:
    """One task's ``(runs,)`` scores, checked."""
    array = _as_float_array(values, name)
    if array.ndim != 1:
        raise ShapeError(name, f"has shape {array.shape}", "give each task's scores as a (runs,) array")
    if array.size == 0:
        raise ValidationError(name, "is empty", "give at least one run, or leave the task out")
    bad = np.flatnonzero(~np.isfinite(array))
    if len(bad):
        raise ValidationError(
            name, f"holds {len(bad)} non-finite value(s), the first {array[bad[0]]} at run {bad[0]}", "drop or repair the failed runs"
        )
    return array


def aggregate_mean(*tasks: np.ndarray) -> np.ndarray:
    """The mean over tasks of each task's mean over runs (rliable's ``aggregate_mean``), batched.

    .. math:: \\bar x = \\frac{1}{T} \\sum_{t=1}^{T} \\frac{1}{n_t} \\sum_{i=1}^{n_t} x_{i t}

    Args:
        *tasks: one array per task, shaped ``(..., runs_t)``; the leading axes (bootstrap resamples) are
            shared by all tasks.

    Returns:
        Shape ``(...)``.

    Examples:
        >>> float(aggregate_mean(np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0])))
        8.5
    """
    return np.asarray(np.mean([np.mean(task, axis=-1) for task in tasks], axis=0))


def aggregate_iqm(*tasks: np.ndarray) -> np.ndarray:
    """The interquartile mean of every run of every task pooled (rliable's ``aggregate_iqm``), batched.

    The 25% trimmed mean (:func:`scipy.stats.trim_mean`): of the ``N = sum_t runs_t`` pooled scores sorted,
    drop the ``k = floor(N / 4)`` lowest and the ``k`` highest and average the remaining ``N - 2k``. For ``N``
    a multiple of 4 that is the mean of the middle half. Tasks with more runs weigh more.

    Args:
        *tasks: one array per task, shaped ``(..., runs_t)`` (leading axes shared, as in :func:`aggregate_mean`).

    Returns:
        Shape ``(...)``.

    Examples:
        >>> float(aggregate_iqm(np.arange(1.0, 9.0)))  # drop 1, 2 and 7, 8
        4.5
    """
    return np.asarray(scipy.stats.trim_mean(np.concatenate(tasks, axis=-1), 0.25, axis=-1))


def iqm(scores: Any) -> float:
    """Interquartile mean of ``scores`` (all runs and tasks pooled): :func:`aggregate_iqm`.

    Args:
        scores: ``(runs,)``, ``(runs, tasks)`` or a mapping task -> ``(runs_t,)`` (see the module).

    Examples:
        >>> iqm([1, 2, 3, 4, 5, 6, 7, 8])  # mean of the middle four
        4.5
        >>> iqm([1, 2, 3, 4, 100])  # floor(5 / 4) = 1 dropped at each end: (2 + 3 + 4) / 3
        3.0
    """
    return float(aggregate_iqm(*task_scores(scores)))


def mean_and_sem(scores: Any) -> tuple[float, float]:
    """The mean of the task means (:func:`aggregate_mean`) and its standard error.

    For tasks with independent runs, the standard error of the mean of task means is

    .. math:: \\mathrm{SEM} = \\frac{1}{T} \\sqrt{\\sum_{t=1}^{T} \\frac{s_t^2}{n_t}},
              \\qquad s_t^2 = \\frac{1}{n_t - 1} \\sum_i (x_{it} - \\bar x_t)^2,

    which for one task is the usual ``s / sqrt(n)``. With a single run in any task it is undefined: NaN.

    Args:
        scores: ``(runs,)``, ``(runs, tasks)`` or a mapping task -> ``(runs_t,)`` (see the module).

    Returns:
        ``(mean, sem)``.

    Examples:
        >>> mean_and_sem([1.0, 2.0, 3.0, 4.0])  # s = sqrt(5 / 3), SEM = s / 2
        (2.5, 0.6454972243679028)
        >>> mean_and_sem([7.0])
        (7.0, nan)
    """
    tasks = task_scores(scores)
    mean = float(aggregate_mean(*tasks))
    if min(len(task) for task in tasks) < 2:
        return mean, math.nan
    variance_of_mean = sum(float(np.var(task, ddof=1)) / len(task) for task in tasks)
    return mean, math.sqrt(variance_of_mean) / len(tasks)


def _check_bootstrap(tasks: Sequence[np.ndarray], name: str, confidence: float, resamples: int, method: str, rng: Any) -> None:
    """Refuse what :func:`scipy.stats.bootstrap` cannot do (or does not mean) with a rewardlab error."""
    for index, task in enumerate(tasks):
        if len(task) < 2:
            raise ValidationError(
                name,
                f"task {index} has {len(task)} run, and a stratified bootstrap resamples runs within each task",
                "give every task at least 2 runs (seeds)",
            )
    if not 0.0 < confidence < 1.0:
        raise ValidationError("confidence", f"is {confidence}", "give a level between 0 and 1, e.g. 0.95")
    if isinstance(resamples, bool) or not isinstance(resamples, (int, np.integer)) or resamples < 1:
        raise ValidationError("resamples", f"is {resamples!r}", "give a positive integer, e.g. 10000")
    if method not in BOOTSTRAP_METHODS:
        raise ValidationError("method", f"is {method!r}", f"use one of {', '.join(BOOTSTRAP_METHODS)}")
    if not isinstance(rng, np.random.Generator):
        raise ValidationError("rng", f"is a {type(rng).__name__}", "pass a numpy.random.Generator, e.g. numpy.random.default_rng(0)")


def _bootstrap(
    samples: tuple[np.ndarray, ...],
    statistic: Statistic,
    confidence: float,
    resamples: int,
    method: str,
    rng: np.random.Generator,
    batch: int | None,
) -> tuple[float, float]:
    """:func:`scipy.stats.bootstrap` of ``statistic(*samples)``, each sample resampled on its own."""
    result = scipy.stats.bootstrap(
        samples,
        lambda *resampled, axis=-1: statistic(*resampled),
        n_resamples=int(resamples),
        batch=batch,
        vectorized=True,
        paired=False,
        axis=-1,
        confidence_level=confidence,
        method=method,
        rng=rng,
    )
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValidationError(
            "statistic", f"gave a non-finite {method} interval ({low}, {high})", "check the statistic, or use method='percentile'"
        )
    return low, high


def stratified_bootstrap_ci(
    scores: Any,
    statistic: Statistic = aggregate_iqm,
    *,
    confidence: float = 0.95,
    resamples: int = 10_000,
    method: str = "percentile",
    rng: np.random.Generator,
) -> tuple[float, float]:
    """A stratified bootstrap confidence interval of ``statistic`` (rliable's interval estimates).

    Each of the ``B = resamples`` bootstrap data sets draws, for every task ``t`` independently, ``n_t`` runs
    with replacement from that task's ``n_t`` runs (tasks are strata: a task's scores never stand in for
    another's); the interval is read from the ``B`` values of ``statistic`` (``"percentile"``: their
    ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles). It is :func:`scipy.stats.bootstrap`
    given one sample per task (``paired=False`` resamples each sample on its own).

    Args:
        scores: ``(runs,)``, ``(runs, tasks)`` or a mapping task -> ``(runs_t,)`` (run counts may differ);
            every task needs at least 2 runs.
        statistic: a batched statistic ``statistic(*tasks) -> (...)`` taking one ``(..., runs_t)`` array per
            task, such as :func:`aggregate_iqm` (the default) or :func:`aggregate_mean`.
        confidence: the interval's level.
        resamples: number of bootstrap data sets ``B``.
        method: ``"percentile"`` (rliable's default), ``"basic"`` or ``"BCa"``.
        rng: the generator that draws the resamples.

    Returns:
        ``(low, high)``.

    Examples:
        >>> scores = {"easy": [9.0, 10.0, 11.0], "hard": [0.1, 0.2, 0.3, 0.4]}
        >>> low, high = stratified_bootstrap_ci(scores, aggregate_mean, resamples=1000, rng=np.random.default_rng(0))
        >>> # every resample keeps 3 runs of "easy" (mean in [9, 11]) and 4 of "hard" (mean in [0.1, 0.4])
        >>> bool((9.0 + 0.1) / 2 <= low < high <= (11.0 + 0.4) / 2)
        True
    """
    if statistic is iqm or statistic is mean_and_sem:
        raise ValidationError(
            "statistic",
            f"{statistic.__name__} takes a whole score array, not one batched array per task",
            "pass aggregate_iqm or aggregate_mean (or any statistic(*tasks) of (..., runs_t) arrays)",
        )
    tasks = task_scores(scores)
    _check_bootstrap(tasks, "scores", confidence, resamples, method, rng)
    return _bootstrap(tuple(tasks), statistic, confidence, resamples, method, rng, None)


def _paired_tasks(x: Any, y: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The per-task scores of ``x`` and ``y``, checked to cover the same tasks (mappings by key)."""
    if isinstance(x, Mapping) and isinstance(y, Mapping):
        if set(x) != set(y):
            missing, extra = sorted(set(x) - set(y), key=str), sorted(set(y) - set(x), key=str)
            raise ValidationError(
                "y",
                f"has tasks {sorted(y, key=str)}, x has {sorted(x, key=str)}",
                f"compare on common tasks only (x only: {missing}, y only: {extra})",
            )
        return task_scores(x, "x"), task_scores({key: y[key] for key in x}, "y")
    xs, ys = task_scores(x, "x"), task_scores(y, "y")
    if len(xs) != len(ys):
        raise ShapeError("y", f"has {len(ys)} task(s) and x has {len(xs)}", "give both methods' scores on the same tasks")
    return xs, ys


def _improvement(xs: Sequence[np.ndarray], ys: Sequence[np.ndarray]) -> np.ndarray:
    """Mean over tasks of ``(#{x_i > y_j} + #{x_i = y_j} / 2) / (n m)``, batched over leading axes."""
    per_task = []
    for x, y in zip(xs, ys, strict=True):
        left, right = x[..., :, None], y[..., None, :]
        per_task.append(np.mean(left > right, axis=(-2, -1)) + 0.5 * np.mean(left == right, axis=(-2, -1)))
    return np.asarray(np.mean(per_task, axis=0))


def probability_of_improvement(x: Any, y: Any) -> float:
    """The probability that method X beats method Y on a task chosen uniformly (rliable's definition).

    For task ``t`` with runs ``x_1..x_n`` of X and ``y_1..y_m`` of Y,

    .. math:: P(X_t > Y_t) = \\frac{1}{n m} \\sum_{i=1}^{n} \\sum_{j=1}^{m}
              \\left( [x_i > y_j] + \\tfrac{1}{2} [x_i = y_j] \\right) = \\frac{U_t}{n m},

    the Mann-Whitney U statistic of X divided by ``n m``; the result is its mean over the ``T`` tasks.
    ``P(X > Y) + P(Y > X) = 1``, and identical scores give exactly 0.5. Higher scores are better: for a
    lower-is-better metric pass ``-x, -y``.

    Args:
        x: X's scores, ``(runs_x,)``, ``(runs_x, tasks)`` or a mapping task -> ``(runs_x_t,)``.
        y: Y's scores on the same tasks (its run counts may differ from X's).

    Examples:
        >>> probability_of_improvement([3.0, 4.0], [1.0, 2.0])
        1.0
        >>> probability_of_improvement([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
        0.5
        >>> probability_of_improvement([1.0, 3.0, 5.0], [0.0, 3.0, 4.0])  # (1 + 1.5 + 3) / 9 pairs
        0.6111111111111112
    """
    xs, ys = _paired_tasks(x, y)
    return float(_improvement(xs, ys))


def probability_of_improvement_ci(
    x: Any,
    y: Any,
    *,
    confidence: float = 0.95,
    resamples: int = 10_000,
    method: str = "percentile",
    rng: np.random.Generator,
) -> tuple[float, float]:
    """A stratified bootstrap confidence interval of :func:`probability_of_improvement`.

    Each bootstrap data set resamples, with replacement and independently, X's runs and Y's runs within
    every task (rliable's ``StratifiedIndependentBootstrap``): ``2 T`` strata, one sample each given to
    :func:`scipy.stats.bootstrap`.

    Args:
        x: the first method's scores per task (as in :func:`probability_of_improvement`), each task with at
            least 2 runs.
        y: the second method's scores on the same tasks.
        confidence: as in :func:`stratified_bootstrap_ci`.
        resamples: as in :func:`stratified_bootstrap_ci`.
        method: as in :func:`stratified_bootstrap_ci`.
        rng: as in :func:`stratified_bootstrap_ci`.

    Returns:
        ``(low, high)``.

    Examples:
        >>> low, high = probability_of_improvement_ci([3.0, 4.0, 5.0], [1.0, 2.0], rng=np.random.default_rng(0))
        >>> (low, high)  # fully separated: every resample gives 1
        (1.0, 1.0)
    """
    xs, ys = _paired_tasks(x, y)
    _check_bootstrap(xs, "x", confidence, resamples, method, rng)
    _check_bootstrap(ys, "y", confidence, resamples, method, rng)
    tasks = len(xs)
    pairs = max(len(a) * len(b) for a, b in zip(xs, ys, strict=True)) * tasks
    batch = max(1, _MAX_PAIRS // pairs)

    def statistic(*resampled: np.ndarray) -> np.ndarray:
        return _improvement(resampled[:tasks], resampled[tasks:])

    return _bootstrap((*xs, *ys), statistic, confidence, resamples, method, rng, batch)


def proportion_ci(successes: int, trials: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion: ``successes`` out of ``trials`` (e.g. how often a bound
    held over a few dozen worlds: how far the measured coverage can be from the true one).

    :meth:`scipy.stats.binomtest(...).proportion_ci(method="wilson") <scipy.stats._result_classes.BinomTestResult.proportion_ci>`
    (Wilson 1927), which stays inside [0, 1] and is sensible at 0 or ``trials`` successes.

    Examples:
        >>> low, high = proportion_ci(19, 20)
        >>> round(low, 4), round(high, 4)
        (0.7639, 0.9911)

    Raises:
        ValidationError: ``trials`` < 1 or ``successes`` outside [0, trials].
    """
    if trials < 1:
        raise ValidationError("trials", f"is {trials}", "give at least one trial")
    if not 0 <= successes <= trials:
        raise ValidationError("successes", f"is {successes} of {trials} trials", "give a count between 0 and trials")
    interval = scipy.stats.binomtest(int(successes), int(trials)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(interval.low), float(interval.high)
