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
* :class:`GymRelativeEntropyIRL` (``"relent-gym"``): the same model on a Gymnasium env (continuous
  control): fixed-length segments of the demonstrations and of a uniform random policy's episodes, their
  features from a fixed random feature map over ``(obs, act)`` (the reward linear in them) or a small
  neural reward trained on the same objective; the learned reward is a :class:`~rewardlab.rewards.NeuralReward`.
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
    "GymRelativeEntropyConfig",
    "GymRelativeEntropyIRL",
    "PerturbationConfig",
    "PerturbationIRL",
    "RelativeEntropyConfig",
    "RelativeEntropyIRL",
    "SampleBasedObjective",
    "importance_weights",
    "log_importance_ratio",
    "perturbed_copies",
    "random_feature_reward",
    "sample_based_objective",
    "segment_features",
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
    """The checks shared by both tabular configs (reward kind, then :func:`_check_ascent`)."""
    if cfg.reward not in ("linear", "state"):
        raise ConfigError("reward", f"is {cfg.reward!r}", "choose 'linear' or 'state'")
    _check_ascent(cfg)


def _check_ascent(cfg: Any) -> None:
    """The checks of every config that :func:`_ascend` reads (optimiser, step size, priors, budget)."""
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


#: below this many effective samples, the importance-sampled Z is carried by a handful of trajectories
MIN_ESS = 10.0


def _result(
    name: str,
    more: str,
    cfg: Any,
    features: Tensor,
    theta: Tensor,
    history: History,
    final: SampleBasedObjective,
    info: dict[str, Any],
) -> FitResult:
    """The learned reward and what the fit reports: ``info`` plus the number of partition functions, the
    smallest and mean effective sample size of their estimates at the returned weights, and ``warnings``: a ``Z``
    resting on fewer than :data:`MIN_ESS` effective samples (``more``: what to draw more of), and a fit that used
    its whole budget with its gradient still above 1% of the first (its objective may have no maximum) say so."""
    values = (features @ theta).detach().clone()
    reward = TabularReward(values, theta.clone() if cfg.reward == "linear" else None)
    ess = {"partition_functions": len(final.ess), "ess_min": float(final.ess.min()), "ess_mean": float(final.ess.mean())}
    warnings = []
    if ess["ess_min"] < MIN_ESS:
        warnings.append(
            f"{name}: Z rests on {ess['ess_min']:.1f} effective samples of {info['samples']}: a few sampled trajectories "
            f"carry the estimate, so the reward cannot be trusted beyond the ranking those few give; draw more {more}"
        )
    first, last = float(history["grad_max"][0]), float(history["grad_max"][-1])
    # ran its whole budget (not stopped by a callback) still climbing: the gradient above 1% of where it started
    if not info["converged"] and info["iterations"] >= cfg.iterations and last >= 0.01 * first:
        warnings.append(
            f"{name}: did not converge in {info['iterations']} steps (max |gradient| {last:.3g}, {last / first:.0%} of the "
            f"first; max |theta| {float(theta.abs().max()):.3g}): when the demonstrations lie beyond every sample the "
            "objective has no maximum and the weights keep growing, so the reward's scale is arbitrary; raise iterations "
            "or add an L2 prior (l2)"
        )
    return FitResult(reward=reward, policy=None, history=history, info={**info, **ess, "warnings": warnings, "config": cfg})


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
            "relative-entropy IRL",
            "samples, or a background policy nearer the demonstrations",
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
        return _result(
            "perturbation IRL",
            "copies",
            cfg,
            phi,
            theta,
            history,
            final,
            {"iterations": steps, "converged": converged, "samples": len(copies)},
        )


# ----------------------------------------------------------------------------- Gymnasium (continuous control)
def _segment_inputs(trajectories: Iterable[Trajectory], length: int, name: str = "trajectories") -> tuple[Tensor, Tensor, int]:
    """The decision observations ``(M * L, *obs_shape)`` and actions ``(M * L, ...)`` of every whole
    segment of ``L = length`` steps (non-overlapping, from each trajectory's start; a remainder shorter
    than ``L`` is left out), and the number of segments ``M``; float observations as float32, Box actions
    as float32, Discrete actions as int64."""
    obs, acts = [], []
    for tr in trajectories:
        k = len(tr) // length
        if k:
            obs.append(np.asarray(tr.obs)[: k * length])
            acts.append(np.asarray(tr.acts)[: k * length])
    if not obs:
        raise ValidationError(
            name, f"has no trajectory of at least {length} steps", f"pass longer trajectories or a segment below {length}"
        )
    o, a = np.concatenate(obs), np.concatenate(acts)
    o_t = torch.as_tensor(o.astype(np.float32) if np.issubdtype(o.dtype, np.floating) else o)
    a_t = torch.as_tensor(a.astype(np.float32) if np.issubdtype(a.dtype, np.floating) else a.astype(np.int64))
    return o_t, a_t, len(o) // length


def _sum_segments(values: Tensor, length: int) -> Tensor:
    """``(M * L, F)`` (or ``(M * L,)``: ``F = 1``) per-step values -> ``(M, F)`` per-segment sums."""
    v = values[:, None] if values.ndim == 1 else values
    return v.reshape(-1, length, v.shape[-1]).sum(1)


def segment_features(trajectories: Iterable[Trajectory], feature_map: Any, length: int) -> Tensor:
    """Features of fixed-length trajectory segments, ``f(sigma) = sum_{t in sigma} phi(o_t, a_t)``.

    Every trajectory is cut into non-overlapping segments of ``L`` decisions from its start (a remainder
    shorter than ``L`` is left out), and ``phi`` is summed over each segment's steps: the undiscounted
    counterpart of :func:`trajectory_features` for any observation space, whose rows
    :func:`sample_based_objective` takes. A reward model as ``feature_map`` gives each segment's return
    (``F = 1``), which is how :class:`GymRelativeEntropyIRL` trains a neural reward.

    Args:
        trajectories: trajectories with ``obs (T + 1, *obs_shape)`` and ``acts (T, ...)``.
        feature_map: ``phi(obs (B, *obs_shape), acts (B, ...)) -> (B, F)`` or ``(B,)``, e.g. a reward
            net's ``features`` (:meth:`rewardlab.rewards.RewardNet.features`); keeps autograd.
        length: ``L``, decisions per segment.

    Returns:
        ``(M, F)``, segments in trajectory order.

    Raises:
        ValidationError: no trajectory has ``L`` decisions.

    Examples:
        >>> tr = Trajectory(np.array([[0.0], [1.0], [2.0], [3.0], [4.0]]), np.zeros((4, 1)))
        >>> segment_features([tr], lambda o, a: torch.cat([o, o**2], 1), 2)
        tensor([[ 1.,  1.],
                [ 5., 13.]])
    """
    if length < 1:
        raise ValidationError("length", f"is {length}", "use segments of at least one step")
    obs, acts, _ = _segment_inputs(trajectories, length)
    return _sum_segments(feature_map(obs, acts), length)


def random_feature_reward(
    spec: Any, inputs: Any, *, bandwidth: float = 1.0, generator: torch.Generator | None = None, seed: int = 0
) -> Any:
    """A reward linear in a fixed random feature map: ``r(o, a) = theta . phi(x)``, with
    ``x = [o, a]`` (actions one-hot when discrete) and

        ``phi(x) = tanh(W x + b)``,   ``W_kj = g_kj / (bandwidth sqrt(D) sigma_j)``,   ``b = -W mu + u``,

    ``g ~ N(0, 1)`` ``(K, D)``, ``u ~ U(-1, 1)`` ``(K,)``, ``mu`` and ``sigma`` the per-input mean and
    standard deviation of ``inputs`` (so every unit's pre-activation has standard deviation about
    ``1 / bandwidth`` on them). These are random features in the sense of Rahimi and Recht (2007) with a
    ``tanh`` in place of a cosine, so the model is a plain one-hidden-layer
    :class:`~rewardlab.rewards.NeuralReward` (``spec``: ``"mlp"``, ``hidden=(K,)``, ``"tanh"``) that
    saves, loads and wraps envs like every other; ``theta`` is its last layer (zero here, no bias), the
    features :meth:`~rewardlab.rewards.RewardNet.features`.

    Args:
        spec: a :class:`~rewardlab.rewards.RewardNetSpec` with ``architecture="mlp"``, one hidden width
            ``K`` and ``activation="tanh"``.
        inputs: ``(obs (N, D_o), acts (N, ...))`` observations and actions the map should resolve
            (the fit's demonstrations and background), ``N >= 2``.
        bandwidth: larger is smoother.
        generator: draws ``g`` and ``u``.
        seed: the net's initial weights (overwritten, but drawn by :class:`NeuralReward`).

    Examples:
        >>> from rewardlab.rewards import RewardNetSpec
        >>> spec = RewardNetSpec((3,), hidden=(16,), act_dim=1, activation="tanh")
        >>> obs, acts = torch.randn(100, 3), torch.randn(100, 1)
        >>> model = random_feature_reward(spec, (obs, acts), generator=torch.Generator().manual_seed(0))
        >>> model.member(0).features(obs, acts).shape, float(model(obs, acts).detach().abs().max())
        (torch.Size([100, 16]), 0.0)
    """
    from rewardlab.rewards import NeuralReward

    if spec.architecture != "mlp" or len(spec.hidden) != 1 or spec.activation != "tanh":
        raise ConfigError("spec", f"is {spec}", "use architecture='mlp', one hidden width and activation='tanh'")
    if not 0 < bandwidth < math.inf:
        raise ConfigError("bandwidth", f"is {bandwidth}", "use a positive finite bandwidth")
    model = NeuralReward(spec, seed=seed)
    net = model.member(0)
    obs, acts = inputs
    with torch.no_grad():
        x = net._inputs(torch.as_tensor(obs), None if acts is None or not spec.uses_action else torch.as_tensor(acts))
        if len(x) < 2:
            raise ValidationError("inputs", f"has {len(x)} rows", "pass at least two observations")
        mu, sigma = x.mean(0), x.std(0).clamp_min(1e-6)
        head, last = net.head, net.last_layer
        assert isinstance(head, torch.nn.Sequential)
        first = head[0]
        assert isinstance(first, torch.nn.Linear)
        k, d = first.weight.shape
        g = torch.randn(k, d, generator=generator, dtype=torch.float64).float()
        u = 2 * torch.rand(k, generator=generator, dtype=torch.float64).float() - 1
        w = g / (bandwidth * math.sqrt(d) * sigma[None, :])
        first.weight.copy_(w)
        first.bias.copy_(u - w @ mu)
        last.weight.zero_()
        last.bias.zero_()
    return model


@dataclass(frozen=True)
class GymRelativeEntropyConfig:
    """Hyperparameters of relative-entropy IRL on a Gymnasium env (:class:`GymRelativeEntropyIRL`).

    Attributes:
        reward: ``"random-features"``: linear in a fixed random feature map of ``(obs, act)``
            (:func:`random_feature_reward`), fitted by gradient ascent on :func:`sample_based_objective`;
            ``"mlp"``: a neural reward ``r_psi(o, a)`` whose segment returns play the features (Adam on
            all its weights, the same objective by autograd).
        features: ``K`` random features.
        bandwidth: of the random features (larger is smoother; on Pendulum-v1 with single-step segments the
            learned ``r(s)`` had Spearman 0.85-0.89 with the true reward over a grid of states at 5, 0.66-0.78 at
            3 and below 0.2 at 1.5, seeds 0-4).
        hidden: the MLP's hidden widths (``reward="mlp"``).
        actions: the reward reads actions as well as observations. Off by default: on Pendulum-v1 PPO on
            a reward of ``(obs, act)`` stayed at the random policy's return in 2 of 2 seeds, on a reward of
            ``obs`` alone it swung up (``benchmarks/relent_gym_pendulum.py``); the uniform background's
            actions differ from any policy's everywhere, so action features mostly learn that.
        segment: decisions per segment ``L``; demonstrations and background episodes are cut into
            segments of this length, and ``Z`` is a sum over the background segments. The weights
            ``exp(R(tau))`` of longer segments vary more: on Pendulum-v1 with 50 uniform background episodes the
            effective sample size of ``Z`` was 3-14 segments at ``L = 20`` (PPO on the reward: 0.54 normalised
            over seeds 0-4) and 810-1,300 at ``L = 1`` (1.02 on every seed; ``benchmarks/relent_gym_pendulum.py``).
        episodes: background episodes of the uniform random policy drawn before the fit.
        max_steps: cut background episodes after this many steps (None: the env's time limit).
        optimizer: ``"adam"`` or ``"gd"`` for the random features' weights.
        lr: their step size.
        net_lr: Adam's step size for the MLP (``reward="mlp"``).
        iterations: gradient steps.
        l1: ``epsilon`` of Boularias et al.'s ``-epsilon ||theta||_1`` (random features).
        l2: Gaussian prior ``-l2/2 ||theta||^2`` on the weights (all the MLP's weights for ``"mlp"``);
            it keeps the weights finite when the demonstrations' features lie outside the background's.
        tol: stop when the largest entry of the penalised gradient falls below it (random features).
    """

    reward: Literal["random-features", "mlp"] = "random-features"
    features: int = 256
    bandwidth: float = 5.0
    hidden: tuple[int, ...] = (64, 64)
    actions: bool = False
    segment: int = 1
    episodes: int = 50
    max_steps: int | None = None
    optimizer: Optimizer = "adam"
    lr: float = 0.05
    net_lr: float = 1e-3
    iterations: int = 300
    l1: float = 0.0
    l2: float = 1e-2
    tol: float = 1e-6

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.reward not in ("random-features", "mlp"):
            raise ConfigError("reward", f"is {self.reward!r}", "choose 'random-features' or 'mlp'")
        _check_ascent(self)
        if self.features < 1:
            raise ConfigError("features", f"is {self.features}", "use at least one random feature")
        if not 0 < self.bandwidth < math.inf:
            raise ConfigError("bandwidth", f"is {self.bandwidth}", "use a positive finite bandwidth")
        if self.reward == "mlp" and (not self.hidden or min(self.hidden) < 1):
            raise ConfigError("hidden", f"is {self.hidden}", "give at least one positive hidden width")
        if not 0 < self.net_lr < math.inf:
            raise ConfigError("net_lr", f"is {self.net_lr}", "use a positive finite step size")
        if self.segment < 1:
            raise ConfigError("segment", f"is {self.segment}", "use segments of at least one step")
        if self.episodes < 1:
            raise ConfigError("episodes", f"is {self.episodes}", "draw at least one background episode")
        if self.max_steps is not None and self.max_steps < self.segment:
            raise ConfigError("max_steps", f"is {self.max_steps}, below segment={self.segment}", "use None or at least one segment")


def _uniform_background(env: Any, action_space: Any, episodes: int, max_steps: int | None, seed: int) -> TrajectoryDataset:
    """``episodes`` episodes of the uniformly random policy (every action ``action_space.sample()``)."""
    import gymnasium as gym

    from rewardlab.data.gym_rollouts import collect_rollouts

    if isinstance(action_space, gym.spaces.Box) and not action_space.is_bounded():
        raise ValidationError(
            "action_space", "is unbounded: no uniform policy", "pass background= trajectories of a uniform policy over a bounded box"
        )
    if not isinstance(action_space, (gym.spaces.Box, gym.spaces.Discrete)):
        raise ValidationError("action_space", f"is {action_space}", "use Box or Discrete actions")
    shape, dtype = tuple(action_space.shape or ()), action_space.dtype

    def placeholder(obs: np.ndarray) -> np.ndarray:  # every action is replaced (epsilon = 1) by a uniform draw
        return np.zeros((len(obs), *shape), dtype=dtype)

    return collect_rollouts(env, placeholder, episodes, seed=seed, epsilon=1.0, max_steps=max_steps)


class GymRelativeEntropyIRL:
    """Relative-entropy IRL (Boularias, Kober, Peters 2011) on a Gymnasium env (continuous control).

    The model of the module docstring over fixed-length segments ``sigma`` of ``L`` decisions:
    ``P(sigma) ~ q_U(sigma) exp(R(sigma))`` with ``R(sigma) = sum_{t in sigma} r(o_t, a_t)`` and ``q_U`` the
    segment distribution of the uniformly random policy. The background segments are cut from episodes of
    that policy itself, so their importance ratio ``q_U / q_background`` is exactly 1 (``log_ratio = 0``)
    and ``Z`` is estimated by the plain average over the ``M`` background segments,
    ``log Z ~= log (1/M) sum_m exp(R(sigma_m))``. The average log-likelihood of the ``N`` demonstration
    segments ``L(R) = (1/N) sum_i R(sigma_i) - log Z`` is ascended:

    * ``reward="random-features"``: ``r = theta . phi(o, a)`` with ``phi`` fixed
      (:func:`random_feature_reward`), ``f(sigma) = sum_t phi`` (:func:`segment_features`), the gradient
      ``f_hat - sum_m w_m f_m`` of :func:`sample_based_objective` (plus the priors ``l1``, ``l2``);
    * ``reward="mlp"``: ``r = r_psi`` a small net; the segment returns are the features with ``theta = 1``,
      and Adam follows the autograd of :func:`sample_based_objective`'s value in ``psi`` (Deep MaxEnt's
      ``sum_i dR(sigma_i)/dpsi / N - sum_m w_m dR(sigma_m)/dpsi``).

    Segments start where the demonstrations' and the background's do (not at the env's start states), so
    the learned reward also explains where the expert spends its time, which is what a policy trained on it
    should copy. The fitted reward is normalised to mean 0 and standard deviation 1 over the fit's steps
    (a positive affine change: the same ranking and optimal policies); it goes straight into
    :func:`rewardlab.rl.train_policy` (``reward=``) and :class:`rewardlab.rewards.wrappers.LearnedReward`.

    Examples:
        >>> from rewardlab.data.gym_rollouts import collect_rollouts
        >>> demos = collect_rollouts("Pendulum-v1", lambda o: np.zeros((len(o), 1), np.float32), 2, seed=0, max_steps=20)
        >>> cfg = GymRelativeEntropyConfig(features=16, segment=10, episodes=2, max_steps=20, iterations=5)
        >>> result = GymRelativeEntropyIRL(cfg).fit(demos, "Pendulum-v1", rng=np.random.default_rng(0))
        >>> result.info["demo_segments"], result.info["background_segments"], result.reward(np.zeros((1, 3)), np.zeros((1, 1))).shape
        (4, 4, torch.Size([1]))
    """

    def __init__(self, config: GymRelativeEntropyConfig | None = None) -> None:
        self.config = config or GymRelativeEntropyConfig()

    def fit(
        self,
        data: TrajectoryDataset,
        env_or_mdp: Any,
        *,
        rng: np.random.Generator,
        callback: Callback | None = None,
        background: TrajectoryDataset | None = None,
    ) -> FitResult:
        """Learn a reward from demonstrations ``data`` on the env ``env_or_mdp`` (an env id or a function
        returning a new env; an ``(observation_space, action_space)`` pair when ``background`` is given).

        Args:
            background: trajectories of the uniformly random policy on this env (their importance ratio
                is 1); None: draw ``config.episodes`` episodes of it, seeded from ``rng``.

        Returns:
            FitResult: ``reward`` a :class:`~rewardlab.rewards.NeuralReward`, ``policy`` None, ``history``
            of the objective and the effective sample size of the ``Z`` estimate (and the largest gradient
            entry for random features), ``info`` with ``iterations``, ``converged``, ``demo_segments``,
            ``background_segments``, ``ess_min`` and ``ess_mean`` at the returned reward.
        """
        import gymnasium as gym

        from rewardlab.data.gym_rollouts import env_spaces
        from rewardlab.rewards import NeuralReward, RewardNetSpec

        cfg = self.config
        obs_space, act_space = env_spaces(env_or_mdp)
        if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape or ()) != 1:
            raise ValidationError("env_or_mdp", f"has observations {obs_space}", "use an env with vector (Box) observations")
        data = validate_dataset(data, (obs_space, act_space))
        seed = int(rng.integers(2**31 - 1))
        if background is None:
            background = _uniform_background(env_or_mdp, act_space, cfg.episodes, cfg.max_steps, seed)
        else:
            background = validate_dataset(background, (obs_space, act_space), name="background")
        demo_obs, demo_acts, n_demo = _segment_inputs(data, cfg.segment, "data")
        back_obs, back_acts, n_back = _segment_inputs(background, cfg.segment, "background")
        discrete = isinstance(act_space, gym.spaces.Discrete)
        size = int(act_space.n) if isinstance(act_space, gym.spaces.Discrete) else int(np.prod(act_space.shape or ()))
        act_dim = size if cfg.actions else 0
        obs_shape = tuple(obs_space.shape or ())
        every_obs, every_act = torch.cat([demo_obs, back_obs]), torch.cat([demo_acts, back_acts])
        generator = torch.Generator().manual_seed(seed)
        log_ratio = torch.zeros(n_back, dtype=torch.float64)  # uniform background: q_U / q_background = 1
        if cfg.reward == "random-features":
            spec = RewardNetSpec(obs_shape, "mlp", (cfg.features,), act_dim, discrete, "tanh")
            model = random_feature_reward(spec, (every_obs, every_act), bandwidth=cfg.bandwidth, generator=generator, seed=seed)
            net = model.member(0)
            with torch.no_grad():
                demo_f = _sum_segments(net.features(demo_obs, demo_acts).double(), cfg.segment)
                back_f = _sum_segments(net.features(back_obs, back_acts).double(), cfg.segment)
            theta, history, converged, steps = _ascend(cfg, "relative-entropy IRL", demo_f, back_f, log_ratio, None, None, callback)
            with torch.no_grad():
                net.last_layer.weight.copy_(theta.float()[None])
            final = sample_based_objective(theta, demo_f, back_f, log_ratio)
        else:
            spec = RewardNetSpec(obs_shape, "mlp", cfg.hidden, act_dim, discrete, "tanh")
            model = NeuralReward(spec, seed=seed)
            model, history, converged, steps, final = self._fit_net(model, (demo_obs, demo_acts), (back_obs, back_acts), callback)
        model.normalize(every_obs, every_act if cfg.actions else None)
        info = {
            "iterations": steps,
            "converged": converged,
            "demo_segments": n_demo,
            "background_segments": n_back,
            "background_episodes": len(background),
            "ess_min": float(final.ess.min()),
            "ess_mean": float(final.ess.mean()),
            "config": cfg,
        }
        return FitResult(reward=model.eval(), policy=None, history=history, info=info)

    def _fit_net(
        self, model: Any, demos: tuple[Tensor, Tensor], back: tuple[Tensor, Tensor], callback: Callback | None
    ) -> tuple[Any, History, bool, int, SampleBasedObjective]:
        """Adam on the neural reward's weights: the segment returns are :func:`sample_based_objective`'s
        features with ``theta = 1``; maximise its value minus ``l2/2 ||psi||^2``."""
        cfg = self.config
        net = model.member(0)
        params = list(net.parameters())
        optimizer = torch.optim.Adam(params, lr=cfg.net_lr)
        one = torch.ones(1, dtype=torch.float64)
        log_ratio = torch.zeros(len(back[0]) // cfg.segment, dtype=torch.float64)
        fix = f"lower net_lr (now {cfg.net_lr:g}) or raise l2"

        def objective() -> SampleBasedObjective:
            demo_r = _sum_segments(net(*demos).double(), cfg.segment)
            back_r = _sum_segments(net(*back).double(), cfg.segment)
            return sample_based_objective(one, demo_r, back_r, log_ratio)

        history = History()
        steps = 0
        for step in range(cfg.iterations):
            obj = objective()
            value = obj.value - 0.5 * cfg.l2 * sum((p.double() ** 2).sum() for p in params)
            ensure_finite(float(value.detach()), "relative-entropy IRL objective", step=step, fix=fix)
            metrics = {"objective": float(value.detach()), "ess_min": float(obj.ess.detach().min())}
            history.log(step, **metrics)
            steps = step + 1
            if run_callback(callback, step, metrics):
                break
            optimizer.zero_grad()
            (-value).backward()
            optimizer.step()
        with torch.no_grad():
            final = objective()
        return model, history, False, steps, final
