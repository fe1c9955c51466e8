"""Behavioural cloning: imitation as supervised learning of ``pi(a | s)`` from demonstrations.

Behavioural cloning (BC) ignores the dynamics and the reward. It treats every demonstrated decision
``(s_t, a_t)`` as a labelled example and fits a classifier by maximum likelihood,

    ``pi_BC = argmax_pi sum_{(s, a) in D} log pi(a | s)``,

so it learns **no reward** (:class:`~rewardlab.learner.FitResult` has ``reward=None``) and a
**stationary** policy ``(S, A)``: the time step is not an input, even when the demonstrations came
from a time-indexed finite-horizon expert (use :func:`as_time_indexed` to evaluate it with the
solvers, which expect ``(H, S, A)`` policies for finite-horizon MDPs).

Two models:

* ``"tabular"``: one categorical distribution per state, the maximum-likelihood counts with a Laplace
  pseudo-count ``alpha`` (:func:`tabular_bc_policy`). States never demonstrated get the uniform policy:
  a table cannot generalise.
* ``"mlp"``: a small network from state features ``mdp.features`` ``(S, F)`` to action logits,
  trained with cross-entropy and Adam. Nearby features give nearby actions, so it can generalise to
  states the expert never visited, as far as the features describe what matters.

Why BC is not enough (the lecture's motivation for inverse RL): the learner is trained on the
*expert's* state distribution but acts on its *own*. A mistake with probability ``eps`` per step
takes it to states the expert never showed, where it errs more, so over a horizon ``T`` its cost
can exceed the expert's by ``O(T^2 eps)`` rather than the ``O(T eps)`` of an i.i.d. classifier
(Ross & Bagnell 2010). Slip in the dynamics makes the drift happen even with a perfect copy.

References:
    Pomerleau, "ALVINN: An Autonomous Land Vehicle in a Neural Network", NeurIPS 1989.
    Ross & Bagnell, "Efficient Reductions for Imitation Learning", AISTATS 2010 (the ``O(T^2 eps)`` bound).
    Ross, Gordon, Bagnell, "A Reduction of Imitation Learning and Structured Prediction to No-Regret
    Online Learning" (DAgger), AISTATS 2011.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict

import numpy as np
import torch
from torch import Tensor, nn

from rewardlab._optim import Adam
from rewardlab.checkpoint import Checkpoint, rng_state, set_rng_state
from rewardlab.data.trajectory import TrajectoryDataset
from rewardlab.data.validate import check_indices, validate_dataset
from rewardlab.errors import ConfigError, ShapeError, ValidationError
from rewardlab.learner import Callback, FitResult, History, ensure_finite, run_callback
from rewardlab.mdp.core import TabularMDP, as_tensor
from rewardlab.rewards.nets import mlp

__all__ = ["BCConfig", "BehaviouralCloning", "GymBCPolicy", "as_time_indexed", "fit_gym_bc", "tabular_bc_policy"]


# ============================================================================ configuration
@dataclass(frozen=True)
class BCConfig:
    """Hyperparameters of :class:`BehaviouralCloning`.

    Attributes:
        smoothing: Laplace pseudo-count ``alpha >= 0`` added to every action count (tabular model).
            ``0`` is the plain maximum-likelihood estimate; ``1`` is Laplace's rule of succession.
        model: ``"tabular"`` (counts per state) or ``"mlp"`` (network on ``mdp.features``).
        hidden: widths of the MLP's hidden layers (ReLU between them); ``()`` is a linear softmax policy.
        epochs: passes over the demonstrated decisions (MLP).
        lr: Adam learning rate (MLP).
        weight_decay: Adam's L2 penalty (MLP).
        batch_size: decisions per Adam step (MLP); ``None`` uses all of them (full batch).

    Raises:
        ConfigError: naming the offending field.

    Examples:
        >>> BCConfig(model="mlp", hidden=(32,)).hidden
        (32,)
        >>> BCConfig(smoothing=-1.0)
        Traceback (most recent call last):
        ...
        rewardlab.errors.ConfigError: smoothing: is -1.0. Fix: use a pseudo-count >= 0 (1 is Laplace smoothing, 0 plain counts).
    """

    smoothing: float = 1.0
    model: Literal["tabular", "mlp"] = "tabular"
    hidden: tuple[int, ...] = (64, 64)
    epochs: int = 200
    lr: float = 1e-2
    weight_decay: float = 1e-4
    batch_size: int | None = None

    def __post_init__(self) -> None:
        if not _is_real(self.smoothing) or not math.isfinite(self.smoothing) or self.smoothing < 0:
            raise ConfigError("smoothing", f"is {self.smoothing!r}", "use a pseudo-count >= 0 (1 is Laplace smoothing, 0 plain counts)")
        if self.model not in ("tabular", "mlp"):
            raise ConfigError("model", f"is {self.model!r}", "choose 'tabular' or 'mlp'")
        if not isinstance(self.hidden, tuple) or not all(_is_int(h) and h >= 1 for h in self.hidden):
            raise ConfigError("hidden", f"is {self.hidden!r}", "give a tuple of positive layer widths, e.g. (64, 64), or () for linear")
        if not _is_int(self.epochs) or self.epochs < 1:
            raise ConfigError("epochs", f"is {self.epochs!r}", "train for at least one epoch")
        if not _is_real(self.lr) or not math.isfinite(self.lr) or self.lr <= 0:
            raise ConfigError("lr", f"is {self.lr!r}", "use a positive finite learning rate, e.g. 1e-2")
        if not _is_real(self.weight_decay) or not math.isfinite(self.weight_decay) or self.weight_decay < 0:
            raise ConfigError("weight_decay", f"is {self.weight_decay!r}", "use a finite L2 penalty >= 0")
        if self.batch_size is not None and (not _is_int(self.batch_size) or self.batch_size < 1):
            raise ConfigError("batch_size", f"is {self.batch_size!r}", "use a positive batch size, or None for full batch")


def _is_int(x: object) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _is_real(x: object) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


# ============================================================================ the maths
def tabular_bc_policy(states: Any, actions: Any, n_states: int, n_actions: int, smoothing: float = 1.0) -> Tensor:
    """The smoothed maximum-likelihood tabular policy of demonstrated decisions.

    With counts ``N(s, a)`` of the pairs, ``N(s) = sum_a N(s, a)`` and pseudo-count ``alpha``:

        ``pi(a | s) = (N(s, a) + alpha) / (N(s) + A alpha)``,

    the posterior mean under a symmetric Dirichlet(``alpha``) prior (``alpha = 0``: the empirical
    frequencies). States with ``N(s) = 0`` get the uniform ``1 / A`` for every ``alpha``.

    Args:
        states: ``(N,)`` integer states in ``[0, S)`` where the decisions were taken.
        actions: ``(N,)`` integer actions in ``[0, A)``.
        n_states: ``S``.
        n_actions: ``A``.
        smoothing: ``alpha >= 0``.

    Returns:
        ``(S, A)`` float64 action probabilities, each row summing to 1.

    Raises:
        ShapeError, ValidationError: naming the offending argument.

    Examples:
        >>> pi = tabular_bc_policy([0, 0, 0, 1], [1, 1, 0, 0], n_states=3, n_actions=2, smoothing=1.0)
        >>> pi  # state 0: (2+1)/(3+2) and (1+1)/(3+2); state 1: (1+1)/(1+2); state 2 never seen: uniform
        tensor([[0.4000, 0.6000],
                [0.6667, 0.3333],
                [0.5000, 0.5000]], dtype=torch.float64)
        >>> tabular_bc_policy([0, 0, 0, 1], [1, 1, 0, 0], 3, 2, smoothing=0.0)[:2]
        tensor([[0.3333, 0.6667],
                [1.0000, 0.0000]], dtype=torch.float64)
    """
    n_s, n_a = _positive(n_states, "n_states"), _positive(n_actions, "n_actions")
    if not _is_real(smoothing) or not math.isfinite(smoothing) or smoothing < 0:
        raise ValidationError("smoothing", f"is {smoothing!r}", "pass a pseudo-count >= 0")
    s = _indices(states, "states", n_s)
    a = _indices(actions, "actions", n_a)
    if s.shape != a.shape:
        raise ShapeError("actions", f"has {a.shape[0]} entries for {s.shape[0]} states", "pass one action per state")
    counts = torch.zeros(n_s * n_a, dtype=torch.float64)
    counts.index_add_(0, s * n_a + a, torch.ones(s.shape[0], dtype=torch.float64))
    return _normalise_counts(counts.view(n_s, n_a), float(smoothing))


def _normalise_counts(counts: Tensor, alpha: float) -> Tensor:
    """``(N(s, a) + alpha) / (N(s) + A alpha)``, uniform where that is 0 / 0."""
    smoothed = counts + alpha
    total = smoothed.sum(1, keepdim=True)
    uniform = torch.full_like(counts, 1.0 / counts.shape[1])
    return torch.where(total > 0, smoothed / total.clamp_min(torch.finfo(counts.dtype).tiny), uniform)


def _positive(value: Any, name: str) -> int:
    if not _is_int(value) or value < 1:
        raise ValidationError(name, f"is {value!r}", "pass a positive integer")
    return int(value)


def _indices(values: Any, name: str, upper: int) -> Tensor:
    """A 1-D int64 CPU tensor of indices in ``[0, upper)``, or an error naming ``name``."""
    return torch.from_numpy(check_indices(as_tensor(values, name), name, upper))


def as_time_indexed(policy: Any, horizon: int) -> Tensor:
    """Repeat a stationary policy ``(S, A)`` over ``horizon`` steps: ``(H, S, A)``, for finite-horizon solvers.

    Examples:
        >>> as_time_indexed(torch.tensor([[0.25, 0.75]]), 3).shape
        torch.Size([3, 1, 2])
    """
    pi = as_tensor(policy, "policy")
    if pi.ndim != 2:
        raise ShapeError("policy", f"has shape {tuple(pi.shape)}", "pass a stationary (S, A) policy")
    h = _positive(horizon, "horizon")
    return pi.unsqueeze(0).expand(h, *pi.shape).contiguous()


# ============================================================================ the learner
class BehaviouralCloning:
    """Behavioural cloning on a tabular MDP (see the module docstring for the method and its limits).

    Args:
        config: hyperparameters; the learner keeps nothing else.

    ``fit`` returns ``FitResult(reward=None, policy=pi)`` with ``pi`` a stationary ``(S, A)`` float64
    policy on the MDP's device, and ``info`` holding ``counts`` ``(S, A)`` of demonstrated pairs,
    ``visited`` ``(S,)`` (states with at least one decision), ``n_decisions``, ``model`` and, for the
    MLP, ``seed``, ``epochs`` run, ``stopped_early`` and the trained ``network`` (input: features
    standardised with ``feature_mean`` and ``feature_std``, also in ``info``).

    Examples:
        >>> import numpy as np
        >>> from rewardlab.data import sample_tabular
        >>> from rewardlab.mdp import value_iteration
        >>> from rewardlab.mdp.worlds import navigation_gridworld
        >>> world = navigation_gridworld("tiny", discount=0.9)
        >>> expert = value_iteration(world.mdp, world.reward).policy
        >>> demos = sample_tabular(world.mdp, expert, 20, rng=np.random.default_rng(0), length=6)
        >>> result = BehaviouralCloning(BCConfig(smoothing=0.0)).fit(demos, world.mdp, rng=np.random.default_rng(1))
        >>> result.reward is None, result.policy.shape
        (True, torch.Size([9, 5]))
        >>> visited = result.info["visited"]  # there, with smoothing 0, only the expert's actions
        >>> bool((result.policy[visited][expert[visited] == 0] == 0).all())
        True
    """

    def __init__(self, config: BCConfig = BCConfig()) -> None:
        self.config = config

    def fit(
        self,
        data: TrajectoryDataset,
        env_or_mdp: Any,
        *,
        rng: np.random.Generator,
        callback: Callback | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> FitResult:
        """Fit ``pi(a | s)`` to the demonstrated decisions of ``data`` on ``env_or_mdp``.

        Args:
            data: tabular trajectories (state indices in ``obs``, action indices in ``acts``).
            env_or_mdp: the :class:`~rewardlab.mdp.TabularMDP` (or a ``World`` holding one as ``.mdp``).
            rng: numpy generator; the MLP's torch seed is drawn from it, so the same seed gives the
                same policy. The tabular model draws nothing.
            callback: ``callback(epoch, {"loss": ...}) -> stop``, called after every MLP epoch.
            checkpoint: for the MLP, the state after an epoch (network, Adam moments, the shuffling
                generator's state, ``rng``'s state, history) is saved when ``checkpoint.due(epoch)`` and
                after the last epoch, and a fit run again with the same settings, data and seed continues
                from the latest one: its result equals an uninterrupted fit's. The tabular model is one
                closed-form step and saves nothing.

        Returns:
            ``FitResult(reward=None, policy=(S, A) float64, history=..., info=...)``.

        Raises:
            ValidationError: empty data, states or actions outside the MDP, or ``model="mlp"`` on an
                MDP without ``mdp.features``.
        """
        mdp = _as_mdp(env_or_mdp)
        states, actions = _decisions(validate_dataset(data, mdp))
        counts = torch.zeros(mdp.n_states * mdp.n_actions, dtype=torch.float64)
        counts.index_add_(0, states * mdp.n_actions + actions, torch.ones(states.shape[0], dtype=torch.float64))
        counts = counts.view(mdp.n_states, mdp.n_actions)
        info: dict[str, Any] = {
            "model": self.config.model,
            "n_decisions": int(states.shape[0]),
            "counts": counts.to(mdp.device),
            "visited": (counts.sum(1) > 0).to(mdp.device),
            "stationary": True,
        }
        history = History()
        if self.config.model == "tabular":
            policy = _normalise_counts(counts, self.config.smoothing)
            history.log(0, log_likelihood=float(_mean_log_likelihood(policy, states, actions)))
        else:
            if checkpoint is not None:
                checkpoint = checkpoint.bind("bc", self.config, mdp, str(mdp.device), states, actions, rng_state(rng))
            policy = self._fit_mlp(mdp, states, actions, rng, callback, history, info, checkpoint)
        return FitResult(reward=None, policy=policy.to(mdp.device), history=history, info=info)

    def _fit_mlp(
        self,
        mdp: TabularMDP,
        states: Tensor,
        actions: Tensor,
        rng: np.random.Generator,
        callback: Callback | None,
        history: History,
        info: dict[str, Any],
        checkpoint: Checkpoint | None = None,
    ) -> Tensor:
        """Cross-entropy training of ``logits = f_theta(phi(s))`` with Adam; returns ``softmax`` over all states."""
        if mdp.features is None:
            raise ValidationError(
                "mdp.features",
                "is None, but model='mlp' maps state features to actions",
                "build the MDP with features (S, F), or use BCConfig(model='tabular')",
            )
        cfg = self.config
        device = mdp.device
        seed = int(rng.integers(2**31))
        # Standardise each feature over the states (labels are not used), so one learning rate suits
        # distances in [0, 30] and one-hot indicators alike.
        phi = mdp.features.to(device=device, dtype=torch.float64)
        mean = phi.mean(0)
        std = phi.std(0, unbiased=False).clamp_min(1e-8)
        x_all = (phi - mean) / std
        network = _mlp(phi.shape[1], cfg.hidden, mdp.n_actions, seed).to(device)
        optimiser = Adam(network.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        shuffle = torch.Generator().manual_seed(seed)
        s_dev, a_dev = states.to(device), actions.to(device)
        n = int(s_dev.shape[0])
        batch = n if cfg.batch_size is None else min(cfg.batch_size, n)
        stopped, epoch, first = False, 0, 0
        saved = checkpoint.restore() if checkpoint is not None else None
        if saved is not None:  # built as above (same draws), then overwritten by the saved state
            network.load_state_dict(saved["network"])
            optimiser.load_state_dict(saved["optimizer"])
            shuffle.set_state(saved["shuffle"])
            history.load_state_dict(saved["history"])
            set_rng_state(rng, saved["rng"])
            epoch = saved["step"]
            first = epoch + 1
        for epoch in range(first, cfg.epochs):
            order = torch.randperm(n, generator=shuffle).to(device) if batch < n else torch.arange(n, device=device)
            total = 0.0
            for start in range(0, n, batch):
                idx = order[start : start + batch]
                logits = network(x_all[s_dev[idx]])
                loss = nn.functional.cross_entropy(logits, a_dev[idx])
                value = float(loss.detach())  # one device sync per batch, for the guard and the epoch's mean
                ensure_finite(value, "BC loss", step=f"epoch {epoch}", fix=f"lower lr (now {cfg.lr:g})")
                optimiser.zero_grad()
                torch.autograd.backward(loss)
                optimiser.step()
                total += value * int(idx.shape[0])
            metrics = {"loss": total / n}
            history.log(epoch, **metrics)
            if run_callback(callback, epoch, metrics):
                stopped = True
                break
            if checkpoint is not None and (checkpoint.due(epoch) or epoch == cfg.epochs - 1):
                state = {"network": network.state_dict(), "optimizer": optimiser.state_dict(), "shuffle": shuffle.get_state()}
                checkpoint.save(epoch, {**state, "history": history.state_dict(), "rng": rng_state(rng)})
        network.eval()
        with torch.no_grad():
            policy = torch.softmax(network(x_all), dim=1)
        ensure_finite(policy, "BC policy", step="the end", fix=f"lower lr (now {cfg.lr:g})")
        info.update(seed=seed, epochs=epoch + 1, stopped_early=stopped, network=network, feature_mean=mean, feature_std=std)
        return policy


def _mlp(n_in: int, hidden: tuple[int, ...], n_out: int, seed: int) -> nn.Sequential:
    """A float64 ReLU network, its initial weights drawn from ``seed`` without touching torch's global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return mlp(n_in, hidden, n_out, dtype=torch.float64)


def _mean_log_likelihood(policy: Tensor, states: Tensor, actions: Tensor) -> Tensor:
    """``(1/N) sum_n log pi(a_n | s_n)`` (``-inf`` when a demonstrated action has probability 0)."""
    return torch.log(policy[states, actions]).mean()


def _as_mdp(env_or_mdp: Any) -> TabularMDP:
    if isinstance(env_or_mdp, TabularMDP):
        return env_or_mdp
    inner = getattr(env_or_mdp, "mdp", None)
    if isinstance(inner, TabularMDP):
        return inner
    raise ValidationError("env_or_mdp", f"is a {type(env_or_mdp).__name__}", "pass a TabularMDP (e.g. world.mdp)")


def _decisions(data: TrajectoryDataset) -> tuple[Tensor, Tensor]:
    """Demonstrated ``(states, actions)`` of validated data as int64 CPU tensors."""
    if data.n_decisions == 0:
        raise ValidationError("data", "holds no decisions", "pass at least one trajectory with one action or more")
    states, actions, _ = data.decisions()
    return torch.from_numpy(states), torch.from_numpy(actions)


# ============================================================================ Gymnasium envs


class _PolicyMeta(TypedDict):
    """The schema of a :class:`GymBCPolicy`'s ``policy.json``."""

    format: str
    version: int
    widths: list[int]


class GymBCPolicy(nn.Module):
    """A behavioural-cloning policy for a Gymnasium env: an MLP from (standardised) observations to
    actions — the mean action for Box actions (clipped to the bounds), the most likely one for Discrete.
    ``predict(obs_batch)`` returns ``(actions, None)`` like an SB3 model, so rollouts treat both alike."""

    mean: Tensor
    std: Tensor

    def __init__(self, network: nn.Sequential, mean: Tensor, std: Tensor, low: Tensor | None, high: Tensor | None) -> None:
        super().__init__()
        self.network, self.low, self.high = network, low, high
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, obs: Tensor) -> Tensor:
        out: Tensor = self.network((obs.to(torch.float64) - self.mean) / self.std)
        return out

    @torch.no_grad()
    def predict(self, obs: Any, deterministic: bool = True) -> tuple[np.ndarray, None]:
        out = self(torch.as_tensor(np.asarray(obs)))
        if self.low is None:
            return out.argmax(-1).numpy(), None
        return torch.maximum(torch.minimum(out, self.high), self.low).numpy().astype(np.float32), None  # type: ignore[arg-type]

    def save(self, directory: str | Path) -> Path:
        """Write ``policy.safetensors`` (weights, observation mean and std, action bounds) and
        ``policy.json`` (the layer widths) into ``directory``; never pickle."""
        from rewardlab._io import save_tensors

        widths = [m.in_features for m in self.network if isinstance(m, nn.Linear)] + [self.network[-1].out_features]
        tensors = {f"network.{k}": v for k, v in self.network.state_dict().items()} | {"mean": self.mean, "std": self.std}
        if self.low is not None and self.high is not None:
            tensors |= {"low": self.low, "high": self.high}
        meta = {"format": "rewardlab.gym_bc_policy", "version": 1, "widths": widths}
        return save_tensors(
            directory, "policy", tensors, meta, finite=[k for k in tensors if k not in ("low", "high")]
        )  # bounds may be inf

    @classmethod
    def load(cls, directory: str | Path) -> GymBCPolicy:
        """Read what :meth:`save` wrote; a missing, corrupt or foreign file raises :class:`DataFileError`."""
        from rewardlab._io import read_tensors
        from rewardlab.errors import DataFileError

        meta, tensors = read_tensors(
            directory, "policy", "rewardlab.gym_bc_policy", "GymBCPolicy", schema=_PolicyMeta, required=("mean", "std")
        )
        widths = meta["widths"]
        weights = {k.removeprefix("network."): v for k, v in tensors.items() if k.startswith("network.")}
        try:
            if len(widths) < 2 or min(widths) < 1:
                raise ValueError(f"widths {widths} are not an input, hidden and output width")
            with torch.device("meta"):  # the widths' shapes, checked against the file's before any memory is allocated
                expected = {k: tuple(v.shape) for k, v in _mlp(widths[0], tuple(widths[1:-1]), widths[-1], 0).state_dict().items()}
            if expected != {k: tuple(v.shape) for k, v in weights.items()}:
                raise ValueError(f"the widths {widths} do not give the saved layers' shapes")
            net = _mlp(widths[0], tuple(widths[1:-1]), widths[-1], 0)
            net.load_state_dict(weights)
            policy = cls(net, tensors["mean"], tensors["std"], tensors.get("low"), tensors.get("high"))
        except (TypeError, ValueError, RuntimeError) as exc:
            raise DataFileError(f"{directory}: policy.json and policy.safetensors do not match ({exc}). Fix: re-save the policy") from exc
        return policy.eval()


def fit_gym_bc(
    dataset: Any,
    action_space: Any,
    *,
    rng: np.random.Generator,
    hidden: tuple[int, ...] = (256, 256),
    epochs: int = 200,
    lr: float = 1e-3,
    batch_size: int = 256,
    weight_decay: float = 1e-4,
) -> GymBCPolicy:
    """Behavioural cloning on Gymnasium demonstrations: mean-squared error to the demonstrated actions
    (Box) or cross-entropy (Discrete), Adam, observations standardised over the demonstrations.

    Examples:
        >>> import gymnasium as gym
        >>> from rewardlab.data import Trajectory
        >>> obs = np.linspace(-1, 1, 41, dtype=np.float32)[:, None]
        >>> demo = Trajectory(obs, -obs[:-1])  # the action cancels the observation
        >>> pi = fit_gym_bc([demo], gym.spaces.Box(-1, 1, (1,)), rng=np.random.default_rng(0), hidden=(32,), epochs=300)
        >>> float(abs(pi.predict(np.array([[0.5]], np.float32))[0][0, 0] + 0.5)) < 0.05
        True
    """
    import gymnasium as gym

    items = list(dataset)
    if not items:
        raise ValidationError("dataset", "is empty", "pass at least one demonstration")
    obs = torch.as_tensor(np.concatenate([np.asarray(tr.obs)[: len(tr)] for tr in items]), dtype=torch.float64).reshape(
        -1, int(np.prod(items[0].obs.shape[1:]))
    )
    acts = np.concatenate([np.asarray(tr.acts) for tr in items])
    discrete = isinstance(action_space, gym.spaces.Discrete)
    if not discrete and not isinstance(action_space, gym.spaces.Box):
        raise ValidationError("action_space", f"is {action_space}", "use a Box or Discrete action space")
    n_out = int(action_space.n) if discrete else int(np.prod(action_space.shape))
    target = torch.as_tensor(acts, dtype=torch.long if discrete else torch.float64).reshape(len(acts), *(() if discrete else (n_out,)))
    mean, std = obs.mean(0), obs.std(0, unbiased=False).clamp_min(1e-6)
    seed = int(rng.integers(2**31))
    net = _mlp(obs.shape[1], hidden, n_out, seed)
    low = None if discrete else torch.as_tensor(action_space.low, dtype=torch.float64)
    high = None if discrete else torch.as_tensor(action_space.high, dtype=torch.float64)
    policy = GymBCPolicy(net, mean, std, low, high)
    opt = Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    shuffle = torch.Generator().manual_seed(seed)
    n = len(obs)
    for epoch in range(epochs):
        order = torch.randperm(n, generator=shuffle)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            out = policy(obs[idx])
            loss = nn.functional.cross_entropy(out, target[idx]) if discrete else (out - target[idx]).square().mean()
            ensure_finite(loss.detach(), "BC loss", step=f"epoch {epoch}", fix=f"lower lr (now {lr:g})")
            opt.zero_grad()
            torch.autograd.backward(loss)
            opt.step()
    return policy.eval()
