"""Exact solvers for :class:`~rewardlab.mdp.TabularMDP`, as pure functions over torch tensors.

Shapes and conventions (``S`` states, ``A`` actions, ``H`` horizon, ``B`` optional batch):

* **Rewards** may be per state ``(S,)`` or per state-action ``(S, A)``; a batch adds a leading axis:
  ``(B, S)`` or ``(B, S, A)``. A 2-D reward of shape ``(S, A)`` is read as state-action, so pass a
  batch of state rewards with ``B != S`` or as ``(B, S, A)`` when ``A == S``.
* **Policies** are ``(S, A)`` for discounted MDPs and time-indexed ``(H, S, A)`` for finite horizon,
  again with an optional leading ``B``. Outputs have a batch axis exactly when the reward had one.
* **Values** ``(S,)`` or ``(H, S)`` (``values[t]`` is the value with ``H - t`` decisions left).
* Finite horizon: the return is ``sum_{t<H} gamma^t r(s_t, a_t)``; discounted: ``sum_t gamma^t r``.
  Terminal states end the episode after the action taken there.

Everything runs on the MDP's device in the MDP's dtype (float64 by default); the soft backup is in
log space, so rewards of +-100 at low temperature never overflow.

Internally arrays are action-major, ``(B, A, S)``, so reductions over actions read contiguous
memory; public outputs are transposed *views*, which cost nothing. The kernels on that layout
(:func:`expect_next`, :func:`push_forward`, :func:`solve_policy_system`, :func:`value_iteration_internal`,
:func:`soft_value_iteration_internal`, :func:`occupancy_internal`, the converters :func:`as_reward`,
:func:`as_policy`, :func:`public_state_action`) are public for the other solvers (:mod:`rewardlab.mdp.maxent`,
:mod:`rewardlab.mdp.policy_walk`) and for warm-started callers, but not re-exported by :mod:`rewardlab.mdp`.

References:
    Ziebart et al., "Maximum Entropy Inverse Reinforcement Learning", AAAI 2008 (soft VI, forward pass).
    Ziebart, Bagnell, Dey, "Modeling Interaction via the Principle of Maximum Causal Entropy", ICML 2010.
    Puterman, "Markov Decision Processes", 1994 (value and policy iteration).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rewardlab.errors import ConvergenceError, ProbabilityError, ShapeError, ValidationError
from rewardlab.mdp.core import TabularMDP, as_tensor

__all__ = [
    "Solution",
    "Workspace",
    "bellman_backup",
    "boltzmann_policy",
    "episode_occupancy",
    "feature_expectations",
    "greedy_policy",
    "occupancy",
    "policy_evaluation",
    "policy_iteration",
    "soft_value_iteration",
    "state_action_occupancy",
    "value_iteration",
]

#: Up to this many states, discounted linear systems are solved densely (exact, one LU).
DENSE_SOLVE_LIMIT = 3_000


# ============================================================================ helpers
class Workspace:
    """Reusable scratch buffers for repeated solves of the same size.

    Large solves spend much of their time faulting in fresh memory; passing the same workspace to
    every call of a training loop allocates once. Results returned from a call that used a workspace
    are views into it and are overwritten by the next call with that workspace.

    Examples:
        >>> ws = Workspace()
        >>> a = ws.get("x", (3,), torch.float64, torch.device("cpu"))
        >>> a is ws.get("x", (3,), torch.float64, torch.device("cpu"))
        True
    """

    def __init__(self) -> None:
        self._buffers: dict[str, Tensor] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> Tensor:
        """Return the buffer ``name`` with this shape, allocating it when it is missing or differs."""
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape or buf.dtype != dtype or buf.device != device:
            buf = torch.empty(shape, dtype=dtype, device=device)
            self._buffers[name] = buf
        return buf


def _buffer(ws: Workspace | None, name: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
    if ws is None:
        return torch.empty(shape, dtype=like.dtype, device=like.device)
    return ws.get(name, shape, like.dtype, like.device)


def as_reward(mdp: TabularMDP, reward: Any) -> tuple[Tensor, bool]:
    """Return the reward in the internal layout ``(B, A', S)`` with ``A'`` in ``{1, A}`` and whether it was
    batched; a shape other than those of the module docstring, or NaN / inf, raises."""
    r = as_tensor(reward, "reward", dtype=mdp.dtype, device=mdp.device)
    n_s, n_a = mdp.n_states, mdp.n_actions
    if r.ndim == 1 and r.shape[0] == n_s:
        out, batched = r.view(1, 1, n_s), False
    elif r.ndim == 2 and r.shape == (n_s, n_a):
        out, batched = r.t().unsqueeze(0), False
    elif r.ndim == 2 and r.shape[1] == n_s:
        out, batched = r.unsqueeze(1), True
    elif r.ndim == 3 and r.shape[1:] == (n_s, n_a):
        out, batched = r.transpose(1, 2), True
    else:
        raise ShapeError(
            "reward",
            f"has shape {tuple(r.shape)}",
            f"pass (S,)=({n_s},), (S, A)=({n_s}, {n_a}), or a batch (B, S) / (B, S, A)",
        )
    if not bool(torch.isfinite(out).all()):
        raise ValidationError("reward", "contains NaN or inf", "pass finite rewards")
    return out.contiguous(), batched


def as_policy(mdp: TabularMDP, policy: Any) -> tuple[Tensor, bool]:
    """Return the policy internally: ``(H, B, A, S)`` (finite) or ``(B, A, S)``, and whether batched; a wrong
    shape, negative entries or rows that do not sum to 1 raise."""
    pi = as_tensor(policy, "policy", dtype=mdp.dtype, device=mdp.device)
    n_s, n_a = mdp.n_states, mdp.n_actions
    finite = mdp.horizon is not None
    core = 3 if finite else 2
    if pi.ndim not in (core, core + 1) or pi.shape[-2:] != (n_s, n_a) or (finite and pi.shape[-3] != mdp.horizon):
        want = f"(H, S, A)=({mdp.horizon}, {n_s}, {n_a})" if finite else f"(S, A)=({n_s}, {n_a})"
        raise ShapeError("policy", f"has shape {tuple(pi.shape)}", f"pass {want}, optionally with a leading batch axis")
    batched = pi.ndim == core + 1
    if not batched:
        pi = pi.unsqueeze(0)
    if not bool(torch.isfinite(pi).all()) or bool((pi < 0).any()):
        raise ProbabilityError("policy", "has negative, NaN or inf entries", "pass action probabilities")
    if bool(((pi.sum(-1) - 1).abs() > (1e-6 if pi.dtype == torch.float64 else 1e-4)).any()):
        raise ProbabilityError("policy", "has rows that do not sum to 1 over actions", "normalise pi[..., s, :]")
    # (B, [H,] S, A) -> internal action-major layout; a permuted view of our own output is free.
    internal = pi.permute(1, 0, 3, 2) if finite else pi.permute(0, 2, 1)
    return internal.contiguous(), batched


def _public_values(v: Tensor, batched: bool, finite: bool) -> Tensor:
    """Internal ``(H, B, S)`` or ``(B, S)`` -> public ``(B?, H, S)`` or ``(B?, S)``."""
    if finite:
        v = v.transpose(0, 1)
    return v if batched else v[0]


def public_state_action(x: Tensor, batched: bool, finite: bool) -> Tensor:
    """Internal ``(H, B, A, S)`` or ``(B, A, S)`` -> public ``(B?, H, S, A)`` or ``(B?, S, A)``."""
    x = x.permute(1, 0, 3, 2) if finite else x.transpose(1, 2)
    return x if batched else x[0]


def _gather(values: Tensor, index: Tensor, out: Tensor) -> None:
    """``out[b, i] = values[b, index[i]]``; one batch row goes through the faster 1-D kernel."""
    if values.shape[0] == 1 and values.is_contiguous():
        torch.index_select(values.view(-1), 0, index, out=out.view(-1))
    else:
        torch.index_select(values, 1, index, out=out)


def _scatter_add(out: Tensor, index: Tensor, source: Tensor) -> None:
    """``out[b, index[i]] += source[b, i]``; one batch row goes through the faster 1-D kernel."""
    if out.shape[0] == 1 and out.is_contiguous():
        out.view(-1).index_add_(0, index, source.reshape(-1))
    else:
        out.index_add_(1, index, source)


def expect_next(mdp: TabularMDP, values: Tensor, out: Tensor, scratch: Tensor | None = None) -> Tensor:
    """``out[b, a, s] = sum_k p(k | s, a) values[b, succ_k(s, a)]``, zero from terminal states.

    Args:
        values: ``(B, S)``.
        out: ``(B, A, S)`` buffer written in place and returned.
        scratch: ``(B, K*A*S)`` buffer used when ``K > 1``.
    """
    b, n_a, n_s = out.shape
    if mdp.prob_kas is None:
        _gather(values, mdp.succ_flat, out.view(b, n_a * n_s))
    else:
        k = mdp.branching
        g = scratch if scratch is not None else torch.empty(b, k * n_a * n_s, dtype=values.dtype, device=values.device)
        _gather(values, mdp.succ_flat, g)
        g3 = g.view(b, k, n_a, n_s)
        g3.mul_(mdp.prob_kas)
        torch.sum(g3, 1, out=out)
    if mdp.terminal is not None:
        out.masked_fill_(mdp.terminal, 0.0)
    return out


def _log_expect_exp_next(mdp: TabularMDP, values: Tensor, out: Tensor, scratch: Tensor | None, temperature: float) -> Tensor:
    """Non-causal continuation ``T log sum_k p_k exp(gamma V(succ_k) / T)`` into ``out`` ``(B, A, S)``.

    This is the backward pass of the original MaxEnt IRL (Ziebart et al. 2008, Algorithm 1), which
    lets the agent "choose" its stochastic outcome; with deterministic dynamics it equals the causal
    ``gamma E[V(s')]``. Padding successors (probability 0) are excluded from the log-sum-exp.
    """
    b, n_a, n_s = out.shape
    if mdp.prob_kas is None:
        return expect_next(mdp, values, out, scratch).mul_(mdp.discount)
    k = mdp.branching
    g = scratch if scratch is not None else torch.empty(b, k * n_a * n_s, dtype=values.dtype, device=values.device)
    _gather(values, mdp.succ_flat, g)
    g3 = g.view(b, k, n_a, n_s).mul_(mdp.discount / temperature)
    g3.masked_fill_(mdp.prob_kas == 0, -math.inf)
    m = g3.amax(1)
    g3.sub_(m.unsqueeze(1)).exp_().mul_(mdp.prob_kas)
    torch.sum(g3, 1, out=out)
    out.log_().add_(m).mul_(temperature)
    if mdp.terminal is not None:
        out.masked_fill_(mdp.terminal, 0.0)
    return out


def push_forward(mdp: TabularMDP, weights: Tensor, out: Tensor, scratch: Tensor | None = None) -> Tensor:
    """``out[b, s'] = sum_{s, a, k} p(k | s, a) weights[b, a, s] [succ_k(s, a) = s']``.

    The transpose of :func:`expect_next`: it moves probability mass one step forward.
    Terminal states send no mass onward.
    """
    b, n_a, n_s = weights.shape
    if mdp.terminal is not None:
        weights = weights.masked_fill(mdp.terminal, 0.0)
    out.zero_()
    if mdp.prob_kas is None:
        _scatter_add(out, mdp.succ_flat, weights.reshape(b, n_a * n_s))
    else:
        k = mdp.branching
        g = scratch if scratch is not None else torch.empty(b, k * n_a * n_s, dtype=weights.dtype, device=weights.device)
        torch.mul(mdp.prob_kas, weights.unsqueeze(1), out=g.view(b, k, n_a, n_s))
        _scatter_add(out, mdp.succ_flat, g)
    return out


#: Discounted solvers sweep at most this many times before switching to an exact method: a linear
#: solve per policy (policy iteration for optimal values, Newton's method for soft values, one solve for
#: a policy's values or occupancy). Sweeps need about ``log(tol (1 - gamma)) / log(gamma)`` passes, which
#: grows like ``1 / (1 - gamma)`` (over 10^6 at gamma = 0.99999); below the budget nothing changes.
SWEEPS_BEFORE_EXACT = 1_000

#: Where no exact solve is available (over ``DENSE_SOLVE_LIMIT`` states off the CPU), sweeps stop here
#: with a :class:`ConvergenceError` instead of running for minutes.
MAX_SWEEPS = 100_000

#: Policy-iteration or Newton steps allowed before a :class:`ConvergenceError` (a handful are typical).
MAX_EXACT_STEPS = 200


def _sweeps_needed(discount: float, tol: float) -> int:
    """Sweeps of a ``gamma``-contraction from an error of ``1e6`` down to ``tol (1 - gamma)``."""
    return math.ceil(math.log(tol * (1 - discount) / 1e6) / math.log(discount)) + 100


def sweep_limit(discount: float, tol: float, max_iter: int | None) -> int:
    """Sweeps allowed to a purely iterative solve: ``max_iter``, else what the discount needs, at most ``MAX_SWEEPS``."""
    if max_iter is not None:
        return max_iter
    return min(_sweeps_needed(discount, tol), MAX_SWEEPS)


def sweep_error(name: str, limit: int, discount: float, tol: float, delta: float) -> ConvergenceError:
    """The :class:`ConvergenceError` of an iterative solve ``name`` that hit its cap of ``limit`` sweeps with
    last change ``delta``; it says how many sweeps the discount needs and what to change."""
    need = _sweeps_needed(discount, tol)
    hint = (
        f"discount {discount} needs about {need} sweeps: solve on the CPU (exact sparse solve), lower the discount, or raise max_iter"
        if need > limit
        else "raise max_iter or tol"
    )
    return ConvergenceError(f"{name} did not converge in {limit} sweeps (last change {delta:.3g}); {hint}")


def exact_solve_available(mdp: TabularMDP) -> bool:
    """Whether :func:`solve_policy_system` can solve exactly: a dense LU, or a sparse LU on the CPU."""
    return mdp.n_states <= DENSE_SOLVE_LIMIT or mdp.device.type == "cpu"


def sweep_budget(mdp: TabularMDP, tol: float) -> int:
    """Sweeps to try before an exact finish: ``SWEEPS_BEFORE_EXACT``, or none when the discount needs more
    than that from the start (then warm starts rarely save enough sweeps to pay for trying)."""
    return SWEEPS_BEFORE_EXACT if _sweeps_needed(mdp.discount, tol) <= SWEEPS_BEFORE_EXACT else 0


def _solve_exactly(mdp: TabularMDP, tol: float) -> bool:
    """Whether a linear system of the discounted MDP is better solved than iterated: always up to
    ``DENSE_SOLVE_LIMIT`` states (one dense LU), and beyond when sweeps would exceed ``SWEEPS_BEFORE_EXACT``."""
    return mdp.n_states <= DENSE_SOLVE_LIMIT or _sweeps_needed(mdp.discount, tol) > SWEEPS_BEFORE_EXACT


def solve_policy_system(
    mdp: TabularMDP, pi: Tensor, rhs: Tensor, *, outcome: Tensor | None = None, transpose: bool = False
) -> Tensor | None:
    """Solve ``(I - gamma P) x = rhs`` (or, ``transpose``, ``(I - gamma P^T) x = rhs``) exactly, where

    ``P[b, s, s'] = sum_a pi[b, a, s] sum_k w[b, k, a, s] [succ_k(s, a) = s']``, with zero rows at terminal states.

    ``w`` is ``outcome`` or the MDP's own outcome probabilities. Values of a policy solve the plain system
    (``rhs = r_pi``), its occupancy the transposed one (``rhs = mu_0``), a Newton step of soft value
    iteration the plain one with ``rhs`` the Bellman residual (Puterman 1994, section 6.4: policy
    iteration is Newton's method).

    Args:
        pi: ``(B or 1, A, S)`` action probabilities (internal layout).
        rhs: ``(B, S)``; with a single policy and ``B`` right-hand sides the matrix is factorised once.
        outcome: ``(B or 1, K, A, S)`` outcome weights, default the MDP's.

    Returns:
        ``(B, S)``; None when no exact solve is available (see :func:`exact_solve_available`).
    """
    n_a, n_s = mdp.n_actions, mdp.n_states
    k = mdp.branching
    if outcome is None:
        w = pi.unsqueeze(1) if mdp.prob_kas is None else pi.unsqueeze(1) * mdp.prob_kas
    else:
        w = pi.unsqueeze(1) * outcome
    if mdp.terminal is not None:
        w = w.masked_fill(mdp.terminal, 0.0)
    bp, b = w.shape[0], rhs.shape[0]
    w = w.reshape(bp, k * n_a * n_s)
    cols = mdp.succ_flat  # (K*A*S,) successor of each (k, a, s), action-major
    rows = torch.arange(n_s, device=pi.device).repeat(k * n_a)
    if n_s <= DENSE_SOLVE_LIMIT:
        p = torch.zeros(bp, n_s * n_s, dtype=pi.dtype, device=pi.device)
        p.index_add_(1, rows * n_s + cols, w)
        m = torch.eye(n_s, dtype=pi.dtype, device=pi.device) - mdp.discount * p.view(bp, n_s, n_s)
        if transpose:
            m = m.transpose(1, 2)
        if bp == 1:  # one matrix, B right-hand sides: one factorisation
            solved: Tensor = torch.linalg.solve(m[0], rhs.T).T.contiguous()
        else:
            solved = torch.linalg.solve(m, rhs.unsqueeze(-1)).squeeze(-1)
        return solved
    if pi.device.type != "cpu":
        return None
    from scipy.sparse import csc_matrix, identity
    from scipy.sparse.linalg import splu

    r_np, c_np = rows.numpy(), cols.numpy()
    out = torch.empty(b, n_s, dtype=pi.dtype)
    trans = "T" if transpose else "N"
    for i in range(bp):
        p_sparse = csc_matrix((w[i].numpy(), (r_np, c_np)), shape=(n_s, n_s))
        lu = splu((identity(n_s, format="csc") - mdp.discount * p_sparse).tocsc())
        if bp == 1:
            out[:] = torch.from_numpy(np.ascontiguousarray(lu.solve(rhs.numpy().T, trans=trans).T))
        else:
            out[i] = torch.from_numpy(lu.solve(rhs[i].numpy(), trans=trans))
    return out


def default_tol(dtype: torch.dtype) -> float:
    """The solvers' default convergence tolerance on values: ``1e-10`` in float64, ``1e-5`` in float32.

    Examples:
        >>> default_tol(torch.float64), default_tol(torch.float32)
        (1e-10, 1e-05)
    """
    return 1e-10 if dtype == torch.float64 else 1e-5


def check_temperature(temperature: float) -> float:
    """``temperature`` as a float; :class:`ValidationError` unless it is positive and finite.

    Examples:
        >>> check_temperature(0.5)
        0.5
    """
    t = float(temperature)
    if not t > 0 or not math.isfinite(t):
        raise ValidationError("temperature", f"is {temperature}", "pass a positive finite temperature")
    return t


@dataclass(frozen=True)
class Solution:
    """What a solver returns.

    Attributes:
        values: ``(S,)`` or ``(H, S)`` state values (leading ``B`` when batched).
        policy: ``(S, A)`` or ``(H, S, A)`` action probabilities.
        q_values: ``(S, A)`` or ``(H, S, A)``, or None where the solver did not keep them.
        iterations: sweeps (discounted) or backward steps (finite horizon) performed.
    """

    values: Tensor
    policy: Tensor
    q_values: Tensor | None
    iterations: int


# ============================================================================ backups
def bellman_backup(mdp: TabularMDP, reward: Any, next_values: Any) -> Tensor:
    """One Bellman backup ``Q(s, a) = r(s, a) + gamma * sum_s' P(s' | s, a) V(s')``.

    Args:
        mdp: the MDP.
        reward: ``(S,)``, ``(S, A)`` or batched.
        next_values: ``(S,)``, or ``(B, S)`` with a batched reward.

    Returns:
        ``(S, A)`` (or ``(B, S, A)``) Q-values. Terminal states get ``r(s, a)`` only.

    Examples:
        >>> from rewardlab.mdp.worlds import chain
        >>> mdp = chain(2, discount=0.5)
        >>> bellman_backup(mdp, torch.tensor([0.0, 1.0]), torch.tensor([0.0, 2.0]))
        tensor([[0., 1.],
                [2., 2.]], dtype=torch.float64)
    """
    r, batched = as_reward(mdp, reward)
    v = as_tensor(next_values, "next_values", dtype=mdp.dtype, device=mdp.device)
    if v.shape[-1] != mdp.n_states or v.ndim > 2:
        raise ShapeError("next_values", f"has shape {tuple(v.shape)}", f"pass ({mdp.n_states},) or (B, {mdp.n_states})")
    v2 = v.reshape(-1, mdp.n_states)
    b = max(r.shape[0], v2.shape[0])
    q = expect_next(mdp, v2, torch.empty(v2.shape[0], mdp.n_actions, mdp.n_states, dtype=mdp.dtype, device=mdp.device))
    q = (q * mdp.discount + r).expand(b, mdp.n_actions, mdp.n_states)
    return public_state_action(q, batched or v.ndim == 2, False)


def _soft_max_a(q: Tensor, temperature: float, v_out: Tensor, m: Tensor, z: Tensor) -> Tensor:
    """Log-sum-exp over actions, in place: ``q`` ``(B, A, S)`` becomes ``softmax_a(q / T)``.

    Writes ``T log sum_a exp(q / T)`` to ``v_out`` ``(B, S)``; ``m`` and ``z`` are ``(B, S)`` scratch.
    Subtracting the per-state maximum first keeps every exponent <= 0, so nothing overflows.
    """
    torch.amax(q, 1, out=m)
    q.sub_(m.unsqueeze(1))
    if temperature != 1.0:
        q.div_(temperature)
    q.exp_()
    torch.sum(q, 1, out=z)
    q.div_(z.unsqueeze(1))
    torch.log(z, out=v_out)
    if temperature != 1.0:
        v_out.mul_(temperature)
    v_out.add_(m)
    return v_out


#: From this many states on, deterministic state-reward soft backups share exponentials (measured
#: 1.2-1.5x faster at 10^4-10^6 states; below, the extra reductions cost more than they save).
SHARED_EXP_MIN_STATES = 4096


def _shared_exp_applies(mdp: TabularMDP, r: Tensor) -> bool:
    """Whether :func:`_soft_step_shared_exp` applies: deterministic, no terminals, state reward, large."""
    return mdp.prob_kas is None and mdp.terminal is None and r.shape[1] == 1 and mdp.n_states >= SHARED_EXP_MIN_STATES


def _soft_step_shared_exp(
    mdp: TabularMDP, v_next: Tensor, r: Tensor, temperature: float, pi_out: Tensor, v_out: Tensor, e: Tensor, z: Tensor
) -> bool:
    """One soft backup for deterministic dynamics and a state reward, with ``S`` exponentials, not ``S A``.

    Then ``Q(s, a) = r(s) + gamma V'(succ(s, a))``, so with one global shift ``c = max V'``:
    ``exp(Q(s, a) / T) = exp(r(s) / T) exp(gamma c / T) e[succ(s, a)]`` where
    ``e = exp(gamma (V' - c) / T)`` is computed once per *state* and gathered per action. Hence
    ``V(s) = r(s) + gamma c + T log z(s)`` with ``z(s) = sum_a e[succ(s, a)]`` and
    ``pi(a | s) = e[succ(s, a)] / z(s)``. Every ``e <= 1``, so nothing overflows; the only risk is a
    state all of whose successors underflow (values spread by more than ~600 T). That is detected
    (``z`` below a safe floor) and the step returns False so the caller redoes it with per-state
    maxima. Exact otherwise: each term keeps full relative precision.

    Args:
        v_next: ``(B, S)``; r: ``(B, 1, S)``; pi_out: ``(B, A, S)``; v_out, e, z: ``(B, S)``.
    """
    b, n_a, n_s = pi_out.shape
    gamma = mdp.discount
    c = v_next.amax(1, keepdim=True)  # (B, 1)
    torch.sub(v_next, c, out=e)
    if gamma != 1.0 or temperature != 1.0:
        e.mul_(gamma / temperature)
    e.exp_()
    _gather(e, mdp.succ_flat, pi_out.view(b, n_a * n_s))
    torch.sum(pi_out, 1, out=z)
    if float(z.amin()) < torch.finfo(z.dtype).tiny * 1e10:
        return False
    pi_out.div_(z.unsqueeze(1))
    torch.log(z, out=v_out)
    if temperature != 1.0:
        v_out.mul_(temperature)
    v_out.add_(r[:, 0]).add_(c, alpha=gamma)
    return True


def soft_value_iteration(
    mdp: TabularMDP,
    reward: Any,
    temperature: float = 1.0,
    *,
    tol: float | None = None,
    max_iter: int | None = None,
    keep_q: bool = False,
    causal: bool = True,
    workspace: Workspace | None = None,
) -> Solution:
    """Soft (maximum-entropy) value iteration, in log space.

    ``Q(s, a) = r(s, a) + gamma E[V(s')]``, ``V(s) = T log sum_a exp(Q(s, a) / T)``,
    ``pi(a | s) = exp((Q(s, a) - V(s)) / T)``. With a finite horizon this is the backward pass of
    Ziebart et al. (2008) / the causal-entropy recursion of Ziebart et al. (2010), giving a
    time-indexed policy ``(H, S, A)``; discounted, it iterates to the fixed point, policy ``(S, A)``.
    As ``T -> 0`` it tends to hard value iteration.

    Args:
        mdp: the MDP.
        reward: ``(S,)``, ``(S, A)``, ``(B, S)`` or ``(B, S, A)``.
        temperature: ``T > 0``.
        tol: discounted only: stop when values are within ``tol`` of the fixed point.
        max_iter: discounted only: raise :class:`ConvergenceError` past this many sweeps.
        keep_q: finite horizon only: also return the ``(H, S, A)`` Q-values (discounted always does).
        causal: True for maximum *causal* entropy (``Q = r + gamma E[V(s')]``, Ziebart et al. 2010);
            False for the original MaxEnt backup ``Q = r + T log E[exp(gamma V(s') / T)]`` (Ziebart
            et al. 2008). They coincide for deterministic dynamics.
        workspace: reuse buffers across calls (the result then lives in the workspace).

    Returns:
        :class:`Solution` with ``values`` ``(S,)``/``(H, S)`` and ``policy`` ``(S, A)``/``(H, S, A)``.

    Examples:
        >>> from rewardlab.mdp.worlds import chain
        >>> sol = soft_value_iteration(chain(2, horizon=1), torch.tensor([0.0, 0.0]))
        >>> sol.values  # log(2 actions) with one decision left
        tensor([[0.6931, 0.6931]], dtype=torch.float64)
    """
    temp = check_temperature(temperature)
    r, batched = as_reward(mdp, reward)
    values, policy, q_all, iterations = soft_value_iteration_internal(
        mdp, r, temp, tol=tol, max_iter=max_iter, keep_q=keep_q, causal=causal, workspace=workspace
    )
    finite = mdp.horizon is not None
    return Solution(
        values=_public_values(values, batched, finite),
        policy=public_state_action(policy, batched, finite),
        q_values=None if q_all is None else public_state_action(q_all, batched, finite),
        iterations=iterations,
    )


class Anderson:
    """Type-II Anderson acceleration of a fixed-point iteration ``x <- g(x)`` (Walker & Ni 2011).

    Keeps the last ``memory`` iterates ``g_k`` and residuals ``f_k = g_k - x_k`` and proposes
    ``x_{k+1} = g_k - dG gamma`` with ``gamma = argmin ||f_k - dF gamma||`` (``dF``, ``dG``: successive
    differences). For a linear contraction such as the occupancy equation it behaves like GMRES; for
    soft value iteration it cuts the sweeps a gamma = 0.9 problem needs several-fold. If the residual
    grows tenfold over the best seen, the history is dropped and a plain step is taken.

    Examples:
        >>> acc = Anderson()
        >>> x = torch.zeros(2, dtype=torch.float64)
        >>> A = torch.tensor([[0.5, 0.4], [0.1, 0.8]], dtype=torch.float64)
        >>> for _ in range(4):  # x = 0.9 A x + 1, a linear contraction
        ...     x = acc.step(x, 0.9 * A @ x + 1.0)
        >>> torch.allclose(x, torch.linalg.solve(torch.eye(2, dtype=torch.float64) - 0.9 * A, torch.ones(2, dtype=torch.float64)))
        True
    """

    def __init__(self, memory: int = 5) -> None:
        self.memory = memory
        self.count = 0
        self.best = math.inf
        self.d_f: Tensor | None = None  # (memory, n) ring buffers of residual and iterate differences
        self.d_g: Tensor | None = None
        self.prev: tuple[Tensor, Tensor] | None = None

    def step(self, x: Tensor, g: Tensor) -> Tensor:
        """Next iterate from the current ``x`` and ``g = T(x)`` (same shape; not modified)."""
        flat_g = g.reshape(-1).clone()
        f = flat_g - x.reshape(-1)
        norm = float(f.norm())
        if norm > 10 * self.best:  # diverging: forget the history
            self.count, self.prev = 0, None
        self.best = min(self.best, norm)
        if self.d_f is None or self.d_g is None:
            self.d_f = torch.empty(self.memory, f.shape[0], dtype=f.dtype, device=f.device)
            self.d_g = torch.empty_like(self.d_f)
        if self.prev is not None:
            column = self.count % self.memory
            torch.sub(f, self.prev[0], out=self.d_f[column])
            torch.sub(flat_g, self.prev[1], out=self.d_g[column])
            self.count += 1
        self.prev = (f, flat_g)
        k = min(self.count, self.memory)
        if k == 0:
            return flat_g.reshape(g.shape)
        d_f, d_g = self.d_f[:k], self.d_g[:k]  # contiguous rows
        # normal equations of min ||f - dF gamma||: a k x k solve, done in numpy (torch's small-matrix
        # overhead would cost more than the sweep it saves); a tiny ridge keeps it well posed
        gram = (d_f @ d_f.T).cpu().numpy()
        gram[np.diag_indices(k)] += 1e-12 * np.trace(gram) + 1e-300
        gamma = np.linalg.solve(gram, (d_f @ f).cpu().numpy())
        return (flat_g - torch.from_numpy(gamma).to(flat_g) @ d_g).reshape(g.shape)


def soft_value_iteration_internal(
    mdp: TabularMDP,
    r: Tensor,
    temp: float,
    *,
    tol: float | None = None,
    max_iter: int | None = None,
    keep_q: bool = False,
    causal: bool = True,
    workspace: Workspace | None = None,
    init_values: Tensor | None = None,
    accelerate: bool = False,
) -> tuple[Tensor, Tensor, Tensor | None, int]:
    """Soft VI on an internal reward ``(B, A', S)``; returns internal values, policy, Q, iterations.

    ``init_values`` ``(B, S)`` warm-starts the discounted iteration (a training loop passes the
    previous step's values: the reward moved a little, so few sweeps are needed); ``accelerate``
    applies :class:`Anderson` acceleration to the discounted iteration (one reward at a time).

    Finite horizon: values ``(H, B, S)``, policy ``(H, B, A, S)``; discounted: ``(B, S)``, ``(B, A, S)``.
    """
    b, n_a, n_s = r.shape[0], mdp.n_actions, mdp.n_states
    m = _buffer(workspace, "m", (b, n_s), r)
    z = _buffer(workspace, "z", (b, n_s), r)
    scratch = _buffer(workspace, "gather", (b, mdp.branching * n_a * n_s), r) if mdp.branching > 1 else None
    if mdp.horizon is not None:
        h = mdp.horizon
        values = _buffer(workspace, "values", (h + 1, b, n_s), r)
        policy = _buffer(workspace, "policy", (h, b, n_a, n_s), r)
        q_all = torch.empty(h, b, n_a, n_s, dtype=r.dtype, device=r.device) if keep_q else None
        values[h].zero_()
        shared = _shared_exp_applies(mdp, r) and not keep_q  # deterministic: causal or not is the same
        for t in range(h - 1, -1, -1):
            if shared:
                if _soft_step_shared_exp(mdp, values[t + 1], r, temp, policy[t], values[t], m, z):
                    continue
                shared = False  # values only spread further as t falls: stop trying
            if causal:
                q = expect_next(mdp, values[t + 1], policy[t], scratch)
                if mdp.discount != 1.0:
                    q.mul_(mdp.discount)
            else:
                q = _log_expect_exp_next(mdp, values[t + 1], policy[t], scratch, temp)
            q.add_(r)
            if q_all is not None:
                q_all[t].copy_(q)
            _soft_max_a(q, temp, values[t], m, z)  # q becomes pi_t
        return values[:h], policy, q_all, h

    tol_ = default_tol(mdp.dtype) if tol is None else tol
    exact = exact_solve_available(mdp) and (max_iter is None or max_iter > SWEEPS_BEFORE_EXACT)
    limit = sweep_budget(mdp, tol_) if exact else sweep_limit(mdp.discount, tol_, max_iter)
    v = torch.zeros(b, n_s, dtype=r.dtype, device=r.device) if init_values is None else init_values.clone()
    v_new = torch.empty_like(v)
    q = _buffer(workspace, "q", (b, n_a, n_s), r)
    stop = tol_ * (1 - mdp.discount) / mdp.discount
    delta = math.inf

    def backup(v: Tensor, out: Tensor) -> Tensor:
        if causal:
            return expect_next(mdp, v, out, scratch).mul_(mdp.discount).add_(r)
        return _log_expect_exp_next(mdp, v, out, scratch, temp).add_(r)

    anderson = Anderson() if accelerate and b == 1 else None
    for it in range(1, limit + 1):  # noqa: B007 - `it` is reported after the loop
        _soft_max_a(backup(v, q), temp, v_new, m, z)
        delta = float((v_new - v).abs().max())
        if delta <= stop:
            v = v_new
            break
        if anderson is not None:
            v = anderson.step(v, v_new)
        else:
            v, v_new = v_new, v
    else:
        if not exact:
            raise sweep_error("soft_value_iteration", limit, mdp.discount, tol_, delta)
        v, steps = _soft_newton(mdp, r, temp, v, backup, stop, causal)
        it = limit + steps
    q_final = backup(v, torch.empty(b, n_a, n_s, dtype=r.dtype, device=r.device))
    policy = torch.softmax(q_final / temp, dim=1)
    return v, policy, q_final, it


def _tilted_outcomes(mdp: TabularMDP, v: Tensor, temperature: float) -> Tensor:
    """``(B, K, A, S)``: ``p_k exp(gamma V(succ_k) / T)`` normalised over ``k``, the derivative weights of the
    non-causal backup ``T log sum_k p_k exp(gamma V(succ_k) / T)`` with respect to ``V``."""
    assert mdp.prob_kas is not None
    b, k = v.shape[0], mdp.branching
    logits = torch.index_select(v, 1, mdp.succ_flat).view(b, k, mdp.n_actions, mdp.n_states) * (mdp.discount / temperature)
    logits = logits + torch.log(mdp.prob_kas)  # log 0 = -inf drops the padding successors
    return torch.softmax(logits, dim=1)


def _soft_newton(mdp: TabularMDP, r: Tensor, temp: float, v: Tensor, backup: Any, stop: float, causal: bool) -> tuple[Tensor, int]:
    """Solve the discounted soft Bellman equation ``V = B(V)`` by Newton's method from ``v`` ``(B, S)``.

    ``B(V) = T log sum_a exp((r + gamma E V') / T)`` is convex and monotone in ``V`` with Jacobian
    ``gamma P_pi`` (``pi`` the soft-greedy policy of ``V``; under the non-causal backup, outcomes are
    tilted towards high values), so each step ``V <- V + (I - gamma P_pi)^{-1} (B(V) - V)`` is one
    linear solve, and after the first step the iterates rise monotonically to the fixed point with
    quadratic convergence near it. For the causal backup this is soft policy iteration: the step lands
    on the soft value of ``pi``. The steps needed do not grow with ``1 / (1 - gamma)``.

    Stops when the residual ``max |B(V) - V|`` is below ``stop`` or, at discounts so close to 1 that
    ``stop`` is below rounding error, at the rounding floor ``64 eps max |V|``.

    References:
        Puterman, "Markov Decision Processes", 1994, section 6.4.3 (policy iteration as Newton's method).
        Rust, "Optimal Replacement of GMC Bus Engines", Econometrica 1987 (Newton-Kantorovich for the soft Bellman equation).
    """
    b, n_a, n_s = v.shape[0], mdp.n_actions, mdp.n_states
    q = torch.empty(b, n_a, n_s, dtype=r.dtype, device=r.device)
    m, z, v_new = torch.empty_like(v), torch.empty_like(v), torch.empty_like(v)
    eps = torch.finfo(v.dtype).eps
    previous = math.inf
    for step in range(1, MAX_EXACT_STEPS + 1):
        _soft_max_a(backup(v, q), temp, v_new, m, z)  # q becomes pi
        residual = v_new - v
        size = float(residual.abs().max())
        floor = 64 * eps * float(v_new.abs().max())
        if size <= max(stop, floor) or (size <= 1e4 * floor and size >= 0.5 * previous):  # converged, or stalled at rounding
            return v_new.clone(), step
        previous = size
        outcome = None if causal or mdp.prob_kas is None else _tilted_outcomes(mdp, v, temp)
        dv = solve_policy_system(mdp, q, residual, outcome=outcome)
        assert dv is not None  # callers check exact_solve_available
        v = v + dv
    raise ConvergenceError(f"soft_value_iteration: Newton's method did not converge in {MAX_EXACT_STEPS} steps (residual {size:.3g})")


def _greedy_internal(q: Tensor, atol: float) -> Tensor:
    """Uniform over the actions within ``atol`` (relative to the scale of ``q``) of the best, axis -2."""
    best = q.amax(-2, keepdim=True)
    scale = 1.0 + best.abs()
    mask = (q >= best - atol * scale).to(q.dtype)
    return mask / mask.sum(-2, keepdim=True)


def greedy_policy(q_values: Any, *, atol: float = 1e-9) -> Tensor:
    """The greedy policy of ``q_values`` ``(..., S, A)``, uniform over tied best actions.

    Ties within ``atol * (1 + |max Q|)`` count as equal, so the greedy policy is stable under
    round-off (and under potential-based shaping, which changes Q by exact per-state offsets).

    Examples:
        >>> greedy_policy(torch.tensor([[1.0, 2.0], [3.0, 3.0]]))
        tensor([[0.0000, 1.0000],
                [0.5000, 0.5000]])
    """
    q = as_tensor(q_values, "q_values")
    return _greedy_internal(q.transpose(-1, -2), atol).transpose(-1, -2)


def boltzmann_policy(q_values: Any, temperature: float = 1.0) -> Tensor:
    """``pi(a | s) = softmax_a(Q(s, a) / T)`` over the last axis of ``q_values`` ``(..., S, A)``.

    Examples:
        >>> boltzmann_policy(torch.tensor([[0.0, 0.0]]))
        tensor([[0.5000, 0.5000]])
    """
    temp = check_temperature(temperature)
    return torch.softmax(as_tensor(q_values, "q_values") / temp, dim=-1)


def value_iteration(
    mdp: TabularMDP,
    reward: Any,
    *,
    tol: float | None = None,
    max_iter: int | None = None,
    atol: float = 1e-9,
) -> Solution:
    """Optimal values, Q-values and the greedy policy (ties split evenly).

    ``V(s) = max_a [r(s, a) + gamma E V(s')]``: backward induction for a finite horizon (``H``
    steps, time-indexed policy), iteration to ``tol`` of the fixed point when discounted. A discount
    so close to 1 that sweeps would take more than ``SWEEPS_BEFORE_EXACT`` passes is finished by
    policy iteration with exact linear solves, so the time does not grow like ``1 / (1 - gamma)``;
    ``iterations`` then counts sweeps plus policy evaluations. ``max_iter`` caps the sweeps
    (:class:`ConvergenceError` when hit).

    Examples:
        >>> from rewardlab.mdp.worlds import chain
        >>> sol = value_iteration(chain(2, discount=0.5), torch.tensor([0.0, 1.0]))
        >>> sol.values.round(decimals=6)  # state 1 earns 1 forever: 1 / (1 - 0.5); state 0 moves there first
        tensor([1., 2.], dtype=torch.float64)
    """
    r, batched = as_reward(mdp, reward)
    b, n_a, n_s = r.shape[0], mdp.n_actions, mdp.n_states
    scratch = torch.empty(b, mdp.branching * n_a * n_s, dtype=r.dtype, device=r.device) if mdp.branching > 1 else None
    if mdp.horizon is not None:
        h = mdp.horizon
        values = torch.zeros(h + 1, b, n_s, dtype=r.dtype, device=r.device)
        q_all = torch.empty(h, b, n_a, n_s, dtype=r.dtype, device=r.device)
        for t in range(h - 1, -1, -1):
            q = expect_next(mdp, values[t + 1], q_all[t], scratch)
            q.mul_(mdp.discount).add_(r)
            torch.amax(q, 1, out=values[t])
        return Solution(
            values=_public_values(values[:h], batched, True),
            policy=public_state_action(_greedy_internal(q_all, atol), batched, True),
            q_values=public_state_action(q_all, batched, True),
            iterations=h,
        )
    tol_ = default_tol(mdp.dtype) if tol is None else tol
    v, q, iterations = value_iteration_internal(mdp, r, tol=tol_, max_iter=max_iter, atol=atol)
    return Solution(
        values=_public_values(v, batched, False),
        policy=public_state_action(_greedy_internal(q, atol), batched, False),
        q_values=public_state_action(q, batched, False),
        iterations=iterations,
    )


def value_iteration_internal(
    mdp: TabularMDP, r: Tensor, *, tol: float, max_iter: int | None, atol: float = 1e-9, init_values: Tensor | None = None
) -> tuple[Tensor, Tensor, int]:
    """Discounted optimal values ``(B, S)`` and Q ``(B, A, S)`` for an internal reward; and the work done.

    Sweeps ``V <- max_a [r + gamma P V]`` (from ``init_values`` when given) until the change is below
    ``tol (1 - gamma) / gamma``. If that takes more than ``SWEEPS_BEFORE_EXACT`` sweeps (a discount near
    1) and an exact solve is available, it finishes with policy iteration from the current greedy
    policy, whose exact evaluations make the number of steps independent of ``1 / (1 - gamma)``.
    ``max_iter`` caps the sweeps (it raises when hit before the switch).
    """
    b, n_a, n_s = r.shape[0], mdp.n_actions, mdp.n_states
    scratch = torch.empty(b, mdp.branching * n_a * n_s, dtype=r.dtype, device=r.device) if mdp.branching > 1 else None
    exact = exact_solve_available(mdp) and (max_iter is None or max_iter > SWEEPS_BEFORE_EXACT)
    limit = sweep_budget(mdp, tol) if exact else sweep_limit(mdp.discount, tol, max_iter)
    v = torch.zeros(b, n_s, dtype=r.dtype, device=r.device) if init_values is None else init_values.expand(b, n_s).clone()
    q = torch.empty(b, n_a, n_s, dtype=r.dtype, device=r.device)
    stop = tol * (1 - mdp.discount) / mdp.discount
    delta = math.inf
    it = 0
    if limit == 0:
        expect_next(mdp, v, q, scratch).mul_(mdp.discount).add_(r)
    for it in range(1, limit + 1):  # noqa: B007 - `it` is reported after the loop
        expect_next(mdp, v, q, scratch).mul_(mdp.discount).add_(r)
        v_new = q.amax(1)
        delta = float((v_new - v).abs().max())
        v = v_new
        if delta <= stop:
            break
    else:
        if not exact:
            raise sweep_error("value_iteration", limit, mdp.discount, tol, delta)
        v, q, _, steps = _policy_iteration_internal(mdp, r, q.max(1).indices, MAX_EXACT_STEPS, atol)
        return q.amax(1), q, limit + steps
    expect_next(mdp, v, q, scratch).mul_(mdp.discount).add_(r)
    return q.amax(1), q, it


# ============================================================================ evaluation
def _evaluate_internal(mdp: TabularMDP, r: Tensor, pi: Tensor, tol: float, max_iter: int | None) -> tuple[Tensor, Tensor]:
    """Values and Q of internal policy ``pi`` for internal reward ``r``; returns internal layouts."""
    b = max(r.shape[0], pi.shape[-3])
    n_a, n_s = mdp.n_actions, mdp.n_states
    scratch = torch.empty(b, mdp.branching * n_a * n_s, dtype=r.dtype, device=r.device) if mdp.branching > 1 else None
    if mdp.horizon is not None:
        h = mdp.horizon
        values = torch.zeros(h + 1, b, n_s, dtype=r.dtype, device=r.device)
        q_all = torch.empty(h, b, n_a, n_s, dtype=r.dtype, device=r.device)
        for t in range(h - 1, -1, -1):
            q = expect_next(mdp, values[t + 1].expand(b, n_s), q_all[t], scratch)
            q.mul_(mdp.discount).add_(r)
            values[t] = (q * pi[t]).sum(1)
        return values[:h], q_all
    r_pi = (r * pi).sum(1).expand(b, n_s)  # (B, S)
    exact = solve_policy_system(mdp, pi, r_pi) if _solve_exactly(mdp, tol) else None
    if exact is not None:
        v = exact
    else:
        limit = sweep_limit(mdp.discount, tol, max_iter)
        v = torch.zeros(b, n_s, dtype=r.dtype, device=r.device)
        q = torch.empty(b, n_a, n_s, dtype=r.dtype, device=r.device)
        stop = tol * (1 - mdp.discount) / mdp.discount
        delta = math.inf
        for _ in range(limit):
            expect_next(mdp, v, q, scratch).mul_(mdp.discount).add_(r)
            v_new = (q * pi).sum(1)
            delta = float((v_new - v).abs().max())
            v = v_new
            if delta <= stop:
                break
        else:
            raise sweep_error("policy_evaluation", limit, mdp.discount, tol, delta)
    q = expect_next(mdp, v, torch.empty(b, n_a, n_s, dtype=r.dtype, device=r.device), scratch).mul_(mdp.discount).add_(r)
    return v, q


def policy_evaluation(mdp: TabularMDP, reward: Any, policy: Any, *, tol: float | None = None, max_iter: int | None = None) -> Solution:
    """Values ``V^pi`` and ``Q^pi`` of a (stochastic) policy.

    Discounted MDPs solve ``(I - gamma P_pi) V = r_pi`` exactly: densely up to ``DENSE_SOLVE_LIMIT``
    states, beyond that by iteration to ``tol`` when the discount needs at most ``SWEEPS_BEFORE_EXACT``
    sweeps and by a sparse LU (CPU) when it needs more. Finite horizons use backward induction.

    Examples:
        >>> from rewardlab.mdp.worlds import chain
        >>> mdp = chain(2, discount=0.5)
        >>> stay = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # action 0 stays
        >>> policy_evaluation(mdp, torch.tensor([0.0, 1.0]), stay).values
        tensor([0., 2.], dtype=torch.float64)
    """
    r, r_batched = as_reward(mdp, reward)
    pi, p_batched = as_policy(mdp, policy)
    tol_ = default_tol(mdp.dtype) if tol is None else tol
    v, q = _evaluate_internal(mdp, r, pi, tol_, max_iter)
    batched = r_batched or p_batched
    finite = mdp.horizon is not None
    pi_public = public_state_action(pi.expand_as(q), batched, finite)
    return Solution(_public_values(v, batched, finite), pi_public, public_state_action(q, batched, finite), 1)


def policy_iteration(
    mdp: TabularMDP,
    reward: Any,
    *,
    policy: Any = None,
    max_iter: int = 1_000,
    atol: float = 1e-9,
) -> Solution:
    """Howard's policy iteration for discounted MDPs, optionally warm-started from ``policy``.

    Evaluate the current policy exactly, switch to the greedy one, and stop when no state can
    improve. Where the current action is among the tied best, it is kept, so the loop cannot cycle
    on ties. A warm start from a nearly optimal policy (as PolicyWalk needs) finishes in one or
    two evaluations. Finite-horizon MDPs are solved by backward induction instead.

    Returns:
        :class:`Solution` with a deterministic ``policy`` and ``iterations`` = evaluations done.

    Examples:
        >>> from rewardlab.mdp.worlds import chain
        >>> sol = policy_iteration(chain(2, discount=0.5), torch.tensor([0.0, 1.0]))
        >>> sol.policy
        tensor([[0., 1.],
                [1., 0.]], dtype=torch.float64)
    """
    if mdp.horizon is not None:
        return value_iteration(mdp, reward, atol=atol)
    r, batched = as_reward(mdp, reward)
    b, n_a, n_s = r.shape[0], mdp.n_actions, mdp.n_states
    if policy is None:
        actions = r.expand(b, n_a, n_s).max(1).indices
    else:
        pi0, _ = as_policy(mdp, policy)
        actions = pi0.expand(b, n_a, n_s).max(1).indices
    v, q, pi, it = _policy_iteration_internal(mdp, r, actions, max_iter, atol)
    return Solution(_public_values(v, batched, False), public_state_action(pi, batched, False), public_state_action(q, batched, False), it)


def improvement_slack(discount: float, atol: float, dtype: torch.dtype) -> float:
    """How much (relative to ``1 + |Q|``) another action must beat a policy's own before policy improvement
    switches: ``max((1 - gamma) atol, 64 eps)``.

    A policy that no state can improve by ``slack (1 + |Q|)`` is within ``slack (1 + |Q|) / (1 - gamma) ~
    atol (1 + |Q|)`` of optimal (Puterman 1994, theorem 6.2.7), however close ``gamma`` is to 1; a fixed
    slack of ``atol`` would let a policy ``atol / (1 - gamma)`` from optimal pass (``1e-4`` relative at
    ``gamma = 0.99999``). The floor of ``64 eps`` keeps round-off from making it cycle between tied actions.

    Examples:
        >>> f"{improvement_slack(0.9, 1e-9, torch.float64):.3g}"
        '1e-10'
        >>> improvement_slack(0.99999, 1e-9, torch.float64) == 64 * torch.finfo(torch.float64).eps
        True
    """
    return max((1 - discount) * atol, 64 * torch.finfo(dtype).eps)


def _policy_iteration_internal(
    mdp: TabularMDP, r: Tensor, actions: Tensor, max_iter: int, atol: float
) -> tuple[Tensor, Tensor, Tensor, int]:
    """Howard's policy iteration from deterministic ``actions`` ``(B, S)``: internal V, Q, policy, evaluations.

    A state switches action when another beats the current one by more than ``slack (1 + |Q|)``, with
    ``slack`` from :func:`improvement_slack` (``max((1 - gamma) atol, 64 eps)``), so the result is within
    about ``atol (1 + |Q|)`` of optimal however close gamma is to 1.
    """
    b, n_a, n_s = actions.shape[0], mdp.n_actions, mdp.n_states
    tol = default_tol(mdp.dtype)
    slack = improvement_slack(mdp.discount, atol, r.dtype)
    for it in range(1, max_iter + 1):
        pi = torch.zeros(b, n_a, n_s, dtype=r.dtype, device=r.device).scatter_(1, actions.unsqueeze(1), 1.0)
        v, q = _evaluate_internal(mdp, r, pi, tol, None)
        best = q.amax(1, keepdim=True)
        current = q.gather(1, actions.unsqueeze(1))
        improvable = (current < best - slack * (1 + best.abs())).squeeze(1)
        if not bool(improvable.any()):
            return v, q, pi, it
        actions = torch.where(improvable, q.max(1).indices, actions)
    raise ConvergenceError(f"policy_iteration did not converge in {max_iter} iterations; raise max_iter")


# ============================================================================ occupancy
def initial_distribution(mdp: TabularMDP, initial: Any) -> Tensor:
    """The start distribution ``mu_0``: the MDP's own for ``None``, else ``initial`` ``(S,)`` or ``(B, S)``,
    checked to be probability distributions (:class:`ProbabilityError` otherwise).

    Examples:
        >>> from rewardlab.mdp.worlds import chain
        >>> initial_distribution(chain(2, discount=0.5), [0.25, 0.75])
        tensor([0.2500, 0.7500], dtype=torch.float64)
    """
    if initial is None:
        return mdp.initial
    mu0 = as_tensor(initial, "initial", dtype=mdp.dtype, device=mdp.device)
    if mu0.shape[-1] != mdp.n_states or mu0.ndim > 2:
        raise ShapeError("initial", f"has shape {tuple(mu0.shape)}", f"pass ({mdp.n_states},) or (B, {mdp.n_states})")
    if bool((mu0 < 0).any()) or bool(((mu0.sum(-1) - 1).abs() > 1e-6).any()):
        raise ProbabilityError("initial", "is not a probability distribution", "pass non-negative entries summing to 1")
    return mu0


def occupancy_internal(
    mdp: TabularMDP,
    pi: Tensor,
    mu0: Tensor,
    *,
    per_action: bool,
    per_time: bool,
    tol: float,
    max_iter: int | None,
    workspace: Workspace | None = None,
) -> Tensor:
    """Internal occupancy: returns ``(B, S)``, ``(B, A, S)``, ``(H, B, S)`` or ``(H, B, A, S)``."""
    n_a, n_s = mdp.n_actions, mdp.n_states
    b = max(pi.shape[-3], mu0.shape[0] if mu0.ndim == 2 else 1)
    scratch = _buffer(workspace, "gather", (b, mdp.branching * n_a * n_s), pi) if mdp.branching > 1 else None
    if mdp.horizon is not None:
        h = mdp.horizon
        d = _buffer(workspace, "occ_d", (b, n_s), pi)
        d_next = _buffer(workspace, "occ_next", (b, n_s), pi)
        w = _buffer(workspace, "occ_w", (b, n_a, n_s), pi)
        d.copy_(mu0.expand(b, n_s))
        shape = (h, b, n_a, n_s) if per_action else (h, b, n_s)
        if per_time:
            out = torch.empty(shape, dtype=pi.dtype, device=pi.device)
        else:
            out = _buffer(workspace, "occ_total", shape[1:], pi).zero_()
        for t in range(h):
            gamma_t = mdp.discount**t
            torch.mul(pi[t], d.unsqueeze(1), out=w)
            target = out[t] if per_time else out
            src = w if per_action else d
            if per_time:
                target.copy_(src).mul_(gamma_t)
            else:
                target.add_(src, alpha=gamma_t)
            if t + 1 < h:
                push_forward(mdp, w, d_next, scratch)
                d, d_next = d_next, d
        return out
    if per_time:
        raise ValidationError("per_time", "is True for a discounted MDP", "use per_time only with a finite horizon")
    pi_b = pi.expand(b, n_a, n_s)
    mu0_b = mu0.expand(b, n_s)
    exact = solve_policy_system(mdp, pi, mu0_b, transpose=True) if _solve_exactly(mdp, tol) else None
    if exact is not None:
        d = exact
    else:
        limit = sweep_limit(mdp.discount, tol, max_iter)
        d = mu0_b.clone()
        total = mu0_b.clone()
        nxt = torch.empty_like(d)
        w = torch.empty(b, n_a, n_s, dtype=pi.dtype, device=pi.device)
        stop = tol * (1 - mdp.discount)
        mass = math.inf
        for _ in range(limit):
            torch.mul(pi_b, d.unsqueeze(1), out=w)
            push_forward(mdp, w, nxt, scratch).mul_(mdp.discount)
            d, nxt = nxt, d
            total.add_(d)
            mass = float(d.sum(-1).max())
            if mass <= stop:
                break
        else:
            raise sweep_error("occupancy", limit, mdp.discount, tol, mass)
        d = total
    return pi_b * d.unsqueeze(1) if per_action else d


def occupancy(
    mdp: TabularMDP,
    policy: Any,
    *,
    initial: Any = None,
    per_action: bool = False,
    per_time: bool = False,
    tol: float | None = None,
    max_iter: int | None = None,
) -> Tensor:
    """Expected state (or state-action) visitation of ``policy`` from ``initial``.

    Finite horizon: ``D(s) = sum_{t<H} gamma^t P(s_t = s)`` (sums to ``H`` when ``gamma = 1`` and no
    state is terminal); ``per_time=True`` returns ``(H, S)`` with each ``D_t``. Discounted:
    ``d(s) = sum_t gamma^t P(s_t = s)``, which sums to ``1 / (1 - gamma)``; solved exactly as
    ``(I - gamma P_pi^T) d = mu_0`` (see :func:`policy_evaluation` for when it iterates instead).

    This is the forward pass of MaxEnt IRL: with the soft-optimal policy it is the gradient of the
    log-partition function with respect to the reward.

    Args:
        mdp: the MDP.
        policy: ``(S, A)`` or ``(H, S, A)``, optionally batched.
        initial: start distribution ``(S,)`` or ``(B, S)``; defaults to ``mdp.initial``.
        per_action: return state-action occupancy ``(..., S, A)``.
        per_time: finite horizon only: keep the time axis.

    Examples:
        >>> from rewardlab.mdp.worlds import chain
        >>> mdp = chain(2, discount=0.5)
        >>> occupancy(mdp, torch.tensor([[1.0, 0.0], [1.0, 0.0]]))  # stay in state 0 forever
        tensor([2., 0.], dtype=torch.float64)
    """
    pi, p_batched = as_policy(mdp, policy)
    mu0 = initial_distribution(mdp, initial)
    tol_ = default_tol(mdp.dtype) if tol is None else tol
    out = occupancy_internal(mdp, pi, mu0, per_action=per_action, per_time=per_time, tol=tol_, max_iter=max_iter)
    batched = p_batched or mu0.ndim == 2
    if per_time:
        return public_state_action(out, batched, True) if per_action else _public_values(out, batched, True)
    return public_state_action(out, batched, False) if per_action else (out if batched else out[0])


def episode_occupancy(mdp: TabularMDP, policy: Any, starts: Any, lengths: Any) -> Tensor:
    """Expected discounted visitation ``(S,)`` of ``policy`` over given episodes, averaged over them:

    ``D(s) = (1/N) sum_n sum_{t < L_n} gamma^t P(s_t = s | s_0 = starts[n], pi)``.

    The model counterpart of the empirical visitation of N demonstrations that start in ``starts[n]``
    and take ``L_n`` decisions (:func:`rewardlab.data.empirical_visitation`): comparing the two compares
    like with like, whereas the infinite-horizon occupancy of a discounted MDP also counts the steps
    after a truncated demonstration ended. Terminal states end an episode early, as in :func:`occupancy`.

    Args:
        mdp: the MDP (discounted or finite-horizon; its discount is used).
        policy: stationary ``(S, A)`` (repeated at every step), or time-indexed ``(H, S, A)`` with
            ``H >= max(lengths)``.
        starts: ``(N,)`` start states.
        lengths: ``(N,)`` decisions per episode (an episode of length 0 counts nothing).

    Examples:
        >>> from rewardlab.mdp.worlds import chain
        >>> mdp = chain(2, discount=0.5)
        >>> go = torch.tensor([[0.0, 1.0], [1.0, 0.0]])  # move right from 0, then stay in 1
        >>> episode_occupancy(mdp, go, [0, 0], [1, 3])  # (1/2)([1, 0] + [1, 0.5 + 0.25])
        tensor([1.0000, 0.3750], dtype=torch.float64)
    """
    s0 = as_tensor(starts, "starts").long().reshape(-1)
    n_steps = as_tensor(lengths, "lengths").long().reshape(-1)
    if s0.shape != n_steps.shape or s0.numel() == 0:
        raise ShapeError(
            "lengths", f"has shape {tuple(n_steps.shape)} but starts has {tuple(s0.shape)}", "pass one length per start, at least one"
        )
    if bool((s0 < 0).any()) or bool((s0 >= mdp.n_states).any()):
        raise ValidationError("starts", f"has states outside 0..{mdp.n_states - 1}", "pass state indices of this MDP")
    if bool((n_steps < 0).any()):
        raise ValidationError("lengths", "has a negative length", "pass lengths >= 0")
    h = max(int(n_steps.max()), 1)
    pi = as_tensor(policy, "policy", dtype=mdp.dtype, device=mdp.device)
    if pi.ndim == 2:
        pi = pi.unsqueeze(0).expand(h, *pi.shape)
    elif pi.ndim == 3 and pi.shape[0] >= h:
        pi = pi[:h]
    else:
        raise ShapeError("policy", f"has shape {tuple(pi.shape)}", f"pass (S, A), or (H, S, A) with H >= the longest episode ({h})")
    pairs, counts = torch.unique(torch.stack([s0, n_steps]), dim=1, return_counts=True)  # (2, U), (U,)
    cells, where = torch.unique(pairs[0], return_inverse=True)
    initial = torch.zeros(cells.numel(), mdp.n_states, dtype=mdp.dtype, device=mdp.device)
    initial[torch.arange(cells.numel(), device=mdp.device), cells.to(mdp.device)] = 1.0
    model = mdp if mdp.horizon == h else mdp.replace(horizon=h)
    per_time = occupancy(model, pi, initial=initial, per_time=True)  # (C, H, S), discounted by gamma^t
    cumulative = torch.cat([torch.zeros_like(per_time[:, :1]), per_time.cumsum(1)], 1)  # [:, L] = sum over t < L
    rows = cumulative[where.to(mdp.device), pairs[1].to(mdp.device)]  # (U, S)
    visits: Tensor = (counts.to(rows) @ rows) / s0.numel()
    return visits


def state_action_occupancy(mdp: TabularMDP, policy: Any, *, initial: Any = None) -> Tensor:
    """Shorthand for ``occupancy(mdp, policy, initial=initial, per_action=True)``: ``(S, A)``."""
    return occupancy(mdp, policy, initial=initial, per_action=True)


def feature_expectations(mdp: TabularMDP, visitation: Any) -> Tensor:
    """``mu = sum_s D(s) phi(s)``: features ``(S, F)`` weighted by a visitation ``(..., S)``.

    Examples:
        >>> from rewardlab.mdp.worlds import chain
        >>> mdp = chain(2, discount=0.5)
        >>> feature_expectations(mdp, torch.tensor([2.0, 0.0]))  # chain features are one-hot
        tensor([2., 0.], dtype=torch.float64)
    """
    if mdp.features is None:
        raise ValidationError("mdp.features", "is None", "build the MDP with state features (S, F)")
    d = as_tensor(visitation, "visitation", dtype=mdp.dtype, device=mdp.device)
    if d.shape[-1] != mdp.n_states:
        raise ShapeError("visitation", f"has shape {tuple(d.shape)}", f"pass (..., {mdp.n_states})")
    return d @ mdp.features
