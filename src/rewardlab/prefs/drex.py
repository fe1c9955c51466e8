"""D-REX: Disturbance-based Reward EXtrapolation (Brown, Goo, Niekum, CoRL 2019).

T-REX needs rankings; D-REX makes them itself from unranked demonstrations:

1. behavioural cloning from the demonstrations (:func:`rewardlab.irl.bc.fit_gym_bc`);
2. roll the BC policy out with epsilon-greedy noise at several levels — more noise, worse behaviour,
   so the noise level is the ranking (score ``-epsilon``); on Atari a "no-op" bin ranks below all;
3. T-REX on those automatically ranked rollouts, pairing only levels at least ``min_gap`` apart.

Its data are demonstrations, not comparisons: a dataset of trajectories (any ranks they carry are not
used, all are cloned), or a :class:`~rewardlab.data.Ranking`, whose best trajectories (those of the top
score; give several equal scores to clone several) are the demonstrator's and are cloned. A
:class:`~rewardlab.data.PreferenceDataset` is refused: D-REX makes its own comparisons.

Noise schedules (the paper's, from ../shared/REFERENCES.md):

* ``"atari"``: epsilon in {1.0, 0.75, 0.5, 0.25, 0.01}, 20 rollouts each, plus the no-op bin;
* ``"mujoco"``: epsilon in {0, 0.05, ..., 0.95}, 5 rollouts each, pairs at least 0.3 apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from rewardlab._memory import check_memory, training_nbytes
from rewardlab.checkpoint import Checkpoint
from rewardlab.data.gym_rollouts import collect_rollouts, env_spaces
from rewardlab.data.preferences import PreferenceDataset, Ranking
from rewardlab.data.ranking import ranking_scores
from rewardlab.data.trajectory import Trajectory, TrajectoryDataset
from rewardlab.data.validate import validate_dataset
from rewardlab.errors import ConfigError, ValidationError
from rewardlab.eval.ranking import RankingAgreement
from rewardlab.irl.bc import fit_gym_bc
from rewardlab.learner import Callback, FitResult
from rewardlab.prefs.trex import TREX, TrajectoryEncoder, TREXConfig, recorded_agreement, trex_ranking_warning
from rewardlab.rewards.nets import check_reward_memory, mlp_parameters

__all__ = ["DREX", "NOISE_SCHEDULES", "DREXConfig", "drex_demonstrations", "drex_noise_warning", "noise_rollouts"]

#: ``(epsilons, rollouts per level, min_gap, no-op bin)`` of the paper's two settings.
NOISE_SCHEDULES: dict[str, tuple[tuple[float, ...], int, float, bool]] = {
    "atari": ((1.0, 0.75, 0.5, 0.25, 0.01), 20, 0.0, True),
    "mujoco": (tuple(round(0.05 * k, 2) for k in range(20)), 5, 0.3, False),
}


@dataclass(frozen=True)
class DREXConfig:
    """Hyperparameters of D-REX.

    Attributes:
        schedule: ``"mujoco"`` or ``"atari"`` (the paper's noise schedules), or ``"custom"`` with ``epsilons``.
        epsilons, rollouts, min_gap, noop: the custom schedule (ignored otherwise).
        max_steps: cut each rollout after this many steps (None: the env's own limit).
        bc_hidden, bc_epochs, bc_lr: behavioural cloning.
        trex: the T-REX settings on the ranked rollouts (``min_gap`` is set from the schedule).
    """

    schedule: str = "mujoco"
    epsilons: tuple[float, ...] = ()
    rollouts: int = 5
    min_gap: float = 0.0
    noop: bool = False
    max_steps: int | None = None
    bc_hidden: tuple[int, ...] = (256, 256)
    bc_epochs: int = 200
    bc_lr: float = 1e-3
    trex: TREXConfig = field(default_factory=TREXConfig)

    def __post_init__(self) -> None:
        if self.schedule not in (*NOISE_SCHEDULES, "custom"):
            raise ConfigError("schedule", f"is {self.schedule!r}", f"choose one of {(*NOISE_SCHEDULES, 'custom')}")
        if self.schedule == "custom" and len(self.epsilons) < 2:
            raise ConfigError("epsilons", f"is {self.epsilons}", "give at least two noise levels for a custom schedule")
        if any(not 0 <= e <= 1 for e in self.epsilons):
            raise ConfigError("epsilons", f"is {self.epsilons}", "use noise levels in [0, 1]")

    def resolved(self) -> tuple[tuple[float, ...], int, float, bool]:
        """``(epsilons, rollouts per level, min_gap, no-op bin)``."""
        if self.schedule == "custom":
            return self.epsilons, self.rollouts, self.min_gap, self.noop
        return NOISE_SCHEDULES[self.schedule]


def _check_sizes(cfg: DREXConfig, env: Any) -> None:
    """Refuse, before cloning and rolling out, a clone or a T-REX ensemble whose training would not fit in memory."""
    obs_space, act_space = env_spaces(env)
    n_in, n_out = int(np.prod(obs_space.shape or ())), int(getattr(act_space, "n", 0) or np.prod(act_space.shape or ()))
    clone = mlp_parameters(n_in, cfg.bc_hidden, n_out)
    check_memory("bc_hidden", training_nbytes(clone), f"a clone of {clone} parameters", f"use narrower layers than {cfg.bc_hidden}")
    t = cfg.trex
    spec = TrajectoryEncoder.for_env((obs_space, act_space), architecture=t.architecture, hidden=t.hidden, use_action=t.use_action).spec
    check_reward_memory(spec, t.ensemble, fields=("trex.ensemble", "trex.hidden"))


def noise_rollouts(
    env: Any, policy: Any, epsilons: tuple[float, ...], rollouts: int, *, seed: int, noop: bool = False, max_steps: int | None = None
) -> TrajectoryDataset:
    """Roll ``policy`` out ``rollouts`` times at each noise level; ``infos["rank"] = -epsilon``. With
    ``noop`` (Discrete actions) add ``rollouts`` episodes of always taking action 0, ranked below all."""
    out: list[Trajectory] = []
    for k, eps in enumerate(epsilons):
        out.extend(collect_rollouts(env, policy, rollouts, seed=seed + 1000 * k, epsilon=eps, max_steps=max_steps, infos={"rank": -eps}))
    if noop:
        made = gym.make(env) if isinstance(env, str) else env()
        if not isinstance(made.action_space, gym.spaces.Discrete):
            raise ValidationError("noop", "is True for a continuous action space", "use the no-op bin only with Discrete actions")

        def zero(obs: np.ndarray) -> np.ndarray:
            return np.zeros(len(obs), np.int64)

        out.extend(collect_rollouts(env, zero, rollouts, seed=seed + 999_000, max_steps=max_steps, infos={"rank": -2.0, "noop": True}))
    return TrajectoryDataset(out)


def drex_demonstrations(data: Any, env_or_mdp: Any) -> TrajectoryDataset:
    """The demonstrations D-REX clones: ``data`` itself (trajectories), or a :class:`~rewardlab.data.Ranking`'s
    top-scored trajectories, checked against ``env_or_mdp``.

    Raises:
        ValidationError: a :class:`~rewardlab.data.PreferenceDataset` (D-REX learns from demonstrations),
            or trajectories that do not fit the env (:func:`~rewardlab.data.validate.validate_dataset`).

    Examples:
        >>> from rewardlab.data import Trajectory
        >>> trs = [Trajectory(np.zeros((3, 3), np.float32), np.full((2, 1), k, np.float32)) for k in range(3)]
        >>> [float(tr.acts[0, 0]) for tr in drex_demonstrations(Ranking(trs, scores=[0.0, 1.0, 1.0]), "Pendulum-v1")]
        [1.0, 2.0]
    """
    if isinstance(data, PreferenceDataset):
        raise ValidationError(
            "data",
            "is a PreferenceDataset",
            "D-REX learns from demonstrations: it clones them and ranks noisy rollouts of the clone itself; "
            "pass the demonstrations (trajectories, or a Ranking whose best are cloned), or fit trex or brex on preferences",
        )
    if isinstance(data, Ranking) and len(data):
        data = TrajectoryDataset([tr for tr, s in zip(data, data.scores, strict=True) if s == data.scores[-1]])  # worst first
    return validate_dataset(data, env_or_mdp)


def drex_noise_warning(agreement: RankingAgreement) -> str:
    """The warning of D-REX when its noise rollouts' true returns do not fall as noise rises."""
    return (
        f"D-REX: the clone does not beat its noisier rollouts, so the noise ranking runs against the true returns "
        f"({agreement.describe('noise rank (-epsilon)')}); the learned reward need not be the task's "
        "(clone from better demonstrations, or check the clone's return against a random policy's)"
    )


@dataclass
class DREX:
    """D-REX with the estimator shape of :mod:`rewardlab.learner`.

    ``fit(demos, env, *, rng)``: ``demos`` are trajectories, or a :class:`~rewardlab.data.Ranking` whose
    top-scored trajectories are cloned (:func:`drex_demonstrations`; a preference dataset is refused);
    ``env`` is an env id or a function returning a new env (rollouts need to make envs). Returns
    ``FitResult(reward=NeuralReward, policy=None)`` with ``info["bc_policy"]``, ``info["demonstrations"]``
    (how many were cloned), ``info["rollouts"]`` (the ranked noise rollouts) and T-REX's accuracies. D-REX assumes that the clone
    beats its noisier rollouts; ``info["ranking_tau"]`` is the Kendall tau between noise rank (``-epsilon``)
    and the rollouts' true return (:func:`~rewardlab.eval.ranking.ranking_agreement`), and
    ``info["warnings"]`` says so when the true returns do not fall as noise rises.
    """

    config: DREXConfig = field(default_factory=DREXConfig)

    def fit(
        self,
        data: Any,
        env_or_mdp: Any,
        *,
        rng: np.random.Generator,
        callback: Callback | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> FitResult:
        """Clone, rank noisy rollouts of the clone, train T-REX on them.

        With ``checkpoint``, a fit run again with the same settings, data and seed clones and rolls out
        again (both are deterministic given ``rng`` and take a small part of the time), then resumes
        the T-REX stage from its checkpoints (bound to the rollouts it trains on), and returns what an
        uninterrupted fit returns.
        """
        cfg = self.config
        demos = drex_demonstrations(data, env_or_mdp)
        probe = gym.make(env_or_mdp) if isinstance(env_or_mdp, str) else env_or_mdp()
        _check_sizes(cfg, probe)
        bc = fit_gym_bc(demos, probe.action_space, rng=rng, hidden=cfg.bc_hidden, epochs=cfg.bc_epochs, lr=cfg.bc_lr)
        epsilons, per_level, min_gap, noop = cfg.resolved()
        ranked = noise_rollouts(env_or_mdp, bc, epsilons, per_level, seed=int(rng.integers(2**31)), noop=noop, max_steps=cfg.max_steps)
        trex_cfg = TREXConfig(**{**cfg.trex.__dict__, "min_gap": max(cfg.trex.min_gap, min_gap)})
        spaces = (probe.observation_space, probe.action_space)
        fit = TREX(trex_cfg).fit(ranked, spaces, rng=rng, callback=callback, checkpoint=checkpoint)
        agreement = recorded_agreement(ranked, ranking_scores(ranked))
        trex_warning = trex_ranking_warning(agreement)  # said below in D-REX's words
        warnings = [w for w in fit.info.get("warnings", []) if w != trex_warning]
        if agreement is not None and agreement.agrees is False:
            warnings.insert(0, drex_noise_warning(agreement))
        info = {**fit.info, "bc_policy": bc, "demonstrations": len(demos), "rollouts": ranked, "epsilons": epsilons, "warnings": warnings}
        return FitResult(reward=fit.reward, history=fit.history, info=info)
