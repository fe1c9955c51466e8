"""Bayesian REX (Brown, Coleman, Srinivasan, Niekum, ICML 2020): a posterior over rewards from rankings,
fast because it never solves an MDP.

The reward is linear in features, ``R(s) = w^T phi(s)`` with ``||w|| = 1``, so a trajectory's return is
``w^T Phi(tau)`` with the feature counts ``Phi(tau) = sum_t phi(s_t)`` computed once. A ranking gives pairs
``tau_i ≺ tau_j`` and the Bradley–Terry likelihood

    ``P(D | w) = prod_{i ≺ j} exp(beta w^T Phi_j) / (exp(beta w^T Phi_i) + exp(beta w^T Phi_j))``,

sampled by the shared Metropolis–Hastings loop of :mod:`rewardlab.mcmc` on the unit sphere (Stan's
unit-vector transform: a random walk ``x' = x + sigma eps`` in ``R^D``, ``w = x / ||x||``), accepted with
probability ``min(1, P(D | w') / P(D | w))`` times the transform's radial factor (the uniform prior on the
sphere cancels). Each step is one ``(P, D) @ (D,)`` product over the cached differences ``Phi_j - Phi_i``.

The same likelihood runs on a :class:`~rewardlab.data.PreferenceDataset`: its answered pairs of segments
``(a, b)`` with ``delta = Phi(a) - Phi(b)`` and the label ``y = P(a ≻ b)`` as the target (a tie is half of
each direction, skipped labels are dropped).

``phi`` is a tabular MDP's state features, or, for Gymnasium envs, the penultimate layer of a T-REX net
pretrained on the same rankings (or preferences) (the paper's embedding; its self-supervised auxiliary losses are not
used here). The posterior gives MAP and mean rewards and **high-confidence policy evaluation**: the
``alpha``-VaR (the lower ``alpha`` quantile, 0.05 in the paper) of a policy's posterior return
``w^T Phi(pi)``; a policy whose mean return beats the demonstrations but whose VaR falls below theirs is
flagged as likely reward hacking. VaR and flags are undetermined (NaN, None) while the chains have not
mixed (rank-normalised split R-hat above 1.01 or bulk ESS below 400; one chain is split into halves).
:func:`reward_hacking_check` runs the whole check for a policy's rollouts against the ranking its reward
was learned from.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypedDict

import numpy as np
import torch
from torch import Tensor

from rewardlab._io import read_tensors, save_tensors
from rewardlab.checkpoint import Checkpoint, rng_state
from rewardlab.data.preferences import PreferenceDataset
from rewardlab.data.ranking import as_dataset, ranked_pairs, ranking_scores
from rewardlab.data.trajectory import TrajectoryDataset
from rewardlab.data.validate import validate_dataset, validate_labels
from rewardlab.errors import ConfigError, DataFileError, ShapeError, ValidationError
from rewardlab.learner import Callback, FitResult, History
from rewardlab.mcmc import MHSettings, chain_diagnostics, check_chain_memory, metropolis_hastings, mixing_problem
from rewardlab.mdp import TabularMDP, value_iteration
from rewardlab.prefs.losses import bradley_terry_log_likelihood
from rewardlab.prefs.trex import (
    TREX,
    TrajectoryEncoder,
    TREXConfig,
    answered_preferences,
    ranked_data,
    recorded_agreement,
    trex_ranking_warning,
)
from rewardlab.rewards import NeuralReward, TabularReward

__all__ = [
    "HACKING_CHECK_CONFIG",
    "BayesianREX",
    "BayesianREXConfig",
    "HackingCheck",
    "PreferenceLikelihood",
    "PreferencePosterior",
    "embed",
    "pair_log_likelihood",
    "reward_hacking_check",
    "reward_hacking_flags",
    "sample_brex",
    "trajectory_features",
]

_FORMAT = "rewardlab.PreferencePosterior"
#: What to do when the chain has not mixed (the warning's second half).
UNMIXED_ADVICE = "its VaR and reward-hacking flags are undetermined: raise burn_in and samples, add chains, set adapt=true, or lower beta"


class _PosteriorMeta(TypedDict):
    """The schema of a :class:`PreferencePosterior`'s ``posterior.json``."""

    format: str
    version: int
    beta: float
    shape: list[int]


@dataclass(frozen=True)
class BayesianREXConfig:
    """Hyperparameters of Bayesian REX (defaults: the paper's Atari settings).

    Attributes:
        beta: inverse temperature of the Bradley–Terry likelihood.
        samples: MCMC steps kept per chain after burn-in (before thinning).
        burn_in: steps discarded first.
        thin: keep every ``thin``-th step.
        chains: chains run together on the batch axis.
        step_size: std ``sigma`` of the Gaussian proposal before renormalising.
        adapt: adapt the proposal during burn-in: ``sigma`` toward ``target_accept`` and its shape as
            ``covariance`` says (the paper uses a fixed isotropic 0.005).
        target_accept: the acceptance rate adaptation aims at.
        covariance: with ``adapt``, the proposal shape adapted during burn-in (adaptive Metropolis, see
            :mod:`rewardlab.mcmc`): ``"auto"``, ``"dense"``, ``"diagonal"`` or ``"identity"``.
        estimate: ``"map"`` or ``"mean"``, the reward ``fit`` returns.
        pretrain: the T-REX settings of the embedding (Gymnasium envs only).
        device: ``"cpu"`` or ``"cuda"``.
        report_every: log and call the callback every this many steps.
    """

    beta: float = 1.0
    samples: int = 200_000
    burn_in: int = 5_000
    thin: int = 20
    chains: int = 1
    step_size: float = 0.005
    adapt: bool = False
    target_accept: float = 0.3
    covariance: Literal["auto", "dense", "diagonal", "identity"] = "auto"
    estimate: str = "map"
    pretrain: TREXConfig = field(default_factory=TREXConfig)
    device: str = "cpu"
    report_every: int = 10_000

    def __post_init__(self) -> None:
        for name in ("beta", "step_size"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ConfigError(name, f"is {value}", "use a positive finite number")
        for name in ("samples", "thin", "chains", "report_every"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"is {getattr(self, name)}", "use at least 1")
        if self.burn_in < 0:
            raise ConfigError("burn_in", f"is {self.burn_in}", "use 0 or more steps")
        if self.estimate not in ("map", "mean"):
            raise ConfigError("estimate", f"is {self.estimate!r}", "choose 'map' or 'mean'")
        if not 0 < self.target_accept < 1:
            raise ConfigError("target_accept", f"is {self.target_accept}", "use a rate in (0, 1)")
        if self.covariance not in ("auto", "dense", "diagonal", "identity"):
            raise ConfigError("covariance", f"is {self.covariance!r}", "choose 'auto', 'dense', 'diagonal' or 'identity'")
        check_chain_memory(self.chains, self.samples, self.thin, 1)  # before pretraining; the sampler checks the real dimension


# ============================================================================ pure maths
def pair_log_likelihood(weights: Tensor, delta: Tensor, label: Tensor, beta: float) -> Tensor:
    """Bradley–Terry log-likelihood of ranked pairs under linear rewards, ``(B,)``: the sum over pairs of
    :func:`~rewardlab.prefs.losses.bradley_terry_log_likelihood` at ``x = beta w^T delta_p``.

    ``sum_p [y_p log sigmoid(beta w^T delta_p) + (1 - y_p) log sigmoid(-beta w^T delta_p)]``.

    Args:
        weights: ``(B, D)`` reward weights.
        delta: ``(P, D)`` feature-count differences ``Phi(first) - Phi(second)``.
        label: ``(P,)`` ``P(first ≻ second)`` in {0, 0.5, 1}.
        beta: inverse temperature.

    Examples:
        >>> w = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> delta = torch.tensor([[2.0, -1.0]])  # first has more of feature 0, less of feature 1
        >>> pair_log_likelihood(w, delta, torch.tensor([1.0]), beta=1.0)  # log sigmoid(2), log sigmoid(-1)
        tensor([-0.1269, -1.3133])
    """
    validate_labels(label)
    return bradley_terry_log_likelihood(beta * (weights @ delta.T), label).sum(-1)


def reward_hacking_flags(mean: Any, var: Any, reference_mean: float, reference_var: float) -> np.ndarray:
    """Flag policies whose posterior mean return beats the reference (e.g. the best demonstration) while
    their ``alpha``-VaR falls below the reference's: high expected return that the posterior is not sure of.

    Returns an object array of True / False, and None (undetermined) where a VaR is NaN — as
    :meth:`PreferencePosterior.evaluate` reports it for chains that have not mixed.

    Examples:
        >>> reward_hacking_flags([5.0, 5.0, 1.0], [2.0, -3.0, -3.0], reference_mean=3.0, reference_var=0.0).tolist()
        [False, True, False]
        >>> reward_hacking_flags([5.0], [float("nan")], reference_mean=3.0, reference_var=0.0).tolist()
        [None]
    """
    m, v = np.asarray(mean, dtype=float), np.asarray(var, dtype=float)
    flags = (m > reference_mean) & (v < reference_var)
    unknown = np.isnan(v) | bool(np.isnan(reference_var))
    out = flags.astype(object)
    out[unknown] = None
    return out


# ============================================================================ the posterior
class PreferencePosterior:
    """MCMC samples of unit-norm reward weights given rankings.

    Attributes:
        samples: ``(C, N, D)`` kept weights.
        log_likelihood: ``(C, N)``.
        acceptance: ``(C,)`` acceptance rate after burn-in.
        beta: the likelihood's inverse temperature.
    """

    def __init__(self, samples: Tensor, log_likelihood: Tensor, acceptance: Tensor, beta: float) -> None:
        if samples.ndim != 3 or log_likelihood.shape != samples.shape[:2]:
            raise ShapeError("samples", f"has shape {tuple(samples.shape)}", "pass (C, N, D) with (C, N) log-likelihoods")
        self.samples, self.log_likelihood, self.acceptance, self.beta = samples, log_likelihood, acceptance, beta
        self._diagnostics: tuple[np.ndarray, np.ndarray] | None = None  # the samples never change: computed once

    @property
    def flat(self) -> Tensor:
        """``(C * N, D)`` all kept samples."""
        return self.samples.reshape(-1, self.samples.shape[-1])

    def map_weights(self) -> Tensor:
        """``(D,)`` the kept sample of highest likelihood (the prior is flat on the sphere)."""
        return self.flat[int(self.log_likelihood.reshape(-1).argmax())]

    def mean_weights(self) -> Tensor:
        """``(D,)`` the posterior mean, renormalised to unit length."""
        m = self.flat.mean(0)
        out: Tensor = m / m.norm().clamp_min(1e-12)
        return out

    def returns(self, feature_counts: Any) -> Tensor:
        """``(C * N, K)`` posterior samples of the returns ``w^T Phi_k`` of ``K`` policies' feature counts ``(K, D)``."""
        phi = torch.as_tensor(feature_counts, dtype=self.samples.dtype, device=self.samples.device)
        if phi.ndim != 2 or phi.shape[1] != self.samples.shape[-1]:
            raise ShapeError("feature_counts", f"has shape {tuple(phi.shape)}", f"pass (K, {self.samples.shape[-1]})")
        return self.flat @ phi.T

    def evaluate(self, feature_counts: Any, alpha: float = 0.05) -> dict[str, Any]:
        """High-confidence policy evaluation: posterior ``mean`` and ``var`` (the lower ``alpha`` quantile) of each return.

        ``reason`` is None when the chains have mixed; otherwise it says why they cannot be trusted and
        ``var`` is NaN (undetermined), so :func:`reward_hacking_flags` gives None.
        """
        if not 0 < alpha < 1:
            raise ValidationError("alpha", f"is {alpha}", "use a quantile level in (0, 1), e.g. 0.05")
        g = self.returns(feature_counts)
        reason = self.mixing()
        var = torch.quantile(g, alpha, dim=0).cpu().numpy()
        return {"mean": g.mean(0).cpu().numpy(), "var": np.full_like(var, np.nan) if reason else var, "reason": reason}

    def diagnostics(self) -> dict[str, np.ndarray | float]:
        """Rank-normalised split R-hat, bulk ESS per weight (ArviZ; one chain is split in halves) and the mean acceptance rate."""
        if self._diagnostics is None:
            self._diagnostics = chain_diagnostics(self.samples)
        rhat, ess = self._diagnostics
        return {"rhat": rhat, "ess": ess, "acceptance": float(self.acceptance.mean())}

    def mixing(self) -> str | None:
        """Why the chains cannot be trusted yet (max R-hat above 1.01 or bulk ESS below 400), or None."""
        diag = self.diagnostics()
        return mixing_problem(diag["rhat"], diag["ess"])

    def save(self, directory: str | Path) -> Path:
        """Write ``posterior.safetensors`` and ``posterior.json`` into ``directory`` as one unit; NaN or
        infinite samples raise :class:`ValidationError`."""
        meta = {"format": _FORMAT, "version": 1, "beta": self.beta, "shape": list(self.samples.shape)}
        tensors = {"samples": self.samples, "log_likelihood": self.log_likelihood, "acceptance": self.acceptance}
        return save_tensors(directory, "posterior", tensors, meta, finite=("samples",))

    @classmethod
    def load(cls, directory: str | Path) -> PreferencePosterior:
        """Read what :meth:`save` wrote; a missing, corrupt or foreign file raises :class:`DataFileError`."""
        meta, t = read_tensors(
            directory,
            "posterior",
            _FORMAT,
            "PreferencePosterior",
            schema=_PosteriorMeta,
            required=("samples", "log_likelihood", "acceptance"),
        )
        if list(t["samples"].shape) != meta.get("shape"):
            raise DataFileError(f"{directory}: samples have shape {list(t['samples'].shape)}, the JSON says {meta.get('shape')}")
        return cls(t["samples"], t["log_likelihood"], t["acceptance"], float(meta["beta"]))


# ============================================================================ the sampler
def sample_brex(
    delta: Any,
    label: Any,
    config: BayesianREXConfig,
    *,
    rng: np.random.Generator,
    callback: Callback | None = None,
    history: History | None = None,
    checkpoint: Checkpoint | None = None,
) -> PreferencePosterior:
    """Metropolis–Hastings on the unit sphere over ``P(w | ranked pairs)``.

    Args:
        delta: ``(P, D)`` feature-count differences of the ranked pairs, ``Phi(first) - Phi(second)``.
        label: ``(P,)`` ``P(first ≻ second)`` in {0, 0.5, 1} (anything else raises ValidationError).
        config: sampler settings.
        rng: seeds proposals and acceptances.
        callback: ``callback(step, metrics) -> stop?`` every ``config.report_every`` steps.
        checkpoint: save and resume the chain (:func:`rewardlab.mcmc.metropolis_hastings`).

    Returns:
        :class:`PreferencePosterior` with ``(chains, samples // thin, D)`` samples.
    """
    device = torch.device(config.device)
    dt = torch.as_tensor(np.asarray(delta) if not isinstance(delta, Tensor) else delta, dtype=torch.float64, device=device)
    y = torch.as_tensor(np.asarray(label) if not isinstance(label, Tensor) else label, dtype=torch.float64, device=device)
    if dt.ndim != 2 or y.shape != (dt.shape[0],):
        raise ShapeError("delta", f"has shape {tuple(dt.shape)} with labels {tuple(y.shape)}", "pass (P, D) differences and (P,) labels")
    if not bool(torch.isfinite(dt).all()):
        raise ValidationError("delta", "contains NaN or inf", "pass finite feature counts")
    validate_labels(y)
    b, d = config.chains, dt.shape[1]
    if checkpoint is not None:
        checkpoint = checkpoint.bind("brex", config, dt, y, rng_state(rng))
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    w = torch.randn(b, d, generator=gen, dtype=torch.float64).to(device)
    w = w / w.norm(dim=1, keepdim=True)
    settings = MHSettings(
        samples=config.samples,
        burn_in=config.burn_in,
        thin=config.thin,
        step_size=config.step_size,
        adapt=config.adapt,
        target_accept=config.target_accept,
        covariance=config.covariance,
        sphere=True,
        report_every=config.report_every,
    )
    target = PreferenceLikelihood(config.beta * dt, y)
    chains = metropolis_hastings(target, w, settings, generator=gen, callback=callback, history=history, checkpoint=checkpoint)
    return PreferencePosterior(chains.samples, chains.log_likelihood, chains.acceptance, config.beta)


class PreferenceLikelihood:
    """The posterior of a linear reward's unit weights ``w`` given preferences, as a
    :class:`rewardlab.mcmc.Target`: Bradley–Terry likelihood ``prod_p P(label_p | beta w · delta_p)`` of the
    pairs (B-REX's ranked pairs, the active linear learner's answers), uniform prior on the sphere (log-prior
    0), no state. It depends on ``w`` only through ``x = beta * delta @ w``, so ``beta * delta`` ``(P, D)`` is
    kept once; ``label`` ``(P,)`` holds ``P(a ≻ b)`` in {0, 0.5, 1}."""

    def __init__(self, scaled_delta: Tensor, label: Tensor) -> None:
        self.bd, self.label = scaled_delta, label

    def evaluate(self, theta: Tensor, current: Any) -> tuple[Tensor, Tensor, None]:
        ll = bradley_terry_log_likelihood(theta @ self.bd.T, self.label).sum(-1)
        return ll, torch.zeros_like(ll), None

    def select(self, accept: Tensor, proposed: Any, current: Any) -> None:
        return None


# ============================================================================ embeddings
@torch.no_grad()
def embed(model: NeuralReward, obs: Tensor, act: Tensor | None = None, *, member: int = 0, batch: int = 4096) -> Tensor:
    """``(B, D)`` the input of a member's last linear layer: the learned features ``phi(s)`` of B-REX."""
    net = model.member(member)
    return torch.cat([net.features(obs[k : k + batch], None if act is None else act[k : k + batch]) for k in range(0, len(obs), batch)])


def trajectory_features(dataset: Any, env_or_mdp: Any, embedding: NeuralReward | None = None) -> Tensor:
    """``(N, D)`` feature counts ``Phi(tau) = sum_t phi(s_t)`` of each trajectory: the MDP's state features,
    or ``embedding``'s penultimate layer (Gymnasium envs). Posterior returns are ``w^T Phi``, so these are
    what :meth:`PreferencePosterior.evaluate` takes for any policy's rollouts. Of a
    :class:`~rewardlab.data.PreferenceDataset`, the ``(2 N, D)`` counts of its segments (``2k``:
    preference ``k``'s ``a``, ``2k + 1``: its ``b``)."""
    ds = dataset if isinstance(dataset, PreferenceDataset) else as_dataset(dataset)
    if isinstance(env_or_mdp, TabularMDP):
        obs, _, _, lengths = TrajectoryEncoder.for_env(env_or_mdp, architecture="linear").encode(ds)
        phi = obs.double()
    else:
        if embedding is None:
            raise ValidationError("embedding", "is None for a Gymnasium env", "pass the reward net whose features to use")
        spec = embedding.spec
        encoder = TrajectoryEncoder.for_reward(env_or_mdp, embedding)
        obs, acts, _, lengths = encoder.encode(ds)
        dev = embedding.offset.device
        phi = embed(embedding, obs.to(dev), acts.to(dev) if spec.uses_action else None).double().cpu()
    seg = torch.as_tensor(np.repeat(np.arange(len(lengths)), lengths))
    return torch.zeros(len(lengths), phi.shape[1], dtype=torch.float64).index_add_(0, seg, phi)


def _linear_head_reward(model: NeuralReward, weights: Tensor, member: int = 0) -> NeuralReward:
    """A one-member copy of ``model``'s member whose last layer is ``weights`` (no bias)."""
    out = NeuralReward(model.spec, members=1)
    out.member(0).load_state_dict(copy.deepcopy(model.member(member).state_dict()))
    last = out.member(0).last_layer
    with torch.no_grad():
        last.weight.copy_(weights.reshape(1, -1).to(last.weight))
        if last.bias is not None:
            last.bias.zero_()
    return out.eval()


# ============================================================================ the learner
@dataclass
class BayesianREX:
    """Bayesian REX with the estimator shape of :mod:`rewardlab.learner`.

    ``fit(data, env_or_mdp, *, rng, scores=None, embedding=None)``: ``data`` is a
    :class:`~rewardlab.data.Ranking` or ranked trajectories (``infos["rank"]`` or ``scores``, higher =
    better): every pair of different rank; or a :class:`~rewardlab.data.PreferenceDataset`: its answered
    pairs of segments (ties as 0.5 targets, skipped labels dropped, checked by
    :func:`~rewardlab.prefs.trex.answered_preferences`). On a tabular MDP ``phi`` is the MDP's features;
    on a Gymnasium env it is ``embedding``'s penultimate layer, or a T-REX net pretrained first on the
    same data.

    Examples:
        >>> from rewardlab.mdp.worlds import chain
        >>> from rewardlab.data import Trajectory
        >>> mdp = chain(3, discount=0.9).replace(features=torch.eye(3))
        >>> demos = [Trajectory(np.array([s] * 5), np.zeros(4, int), infos={"rank": s}) for s in range(3)]
        >>> cfg = BayesianREXConfig(samples=4000, burn_in=500, thin=4, step_size=0.2)
        >>> fit = BayesianREX(cfg).fit(demos, mdp, rng=np.random.default_rng(0))
        >>> fit.reward.values.argsort().tolist()
        [0, 1, 2]
    """

    config: BayesianREXConfig = field(default_factory=BayesianREXConfig)

    def fit(
        self,
        data: Any,
        env_or_mdp: Any,
        *,
        rng: np.random.Generator,
        callback: Callback | None = None,
        scores: Any = None,
        embedding: NeuralReward | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> FitResult:
        """Sample the posterior over reward weights given ranked trajectories or preferences ``data``.

        With ``checkpoint``, a killed fit run again with the same settings, data and seed resumes: the
        T-REX pretraining (Gymnasium envs) from its checkpoints in the subdirectory ``pretrain``
        (a finished pretraining is restored, not redone), then the chains from theirs.
        """
        cfg = self.config
        ds: TrajectoryDataset | PreferenceDataset
        if isinstance(data, PreferenceDataset):
            ds = answered_preferences(data, env_or_mdp, scores)
            s = None
            info: dict[str, Any] = {"skipped": data.n_skipped, "segments": 2 * len(ds)}
        else:
            ds = validate_dataset(ranked_data(data, scores), env_or_mdp)
            s = ranking_scores(ds, scores)
            info = {}
        if not isinstance(env_or_mdp, TabularMDP) and embedding is None:
            pre = TREX(cfg.pretrain).fit(
                ds, env_or_mdp, rng=rng, scores=s, checkpoint=None if checkpoint is None else checkpoint.child("pretrain")
            )
            embedding = pre.reward
            info["pretrain"] = {k: v for k, v in pre.info.items() if k != "spec"}
        counts = trajectory_features(ds, env_or_mdp, embedding)
        if isinstance(ds, PreferenceDataset):  # segment 2k is preference k's a, 2k + 1 its b
            first, second, label = np.arange(0, len(counts), 2), np.arange(1, len(counts), 2), ds.labels()
        else:
            first, second, label = ranked_pairs(s)
        if not len(first):
            raise ValidationError("scores", "rank every trajectory equally", "pass at least two trajectories of different rank")
        delta = counts[first] - counts[second]
        history = History()
        posterior = sample_brex(delta, label, cfg, rng=rng, callback=callback, history=history, checkpoint=checkpoint)
        w = posterior.map_weights() if cfg.estimate == "map" else posterior.mean_weights()
        diag = posterior.diagnostics()
        problem = mixing_problem(diag["rhat"], diag["ess"])
        # B-REX assumes, as T-REX does, that returns rise with rank
        agreement = None if s is None else recorded_agreement(ds, s)  # type: ignore[arg-type]
        warnings = [w for w in (trex_ranking_warning(agreement, "B-REX"),) if w]
        if problem is not None:
            warnings.append(f"B-REX: {problem}; {UNMIXED_ADVICE}")
        info.update(
            {
                "ranking_tau": None if agreement is None else agreement.tau,
                "acceptance": diag["acceptance"],
                "rhat_max": float(np.nanmax(diag["rhat"])) if np.isfinite(diag["rhat"]).any() else float("nan"),
                "ess_min": float(np.nanmin(diag["ess"])) if np.isfinite(diag["ess"]).any() else float("nan"),
                "pairs": len(first),
                "feature_counts": counts,
                "warnings": [*info.get("warnings", []), *warnings],
            }
        )
        if isinstance(env_or_mdp, TabularMDP):
            reward = TabularReward.linear(env_or_mdp.features, w.to(env_or_mdp.dtype))  # type: ignore[arg-type]
            policy = value_iteration(env_or_mdp, reward.values).policy
            return FitResult(reward=reward, policy=policy, posterior=posterior, history=history, info=info)
        assert embedding is not None
        return FitResult(reward=_linear_head_reward(embedding, w.float()), posterior=posterior, history=history, info=info)


# ============================================================================ the reward-hacking check
#: The sampler settings of :func:`reward_hacking_check` (the T-REX MuJoCo benchmark's): 20,000 steps after
#: 2,000 of burn-in, every 10th kept.
HACKING_CHECK_CONFIG = BayesianREXConfig(samples=20_000, burn_in=2_000, thin=10)


@dataclass(frozen=True)
class HackingCheck:
    """What :func:`reward_hacking_check` found.

    Attributes:
        policy_mean: posterior mean of the policy's return ``w^T Phi(pi)``, ``Phi(pi)`` the mean feature
            counts of its rollouts.
        policy_var: its ``alpha``-VaR (the lower ``alpha`` quantile); NaN when the chains have not mixed.
        top_mean: posterior mean return of the top-ranked trajectories (their mean feature counts).
        top_var: their ``alpha``-VaR; NaN when the chains have not mixed.
        flagged: True (likely reward hacking: ``policy_mean > top_mean`` and ``policy_var < top_var``),
            False, or None (undetermined: the chains have not mixed).
        reason: why ``flagged`` is None, else None.
        alpha: the VaR's quantile level.
        rhat_max: the largest rank-normalised split R-hat of the posterior's weights.
        warnings: B-REX's warnings (unmixed chains, a ranking that disagrees with the returns).
    """

    policy_mean: float
    policy_var: float
    top_mean: float
    top_var: float
    flagged: bool | None
    reason: str | None
    alpha: float
    rhat_max: float
    warnings: tuple[str, ...] = ()


def reward_hacking_check(
    ranked: Any,
    rollouts: Any,
    env_or_mdp: Any,
    *,
    rng: np.random.Generator,
    embedding: NeuralReward | None = None,
    scores: Any = None,
    config: BayesianREXConfig = HACKING_CHECK_CONFIG,
    alpha: float = 0.05,
) -> HackingCheck:
    """Does a policy look like it hacks its learned reward? A check that needs no true reward.

    Bayesian REX (Brown et al. 2020, section 5.3 and the Atari reward-hacking example) samples the
    posterior over linear rewards ``w^T phi`` given the ranking, with ``phi`` the MDP's state features or,
    on a Gymnasium env, the penultimate layer of ``embedding`` (the learned reward net whose policy is
    checked). The policy's posterior return is ``w^T Phi(pi)`` with ``Phi(pi)`` the mean feature counts of
    its ``rollouts``; the reference is the top-ranked trajectories' ``w^T Phi(top)``. The policy is flagged
    when its posterior mean beats the reference's while its ``alpha``-VaR falls below it
    (:func:`reward_hacking_flags`): a high return that the rankings do not vouch for.

    Args:
        ranked: the ranked trajectories the reward was learned from (``infos["rank"]`` or ``scores``,
            higher = better).
        rollouts: the policy's trajectories (at least one), for the same MDP or env.
        env_or_mdp: a :class:`~rewardlab.mdp.TabularMDP` with state features, or a Gymnasium env /
            env id / ``(observation_space, action_space)``.
        rng: seeds the sampler (and a T-REX pretraining when ``embedding`` is None on an env).
        embedding: the learned reward net whose last layer the posterior is over (Gymnasium envs; None:
            B-REX pretrains one on ``ranked``).
        scores: ``(N,)`` ranking scores of ``ranked``, overriding ``infos["rank"]``.
        config: the B-REX sampler (default :data:`HACKING_CHECK_CONFIG`).
        alpha: the VaR's quantile level, in (0, 1).

    Returns:
        :class:`HackingCheck`.

    Raises:
        ValidationError: an ``alpha`` outside (0, 1), no rollouts, trajectories that do not fit
            ``env_or_mdp``, or a ranking with a single rank.

    Examples:
        Action ``a`` moves to state ``a``; the ranking rewards time in state 1 (features ``(1, 0)``) and says
        nothing about the second feature, which state 2 ``(0.9, 1)`` also has:

        >>> from rewardlab.data import Trajectory
        >>> mdp = TabularMDP(successors=np.tile(np.arange(3)[None, :, None], (3, 1, 1)), probabilities=np.ones((3, 3, 1)),
        ...                  initial=[1.0, 0.0, 0.0], discount=0.9, features=torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.9, 1.0]]))
        >>> ranked = [Trajectory(np.array([0] * (5 - k) + [1] * k), np.array([0] * (4 - k) + [1] * k), infos={"rank": k}) for k in range(5)]
        >>> cfg = BayesianREXConfig(samples=4000, burn_in=1000, thin=2, chains=2, step_size=0.5, adapt=True)
        >>> for state in (1, 2):  # a policy that stays in state 1, one that stays in state 2
        ...     stay = [Trajectory(np.array([0] + [state] * 8), np.full(8, state))]
        ...     print(reward_hacking_check(ranked, stay, mdp, rng=np.random.default_rng(0), config=cfg).flagged)
        False
        True
    """
    if not 0 < alpha < 1:
        raise ValidationError("alpha", f"is {alpha}", "use a quantile level in (0, 1), e.g. 0.05")
    ds = validate_dataset(ranked, env_or_mdp, name="ranked")
    runs = validate_dataset(rollouts, env_or_mdp, name="rollouts")
    s = ranking_scores(ds, scores)
    fit = BayesianREX(config).fit(ds, env_or_mdp, rng=rng, scores=s, embedding=embedding)
    tabular = isinstance(env_or_mdp, TabularMDP)
    net = None if tabular else (embedding if embedding is not None else fit.reward)
    counts = fit.info["feature_counts"]
    top = counts[torch.as_tensor(s == s.max())].mean(0)
    policy = trajectory_features(runs, env_or_mdp, net).mean(0)
    ev = fit.posterior.evaluate(torch.stack([policy, top]).cpu(), alpha)
    flag = reward_hacking_flags(ev["mean"][:1], ev["var"][:1], float(ev["mean"][1]), float(ev["var"][1]))[0]
    return HackingCheck(
        policy_mean=float(ev["mean"][0]),
        policy_var=float(ev["var"][0]),
        top_mean=float(ev["mean"][1]),
        top_var=float(ev["var"][1]),
        flagged=None if flag is None else bool(flag),
        reason=ev["reason"],
        alpha=alpha,
        rhat_max=float(fit.info["rhat_max"]),
        warnings=tuple(fit.info.get("warnings", [])),
    )
