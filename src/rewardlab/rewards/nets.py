"""Neural reward models: linear, MLP and CNN nets, ensembles with per-member normalisation.

A :class:`NeuralReward` is an ensemble of ``M`` :class:`RewardNet` members. Each member maps an
observation (and optionally an action) to a scalar; its outputs are shifted and scaled by a per-member
``offset`` and ``scale`` (set by :meth:`NeuralReward.normalize` on reference data, identity until
then), and the model's reward is the mean of the normalised members; their standard deviation is the
ensemble's disagreement. It follows the reward-model protocol ``r(obs, act, next_obs, done) -> (B,)``
and saves as safetensors + JSON, normalisation included (never pickle).

Architectures:

* ``"linear"`` — ``w^T phi(obs)`` with no bias (the linear rewards of T-REX/B-REX on features);
* ``"mlp"`` — fully connected with the given hidden widths (T-REX MuJoCo: 2 x 256);
* ``"cnn"`` — for image stacks ``(C, H, W)``: convolutions 7x7/3, 5x5/2, 3x3/1, 3x3/1 with 16 channels,
  leaky ReLU, then a 64-unit layer (the T-REX Atari net); ``uint8`` frames are scaled to ``[0, 1]``.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict

import numpy as np
import torch
from torch import Tensor, nn

from rewardlab._io import read_tensors, save_tensors
from rewardlab._memory import check_memory, training_nbytes
from rewardlab.errors import ConfigError, DataFileError, ShapeError, ValidationError

__all__ = [
    "ClippedInputReward",
    "NeuralReward",
    "PessimisticReward",
    "RewardNet",
    "RewardNetSpec",
    "SoftplusReward",
    "check_reward_memory",
    "mlp",
    "mlp_parameters",
]

_FORMAT = "rewardlab.NeuralReward"


class _SpecMeta(TypedDict):
    obs_shape: list[int]
    architecture: str
    hidden: list[int]
    act_dim: int
    discrete_actions: bool
    activation: str


class _RewardMeta(TypedDict):
    """The schema of a :class:`NeuralReward`'s ``reward.json``."""

    format: str
    version: int
    spec: _SpecMeta
    members: int


_VERSION = 1


@dataclass(frozen=True)
class RewardNetSpec:
    """What a reward net looks like.

    Attributes:
        obs_shape: one observation's shape: ``(D,)`` for vectors, ``(C, H, W)`` for images.
        architecture: ``"linear"``, ``"mlp"`` or ``"cnn"``.
        hidden: hidden widths of the MLP (the CNN's last layer width is ``hidden[0]``).
        act_dim: 0 for an observation-only reward; else the action's size (continuous) or the number
            of actions (``discrete_actions``, one-hot encoded).
        discrete_actions: actions are integers in ``[0, act_dim)``.
        activation: ``"relu"``, ``"tanh"`` or ``"leaky_relu"``.
    """

    obs_shape: tuple[int, ...]
    architecture: Literal["linear", "mlp", "cnn"] = "mlp"
    hidden: tuple[int, ...] = (256, 256)
    act_dim: int = 0
    discrete_actions: bool = False
    activation: Activation = "leaky_relu"

    def __post_init__(self) -> None:
        object.__setattr__(self, "obs_shape", tuple(int(x) for x in self.obs_shape))
        object.__setattr__(self, "hidden", tuple(int(x) for x in self.hidden))
        if self.architecture not in ("linear", "mlp", "cnn"):
            raise ConfigError("architecture", f"is {self.architecture!r}", "choose 'linear', 'mlp' or 'cnn'")
        if self.activation not in ("relu", "tanh", "leaky_relu"):
            raise ConfigError("activation", f"is {self.activation!r}", "choose 'relu', 'tanh' or 'leaky_relu'")
        if self.architecture == "cnn" and len(self.obs_shape) != 3:
            raise ConfigError("obs_shape", f"is {self.obs_shape} for a CNN", "pass (C, H, W) image stacks")
        if self.architecture != "cnn" and len(self.obs_shape) != 1:
            raise ConfigError("obs_shape", f"is {self.obs_shape}", "flatten observations to (D,), or use architecture='cnn'")
        if self.architecture != "linear" and not self.hidden:
            raise ConfigError("hidden", "is empty", "give at least one hidden width, or use architecture='linear'")
        if self.act_dim < 0:
            raise ConfigError("act_dim", f"is {self.act_dim}", "use 0 (observation only) or the action size")

    @property
    def uses_action(self) -> bool:
        return self.act_dim > 0


Activation = Literal["relu", "tanh", "leaky_relu"]


def _activation(name: Activation) -> nn.Module:
    return {"relu": nn.ReLU(), "tanh": nn.Tanh(), "leaky_relu": nn.LeakyReLU(0.01)}[name]


def mlp(
    n_in: int,
    hidden: tuple[int, ...],
    n_out: int,
    *,
    activation: Activation = "relu",
    dropout: float = 0.0,
    dtype: torch.dtype | None = None,
) -> nn.Sequential:
    """The one fully connected builder every small net of the library uses: ``(B, n_in) -> (B, n_out)``.

    ``Linear(n_in, h_1), act, [Dropout], ..., Linear(h_k, n_out)``; ``hidden=()`` is one linear layer.
    Weights are drawn from torch's global generator in layer order, so a caller that seeds it (or forks
    it, like behavioural cloning) gets the same net for the same seed.

    Examples:
        >>> net = mlp(3, (8, 8), 2, activation="tanh", dropout=0.1)
        >>> [type(m).__name__ for m in net]
        ['Linear', 'Tanh', 'Dropout', 'Linear', 'Tanh', 'Dropout', 'Linear']
        >>> net(torch.zeros(5, 3)).shape
        torch.Size([5, 2])
    """
    layers: list[nn.Module] = []
    width = n_in
    for h in hidden:
        layers += [nn.Linear(width, h, dtype=dtype), _activation(activation)] + ([nn.Dropout(dropout)] if dropout > 0 else [])
        width = h
    layers.append(nn.Linear(width, n_out, dtype=dtype))
    return nn.Sequential(*layers)


def mlp_parameters(n_in: int, hidden: tuple[int, ...], n_out: int) -> int:
    """The number of weights and biases of :func:`mlp` ``(n_in, hidden, n_out)``: ``sum_l (w_l + 1) w_{l+1}``
    over the widths ``(n_in, *hidden, n_out)``.

    Examples:
        >>> mlp_parameters(3, (8, 8), 2) == sum(p.numel() for p in mlp(3, (8, 8), 2).parameters())
        True
    """
    widths = [n_in, *hidden, n_out]
    return sum((a + 1) * b for a, b in itertools.pairwise(widths))


class RewardNet(nn.Module):
    """One reward net: ``(obs (B, *obs_shape), act (B, ...) | None) -> (B,)``.

    Examples:
        >>> net = RewardNet(RewardNetSpec((3,), hidden=(8,), act_dim=2))
        >>> net(torch.zeros(5, 3), torch.zeros(5, 2)).shape
        torch.Size([5])
    """

    def __init__(self, spec: RewardNetSpec) -> None:
        super().__init__()
        self.spec = spec
        act_in = spec.act_dim
        if spec.architecture == "cnn":
            c, h, w = spec.obs_shape
            self.encoder: nn.Module = nn.Sequential(
                nn.Conv2d(c, 16, 7, stride=3),
                nn.LeakyReLU(0.01),
                nn.Conv2d(16, 16, 5, stride=2),
                nn.LeakyReLU(0.01),
                nn.Conv2d(16, 16, 3, stride=1),
                nn.LeakyReLU(0.01),
                nn.Conv2d(16, 16, 3, stride=1),
                nn.LeakyReLU(0.01),
                nn.Flatten(),
            )
            with torch.no_grad():
                n_flat = int(self.encoder(torch.zeros(1, c, h, w)).shape[1])
            self.head: nn.Module = mlp(n_flat + act_in, spec.hidden[:1], 1, activation="leaky_relu")
        elif spec.architecture == "mlp":
            self.encoder = nn.Identity()
            self.head = mlp(spec.obs_shape[0] + act_in, spec.hidden, 1, activation=spec.activation)
        else:
            self.encoder = nn.Identity()
            self.head = nn.Linear(spec.obs_shape[0] + act_in, 1, bias=False)

    def _inputs(self, obs: Tensor, act: Tensor | None) -> Tensor:
        spec = self.spec
        if tuple(obs.shape[1:]) != spec.obs_shape:
            raise ShapeError("obs", f"has shape {tuple(obs.shape)}", f"pass (B, *{spec.obs_shape})")
        x = obs.float() / 255.0 if obs.dtype == torch.uint8 else obs.float()
        z: Tensor = self.encoder(x)
        if not spec.uses_action:
            return z
        if act is None:
            raise ValidationError("act", "is None for a state-action reward", "pass the actions")
        if spec.discrete_actions:
            a = nn.functional.one_hot(act.long().reshape(-1), spec.act_dim).to(z.dtype)
        else:
            a = act.reshape(len(act), -1).to(z.dtype)
            if a.shape[1] != spec.act_dim:
                raise ShapeError("act", f"has shape {tuple(act.shape)}", f"pass (B, {spec.act_dim})")
        return torch.cat([z, a], dim=1)

    def forward(self, obs: Tensor, act: Tensor | None = None) -> Tensor:
        out: Tensor = self.last_layer(self.features(obs, act)).squeeze(-1)
        return out

    @property
    def last_layer(self) -> nn.Linear:
        """The final linear layer ``w^T phi + b`` (no bias for ``"linear"``)."""
        layer = self.head[-1] if isinstance(self.head, nn.Sequential) else self.head
        assert isinstance(layer, nn.Linear)
        return layer

    def features(self, obs: Tensor, act: Tensor | None = None) -> Tensor:
        """``(B, D)`` the input of the last layer: the learned features ``phi`` (the inputs themselves for ``"linear"``)."""
        x = self._inputs(obs, act)
        if isinstance(self.head, nn.Sequential):
            out: Tensor = self.head[:-1](x)
            return out
        return x


def check_reward_memory(spec: RewardNetSpec, members: int, *, fields: tuple[str, str] = ("members", "spec.hidden")) -> int:
    """Refuse, before any weight is allocated, an ensemble of ``members`` nets of ``spec`` whose training
    would not fit in memory (:func:`rewardlab._memory.training_nbytes`: the members' float32 weights, one
    member's gradients and Adam moments); return one member's parameter count.

    The error names ``fields[1]`` (the widths) when one member alone is too big, else ``fields[0]`` (the
    ensemble size); a learner passes the names its config uses (T-REX: ``("ensemble", "hidden")``).

    Examples:
        >>> check_reward_memory(RewardNetSpec((3,), hidden=(8,)), 2)  # (3 + 1) * 8 + 9 parameters each
        41
        >>> try:
        ...     check_reward_memory(RewardNetSpec((3,), hidden=(8,)), 10**12, fields=("ensemble", "hidden"))
        ... except ValueError as err:
        ...     print(str(err).split(" would")[0])
        ensemble: 1000000000000 reward nets of 41 parameters
    """
    with torch.device("meta"):  # shapes only: nothing is allocated
        per_member = sum(p.numel() for p in RewardNet(spec).parameters())
    fix = "use fewer members or narrower hidden layers"
    check_memory(
        fields[1],
        training_nbytes(per_member),
        f"one reward net of {per_member} parameters",
        f"use narrower hidden layers than {spec.hidden}",
    )
    check_memory(
        fields[0], training_nbytes(per_member, stored=(members - 1) * per_member), f"{members} reward nets of {per_member} parameters", fix
    )
    return per_member


class NeuralReward(nn.Module):
    """An ensemble of ``members`` reward nets with per-member normalisation.

    ``r(obs, act) = mean_m (f_m(obs, act) - offset_m) / scale_m``.

    Args:
        spec: the members' architecture.
        members: ensemble size ``M``.
        seed: initialises member ``m`` with ``torch.manual_seed(seed + m)``.

    Examples:
        >>> model = NeuralReward(RewardNetSpec((4,), hidden=(16,)), members=3)
        >>> obs = torch.randn(100, 4)
        >>> model.normalize(obs)
        >>> model.member_rewards(obs).mean(1).abs().max() < 1e-5  # each member is centred on the data
        tensor(True)
        >>> mean, std = model.predict(obs)
        >>> mean.shape, std.shape
        (torch.Size([100]), torch.Size([100]))
    """

    offset: Tensor
    scale: Tensor
    #: the ``format`` its ``reward.json`` names (:func:`rewardlab.rewards.load_reward` dispatches on it)
    FORMAT = _FORMAT

    def __init__(self, spec: RewardNetSpec, members: int = 1, *, seed: int = 0) -> None:
        super().__init__()
        if members < 1:
            raise ConfigError("members", f"is {members}", "use at least one member")
        check_reward_memory(spec, members)
        self.spec = spec
        nets = []
        for m in range(members):
            torch.manual_seed(seed + m)
            nets.append(RewardNet(spec))
        self.members = nn.ModuleList(nets)
        self.register_buffer("offset", torch.zeros(members))
        self.register_buffer("scale", torch.ones(members))

    @property
    def n_members(self) -> int:
        return len(self.members)

    def member(self, m: int) -> RewardNet:
        """Member ``m``'s net."""
        net = self.members[m]
        assert isinstance(net, RewardNet)
        return net

    def raw_rewards(self, obs: Tensor, act: Tensor | None = None) -> Tensor:
        """``(M, B)`` unnormalised member outputs (what training optimises)."""
        return torch.stack([self.member(m)(obs, act) for m in range(self.n_members)])

    def member_rewards(self, obs: Any, act: Any = None) -> Tensor:
        """``(M, B)`` normalised member rewards."""
        o, a = self._tensors(obs, act)
        return (self.raw_rewards(o, a) - self.offset[:, None]) / self.scale[:, None]

    def predict(self, obs: Any, act: Any = None) -> tuple[Tensor, Tensor]:
        """Ensemble mean and standard deviation ``(B,)``, ``(B,)`` (std 0 for one member)."""
        r = self.member_rewards(obs, act)
        std = r.std(0, unbiased=False) if len(r) > 1 else torch.zeros_like(r[0])
        return r.mean(0), std

    def forward(self, obs: Any, act: Any = None, next_obs: Any = None, done: Any = None) -> Tensor:
        """The reward-model protocol ``r(obs, act, next_obs, done) -> (B,)``: the ensemble-mean reward."""
        return self.member_rewards(obs, act).mean(0)

    def _tensors(self, obs: Any, act: Any) -> tuple[Tensor, Tensor | None]:
        device = self.offset.device
        o = torch.as_tensor(np.asarray(obs) if not isinstance(obs, Tensor) else obs, device=device)
        a = None if act is None else torch.as_tensor(np.asarray(act) if not isinstance(act, Tensor) else act, device=device)
        return o, a

    @torch.no_grad()
    def normalize(self, obs: Any, act: Any = None, *, batch: int = 4096) -> None:
        """Set each member's offset and scale to the mean and std of its outputs on ``obs`` (``(N, ...)``)."""
        o, a = self._tensors(obs, act)
        if len(o) < 2:
            raise ValidationError("obs", f"has {len(o)} rows", "normalise on at least two observations")
        raw = torch.cat([self.raw_rewards(o[k : k + batch], None if a is None else a[k : k + batch]) for k in range(0, len(o), batch)], 1)
        self.offset.copy_(raw.mean(1))
        self.scale.copy_(raw.std(1).clamp_min(1e-8))

    def save(self, directory: str | Path) -> Path:
        """Write ``reward.safetensors`` (weights, offsets, scales) and ``reward.json`` (the spec) into
        ``directory`` as one unit (:func:`rewardlab._io.save_tensors`); a NaN or infinite weight raises
        :class:`ValidationError` and nothing is written."""
        meta = {"format": self.FORMAT, "version": _VERSION, "spec": asdict(self.spec), "members": self.n_members}
        return save_tensors(directory, "reward", dict(self.state_dict()), meta)

    @classmethod
    def load(cls, directory: str | Path, *, device: str = "cpu") -> NeuralReward:
        """Read what :meth:`save` wrote; a missing, corrupt or foreign file raises :class:`DataFileError`."""
        meta, tensors = read_tensors(directory, "reward", cls.FORMAT, cls.__name__, schema=_RewardMeta, required=("offset",))
        raw, members = meta["spec"], meta["members"]
        mismatch = f"{directory}: reward.json and reward.safetensors do not match"
        if tuple(tensors["offset"].shape) != (members,):
            raise DataFileError(f"{mismatch} (members {members}, offsets {tuple(tensors['offset'].shape)}). Fix: re-save the model")
        try:
            spec = RewardNetSpec(**{**raw, "obs_shape": tuple(raw["obs_shape"]), "hidden": tuple(raw["hidden"])})
            with torch.device("meta"):  # the spec's shapes, checked against the file's before any memory is allocated
                skeleton = cls(spec, members=members)
        except (TypeError, RuntimeError, ValidationError) as exc:
            raise DataFileError(f"{mismatch} ({exc}). Fix: re-save the model") from exc
        expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
        found = {k: tuple(v.shape) for k, v in tensors.items()}
        if expected != found:
            key = next(k for k in sorted(set(expected) | set(found)) if expected.get(k) != found.get(k))
            raise DataFileError(
                f"{mismatch} ({key}: the spec says {expected.get(key)}, the file has {found.get(key)}). Fix: re-save the model"
            )
        model = cls(spec, members=members)
        model.load_state_dict(tensors)
        return model.to(device).eval()

    def describe(self) -> str:
        """One line for logs."""
        return json.dumps({"members": self.n_members, **asdict(self.spec)})


class SoftplusReward(NeuralReward):
    """A neural reward passed through softplus: ``r = log(1 + exp(z))`` with ``z`` the ensemble's
    (normalised, mean) output, so always positive.

    For a GAIL discriminator whose output is the logit ``z = log D - log(1 - D)`` of the probability ``D``
    that ``(s, a)`` is the expert's, ``softplus(z) = -log(1 - D)``: the reward of Ho & Ermon (2016), whose
    policy minimises the cost ``log D_pi`` with ``D_pi = 1 - D`` (:mod:`rewardlab.irl.adversarial`).
    Saved and loaded like :class:`NeuralReward`, under its own format name.

    Examples:
        >>> model = SoftplusReward(RewardNetSpec((2,), hidden=(8,)))
        >>> obs = torch.randn(4, 2)
        >>> bool(torch.allclose(model(obs), nn.functional.softplus(model.member_rewards(obs).mean(0))))
        True
    """

    FORMAT = "rewardlab.SoftplusReward"

    def forward(self, obs: Any, act: Any = None, next_obs: Any = None, done: Any = None) -> Tensor:
        return nn.functional.softplus(super().forward(obs, act))


class PessimisticReward(nn.Module):
    """An ensemble's mean minus ``k`` standard deviations of its members: ``r = mean_m r_m - k std_m r_m``.

    Where the members were trained on data they agree; far from it they often do not, and a policy
    optimising the plain mean can run into such regions (reward hacking). Penalising disagreement
    keeps the policy where the reward was learned (the "lower confidence bound" of the ensemble).

    Examples:
        >>> model = NeuralReward(RewardNetSpec((2,), hidden=(8,)), members=3)
        >>> obs = torch.randn(4, 2)
        >>> mean, std = model.predict(obs)
        >>> bool(torch.allclose(PessimisticReward(model, 2.0)(obs), mean - 2 * std))
        True
    """

    def __init__(self, model: NeuralReward, k: float = 1.0) -> None:
        super().__init__()
        if model.n_members < 2:
            raise ConfigError("model", "has one member", "use an ensemble of at least two members, or the model itself")
        if k < 0:
            raise ConfigError("k", f"is {k}", "use k >= 0 (0 is the plain ensemble mean)")
        self.model, self.k = model, float(k)
        self.spec = model.spec

    def forward(self, obs: Any, act: Any = None, next_obs: Any = None, done: Any = None) -> Tensor:
        mean, std = self.model.predict(obs, act)
        return mean - self.k * std


class ClippedInputReward(nn.Module):
    """A reward model evaluated on observations clipped to a box: ``r(clip(obs, low, high), act)``.

    A net trained on some region of observation space can assign any value far outside it, and a
    policy optimising it will go there (reward hacking: a HalfCheetah running backwards, say). Clipping
    each observation dimension to the range seen in the reward's training data, widened by ``margin``
    times that range on each side, makes the reward constant beyond the box: it can still reward the
    best corner of the data's region, never a direction it has no data on.

    Args:
        model: any reward model ``(obs (B, *obs_shape), act) -> (B,)`` (e.g. a :class:`NeuralReward`
            or a :class:`PessimisticReward`).
        low: ``obs_shape`` lower bounds.
        high: ``obs_shape`` upper bounds, ``low <= high``.

    Examples:
        >>> model = NeuralReward(RewardNetSpec((2,), hidden=(8,)))
        >>> data = torch.tensor([[0.0, -1.0], [1.0, 1.0]])
        >>> clipped = ClippedInputReward.from_data(model, data, margin=0.5)  # box [-0.5, 1.5] x [-2, 2]
        >>> bool(torch.allclose(clipped(torch.tensor([[9.0, -9.0]])), model(torch.tensor([[1.5, -2.0]]))))
        True
    """

    low: Tensor
    high: Tensor

    def __init__(self, model: nn.Module, low: Any, high: Any) -> None:
        super().__init__()
        lo, hi = torch.as_tensor(np.asarray(low), dtype=torch.float32), torch.as_tensor(np.asarray(high), dtype=torch.float32)
        if lo.shape != hi.shape:
            raise ConfigError("low/high", f"have shapes {tuple(lo.shape)} and {tuple(hi.shape)}", "give bounds of the observation shape")
        if not bool(torch.isfinite(lo).all() and torch.isfinite(hi).all()) or bool((lo > hi).any()):
            raise ConfigError("low/high", "are not finite with low <= high", "compute them from the reward's training observations")
        spec = getattr(model, "spec", None)
        if spec is not None and tuple(spec.obs_shape) != tuple(lo.shape):
            raise ConfigError(
                "low/high", f"have shape {tuple(lo.shape)}, the model takes {tuple(spec.obs_shape)}", "bound every observation dimension"
            )
        self.model, self.spec = model, spec
        self.register_buffer("low", lo)
        self.register_buffer("high", hi)

    @classmethod
    def from_data(cls, model: nn.Module, obs: Any, margin: float = 0.0) -> ClippedInputReward:
        """Bounds from observations ``(N, *obs_shape)``: their per-dimension range, widened by ``margin`` x range."""
        if margin < 0:
            raise ConfigError("margin", f"is {margin}", "use margin >= 0 (0 clips to the data's exact range)")
        o = torch.as_tensor(np.asarray(obs), dtype=torch.float32)
        if o.ndim < 2 or len(o) < 2:
            raise ValidationError("obs", f"has shape {tuple(o.shape)}", "pass at least two observations stacked on axis 0")
        lo, hi = o.min(0).values, o.max(0).values
        pad = margin * (hi - lo)
        return cls(model, lo - pad, hi + pad)

    def forward(self, obs: Any, act: Any = None, next_obs: Any = None, done: Any = None) -> Tensor:
        o = torch.as_tensor(np.asarray(obs) if not isinstance(obs, Tensor) else obs, device=self.low.device)
        out: Tensor = self.model(torch.clamp(o.to(self.low.dtype), self.low, self.high), act)
        return out
