"""One validator of the data a learner is given, checked at the boundary so that nothing downstream
has to guess what a value means.

* :func:`validate_dataset` — trajectories against a tabular MDP (integer state and action indices in
  range, no trajectory longer than a finite horizon) or against Gymnasium spaces (shapes of the spaces,
  finite values, discrete actions in range); rewards finite. Every learner's ``fit`` calls it first.
* :func:`validate_segments` — the segments of a :class:`~rewardlab.data.PreferenceDataset` against the
  same (observations and actions of each segment, no final observation).
* :func:`check_indices` — a 1-D array of integer indices in ``[0, upper)`` (the one copy of that check).
* :func:`validate_distribution` / :func:`validate_policy` — probability rows: finite, non-negative,
  summing to 1 (tabular samplers).
* :func:`validate_labels` — preference labels ``P(first ≻ second)`` in {0, 0.5, 1}.

Errors are :class:`~rewardlab.errors.ValidationError` (``ShapeError``, ``ProbabilityError``) naming the
field down to the trajectory and time step, e.g. ``data[3].obs: holds -1 at step 2 ...``.

Examples:
    >>> from types import SimpleNamespace
    >>> mdp = SimpleNamespace(n_states=3, n_actions=2, horizon=None)  # anything with these attributes
    >>> ds = validate_dataset([Trajectory(np.array([0, 1, 2]), np.array([1, 1]))], mdp)
    >>> len(ds)
    1
    >>> validate_dataset([Trajectory(np.array([0, -1]), np.array([1]))], mdp)
    Traceback (most recent call last):
    ...
    rewardlab.errors.ValidationError: data[0].obs: holds -1 at step 1, outside the state indices [0, 3). Fix: pass state indices of this MDP (negative indices do not count from the end).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from rewardlab.data.trajectory import Trajectory, TrajectoryDataset
from rewardlab.errors import ProbabilityError, ShapeError, ValidationError

__all__ = [
    "as_numpy",
    "check_indices",
    "validate_dataset",
    "validate_distribution",
    "validate_labels",
    "validate_policy",
    "validate_segments",
]

#: The labels a preference may carry: second better, a tie, first better.
LABELS = (0.0, 0.5, 1.0)


def as_numpy(x: Any) -> np.ndarray:
    """``x`` (a torch tensor on any device, a list, an array) as a numpy array."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def check_indices(values: Any, name: str, upper: int, *, kind: str = "indices", position: str = "index", lower: int = 0) -> np.ndarray:
    """``values`` as a 1-D int64 array of indices in ``[lower, upper)``, or an error naming ``name``.

    Floats are refused even when whole (``1.0``): an index is an integer, and a float index usually
    means the data were built for something else (strict on purpose). Booleans are refused too.

    Args:
        values: ``(N,)`` array-like (numpy, torch or a list).
        name: the field to name in the error, e.g. ``"data[3].obs"``.
        upper: the exclusive upper bound (``S`` or ``A``).
        lower: the smallest valid index (a Gymnasium ``Discrete(n, start)`` space's ``start``).
        kind: what the indices are, for the message (``"state indices"``).
        position: what a position along the array is called (``"step"``, ``"index"``).

    Raises:
        ShapeError: not 1-D. ValidationError: not integers, or a value outside ``[0, upper)``.

    Examples:
        >>> check_indices([0, 2, 1], "states", 3).tolist()
        [0, 2, 1]
        >>> check_indices(np.array([0.0, 1.5]), "states", 3)
        Traceback (most recent call last):
        ...
        rewardlab.errors.ValidationError: states: has dtype float64 (1.5 at index 1), not integer indices. Fix: pass integers (cast whole-number floats with .astype(int); fractional ones are not indices).
    """
    x = as_numpy(values)
    if x.ndim != 1:
        raise ShapeError(name, f"has shape {x.shape}", f"pass a 1-D array of {kind}")
    if not x.size:
        return x.astype(np.int64)
    if x.dtype == np.bool_ or not np.issubdtype(x.dtype, np.integer):
        example = ""
        if np.issubdtype(x.dtype, np.floating):  # show the first value that is not a whole number, if any
            bad = np.flatnonzero(~np.isfinite(x) | (x != np.round(x)))
            k = int(bad[0]) if len(bad) else 0
            example = f" ({float(x[k]):g} at {position} {k})"
        raise ValidationError(
            name,
            f"has dtype {x.dtype}{example}, not integer {kind}",
            "pass integers (cast whole-number floats with .astype(int); fractional ones are not indices)",
        )
    bad = np.flatnonzero((x < lower) | (x >= upper))
    if len(bad):
        k = int(bad[0])
        hint = " (negative indices do not count from the end)" if x[k] < 0 else ""
        raise ValidationError(
            name,
            f"holds {int(x[k])} at {position} {k}, outside the {kind} [{lower}, {upper})",
            f"pass {kind} of this MDP{hint}",
        )
    return x.astype(np.int64, copy=False)


def _tabular_sizes(env_or_mdp: Any) -> tuple[int, int, int | None] | None:
    """``(S, A, horizon)`` of a tabular MDP (or a world holding one as ``.mdp``), else None."""
    for obj in (env_or_mdp, getattr(env_or_mdp, "mdp", None)):
        if obj is not None and hasattr(obj, "n_states") and hasattr(obj, "n_actions"):
            return int(obj.n_states), int(obj.n_actions), getattr(obj, "horizon", None)
    return None


def _items(data: Any, name: str, allow_empty: bool) -> list[Trajectory]:
    if isinstance(data, (Trajectory, str, bytes)) or not isinstance(data, Iterable):
        raise ValidationError(name, f"is a {type(data).__name__}", "pass a TrajectoryDataset (or a list of Trajectory)")
    items = list(data)
    if not items and not allow_empty:
        raise ValidationError(name, "holds no trajectories", "pass at least one trajectory")
    for i, tr in enumerate(items):
        if not isinstance(tr, Trajectory):
            raise ValidationError(f"{name}[{i}]", f"is a {type(tr).__name__}", "pass Trajectory objects")
    return items


def _check_rewards(items: list[Trajectory], name: str) -> None:
    for i, tr in enumerate(items):
        if tr.rews is not None:
            bad = np.flatnonzero(~np.isfinite(np.asarray(tr.rews, dtype=float)))
            if len(bad):
                raise ValidationError(
                    f"{name}[{i}].rews",
                    f"holds {tr.rews[bad[0]]} at step {int(bad[0])}",
                    "pass finite rewards (drop or repair the trajectory)",
                )


def validate_dataset(data: Any, env_or_mdp: Any, *, name: str = "data", allow_empty: bool = False) -> TrajectoryDataset:
    """Check trajectories against the MDP or env they are meant for; return them as a :class:`TrajectoryDataset`.

    **Tabular** (``env_or_mdp`` has ``n_states`` and ``n_actions``, e.g. a
    :class:`~rewardlab.mdp.TabularMDP`, or holds one as ``.mdp``): ``obs`` ``(T + 1,)`` integer states in
    ``[0, S)``, ``acts`` ``(T,)`` integer actions in ``[0, A)``, and, for a finite horizon ``H``, ``T <= H``.

    **Gymnasium** (an env, an env id, a function returning an env, or ``(observation_space,
    action_space)``): ``obs`` ``(T + 1, *observation_space.shape)``, ``acts`` ``(T, *action_space.shape)``;
    float values finite; ``Discrete`` observations and actions integers in ``[start, start + n)``.

    In both cases ``len(obs) == len(acts) + 1`` and the recorded rewards are finite.

    Args:
        data: a dataset or an iterable of :class:`Trajectory`.
        env_or_mdp: what the data are for.
        name: the argument's name in error messages (``data[3].obs``).
        allow_empty: accept a dataset without trajectories (Bayesian IRL: the posterior is the prior).

    Raises:
        ValidationError, ShapeError: naming ``{name}[i].obs`` / ``.acts`` / ``.rews`` and the offending step.
    """
    items = _items(data, name, allow_empty)
    for i, tr in enumerate(items):
        if len(tr.obs) != len(tr.acts) + 1:
            raise ShapeError(
                f"{name}[{i}].obs", f"has {len(tr.obs)} entries for {len(tr.acts)} actions", "pass T + 1 observations for T actions"
            )
    sizes = _tabular_sizes(env_or_mdp)
    if sizes is not None:
        n_s, n_a, horizon = sizes
        for i, tr in enumerate(items):
            check_indices(tr.obs, f"{name}[{i}].obs", n_s, kind="state indices", position="step")
            check_indices(tr.acts, f"{name}[{i}].acts", n_a, kind="action indices", position="step")
            if horizon is not None and len(tr) > horizon:
                raise ValidationError(
                    f"{name}[{i}]",
                    f"has {len(tr)} decisions, more than the MDP's horizon {horizon}",
                    f"truncate the demonstrations to at most {horizon} decisions, or give the MDP a horizon of at least {len(tr)}",
                )
    else:
        _check_spaces(items, env_or_mdp, name)
    _check_rewards(items, name)
    return data if isinstance(data, TrajectoryDataset) else TrajectoryDataset(items)


def validate_segments(data: Any, env_or_mdp: Any, *, name: str = "data") -> None:
    """Check a :class:`~rewardlab.data.PreferenceDataset`'s segments against the MDP or env they are meant for.

    A segment holds ``T`` decisions: observations ``(T, *observation_space.shape)`` (no final one) and
    actions ``(T, *action_space.shape)``; on a tabular MDP, integer states in ``[0, S)`` and actions in
    ``[0, A)``, and ``T`` no longer than a finite horizon. Values are finite already (a
    :class:`~rewardlab.data.Segment` refuses NaN). All segments are checked at once; the error names the
    first offending one, ``{name}[k].a.obs`` (preference ``k``, segment ``a``).

    Raises:
        ValidationError, ShapeError: naming the preference, the segment and the step.

    Examples:
        >>> from types import SimpleNamespace
        >>> from rewardlab.data import Preference, PreferenceDataset, Segment
        >>> mdp = SimpleNamespace(n_states=3, n_actions=2, horizon=None)
        >>> ds = PreferenceDataset([Preference(Segment(np.array([0, 1]), np.array([1, 1])), Segment(np.array([2, 3]), np.array([0, 0])), 1.0)])
        >>> validate_segments(ds, mdp)
        Traceback (most recent call last):
        ...
        rewardlab.errors.ValidationError: data[0].b.obs: holds 3 at step 1, outside the state indices [0, 3). Fix: pass state indices of this MDP.
    """
    if not len(data):
        return
    batch = data.segments()
    sizes = _tabular_sizes(env_or_mdp)
    checks: list[tuple[str, Any]]
    if sizes is not None:
        n_s, n_a, horizon = sizes
        if horizon is not None and data.length > horizon:
            raise ValidationError(
                f"{name}.length",
                f"is {data.length} decisions, more than the MDP's horizon {horizon}",
                f"cut segments of at most {horizon} steps",
            )

        def states(x: np.ndarray, field: str) -> None:
            check_indices(x, field, n_s, kind="state indices", position="step")

        def actions(x: np.ndarray, field: str) -> None:
            check_indices(x, field, n_a, kind="action indices", position="step")

        checks = [("obs", states), ("acts", actions)]
    else:
        import gymnasium as gym

        from rewardlab.data.gym_rollouts import env_spaces

        obs_space, act_space = env_spaces(env_or_mdp)
        checks = [
            ("obs", lambda x, field: _check_space(x, obs_space, field, gym)),
            ("acts", lambda x, field: _check_space(x, act_space, field, gym)),
        ]
    for side in ("a", "b"):
        for field, check in checks:
            x = getattr(batch, f"{field}_{side}")  # (N, T, ...)
            try:
                check(x.reshape(-1, *x.shape[2:]), f"{name}[:].{side}.{field}")  # all at once: the usual case passes fast
            except ValidationError:
                for k in range(len(x)):  # find and name the first offending segment
                    check(x[k], f"{name}[{k}].{side}.{field}")
                raise


def _check_spaces(items: list[Trajectory], env: Any, name: str) -> None:
    import gymnasium as gym

    from rewardlab.data.gym_rollouts import env_spaces

    obs_space, act_space = env_spaces(env)
    for i, tr in enumerate(items):
        for field, values, space in (("obs", tr.obs, obs_space), ("acts", tr.acts, act_space)):
            _check_space(np.asarray(values), space, f"{name}[{i}].{field}", gym)


def _check_space(x: np.ndarray, space: Any, name: str, gym: Any) -> None:
    """One trajectory's ``(T, *space.shape)`` values against a Gymnasium space."""
    what = "observation" if name.endswith(".obs") else "action"
    if isinstance(space, gym.spaces.Discrete):
        start, n = int(space.start), int(space.n)
        if x.ndim != 1:
            raise ShapeError(name, f"has shape {x.shape}", f"pass one integer {what} per step: a 1-D array (the {what} space is {space})")
        check_indices(x, name, start + n, kind=f"{what}s of {space}", position="step", lower=start)
        return
    shape = getattr(space, "shape", None)
    if shape is None:
        return  # Dict, Tuple, ...: nothing generic to check
    if tuple(x.shape[1:]) != tuple(shape):
        raise ShapeError(
            name,
            f"has per-step shape {tuple(x.shape[1:])}, the {what} space has {tuple(shape)}",
            f"pass {what}s recorded in this env ({space})",
        )
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise ValidationError(name, f"has dtype {x.dtype}", f"pass numeric {what}s")
    if np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.complexfloating):
        bad = ~np.isfinite(x)
        if bad.any():
            t = int(np.flatnonzero(bad.reshape(len(x), -1).any(1))[0])
            value = x[t].reshape(-1)[np.flatnonzero(bad[t].reshape(-1))[0]]
            raise ValidationError(name, f"holds {value} at step {t}", f"pass finite {what}s (drop or repair the trajectory)")


def validate_distribution(values: Any, name: str, *, axis_names: tuple[str, ...] = ()) -> np.ndarray:
    """``values`` as a float64 array whose last axis is a probability distribution in every row.

    Args:
        values: ``(..., C)`` array-like.
        name: the field, e.g. ``"policy"``.
        axis_names: names of the leading axes for the message (``("t", "s")``); positions otherwise.

    Raises:
        ProbabilityError: naming the first bad row, e.g. ``policy[3]``: NaN, a negative entry, or a sum
            other than 1 (tolerance ``1e-6``, or ``1e-4`` for float32 or float16 input).

    Examples:
        >>> validate_distribution([[0.5, 0.5], [0.9, 0.3]], "policy")
        Traceback (most recent call last):
        ...
        rewardlab.errors.ProbabilityError: policy[1]: sums to 1.2, not 1. Fix: normalise every row of policy to sum to 1.
    """
    raw = as_numpy(values)
    tol = 1e-6 if raw.dtype not in (np.float32, np.float16) else 1e-4
    p = raw.astype(np.float64)
    if p.ndim == 0:
        raise ShapeError(name, "is a scalar", "pass probabilities along the last axis")
    rows = p.reshape(-1, p.shape[-1]) if p.size else p.reshape(0, max(p.shape[-1], 1))
    finite = np.isfinite(rows).all(1)
    negative = (rows < 0).any(1)
    sums = rows.sum(1)
    off = np.abs(sums - 1) > tol
    for mask, problem, fix in (
        (~finite, "holds NaN or inf", "pass finite probabilities"),
        (negative, "holds a negative probability", "pass non-negative probabilities"),
        (off, "", f"normalise every row of {name} to sum to 1"),
    ):
        bad = np.flatnonzero(mask)
        if len(bad):
            k = int(bad[0])
            index = np.unravel_index(k, p.shape[:-1]) if p.ndim > 1 else ()
            label = ", ".join(f"{a}={j}" if a else str(j) for a, j in zip(axis_names or ("",) * len(index), index, strict=False))
            field = f"{name}[{label}]" if index else name
            raise ProbabilityError(field, problem or f"sums to {sums[k]:.6g}, not 1", fix)
    return p


def validate_policy(policy: Any, n_states: int, n_actions: int, *, name: str = "policy") -> np.ndarray:
    """A tabular policy ``(S, A)`` or time-indexed ``(H, S, A)`` as float64, every row a distribution.

    Raises:
        ShapeError: another shape. ProbabilityError: naming the row, ``policy[s=3]`` or ``policy[t=0, s=3]``.

    Examples:
        >>> validate_policy([[1.0, 0.0], [float("nan"), 1.0]], 2, 2)
        Traceback (most recent call last):
        ...
        rewardlab.errors.ProbabilityError: policy[s=1]: holds NaN or inf. Fix: pass finite probabilities.
    """
    pi = as_numpy(policy)
    if pi.ndim not in (2, 3) or pi.shape[-2:] != (n_states, n_actions):
        raise ShapeError(name, f"has shape {pi.shape}", f"pass ({n_states}, {n_actions}) or (H, {n_states}, {n_actions})")
    return validate_distribution(pi, name, axis_names=("s",) if pi.ndim == 2 else ("t", "s"))


def validate_labels(label: Any, name: str = "label") -> Any:
    """Check preference labels ``P(first ≻ second)``: each 0 (second better), 0.5 (a tie) or 1 (first better).

    Accepts numpy arrays, lists and torch tensors (checked where they live, one device sync) and returns
    ``label`` unchanged.

    Raises:
        ValidationError: naming the first other value and its position.

    Examples:
        >>> validate_labels([1.0, 0.5, 0.0])
        [1.0, 0.5, 0.0]
        >>> validate_labels(np.array([1.0, 2.0]))
        Traceback (most recent call last):
        ...
        rewardlab.errors.ValidationError: label[1]: is 2.0. Fix: label each pair 1 (first preferred), 0 (second preferred) or 0.5 (a tie).
    """
    if hasattr(label, "detach"):
        ok = (label == 0) | (label == 0.5) | (label == 1)
        if bool(ok.all()):
            return label
        bad = as_numpy(~ok)
        values = as_numpy(label)
    else:
        values = np.asarray(label, dtype=float)
        bad = ~((values == 0) | (values == 0.5) | (values == 1))
        if not bad.any():
            return label
    k = np.unravel_index(int(np.flatnonzero(bad.reshape(-1))[0]), values.shape) if values.ndim else ()
    field = f"{name}[{', '.join(str(int(j)) for j in k)}]" if k else name
    raise ValidationError(field, f"is {float(values[k])}", "label each pair 1 (first preferred), 0 (second preferred) or 0.5 (a tie)")
