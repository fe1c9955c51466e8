"""Deep Maximum Entropy IRL (Wulfmeier, Ondruska, Posner 2015).

The reward is a neural network of the state features, ``r = f_theta(phi(s))``; the MaxEnt gradient
with respect to the reward of every state, ``mu_D - mu_pi``, is back-propagated through the
network: ``d L / d theta = sum_s (mu_D(s) - mu_pi(s)) d f_theta(phi(s)) / d theta``. Each step is
one soft value iteration and one forward pass, exactly as in linear MaxEnt
(:mod:`rewardlab.irl.maxent`), so the network can represent non-linear rewards such as
objectworld's "near colour 1 *and* near colour 2".

Two networks: an MLP applied to each state's feature vector, and a small fully convolutional net
over the features laid out as an image ``(F, rows, cols)`` for grid worlds (Wulfmeier et al.'s FCN).

The network sees each feature rescaled over the training world's states (:class:`FeatureScaling`):
z-scores, or quantiles (each value replaced by its mid-rank among the training states, standardised
as a uniform variable). Quantiles keep every input inside the range the demonstrations could have
informed: with z-scores, a state far from every object has a distance feature several deviations
out, where a ReLU network extrapolates linearly with nothing to pin it; and a rare indicator is not
blown up (z-scores put the 1% of states where a binary feature is on 10 units out). On continuous
objectworld (5 seeds) quantiles cut the EVD at N = 16 / 32 / 64 demonstrations from 7.35 / 3.67 /
1.92 to 4.97 / 2.66 / 1.56 (measured with z-scored mid-ranks, which differ only through ties); on
discrete objectworld's 124 indicators, standardising mid-ranks as a uniform rather than z-scoring
them cut the EVD at N = 32 from 4.41 to 3.07 (seeds 0-4) and from 2.76 to 2.24 (seeds 5-9).

Reference: Wulfmeier, Ondruska, Posner, "Maximum Entropy Deep Inverse Reinforcement Learning",
arXiv:1507.04888, 2015, Algorithm 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from rewardlab._memory import check_memory, training_nbytes
from rewardlab._optim import Adam
from rewardlab.checkpoint import Checkpoint, rng_state, set_rng_state, set_torch_rng_state, torch_rng_state
from rewardlab.data import TrajectoryDataset, validate_dataset
from rewardlab.errors import ConfigError, ValidationError
from rewardlab.irl.maxent import DemoObjective
from rewardlab.learner import Callback, FitResult, History, ensure_finite, run_callback
from rewardlab.mdp import TabularMDP
from rewardlab.rewards import TabularReward
from rewardlab.rewards.nets import mlp, mlp_parameters

__all__ = ["DeepMaxEntConfig", "DeepMaxEntIRL", "FeatureScaling", "predict_reward", "state_reward_fcn", "state_reward_mlp"]


@dataclass(frozen=True)
class DeepMaxEntConfig:
    """Hyperparameters of Deep MaxEnt IRL.

    Attributes:
        architecture: ``"mlp"`` over each state's features, or ``"cnn"`` over the feature image.
        hidden: hidden widths (MLP) or channels (CNN).
        grid_shape: ``(rows, cols)``, required for ``"cnn"``.
        iterations: gradient steps.
        lr: Adam step size.
        weight_decay: L2 penalty on the network weights (Adam's decoupled-from-nothing L2).
        temperature: ``T`` of the soft-optimal demonstrator model.
        causal: maximum causal entropy (True) or the original 2008 backward pass.
        model: ``"auto"``, ``"finite"`` or ``"stationary"``, as in :class:`rewardlab.irl.maxent.MaxEntConfig`.
        action_noise: known probability of a uniformly random demonstrated action (stationary model).
        feature_scaling: how each feature is rescaled over the training states before the network:
            ``"quantile"`` (mid-rank, standardised as a uniform; the default), ``"zscore"`` or ``"none"``
            (see :class:`FeatureScaling`).
        dropout: probability of zeroing each hidden unit during training (Srivastava et al. 2014);
            off for the returned reward. 0.5 cut binaryworld's EVD at N = 32 from 1.35 to 0.75
            (benchmarks/RESULTS.md).
        input_l1: ``lambda`` of an L1 penalty ``lambda * sum |W_1|`` on the first layer's weights (a lasso
            that lets the network ignore features, Tibshirani 1996), against the demonstrations'
            log-likelihood per trajectory. Off by default; 1e-2 cut discrete objectworld's EVD at
            N = 32 (124 indicator features, 2 of which define the reward) from 3.07 to 1.78 on 5 seeds
            (benchmarks/RESULTS.md).
    """

    architecture: Literal["mlp", "cnn"] = "mlp"
    hidden: tuple[int, ...] = (32, 32)
    grid_shape: tuple[int, int] | None = None
    iterations: int = 200
    lr: float = 1e-2
    weight_decay: float = 1e-4
    temperature: float = 1.0
    causal: bool = True
    model: Literal["auto", "finite", "stationary"] = "auto"
    action_noise: float = 0.0
    feature_scaling: Literal["quantile", "zscore", "none"] = "quantile"
    dropout: float = 0.5
    input_l1: float = 0.0

    def __post_init__(self) -> None:
        if self.architecture not in ("mlp", "cnn"):
            raise ConfigError("architecture", f"is {self.architecture!r}", "choose 'mlp' or 'cnn'")
        if self.architecture == "cnn" and self.grid_shape is None:
            raise ConfigError("grid_shape", "is None with architecture='cnn'", "pass (rows, cols) of the grid world")
        if not self.hidden or min(self.hidden) < 1:
            raise ConfigError("hidden", f"is {self.hidden}", "give at least one positive width")
        if self.iterations < 1:
            raise ConfigError("iterations", f"is {self.iterations}", "use at least 1")
        for name in ("lr", "temperature"):
            if not 0 < getattr(self, name) < math.inf:
                raise ConfigError(name, f"is {getattr(self, name)}", "use a positive finite number")
        if self.model not in ("auto", "finite", "stationary"):
            raise ConfigError("model", f"is {self.model!r}", "choose 'auto', 'finite' or 'stationary'")
        if not 0 <= self.action_noise < 1:
            raise ConfigError("action_noise", f"is {self.action_noise}", "use a probability in [0, 1)")
        if self.weight_decay < 0:
            raise ConfigError("weight_decay", f"is {self.weight_decay}", "use a non-negative number")
        if self.input_l1 < 0:
            raise ConfigError("input_l1", f"is {self.input_l1}", "use a non-negative number (0 turns the penalty off)")
        if not 0 <= self.dropout < 1:
            raise ConfigError("dropout", f"is {self.dropout}", "use a probability in [0, 1)")
        if self.feature_scaling not in ("quantile", "zscore", "none"):
            raise ConfigError("feature_scaling", f"is {self.feature_scaling!r}", "choose 'quantile', 'zscore' or 'none'")


@dataclass(frozen=True)
class FeatureScaling:
    """A per-feature rescaling fitted on the training world's states ``(S, F)``, applied to any features.

    * ``"zscore"``: ``(x - mean) / std``.
    * ``"quantile"``: ``sqrt(12) (u(x) - 1/2)`` with ``u(x) = (#{ref < x} + #{ref <= x}) / (2 S)`` per
      feature, the mid-rank of ``x`` among the ``S`` reference values (ties share their average rank).
      Mid-ranks average to exactly 1/2 over the reference, so every feature is centred; one without
      ties is uniform with unit variance. A binary feature keeps the same gap between its two values,
      ``sqrt(3)``, however rare its ones are (a z-score puts a feature on in 1% of states 10 units
      out). Values beyond the reference range map to its ends (``u`` = 0 or 1).
    * ``"none"``: the identity.

    Examples:
        >>> ref = torch.tensor([[0.0], [1.0], [1.0], [5.0]])
        >>> scaling = FeatureScaling.fit(ref, "quantile")
        >>> [round(v, 3) for v in scaling(torch.tensor([[0.0], [1.0], [5.0], [50.0]])).squeeze(1).tolist()]
        [-1.299, 0.0, 1.299, 1.732]
    """

    kind: str
    reference: Tensor  # (F, S) sorted reference values per feature (quantile), else empty
    mean: Tensor  # (F,) the map is (u - mean) / std, u = x or (quantile) its mid-rank
    std: Tensor  # (F,)

    @classmethod
    def fit(cls, features: Tensor, kind: str) -> FeatureScaling:
        """Fit on reference features ``(S, F)``."""
        x = features.to(torch.float32)
        empty = torch.zeros(0)
        if kind == "none":
            return cls(kind, empty, torch.zeros(x.shape[1]), torch.ones(x.shape[1]))
        if kind == "quantile":  # sqrt(12) (u - 1/2): the standardisation of a uniform u
            ones = torch.ones(x.shape[1])
            return cls(kind, x.T.sort(dim=1).values.contiguous(), ones / 2, ones / 12**0.5)
        return cls(kind, empty, x.mean(0), x.std(0).clamp_min(1e-8))

    def __call__(self, features: Tensor) -> Tensor:
        """Rescale features ``(M, F)`` -> ``(M, F)`` float32."""
        x = torch.as_tensor(features).to(torch.float32)
        u = _mid_rank(self.reference, x) if self.kind == "quantile" else x
        return (u - self.mean) / self.std


def _mid_rank(reference: Tensor, x: Tensor) -> Tensor:
    """``(#{ref < x} + #{ref <= x}) / (2 S)`` per feature; ``reference`` ``(F, S)`` sorted, ``x`` ``(M, F)``."""
    values = x.T.contiguous()
    below = torch.searchsorted(reference, values, right=False)
    at_or_below = torch.searchsorted(reference, values, right=True)
    return ((below + at_or_below).to(torch.float32) / (2 * reference.shape[1])).T


def state_reward_mlp(n_features: int, hidden: tuple[int, ...], dropout: float = 0.0) -> nn.Module:
    """MLP ``(S, F) -> (S, 1)`` with ReLU hidden layers (each followed by dropout if ``dropout > 0``) and a linear output."""
    return mlp(n_features, hidden, 1, dropout=dropout)


class _FCN(nn.Module):
    """Fully convolutional reward: ``(S, F)`` features -> image ``(1, F, rows, cols)`` -> ``(S, 1)``."""

    def __init__(self, n_features: int, hidden: tuple[int, ...], grid_shape: tuple[int, int], dropout: float = 0.0) -> None:
        super().__init__()
        self.grid_shape = grid_shape
        layers: list[nn.Module] = []
        width = n_features
        for i, h in enumerate(hidden):
            kernel = 3 if i == 0 else 1  # one 3x3 layer sees the neighbourhood, 1x1 layers mix channels
            layers += [nn.Conv2d(width, h, kernel, padding=kernel // 2), nn.ReLU()] + ([nn.Dropout(dropout)] if dropout > 0 else [])
            width = h
        layers.append(nn.Conv2d(width, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, features: Tensor) -> Tensor:
        rows, cols = self.grid_shape
        image = features.T.reshape(1, -1, rows, cols)
        out: Tensor = self.net(image).reshape(rows * cols, 1)
        return out


def state_reward_fcn(n_features: int, hidden: tuple[int, ...], grid_shape: tuple[int, int], dropout: float = 0.0) -> nn.Module:
    """Small fully convolutional reward net over grid features (one 3x3 layer, then 1x1 layers)."""
    return _FCN(n_features, hidden, grid_shape, dropout)


class DeepMaxEntIRL:
    """Deep MaxEnt IRL on a tabular MDP with state features.

    ``FitResult.reward`` is a :class:`TabularReward` of the network's output on every state;
    ``FitResult.info["network"]`` holds the trained network; its input is the features rescaled by
    ``FitResult.info["feature_scaling"]`` (:func:`predict_reward` applies both to other features).

    Examples:
        >>> import numpy as np
        >>> from rewardlab.data import sample_tabular
        >>> from rewardlab.mdp import soft_value_iteration
        >>> from rewardlab.mdp.worlds import navigation_gridworld
        >>> world = navigation_gridworld("tiny")
        >>> demos = sample_tabular(world.mdp, soft_value_iteration(world.mdp, world.reward).policy, 50,
        ...                        rng=np.random.default_rng(0))
        >>> result = DeepMaxEntIRL(DeepMaxEntConfig(iterations=60)).fit(demos, world.mdp, rng=np.random.default_rng(0))
        >>> int(result.reward.values.argmax()) == world.layout[0].index("G")  # the goal cell, row 0
        True
    """

    def __init__(self, config: DeepMaxEntConfig | None = None) -> None:
        self.config = config or DeepMaxEntConfig()

    def fit(
        self,
        data: TrajectoryDataset,
        env_or_mdp: TabularMDP,
        *,
        rng: np.random.Generator,
        callback: Callback | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> FitResult:
        """Learn a neural state reward from tabular demonstrations.

        With ``checkpoint``, the state after a step (network, Adam moments, torch's random state of the
        dropout masks, the objective's warm start, history) is saved when ``checkpoint.due(step)`` and
        after the last step, and a fit run again with the same settings, data and seed continues from
        the latest one: its result equals an uninterrupted fit's.
        """
        cfg = self.config
        data = validate_dataset(data, env_or_mdp)
        if env_or_mdp.features is None:
            raise ValidationError("mdp.features", "is None", "Deep MaxEnt needs state features (S, F)")
        mdp = env_or_mdp
        # the net (a 3x3 first layer for the CNN) and, on every state, each hidden unit's value and dropout mask
        params = mlp_parameters(mdp.n_features * (9 if cfg.architecture == "cnn" else 1), cfg.hidden, 1)
        units = mdp.n_states * sum(cfg.hidden) * (2 if cfg.dropout > 0 else 1)
        what = f"a net of {params} parameters with {sum(cfg.hidden)} hidden units on {mdp.n_states} states"
        check_memory("hidden", training_nbytes(params, units), what, f"use narrower hidden layers than {cfg.hidden}")
        diverged = f"lower lr (now {cfg.lr:g}) or raise weight_decay"
        objective = DemoObjective(mdp, data, model=cfg.model, temperature=cfg.temperature, causal=cfg.causal, action_noise=cfg.action_noise)
        if cfg.grid_shape is not None and cfg.grid_shape[0] * cfg.grid_shape[1] != mdp.n_states:
            raise ConfigError("grid_shape", f"is {cfg.grid_shape} for {mdp.n_states} states", "pass (rows, cols) with rows * cols = S")
        scaling = FeatureScaling.fit(mdp.features.cpu(), cfg.feature_scaling)  # type: ignore[union-attr]
        phi = scaling(mdp.features.cpu()).to(mdp.device)  # type: ignore[union-attr]
        device = torch.device(mdp.device)
        history = History()
        if checkpoint is not None:
            states, actions, times = data.decisions()
            checkpoint = checkpoint.bind("deep-maxent", cfg, mdp, str(device), states, actions, times, rng_state(rng))
        saved = checkpoint.restore() if checkpoint is not None else None
        # the network's initialisation and its dropout masks come from ``rng`` alone
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            torch.manual_seed(int(rng.integers(2**31)))
            net = (
                state_reward_mlp(mdp.n_features, cfg.hidden, cfg.dropout)
                if cfg.architecture == "mlp"
                else state_reward_fcn(mdp.n_features, cfg.hidden, cfg.grid_shape, cfg.dropout)  # type: ignore[arg-type]
            ).to(device)
            optimizer = Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
            first = next(net.parameters())  # the input layer's weights, (H, F) or (H, F, 3, 3)
            start = 0
            if saved is not None:  # built as above (same draws), then overwritten by the saved state
                net.load_state_dict(saved["net"])
                optimizer.load_state_dict(saved["optimizer"])
                objective.load_state_dict(saved["objective"])
                history.load_state_dict(saved["history"])
                set_torch_rng_state(saved["torch_rng"], device)
                set_rng_state(rng, saved["rng"])
                start = saved["step"] + 1
            for step in range(start, cfg.iterations):
                reward = net(phi).squeeze(1)
                ensure_finite(reward.detach(), "Deep MaxEnt reward", step=step, fix=diverged)
                value, grad_r = objective(reward.detach().to(mdp.dtype))
                optimizer.zero_grad()
                # ascend L: d L / d theta = sum_s grad_r(s) d r(s) / d theta
                reward.backward(-grad_r.to(reward.dtype))
                if cfg.input_l1 > 0:  # subgradient of lambda * sum |W_1|
                    first.grad.add_(first.detach().sign(), alpha=cfg.input_l1)  # type: ignore[union-attr]
                optimizer.step()
                metrics = {"objective": value, "grad_max": float(grad_r.abs().max())}
                history.log(step, **metrics)
                if run_callback(callback, step, metrics):
                    break
                if checkpoint is not None and (checkpoint.due(step) or step == cfg.iterations - 1):
                    state = {"net": net.state_dict(), "optimizer": optimizer.state_dict(), "objective": objective.state_dict()}
                    checkpoint.save(
                        step, {**state, "history": history.state_dict(), "torch_rng": torch_rng_state(device), "rng": rng_state(rng)}
                    )
        net.eval()  # dropout off: the returned reward and predict_reward use the whole network
        with torch.no_grad():
            final = net(phi).squeeze(1).to(mdp.dtype)
        ensure_finite(final, "Deep MaxEnt reward", step="the end", fix=diverged)
        objective(final)  # the model's policy for the returned reward
        return FitResult(
            reward=TabularReward(final),
            policy=objective.policy,
            history=history,
            info={
                "iterations": len(history.steps),
                "network": net,
                "feature_scaling": scaling,
                "model": "stationary" if objective.stationary else "finite",
                "model_horizon": objective.mdp.horizon,
                "config": cfg,
            },
        )


def predict_reward(result: FitResult, features: Tensor) -> Tensor:
    """The trained network's reward on other state features ``(S', F)`` (e.g. a transfer world), ``(S',)``.

    Features are rescaled with the *training* world's :class:`FeatureScaling`, as during training.
    """
    info = result.info
    network, features = info["network"], torch.as_tensor(features)
    phi = info["feature_scaling"](features.cpu()).to(next(network.parameters()).device)
    with torch.no_grad():
        out: Tensor = network(phi).squeeze(1).to(device=features.device, dtype=torch.float64)
    return out
