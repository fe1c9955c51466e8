"""The tabular Markov decision process every exact solver and learner works on.

A :class:`TabularMDP` holds dynamics only, no reward: inverse RL learns the reward. Transitions are
stored as *sparse successor lists*: for each state ``s`` and action ``a`` the ``K`` possible next
states ``successors[s, a, :]`` and their probabilities ``probabilities[s, a, :]``. Memory is
``O(S·A·K)``, so a million-state gridworld costs tens of megabytes where a dense ``(S, A, S)`` array
would cost terabytes.

Terminal states end the episode *after* the action taken in them: the agent collects ``r(s, a)``
once in a terminal state and nothing afterwards. A trajectory that reaches one stops there.

Internally the solvers use an action-major copy of the successor lists, ``(K, A, S)``, because
reductions over actions are then contiguous; :attr:`TabularMDP.successors` still reads ``(S, A, K)``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rewardlab.errors import ProbabilityError, ShapeError, ValidationError

__all__ = ["TabularMDP", "as_tensor"]

#: Largest number of states :meth:`TabularMDP.to_dense` agrees to materialise.
DENSE_LIMIT = 20_000


def as_tensor(value: Any, name: str, *, dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> Tensor:
    """Convert an array-like to a tensor, naming ``name`` in the error if that fails.

    Examples:
        >>> as_tensor([1, 2], "x", dtype=torch.float64)
        tensor([1., 2.], dtype=torch.float64)
    """
    try:
        if isinstance(value, Tensor):
            return value.to(dtype=dtype or value.dtype, device=device or value.device)
        return torch.as_tensor(np.asarray(value), dtype=dtype, device=device)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValidationError(name, f"cannot be read as a numeric array ({exc})", "pass a numpy array or tensor") from exc


def _tolerance(dtype: torch.dtype) -> float:
    return 1e-6 if dtype == torch.float64 else 1e-4


@dataclass(frozen=True, eq=False)
class TabularMDP:
    """A finite MDP without reward, validated on construction and immutable afterwards.

    Args:
        successors: ``(S, A, K)`` integer next-state indices in ``[0, S)``. Entries whose probability
            is 0 are padding and may hold any valid index.
        probabilities: ``(S, A, K)`` floats, non-negative, each ``[s, a, :]`` summing to 1.
        initial: ``(S,)`` start-state distribution.
        discount: ``gamma`` in ``(0, 1]``; ``1`` requires a finite ``horizon``.
        horizon: number of decisions ``H`` of a finite-horizon problem, or ``None`` for the
            discounted infinite-horizon problem.
        features: optional ``(S, F)`` state features.
        terminal: optional ``(S,)`` booleans; the episode ends after acting in a terminal state.

    Raises:
        ShapeError, ProbabilityError, ValidationError: naming the offending field.

    Examples:
        >>> mdp = TabularMDP(successors=[[[0], [1]], [[1], [1]]],
        ...                  probabilities=[[[1.0], [1.0]], [[1.0], [1.0]]],
        ...                  initial=[1.0, 0.0], discount=0.9)
        >>> mdp.n_states, mdp.n_actions, mdp.branching, mdp.horizon
        (2, 2, 1, None)
    """

    successors: Tensor
    probabilities: Tensor
    initial: Tensor
    discount: float = 1.0
    horizon: int | None = None
    features: Tensor | None = None
    terminal: Tensor | None = None
    # Derived, action-major copies used by the solvers (see module docstring).
    succ_flat: Tensor = field(init=False, repr=False)
    prob_kas: Tensor | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        probs_in = self.probabilities
        dtype = probs_in.dtype if isinstance(probs_in, Tensor) and probs_in.is_floating_point() else torch.float64
        device = probs_in.device if isinstance(probs_in, Tensor) else None
        succ = as_tensor(self.successors, "successors", device=device)
        probs = as_tensor(probs_in, "probabilities", dtype=dtype, device=device)
        if succ.is_floating_point() or succ.dtype == torch.bool:
            raise ValidationError("successors", f"has dtype {succ.dtype}", "pass integer state indices")
        succ = succ.to(torch.int64)
        if succ.ndim != 3:
            raise ShapeError("successors", f"has shape {tuple(succ.shape)}, expected (S, A, K)", "pass a 3-D array")
        n_states, n_actions, _ = succ.shape
        if n_states == 0 or n_actions == 0 or succ.shape[2] == 0:
            raise ShapeError(
                "successors", f"has shape {tuple(succ.shape)} with an empty axis", "give at least one state, action and successor"
            )
        if probs.shape != succ.shape:
            raise ShapeError(
                "probabilities",
                f"has shape {tuple(probs.shape)} but successors has {tuple(succ.shape)}",
                "give one probability per successor entry",
            )
        if int(succ.min()) < 0 or int(succ.max()) >= n_states:
            raise ValidationError(
                "successors",
                f"holds indices in [{int(succ.min())}, {int(succ.max())}] outside [0, {n_states})",
                "use state indices 0..S-1",
            )
        tol = _tolerance(dtype)
        if not bool(torch.isfinite(probs).all()):
            raise ProbabilityError("probabilities", "contain NaN or inf", "pass finite probabilities")
        if bool((probs < 0).any()):
            raise ProbabilityError("probabilities", "contain negative values", "pass non-negative probabilities")
        sums = probs.sum(-1)
        bad = (sums - 1).abs() > tol
        if bool(bad.any()):
            s, a = (int(i) for i in bad.nonzero()[0])
            raise ProbabilityError(
                "probabilities",
                f"row (state {s}, action {a}) sums to {float(sums[s, a]):.6g}, not 1",
                "normalise each [s, a, :] row to sum to 1",
            )

        initial = as_tensor(self.initial, "initial", dtype=dtype, device=device)
        if initial.shape != (n_states,):
            raise ShapeError("initial", f"has shape {tuple(initial.shape)}, expected ({n_states},)", "give one probability per state")
        if not bool(torch.isfinite(initial).all()) or bool((initial < 0).any()):
            raise ProbabilityError("initial", "has negative, NaN or inf entries", "pass a probability distribution")
        if abs(float(initial.sum()) - 1) > tol:
            raise ProbabilityError("initial", f"sums to {float(initial.sum()):.6g}, not 1", "normalise it to sum to 1")

        discount = float(self.discount)
        if not 0 < discount <= 1:
            raise ValidationError("discount", f"is {discount}", "choose a discount in (0, 1]")
        horizon = self.horizon
        if horizon is not None:
            if isinstance(horizon, bool) or int(horizon) != horizon or int(horizon) < 1:
                raise ValidationError("horizon", f"is {horizon!r}", "pass a positive integer, or None for a discounted problem")
            horizon = int(horizon)
        elif discount >= 1:
            raise ValidationError("discount", "is 1 with horizon None, so values diverge", "set discount < 1 or a finite horizon")

        features = self.features
        if features is not None:
            features = as_tensor(features, "features", dtype=dtype, device=device)
            if features.ndim != 2 or features.shape[0] != n_states:
                raise ShapeError(
                    "features", f"has shape {tuple(features.shape)}, expected ({n_states}, F)", "give one feature row per state"
                )
            if not bool(torch.isfinite(features).all()):
                raise ValidationError("features", "contain NaN or inf", "pass finite features")

        terminal = self.terminal
        if terminal is not None:
            terminal = as_tensor(terminal, "terminal", device=device)
            if terminal.shape != (n_states,):
                raise ShapeError("terminal", f"has shape {tuple(terminal.shape)}, expected ({n_states},)", "give one flag per state")
            terminal = terminal.to(torch.bool)
            if not bool(terminal.any()):
                terminal = None

        k = succ.shape[2]
        deterministic = k == 1
        set_ = object.__setattr__
        set_(self, "successors", succ)
        set_(self, "probabilities", probs)
        set_(self, "initial", initial)
        set_(self, "discount", discount)
        set_(self, "horizon", horizon)
        set_(self, "features", features)
        set_(self, "terminal", terminal)
        set_(self, "succ_flat", succ.permute(2, 1, 0).reshape(-1).contiguous())
        set_(self, "prob_kas", None if deterministic else probs.permute(2, 1, 0).contiguous())

    # ------------------------------------------------------------------ properties
    @property
    def n_states(self) -> int:
        """Number of states ``S``."""
        return int(self.successors.shape[0])

    @property
    def n_actions(self) -> int:
        """Number of actions ``A``."""
        return int(self.successors.shape[1])

    @property
    def branching(self) -> int:
        """Successor-list length ``K`` (1 for deterministic dynamics)."""
        return int(self.successors.shape[2])

    @property
    def n_features(self) -> int:
        """Number of state features ``F`` (0 when there are none)."""
        return 0 if self.features is None else int(self.features.shape[1])

    @property
    def dtype(self) -> torch.dtype:
        """Floating-point type of probabilities; solvers compute in it."""
        return self.probabilities.dtype

    @property
    def device(self) -> torch.device:
        """Device holding the MDP; solvers run there."""
        return self.probabilities.device

    @property
    def is_finite_horizon(self) -> bool:
        """True when ``horizon`` is set."""
        return self.horizon is not None

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_dense(
        cls,
        transitions: Any,
        initial: Any,
        *,
        discount: float = 1.0,
        horizon: int | None = None,
        features: Any = None,
        terminal: Any = None,
    ) -> TabularMDP:
        """Build from a dense ``(S, A, S)`` array ``P[s, a, s']``, keeping only non-zero entries.

        Examples:
            >>> P = np.zeros((2, 1, 2)); P[0, 0] = [0.5, 0.5]; P[1, 0, 1] = 1.0
            >>> mdp = TabularMDP.from_dense(P, [1.0, 0.0], discount=0.9)
            >>> mdp.branching
            2
            >>> bool(torch.equal(mdp.to_dense(), torch.as_tensor(P)))
            True
        """
        dense = as_tensor(transitions, "transitions")
        if not dense.is_floating_point():
            dense = dense.to(torch.float64)
        if dense.ndim != 3 or dense.shape[0] != dense.shape[2]:
            raise ShapeError("transitions", f"has shape {tuple(dense.shape)}, expected (S, A, S)", "pass P[s, a, next_s]")
        n_states, n_actions, _ = dense.shape
        if not bool(torch.isfinite(dense).all()):
            raise ProbabilityError("transitions", "contain NaN or inf", "pass finite probabilities P[s, a, next_s]")
        if bool((dense < 0).any()):
            s, a, nxt = (int(i) for i in torch.nonzero(dense < 0)[0])
            raise ProbabilityError(
                "transitions",
                f"has a negative probability P[{s}, {a}, {nxt}] = {float(dense[s, a, nxt]):.6g}",
                "pass non-negative probabilities, each P[s, a, :] summing to 1",
            )
        k = max(int((dense != 0).sum(-1).max()), 1)
        probs, succ = torch.topk(dense.reshape(n_states * n_actions, n_states), k, dim=1)
        return cls(
            successors=succ.reshape(n_states, n_actions, k),
            probabilities=probs.reshape(n_states, n_actions, k),
            initial=initial,
            discount=discount,
            horizon=horizon,
            features=features,
            terminal=terminal,
        )

    @classmethod
    def from_gymnasium(cls, env: Any, *, discount: float = 0.99, horizon: int | None = None) -> TabularMDP:
        """Build from a Gymnasium toy-text env exposing ``P[s][a] = [(p, s', r, terminated), ...]``.

        States entered with ``terminated=True`` become terminal (acting there earns nothing: use
        :func:`rewardlab.mdp.worlds.gymnasium_reward` for the matching reward). The initial
        distribution is the env's ``initial_state_distrib``.

        Examples:
            >>> import gymnasium as gym
            >>> mdp = TabularMDP.from_gymnasium(gym.make("FrozenLake-v1"))
            >>> mdp.n_states, mdp.n_actions, int(mdp.terminal.sum())
            (16, 4, 5)
        """
        unwrapped = getattr(env, "unwrapped", env)
        table = getattr(unwrapped, "P", None)
        if not isinstance(table, dict):
            raise ValidationError(
                "env", f"{type(unwrapped).__name__} has no transition table P", "pass a toy-text env (FrozenLake, CliffWalking, Taxi)"
            )
        n_states = int(unwrapped.observation_space.n)
        n_actions = int(unwrapped.action_space.n)
        k = max(len(table[s][a]) for s in range(n_states) for a in range(n_actions))
        succ = np.zeros((n_states, n_actions, k), dtype=np.int64)
        probs = np.zeros((n_states, n_actions, k))
        terminal = np.zeros(n_states, dtype=bool)
        for s in range(n_states):
            for a in range(n_actions):
                for i, (p, nxt, _r, done) in enumerate(table[s][a]):
                    succ[s, a, i] = int(nxt)
                    probs[s, a, i] = p
                    if done:
                        terminal[int(nxt)] = True
        initial = np.asarray(getattr(unwrapped, "initial_state_distrib", np.full(n_states, 1.0 / n_states)), dtype=float)
        return cls(
            torch.as_tensor(succ),
            torch.as_tensor(probs / probs.sum(-1, keepdims=True)),
            torch.as_tensor(initial / initial.sum()),
            discount=discount,
            horizon=horizon,
            terminal=torch.as_tensor(terminal),
        )

    # ------------------------------------------------------------------ conversions
    def to_dense(self) -> Tensor:
        """Return the dense ``(S, A, S)`` transition array (refused above ``DENSE_LIMIT`` states)."""
        if self.n_states > DENSE_LIMIT:
            raise ValidationError("n_states", f"is {self.n_states}, too many for a dense (S, A, S) array", "use the sparse solvers")
        dense = torch.zeros(self.n_states, self.n_actions, self.n_states, dtype=self.dtype, device=self.device)
        dense.scatter_add_(2, self.successors, self.probabilities)
        return dense

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> TabularMDP:
        """Return a copy on ``device`` with floating-point type ``dtype``."""

        def move(x: Tensor | None, floating: bool) -> Tensor | None:
            if x is None:
                return None
            return x.to(device=device, dtype=dtype if floating and dtype is not None else x.dtype)

        return TabularMDP(
            successors=move(self.successors, False),  # type: ignore[arg-type]
            probabilities=move(self.probabilities, True),  # type: ignore[arg-type]
            initial=move(self.initial, True),  # type: ignore[arg-type]
            discount=self.discount,
            horizon=self.horizon,
            features=move(self.features, True),
            terminal=move(self.terminal, False),
        )

    def replace(self, **changes: Any) -> TabularMDP:
        """Return a validated copy with some fields changed, e.g. ``mdp.replace(horizon=50)``."""
        return dataclasses.replace(self, **changes)

    def terminal_mask(self) -> Tensor:
        """``(S,)`` booleans, all False when the MDP has no terminal states."""
        if self.terminal is None:
            return torch.zeros(self.n_states, dtype=torch.bool, device=self.device)
        return self.terminal

    def __repr__(self) -> str:
        h = "discounted" if self.horizon is None else f"horizon={self.horizon}"
        return (
            f"TabularMDP(S={self.n_states}, A={self.n_actions}, K={self.branching}, F={self.n_features}, "
            f"discount={self.discount}, {h}, dtype={self.dtype}, device={self.device})"
        )
