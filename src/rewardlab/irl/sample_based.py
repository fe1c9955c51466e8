"""Sample-based MaxEnt IRL: the partition function ``Z`` estimated from sampled trajectories.

MaxEnt IRL models a trajectory ``tau = (s_0, a_0, ..., s_T)`` with features
``f(tau) = sum_t gamma^t phi(s_t)`` (the decision states, as :func:`rewardlab.data.empirical_visitation`
counts them) by

    ``P_theta(tau) = q_U(tau) exp(theta . f(tau)) / Z(theta)``,   ``Z(theta) = sum_tau q_U(tau) exp(theta . f(tau))``,

where ``q_U(tau) = rho_0(s_0) prod_t U(a_t | s_t) p(s_{t+1} | s_t, a_t)`` is the dynamics under the uniform
policy ``U = 1 / A`` (the base distribution of Boularias et al.). The average log-likelihood of
demonstrations ``tau_1..tau_N``, ``L(theta) = theta . f_hat - log Z(theta)`` with ``f_hat`` their mean
features, has the gradient

    ``dL/dtheta = f_hat - E_{P_theta}[f(tau)]``.

When ``Z`` cannot be computed, ``M`` trajectories ``tau_m`` are drawn from a sampling distribution ``pi``
(a background policy, or noisy copies of a demonstration) and ``E_{P_theta}[f]`` is estimated with
self-normalised importance weights

    ``w_m = exp(theta . f_m) q_U(tau_m) / pi(tau_m)  /  sum_m' exp(theta . f_m') q_U(tau_m') / pi(tau_m')``,

    ``dL/dtheta ~= f_hat - sum_m w_m f_m``,   ``log Z ~= log (1/M) sum_m exp(theta . f_m) q_U(tau_m) / pi(tau_m)``.

The dynamics and the start distribution cancel in ``q_U / pi``: only the policies' action probabilities
remain, ``log q_U(tau) - log pi(tau) = sum_t (-log A - log pi_t(a_t | s_t))`` (0 for a uniform background).
This is relative-entropy IRL's importance-sampled subgradient of its dual (Boularias, Kober, Peters 2011;
their ``Q(tau) = D(tau) U(tau)``); its L1 term ``-epsilon ||theta||_1`` is the learners' ``l1``.

**The exact counterpart.** On a tabular world with a finite horizon, deterministic dynamics (or stochastic
dynamics with ``causal=False``) and trajectories that all last the horizon, ``P_theta`` is exactly the
trajectory distribution of :func:`rewardlab.mdp.maxent_objective`'s soft-optimal policy from a start state
(``U``'s ``A^-T`` is then the same for every trajectory), so with samples grouped by start state the
estimate converges to ``Phi^T`` times its gradient, with an error that shrinks like ``1/sqrt(M)``
(``tests/test_sample_based.py``). Where episodes end early at terminal states, ``q_U``'s ``A^-T`` favours
short trajectories, unlike the library's soft value iteration, which counts action sequences.

**Groups.** With ``groups`` each sample belongs to one of ``G`` partition functions ``Z_g`` (one per start
state, or per demonstration); weights are normalised within each group and the groups' estimates are
averaged with ``group_weights``:
``dL/dtheta ~= f_hat - sum_g c_g sum_{m in g} w_m f_m``, ``L ~= theta . f_hat - sum_g c_g log Z_g``.

Two learners, one per way of drawing the samples:

* :class:`RelativeEntropyIRL` (``"relent"``): background trajectories from a uniform random policy or a
  given one (Boularias et al. 2011), drawn once before the fit.
* :class:`PerturbationIRL` (``"perturb"``): ``K`` noisy copies of each demonstration, one ``Z_i`` per
  demonstration (Kalakrishnan et al. 2013); with ``correction="importance"`` the copies are importance
  weighted by ``q_U / q_noise`` so the estimate is consistent for the MaxEnt gradient; with ``"none"`` the
  copies are weighted by ``exp(theta . f)`` alone, the paper's uncorrected local approximation of ``Z`` (here
  with the demonstration itself among the samples, so that each demonstration's term is a probability).

References:
    Boularias, Kober, Peters, "Relative Entropy Inverse Reinforcement Learning", AISTATS 2011.
    Kalakrishnan, Pastor, Righetti, Schaal, "Learning Objective Functions for Manipulation", ICRA 2013.
    Ziebart, Maas, Bagnell, Dey, "Maximum Entropy Inverse Reinforcement Learning", AAAI 2008.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from rewardlab._optim import adam_ascent_step
from rewardlab.data import Trajectory, TrajectoryDataset, sample_tabular, start_distribution, validate_dataset
from rewardlab.data.rollouts import _draw
from rewardlab.data.validate import as_numpy, validate_policy
from rewardlab.errors import ConfigError, ShapeError, ValidationError
from rewardlab.irl.maxent import model_mdp
from rewardlab.learner import Callback, FitResult, History, ensure_finite, run_callback
from rewardlab.mdp import TabularMDP
from rewardlab.rewards import TabularReward

__all__ = [
    "PerturbationConfig",
    "PerturbationIRL",
    "RelativeEntropyConfig",
    "RelativeEntropyIRL",
    "SampleBasedObjective",
    "importance_weights",
    "log_importance_ratio",
    "perturbed_copies",
    "sample_based_objective",
    "trajectory_features",
]


# ----------------------------------------------------------------------------- pure functions
def _flatten(trajectories: Iterable[Trajectory], n_states: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """``(states, actions, times, trajectory index)`` of every decision, and the number of trajectories;
    states checked to lie in ``[0, n_states)``."""
    items = list(trajectories)
    if not items:
        raise ValidationError("trajectories", "is empty", "pass at least one trajectory")
    states, actions, times = TrajectoryDataset(items).decisions()
    lengths = np.array([len(tr) for tr in items])
    every = np.concatenate([np.asarray(tr.obs).reshape(-1) for tr in items])
    if not np.issubdtype(every.dtype, np.integer) or every.min() < 0 or every.max() >= n_states:
        raise ValidationError("trajectories", f"hold state indices outside [0, {n_states})", "pass trajectories of this world")
    return states, actions, times, np.repeat(np.arange(len(items)), lengths), len(items)


def trajectory_features(trajectories: Iterable[Trajectory], features: Any, *, discount: float = 1.0) -> Tensor:
    """Discounted feature counts of each tabular trajectory, ``f(tau) = sum_t gamma^t phi(s_t)``.

    The decision states ``obs[:-1]`` are counted, as in :func:`rewardlab.data.feature_counts` (which is the
    mean of these rows).

    Args:
        trajectories: ``M`` trajectories of state indices.
        features: ``(S, F)`` state features (``mdp.features``; the identity for a reward per state).
        discount: ``gamma``.

    Returns:
        ``(M, F)`` tensor with ``features``' dtype and device.

    Examples:
        >>> tr = Trajectory(np.array([0, 1, 1]), np.array([1, 0]))
        >>> trajectory_features([tr], torch.tensor([[1.0, 0.0], [0.0, 2.0]]), discount=0.5)
        tensor([[1., 1.]])
    """
    phi = torch.as_tensor(features)
    if phi.ndim != 2:
        raise ShapeError("features", f"has shape {tuple(phi.shape)}", "pass (S, F) state features")
    states, _, times, index, m = _flatten(trajectories, phi.shape[0])
    weights = torch.as_tensor(discount ** times.astype(np.float64), dtype=phi.dtype, device=phi.device)
    rows = phi[torch.as_tensor(states, device=phi.device)] * weights[:, None]
    out = torch.zeros(m, phi.shape[1], dtype=phi.dtype, device=phi.device)
    return out.index_add_(0, torch.as_tensor(index, device=phi.device), rows)


def log_importance_ratio(
    trajectories: Iterable[Trajectory], n_actions: int, policy: Any = None, *, dtype: torch.dtype = torch.float64
) -> Tensor:
    """``log q_U(tau) - log pi(tau) = sum_t (-log A - log pi_t(a_t | s_t))`` of each trajectory: the
    importance ratio of the uniform base distribution to the background policy ``pi`` that drew it
    (dynamics and start distribution cancel).

    Args:
        trajectories: ``M`` tabular trajectories drawn by ``policy``.
        n_actions: ``A``.
        policy: ``(S, A)`` or time-indexed ``(H, S, A)``; None: the uniform policy (every ratio is 0).
        dtype: of the result.

    Returns:
        ``(M,)``; ``+inf`` where ``pi`` gives a taken action probability 0 (it did not draw that trajectory).

    Examples:
        >>> tr = Trajectory(np.array([0, 1, 1]), np.array([1, 0]))
        >>> pi = torch.tensor([[0.5, 0.5], [0.25, 0.75]])
        >>> log_importance_ratio([tr], 2, pi)  # log((1/2 * 1/2) / (1/2 * 1/4)) = log 2
        tensor([0.6931], dtype=torch.float64)
    """
    items = list(trajectories)
    if policy is None:
        return torch.zeros(len(items), dtype=dtype)
    pi = torch.as_tensor(policy, dtype=dtype).cpu()
    if pi.ndim not in (2, 3) or pi.shape[-1] != n_actions:
        raise ShapeError("policy", f"has shape {tuple(pi.shape)}", f"pass (S, {n_actions}) or (H, S, {n_actions})")
    states, actions, times, index, m = _flatten(items, pi.shape[-2])
    if pi.ndim == 3 and len(times) and times.max() >= pi.shape[0]:
        raise ValidationError("trajectories", f"last longer than the policy's {pi.shape[0]} time steps", "pass a policy for every step")
    if len(actions) and (actions.min() < 0 or actions.max() >= n_actions):
        raise ValidationError("trajectories", f"hold action indices outside [0, {n_actions})", "pass trajectories of this world")
    s, a = torch.as_tensor(states), torch.as_tensor(actions)
    p = pi[torch.as_tensor(times), s, a] if pi.ndim == 3 else pi[s, a]
    terms = -math.log(n_actions) - torch.log(p)
    return torch.zeros(m, dtype=dtype).index_add_(0, torch.as_tensor(index), terms)


def _groups(m: int, groups: Any, group_weights: Any, like: Tensor) -> tuple[Tensor, Tensor]:
    """Group index ``(M,)`` and weights ``(G,)``, checked; one group of weight 1 when ``groups`` is None."""
    if groups is None:
        if group_weights is not None:
            raise ValidationError("group_weights", "is given without groups", "pass groups too, or neither")
        return torch.zeros(m, dtype=torch.int64, device=like.device), torch.ones(1, dtype=like.dtype, device=like.device)
    g = torch.as_tensor(groups, device=like.device)
    if g.shape != (m,) or g.is_floating_point():
        raise ShapeError("groups", f"has shape {tuple(g.shape)} and dtype {g.dtype}", f"pass ({m},) integer group indices")
    g = g.long()
    if m and int(g.min()) < 0:
        raise ValidationError("groups", "holds negative indices", "number the groups 0..G-1")
    n_groups = int(g.max()) + 1 if m else 0
    counts = torch.bincount(g, minlength=n_groups)
    if bool((counts == 0).any()):
        raise ValidationError("groups", f"group {int((counts == 0).nonzero()[0])} has no samples", "give every group at least one sample")
    if group_weights is None:
        c = torch.full((n_groups,), 1.0 / n_groups, dtype=like.dtype, device=like.device)
    else:
        c = torch.as_tensor(group_weights, dtype=like.dtype, device=like.device)
        if c.shape != (n_groups,):
            raise ShapeError("group_weights", f"has shape {tuple(c.shape)}", f"pass one weight per group: ({n_groups},)")
        if not bool(torch.isfinite(c).all()) or bool((c < 0).any()) or abs(float(c.sum()) - 1) > 1e-9:
            raise ValidationError("group_weights", "is not a probability vector", "pass non-negative weights summing to 1")
    return g, c


def _log_weights(theta: Tensor, features: Tensor, log_ratio: Tensor, g: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Normalised log weights ``(M,)``, ``log Z_g`` estimates ``(G,)`` and counts ``(G,)``."""
    logits = features @ theta + log_ratio
    n_groups = int(g.max()) + 1
    top = torch.full((n_groups,), -math.inf, dtype=logits.dtype, device=logits.device).scatter_reduce(0, g, logits, "amax")
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    sums = torch.zeros_like(top).index_add_(0, g, torch.exp(logits - top[g]))
    log_sums = top + torch.log(sums)
    counts = torch.bincount(g, minlength=n_groups).to(logits.dtype)
    return logits - log_sums[g], log_sums - torch.log(counts), counts


def _check_samples(theta: Tensor, features: Tensor, log_ratio: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    th = torch.as_tensor(theta)
    f = torch.as_tensor(features, dtype=th.dtype, device=th.device)
    lr = torch.as_tensor(log_ratio, dtype=th.dtype, device=th.device)
    if th.ndim != 1:
        raise ShapeError("theta", f"has shape {tuple(th.shape)}", "pass (F,) weights")
    if f.ndim != 2 or f.shape[1] != th.shape[0] or f.shape[0] == 0:
        raise ShapeError("features", f"has shape {tuple(f.shape)}", f"pass (M, {th.shape[0]}) with M >= 1")
    if lr.shape != (f.shape[0],):
        raise ShapeError("log_ratio", f"has shape {tuple(lr.shape)}", f"pass one log ratio per sample: ({f.shape[0]},)")
    if not bool(torch.isfinite(f).all()) or bool(torch.isnan(lr).any()) or bool((lr == math.inf).any()):
        raise ValidationError(
            "features", "or log_ratio hold NaN or +inf", "pass finite features and the log ratios of trajectories the sampler drew"
        )
    return th, f, lr


def importance_weights(theta: Any, features: Any, log_ratio: Any, *, groups: Any = None) -> Tensor:
    """Self-normalised importance weights of sampled trajectories under the MaxEnt model ``theta``:

    ``w_m = exp(theta . f_m + l_m) / sum_{m' in g(m)} exp(theta . f_m' + l_m')``, with ``l_m = log q_U(tau_m) -
    log pi(tau_m)`` (:func:`log_importance_ratio`), normalised within each group (all samples when
    ``groups`` is None). Computed in log space (no overflow at ``|theta . f|`` of 10^4).

    Reference: Boularias, Kober, Peters, AISTATS 2011 (the importance-sampled subgradient).

    Args:
        theta: ``(F,)`` reward weights.
        features: ``(M, F)`` trajectory features (:func:`trajectory_features`).
        log_ratio: ``(M,)`` log importance ratios (``-inf`` drops a sample).
        groups: optional ``(M,)`` group indices ``0..G-1``.

    Returns:
        ``(M,)`` weights summing to 1 in each group.

    Examples:
        >>> w = importance_weights(torch.tensor([1.0]), torch.tensor([[0.0], [1.0], [2.0]]), torch.zeros(3))
        >>> torch.allclose(w, torch.tensor([1.0, math.e, math.e**2]) / (1 + math.e + math.e**2))
        True
    """
    th, f, lr = _check_samples(torch.as_tensor(theta), features, log_ratio)
    g, _ = _groups(f.shape[0], groups, None, f)
    log_w, _, _ = _log_weights(th, f, lr, g)
    return torch.exp(log_w)


@dataclass(frozen=True)
class SampleBasedObjective:
    """The sample-based MaxEnt objective and what it is made of.

    Attributes:
        value: ``()`` estimate of the average log-likelihood ``theta . f_hat - sum_g c_g log Z_g``
            (``Z`` relative to the uniform base distribution ``q_U``).
        gradient: ``(F,)`` ``f_hat - sum_g c_g sum_{m in g} w_m f_m``.
        weights: ``(M,)`` self-normalised importance weights (sum 1 in each group).
        log_partition: ``(G,)`` ``log Z_g`` estimates, ``log (1/M_g) sum_{m in g} exp(theta . f_m + l_m)``.
        ess: ``(G,)`` effective sample size ``1 / sum_{m in g} w_m^2`` of each group (1 when one sample
            carries all the weight: the estimate is then unreliable).
    """

    value: Tensor
    gradient: Tensor
    weights: Tensor
    log_partition: Tensor
    ess: Tensor


def sample_based_objective(
    theta: Any,
    demo_features: Any,
    sample_features: Any,
    log_ratio: Any,
    *,
    groups: Any = None,
    group_weights: Any = None,
) -> SampleBasedObjective:
    """MaxEnt IRL's log-likelihood and gradient with ``Z`` estimated by importance sampling.

    ``L ~= theta . f_hat - sum_g c_g log Z_g``, ``dL/dtheta ~= f_hat - sum_g c_g sum_{m in g} w_m f_m``, with
    ``w`` from :func:`importance_weights` (see the module docstring for the model and its references).

    Args:
        theta: ``(F,)`` reward weights.
        demo_features: ``(N, F)`` the demonstrations' features ``f(tau_i)``.
        sample_features: ``(M, F)`` the sampled trajectories' features.
        log_ratio: ``(M,)`` ``log q_U(tau_m) - log pi(tau_m)`` (0 for uniformly random samples).
        groups: optional ``(M,)`` indices ``0..G-1``: one partition function per group (per start state
            for relative-entropy IRL from the demonstrations' starts, per demonstration for perturbations).
        group_weights: ``(G,)`` ``c_g`` summing to 1; default uniform (each group counts equally).

    Examples:
        >>> obj = sample_based_objective(torch.zeros(1), torch.tensor([[2.0]]), torch.tensor([[0.0], [2.0]]), torch.zeros(2))
        >>> obj.gradient  # the demonstration's 2 minus the samples' average 1 under a flat reward
        tensor([1.])
        >>> obj.ess
        tensor([2.])
    """
    th, f, lr = _check_samples(torch.as_tensor(theta), sample_features, log_ratio)
    fd = torch.as_tensor(demo_features, dtype=th.dtype, device=th.device)
    if fd.ndim != 2 or fd.shape[1] != th.shape[0] or fd.shape[0] == 0:
        raise ShapeError("demo_features", f"has shape {tuple(fd.shape)}", f"pass (N, {th.shape[0]}) with N >= 1")
    g, c = _groups(f.shape[0], groups, group_weights, f)
    log_w, log_z, _ = _log_weights(th, f, lr, g)
    w = torch.exp(log_w)
    f_hat = fd.mean(0)
    model = (c[g] * w) @ f
    ess = 1.0 / torch.zeros_like(log_z).index_add_(0, g, w * w)
    return SampleBasedObjective(value=f_hat @ th - (c * log_z).sum(), gradient=f_hat - model, weights=w, log_partition=log_z, ess=ess)


def perturbed_copies(
    mdp: TabularMDP, demos: Sequence[Trajectory], copies: int, *, noise: float, rng: np.random.Generator
) -> tuple[TrajectoryDataset, Tensor, Tensor]:
    """``copies`` noisy replays of each demonstration's action sequence (Kalakrishnan et al. 2013's samples
    around a demonstration, for a tabular world).

    Each copy starts where its demonstration started and, at every step ``t``, takes the demonstrated
    action ``a_t`` with probability ``1 - noise`` and a uniformly random one otherwise (open loop: the
    action sequence is perturbed, not a policy); successors follow the MDP's dynamics; a copy stops after
    the demonstration's length or after acting in a terminal state. The copy's probability under this
    proposal, relative to the dynamics, is ``q(tau) = prod_t ((1 - noise) [a_t = a_t^demo] + noise / A)``.

    Args:
        mdp: the world.
        demos: ``N`` tabular demonstrations.
        copies: ``K`` copies per demonstration.
        noise: probability ``epsilon`` in ``[0, 1]`` of replacing an action.
        rng: draws the actions and successors.

    Returns:
        ``(copies, log_ratio, groups)``: ``N * K`` trajectories (demonstration ``i``'s are ``i*K .. i*K+K-1``),
        ``log q_U - log q`` ``(N * K,)`` and the demonstration index of each copy ``(N * K,)``.

    Examples:
        >>> from rewardlab.mdp.worlds import chain
        >>> demo = Trajectory(np.array([0, 1, 2]), np.array([1, 1]))
        >>> same, log_ratio, groups = perturbed_copies(chain(3, horizon=2), [demo], 2, noise=0.0, rng=np.random.default_rng(0))
        >>> same[1].obs.tolist(), groups.tolist(), torch.allclose(log_ratio, torch.full((2,), 2 * math.log(0.5), dtype=torch.float64))
        ([0, 1, 2], [0, 0], True)
    """
    if copies < 1:
        raise ValidationError("copies", f"is {copies}", "draw at least one copy per demonstration")
    if not 0.0 <= noise <= 1.0:
        raise ValidationError("noise", f"is {noise}", "use a probability in [0, 1]")
    items = list(validate_dataset(demos, mdp, name="demos"))
    n_a = mdp.n_actions
    lengths = np.repeat([len(tr) for tr in items], copies)
    steps = int(lengths.max())
    planned = np.zeros((len(items), max(steps, 1)), dtype=np.int64)
    for i, tr in enumerate(items):
        planned[i, : len(tr)] = tr.acts
    planned = np.repeat(planned, copies, axis=0)
    n = len(lengths)
    succ, prob = as_numpy(mdp.successors), as_numpy(mdp.probabilities).astype(float)
    terminal = as_numpy(mdp.terminal_mask())
    states = np.empty((n, steps + 1), dtype=np.int64)
    actions = np.zeros((n, max(steps, 1)), dtype=np.int64)
    states[:, 0] = np.repeat([int(tr.obs[0]) for tr in items], copies)
    log_q = np.zeros(n)
    alive = lengths > 0
    ends = lengths.copy()
    for t in range(steps):
        s = states[:, t]
        replace = rng.random(n) < noise
        a = np.where(replace, rng.integers(n_a, size=n), planned[:, t])
        actions[:, t] = a
        states[:, t + 1] = succ[s, a, _draw(prob[s, a], rng)]
        p = (1 - noise) * (a == planned[:, t]) + noise / n_a
        log_q += np.where(alive, np.log(p), 0.0)
        stop = alive & (terminal[s] | (t + 1 >= lengths))
        ends[stop & terminal[s]] = t + 1
        alive &= ~stop
    out = [
        Trajectory(
            states[i, : ends[i] + 1].copy(), actions[i, : ends[i]].copy(), terminal=bool(ends[i] and terminal[states[i, ends[i] - 1]])
        )
        for i in range(n)
    ]
    log_ratio = torch.as_tensor(-ends * math.log(n_a) - log_q, dtype=mdp.dtype)
    return TrajectoryDataset(out), log_ratio, torch.as_tensor(np.repeat(np.arange(len(items)), copies))


# ----------------------------------------------------------------------------- learners
Optimizer = Literal["adam", "gd"]


def _check_common(cfg: Any) -> None:
    """The checks shared by both configs (reward kind, optimiser, step size, priors, budget)."""
    if cfg.reward not in ("linear", "state"):
        raise ConfigError("reward", f"is {cfg.reward!r}", "choose 'linear' or 'state'")
    if cfg.optimizer not in ("adam", "gd"):
        raise ConfigError("optimizer", f"is {cfg.optimizer!r}", "choose 'adam' or 'gd'")
    if not 0 < cfg.lr < math.inf:
        raise ConfigError("lr", f"is {cfg.lr}", "use a positive finite step size")
    for name in ("l1", "l2", "tol"):
        if not 0 <= getattr(cfg, name) < math.inf:
            raise ConfigError(name, f"is {getattr(cfg, name)}", "use a non-negative finite number")
    if cfg.iterations < 1:
        raise ConfigError("iterations", f"is {cfg.iterations}", "use at least 1")


@dataclass(frozen=True)
class RelativeEntropyConfig:
    """Hyperparameters of relative-entropy IRL.

    Attributes:
        reward: ``"linear"`` in the MDP's state features, or ``"state"`` (one weight per state).
        samples: background trajectories drawn once before the fit (``M``).
        start: ``"demos"``: the background starts from the demonstrations' start states, in proportion to
            them (at least one each), with one ``Z`` per start state (the likelihood of
            :func:`rewardlab.mdp.maxent_objective` with ``demo_initial`` their start distribution);
            ``"mdp"``: from ``mdp.initial`` with one ``Z`` for all, as Boularias et al. publish it.
        optimizer: ``"adam"`` or ``"gd"`` (plain ascent) on the fixed samples' objective.
        lr: step size.
        iterations: maximum number of gradient steps.
        l1: ``epsilon`` of the paper's ``-epsilon ||theta||_1`` (a proximal step).
        l2: Gaussian prior ``-l2/2 ||theta||^2``.
        tol: stop when the largest entry of the (penalised) gradient falls below it.
    """

    reward: Literal["linear", "state"] = "linear"
    samples: int = 2000
    start: Literal["demos", "mdp"] = "demos"
    optimizer: Optimizer = "adam"
    lr: float = 0.05
    iterations: int = 500
    l1: float = 0.0
    l2: float = 0.0
    tol: float = 1e-6

    def __post_init__(self) -> None:
        _check_common(self)
        if self.samples < 1:
            raise ConfigError("samples", f"is {self.samples}", "draw at least one background trajectory")
        if self.start not in ("demos", "mdp"):
            raise ConfigError("start", f"is {self.start!r}", "choose 'demos' or 'mdp'")


@dataclass(frozen=True)
class PerturbationConfig:
    """Hyperparameters of IRL with a noisy-perturbation partition function (Kalakrishnan et al. 2013).

    Attributes:
        reward: ``"linear"`` in the MDP's state features, or ``"state"``.
        copies: perturbed copies ``K`` of each demonstration (:func:`perturbed_copies`).
        noise: probability of replacing each demonstrated action by a uniformly random one.
        correction: ``"importance"``: copies weighted by ``q_U / q_noise`` (consistent for the MaxEnt
            gradient as ``K`` grows); ``"none"``: the demonstration and its copies weighted by
            ``exp(theta . f)`` only, the uncorrected local approximation (biased: ``Z_i`` only sees the
            neighbourhood the noise reaches).
        optimizer, lr, iterations, l1, l2, tol: as in :class:`RelativeEntropyConfig`.
    """

    reward: Literal["linear", "state"] = "linear"
    copies: int = 50
    noise: float = 0.3
    correction: Literal["importance", "none"] = "importance"
    optimizer: Optimizer = "adam"
    lr: float = 0.05
    iterations: int = 500
    l1: float = 0.0
    l2: float = 0.0
    tol: float = 1e-6

    def __post_init__(self) -> None:
        _check_common(self)
        if self.copies < 1:
            raise ConfigError("copies", f"is {self.copies}", "draw at least one copy per demonstration")
        if not 0 < self.noise <= 1:
            raise ConfigError("noise", f"is {self.noise}", "use a probability in (0, 1]")
        if self.correction not in ("importance", "none"):
            raise ConfigError("correction", f"is {self.correction!r}", "choose 'importance' or 'none'")


def _reward_features(mdp: TabularMDP, reward: str) -> Tensor:
    if reward == "state":
        return torch.eye(mdp.n_states, dtype=mdp.dtype, device=mdp.device)
    if mdp.features is None:
        raise ValidationError("mdp.features", "is None but reward='linear'", "build the MDP with state features or use reward='state'")
    return mdp.features


def _ascend(
    cfg: Any,
    name: str,
    demo_features: Tensor,
    sample_features: Tensor,
    log_ratio: Tensor,
    groups: Tensor | None,
    group_weights: Tensor | None,
    callback: Callback | None,
) -> tuple[Tensor, History, bool, int]:
    """Gradient ascent (Adam or plain) on the fixed samples' objective with the priors; returns
    ``(theta, history, converged, steps)``."""
    theta = torch.zeros(demo_features.shape[1], dtype=demo_features.dtype, device=demo_features.device)
    moments = (torch.zeros_like(theta), torch.zeros_like(theta))
    history = History()
    fix = f"lower lr (now {cfg.lr:g}) or add an l2 prior"
    converged, steps = False, 0
    for step in range(cfg.iterations):
        obj = sample_based_objective(theta, demo_features, sample_features, log_ratio, groups=groups, group_weights=group_weights)
        value = float(obj.value) - 0.5 * cfg.l2 * float(theta @ theta) - cfg.l1 * float(theta.abs().sum())
        ensure_finite(value, f"{name} objective", step=step, fix=fix)
        grad = obj.gradient - cfg.l2 * theta
        grad_max = float(grad.abs().max())
        metrics = {"objective": value, "grad_max": grad_max, "ess_min": float(obj.ess.min())}
        history.log(step, **metrics)
        steps = step + 1
        if grad_max < cfg.tol:
            converged = True
        if run_callback(callback, step, metrics) or converged:
            break
        if cfg.optimizer == "adam":
            theta, moments = adam_ascent_step(theta, grad, moments, step + 1, cfg.lr)
        else:
            theta = theta + cfg.lr * grad
        if cfg.l1 > 0:  # proximal step of the L1 term: soft-thresholding
            theta = torch.sign(theta) * torch.clamp(theta.abs() - cfg.lr * cfg.l1, min=0.0)
    ensure_finite(theta, f"{name} reward weights", step="the end", fix=fix)
    return theta, history, converged, steps


def _result(
    mdp: TabularMDP, cfg: Any, features: Tensor, theta: Tensor, history: History, final: SampleBasedObjective, info: dict[str, Any]
) -> FitResult:
    """The learned reward and what the fit reports: ``info`` plus the number of partition functions and
    the smallest and mean effective sample size of their estimates at the returned weights."""
    values = (features @ theta).detach().clone()
    reward = TabularReward(values, theta.clone() if cfg.reward == "linear" else None)
    ess = {"partition_functions": len(final.ess), "ess_min": float(final.ess.min()), "ess_mean": float(final.ess.mean())}
    return FitResult(reward=reward, policy=None, history=history, info={**info, **ess, "config": cfg})


class RelativeEntropyIRL:
    """Relative-entropy IRL (Boularias, Kober, Peters 2011) on a tabular world: MaxEnt IRL with ``Z``
    importance-sampled from background trajectories of a uniform random policy, or of a given one
    (``fit(..., background=policy)``), drawn once; then gradient ascent on the sampled objective
    (:func:`sample_based_objective`). No MDP is solved.

    A discounted world is modelled over the demonstrations' length, with discounted features (as
    :func:`rewardlab.irl.maxent.model_mdp`).

    Examples:
        >>> from rewardlab.irl.experts import expert_demonstrations
        >>> from rewardlab.mdp.worlds import navigation_gridworld
        >>> world = navigation_gridworld("tiny")
        >>> demos, _ = expert_demonstrations(world, 20, rng=np.random.default_rng(0))
        >>> result = RelativeEntropyIRL(RelativeEntropyConfig(samples=500)).fit(demos, world.mdp, rng=np.random.default_rng(0))
        >>> world.feature_names[int(result.reward.weights.argmax())]
        'goal'
    """

    def __init__(self, config: RelativeEntropyConfig | None = None) -> None:
        self.config = config or RelativeEntropyConfig()

    def fit(
        self,
        data: TrajectoryDataset,
        env_or_mdp: TabularMDP,
        *,
        rng: np.random.Generator,
        callback: Callback | None = None,
        background: Any = None,
    ) -> FitResult:
        """Learn a reward from tabular demonstrations ``data`` on ``env_or_mdp``.

        Args:
            background: the background policy ``(S, A)`` or ``(H, S, A)``; None: uniformly random.

        Returns:
            FitResult: ``reward`` a :class:`TabularReward` (``weights`` when linear), ``policy`` None (no MDP
            is solved), ``history`` of objective, largest gradient entry and smallest effective sample
            size, ``info`` with ``samples``, ``partition_functions`` (one per start state, or 1) and the
            effective sample sizes ``ess_min`` and ``ess_mean`` of their estimates.
        """
        cfg, mdp = self.config, env_or_mdp
        data = validate_dataset(data, mdp)
        phi = _reward_features(mdp, cfg.reward)
        model = model_mdp(mdp, data)
        horizon = model.horizon
        assert horizon is not None
        policy = None
        if background is not None:
            policy = torch.as_tensor(validate_policy(background, mdp.n_states, mdp.n_actions, name="background"), dtype=mdp.dtype)
            if policy.ndim == 3 and policy.shape[0] < horizon:
                raise ValidationError("background", f"has {policy.shape[0]} time steps", f"pass a policy for all {horizon}")
        pi = policy if policy is not None else torch.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions, dtype=mdp.dtype)
        demo_f = trajectory_features(data, phi, discount=mdp.discount)
        groups: Tensor | None = None
        weights: Tensor | None = None
        if cfg.start == "demos":
            rho = start_distribution(data, mdp.n_states)
            starts = np.flatnonzero(rho)
            counts = np.maximum(1, np.round(cfg.samples * rho[starts]).astype(int))
            parts = []
            for s, k in zip(starts, counts, strict=True):
                one_hot = np.zeros(mdp.n_states)
                one_hot[s] = 1.0
                parts += list(sample_tabular(mdp, pi, int(k), rng=rng, length=horizon, initial=one_hot))
            samples = TrajectoryDataset(parts)
            groups = torch.as_tensor(np.repeat(np.arange(len(starts)), counts))
            weights = torch.as_tensor(rho[starts], dtype=mdp.dtype)
        else:
            samples = sample_tabular(mdp, pi, cfg.samples, rng=rng, length=horizon)
        sample_f = trajectory_features(samples, phi, discount=mdp.discount)
        log_ratio = log_importance_ratio(samples, mdp.n_actions, policy, dtype=mdp.dtype).to(mdp.device)
        theta, history, converged, steps = _ascend(cfg, "relative-entropy IRL", demo_f, sample_f, log_ratio, groups, weights, callback)
        final = sample_based_objective(theta, demo_f, sample_f, log_ratio, groups=groups, group_weights=weights)
        return _result(
            mdp,
            cfg,
            phi,
            theta,
            history,
            final,
            {"iterations": steps, "converged": converged, "samples": len(samples), "model_horizon": horizon},
        )


class PerturbationIRL:
    """MaxEnt IRL with each demonstration's partition function estimated from noisy copies of it
    (Kalakrishnan, Pastor, Righetti, Schaal 2013), on a tabular world: :func:`perturbed_copies` draws
    ``K`` copies of every demonstration once, each demonstration gets its own ``Z_i``, and the reward
    weights follow the gradient of :func:`sample_based_objective` (groups = demonstrations). The paper
    writes a cost ``theta . f``; here ``theta`` is a reward (the cost's negative). No MDP is solved.

    Examples:
        >>> from rewardlab.irl.experts import expert_demonstrations
        >>> from rewardlab.mdp.worlds import navigation_gridworld
        >>> world = navigation_gridworld("tiny")
        >>> demos, _ = expert_demonstrations(world, 20, rng=np.random.default_rng(0))
        >>> result = PerturbationIRL(PerturbationConfig(copies=20)).fit(demos, world.mdp, rng=np.random.default_rng(0))
        >>> world.feature_names[int(result.reward.weights.argmax())]
        'goal'
    """

    def __init__(self, config: PerturbationConfig | None = None) -> None:
        self.config = config or PerturbationConfig()

    def fit(
        self, data: TrajectoryDataset, env_or_mdp: TabularMDP, *, rng: np.random.Generator, callback: Callback | None = None
    ) -> FitResult:
        """Learn a reward from tabular demonstrations ``data`` on ``env_or_mdp``.

        Returns:
            FitResult: ``reward`` a :class:`TabularReward` (``weights`` when linear), ``policy`` None,
            ``history`` of objective, largest gradient entry and smallest effective sample size, ``info``
            with ``samples``, ``partition_functions`` (one per demonstration) and ``ess_min``, ``ess_mean``.
        """
        cfg, mdp = self.config, env_or_mdp
        data = validate_dataset(data, mdp)
        if all(len(tr) == 0 for tr in data):
            raise ValidationError("data", "holds only empty trajectories", "pass demonstrations with at least one action")
        phi = _reward_features(mdp, cfg.reward)
        demo_f = trajectory_features(data, phi, discount=mdp.discount)
        copies, log_ratio, groups = perturbed_copies(mdp, data, cfg.copies, noise=cfg.noise, rng=rng)
        sample_f = trajectory_features(copies, phi, discount=mdp.discount)
        if cfg.correction == "none":  # each demonstration joins its own copies, all weighted by exp(theta . f) alone
            sample_f = torch.cat([sample_f, demo_f])
            groups = torch.cat([groups, torch.arange(len(data))])
            log_ratio = torch.zeros(len(sample_f), dtype=mdp.dtype)
        log_ratio = log_ratio.to(mdp.device)
        theta, history, converged, steps = _ascend(cfg, "perturbation IRL", demo_f, sample_f, log_ratio, groups, None, callback)
        final = sample_based_objective(theta, demo_f, sample_f, log_ratio, groups=groups)
        return _result(mdp, cfg, phi, theta, history, final, {"iterations": steps, "converged": converged, "samples": len(copies)})
