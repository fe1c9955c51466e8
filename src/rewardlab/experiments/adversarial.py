"""Runs of the adversarial learners (GAIL, AIRL: :mod:`rewardlab.irl.adversarial`; guided cost learning,
:mod:`rewardlab.irl.gcl`) on a Gymnasium env from a dataset of demonstrations: ``rewardlab irl gail|airl|gcl
--env ENV --demos DIR --out DIR`` (:func:`run_adversarial`) and ``rewardlab run``/``sweep`` with
``[learner] name = "gail"``, ``"airl"`` or ``"gcl"``, ``[env]`` and ``[data]``
(:func:`adversarial_experiment`; :mod:`rewardlab.experiments.config`).

A run directory holds, besides ``config.toml`` and ``metrics.jsonl`` (one row per round: one PPO rollout, the
discriminator's update, PPO's update; ``disc_loss``, the discriminator's accuracies, ``policy_reward``,
``true_return`` of recent training episodes, ``env_steps``, ``seconds``):

* ``reward/``: the learned reward (GAIL: the discriminator's reward; AIRL: ``g``, Fu et al.'s reusable reward),
  read by :func:`rewardlab.rewards.load_reward`; ``rewardlab train-policy --reward DIR/reward`` trains on it;
* ``policy/model.zip``: the generator (SB3 PPO; ``stable_baselines3.PPO.load``);
* AIRL: ``potential/``, the shaping potential ``h(s)`` (a one-member reward model, ``load_reward``), so that
  ``f = g(s) + gamma h(s') - h(s)`` can be rebuilt (``gamma``: ``result.json``'s ``discount``);
* with a ``[policy]`` stage, ``transfer/policy/``: a fresh policy trained on ``reward/`` (the ``[policy]`` stage of
  the other gym runs, one level down so that ``policy/`` keeps the generator) and its evaluation rollouts;
* ``result.json``: ``metrics`` ``eval_return_mean``/``_std`` (the generator on the true reward, deterministic,
  ``learner.eval_episodes`` episodes), ``expert_return`` (the demonstrations' mean return, where they record
  rewards), ``random_return`` (a uniformly random policy over the same evaluation episodes), ``normalized_score``
  ``(eval - random) / (expert - random)`` where both are known, ``env_steps``, ``rounds``, ``seconds``, the last
  round's ``disc_loss``; with ``[policy]``, the fresh policy's ``true_return_mean``.

``checkpoints/`` holds the fit's state every ``checkpoint_every`` rounds (``rewardlab irl``: every round); a killed
run continues from the latest with ``--resume`` (fresh env episodes, the same round schedule:
:mod:`rewardlab.irl.adversarial`). GCL keeps no checkpoints: ``rewardlab irl gcl --resume`` is refused; its
``result.json`` has its last round's ``objective`` (and ``demo_segments``) instead of the discriminator's numbers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rewardlab.data.io import dataset_reference
from rewardlab.errors import ConfigError
from rewardlab.learner import FitResult

if TYPE_CHECKING:
    from rewardlab.experiments.config import RunConfig
    from rewardlab.experiments.run import Experiment

__all__ = ["adversarial_experiment", "normalized_score", "planned_rounds", "run_adversarial"]


def planned_rounds(config: Any, env_id: str) -> int:
    """The rounds a GAIL or AIRL fit makes: ``ceil(steps / (n_steps x n_envs))``, one PPO rollout each.

    Examples:
        >>> from rewardlab.irl.adversarial import GAILConfig
        >>> planned_rounds(GAILConfig(steps=10_000), "Pendulum-v1")  # the preset's rollout: 4 envs x 1024 steps
        3
    """
    from rewardlab.rl.sb3 import rollout_steps

    return max(1, math.ceil(int(config.steps) / rollout_steps("ppo", env_id, config.hyperparams)))


def normalized_score(score: float, expert: float | None, random: float | None) -> float | None:
    """``(score - random) / (expert - random)``: 0 for a random policy, 1 for the expert; None when either is
    unknown or they are equal.

    Examples:
        >>> normalized_score(-400.0, -150.0, -1150.0)
        0.75
        >>> normalized_score(1.0, None, 0.0) is None
        True
    """
    if expert is None or random is None or not math.isfinite(expert - random) or expert == random:
        return None
    return (score - random) / (expert - random)


def _random_return(env_id: str, episodes: int, seed: int) -> tuple[float, float]:
    """Mean and std of a uniformly random policy's true return over ``episodes`` episodes (resets seeded from ``seed``)."""
    import gymnasium as gym

    from rewardlab.data.gym_rollouts import collect_rollouts

    env = gym.make(env_id)
    space = env.action_space
    env.close()
    space.seed(seed)
    returns = collect_rollouts(env_id, lambda o: np.stack([space.sample() for _ in o]), episodes, seed=seed, epsilon=1.0).returns()
    return float(returns.mean()), float(returns.std())


def adversarial_experiment(cfg: RunConfig) -> Experiment:
    """Prepare a ``gail`` or ``airl`` run: read the dataset (checked against the env) before any work, or with
    ``[data.collect]`` collect the demonstrations into ``DIR/demos`` first (the experiment's ``setup``);
    ``fit`` runs the learner with the run's callback (one metrics row and one step of the progress bar per
    round), ``rng`` seeded by ``cfg.seed``; ``finish`` writes ``reward/``, ``policy/model.zip``, the optional
    ``[policy]`` stage and the summary (module docstring)."""
    from rewardlab.experiments.config import RankingData
    from rewardlab.experiments.prefs import _collected, _policy_on_reward, read_demos
    from rewardlab.experiments.run import Experiment
    from rewardlab.registry import LEARNERS

    assert cfg.env is not None and isinstance(cfg.data, RankingData)
    method, env_id, data, config = cfg.learner.name, cfg.env.id, cfg.data, cfg.learner.config
    spec = LEARNERS[method]
    loaded: dict[str, Any] = {}

    def load(directory: Path) -> None:
        if data.collect is None:
            assert data.dataset is not None
            loaded["demos"] = read_demos(data.dataset, env_id)
        else:
            loaded["demos"] = _collected(env_id, data.collect, cfg.seed, directory / "demos")
            loaded["collection"] = json.loads((directory / "demos" / "result.json").read_text(encoding="utf-8"))
        if not len(loaded["demos"]):
            raise ConfigError("data.dataset", f"{data.dataset} holds no demonstrations", "give a dataset with at least one trajectory")

    if data.collect is None:
        load(Path())  # a dataset is read and checked before any work

    def fit(callback: Any, checkpoint: Any) -> FitResult:
        learner = spec.learner_class()(config)
        rng = np.random.default_rng(cfg.seed)
        resume = {"checkpoint": checkpoint} if spec.resumable else {}  # gcl keeps no checkpoints
        return learner.fit(loaded["demos"], env_id, rng=rng, callback=callback, **resume)  # type: ignore[no-any-return]

    def finish(fit: FitResult, directory: Path) -> dict[str, Any]:
        demos, info = loaded["demos"], fit.info
        fit.reward.save(directory / "reward")
        (directory / "policy").mkdir(parents=True, exist_ok=True)
        generator: Any = fit.policy
        generator.save(directory / "policy" / "model.zip")
        if "potential" in info:  # AIRL's h, as a one-member reward model (load_reward reads it)
            from rewardlab.rewards import NeuralReward

            potential = NeuralReward(info["potential"].spec, members=1)
            potential.member(0).load_state_dict(info["potential"].state_dict())
            potential.save(directory / "potential")
        expert = float(demos.returns().mean()) if all(tr.rews is not None for tr in demos) else None
        random_mean, random_std = _random_return(env_id, config.eval_episodes, config.eval_seed)
        mean, std = float(info["eval_return_mean"]), float(info["eval_return_std"])
        score = normalized_score(mean, expert, random_mean)
        metrics: dict[str, Any] = {
            "eval_return_mean": mean,
            "eval_return_std": std,
            "normalized_score": math.nan if score is None else score,
            "expert_return": math.nan if expert is None else expert,
            "random_return": random_mean,
            "env_steps": float(info["env_steps"]),
            "rounds": float(info["rounds"]),
            "seconds": float(info["seconds"]),
            "disc_loss": float(fit.history["disc_loss"][-1]) if "disc_loss" in fit.history else math.nan,
            **({"objective": float(fit.history["objective"][-1])} if "objective" in fit.history else {}),  # GCL's last round
        }
        summary: dict[str, Any] = {
            "method": method,
            "env": env_id,
            "demos": data.dataset if data.collect is None else "demos",  # collected: relative to the run directory
            "seed": cfg.seed,
            "demonstrations": len(demos),
            # GAIL/AIRL: their discriminator's; GCL: the demonstrations' segments
            **{k: info[k] for k in ("expert_transitions", "disc_lr", "disc_updates", "discount", "demo_segments") if k in info},
            "random_return_std": random_std,
            "warnings": [str(w) for w in info.get("warnings", [])],
        }
        if "collection" in loaded:
            summary["collection"] = loaded["collection"]
        if cfg.policy is not None:
            _policy_on_reward(cfg, fit, directory / "transfer", demos, "the demonstrations record no true rewards", summary, metrics)
        summary["metrics"] = metrics
        return summary

    return Experiment(
        f"{method} on {env_id} (rounds)", planned_rounds(config, env_id), fit, finish, setup=None if data.collect is None else load
    )


#: ``rewardlab irl gail|airl|gcl``'s options and the run config keys they set (its errors name the options).
IRL_GYM_OPTIONS = {"env.id": "--env", "data.dataset": "--demos", "seed": "--seed"}

#: The run config's own top-level keys ``rewardlab irl gail|airl|gcl --set`` may set (the others are learner settings).
_RUN_KEYS = ("checkpoint_every", "tensorboard", "figures")


def run_adversarial(
    method: str,
    env_id: str,
    demos: str | Path,
    out: str | Path,
    *,
    seed: int = 0,
    settings: dict[str, str] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """``rewardlab irl gail|airl|gcl --env ENV --demos DIR``: the run config of these arguments run into ``out`` by
    :func:`rewardlab.experiments.run.run_config` (an existing non-empty ``out`` only with ``resume`` or
    ``overwrite``); ``result.json``'s content. ``settings`` (``--set key=value``) are learner settings
    (``steps``, ``disc_lr``, ``hyperparams.n_steps``, ...) or the run's ``checkpoint_every`` (default 1: a checkpoint
    after every round), ``tensorboard``.

    Raises:
        ConfigError: a mistake in any of them, naming the option or the setting, before any work; ``resume``
            for a learner whose fit keeps no checkpoints (``gcl``).
    """
    from rewardlab.experiments.config import ADVERSARIAL_LEARNERS, load_run_config
    from rewardlab.experiments.irl import named_as
    from rewardlab.experiments.run import run_config
    from rewardlab.registry import learner_spec

    if not learner_spec(method, ADVERSARIAL_LEARNERS).resumable and resume:
        raise ConfigError("--resume", f"is given for {method}, whose fit keeps no checkpoints", "rerun it with --overwrite")
    table: dict[str, Any] = {
        "seed": seed,
        "checkpoint_every": 1,
        "learner": {"name": method},
        "env": {"id": env_id},
        "data": {"dataset": dataset_reference(demos)},
    }
    overrides: dict[str, str] = {}
    for key, value in (settings or {}).items():
        dotted = key if key in _RUN_KEYS else f"learner.{key}"
        if key in ("name", "label", "seed"):
            option = IRL_GYM_OPTIONS.get(key)
            raise ConfigError("--set", f"{key!r} is an option of rewardlab irl", f"give it as {option}" if option else "leave it out")
        overrides[dotted] = value
    with named_as(IRL_GYM_OPTIONS, {"learner.": ""}):
        cfg = load_run_config(table, overrides)
    return run_config(cfg, out, resume=resume, overwrite=overwrite, progress=progress)
