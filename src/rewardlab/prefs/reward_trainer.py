"""The reward trainer of the Christiano loop: an ensemble trained incrementally on labels as they come.

Christiano, Leike, Brown, Martic, Legg, Amodei, *Deep reinforcement learning from human preferences*
(NeurIPS 2017), section 2.2.3, and what :class:`PreferenceRewardTrainer` implements of it:

* **An ensemble of ``M`` members**, each trained on a bootstrap resample of the training labels. Labels
  arrive over rounds, so the resample is the *online* bootstrap (Oza & Russell 2001): when a label is
  first seen, member ``m`` draws its count ``c[m, i] ~ Poisson(1)`` (the limit of a multinomial
  resample's counts) once and keeps it; a member samples its minibatches with probability
  ``c[m, i] / sum_j c[m, j]`` (uniformly while all its counts are 0, which only a handful of labels
  allows). A label therefore keeps its resample count in every later round.
* **A held-out fraction.** When first seen, a label is put in the validation set with probability
  ``validation`` (the paper holds out ``1/e``), once and for good; validation labels are never trained on.
* **Bradley–Terry with the label-noise model**: ``P(a ≻ b) = (1 - epsilon) sigmoid(R_a - R_b) + epsilon / 2``
  with ``epsilon = label_noise`` (0.1: "a 10% chance that the human responds uniformly at random"),
  :func:`rewardlab.prefs.losses.bradley_terry_log_likelihood`. Skipped labels are never used; ties
  (``0.5``) train both directions by half.
* **Adaptive L2.** Each member has its own L2 coefficient ``lambda_m`` (Adam's ``weight_decay``: the
  gradient of ``lambda_m / 2 ||theta_m||^2``). After each round, with ``rho_m = L_val,m / L_train,m``
  (the noise-model cross-entropy, without the penalty, of member ``m`` on the validation labels and on
  its own bootstrap-weighted training labels): ``lambda_m <- min(lambda_m * l2_factor, l2_max)`` when
  ``rho_m > l2_band[1]`` (overfitting), ``lambda_m <- max(lambda_m / l2_factor, l2_min)`` when
  ``rho_m < l2_band[0]`` (underfitting), unchanged inside the band (paper: keep the validation loss
  "between 1.1 and 1.5 times the training loss"). No validation label yet: unchanged.
* **Incremental training.** :meth:`PreferenceRewardTrainer.update` continues the *same* nets and Adam
  moments for ``steps_per_round`` more steps on every label seen so far (the new ones included); nothing
  is refit from scratch.
* **Normalised rewards.** After each round each member is scaled to zero mean and unit standard
  deviation over the observations of the labelled segments (:meth:`NeuralReward.normalize`, as T-REX
  does); the training loss reads the raw outputs, so normalising never changes what is learned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rewardlab._optim import Adam
from rewardlab.data.preferences import PreferenceDataset, Segment
from rewardlab.errors import ConfigError, ValidationError
from rewardlab.learner import ensure_finite
from rewardlab.prefs.losses import bradley_terry_log_likelihood, preference_probability
from rewardlab.rewards import NeuralReward, RewardNetSpec

__all__ = ["PreferenceRewardTrainer", "RewardTrainerConfig", "adapt_l2"]


@dataclass(frozen=True)
class RewardTrainerConfig:
    """Hyperparameters of :class:`PreferenceRewardTrainer`.

    Attributes:
        members: ensemble size ``M``.
        hidden: hidden widths of each member's MLP; ``()`` is a linear reward on the observation (and action).
        use_action: reward on (observation, action) instead of observation only.
        n_actions: the number of actions when actions are integers (one-hot encoded); None for vector actions.
        lr: Adam step size.
        batch_size: labels per member and step.
        steps_per_round: gradient steps per member in each :meth:`~PreferenceRewardTrainer.update`.
        validation: probability that a new label is held out (the paper: ``1/e``).
        l2: initial L2 coefficient of every member (> 0: the rule rescales it).
        l2_factor: the multiplicative step of the adaptation (1 = fixed L2).
        l2_band: ``(low, high)`` band of the validation/training loss ratio that leaves L2 unchanged.
        l2_min, l2_max: bounds of the adapted coefficient.
        label_noise: ``epsilon``, the probability that a label is a random answer.
        normalize: scale each member to zero mean, unit std on the labelled segments after each round.
        device: ``"cpu"`` or ``"cuda"``.
    """

    members: int = 3
    hidden: tuple[int, ...] = (64, 64)
    use_action: bool = False
    n_actions: int | None = None
    lr: float = 3e-4
    batch_size: int = 64
    steps_per_round: int = 200
    validation: float = 1 / math.e
    l2: float = 1e-3
    l2_factor: float = 1.5
    l2_band: tuple[float, float] = (1.1, 1.5)
    l2_min: float = 1e-8
    l2_max: float = 10.0
    label_noise: float = 0.1
    normalize: bool = True
    device: str = "cpu"

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "l2_band", tuple(float(x) for x in self.l2_band))
        for name in ("members", "batch_size", "steps_per_round"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"is {getattr(self, name)}", "use at least 1")
        if any(h < 1 for h in self.hidden):
            raise ConfigError("hidden", f"is {self.hidden}", "use positive widths, or () for a linear reward")
        if self.n_actions is not None and self.n_actions < 1:
            raise ConfigError("n_actions", f"is {self.n_actions}", "pass the number of discrete actions, or None for vector actions")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError("lr", f"is {self.lr}", "use a positive step size")
        if not 0 <= self.validation < 1:
            raise ConfigError("validation", f"is {self.validation}", "hold out a fraction in [0, 1)")
        if not (0 < self.l2_min <= self.l2 <= self.l2_max and math.isfinite(self.l2_max)):
            raise ConfigError("l2", f"is {self.l2} with bounds [{self.l2_min}, {self.l2_max}]", "use 0 < l2_min <= l2 <= l2_max < inf")
        if not (self.l2_factor >= 1 and math.isfinite(self.l2_factor)):
            raise ConfigError("l2_factor", f"is {self.l2_factor}", "use a finite factor >= 1 (1 keeps L2 fixed)")
        low, high = self.l2_band
        if len(self.l2_band) != 2 or not 0 < low <= high:
            raise ConfigError("l2_band", f"is {self.l2_band}", "pass (low, high) with 0 < low <= high, e.g. (1.1, 1.5)")
        if not 0 <= self.label_noise < 1:
            raise ConfigError("label_noise", f"is {self.label_noise}", "use a probability of a random answer in [0, 1)")
        if self.device not in ("cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError("device", f"is {self.device!r}", "use 'cpu' or 'cuda'")


def adapt_l2(l2: float, ratio: float, *, factor: float, band: tuple[float, float], bounds: tuple[float, float]) -> float:
    """One step of the adaptive L2 rule (Christiano et al. 2017, 2.2.3).

    ``ratio = L_val / L_train``: above ``band[1]`` (overfitting) ``l2 * factor``, below ``band[0]``
    (underfitting) ``l2 / factor``, else ``l2``; clipped to ``bounds``. A NaN ratio (no validation
    labels) leaves ``l2`` unchanged.

    Examples:
        >>> adapt_l2(1e-3, 2.0, factor=2.0, band=(1.1, 1.5), bounds=(1e-8, 1.0))
        0.002
        >>> adapt_l2(1e-3, 1.0, factor=2.0, band=(1.1, 1.5), bounds=(1e-8, 1.0))
        0.0005
        >>> adapt_l2(1e-3, 1.3, factor=2.0, band=(1.1, 1.5), bounds=(1e-8, 1.0))
        0.001
    """
    if math.isnan(ratio):
        return l2
    if ratio > band[1]:
        l2 *= factor
    elif ratio < band[0]:
        l2 /= factor
    return min(max(l2, bounds[0]), bounds[1])


class PreferenceRewardTrainer:
    """Trains one reward ensemble further on each call, on the preference labels seen so far.

    ``update(dataset, rng=...)`` takes the growing :class:`~rewardlab.data.PreferenceDataset` of the
    loop (labels are only ever appended); ``reward_model()`` is the normalised ensemble
    (:class:`~rewardlab.rewards.NeuralReward`, the mean over members); ``member_probabilities`` feeds
    the disagreement and entropy query strategies. See the module docstring for the method.

    Examples:
        >>> from rewardlab.data import Preference, PreferenceDataset, Segment
        >>> rng = np.random.default_rng(0)
        >>> def seg(x): return Segment(x, np.zeros((len(x), 1)), rews=x[:, 0])
        >>> prefs = []
        >>> for _ in range(60):
        ...     a, b = seg(rng.normal(size=(4, 2))), seg(rng.normal(size=(4, 2)))
        ...     prefs.append(Preference(a, b, float(a.ret > b.ret)))
        >>> trainer = PreferenceRewardTrainer(RewardTrainerConfig(members=2, hidden=(), lr=0.05, steps_per_round=100))
        >>> metrics = trainer.update(PreferenceDataset(prefs), rng=rng)
        >>> metrics["train_accuracy"] > 0.9
        True
    """

    def __init__(self, config: RewardTrainerConfig | None = None) -> None:
        self.config = config if config is not None else RewardTrainerConfig()
        self.model: NeuralReward | None = None
        self.l2: list[float] = [self.config.l2] * self.config.members
        self.rounds = 0
        self._seen: list[Any] = []  # the Preference objects seen, in order
        self._optims: list[Adam] = []
        self._counts = np.zeros((self.config.members, 0), dtype=np.int64)  # (M, N) bootstrap counts
        self._is_val = np.zeros(0, dtype=bool)  # (N,)
        self._labels = np.zeros(0)  # (N,), NaN = skipped
        self._obs: list[Tensor] = []  # [obs_a (N, T, ...), obs_b (N, T, ...)]
        self._acts: list[Tensor] = []

    # -- the state of the labels ----------------------------------------------------------------------
    @property
    def bootstrap_counts(self) -> np.ndarray:
        """``(M, N)`` each member's resample count of each label seen (0 for validation and skipped labels)."""
        return self._counts.copy()

    @property
    def validation_mask(self) -> np.ndarray:
        """``(N,)`` True where a label seen is held out (never for skipped labels)."""
        return self._is_val.copy()

    def _device(self) -> torch.device:
        return torch.device(self.config.device)

    def _spec(self, dataset: PreferenceDataset) -> RewardNetSpec:
        cfg = self.config
        obs_shape, act_shape = dataset.obs_shape, dataset.act_shape
        assert obs_shape is not None and act_shape is not None
        act_dim, discrete = 0, False
        if cfg.use_action:
            if np.issubdtype(dataset[0].a.acts.dtype, np.integer):
                if cfg.n_actions is None:
                    raise ConfigError("n_actions", "is None for integer actions", "pass the number of actions (they are one-hot encoded)")
                act_dim, discrete = cfg.n_actions, True
            else:
                act_dim = int(np.prod(act_shape))
        arch = "cnn" if len(obs_shape) == 3 else ("linear" if not cfg.hidden else "mlp")
        hidden = cfg.hidden if cfg.hidden else (1,)
        return RewardNetSpec(obs_shape, arch, hidden, act_dim, discrete)  # type: ignore[arg-type]

    def _ingest(self, dataset: PreferenceDataset, rng: np.random.Generator) -> int:
        """Take the labels appended since the last call: draw their validation membership and bootstrap
        counts once. Returns how many are new."""
        if not isinstance(dataset, PreferenceDataset):
            raise ValidationError("dataset", f"is a {type(dataset).__name__}", "pass a PreferenceDataset")
        n_old = len(self._seen)
        if len(dataset) < n_old or any(dataset[i] is not p for i, p in enumerate(self._seen)):
            raise ValidationError(
                "dataset",
                f"does not start with the {n_old} preferences of the previous updates",
                "append new labels to the same dataset (or start a new trainer)",
            )
        new = dataset[n_old:]
        if not len(new):
            return 0
        cfg = self.config
        labels = new.labels()
        is_val = (rng.random(len(new)) < cfg.validation) & ~np.isnan(labels)
        counts = rng.poisson(1.0, size=(cfg.members, len(new)))
        counts[:, is_val | np.isnan(labels)] = 0
        if self.model is None:
            self._build(dataset, seed=int(rng.integers(2**31)))
        self._append(new, is_val, counts)
        return len(new)

    def _build(self, dataset: PreferenceDataset, *, seed: int) -> None:
        cfg = self.config
        self.model = NeuralReward(self._spec(dataset), members=cfg.members, seed=seed).to(self._device())
        self._optims = [Adam(self.model.member(m).parameters(), lr=cfg.lr, weight_decay=self.l2[m]) for m in range(cfg.members)]

    def _append(self, new: PreferenceDataset, is_val: np.ndarray, counts: np.ndarray) -> None:
        """Stack the segments of ``new`` onto the ones seen, with their held-out flags and counts."""
        device, first = self._device(), not self._seen
        batch = new.segments()
        if first:
            self._obs, self._acts = [torch.empty(0), torch.empty(0)], [torch.empty(0), torch.empty(0)]
        for k, (obs, acts) in enumerate(((batch.obs_a, batch.acts_a), (batch.obs_b, batch.acts_b))):
            o = torch.as_tensor(obs, device=device)
            o = o.float() if o.dtype == torch.float64 else o
            a = torch.as_tensor(acts, device=device)
            a = a.float() if a.dtype == torch.float64 else a
            self._obs[k] = o if first else torch.cat([self._obs[k], o])
            self._acts[k] = a if first else torch.cat([self._acts[k], a])
        self._seen.extend(new)
        self._labels = np.concatenate([self._labels, new.labels()])
        self._is_val = np.concatenate([self._is_val, is_val])
        self._counts = np.concatenate([self._counts, counts], axis=1)

    # -- checkpoints ----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed loop needs besides the labels themselves (plain values, for
        :class:`rewardlab.checkpoint.Checkpoint`): the nets and normalisers, each member's Adam moments
        and L2, the rounds done, and each label's held-out flag and bootstrap counts."""
        model = self.reward_model()
        return {
            "rounds": self.rounds,
            "labels_seen": len(self._seen),
            "l2": list(self.l2),
            "counts": torch.as_tensor(self._counts),
            "validation": torch.as_tensor(self._is_val),
            "model": model.state_dict(),
            "optimizers": [opt.state_dict() for opt in self._optims],
        }

    def load_state_dict(self, state: dict[str, Any], dataset: PreferenceDataset) -> None:
        """Continue from ``state`` (:meth:`state_dict`) of a trainer with this config; ``dataset`` holds at
        least the labels that trainer had seen, first and in the same order (e.g. the loop's saved dataset)."""
        if self._seen:
            raise ValidationError("trainer", "has already been updated", "load the state into a new trainer")
        if not isinstance(dataset, PreferenceDataset):
            raise ValidationError("dataset", f"is a {type(dataset).__name__}", "pass a PreferenceDataset")
        n = int(state["labels_seen"])
        counts = np.asarray(state["counts"], dtype=np.int64)
        if len(dataset) < n or counts.shape != (self.config.members, n):
            raise ValidationError(
                "state",
                f"is of {counts.shape[0]} members and {n} labels, for {self.config.members} members and a dataset of {len(dataset)}",
                "resume with the run's config and its saved preference dataset",
            )
        self.l2 = [float(x) for x in state["l2"]]
        self._build(dataset, seed=0)
        assert self.model is not None
        self.model.load_state_dict(state["model"])
        for opt, saved in zip(self._optims, state["optimizers"], strict=True):
            opt.load_state_dict(saved)
        self._append(dataset[:n], np.asarray(state["validation"], dtype=bool), counts)
        self.rounds = int(state["rounds"])

    # -- returns and probabilities --------------------------------------------------------------------
    def _returns(self, m: int, side: int, idx: Tensor) -> Tensor:
        """``(B,)`` member ``m``'s raw predicted returns of the segments ``idx`` on side ``side`` (0 = a)."""
        assert self.model is not None
        obs, acts = self._obs[side][idx], self._acts[side][idx]
        b, t = obs.shape[:2]
        r: Tensor = self.model.member(m)(
            obs.reshape(b * t, *obs.shape[2:]), acts.reshape(b * t, *acts.shape[2:]) if self.model.spec.uses_action else None
        )
        out: Tensor = r.reshape(b, t).sum(1)
        return out

    def _nll(self, m: int, idx: np.ndarray, weight: np.ndarray | None = None) -> float:
        """Member ``m``'s mean noise-model cross-entropy on labels ``idx`` (weighted by ``weight``); NaN if none."""
        if not len(idx):
            return math.nan
        device = self._device()
        with torch.no_grad():
            i = torch.as_tensor(idx, device=device)
            x = self._returns(m, 0, i) - self._returns(m, 1, i)
            y = torch.as_tensor(self._labels[idx], device=device, dtype=x.dtype)
            nll = -bradley_terry_log_likelihood(x, y, noise=self.config.label_noise)
            if weight is None:
                return float(nll.mean())
            w = torch.as_tensor(weight, device=device, dtype=x.dtype)
            return float((nll * w).sum() / w.sum())

    def _accuracy(self, idx: np.ndarray) -> float:
        """Fraction of strict labels in ``idx`` whose order the ensemble-mean return gets right (NaN if none)."""
        idx = idx[self._labels[idx] != 0.5]
        if not len(idx):
            return math.nan
        with torch.no_grad():
            i = torch.as_tensor(idx, device=self._device())
            diff = sum(self._returns(m, 0, i) - self._returns(m, 1, i) for m in range(self.config.members))
        assert isinstance(diff, Tensor)
        return float(((diff > 0).cpu().numpy() == (self._labels[idx] == 1.0)).mean())

    def _member_weights(self, m: int, train_idx: np.ndarray) -> np.ndarray:
        """Member ``m``'s bootstrap counts of the training labels; all ones in the rare case that every
        count is 0 (a few labels only: probability ``exp(-n)``), so that the member still trains."""
        counts = self._counts[m, train_idx].astype(float)
        return counts if counts.sum() > 0 else np.ones(len(train_idx))

    # -- training -------------------------------------------------------------------------------------
    def update(self, dataset: PreferenceDataset, *, rng: np.random.Generator) -> dict[str, Any]:
        """Take the labels appended to ``dataset`` since the last call and train ``steps_per_round`` more steps.

        Args:
            dataset: every preference so far, the previous calls' first, in order (skipped ones are kept
                in it and ignored).
            rng: draws the new labels' validation membership and bootstrap counts, the minibatches, and
                (on the first call) the initial weights.

        Returns:
            ``round``, ``new_labels``, ``train_labels``, ``val_labels`` (counts); ``train_loss`` and
            ``val_loss`` (member means of the noise-model cross-entropy without the L2 term, after the
            round); ``train_accuracy``, ``val_accuracy`` (ensemble-mean order on strict labels);
            ``loss_ratio`` ``(M,)`` list; ``l2`` ``(M,)`` list, after this round's adaptation.
        """
        cfg = self.config
        n_new = self._ingest(dataset, rng)
        answered = ~np.isnan(self._labels)
        train_idx = np.flatnonzero(answered & ~self._is_val)
        val_idx = np.flatnonzero(answered & self._is_val)
        if self.model is None or not len(train_idx):
            raise ValidationError(
                "dataset",
                f"has no answered training label ({len(train_idx) + len(val_idx)} answered labels so far, {len(val_idx)} held out)",
                "add answered labels before training (or lower validation)",
            )
        assert self.model is not None
        model, device = self.model, self._device()
        model.train()
        labels = torch.as_tensor(self._labels, device=device)
        weights = [self._member_weights(m, train_idx) for m in range(cfg.members)]
        probs = [w / w.sum() for w in weights]
        for opt, l2 in zip(self._optims, self.l2, strict=True):
            opt.weight_decay = l2
        fix = f"lower lr (now {cfg.lr:g}) or raise l2"
        for step in range(1, cfg.steps_per_round + 1):
            total = torch.zeros((), device=device)
            for m in range(cfg.members):
                pick = torch.as_tensor(rng.choice(train_idx, size=cfg.batch_size, p=probs[m]), device=device)
                x = self._returns(m, 0, pick) - self._returns(m, 1, pick)
                total = total - bradley_terry_log_likelihood(x, labels[pick].to(x.dtype), noise=cfg.label_noise).mean()
            for opt in self._optims:
                opt.zero_grad()
            torch.autograd.backward(total)
            for opt in self._optims:
                opt.step()
            if step == cfg.steps_per_round:
                ensure_finite(float(total.detach()), "preference reward loss", step=step, fix=fix)
        model.eval()
        train_loss = [self._nll(m, train_idx, weights[m]) for m in range(cfg.members)]
        val_loss = [self._nll(m, val_idx) for m in range(cfg.members)]
        ratio = [v / t if t > 0 else math.inf for v, t in zip(val_loss, train_loss, strict=True)]
        band, bounds = cfg.l2_band, (cfg.l2_min, cfg.l2_max)
        self.l2 = [adapt_l2(l2, r, factor=cfg.l2_factor, band=band, bounds=bounds) for l2, r in zip(self.l2, ratio, strict=True)]
        if cfg.normalize:
            used = np.flatnonzero(answered)
            obs = torch.cat([self._obs[0][used], self._obs[1][used]])
            acts = torch.cat([self._acts[0][used], self._acts[1][used]])
            flat_obs = obs.reshape(-1, *obs.shape[2:])
            if len(flat_obs) > 1:
                model.normalize(flat_obs, acts.reshape(-1, *acts.shape[2:]) if model.spec.uses_action else None)
        ensure_finite(model, "preference reward weights", step=f"round {self.rounds + 1}", fix=fix)
        self.rounds += 1
        return {
            "round": self.rounds,
            "new_labels": n_new,
            "train_labels": len(train_idx),
            "val_labels": len(val_idx),
            "train_loss": float(np.mean(train_loss)),
            "val_loss": float(np.mean(val_loss)) if len(val_idx) else math.nan,
            "train_accuracy": self._accuracy(train_idx),
            "val_accuracy": self._accuracy(val_idx),
            "loss_ratio": ratio,
            "l2": list(self.l2),
        }

    # -- the model ------------------------------------------------------------------------------------
    def reward_model(self) -> NeuralReward:
        """The ensemble as a reward model: ``r(obs, act) = mean_m (f_m - offset_m) / scale_m`` (the same
        object, trained further by later updates)."""
        if self.model is None:
            raise ValidationError("trainer", "has not been updated yet", "call update(dataset, rng=...) with some labels first")
        return self.model

    def member_probabilities(self, seg_a: Any, seg_b: Any) -> np.ndarray:
        """``(M, B)`` each member's ``P(a ≻ b)`` under the label-noise model, from raw (unnormalised) returns.

        Args:
            seg_a: the first segments of ``B`` pairs: a sequence of :class:`~rewardlab.data.Segment`, or an
                ``(obs (B, T, *obs_shape), acts (B, T, ...))`` tuple of arrays.
            seg_b: the second segments, in the same form.
        """
        model = self.reward_model()
        device = self._device()
        returns = []
        for name, seg in (("seg_a", seg_a), ("seg_b", seg_b)):
            if isinstance(seg, tuple) and len(seg) == 2:
                obs, acts = np.asarray(seg[0]), np.asarray(seg[1])
            else:
                segs = list(seg)
                if not segs or not all(isinstance(s, Segment) for s in segs):
                    raise ValidationError(
                        name, "is not a non-empty sequence of Segments", "pass Segments or an (obs, acts) tuple of stacked arrays"
                    )
                obs, acts = np.stack([s.obs for s in segs]), np.stack([s.acts for s in segs])
            o = torch.as_tensor(obs, device=device)
            o = o.float() if o.dtype == torch.float64 else o
            a = torch.as_tensor(acts, device=device)
            a = a.float() if a.dtype == torch.float64 else a
            b, t = o.shape[:2]
            with torch.no_grad():
                raw = model.raw_rewards(o.reshape(b * t, *o.shape[2:]), a.reshape(b * t, *a.shape[2:]) if model.spec.uses_action else None)
            returns.append(raw.reshape(len(raw), b, t).sum(2))
        if returns[0].shape != returns[1].shape:
            raise ValidationError(
                "seg_b", f"holds {returns[1].shape[1]} pairs, seg_a {returns[0].shape[1]}", "pass as many b segments as a segments"
            )
        return preference_probability(returns[0], returns[1], noise=self.config.label_noise).cpu().numpy()
