"""Exact ``Q*`` for a batch of rewards that move a little at a time: the solvers behind MCMC over rewards.

A sampler over rewards (Bayesian IRL's Metropolis–Hastings or PolicyWalk) needs the optimal Q-values of
every proposal, and a proposal is a small step from the chain's current reward. Two warm-started
solvers serve it, both batched over chains on a leading axis, both exact:

* :class:`PolicyWalkSolver` — rewards linear in features, ``r_theta(s, a) = phi(s, a) . theta``.
  Each chain keeps its optimal deterministic policy ``pi`` and the *Q-features* of ``pi``,

      ``Q_pi(theta)(s, a) = phi(s, a) . theta + gamma sum_s' P(s' | s, a) psi_pi(s') . theta``,

  with the successor features ``psi_pi = (I - gamma P_pi)^-1 G_pi`` ``(S, D)`` (``G_pi(s) = phi(s, pi(s))``).
  ``Q_pi(theta')`` of *any* proposal is then one ``(A S, D) @ (D,)`` product. If ``pi`` is still greedy
  for it, ``Q_pi = Q*`` exactly (Bellman optimality); otherwise policy iteration, warm-started at
  ``pi``, re-solves (usually one or two evaluations).
* :class:`WarmValueIteration` — value iteration (or soft value iteration) from each chain's current
  values, for rewards whose features would cost too much memory (``Q_FEATURE_BUDGET``) and for finite
  horizons.

Arrays are in the solvers' internal action-major layout (``(B, A, S)``; see :mod:`rewardlab.mdp.solvers`).

References:
    Deepak Ramachandran and Eyal Amir, "Bayesian Inverse Reinforcement Learning", IJCAI 2007 (PolicyWalk).
    André Barreto et al., "Successor Features for Transfer in Reinforcement Learning", NeurIPS 2017.
    Puterman, "Markov Decision Processes", 1994, section 6.4 (policy iteration) and theorem 6.2.7.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from rewardlab.errors import ConvergenceError, ShapeError, ValidationError
from rewardlab.mdp.core import TabularMDP
from rewardlab.mdp.solvers import (
    MAX_EXACT_STEPS,
    default_tol,
    expect_next,
    improvement_slack,
    soft_value_iteration_internal,
    sweep_limit,
    value_iteration,
    value_iteration_internal,
)

__all__ = ["Q_FEATURE_BUDGET", "PolicyWalkSolver", "WarmValueIteration"]

#: Above this many stored Q-feature entries (chains x A x S x D), samplers should re-solve by
#: :class:`WarmValueIteration` instead of keeping :class:`PolicyWalkSolver`'s Q-features.
Q_FEATURE_BUDGET = 50_000_000
# Discounted MDPs up to this many states may solve (I - gamma P_pi) psi = G_pi densely ...
_DENSE_PSI_LIMIT = 512
# ... and with deterministic dynamics do so only while chains x S^3 stays below this (measured:
# a dense solve beats pointer doubling at 36 states for up to 4 chains, loses at 100 states).
_DENSE_WORK = 200_000


class PolicyWalkSolver:
    """Exact ``Q*`` for a batch of linear rewards through the current policies' successor features.

    Per chain it keeps the deterministic policy ``actions`` ``(B, S)`` and its *Q-features*
    ``(B, A*S, D)``, with ``Q_pi(theta) = Q-features @ theta`` for every ``theta``. The successor
    features ``psi_pi = (I - gamma P_pi)^-1 G_pi`` ``(B, S, D)`` are solved exactly:

    * with deterministic dynamics (beyond the smallest worlds), by pointer doubling along the policy's
      successor graph: ``acc <- acc + gamma^(2^k) acc[next^(2^k)]``, ``next^(2^(k+1)) = next^(2^k)[next^(2^k)]``
      — about ``log2(log(tol) / log(gamma))`` gathers (8 at gamma 0.9), batched, CPU or CUDA;
    * otherwise densely, up to 512 states (and for tiny deterministic worlds, where it is faster);
    * otherwise by a sparse LU factorisation per chain (CPU), or by iteration (CUDA; capped like the other
      iterative solvers, :class:`ConvergenceError` when the cap is hit).

    Chains (or posterior samples) that arrive at the same policy share one solve. Policy improvement
    switches a state's action only when another beats it by more than
    :func:`~rewardlab.mdp.solvers.improvement_slack` ``(1 + |Q|)``, the rule of
    :func:`~rewardlab.mdp.policy_iteration`, so the result is exact at any discount.

    Args:
        mdp: a discounted MDP.
        features: the reward features ``phi``: state features ``(S, D)`` (``r(s, a) = phi(s) . theta``) or
            state-action features ``(S, A, D)``, in the MDP's dtype and device.
        atol: relative tolerance of the optimality check (see ``improvement_slack``).

    Examples:
        >>> from rewardlab.mdp.worlds import chain
        >>> mdp = chain(3, discount=0.9)
        >>> solver = PolicyWalkSolver(mdp, torch.eye(3, dtype=torch.float64))  # one weight per state
        >>> theta = torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64)
        >>> q, actions, qfeat = solver.solve_cold(theta)
        >>> actions.tolist()  # walk right, then stay
        [[1, 1, 0]]
        >>> bool(torch.allclose(q.transpose(1, 2), value_iteration(mdp, theta).q_values))
        True
    """

    def __init__(self, mdp: TabularMDP, features: Tensor, *, atol: float = 1e-9) -> None:
        if mdp.horizon is not None:
            raise ValidationError("mdp.horizon", f"is {mdp.horizon}", "use a discounted MDP (WarmValueIteration solves finite horizons)")
        n_s, n_a = mdp.n_states, mdp.n_actions
        if features.ndim not in (2, 3) or features.shape[0] != n_s or (features.ndim == 3 and features.shape[1] != n_a):
            raise ShapeError("features", f"has shape {tuple(features.shape)}", f"pass state features ({n_s}, D) or ({n_s}, {n_a}, D)")
        self.mdp, self.features = mdp, features
        self.dim = int(features.shape[-1])
        self.dense = mdp.to_dense() if n_s <= _DENSE_PSI_LIMIT else None
        self.deterministic = mdp.prob_kas is None
        self.tol = default_tol(mdp.dtype)
        self.slack = improvement_slack(mdp.discount, atol, mdp.dtype)
        self.rows = torch.arange(n_s, device=mdp.device)
        self.terminal = mdp.terminal_mask().to(mdp.device)
        # reward features of every (s, a), internal (A*S, D) action-major
        if features.ndim == 2:
            g_sa = features.unsqueeze(0).expand(n_a, n_s, self.dim)
        else:
            g_sa = features.transpose(0, 1)
        self.g_sa = g_sa.reshape(n_a * n_s, self.dim)

    def reward_under_policy(self, actions: Tensor) -> Tensor:
        """``G_pi`` ``(B, S, D)``: the reward features collected in each state under deterministic ``actions`` ``(B, S)``."""
        if self.features.ndim == 2:
            return self.features.expand(actions.shape[0], *self.features.shape)
        out: Tensor = self.features[self.rows, actions]
        return out

    def successor_features(self, actions: Tensor) -> Tensor:
        """``psi_pi = (I - gamma P_pi)^-1 G_pi`` ``(B, S, D)`` for deterministic ``actions`` ``(B, S)``.

        Terminal states end the sum (their rows of ``P_pi`` are zero).
        """
        mdp, g = self.mdp, self.reward_under_policy(actions)
        gamma, b, n_s = mdp.discount, actions.shape[0], mdp.n_states
        if self.deterministic and (self.dense is None or b * n_s**3 > _DENSE_WORK):
            nxt = mdp.successors[self.rows, actions, 0]  # (B, S)
            nxt = torch.where(self.terminal, n_s, nxt)  # terminal states continue into a zero sink
            nxt = torch.cat([nxt, torch.full((b, 1), n_s, dtype=nxt.dtype, device=nxt.device)], 1)
            acc = torch.cat([g, torch.zeros(b, 1, g.shape[-1], dtype=g.dtype, device=g.device)], 1)
            horizon = math.log(self.tol * (1 - gamma)) / math.log(gamma)
            step = gamma
            rounds = max(1, math.ceil(math.log2(max(horizon, 1.0))))
            for k in range(rounds):
                acc = acc + step * torch.gather(acc, 1, nxt.unsqueeze(-1).expand_as(acc))
                if k + 1 < rounds:
                    nxt = torch.gather(nxt, 1, nxt)
                step *= step
            return acc[:, :n_s]
        if self.dense is not None:
            p = self.dense[self.rows, actions].masked_fill(self.terminal.view(1, -1, 1), 0.0)  # (B, S, S')
            eye = torch.eye(n_s, dtype=mdp.dtype, device=mdp.device)
            psi: Tensor = torch.linalg.solve(eye - gamma * p, g)
            return psi
        succ = mdp.successors[self.rows, actions]  # (B, S, K)
        prob = mdp.probabilities[self.rows, actions].to(mdp.dtype).masked_fill(self.terminal.view(1, -1, 1), 0.0)
        if mdp.device.type == "cpu":
            from scipy.sparse import csc_matrix
            from scipy.sparse.linalg import splu

            out = torch.empty_like(g)
            k = succ.shape[-1]
            diag = np.arange(n_s)
            for i in range(b):
                rows = np.concatenate([diag, np.repeat(diag, k)])
                cols = np.concatenate([diag, succ[i].reshape(-1).numpy()])
                vals = np.concatenate([np.ones(n_s), -gamma * prob[i].reshape(-1).numpy()])
                lu = splu(csc_matrix((vals, (rows, cols)), shape=(n_s, n_s)))
                out[i] = torch.from_numpy(lu.solve(g[i].numpy()))
            return out
        psi, k, d = g.clone(), succ.shape[-1], g.shape[-1]
        index = succ.reshape(b, n_s * k, 1).expand(b, n_s * k, d)
        stop = self.tol * (1 - gamma) / gamma * (1 + float(g.abs().max()))
        limit = sweep_limit(gamma, self.tol, None)
        delta = math.inf
        for _ in range(limit):
            new = torch.einsum("bskd,bsk->bsd", torch.gather(psi, 1, index).view(b, n_s, k, d), prob).mul_(gamma).add_(g)
            delta = float((new - psi).abs().max())
            psi = new
            if delta <= stop:
                return psi
        raise ConvergenceError(
            f"successor features on {mdp.device} did not converge in {limit} sweeps (last change {delta:.3g}) at discount {gamma}; "
            "solve on the CPU (exact sparse LU), lower the discount, or use value iteration"
        )

    def _q_features(self, actions: Tensor) -> Tensor:
        mdp = self.mdp
        psi = self.successor_features(actions)
        b, n_s, d = psi.shape
        flat = psi.transpose(1, 2).reshape(b * d, n_s)
        nxt = expect_next(mdp, flat, torch.empty(b * d, mdp.n_actions, n_s, dtype=psi.dtype, device=psi.device))
        nxt = nxt.view(b, d, mdp.n_actions * n_s).transpose(1, 2)
        return (nxt * mdp.discount).add_(self.g_sa)

    def q_features(self, actions: Tensor) -> Tensor:
        """``(B, A*S, D)`` Q-features of deterministic policies ``actions`` ``(B, S)``:
        ``Q_pi(s, a) = phi(s, a) . theta + gamma E[psi_pi(s')] . theta`` as a product with ``theta``.
        Policies that occur more than once are solved once."""
        if actions.shape[0] == 1:
            return self._q_features(actions)
        unique, inverse = torch.unique(actions, dim=0, return_inverse=True)
        return self._q_features(unique)[inverse]

    def _improvable(self, q: Tensor, actions: Tensor) -> Tensor:
        """``(B, S)``: where some action beats the policy's by more than ``slack (1 + |best|)``."""
        best = q.amax(1)
        current = q.gather(1, actions.unsqueeze(1)).squeeze(1)
        return current < best.sub_(best.abs().mul_(self.slack).add_(self.slack))  # best - slack (1 + |best|), in place

    def solve(self, theta: Tensor, actions: Tensor, qfeat: Tensor) -> tuple[Tensor, Tensor, tuple[Tensor, Tensor] | None]:
        """Policy iteration from ``actions`` ``(B, S)`` with Q-features ``qfeat`` ``(B, A*S, D)`` for rewards ``theta`` ``(B, D)``.

        Returns internal ``Q*`` ``(B, A, S)``, the optimal actions ``(B, S)``, and ``None`` when every
        policy stayed greedy, else ``(idx, rows)``: the chains whose policy changed and their new
        Q-features. ``qfeat`` itself is never written (a rejected proposal keeps it). More than
        ``MAX_EXACT_STEPS`` policy evaluations raise :class:`ConvergenceError`.
        """
        b, n_a, n_s = theta.shape[0], self.mdp.n_actions, self.mdp.n_states
        q = torch.bmm(qfeat, theta.unsqueeze(-1)).view(b, n_a, n_s)
        improvable = self._improvable(q, actions)
        if not bool(improvable.any()):
            return q, actions, None
        idx = improvable.any(1).nonzero().squeeze(1)
        everyone = len(idx) == b  # (always so for one chain): no subsetting needed
        sub_theta = (theta if everyone else theta[idx]).unsqueeze(-1)
        sub_q, sub_actions, sub_improvable = (q, actions, improvable) if everyone else (q[idx], actions[idx], improvable[idx])
        sub_actions = torch.where(sub_improvable, sub_q.max(1).indices, sub_actions)  # max(1): ~8x faster than argmax(1) here
        rows = self.q_features(sub_actions)
        for _ in range(MAX_EXACT_STEPS):  # policy iteration on the chains that changed, in buffers of their own
            sub_q = torch.bmm(rows, sub_theta).view(-1, n_a, n_s)
            sub_improvable = self._improvable(sub_q, sub_actions)
            if not bool(sub_improvable.any()):
                break
            sub_actions = torch.where(sub_improvable, sub_q.max(1).indices, sub_actions)
            j = sub_improvable.any(1).nonzero().squeeze(1)
            rows[j] = self.q_features(sub_actions[j])
        else:
            raise ConvergenceError(f"policy-walk policy iteration did not converge in {MAX_EXACT_STEPS} evaluations")
        if everyone:
            return sub_q, sub_actions, (idx, rows)
        q[idx] = sub_q
        actions = actions.clone()
        actions[idx] = sub_actions
        return q, actions, (idx, rows)

    def solve_cold(self, theta: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``Q*`` from scratch for rewards ``theta`` ``(B, D)``: internal ``Q*`` ``(B, A, S)``, optimal actions
        ``(B, S)`` and their Q-features ``(B, A*S, D)`` (policy iteration from the all-zero action policy)."""
        actions = torch.zeros(theta.shape[0], self.mdp.n_states, dtype=torch.long, device=theta.device)
        qfeat = self.q_features(actions)
        q, actions, update = self.solve(theta, actions, qfeat)
        if update is not None:
            qfeat[update[0]] = update[1]
        return q, actions, qfeat


class WarmValueIteration:
    """``Q*`` (or soft ``Q`` at ``soft_temperature``) by value iteration warm-started from each chain's values.

    Discounted MDPs iterate from the given values (:func:`~rewardlab.mdp.solvers.value_iteration_internal`,
    which finishes by policy iteration at discounts near 1); finite horizons use backward induction.

    Examples:
        >>> from rewardlab.mdp.worlds import chain
        >>> mdp = chain(2, discount=0.5)
        >>> q, v = WarmValueIteration(mdp).solve(torch.tensor([[0.0, 1.0]], dtype=torch.float64), None)
        >>> v.round(decimals=6)
        tensor([[1., 2.]], dtype=torch.float64)
    """

    def __init__(self, mdp: TabularMDP, soft_temperature: float | None = None) -> None:
        self.mdp, self.temp = mdp, soft_temperature
        self.tol = default_tol(mdp.dtype)

    def solve(self, reward: Tensor, v0: Tensor | None) -> tuple[Tensor, Tensor]:
        """Internal ``(Q, V)`` for reward tables ``(B, S)`` or ``(B, S, A)``: ``(B, A, S)`` and ``(B, S)``, or
        ``(H, B, A, S)`` / ``(H, B, S)`` for a finite horizon; ``v0`` is the previous ``V`` (or None)."""
        mdp = self.mdp
        r = reward.unsqueeze(1) if reward.ndim == 2 else reward.transpose(1, 2)
        if self.temp is not None:
            v, _, q, _ = soft_value_iteration_internal(mdp, r, self.temp, keep_q=True, init_values=v0)
            assert q is not None
            return q, v
        if mdp.horizon is not None:
            sol = value_iteration(mdp, reward)
            assert sol.q_values is not None
            b = reward.shape[0]
            q = sol.q_values.reshape(b, mdp.horizon, mdp.n_states, mdp.n_actions).permute(1, 0, 3, 2)
            return q, sol.values.reshape(b, mdp.horizon, -1).transpose(0, 1)
        v, q, _ = value_iteration_internal(mdp, r, tol=self.tol, max_iter=None, init_values=v0)
        return q, v
