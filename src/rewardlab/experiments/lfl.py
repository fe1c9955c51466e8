"""Learning from a learner (Jacq et al. 2019) as ``rewardlab run`` experiments: ``[data] kind = "stages"``.

* ``lfl`` on a tabular ``[world]``: :func:`observed_learner` runs the learner the method models, entropy-
  regularised (soft) policy iteration on the world's true reward from the uniform policy
  (:func:`rewardlab.irl.lfl.soft_policy_iteration`), and gives what the observer sees: the exact
  policies, or trajectories sampled from each. The run is otherwise a tabular run
  (:func:`rewardlab.experiments.irl.tabular_experiment`: EVD, policy loss, reward distance, figures),
  with two more metrics: the least-squares ``residual`` (0 for exact policies and the right ``alpha``)
  and ``observed_policy_loss``, the true-reward policy loss of the learner's last observed policy, to
  set against the learned reward's (the observer can do better than the learner it watched).
* ``deep-lfl`` on a Gymnasium ``[env]``: :func:`gym_stages_experiment` trains PPO on the env's true
  reward and rolls out its successive checkpoints (:func:`rewardlab.rl.make_ranked_demos`, the
  library's learner-with-checkpoints generator), one stage per checkpoint. Scored by what the true
  rewards recorded in those rollouts allow: ``kendall_tau`` between the learned and the true returns of
  every observed rollout (the learned reward is identified up to potential shaping only, which can
  reorder returns of trajectories that end in different states, so this is a lower bar than it looks),
  the regression's ``rmse``, the observed learner's mean true return at its first and last stage
  (``observed_return_first``, ``observed_return_last``; a learner that did not improve leaves little to
  read, and the run says so in a warning) and, with a ``[policy]`` stage, the true return of a policy
  trained on the learned reward against the best observed rollout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from rewardlab.errors import ConfigError
from rewardlab.experiments.config import GymLearnerStages, LearnerStages
from rewardlab.learner import FitResult

if TYPE_CHECKING:
    from rewardlab.experiments.config import RunConfig
    from rewardlab.experiments.run import Experiment
    from rewardlab.mdp import World

__all__ = ["ObservedLearner", "gym_stages_experiment", "observed_learner"]


@dataclass(frozen=True)
class ObservedLearner:
    """The stages a tabular observer sees.

    Attributes:
        data: what :class:`rewardlab.irl.lfl.LearnerIRL` fits: the policies, or each stage's trajectories.
        policies: the learner's exact policies ``(S, A)``, oldest first.
        alpha: the learner's temperature.
        trajectories: trajectories per stage (0: the exact policies are observed).
    """

    data: list[Any]
    policies: list[torch.Tensor]
    alpha: float
    trajectories: int

    def metrics(self, world: World, result: FitResult) -> dict[str, float]:
        """``residual`` of the fit and ``observed_policy_loss`` of the learner's last policy (uniform start)."""
        from rewardlab.eval import policy_loss

        last = self.policies[-1].to(device=world.mdp.device, dtype=world.mdp.dtype)
        return {
            "residual": float(result.info["residual"]),
            "observed_policy_loss": policy_loss(world.mdp, world.reward, last, initial="uniform"),
        }

    def summary(self, length: int) -> dict[str, Any]:
        """What ``result.json`` records about the observed learner."""
        return {
            "stages": len(self.policies),
            "learner_alpha": self.alpha,
            "trajectories_per_stage": self.trajectories,
            "trajectory_length": length,
        }


def observed_learner(world: World, data: LearnerStages, assumed_alpha: float, seed: int) -> ObservedLearner:
    """The learner of ``data`` on ``world``'s true reward (temperature ``data.alpha``, default the observer's
    ``assumed_alpha``), and what the observer sees of it (trajectories seeded by ``seed``).

    Raises:
        ConfigError: a finite-horizon world (the method models a discounted learner), or more
            trajectories than fit in memory (named ``data.trajectories``).
    """
    from rewardlab.data import sample_tabular
    from rewardlab.experiments.irl import as_demos_option
    from rewardlab.irl.lfl import soft_policy_iteration

    if world.mdp.horizon is not None:
        raise ConfigError(
            "world",
            f"{world.name!r} is finite-horizon here (horizon {world.mdp.horizon})",
            "learning from a learner models a discounted learner: use a discounted world (no horizon, discount < 1), e.g. objectworld",
        )
    alpha = assumed_alpha if data.alpha is None else data.alpha
    policies = soft_policy_iteration(world.mdp, world.reward, alpha, data.stages)
    if data.trajectories == 0:
        return ObservedLearner(list(policies), policies, alpha, 0)
    rng = np.random.default_rng(seed)
    uniform = torch.full((world.mdp.n_states,), 1.0 / world.mdp.n_states, dtype=torch.float64)
    with as_demos_option("data.trajectories"):
        stages = [sample_tabular(world.mdp, pi, data.trajectories, rng=rng, length=data.length, initial=uniform) for pi in policies]
    return ObservedLearner(stages, policies, alpha, data.trajectories)


def gym_stages_experiment(cfg: RunConfig) -> Experiment:
    """Prepare a ``deep-lfl`` run: train the observed PPO learner and roll out its checkpoints (seed
    ``cfg.seed``; its checkpoints in a temporary directory), configure the learner (its fit seeded by
    ``cfg.seed + 1``). ``finish`` saves the reward and the observed rollouts (``stages/``), scores the
    learned returns against the true ones (``extrapolation.png`` unless ``figures = false``) and runs
    the ``[policy]`` stage."""
    import tempfile

    from rewardlab.data import TrajectoryDataset
    from rewardlab.data.gym_rollouts import env_spaces
    from rewardlab.experiments.run import Experiment
    from rewardlab.registry import LEARNERS
    from rewardlab.rl import make_ranked_demos

    assert cfg.env is not None and isinstance(cfg.data, GymLearnerStages)
    env_id, data, config = cfg.env.id, cfg.data, cfg.learner.config
    spec = LEARNERS[cfg.learner.name]
    with tempfile.TemporaryDirectory(prefix="rewardlab-lfl-") as tmp:
        observed = make_ranked_demos(
            env_id,
            checkpoints=data.stages,
            steps=data.steps,
            episodes=data.episodes,
            seed=cfg.seed,
            out=tmp,
            hyperparams=dict(data.hyperparams),
            max_steps=data.max_steps,
            every=max(1, data.steps // data.stages),
        )
    ranks = sorted({int(tr.infos["rank"]) for tr in observed})
    if len(ranks) < data.stages:  # the config's check counts rollouts; this is what PPO actually saved
        raise ConfigError(
            "data.steps", f"gave {len(ranks)} checkpoints, fewer than {data.stages} stages", "train the observed learner for more steps"
        )
    stages = [TrajectoryDataset([tr for tr in observed if tr.infos["rank"] == k]) for k in ranks]
    space = env_spaces(env_id)

    def fit(callback: Any, checkpoint: Any) -> FitResult:
        extra = {} if checkpoint is None else {"checkpoint": checkpoint}
        learner = spec.learner_class()(config)
        return learner.fit(stages, space, rng=np.random.default_rng(cfg.seed + 1), callback=callback, **extra)  # type: ignore[no-any-return]

    def finish(result: FitResult, directory: Path) -> dict[str, Any]:
        from rewardlab.data.io import save_dataset
        from rewardlab.eval import extrapolation_plot, kendall_tau
        from rewardlab.experiments.prefs import best_demo_verdict, configured_policy_stage
        from rewardlab.prefs.trex import TrajectoryEncoder, predicted_returns

        returns = [float(s.returns().mean()) for s in stages]
        predicted = predicted_returns(result.reward, observed, TrajectoryEncoder.for_reward(space, result.reward))
        true = observed.returns()
        metrics: dict[str, float] = {
            "kendall_tau": kendall_tau(predicted, true),
            "rmse": float(result.info["rmse"]),
            "observed_return_first": returns[0],
            "observed_return_last": returns[-1],
        }
        summary: dict[str, Any] = {
            "method": cfg.learner.name,
            "env": env_id,
            "seed": cfg.seed,
            "stages": len(stages),
            "checkpoint_steps": [int(s[0].infos["checkpoint"]) for s in stages],
            "observed_returns": returns,
            "warnings": [str(w) for w in result.info.get("warnings", [])],
        }
        if returns[-1] <= returns[0]:
            summary["warnings"].append(
                f"the observed learner did not improve (mean true return {returns[0]:.4g} at its first stage, {returns[-1]:.4g} at its last): "
                "there is little for learning from a learner to read; train it for more data.steps"
            )
        result.reward.save(directory / "reward")
        save_dataset(observed, directory / "stages", env_id=env_id)
        if cfg.figures:
            import matplotlib.pyplot as plt

            figure = extrapolation_plot(predicted, true, demo=np.ones(len(true), bool), title=f"{cfg.learner.name} on {env_id}")
            figure.savefig(directory / "extrapolation.png", dpi=110)
            plt.close(figure)
        if cfg.policy is not None:
            stage = cfg.policy
            policy = configured_policy_stage(stage, env_id, result.reward, directory / "policy", seed=cfg.seed)
            policy.update(
                best_demo_verdict(
                    observed, "the observed rollouts record no true rewards", policy["true_return_mean"], policy["true_return_std"]
                )
            )
            summary["warnings"] += policy.pop("warnings")
            summary["policy"] = policy
            for key in ("true_return_mean", "true_return_std", "distance_mean", "best_demo_return"):
                if policy.get(key) is not None:
                    metrics[key] = policy[key]
        summary["metrics"] = metrics
        summary["info"] = {"rmse": float(result.info["rmse"]), "stages": int(result.info["stages"])}
        summary["history"] = result.history.to_dict()
        return summary

    return Experiment(f"{cfg.learner.name} on {env_id}", int(config.steps), fit, finish)
