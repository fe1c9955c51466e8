"""The posterior over rewards of Bayesian IRL, and what is computed from it.

A :class:`RewardPosterior` holds the kept MCMC samples of the reward parameters ``theta`` ``(C, N, D)``
(``C`` chains of ``N`` samples), their log-likelihoods and log-priors, and the MDP the rewards live in;
:class:`RewardDesign` says how ``theta`` becomes a reward table (linear in state features, one value per
state, or one per state-action). From the samples it gives:

* point estimates: the MAP sample and the posterior mean reward;
* the optimal policies of the samples (exact ``Q*`` of every sample by warm-started policy iteration,
  :class:`~rewardlab.mdp.policy_walk.PolicyWalkSolver`): the posterior probability that each action is
  optimal, and the action entropy of Lopes et al. (2009) that active learning queries;
* values of a policy under the posterior: ``V^pi_R(rho)`` per sample, credible intervals, the expected
  value difference ``V*_R - V^pi_R`` and its alpha-Value-at-Risk (Brown & Niekum 2018);
* mixing diagnostics (rank-normalised split R-hat and bulk ESS, Vehtari et al. 2021) and trace plots;
* ``save`` / ``load`` as ``posterior.safetensors`` + ``posterior.json`` (schema ``_PosteriorMeta``), one unit.

References:
    Deepak Ramachandran and Eyal Amir, "Bayesian Inverse Reinforcement Learning", IJCAI 2007.
    Daniel S. Brown, Scott Niekum, "Efficient Probabilistic Performance Bounds for Inverse
    Reinforcement Learning", AAAI 2018 (the alpha-VaR of a policy's EVD).
    Manuel Lopes, Francisco Melo, Luis Montesano, "Active Learning for Reward Estimation in Inverse
    Reinforcement Learning", ECML PKDD 2009 (action entropy).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import torch
from torch import Tensor

from rewardlab._io import read_tensors, save_tensors
from rewardlab.errors import DataFileError, ValidationError
from rewardlab.eval.metrics import resolve_start
from rewardlab.mcmc import MIN_BULK_ESS, chain_diagnostics, mixing_problem
from rewardlab.mdp import TabularMDP, policy_evaluation, value_iteration
from rewardlab.mdp.policy_walk import Q_FEATURE_BUDGET, PolicyWalkSolver
from rewardlab.rewards import TabularReward

__all__ = ["RewardDesign", "RewardPosterior", "reward_design"]

_FORMAT = "rewardlab.RewardPosterior"


class _PosteriorMeta(TypedDict):
    """The schema of a :class:`RewardPosterior`'s ``posterior.json``."""

    format: str
    version: int
    kind: str
    beta: float
    shape: list[int]
    n_states: int


# ============================================================================ reward parameterisation
@dataclass(frozen=True)
class RewardDesign:
    """How parameters ``theta`` ``(B, D)`` become reward tables.

    Attributes:
        kind: ``"linear"`` (``r(s) = phi(s) . theta``, ``D = F``), ``"state"`` (``r(s) = theta_s``, ``D = S``)
            or ``"state_action"`` (``r(s, a) = theta_{s A + a}``, ``D = S A``).
        n_states, n_actions: the MDP's sizes.
        features: the state features ``phi`` ``(S, F)`` for ``"linear"``, else None.
        dtype, device: of the reward tables.

    Examples:
        >>> from rewardlab.mdp.worlds import chain
        >>> design = reward_design(chain(2, discount=0.5), "state_action")
        >>> design.dim, design.table(torch.arange(4.0)[None]).tolist()
        (4, [[[0.0, 1.0], [2.0, 3.0]]])
    """

    kind: str
    n_states: int
    n_actions: int
    features: Tensor | None
    dtype: torch.dtype
    device: torch.device

    @property
    def dim(self) -> int:
        """``D``, the number of parameters."""
        if self.kind == "linear":
            assert self.features is not None
            return int(self.features.shape[1])
        return self.n_states * (self.n_actions if self.kind == "state_action" else 1)

    def table(self, theta: Tensor) -> Tensor:
        """Reward tables ``(B, S)`` or ``(B, S, A)`` of parameters ``theta`` ``(B, D)``."""
        if self.kind == "linear":
            assert self.features is not None
            return theta @ self.features.T
        if self.kind == "state":
            return theta
        return theta.view(-1, self.n_states, self.n_actions)

    def solver_features(self) -> Tensor:
        """The features ``phi`` with ``reward = phi . theta``, as :class:`~rewardlab.mdp.policy_walk.PolicyWalkSolver`
        takes them: ``(S, F)`` (linear), the identity ``(S, S)`` (state) or ``(S, A, S A)`` (state-action)."""
        if self.kind == "linear":
            assert self.features is not None
            return self.features
        n = self.n_states * (self.n_actions if self.kind == "state_action" else 1)
        eye = torch.eye(n, dtype=self.dtype, device=self.device)
        return eye if self.kind == "state" else eye.view(self.n_states, self.n_actions, n)


def reward_design(mdp: TabularMDP, kind: str) -> RewardDesign:
    """The :class:`RewardDesign` of ``kind`` in ``mdp``; ``"linear"`` needs the MDP's state features."""
    if kind == "linear" and mdp.features is None:
        raise ValidationError("mdp.features", "is None but reward='linear'", "give the MDP state features or use reward='state'")
    features = None if kind != "linear" or mdp.features is None else mdp.features.to(mdp.dtype)
    return RewardDesign(kind, mdp.n_states, mdp.n_actions, features, mdp.dtype, mdp.device)


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
        self._design = reward_design(mdp, kind)
        self._cache: dict[str, Tensor] = {}
        self._diagnostics: tuple[np.ndarray, np.ndarray] | None = None  # the samples never change: computed once

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
            if per_sample <= Q_FEATURE_BUDGET // 64:
                # policy iteration from the MAP reward's optimal policy; samples sharing a policy share a solve
                solver = PolicyWalkSolver(mdp, design.solver_features())
                start = value_iteration(mdp, self.map_reward().values).policy.argmax(-1)
                qfeat0 = solver.q_features(start.unsqueeze(0))
                for chunk in torch.split(self.flat(), max(1, Q_FEATURE_BUDGET // (4 * per_sample))):
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
        return values if per_state else values @ resolve_start(self.mdp, initial)

    def optimal_values(self, *, initial: Any = "mdp", per_state: bool = False) -> Tensor:
        """``V*_R(rho)`` under every sample: ``(M,)`` (``(M, S)`` with ``per_state``)."""
        v, _ = self._optimal()
        return v if per_state else v @ resolve_start(self.mdp, initial)

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
        if self._diagnostics is None:
            self._diagnostics = chain_diagnostics(self.samples)
        rhat, ess = self._diagnostics
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
