"""Bayesian REX (Brown, Coleman, Srinivasan, Niekum, ICML 2020): a posterior over rewards from rankings,
fast because it never solves an MDP.

The reward is linear in features, ``R(s) = w^T phi(s)`` with ``||w|| = 1``, so a trajectory's return is
``w^T Phi(tau)`` with the feature counts ``Phi(tau) = sum_t phi(s_t)`` computed once. A ranking gives pairs
``tau_i ≺ tau_j`` and the Bradley–Terry likelihood

    ``P(D | w) = prod_{i ≺ j} exp(beta w^T Phi_j) / (exp(beta w^T Phi_i) + exp(beta w^T Phi_j))``,

sampled by Metropolis–Hastings on the unit sphere: ``w' = normalise(w + sigma eps)`` (symmetric), accepted
with probability ``min(1, P(D | w') / P(D | w))`` (the uniform prior on the sphere cancels). Each step is
one ``(P, D) @ (D,)`` product over the cached differences ``Phi_j - Phi_i``.

``phi`` is a tabular MDP's state features, or, for Gymnasium envs, the penultimate layer of a T-REX net
pretrained on the same rankings (the paper's embedding; its self-supervised auxiliary losses are not
used here). The posterior gives MAP and mean rewards and **high-confidence policy evaluation**: the
``alpha``-VaR (the lower ``alpha`` quantile, 0.05 in the paper) of a policy's posterior return
``w^T Phi(pi)``; a policy whose mean return beats the demonstrations but whose VaR falls below theirs is
flagged as likely reward hacking.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rewardlab._io import read_tensors, save_tensors
from rewardlab.data.ranking import as_dataset, ranked_pairs, ranking_scores
from rewardlab.errors import ConfigError, DataFileError, ShapeError, ValidationError
from rewardlab.irl.bayesian import chain_diagnostics
from rewardlab.learner import Callback, FitResult, History, run_callback
from rewardlab.mdp import TabularMDP, value_iteration
from rewardlab.prefs.trex import TREX, TrajectoryEncoder, TREXConfig
from rewardlab.rewards import NeuralReward, TabularReward

__all__ = [
    "BayesianREX",
    "BayesianREXConfig",
    "PreferencePosterior",
    "embed",
    "pair_log_likelihood",
    "reward_hacking_flags",
    "sample_brex",
    "trajectory_features",
]

_FORMAT = "rewardlab.PreferencePosterior"


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
        adapt: adapt ``sigma`` during burn-in toward ``target_accept`` (the paper uses a fixed 0.005).
        target_accept: the acceptance rate adaptation aims at.
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


# ============================================================================ pure maths
def pair_log_likelihood(weights: Tensor, delta: Tensor, label: Tensor, beta: float) -> Tensor:
    """Bradley–Terry log-likelihood of ranked pairs under linear rewards, ``(B,)``.

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
    x = beta * (weights @ delta.T)
    out: Tensor = (label * F.logsigmoid(x) + (1 - label) * F.logsigmoid(-x)).sum(-1)
    return out


def reward_hacking_flags(mean: Any, var: Any, reference_mean: float, reference_var: float) -> np.ndarray:
    """Flag policies whose posterior mean return beats the reference (e.g. the best demonstration) while
    their ``alpha``-VaR falls below the reference's: high expected return that the posterior is not sure of.

    Examples:
        >>> reward_hacking_flags([5.0, 5.0, 1.0], [2.0, -3.0, -3.0], reference_mean=3.0, reference_var=0.0).tolist()
        [False, True, False]
    """
    return (np.asarray(mean, dtype=float) > reference_mean) & (np.asarray(var, dtype=float) < reference_var)


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

    def evaluate(self, feature_counts: Any, alpha: float = 0.05) -> dict[str, np.ndarray]:
        """High-confidence policy evaluation: posterior ``mean`` and ``var`` (the lower ``alpha`` quantile) of each return."""
        if not 0 < alpha < 1:
            raise ValidationError("alpha", f"is {alpha}", "use a quantile level in (0, 1), e.g. 0.05")
        g = self.returns(feature_counts)
        return {"mean": g.mean(0).cpu().numpy(), "var": torch.quantile(g, alpha, dim=0).cpu().numpy()}

    def diagnostics(self) -> dict[str, np.ndarray | float]:
        """R-hat, bulk ESS per weight (ArviZ) and the mean acceptance rate."""
        rhat, ess = chain_diagnostics(self.samples)
        return {"rhat": rhat, "ess": ess, "acceptance": float(self.acceptance.mean())}

    def save(self, directory: str | Path) -> Path:
        """Write ``posterior.safetensors`` and ``posterior.json`` into ``directory``, atomically."""
        meta = {"format": _FORMAT, "version": 1, "beta": self.beta, "shape": list(self.samples.shape)}
        tensors = {"samples": self.samples, "log_likelihood": self.log_likelihood, "acceptance": self.acceptance}
        return save_tensors(directory, "posterior", tensors, meta)

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
) -> PreferencePosterior:
    """Metropolis–Hastings on the unit sphere over ``P(w | ranked pairs)``.

    Args:
        delta: ``(P, D)`` feature-count differences of the ranked pairs, ``Phi(first) - Phi(second)``.
        label: ``(P,)`` ``P(first ≻ second)``.
        config: sampler settings.
        rng: seeds proposals and acceptances.
        callback: ``callback(step, metrics) -> stop?`` every ``config.report_every`` steps.

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
    b, d = config.chains, dt.shape[1]
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    w = torch.randn(b, d, generator=gen, dtype=torch.float64).to(device)
    w = w / w.norm(dim=1, keepdim=True)
    # the likelihood depends on w only through x = beta * delta @ w; keep beta * delta once
    bd = config.beta * dt
    pos, neg = y, 1 - y

    def log_lik(weights: Tensor) -> Tensor:
        x = weights @ bd.T
        return (pos * F.logsigmoid(x) + neg * F.logsigmoid(-x)).sum(-1)

    ll = log_lik(w)
    kept = config.samples // config.thin
    out_w = torch.empty(b, kept, d, dtype=torch.float64, device=device)
    out_ll = torch.empty(b, kept, dtype=torch.float64, device=device)
    accepted = torch.zeros(b, dtype=torch.float64, device=device)
    log_step = torch.full((b, 1), math.log(config.step_size), dtype=torch.float64, device=device)
    total = config.burn_in + config.samples
    history = history if history is not None else History()
    chunk = 1024
    window = torch.zeros(b, dtype=torch.float64, device=device)
    for start in range(0, total, chunk):
        m = min(chunk, total - start)
        noise = torch.randn(m, b, d, generator=gen, dtype=torch.float64).to(device)
        log_u = torch.log(torch.rand(m, b, generator=gen, dtype=torch.float64)).to(device)
        for i in range(m):
            step = start + i
            prop = w + torch.exp(log_step) * noise[i]
            prop = prop / prop.norm(dim=1, keepdim=True)
            ll_prop = log_lik(prop)
            accept = log_u[i] < ll_prop - ll
            w = torch.where(accept[:, None], prop, w)
            ll = torch.where(accept, ll_prop, ll)
            window += accept
            if step < config.burn_in:
                if config.adapt:
                    log_step += ((accept.to(torch.float64) - config.target_accept) / (step + 1) ** 0.6)[:, None]
            else:
                accepted += accept
                j, r = divmod(step - config.burn_in, config.thin)
                if r == config.thin - 1:
                    out_w[:, j], out_ll[:, j] = w, ll
            if (step + 1) % config.report_every == 0 or step + 1 == total:
                since = step % config.report_every + 1
                metrics = {"log_likelihood": float(ll.mean()), "acceptance": float(window.mean()) / since}
                window.zero_()
                history.log(step + 1, **metrics)
                if run_callback(callback, step + 1, metrics):
                    done = max(0, step + 1 - config.burn_in) // config.thin
                    after = max(1, step + 1 - config.burn_in)
                    if done == 0:
                        return PreferencePosterior(w[:, None], ll[:, None], accepted / after, config.beta)
                    return PreferencePosterior(out_w[:, :done], out_ll[:, :done], accepted / after, config.beta)
    return PreferencePosterior(out_w, out_ll, accepted / max(1, config.samples), config.beta)


# ============================================================================ embeddings
@torch.no_grad()
def embed(model: NeuralReward, obs: Tensor, act: Tensor | None = None, *, member: int = 0, batch: int = 4096) -> Tensor:
    """``(B, D)`` the input of a member's last linear layer: the learned features ``phi(s)`` of B-REX."""
    net = model.member(member)
    return torch.cat([net.features(obs[k : k + batch], None if act is None else act[k : k + batch]) for k in range(0, len(obs), batch)])


def trajectory_features(dataset: Any, env_or_mdp: Any, embedding: NeuralReward | None = None) -> Tensor:
    """``(N, D)`` feature counts ``Phi(tau) = sum_t phi(s_t)`` of each trajectory: the MDP's state features,
    or ``embedding``'s penultimate layer (Gymnasium envs). Posterior returns are ``w^T Phi``, so these are
    what :meth:`PreferencePosterior.evaluate` takes for any policy's rollouts."""
    ds = as_dataset(dataset)
    if isinstance(env_or_mdp, TabularMDP):
        obs, _, _ = TrajectoryEncoder.for_env(env_or_mdp, architecture="linear").observations(ds)
        phi = obs.double()
    else:
        if embedding is None:
            raise ValidationError("embedding", "is None for a Gymnasium env", "pass the reward net whose features to use")
        spec = embedding.spec
        encoder = TrajectoryEncoder.for_reward(env_or_mdp, embedding)
        obs, acts, _ = encoder.observations(ds)
        dev = embedding.offset.device
        phi = embed(embedding, obs.to(dev), acts.to(dev) if spec.uses_action else None).double().cpu()
    seg = torch.as_tensor(np.repeat(np.arange(len(ds)), [len(tr) for tr in ds]))
    return torch.zeros(len(ds), phi.shape[1], dtype=torch.float64).index_add_(0, seg, phi)


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

    ``fit(data, env_or_mdp, *, rng, scores=None, embedding=None)``: ``data`` are ranked trajectories
    (``infos["rank"]`` or ``scores``, higher = better). On a tabular MDP ``phi`` is the MDP's features;
    on a Gymnasium env it is ``embedding``'s penultimate layer, or a T-REX net pretrained first.

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
    ) -> FitResult:
        cfg = self.config
        ds = as_dataset(data)
        s = ranking_scores(ds, scores)
        info: dict[str, Any] = {}
        if not isinstance(env_or_mdp, TabularMDP) and embedding is None:
            pre = TREX(cfg.pretrain).fit(ds, env_or_mdp, rng=rng, scores=s)
            embedding = pre.reward
            info["pretrain"] = {k: v for k, v in pre.info.items() if k != "spec"}
        counts = trajectory_features(ds, env_or_mdp, embedding)
        first, second, label = ranked_pairs(s)
        if not len(first):
            raise ValidationError("scores", "rank every trajectory equally", "pass at least two trajectories of different rank")
        delta = counts[first] - counts[second]
        history = History()
        posterior = sample_brex(delta, label, cfg, rng=rng, callback=callback, history=history)
        w = posterior.map_weights() if cfg.estimate == "map" else posterior.mean_weights()
        diag = posterior.diagnostics()
        info.update(
            {
                "acceptance": diag["acceptance"],
                "ess_min": float(np.nanmin(diag["ess"])) if np.isfinite(diag["ess"]).any() else float("nan"),
                "pairs": len(first),
                "feature_counts": counts,
            }
        )
        if isinstance(env_or_mdp, TabularMDP):
            reward = TabularReward.linear(env_or_mdp.features, w.to(env_or_mdp.dtype))  # type: ignore[arg-type]
            policy = value_iteration(env_or_mdp, reward.values).policy
            return FitResult(reward=reward, policy=policy, posterior=posterior, history=history, info=info)
        assert embedding is not None
        return FitResult(reward=_linear_head_reward(embedding, w.float()), posterior=posterior, history=history, info=info)
