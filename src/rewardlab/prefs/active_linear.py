"""Active preference-based learning of a reward linear in features (Sadigh et al. 2017; Bıyık et al. 2019;
APReL, Bıyık et al. 2022), on a tabular world with state features.

The reward is ``r(s) = w · phi(s)`` with ``||w|| = 1``, so a trajectory's return is ``w · Phi(tau)`` with the
feature sums ``Phi(tau) = sum_t phi(s_t)`` over the states it visits (the start state included). The
learner holds a fixed candidate set of trajectories (``trajectories`` rollouts in the world, each of the
optimal policy for its own random unit reward, or of the uniform policy) and of pairs of them; each step
it

1. picks **one** query among the pairs not asked yet with the configured strategy
   (:mod:`rewardlab.prefs.queries`: ``"uniform"``, ``"information_gain"`` or ``"volume_removal"``,
   scored from the current posterior samples; the first query is always uniform, as in APReL and B-Pref);
2. has a simulated teacher answer it from the true per-step rewards ``w* · phi(s_t)``: the Boltzmann
   teacher ``P(a ≻ b) = sigmoid(beta (R_a - R_b))`` with the config's ``beta`` (APReL's softmax user), or
   a B-Pref preset (:mod:`rewardlab.prefs.teachers`; ``"oracle"`` answers by the larger return);
3. resamples the posterior over ``w`` given every answer so far,

   ``p(w | D) ∝ prod_q sigmoid(beta w · Δ_q)^{y_q} sigmoid(-beta w · Δ_q)^{1 - y_q}``, ``Δ_q = Phi(a_q) - Phi(b_q)``,

   uniform prior on the unit sphere, with the shared Metropolis–Hastings loop of :mod:`rewardlab.mcmc`
   (the B-REX target, ``sphere=True``), each chain warm-started from where it ended after the previous
   query (a skipped query adds nothing to the likelihood but still spends a label). The chains per query
   are short (100 + 100 steps by default): a population carried from query to query, as a sequential
   sampler, not 16 chains that each mix within one query. Its split R-hat after the last query is well
   above 1.01 (about 2 on the 8-feature grids of ``benchmarks/active_linear.toml``; ``info["rhat_max"]``),
   but its posterior mean, which is what the cosine and the reward use, agreed with that of 32 long
   chains (6,000 steps, R-hat <= 1.01) on the same answers to a cosine of at least 0.9997 there; raise
   ``burn_in`` and ``samples`` where the samples themselves matter;
4. records ``cosine``: the cosine similarity between the posterior mean of ``w`` and the true weights.

**What preferences can identify.** Only the components of ``w`` in the span of the candidate feature
differences ``Δ`` change any answer: with one-hot state features (the feature grids, the navigation
world) and trajectories of equal length, every ``Δ`` sums to 0, so adding a constant to every weight (a
constant reward per step) changes no preference. ``cosine`` therefore compares the two vectors projected
onto that span (:func:`difference_basis`, :func:`identified_cosine`); where the differences span every
direction this is the plain cosine. The true weights with that part removed give exactly the same answers
to every candidate query, so they are the reward the teacher reveals.

References:
    Dorsa Sadigh, Anca D. Dragan, Shankar Sastry, Sanjit A. Seshia, "Active Preference-Based Learning of
    Reward Functions", RSS 2017.
    Erdem Bıyık, Malayandi Palan, Nicholas C. Landolfi, Dylan P. Losey, Dorsa Sadigh, "Asking Easy
    Questions: A User-Friendly Approach to Active Reward Learning", CoRL 2019.
    Erdem Bıyık, Aditi Talati, Dorsa Sadigh, "APReL: A Library for Active Preference-based Reward
    Learning Algorithms", HRI 2022.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from rewardlab.data.validate import as_numpy, validate_labels
from rewardlab.errors import ConfigError, ShapeError, ValidationError
from rewardlab.learner import Callback, FitResult, History, run_callback
from rewardlab.mcmc import MHChains, MHSettings, chain_diagnostics, check_chain_memory, metropolis_hastings
from rewardlab.mdp import TabularMDP, value_iteration
from rewardlab.prefs.brex import PreferenceLikelihood, PreferencePosterior
from rewardlab.prefs.queries import QueryContext, query_strategy, select_queries
from rewardlab.prefs.teachers import TEACHER_PRESETS, SimulatedTeacher, Teacher, TeacherConfig, teacher_preset
from rewardlab.rewards import TabularReward

__all__ = [
    "LINEAR_STRATEGIES",
    "ActivePreferenceConfig",
    "ActivePreferenceLearner",
    "candidate_pairs",
    "difference_basis",
    "identified_cosine",
    "queries_to_reach",
    "sample_weight_posterior",
    "trajectory_feature_sums",
]

#: The query strategies of :mod:`rewardlab.prefs.queries` this learner can use.
LINEAR_STRATEGIES = ("uniform", "information_gain", "volume_removal")


@dataclass(frozen=True)
class ActivePreferenceConfig:
    """Hyperparameters of :class:`ActivePreferenceLearner`.

    Attributes:
        queries: labels asked, one query per step.
        strategy: ``"uniform"``, ``"information_gain"`` or ``"volume_removal"`` (:data:`LINEAR_STRATEGIES`).
        teacher: ``"boltzmann"`` (answers with ``P(a ≻ b) = sigmoid(beta (R_a - R_b))``, the likelihood's own
            model) or a B-Pref preset name (:data:`rewardlab.prefs.teachers.TEACHER_PRESETS`).
        beta: the rationality of the likelihood ``sigmoid(beta w · Δ)`` and of the Boltzmann teacher.
        trajectories: candidate trajectories rolled out in the world.
        length: decisions per trajectory (None: the world's horizon; required for a discounted world).
        pairs: candidate pairs drawn among the trajectories (at most all distinct pairs; pairs whose feature
            sums are equal are left out: no answer could tell them apart).
        behaviour: how the candidate trajectories act: ``"random_reward"``, each the optimal policy for its
            own reward ``phi · w_i``, ``w_i`` uniform on the unit sphere; ``"uniform"``, uniformly random actions.
        epsilon: probability of a uniformly random action at each step of a ``"random_reward"`` trajectory.
        chains: Metropolis–Hastings chains, run together on a batch axis.
        samples: MH steps kept per chain per query (before thinning); the strategy scores candidates with
            the ``chains * samples // thin`` kept samples.
        burn_in: MH steps discarded per query (the chains start where they ended after the previous query).
        thin: keep every ``thin``-th step.
        step_size: the initial proposal scale (adapted during the first query's burn-in toward 30%
            acceptance; each later query starts from the scale the previous one ended with).
        target: the cosine threshold of ``queries_to_target`` (the sweeps report ``queries_to_0.9``).
    """

    queries: int = 40
    strategy: Literal["uniform", "information_gain", "volume_removal"] = "information_gain"
    teacher: str = "boltzmann"
    beta: float = 1.0
    trajectories: int = 200
    length: int | None = 10
    pairs: int = 1000
    behaviour: Literal["random_reward", "uniform"] = "random_reward"
    epsilon: float = 0.0
    chains: int = 16
    samples: int = 100
    burn_in: int = 100
    thin: int = 2
    step_size: float = 0.3
    target: float = 0.9

    def __post_init__(self) -> None:
        if self.strategy not in LINEAR_STRATEGIES:
            raise ConfigError("strategy", f"is {self.strategy!r}", f"choose one of {', '.join(LINEAR_STRATEGIES)}")
        if self.teacher != "boltzmann" and self.teacher not in TEACHER_PRESETS:
            teacher_preset(self.teacher)  # raises with a did-you-mean
        if self.behaviour not in ("random_reward", "uniform"):
            raise ConfigError("behaviour", f"is {self.behaviour!r}", "choose 'random_reward' or 'uniform'")
        if not (math.isfinite(self.beta) and self.beta > 0):
            raise ConfigError("beta", f"is {self.beta}", "use a finite rationality > 0")
        if not (math.isfinite(self.step_size) and self.step_size > 0):
            raise ConfigError("step_size", f"is {self.step_size}", "use a positive finite number")
        for name in ("queries", "chains", "samples", "thin", "pairs"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"is {getattr(self, name)}", "use at least 1")
        if self.trajectories < 2:
            raise ConfigError("trajectories", f"is {self.trajectories}", "roll out at least 2 candidate trajectories")
        if self.length is not None and self.length < 1:
            raise ConfigError("length", f"is {self.length}", "give at least one decision per trajectory (or leave it out)")
        if self.burn_in < 0:
            raise ConfigError("burn_in", f"is {self.burn_in}", "use 0 or more steps")
        if self.samples < self.thin:
            raise ConfigError("samples", f"is {self.samples}, fewer than thin={self.thin}", "keep at least one sample per chain")
        if not 0 <= self.epsilon <= 1:
            raise ConfigError("epsilon", f"is {self.epsilon}", "give a probability in [0, 1]")
        if not -1 < self.target <= 1:
            raise ConfigError("target", f"is {self.target}", "give a cosine threshold in (-1, 1], e.g. 0.9")
        check_chain_memory(self.chains, self.samples, self.thin, 1)


# ============================================================================ pure maths
def trajectory_feature_sums(features: Any, states: Any, lengths: Any = None) -> np.ndarray:
    """Feature sums ``Phi(tau) = sum_t phi(s_t)`` of ``N`` trajectories of state indices, ``(N, F)``.

    Args:
        features: ``(S, F)`` state features.
        states: ``(N, T + 1)`` the states each trajectory visits, the start included.
        lengths: ``(N,)`` how many of each row's states count (None: all ``T + 1``); the rest is padding.

    Examples:
        >>> phi = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
        >>> trajectory_feature_sums(phi, [[0, 1, 1], [2, 2, 0]], lengths=[3, 2]).tolist()
        [[1.0, 2.0], [1.0, 1.0]]
    """
    phi = as_numpy(features).astype(np.float64, copy=False)
    s = np.asarray(states, dtype=np.int64)
    if phi.ndim != 2 or s.ndim != 2:
        raise ShapeError("states", f"has shape {s.shape} with features {phi.shape}", "pass (N, T + 1) states and (S, F) features")
    per_step = phi[s]  # (N, T + 1, F)
    if lengths is not None:
        mask = np.arange(s.shape[1])[None, :] < np.asarray(lengths)[:, None]
        per_step = per_step * mask[..., None]
    return np.asarray(per_step.sum(axis=1))


def difference_basis(diffs: Any, *, rtol: float = 1e-9) -> np.ndarray:
    """An orthonormal basis ``(F, k)`` of the span of the feature differences ``(C, F)``: the directions of
    ``w`` that preferences over these pairs can identify (singular vectors above ``rtol`` times the largest).

    Examples:
        >>> d = np.array([[1.0, -1.0, 0.0], [0.0, 2.0, -2.0]])  # one-hot counts of equal length: rows sum to 0
        >>> basis = difference_basis(d)
        >>> basis.shape, bool(np.allclose(basis.T @ np.ones(3), 0))
        ((3, 2), True)
    """
    d = as_numpy(diffs).astype(np.float64, copy=False)
    if d.ndim != 2 or d.shape[0] == 0:
        raise ShapeError("diffs", f"has shape {d.shape}", "pass (C, F) feature differences of at least one pair")
    _, sv, vt = np.linalg.svd(d, full_matrices=False)
    if not sv.size or sv[0] == 0:
        return np.zeros((d.shape[1], 0))
    return np.asarray(vt[sv > rtol * sv[0]].T)


def identified_cosine(estimate: Any, truth: Any, basis: Any = None) -> float:
    """Cosine similarity of ``estimate`` and ``truth`` ``(F,)`` after projecting both onto the span of ``basis``
    ``(F, k)`` (None: no projection): ``cos = <P w_hat, P w*> / (||P w_hat|| ||P w*||)``, ``P = B B^T``.
    NaN when either projection is zero.

    Examples:
        >>> identified_cosine([1.0, 0.0], [1.0, 1.0])
        0.7071067811865475
        >>> basis = np.array([[1.0], [-1.0]]) / np.sqrt(2)  # only w_0 - w_1 is identified
        >>> round(identified_cosine([1.0, 0.0], [2.0, 1.0], basis), 6)  # both project onto (1, -1)
        1.0
    """
    a = as_numpy(estimate).astype(np.float64, copy=False).reshape(-1)
    b = as_numpy(truth).astype(np.float64, copy=False).reshape(-1)
    if a.shape != b.shape:
        raise ShapeError("estimate", f"has shape {a.shape}, truth {b.shape}", "compare weights of the same feature dimension")
    if basis is not None:
        q = as_numpy(basis).astype(np.float64, copy=False)
        a, b = q.T @ a, q.T @ b
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0 or nb == 0:
        return float("nan")
    return float(a @ b / (na * nb))


def queries_to_reach(cosines: Any, threshold: float) -> int | None:
    """The first query count ``n`` (1-based) whose cosine is at least ``threshold``; None if none is.

    Examples:
        >>> queries_to_reach([0.2, 0.95, 0.85, 0.97], 0.9)
        2
        >>> queries_to_reach([0.2, 0.5], 0.9) is None
        True
    """
    c = np.asarray(cosines, dtype=np.float64).reshape(-1)
    hit = np.flatnonzero(c >= threshold)
    return int(hit[0]) + 1 if hit.size else None


def candidate_pairs(feature_sums: Any, n_pairs: int, *, rng: np.random.Generator) -> np.ndarray:
    """``(C, 2)`` distinct pairs ``(i, j)``, ``i < j``, of trajectories whose feature sums differ, drawn
    uniformly without replacement: ``C = min(n_pairs, number of such pairs)``, in the order drawn.

    Examples:
        >>> sums = np.array([[0.0], [1.0], [1.0], [3.0]])  # trajectories 1 and 2 cannot be told apart
        >>> sorted(map(tuple, candidate_pairs(sums, 10, rng=np.random.default_rng(0)).tolist()))
        [(0, 1), (0, 2), (0, 3), (1, 3), (2, 3)]
    """
    phi = as_numpy(feature_sums).astype(np.float64, copy=False)
    i, j = np.triu_indices(len(phi), k=1)
    keep = np.any(phi[i] != phi[j], axis=1)
    i, j = i[keep], j[keep]
    if not len(i):
        raise ValidationError(
            "trajectories", "all have the same feature sums", "roll out more or longer trajectories, or use behaviour='random_reward'"
        )
    order = rng.permutation(len(i))[: min(n_pairs, len(i))]
    return np.stack([i[order], j[order]], axis=1).astype(np.int64)


def sample_weight_posterior(
    delta: Tensor, labels: Tensor, beta: float, initial: Tensor, settings: MHSettings, *, generator: torch.Generator
) -> MHChains:
    """MH chains of ``p(w | D)`` on the unit sphere: Bradley–Terry likelihood of the answered pairs
    ``sum_q log sigmoid(±beta w · Δ_q)`` (B-REX's target, :mod:`rewardlab.prefs.brex`), uniform prior.

    Args:
        delta: ``(P, F)`` feature differences of the answered queries (``P = 0``: the prior).
        labels: ``(P,)`` ``P(a ≻ b)`` in {0, 0.5, 1}.
        beta: rationality.
        initial: ``(B, F)`` the chains' starting points (unit vectors).
        settings: the loop's settings (``sphere=True``).
        generator: the torch generator of the proposals.

    Examples:
        >>> gen = torch.Generator().manual_seed(0)
        >>> delta = torch.tensor([[1.0, 0.0]]).repeat(40, 1)  # 40 answers "feature 0 is better"
        >>> init = torch.nn.functional.normalize(torch.randn(8, 2, generator=gen, dtype=torch.float64), dim=1)
        >>> s = MHSettings(samples=200, burn_in=100, sphere=True, step_size=0.3)
        >>> out = sample_weight_posterior(delta, torch.ones(40, dtype=torch.float64), 1.0, init, s, generator=gen)
        >>> bool(out.samples[..., 0].mean() > 0.8)
        True
    """
    d = torch.as_tensor(delta, dtype=initial.dtype, device=initial.device)
    y = torch.as_tensor(labels, dtype=initial.dtype, device=initial.device)
    if d.ndim != 2 or d.shape[1] != initial.shape[1] or y.shape != (d.shape[0],):
        raise ShapeError(
            "delta", f"has shape {tuple(d.shape)} with labels {tuple(y.shape)}", f"pass (P, {initial.shape[1]}) differences and (P,) labels"
        )
    validate_labels(y)
    target = PreferenceLikelihood(beta * d, y)
    return metropolis_hastings(target, initial, settings, generator=generator)


# ============================================================================ the learner
def _true_weights(data: Any, mdp: Any) -> Tensor:
    if not isinstance(mdp, TabularMDP) or mdp.features is None:
        raise ValidationError(
            "mdp", "is not a tabular MDP with state features", "pass world.mdp of a world with features (e.g. featuregrid)"
        )
    if data is None:
        raise ValidationError("data", "is None", "pass the simulated teacher's true weights (F,), e.g. world.weights")
    try:
        w = torch.as_tensor(as_numpy(data) if not isinstance(data, Tensor) else data, dtype=torch.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise ValidationError("data", f"is not an array of weights ({exc})", "pass the true weights (F,), e.g. world.weights") from None
    if w.shape != (mdp.n_features,):
        raise ShapeError("data", f"has {w.numel()} weights for {mdp.n_features} features", "pass one true weight per state feature")
    if not bool(torch.isfinite(w).all()):
        raise ValidationError("data", "holds NaN or infinite weights", "pass finite true weights")
    if float(w.norm()) == 0:
        raise ValidationError("data", "is the zero vector", "pass true weights that prefer something")
    return w


def _rollouts(mdp: TabularMDP, cfg: ActivePreferenceConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(N, T + 1)`` visited states (padded with the last state) and ``(N,)`` the number that count."""
    from rewardlab.data import sample_tabular

    steps = cfg.length if cfg.length is not None else mdp.horizon
    if steps is None:
        raise ValidationError("length", "is None for a discounted world", "give the decisions per trajectory, e.g. length = 10")
    n = cfg.trajectories
    if cfg.behaviour == "uniform":
        uniform = torch.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions, dtype=mdp.dtype)
        episodes = list(sample_tabular(mdp, uniform, n, rng=rng, length=steps))
    else:
        assert mdp.features is not None
        w = rng.standard_normal((n, mdp.n_features))
        w /= np.linalg.norm(w, axis=1, keepdims=True)
        policies = value_iteration(mdp, torch.as_tensor(w, dtype=mdp.dtype) @ mdp.features.T).policy  # batched: (N, ...)
        episodes = [sample_tabular(mdp, policies[k], 1, rng=rng, length=steps, epsilon=cfg.epsilon)[0] for k in range(n)]
    states = np.zeros((n, steps + 1), dtype=np.int64)
    lengths = np.zeros(n, dtype=np.int64)
    for k, tr in enumerate(episodes):
        obs = np.asarray(tr.obs, dtype=np.int64)
        states[k, : len(obs)] = obs
        states[k, len(obs) :] = obs[-1]
        lengths[k] = len(obs)
    return states, lengths


@dataclass
class ActivePreferenceLearner:
    """Active preference-based reward learning of a linear reward (see the module docstring), with the
    estimator shape of :mod:`rewardlab.learner`.

    ``fit(data, mdp, *, rng, callback=None, teacher=None)``: ``data`` is the simulated teacher's true
    reward weights ``(F,)`` (a world's ``weights``); the learner reads them only through the teacher's
    answers and to score itself (``cosine``). ``teacher`` replaces the config's simulated teacher by any
    :class:`~rewardlab.prefs.teachers.Teacher` (it gets the two trajectories' true per-step rewards and the
    pair of candidate indices). ``callback(step, metrics)`` is called after each query (``step`` from 0),
    with ``queries``, ``cosine``, ``answered`` and ``acceptance``.

    Returns a :class:`~rewardlab.learner.FitResult` whose ``reward`` is the linear reward of the posterior
    mean (renormalised), ``policy`` its optimal policy, ``posterior`` the last query's samples
    (:class:`~rewardlab.prefs.brex.PreferencePosterior`), ``history`` per query (``queries``, ``cosine``,
    ``answered``, ``label``, ``acceptance``) and ``info`` with ``queries_to_target`` (None when the
    cosine never reached ``target``), ``final_cosine``, ``identified_dims``, the last posterior's ``rhat_max``
    and ``ess_min`` (on the identified directions), the asked ``pairs``, ``labels`` and the candidate set's size.

    Examples:
        >>> from rewardlab.mdp.worlds import feature_gridworld
        >>> world = feature_gridworld(5, seed=0)
        >>> cfg = ActivePreferenceConfig(queries=15, trajectories=40, pairs=200, teacher="oracle")
        >>> fit = ActivePreferenceLearner(cfg).fit(world.weights, world.mdp, rng=np.random.default_rng(0))
        >>> len(fit.history["cosine"]), fit.history["cosine"][-1] > 0.8
        (15, True)
    """

    config: ActivePreferenceConfig

    def fit(
        self, data: Any, mdp: Any, *, rng: np.random.Generator, callback: Callback | None = None, teacher: Teacher | None = None
    ) -> FitResult:
        """Ask ``config.queries`` queries of the teacher of the true weights ``data`` ``(F,)`` in ``mdp``."""
        cfg = self.config
        truth = _true_weights(data, mdp)
        features = mdp.features
        assert features is not None
        n_features = mdp.n_features
        check_chain_memory(cfg.chains, cfg.samples, cfg.thin, n_features)
        # independent streams, drawn in a fixed order: candidates, queries, teacher, MCMC
        candidate_rng, query_rng, teacher_rng = (np.random.default_rng(int(rng.integers(2**62))) for _ in range(3))
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))

        states, lengths = _rollouts(mdp, cfg, candidate_rng)
        sums = trajectory_feature_sums(features, states, lengths)  # (N, F)
        pairs = candidate_pairs(sums, cfg.pairs, rng=candidate_rng)  # (C, 2)
        diffs = sums[pairs[:, 0]] - sums[pairs[:, 1]]  # (C, F)
        basis = difference_basis(diffs)
        mask = np.arange(states.shape[1])[None, :] < lengths[:, None]
        step_rewards = (as_numpy(features).astype(np.float64)[states] @ truth.numpy()) * mask  # (N, T + 1), padding 0
        if teacher is None:
            config = TeacherConfig(beta=cfg.beta) if cfg.teacher == "boltzmann" else teacher_preset(cfg.teacher)
            simulated = SimulatedTeacher(config)
            if config.needs_scale:  # B-Pref's scale: the mean true return of the behaviour (here: the candidates)
                simulated = simulated.with_return_scale(float(step_rewards.sum(1).mean()))
            teacher = simulated
        strategy = query_strategy(cfg.strategy)

        settings = MHSettings(
            samples=cfg.samples,
            burn_in=cfg.burn_in,
            thin=cfg.thin,
            step_size=cfg.step_size,
            sphere=True,
            covariance="identity",
            report_every=max(cfg.samples + cfg.burn_in, 1),
        )
        chains = torch.nn.functional.normalize(torch.randn(cfg.chains, n_features, generator=gen, dtype=torch.float64), dim=1)
        samples = chains  # the prior's draws until the first answer
        asked = np.zeros(len(pairs), dtype=bool)
        asked_pairs: list[int] = []
        answered: list[int] = []
        answers: list[float] = []
        labels: list[float] = []
        history = History()
        result_chains: MHChains | None = None
        delta_all = torch.as_tensor(diffs, dtype=torch.float64)
        for n in range(min(cfg.queries, len(pairs))):
            free = np.flatnonzero(~asked)
            context = QueryContext(feature_diffs=diffs[free], weight_samples=samples.numpy(), beta=cfg.beta)
            pick = int(free[select_queries(strategy, len(free), 1, rng=query_rng, context=context, first_batch=n == 0)[0]])
            asked[pick] = True
            asked_pairs.append(pick)
            a, b = pairs[pick]
            out = teacher.label(step_rewards[a : a + 1], step_rewards[b : b + 1], rng=teacher_rng, pairs=pairs[pick : pick + 1])
            label = float(out.labels[0])
            labels.append(label)
            if not bool(out.skipped[0]):
                answered.append(pick)
                answers.append(label)
            idx = torch.as_tensor(answered, dtype=torch.long)
            y = torch.as_tensor(answers, dtype=torch.float64)
            result_chains = sample_weight_posterior(delta_all[idx], y, cfg.beta, chains, settings, generator=gen)
            chains = result_chains.samples[:, -1]  # each chain's last kept point starts the next query's chain
            settings = dataclasses.replace(settings, step_size=float(result_chains.step_size.mean()))
            samples = result_chains.samples.reshape(-1, n_features)
            mean = torch.nn.functional.normalize(samples.mean(0), dim=0)
            cosine = identified_cosine(mean.numpy(), truth.numpy(), basis)
            metrics = {
                "queries": float(n + 1),
                "cosine": cosine,
                "answered": float(len(answered)),
                "label": label,
                "acceptance": float(result_chains.acceptance.mean()),
            }
            history.log(n + 1, **metrics)
            if run_callback(callback, n, metrics):
                break
        assert result_chains is not None
        mean = torch.nn.functional.normalize(result_chains.samples.reshape(-1, n_features).mean(0), dim=0)
        reward = TabularReward.linear(features, mean.to(features.dtype))
        policy = value_iteration(mdp, reward.values).policy
        posterior = PreferencePosterior(result_chains.samples, result_chains.log_likelihood, result_chains.acceptance, cfg.beta)
        cosines = history["cosine"]
        rhat, ess = chain_diagnostics(result_chains.samples @ torch.as_tensor(basis))  # on the identified directions
        info: dict[str, Any] = {
            "queries_to_target": queries_to_reach(cosines, cfg.target),
            "target": cfg.target,
            "final_cosine": cosines[-1],
            "identified_dims": int(basis.shape[1]),
            "rhat_max": float(np.nanmax(rhat)) if np.isfinite(rhat).any() else float("nan"),
            "ess_min": float(np.nanmin(ess)) if np.isfinite(ess).any() else float("nan"),
            "candidate_trajectories": len(states),
            "candidate_pairs": len(pairs),
            "pairs": pairs[asked_pairs].tolist(),
            "labels": labels,
            "strategy": cfg.strategy,
            "teacher": cfg.teacher if teacher is None or isinstance(teacher, SimulatedTeacher) else type(teacher).__name__,
            "warnings": [],
        }
        if not info["rhat_max"] <= 1.1:  # NaN too: too few samples to tell
            info["warnings"].append(
                f"the posterior's chains have not mixed (split R-hat {info['rhat_max']:.2f} on the identified "
                "directions, > 1.1 or too few samples to tell): the reward and cosine use the posterior mean, which short chains estimate well, but do not "
                "read uncertainty from these samples; raise burn_in and samples for a posterior whose spread can be trusted"
            )
        if len(pairs) < cfg.queries:
            info["warnings"].append(
                f"only {len(pairs)} candidate pairs differ in their feature sums: asked {len(pairs)} of {cfg.queries} queries"
            )
        return FitResult(reward=reward, policy=policy, posterior=posterior, history=history, info=info)
