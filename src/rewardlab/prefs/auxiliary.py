"""Self-supervised auxiliary losses on a reward net's features (Bayesian REX, Brown, Coleman, Srinivasan &
Niekum, ICML 2020: the pretraining of its Atari embedding).

Bayesian REX samples only the last layer ``w`` of a reward ``r(s) = w^T phi(s)``; the features ``phi`` come
from T-REX pretraining. Ranking labels alone say little about parts of the state that do not change the
order, so the paper also trains ``phi`` to carry the dynamics, with small heads on top of it:

* ``"inverse_dynamics"``: predict the action ``a_t`` from ``[phi(s_t), phi(s_{t+1})]`` (squared error for
  continuous actions, cross-entropy for discrete ones);
* ``"forward_dynamics"``: predict the next observation ``s_{t+1}`` from ``[phi(s_t), a_t]`` (squared error;
  vector observations only: images would need a decoder);
* ``"temporal_distance"``: predict the signed time between two states of one trajectory,
  ``(j - i) / T_max``, from ``[phi(s_i), phi(s_j)]`` (squared error).

:class:`AuxiliaryHeads` holds the heads of one ensemble member; :meth:`AuxiliaryHeads.losses` draws a batch
of transitions and returns each loss. T-REX adds ``aux_weight * sum(losses)`` to its Bradley–Terry loss
when :attr:`rewardlab.prefs.TREXConfig.aux` names any (``BayesianREXConfig(pretrain=TREXConfig(aux=...))``
for B-REX). The paper's fourth loss, a variational autoencoder, is not offered.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from rewardlab.rewards.nets import mlp

__all__ = ["AUX_LOSSES", "AuxiliaryHeads"]

AUX_LOSSES = ("inverse_dynamics", "forward_dynamics", "temporal_distance")


class AuxiliaryHeads(nn.Module):
    """The heads of the named auxiliary ``losses`` for a member whose features have ``dim`` entries.

    Args:
        obs_shape: shape of one observation (what the forward-dynamics head predicts, flattened).
        dim: width of the features ``phi``.
        act_dim: action width (continuous) or number of actions (discrete).
        discrete: whether actions are integers.
        losses: names from :data:`AUX_LOSSES`.
        hidden: width of each head's one hidden layer.
    """

    def __init__(
        self, obs_shape: tuple[int, ...], dim: int, act_dim: int, discrete: bool, losses: tuple[str, ...], hidden: int = 64
    ) -> None:
        super().__init__()
        self.discrete, self.act_dim = discrete, act_dim
        self.heads = nn.ModuleDict()
        if "inverse_dynamics" in losses:
            self.heads["inverse_dynamics"] = mlp(2 * dim, (hidden,), act_dim, activation="leaky_relu")
        if "forward_dynamics" in losses:
            self.heads["forward_dynamics"] = mlp(dim + act_dim, (hidden,), int(np.prod(obs_shape)), activation="leaky_relu")
        if "temporal_distance" in losses:
            self.heads["temporal_distance"] = mlp(2 * dim, (hidden,), 1, activation="leaky_relu")

    def _actions(self, acts: Tensor) -> Tensor:
        """``(B, act_dim)``: one-hot for discrete actions, flattened floats otherwise."""
        if self.discrete:
            return nn.functional.one_hot(acts.long().reshape(-1), self.act_dim).float()
        return acts.reshape(len(acts), -1).float()

    def losses(
        self,
        features: Callable[[Tensor], Tensor],
        obs: Tensor,
        acts: Tensor,
        offsets: np.ndarray,
        lengths: np.ndarray,
        batch: int,
        rng: np.random.Generator,
    ) -> dict[str, Tensor]:
        """Each head's loss on ``batch`` random transitions (or state pairs).

        Args:
            features: maps ``(B, *obs_shape)`` observations to ``(B, dim)`` features (a member's ``features``).
            obs: ``(sum_n T_n, *obs_shape)`` decision observations of every trajectory, concatenated.
            acts: ``(sum_n T_n, ...)`` their actions.
            offsets, lengths: ``(N,)`` where each trajectory starts in ``obs`` and its number of decisions.
            batch: transitions per loss.
            rng: draws the trajectories and times.
        """
        usable = np.flatnonzero(lengths >= 2)  # a transition needs two decision rows of one trajectory
        traj = usable[rng.integers(len(usable), size=batch)]
        t = (rng.random(batch) * (lengths[traj] - 1)).astype(np.int64)
        rows = torch.as_tensor(offsets[traj] + t, device=obs.device)
        out: dict[str, Tensor] = {}
        if "inverse_dynamics" in self.heads or "forward_dynamics" in self.heads:
            phi, phi_next = features(obs[rows]), features(obs[rows + 1])
            a = acts[rows]
            if "inverse_dynamics" in self.heads:
                pred = self.heads["inverse_dynamics"](torch.cat([phi, phi_next], 1))
                if self.discrete:
                    out["inverse_dynamics"] = nn.functional.cross_entropy(pred, a.long().reshape(-1))
                else:
                    out["inverse_dynamics"] = ((pred - self._actions(a)) ** 2).mean()
            if "forward_dynamics" in self.heads:
                pred = self.heads["forward_dynamics"](torch.cat([phi, self._actions(a)], 1))
                out["forward_dynamics"] = ((pred - obs[rows + 1].reshape(batch, -1).float()) ** 2).mean()
        if "temporal_distance" in self.heads:
            i = (rng.random(batch) * lengths[traj]).astype(np.int64)
            j = (rng.random(batch) * lengths[traj]).astype(np.int64)
            a_rows = torch.as_tensor(offsets[traj] + i, device=obs.device)
            b_rows = torch.as_tensor(offsets[traj] + j, device=obs.device)
            target = torch.as_tensor((j - i) / lengths.max(), dtype=torch.float32, device=obs.device)
            pred = self.heads["temporal_distance"](torch.cat([features(obs[a_rows]), features(obs[b_rows])], 1)).squeeze(1)
            out["temporal_distance"] = ((pred - target) ** 2).mean()
        return out
