"""Deep Maximum Entropy IRL (Wulfmeier, Ondruska, Posner 2015).

The reward is a neural network of the state features, ``r = f_theta(phi(s))``; the MaxEnt gradient
with respect to the reward of every state, ``mu_D - mu_pi``, is back-propagated through the
network: ``d L / d theta = sum_s (mu_D(s) - mu_pi(s)) d f_theta(phi(s)) / d theta``. Each step is
one soft value iteration and one forward pass, exactly as in linear MaxEnt
(:mod:`rewardlab.irl.maxent`), so the network can represent non-linear rewards such as
objectworld's "near colour 1 *and* near colour 2".

Two networks: an MLP applied to each state's feature vector, and a small fully convolutional net
over the features laid out as an image ``(F, rows, cols)`` for grid worlds (Wulfmeier et al.'s FCN).

Reference: Wulfmeier, Ondruska, Posner, "Maximum Entropy Deep Inverse Reinforcement Learning",
arXiv:1507.04888, 2015, Algorithm 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from rewardlab._optim import Adam
from rewardlab.data import TrajectoryDataset
from rewardlab.errors import ConfigError, ValidationError
from rewardlab.irl.maxent import DemoObjective
from rewardlab.learner import Callback, FitResult, History, run_callback
from rewardlab.mdp import TabularMDP
from rewardlab.rewards import TabularReward

__all__ = ["DeepMaxEntConfig", "DeepMaxEntIRL", "state_reward_fcn", "state_reward_mlp"]


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
        standardize: scale each feature to zero mean, unit variance over states before the network.
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
    standardize: bool = True

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
            if not getattr(self, name) > 0:
                raise ConfigError(name, f"is {getattr(self, name)}", "use a positive number")
        if self.model not in ("auto", "finite", "stationary"):
            raise ConfigError("model", f"is {self.model!r}", "choose 'auto', 'finite' or 'stationary'")
        if not 0 <= self.action_noise < 1:
            raise ConfigError("action_noise", f"is {self.action_noise}", "use a probability in [0, 1)")
        if self.weight_decay < 0:
            raise ConfigError("weight_decay", f"is {self.weight_decay}", "use a non-negative number")


def state_reward_mlp(n_features: int, hidden: tuple[int, ...]) -> nn.Module:
    """MLP ``(S, F) -> (S, 1)`` with ReLU hidden layers and a linear output."""
    layers: list[nn.Module] = []
    width = n_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


class _FCN(nn.Module):
    """Fully convolutional reward: ``(S, F)`` features -> image ``(1, F, rows, cols)`` -> ``(S, 1)``."""

    def __init__(self, n_features: int, hidden: tuple[int, ...], grid_shape: tuple[int, int]) -> None:
        super().__init__()
        self.grid_shape = grid_shape
        layers: list[nn.Module] = []
        width = n_features
        for i, h in enumerate(hidden):
            kernel = 3 if i == 0 else 1  # one 3x3 layer sees the neighbourhood, 1x1 layers mix channels
            layers += [nn.Conv2d(width, h, kernel, padding=kernel // 2), nn.ReLU()]
            width = h
        layers.append(nn.Conv2d(width, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, features: Tensor) -> Tensor:
        rows, cols = self.grid_shape
        image = features.T.reshape(1, -1, rows, cols)
        out: Tensor = self.net(image).reshape(rows * cols, 1)
        return out


def state_reward_fcn(n_features: int, hidden: tuple[int, ...], grid_shape: tuple[int, int]) -> nn.Module:
    """Small fully convolutional reward net over grid features (one 3x3 layer, then 1x1 layers)."""
    return _FCN(n_features, hidden, grid_shape)


class DeepMaxEntIRL:
    """Deep MaxEnt IRL on a tabular MDP with state features.

    ``FitResult.reward`` is a :class:`TabularReward` of the network's output on every state;
    ``FitResult.info["network"]`` holds the trained network (input: standardised features).

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
        self, data: TrajectoryDataset, env_or_mdp: TabularMDP, *, rng: np.random.Generator, callback: Callback | None = None
    ) -> FitResult:
        """Learn a neural state reward from tabular demonstrations."""
        cfg = self.config
        if env_or_mdp.features is None:
            raise ValidationError("mdp.features", "is None", "Deep MaxEnt needs state features (S, F)")
        mdp = env_or_mdp
        objective = DemoObjective(mdp, data, model=cfg.model, temperature=cfg.temperature, causal=cfg.causal, action_noise=cfg.action_noise)
        if cfg.grid_shape is not None and cfg.grid_shape[0] * cfg.grid_shape[1] != mdp.n_states:
            raise ConfigError("grid_shape", f"is {cfg.grid_shape} for {mdp.n_states} states", "pass (rows, cols) with rows * cols = S")
        raw = mdp.features.to(torch.float32)  # type: ignore[union-attr]
        mean = raw.mean(0) if cfg.standardize else torch.zeros_like(raw[0])
        std = raw.std(0).clamp_min(1e-8) if cfg.standardize else torch.ones_like(raw[0])
        phi = (raw - mean) / std
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(rng.integers(2**31)))
            net = (
                state_reward_mlp(mdp.n_features, cfg.hidden)
                if cfg.architecture == "mlp"
                else state_reward_fcn(mdp.n_features, cfg.hidden, cfg.grid_shape)  # type: ignore[arg-type]
            ).to(mdp.device)
        optimizer = Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        history = History()
        for step in range(cfg.iterations):
            reward = net(phi).squeeze(1)
            value, grad_r = objective(reward.detach().to(mdp.dtype))
            optimizer.zero_grad()
            # ascend L: d L / d theta = sum_s grad_r(s) d r(s) / d theta
            reward.backward(-grad_r.to(reward.dtype))
            optimizer.step()
            metrics = {"objective": value, "grad_max": float(grad_r.abs().max())}
            history.log(step, **metrics)
            if run_callback(callback, step, metrics):
                break
        with torch.no_grad():
            final = net(phi).squeeze(1).to(mdp.dtype)
        objective(final)  # the model's policy for the returned reward
        return FitResult(
            reward=TabularReward(final),
            policy=objective.policy,
            history=history,
            info={
                "iterations": len(history.steps),
                "network": net,
                "feature_mean": mean,
                "feature_std": std,
                "model": "stationary" if objective.stationary else "finite",
                "model_horizon": objective.mdp.horizon,
                "config": cfg,
            },
        )


def predict_reward(result: FitResult, features: Tensor) -> Tensor:
    """The trained network's reward on other state features ``(S', F)`` (e.g. a transfer world), ``(S',)``.

    Features are standardised with the *training* world's statistics, as during training.
    """
    info = result.info
    phi = (torch.as_tensor(features).to(torch.float32) - info["feature_mean"]) / info["feature_std"]
    with torch.no_grad():
        out: Tensor = info["network"](phi).squeeze(1).to(torch.float64)
    return out
