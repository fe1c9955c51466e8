"""Bayesian IRL (Ramachandran & Amir 2007): a posterior over rewards, sampled by MCMC.

Instead of one reward, sample ``P(R | D) ∝ P(D | R) P(R)``:

* **Likelihood** — a Boltzmann-rational demonstrator with inverse temperature ``beta`` (the
  paper's ``c``) over the optimal Q-values of ``R``:
  ``P(D | R) = prod_{(s, a) in D} exp(beta Q*(s, a; R)) / sum_b exp(beta Q*(s, b; R))``
  (:func:`boltzmann_log_likelihood`). ``likelihood="soft"`` uses the soft-optimal (MaxEnt) Q-values
  at temperature ``1 / beta`` instead, i.e. the demonstrator of MaxEnt IRL.
* **Reward** ``R_theta`` — linear in state features (``theta`` ``(F,)``), one value per state
  (``(S,)``), or per state-action (``(S * A,)``).
* **Prior** (:func:`log_prior`) — uniform on the box ``[-scale, scale]^D``, Gaussian with std
  ``scale``, Laplace with scale ``scale``, or uniform on the unit sphere (linear rewards: only the
  direction of ``theta`` matters to the optimal policy).
* **Samplers** — the shared Metropolis–Hastings loop of :mod:`rewardlab.mcmc` (the lecture's loop):
  propose ``theta' = theta + h L eps`` (``eps ~ N(0, I)``), accept with probability
  ``min(1, P(D | theta') P(theta') / P(D | theta) P(theta))`` — the normaliser of the posterior
  cancels. During burn-in the proposal adapts: its shape ``L`` to the covariance of the burn-in
  samples (adaptive Metropolis, Haario et al. 2001; ``covariance``) and its scale ``h`` per chain toward
  ``target_accept``; both are then frozen, so the kept samples come from a valid chain. The sphere
  prior is sampled through Stan's unit-vector transform (see :mod:`rewardlab.mcmc`). **PolicyWalk**
  (Ramachandran & Amir, fig. 2) proposes a neighbour on the lattice of step ``delta`` (one coordinate
  moves by ``±delta``).

Many chains run at once on a batch axis (CPU or CUDA). :meth:`RewardPosterior.mixing` says whether they
have mixed (rank-normalised split R-hat and bulk ESS, Vehtari et al. 2021); what is computed from an
unmixed posterior is reported as undetermined by its users (sufficiency, the CLI's ``result.json``).

**The PolicyWalk trick, used by every sampler here.** Each chain keeps the optimal policy ``pi`` of
its current reward and the successor features ``psi_pi = (I - gamma P_pi)^-1 G_pi`` (``G_pi`` maps
``theta`` to the reward collected under ``pi``), so that ``Q_pi(theta') = R_theta' + gamma P psi_pi
theta'`` is a cheap product for *any* proposal. If ``pi`` is still greedy for ``Q_pi(theta')``
then ``Q_pi = Q*`` exactly; otherwise policy iteration, warm-started at ``pi``, re-solves (usually
one or two evaluations). Where storing ``psi`` would cost too much memory (a reward per state on a
large world), warm-started value iteration is used instead (``solver="value_iteration"``).

References:
    Deepak Ramachandran and Eyal Amir, "Bayesian Inverse Reinforcement Learning", IJCAI 2007.
    Daniel S. Brown, Scott Niekum, "Efficient Probabilistic Performance Bounds for Inverse
    Reinforcement Learning", AAAI 2018 (the alpha-VaR of a policy's EVD).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypedDict

import numpy as np
import torch
from torch import Tensor

from rewardlab._io import read_tensors, save_tensors
from rewardlab.data import Trajectory, validate_dataset
from rewardlab.errors import ConfigError, DataFileError, ShapeError, ValidationError
from rewardlab.eval.metrics import _start
from rewardlab.learner import Callback, FitResult, History
from rewardlab.mcmc import MIN_BULK_ESS, MHSettings, chain_diagnostics, metropolis_hastings, mixing_problem
from rewardlab.mdp import TabularMDP, policy_evaluation, value_iteration
from rewardlab.mdp.solvers import _default_tol, _expect_next, _soft_vi, _value_iteration_internal
from rewardlab.rewards import TabularReward

__all__ = [
    "BayesianIRL",
    "BayesianIRLConfig",
    "RewardPosterior",
    "boltzmann_log_likelihood",
    "decision_counts",
    "log_prior",
    "mh_settings",
    "sample_posterior",
]

Prior = Literal["uniform", "gaussian", "laplace", "sphere"]

_FORMAT = "rewardlab.RewardPosterior"


class _PosteriorMeta(TypedDict):
    """The schema of a :class:`RewardPosterior`'s ``posterior.json``."""

    format: str
    version: int
    kind: str
    beta: float
    shape: list[int]
    n_states: int


#: What to do when the chains have not mixed (the warning's second half).
UNMIXED_ADVICE = "estimates from these samples are unreliable: raise burn_in and samples, add chains, or lower beta"
# Above this many stored Q-feature entries (chains x A x S x D) the sampler re-solves by value iteration.
_PSI_BUDGET = 50_000_000
# Discounted MDPs up to this many states may solve (I - gamma P_pi) psi = G_pi densely ...
_DENSE_PSI_LIMIT = 512
# ... and with deterministic dynamics do so only while chains x S^3 stays below this (measured:
# a dense solve beats pointer doubling at 36 states for up to 4 chains, loses at 100 states).
_DENSE_WORK = 200_000


@dataclass(frozen=True)
class BayesianIRLConfig:
    """Hyperparameters of Bayesian IRL.

    The sampler's defaults (4 chains of 1,000 burn-in and 8,000 kept steps, thinned by 8, adaptive
    proposal covariance) mix on the library's small worlds: max R-hat at most 1.007 and bulk ESS at least
    808 on ``featuregrid:size=6``, ``objectworld:size=8`` and ``navigation`` from 16 demonstrations
    (seeds 0-2), where the isotropic proposal with 2,500 steps gave R-hat up to 1.33 and ESS 10.

    Attributes:
        reward: ``"linear"`` in state features, ``"state"`` or ``"state_action"``.
        likelihood: ``"optimal"`` (Boltzmann over ``Q*``, Ramachandran & Amir) or ``"soft"`` (over
            soft-optimal ``Q`` at temperature ``1 / beta``).
        beta: inverse temperature ``c`` of the demonstrator (``> 0``; larger = more rational).
        prior: ``"uniform"`` box, ``"gaussian"``, ``"laplace"`` or ``"sphere"`` (linear rewards only).
        prior_scale: box half-width, Gaussian std or Laplace scale.
        sampler: ``"mh"`` (Gaussian proposal) or ``"policywalk"`` (lattice proposal, step ``step_size``).
        samples: steps kept per chain after burn-in (before thinning).
        burn_in: steps discarded first (the MH step size adapts during them).
        thin: keep every ``thin``-th step.
        chains: chains run together on the batch axis.
        step_size: initial proposal std (MH) or lattice step ``delta`` (PolicyWalk).
        adapt: MH only: adapt the proposal during burn-in (scale toward ``target_accept``, shape as
            ``covariance`` says).
        target_accept: the acceptance rate adaptation aims at.
        covariance: MH only: the proposal shape adapted during burn-in (adaptive Metropolis):
            ``"auto"`` (dense up to 256 parameters, else diagonal), ``"dense"``, ``"diagonal"`` or
            ``"identity"`` (isotropic, the scale alone adapts).
        solver: ``"auto"``, ``"policy"`` (successor features + warm-started policy iteration) or
            ``"value_iteration"`` (warm-started). Both give exact ``Q*``; only speed differs.
        estimate: the point estimate returned as ``FitResult.reward``: ``"map"`` (best sample) or ``"mean"``.
        device: ``"cpu"`` or ``"cuda"``.
        report_every: log history and call the callback every this many steps.
    """

    reward: Literal["linear", "state", "state_action"] = "linear"
    likelihood: Literal["optimal", "soft"] = "optimal"
    beta: float = 10.0
    prior: Prior = "gaussian"
    prior_scale: float = 1.0
    sampler: Literal["mh", "policywalk"] = "mh"
    samples: int = 8000
    burn_in: int = 1000
    thin: int = 8
    chains: int = 4
    step_size: float = 0.1
    adapt: bool = True
    target_accept: float = 0.3
    covariance: Literal["auto", "dense", "diagonal", "identity"] = "auto"
    solver: Literal["auto", "policy", "value_iteration"] = "auto"
    estimate: Literal["map", "mean"] = "map"
    device: str = "cpu"
    report_every: int = 100

    def __post_init__(self) -> None:
        choices = {
            "reward": ("linear", "state", "state_action"),
            "likelihood": ("optimal", "soft"),
            "prior": ("uniform", "gaussian", "laplace", "sphere"),
            "sampler": ("mh", "policywalk"),
            "solver": ("auto", "policy", "value_iteration"),
            "estimate": ("map", "mean"),
            "covariance": ("auto", "dense", "diagonal", "identity"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(name, f"is {getattr(self, name)!r}", f"choose one of {allowed}")
        for name in ("beta", "prior_scale", "step_size"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ConfigError(name, f"is {value}", "use a positive finite number")
        for name in ("samples", "thin", "chains", "report_every"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"is {getattr(self, name)}", "use at least 1")
        if self.burn_in < 0:
            raise ConfigError("burn_in", f"is {self.burn_in}", "use 0 or more steps")
        if not 0 < self.target_accept < 1:
            raise ConfigError("target_accept", f"is {self.target_accept}", "use a rate in (0, 1), e.g. 0.3")
        if self.prior == "sphere" and self.reward != "linear":
            raise ConfigError("prior", "is 'sphere' for a tabular reward", "use the sphere prior with reward='linear'")
        if self.prior == "sphere" and self.sampler == "policywalk":
            raise ConfigError("sampler", "is 'policywalk' with the sphere prior (the lattice leaves the sphere)", "use sampler='mh'")
        if self.solver == "policy" and self.likelihood == "soft":
            raise ConfigError("solver", "is 'policy' with likelihood='soft'", "soft Q-values need solver='value_iteration' or 'auto'")


# ============================================================================ pure maths
def log_prior(theta: Tensor, prior: str, scale: float) -> Tensor:
    """``log P(theta)`` up to a constant, for ``theta`` ``(B, D)``; ``-inf`` outside the support.

    * ``"uniform"``: 0 on ``[-scale, scale]^D``;
    * ``"gaussian"``: ``-||theta||^2 / (2 scale^2)``;
    * ``"laplace"``: ``-||theta||_1 / scale``;
    * ``"sphere"``: 0 (the sampler keeps ``||theta|| = 1``).

    Examples:
        >>> log_prior(torch.tensor([[0.5, -2.0]]), "uniform", 1.0)
        tensor([-inf])
        >>> log_prior(torch.tensor([[1.0, -1.0]]), "laplace", 0.5)
        tensor([-4.])
    """
    if prior == "uniform":
        inside = (theta.abs() <= scale * (1 + 1e-12)).all(-1)
        return torch.where(inside, 0.0, -math.inf).to(theta.dtype)
    if prior == "gaussian":
        return -0.5 * (theta / scale).square().sum(-1)
    if prior == "laplace":
        return -(theta.abs().sum(-1) / scale)
    if prior == "sphere":
        return torch.zeros(theta.shape[:-1], dtype=theta.dtype, device=theta.device)
    raise ConfigError("prior", f"is {prior!r}", "choose uniform, gaussian, laplace or sphere")


def boltzmann_log_likelihood(q_values: Tensor, counts: Tensor, beta: float) -> Tensor:
    """``log P(D | R) = sum_{s,a} n(s, a) [beta Q(s, a) - log sum_b exp(beta Q(s, b))]``.

    Args:
        q_values: ``(B, S, A)`` (or time-indexed ``(B, H, S, A)``) Q-values of ``B`` rewards.
        counts: ``(S, A)`` (``(H, S, A)``) decision counts ``n(s, a)``, or one table per row ``(B, ...)``.
        beta: the inverse temperature ``c``.

    Returns:
        ``(B,)`` log-likelihoods.

    Examples:
        >>> q = torch.tensor([[[0.0, 0.0]], [[0.0, 2.0]]], dtype=torch.float64)  # 2 rewards, 1 state
        >>> boltzmann_log_likelihood(q, torch.tensor([[0.0, 3.0]], dtype=torch.float64), beta=1.0).round(decimals=4)
        tensor([-2.0794, -0.3808], dtype=torch.float64)
    """
    z = beta * q_values
    log_pi = z - torch.logsumexp(z, dim=-1, keepdim=True)
    return (counts * log_pi).flatten(1).sum(-1)


def decision_counts(demonstrations: Iterable[Trajectory], mdp: TabularMDP) -> Tensor:
    """Counts ``n(s, a)`` ``(S, A)`` of every demonstrated decision (``(H, S, A)`` by time step for a
    finite-horizon MDP). An empty dataset gives zeros (the posterior is then the prior).

    Examples:
        >>> from rewardlab.mdp.worlds import chain
        >>> tr = Trajectory(np.array([0, 1, 1]), np.array([1, 0]))
        >>> decision_counts([tr], chain(2, discount=0.9)).tolist()
        [[0.0, 1.0], [1.0, 0.0]]
    """
    ds = validate_dataset(demonstrations, mdp, name="demonstrations", allow_empty=True)
    states, actions, times = ds.decisions()
    n_s, n_a = mdp.n_states, mdp.n_actions
    if mdp.horizon is None:
        out = np.zeros((n_s, n_a))
        np.add.at(out, (states, actions), 1.0)
    else:
        out = np.zeros((mdp.horizon, n_s, n_a))
        np.add.at(out, (times, states, actions), 1.0)
    return torch.as_tensor(out, dtype=mdp.dtype, device=mdp.device)


# ============================================================================ reward parameterisation
@dataclass(frozen=True)
class _Design:
    """How ``theta`` ``(B, D)`` becomes a reward table."""

    kind: str
    n_states: int
    n_actions: int
    features: Tensor | None
    dtype: torch.dtype

    @property
    def dim(self) -> int:
        if self.kind == "linear":
            assert self.features is not None
            return int(self.features.shape[1])
        return self.n_states * (self.n_actions if self.kind == "state_action" else 1)

    def table(self, theta: Tensor) -> Tensor:
        """Public reward tables ``(B, S)`` or ``(B, S, A)``."""
        if self.kind == "linear":
            assert self.features is not None
            return theta @ self.features.T
        if self.kind == "state":
            return theta
        return theta.view(-1, self.n_states, self.n_actions)

    def internal(self, theta: Tensor) -> Tensor:
        """Internal reward ``(B, A', S)``, ``A'`` in ``{1, A}``."""
        t = self.table(theta)
        return t.unsqueeze(1) if t.ndim == 2 else t.transpose(1, 2)

    def under_policy(self, actions: Tensor) -> Tensor:
        """``G_pi`` ``(B, S, D)``: the reward collected in each state under deterministic ``actions`` ``(B, S)``."""
        b = actions.shape[0]
        if self.kind == "linear":
            assert self.features is not None
            return self.features.expand(b, *self.features.shape)
        eye_like = torch.zeros(b, self.n_states, self.dim, dtype=self.dtype, device=actions.device)
        rows = torch.arange(self.n_states, device=actions.device).expand(b, -1)
        cols = rows if self.kind == "state" else rows * self.n_actions + actions
        eye_like.scatter_(2, cols.unsqueeze(-1), 1.0)
        return eye_like


def _design(mdp: TabularMDP, kind: str) -> _Design:
    if kind == "linear" and mdp.features is None:
        raise ValidationError("mdp.features", "is None but reward='linear'", "give the MDP state features or use reward='state'")
    features = None if kind != "linear" or mdp.features is None else mdp.features.to(mdp.dtype)
    return _Design(kind, mdp.n_states, mdp.n_actions, features, mdp.dtype)


# ============================================================================ Q* solvers with warm starts
class _PolicySolver:
    """Exact ``Q*`` for a batch of rewards through the current policies' successor features (PolicyWalk).

    Per chain it keeps the deterministic policy ``actions`` ``(B, S)`` and its *Q-features*
    ``(B, A*S, D)``, with ``Q_pi(theta) = Q-features @ theta`` for every ``theta``. The successor
    features ``psi_pi = (I - gamma P_pi)^-1 G_pi`` ``(B, S, D)`` are solved exactly:

    * with deterministic dynamics (beyond the smallest worlds), by pointer doubling along the policy's successor graph:
      ``acc <- acc + gamma^(2^k) acc[next^(2^k)]``, ``next^(2^(k+1)) = next^(2^k)[next^(2^k)]`` —
      about ``log2(log(tol) / log(gamma))`` gathers (8 at gamma 0.9), batched, CPU or CUDA;
    * otherwise densely, up to ``_DENSE_PSI_LIMIT`` states (and for tiny deterministic worlds, where it is faster);
    * otherwise by a sparse LU factorisation per chain (CPU), or by iteration (CUDA).

    Chains (or posterior samples) that arrive at the same policy share one solve.
    """

    def __init__(self, mdp: TabularMDP, design: _Design) -> None:
        self.mdp, self.design = mdp, design
        n_s, n_a = mdp.n_states, mdp.n_actions
        self.dense = mdp.to_dense() if n_s <= _DENSE_PSI_LIMIT else None
        self.deterministic = mdp.prob_kas is None
        self.tol = _default_tol(mdp.dtype)
        self.atol = 1e-9
        self.rows = torch.arange(n_s, device=mdp.device)
        self.terminal = mdp.terminal_mask().to(mdp.device)
        # reward features of every (s, a), internal (A*S, D) action-major
        if design.kind == "linear":
            assert design.features is not None
            g_sa = design.features.unsqueeze(0).expand(n_a, n_s, design.dim)
        elif design.kind == "state":
            g_sa = torch.eye(n_s, dtype=mdp.dtype, device=mdp.device).unsqueeze(0).expand(n_a, n_s, n_s)
        else:
            g_sa = torch.eye(n_s * n_a, dtype=mdp.dtype, device=mdp.device).view(n_s, n_a, -1).transpose(0, 1)
        self.g_sa = g_sa.reshape(n_a * n_s, design.dim)

    def successor_features(self, actions: Tensor) -> Tensor:
        """``psi_pi = (I - gamma P_pi)^-1 G_pi`` ``(B, S, D)`` for deterministic ``actions`` ``(B, S)``."""
        mdp, g = self.mdp, self.design.under_policy(actions)
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
        while True:
            new = torch.einsum("bskd,bsk->bsd", torch.gather(psi, 1, index).view(b, n_s, k, d), prob).mul_(gamma).add_(g)
            delta = float((new - psi).abs().max())
            psi = new
            if delta <= stop:
                return psi

    def q_features(self, actions: Tensor) -> Tensor:
        """``(B, A*S, D)`` with ``Q_pi(s, a) = r_theta(s, a) + gamma E[psi_pi(s') theta]`` as a product with ``theta``."""
        mdp = self.mdp
        psi = self.successor_features(actions)
        b, n_s, d = psi.shape
        flat = psi.transpose(1, 2).reshape(b * d, n_s)
        nxt = _expect_next(mdp, flat, torch.empty(b * d, mdp.n_actions, n_s, dtype=psi.dtype, device=psi.device))
        nxt = nxt.view(b, d, mdp.n_actions * n_s).transpose(1, 2)
        return (nxt * mdp.discount).add_(self.g_sa)

    def _features(self, actions: Tensor) -> Tensor:
        """Q-features of a batch of policies, one solve per distinct policy."""
        if actions.shape[0] == 1:
            return self.q_features(actions)
        unique, inverse = torch.unique(actions, dim=0, return_inverse=True)
        return self.q_features(unique)[inverse]

    def _improvable(self, q: Tensor, actions: Tensor) -> Tensor:
        """``(B, S)``: where some action beats the policy's by more than round-off."""
        best = q.amax(1)
        current = q.gather(1, actions.unsqueeze(1)).squeeze(1)
        return current < best.sub_(best.abs().mul_(self.atol).add_(self.atol))  # best - atol (1 + |best|), in place

    def solve(self, theta: Tensor, actions: Tensor, qfeat: Tensor) -> tuple[Tensor, Tensor, tuple[Tensor, Tensor] | None]:
        """Policy iteration from ``actions`` for rewards ``theta`` ``(B, D)``.

        Returns internal ``Q*`` ``(B, A, S)``, the optimal actions ``(B, S)``, and ``None`` when every
        policy stayed greedy, else ``(idx, rows)``: the chains whose policy changed and their new
        Q-features. ``qfeat`` itself is never written (a rejected proposal keeps it).
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
        rows = self._features(sub_actions)
        while True:  # policy iteration on the chains that changed, in buffers of their own
            sub_q = torch.bmm(rows, sub_theta).view(-1, n_a, n_s)
            sub_improvable = self._improvable(sub_q, sub_actions)
            if not bool(sub_improvable.any()):
                break
            sub_actions = torch.where(sub_improvable, sub_q.max(1).indices, sub_actions)
            j = sub_improvable.any(1).nonzero().squeeze(1)
            rows[j] = self._features(sub_actions[j])
        if everyone:
            return sub_q, sub_actions, (idx, rows)
        q[idx] = sub_q
        actions = actions.clone()
        actions[idx] = sub_actions
        return q, actions, (idx, rows)


class _ValueIterationSolver:
    """``Q*`` (or soft ``Q``) by value iteration warm-started from each chain's current values."""

    def __init__(self, mdp: TabularMDP, design: _Design, soft_temperature: float | None) -> None:
        self.mdp, self.design, self.temp = mdp, design, soft_temperature
        self.tol = _default_tol(mdp.dtype)

    def solve(self, theta: Tensor, v0: Tensor | None) -> tuple[Tensor, Tensor]:
        """Returns internal ``(Q, V)``: ``(B, A, S)`` and ``(B, S)``, or ``(H, B, A, S)`` / ``(H, B, S)``."""
        mdp, r = self.mdp, self.design.internal(theta)
        if self.temp is not None:
            v, _, q, _ = _soft_vi(mdp, r, self.temp, keep_q=True, init_values=v0)
            assert q is not None
            return q, v
        if mdp.horizon is not None:
            sol = value_iteration(mdp, self.design.table(theta))
            assert sol.q_values is not None
            q = sol.q_values.reshape(theta.shape[0], mdp.horizon, mdp.n_states, mdp.n_actions).permute(1, 0, 3, 2)
            return q, sol.values.reshape(theta.shape[0], mdp.horizon, -1).transpose(0, 1)
        v, q, _ = _value_iteration_internal(mdp, r, tol=self.tol, max_iter=None, init_values=v0)
        return q, v


# ============================================================================ the posterior
class RewardPosterior:
    """Posterior samples of a reward and what can be computed from them.

    Attributes:
        samples: ``(C, N, D)`` kept parameters per chain.
        log_likelihood, log_prior: ``(C, N)``.
        acceptance: ``(C,)`` acceptance rate after burn-in.
        step_size: ``(C,)`` the (adapted) proposal scale.
        mdp: the MDP the rewards live in.
    """

    def __init__(
        self,
        samples: Tensor,
        log_likelihood: Tensor,
        log_prior: Tensor,
        acceptance: Tensor,
        step_size: Tensor,
        mdp: TabularMDP,
        kind: str,
        beta: float,
    ) -> None:
        self.samples, self.log_likelihood, self.log_prior = samples, log_likelihood, log_prior
        self.acceptance, self.step_size, self.mdp, self.kind, self.beta = acceptance, step_size, mdp, kind, beta
        self._design = _design(mdp, kind)
        self._cache: dict[str, Tensor] = {}

    # ---------------------------------------------------------------- samples
    @property
    def n_chains(self) -> int:
        return int(self.samples.shape[0])

    @property
    def log_posterior(self) -> Tensor:
        """``(C, N)`` unnormalised log posterior of each kept sample."""
        return self.log_likelihood + self.log_prior

    def flat(self) -> Tensor:
        """``(C * N, D)`` all kept parameters, chains concatenated."""
        return self.samples.reshape(-1, self.samples.shape[-1])

    def rewards(self) -> Tensor:
        """``(C * N, S)`` or ``(C * N, S, A)`` reward tables of all kept samples."""
        return self._design.table(self.flat())

    def _reward(self, theta: Tensor) -> TabularReward:
        table = self._design.table(theta[None])[0]
        return TabularReward(table, theta if self.kind == "linear" else None)

    def mean_reward(self) -> TabularReward:
        """The posterior mean reward (for a linear reward, linear in the mean weights)."""
        return self._reward(self.flat().mean(0))

    def map_reward(self) -> TabularReward:
        """The sample with the highest unnormalised posterior."""
        return self._reward(self.flat()[int(self.log_posterior.reshape(-1).argmax())])

    # ---------------------------------------------------------------- optimal policies of the samples
    def _optimal(self) -> tuple[Tensor, Tensor]:
        """Per sample: optimal values ``(M, S)`` and Q-values ``(M, S, A)`` (discounted) — cached."""
        if "q" not in self._cache:
            if self.mdp.horizon is not None:
                raise ValidationError("mdp.horizon", "is finite", "posterior policy products need a discounted MDP")
            mdp, design = self.mdp, self._design
            per_sample = mdp.n_actions * mdp.n_states * design.dim
            qs = []
            if per_sample <= _PSI_BUDGET // 64:
                # policy iteration from the MAP reward's optimal policy; samples sharing a policy share a solve
                solver = _PolicySolver(mdp, design)
                start = value_iteration(mdp, self.map_reward().values).policy.argmax(-1)
                qfeat0 = solver.q_features(start.unsqueeze(0))
                for chunk in torch.split(self.flat(), max(1, _PSI_BUDGET // (4 * per_sample))):
                    b = chunk.shape[0]
                    q, _, _ = solver.solve(chunk, start.expand(b, -1), qfeat0.expand(b, -1, -1))
                    qs.append(q.transpose(1, 2))
            else:
                for chunk in torch.split(self.rewards(), 256):
                    sol = value_iteration(mdp, chunk)
                    assert sol.q_values is not None
                    qs.append(sol.q_values)
            q_all = torch.cat(qs)
            self._cache["q"], self._cache["v"] = q_all, q_all.amax(-1)
        return self._cache["v"], self._cache["q"]

    def q_values(self) -> Tensor:
        """``(M, S, A)`` optimal Q-values under every sample (cached)."""
        return self._optimal()[1]

    def action_probabilities(self) -> Tensor:
        """``(S, A)``: posterior probability that each action is optimal (ties split evenly)."""
        _, q = self._optimal()
        best = q.amax(-1, keepdim=True)
        optimal = (q >= best - 1e-9 * (1 + best.abs())).to(q.dtype)
        return (optimal / optimal.sum(-1, keepdim=True)).mean(0)

    def action_entropy(self, bins: int = 10) -> Tensor:
        """Per-state mean entropy of the posterior action distribution (Lopes et al. 2009), ``(S,)``.

        For each ``(s, a)`` the values ``pi_R(a | s)`` of the Boltzmann policies of the samples are
        binned into ``bins`` equal bins of ``[0, 1]``; ``H(s) = (1/A) sum_a entropy(histogram)``, in
        nats. States where the samples disagree about what to do score high.
        """
        _, q = self._optimal()
        pi = torch.softmax(self.beta * q, dim=-1)  # (M, S, A)
        index = (pi * bins).long().clamp_(max=bins - 1)
        hist = torch.zeros(bins, *pi.shape[1:], dtype=pi.dtype, device=pi.device)
        hist.scatter_add_(0, index, torch.ones_like(pi))
        p = hist / pi.shape[0]
        ent = -(p * torch.log(p.clamp_min(1e-300))).sum(0)  # (S, A)
        return ent.mean(-1)

    # ---------------------------------------------------------------- values of policies under the posterior
    def policy_values(self, policy: Any, *, initial: Any = "mdp", per_state: bool = False) -> Tensor:
        """``V^pi_R(rho)`` under every sample ``R``: ``(M,)`` (``(M, S)`` with ``per_state``)."""
        tables = self.rewards()
        values = torch.cat([policy_evaluation(self.mdp, chunk, policy).values for chunk in torch.split(tables, 1024)])
        return values if per_state else values @ _start(self.mdp, initial)

    def optimal_values(self, *, initial: Any = "mdp", per_state: bool = False) -> Tensor:
        """``V*_R(rho)`` under every sample: ``(M,)`` (``(M, S)`` with ``per_state``)."""
        v, _ = self._optimal()
        return v if per_state else v @ _start(self.mdp, initial)

    def value_interval(self, policy: Any, level: float = 0.95, *, initial: Any = "mdp") -> tuple[float, float]:
        """Equal-tailed credible interval of ``V^pi_R(rho)``."""
        values = self.policy_values(policy, initial=initial)
        lo = torch.quantile(values, (1 - level) / 2)
        hi = torch.quantile(values, (1 + level) / 2)
        return float(lo), float(hi)

    def evd(self, policy: Any, *, initial: Any = "mdp", per_state: bool = False) -> Tensor:
        """Expected value difference ``V*_R - V^pi_R`` under every sample, ``(M,)`` (``(M, S)`` per state)."""
        return (
            self.optimal_values(initial=initial, per_state=per_state) - self.policy_values(policy, initial=initial, per_state=per_state)
        ).clamp_min(0.0)

    def evd_var(self, policy: Any, alpha: float = 0.95, *, initial: Any = "mdp") -> float:
        """The alpha-Value-at-Risk of the policy's EVD: its ``alpha`` posterior quantile (Brown & Niekum 2018)."""
        if not 0 < alpha < 1:
            raise ValidationError("alpha", f"is {alpha}", "use a level in (0, 1), e.g. 0.95")
        return float(torch.quantile(self.evd(policy, initial=initial), alpha))

    # ---------------------------------------------------------------- files
    def save(self, directory: str | Path) -> Path:
        """Write ``posterior.safetensors`` (samples, log-likelihoods, log-priors, acceptance, step sizes)
        and ``posterior.json`` (reward kind, beta, shapes) into ``directory``, as one unit; NaN or infinite
        samples raise :class:`ValidationError` (log-priors may be ``-inf``)."""
        names = ("samples", "log_likelihood", "log_prior", "acceptance", "step_size")
        meta = {
            "format": _FORMAT,
            "version": 1,
            "kind": self.kind,
            "beta": self.beta,
            "shape": list(self.samples.shape),
            "n_states": self.mdp.n_states,
        }
        return save_tensors(directory, "posterior", {name: getattr(self, name) for name in names}, meta, finite=("samples",))

    @classmethod
    def load(cls, directory: str | Path, mdp: TabularMDP) -> RewardPosterior:
        """Read what :meth:`save` wrote, for the same ``mdp``; a missing, corrupt or foreign file raises :class:`DataFileError`."""
        names = ("samples", "log_likelihood", "log_prior", "acceptance", "step_size")
        meta, tensors = read_tensors(directory, "posterior", _FORMAT, "RewardPosterior", schema=_PosteriorMeta, required=names)
        if meta["n_states"] != mdp.n_states or list(tensors["samples"].shape) != meta["shape"]:
            raise DataFileError(
                f"{directory}: saved for {meta.get('n_states')} states, shape {meta.get('shape')}. Fix: pass the MDP it was sampled in"
            )
        t = {k: v.to(mdp.device) for k, v in tensors.items()}
        return cls(t["samples"], t["log_likelihood"], t["log_prior"], t["acceptance"], t["step_size"], mdp, meta["kind"], meta["beta"])

    # ---------------------------------------------------------------- diagnostics
    def diagnostics(self) -> dict[str, np.ndarray | float]:
        """R-hat and bulk effective sample size per parameter (ArviZ), and the mean acceptance rate."""
        rhat, ess = chain_diagnostics(self.samples)
        return {"rhat": rhat, "ess": ess, "acceptance": float(self.acceptance.mean())}

    def mixing(self, min_ess: float = MIN_BULK_ESS) -> str | None:
        """Why the chains cannot be trusted yet (max R-hat above 1.01, or bulk ESS below ``min_ess``), or None."""
        diag = self.diagnostics()
        return mixing_problem(diag["rhat"], diag["ess"], min_ess=min_ess)

    def trace_plot(self, dims: Iterable[int] | None = None, *, max_dims: int = 6) -> Any:
        """A matplotlib figure: the trace of each chain for the chosen parameters (the first few by default)."""
        import matplotlib.pyplot as plt

        chosen = list(dims) if dims is not None else list(range(min(max_dims, self.samples.shape[-1])))
        fig, axes = plt.subplots(len(chosen) + 1, 1, figsize=(8, 1.6 * (len(chosen) + 1)), sharex=True, squeeze=False)
        x = self.samples.detach().cpu().numpy()
        for row, d in enumerate(chosen):
            for c in range(self.n_chains):
                axes[row, 0].plot(x[c, :, d], lw=0.6)
            axes[row, 0].set_ylabel(f"theta[{d}]")
        lp = self.log_posterior.detach().cpu().numpy()
        for c in range(self.n_chains):
            axes[-1, 0].plot(lp[c], lw=0.6)
        axes[-1, 0].set_ylabel("log posterior")
        axes[-1, 0].set_xlabel("kept sample")
        fig.tight_layout()
        return fig


# ============================================================================ the sampler
def _initial_theta(config: BayesianIRLConfig, b: int, d: int, gen: torch.Generator, dtype: torch.dtype, device: Any) -> Tensor:
    """Over-dispersed starting points drawn from the prior (on the lattice for PolicyWalk)."""
    scale = config.prior_scale
    if config.prior == "uniform":
        theta = (torch.rand(b, d, generator=gen, dtype=dtype) * 2 - 1) * scale
    elif config.prior == "laplace":
        u = torch.rand(b, d, generator=gen, dtype=dtype) - 0.5
        theta = -scale * torch.sign(u) * torch.log1p(-2 * u.abs())
    else:
        theta = torch.randn(b, d, generator=gen, dtype=dtype) * scale
    if config.prior == "sphere":
        theta = theta / theta.norm(dim=-1, keepdim=True)
    if config.sampler == "policywalk":
        delta = config.step_size
        theta = torch.round(theta / delta) * delta
        if config.prior == "uniform":
            limit = math.floor(scale / delta + 1e-9) * delta
            theta = theta.clamp(-limit, limit)
    return theta.to(device)


def sample_posterior(
    mdp: TabularMDP,
    counts: Any,
    config: BayesianIRLConfig,
    *,
    rng: np.random.Generator,
    callback: Callback | None = None,
    history: History | None = None,
) -> RewardPosterior:
    """Run ``config.chains`` MCMC chains over ``P(theta | D) ∝ P(D | theta) P(theta)``.

    Args:
        mdp: the MDP (its reward is ignored).
        counts: decision counts ``(S, A)`` (``(H, S, A)`` finite horizon) from :func:`decision_counts`,
            or one table per chain ``(C, S, A)`` (chains with different data, e.g. a benchmark sweep).
        config: the sampler's settings.
        rng: seeds the torch generator of proposals and acceptances.
        callback: ``callback(step, metrics) -> stop?`` every ``config.report_every`` steps; stopped
            during burn-in, the chains' current states are returned as one sample each.

    Returns:
        :class:`RewardPosterior` with ``(C, samples // thin, D)`` kept samples.
    """
    device = torch.device(config.device)
    mdp = mdp.to(device)
    design = _design(mdp, config.reward)
    b, d = config.chains, design.dim
    n = torch.as_tensor(counts, dtype=mdp.dtype, device=device)
    core = (mdp.n_states, mdp.n_actions) if mdp.horizon is None else (mdp.horizon, mdp.n_states, mdp.n_actions)
    if n.shape == core:
        n_int = n.unsqueeze(0)
    elif n.shape == (b, *core):
        n_int = n
    else:
        raise ShapeError("counts", f"has shape {tuple(n.shape)}", f"pass {core} or one table per chain ({b}, *{core})")
    if not bool(torch.isfinite(n).all()) or bool((n < 0).any()):
        raise ValidationError("counts", "has negative, NaN or inf entries", "pass non-negative decision counts")
    # internal layout (B, A, S) or (H, B, A, S), matching the solvers' Q
    n_int = n_int.transpose(-1, -2) if mdp.horizon is None else n_int.permute(1, 0, 3, 2)
    # only states with demonstrated decisions enter the likelihood
    visited = (n_int.sum(-2) > 0).flatten(0, -2).any(0).nonzero().squeeze(1)
    n_vis = n_int.index_select(-1, visited)

    soft = config.likelihood == "soft"
    use_policy = config.solver == "policy" or (
        config.solver == "auto" and not soft and mdp.horizon is None and b * mdp.n_actions * mdp.n_states * d <= _PSI_BUDGET
    )
    if use_policy and mdp.horizon is not None:
        raise ConfigError("solver", "is 'policy' on a finite-horizon MDP", "use solver='value_iteration' or 'auto'")
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    target = _BoltzmannTarget(mdp, design, config, n_vis, visited, use_policy)
    chains = metropolis_hastings(
        target,
        _initial_theta(config, b, d, gen, mdp.dtype, device),
        mh_settings(config),
        generator=gen,
        callback=callback,
        history=history,
    )
    return RewardPosterior(
        chains.samples, chains.log_likelihood, chains.log_prior, chains.acceptance, chains.step_size, mdp, config.reward, config.beta
    )


def mh_settings(config: BayesianIRLConfig) -> MHSettings:
    """The shared Metropolis–Hastings loop's settings for a Bayesian IRL config."""
    return MHSettings(
        samples=config.samples,
        burn_in=config.burn_in,
        thin=config.thin,
        step_size=config.step_size,
        proposal="lattice" if config.sampler == "policywalk" else "gaussian",
        adapt=config.adapt,
        target_accept=config.target_accept,
        covariance=config.covariance,
        sphere=config.prior == "sphere",
        report_every=config.report_every,
    )


class _BoltzmannTarget:
    """The Bayesian IRL posterior as a :class:`rewardlab.mcmc.Target`: Boltzmann likelihood of the visited
    states' decisions under exact ``Q*`` (or soft ``Q``), warm-started per chain.

    The state of a chain is its optimal policy and Q-features (policy solver) or its values (value
    iteration). ``select`` writes accepted chains' new Q-features into the current buffer in place:
    it is ``B x A S x D`` large and every rejected chain keeps its rows.
    """

    def __init__(
        self, mdp: TabularMDP, design: _Design, config: BayesianIRLConfig, n_vis: Tensor, visited: Tensor, use_policy: bool
    ) -> None:
        self.mdp, self.design, self.config, self.n_vis, self.visited = mdp, design, config, n_vis, visited
        self.use_policy = use_policy
        if use_policy:
            self.psolver = _PolicySolver(mdp, design)
        else:
            self.vsolver = _ValueIterationSolver(mdp, design, 1.0 / config.beta if config.likelihood == "soft" else None)

    def _log_lik(self, q: Tensor) -> Tensor:
        """Boltzmann log-likelihood from internal Q ``(B, A, S)`` / ``(H, B, A, S)``: (B,)."""
        log_pi = torch.log_softmax(q.index_select(-1, self.visited).mul_(self.config.beta), dim=-2)
        total = self.n_vis * log_pi
        return total.sum((-1, -2)) if self.mdp.horizon is None else total.sum((0, 2, 3))

    def evaluate(self, theta: Tensor, current: Any) -> tuple[Tensor, Tensor, Any]:
        lp = log_prior(theta, self.config.prior, self.config.prior_scale)
        if self.use_policy:
            if current is None:  # the first evaluation: solve from an arbitrary policy
                actions = torch.zeros(theta.shape[0], self.mdp.n_states, dtype=torch.long, device=theta.device)
                qfeat = self.psolver._features(actions)
                q, actions, update = self.psolver.solve(theta, actions, qfeat)
                if update is not None:
                    qfeat[update[0]] = update[1]
                return self._log_lik(q), lp, (actions, qfeat)
            q, act_prop, update = self.psolver.solve(theta, current[0], current[1])
            return self._log_lik(q), lp, (act_prop, update)
        q, values = self.vsolver.solve(theta, current)
        return self._log_lik(q), lp, values

    def select(self, accept: Tensor, proposed: Any, current: Any) -> Any:
        if self.use_policy:
            actions, qfeat = current
            act_prop, update = proposed
            if update is not None:  # accepted chains whose policy changed take the new one
                taken = accept[update[0]]
                if bool(taken.any()):
                    actions = torch.where(accept.unsqueeze(1), act_prop, actions)
                    qfeat[update[0][taken]] = update[1][taken]
            return actions, qfeat
        keep = accept.view(1, -1, 1) if proposed.ndim == 3 else accept.view(-1, 1)
        return torch.where(keep, proposed, current)


# ============================================================================ the learner
@dataclass
class BayesianIRL:
    """Bayesian IRL with the estimator shape of :mod:`rewardlab.learner`.

    ``fit`` returns ``FitResult(reward=MAP or mean reward, policy=its optimal policy,
    posterior=RewardPosterior, history=log posterior / acceptance / step size, info=diagnostics)``;
    ``info["warnings"]`` says when the chains have not mixed (max R-hat above 1.01 or bulk ESS below 400).

    Examples:
        >>> from rewardlab.mdp.worlds import chain
        >>> mdp = chain(3, discount=0.9)
        >>> demos = [Trajectory(np.array([0, 1, 2, 2]), np.array([1, 1, 0]))]  # walk right, then stay
        >>> cfg = BayesianIRLConfig(reward="state", samples=400, burn_in=200, thin=1, chains=2, beta=5.0)
        >>> fit = BayesianIRL(cfg).fit(demos, mdp, rng=np.random.default_rng(0))
        >>> fit.posterior.samples.shape
        torch.Size([2, 400, 3])
        >>> int(fit.reward.values.argmax())  # the state the demonstrator heads for and stays in
        2
    """

    config: BayesianIRLConfig = field(default_factory=BayesianIRLConfig)

    def fit(self, data: Any, env_or_mdp: Any, *, rng: np.random.Generator, callback: Callback | None = None) -> FitResult:
        mdp = env_or_mdp
        if not isinstance(mdp, TabularMDP):
            raise ValidationError("env_or_mdp", f"is a {type(mdp).__name__}", "pass a TabularMDP (Bayesian IRL is tabular)")
        data = validate_dataset([] if data is None else data, mdp, allow_empty=True)
        counts = decision_counts(data, mdp)
        history = History()
        posterior = sample_posterior(mdp, counts, self.config, rng=rng, callback=callback, history=history)
        reward = posterior.map_reward() if self.config.estimate == "map" else posterior.mean_reward()
        values = reward.values.to(mdp.dtype)
        policy = value_iteration(mdp.to(values.device), values).policy
        diag = posterior.diagnostics()
        problem = mixing_problem(diag["rhat"], diag["ess"])
        info: dict[str, Any] = {
            "acceptance": diag["acceptance"],
            "rhat_max": float(np.nanmax(diag["rhat"])) if np.isfinite(diag["rhat"]).any() else float("nan"),
            "ess_min": float(np.nanmin(diag["ess"])) if np.isfinite(diag["ess"]).any() else float("nan"),
            "kept_samples": int(posterior.samples.shape[0] * posterior.samples.shape[1]),
            "demonstrated_decisions": int(counts.sum()),
            "warnings": [] if problem is None else [f"Bayesian IRL: {problem}; {UNMIXED_ADVICE}"],
        }
        return FitResult(reward=reward, policy=policy, posterior=posterior, history=history, info=info)
