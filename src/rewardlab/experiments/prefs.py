"""The command-line experiments of learning from rankings: collect ranked demonstrations, learn a
reward (T-REX, D-REX, Bayesian REX), train a policy on it. Learning a reward (``rewardlab prefs``) and a
run config with an ``[env]`` (``rewardlab run``) share one code path, :func:`ranking_experiment`, whose
optional ``[policy]`` stage is the code of ``rewardlab train-policy``; T-REX and B-REX from a saved
preference dataset (``[data] kind = "preferences"``, ``rewardlab prefs trex --preferences DIR``) take
the same path through :func:`preference_experiment`. Each writes a run directory with
``result.json`` (settings, metrics, timings) and its artefacts, and shows a progress bar. A run
directory is written all or nothing (:func:`rewardlab._io.run_directory`): everything, PPO's
checkpoints included, goes into a temporary sibling that is renamed to ``out`` once the run is complete;
an existing non-empty ``out`` is refused unless ``overwrite``."""

from __future__ import annotations

import json
import math
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rewardlab._io import check_out, run_directory, write_json
from rewardlab.data.io import MINARI_PREFIX, dataset_reference
from rewardlab.errors import ConfigError
from rewardlab.experiments.config import PreferenceData, RankingData
from rewardlab.learner import FitResult

if TYPE_CHECKING:
    from rewardlab.experiments.config import RunConfig
    from rewardlab.experiments.run import Experiment

__all__ = [
    "best_demo_verdict",
    "collect_demos",
    "configured_policy_stage",
    "learn_reward",
    "policy_stage",
    "preference_experiment",
    "ranking_experiment",
    "read_demos",
    "train_on_reward",
]


@contextmanager
def _progress(description: str, total: int) -> Any:
    """A rich progress bar (:func:`rewardlab.experiments.run.progress_bar`); yields ``advance_to(completed)``."""
    from rewardlab.experiments.run import progress_bar

    with progress_bar(description, total) as advance:
        yield advance


def collect_demos(
    env_id: str,
    out: str | Path,
    *,
    checkpoints: int,
    steps: int,
    episodes: int = 1,
    seed: int = 0,
    hyperparams: dict[str, Any] | None = None,
    every: int | None = None,
    ceiling: float | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Train PPO on the true reward, keep ``checkpoints`` checkpoints, roll each out: ranked demonstrations in ``out``
    (an existing non-empty ``out`` only with ``overwrite``).
    ``hyperparams`` override the PPO preset (e.g. ``n_steps``); ``every`` and ``ceiling`` as in
    :func:`rewardlab.rl.make_ranked_demos`."""
    from rewardlab.data.io import save_dataset
    from rewardlab.rl import make_ranked_demos
    from rewardlab.rl.sb3 import check_hyperparams

    hyperparams = check_hyperparams("ppo", hyperparams)
    start = time.perf_counter()
    with run_directory(out, overwrite=overwrite) as tmp:
        demos = make_ranked_demos(
            env_id,
            checkpoints=checkpoints,
            steps=steps,
            episodes=episodes,
            seed=seed,
            out=tmp / "checkpoints",
            hyperparams=hyperparams,
            every=every,
            ceiling=ceiling,
        )
        save_dataset(demos, tmp, env_id=env_id, atomic=False)  # the run directory itself is written atomically
        summary = {
            "env": env_id,
            "checkpoints": checkpoints,
            "steps": steps,
            "episodes_per_checkpoint": episodes,
            "seed": seed,
            "every": every,
            "ceiling": ceiling,
            "ranks": [tr.infos["rank"] for tr in demos],
            "checkpoint_steps": [tr.infos["checkpoint"] for tr in demos],
            "true_returns": demos.returns().tolist(),
            "seconds": time.perf_counter() - start,
        }
        write_json(tmp / "result.json", summary)
    return summary


def _check_mirror(
    space: tuple[Any, Any],
    method: str,
    mirror_obs: Any,
    mirror_act: Any,
    names: tuple[str, str] = ("data.mirror_obs", "data.mirror_act"),
) -> None:
    """Refuse sign flips that do not fit ``space`` (one sign per coordinate of each Box) or D-REX
    (errors name ``names``)."""
    if mirror_obs is None:
        if mirror_act is not None:
            raise ConfigError(names[1], f"is set without {names[0]}", "give the observation's signs too")
        return
    if method == "drex":
        raise ConfigError(names[0], "is set for D-REX", "use it with trex or brex (D-REX ranks its own rollouts)")
    for name, signs, box in ((names[0], mirror_obs, space[0]), (names[1], mirror_act, space[1])):
        width = box.shape[-1] if getattr(box, "shape", None) else None  # a Box's last axis; none for Discrete
        if signs is not None and (width is None or len(signs) != width):
            raise ConfigError(name, f"has {len(signs)} signs", f"give one sign per coordinate of {box}")


def _mirrored(
    demos: Any,
    space: tuple[Any, Any],
    method: str,
    mirror_obs: Any,
    mirror_act: Any,
    names: tuple[str, str] = ("data.mirror_obs", "data.mirror_act"),
) -> Any:
    """``demos`` plus their mirror images under the sign flips given, after checking the flips' widths
    (:func:`_check_mirror`, errors name ``names``)."""
    from rewardlab.data.ranking import sign_flip, with_mirror_images

    _check_mirror(space, method, mirror_obs, mirror_act, names)
    if mirror_obs is None:
        return demos
    return with_mirror_images(demos, sign_flip(list(mirror_obs)), None if mirror_act is None else sign_flip(list(mirror_act)))


def read_demos(dataset: str, env_id: str) -> Any:
    """The demonstrations of ``[data] dataset``: a directory of :func:`rewardlab.data.io.save_dataset`, an
    ``.npz`` file of episodes (:func:`rewardlab.data.io.load_npz_episodes`), or ``minari:DATASET_ID``, a Minari
    dataset stored locally (:func:`rewardlab.data.io.from_minari`; ``MINARI_DATASETS_PATH`` says where);
    checked against ``env_id``."""
    from rewardlab.data.io import check_env, from_minari, load_dataset, load_npz_episodes, minari_id

    if dataset.startswith(MINARI_PREFIX):
        demos = from_minari(minari_id(dataset))
        check_env(demos, env_id, source=dataset)
        return demos
    path = Path(dataset)
    if path.is_file() and path.suffix == ".npz":
        demos = load_npz_episodes(path)
        check_env(demos, env_id, source=str(path))
        return demos
    return load_dataset(path, env=env_id)


def _collected(env_id: str, collect: Any, seed: int, out: Path) -> Any:
    """The demonstrations ``[data.collect]`` asks for, collected into ``out`` (:func:`collect_demos`, seeded by
    ``seed``) unless a finished collection is there already (its ``result.json``: ``--resume`` reuses it)."""
    from rewardlab.data.io import load_dataset

    if not (out / "result.json").is_file():
        collect_demos(
            env_id,
            out,
            checkpoints=collect.checkpoints,
            steps=collect.steps,
            episodes=collect.episodes,
            seed=seed,
            hyperparams=dict(collect.hyperparams),
            every=collect.every,
            ceiling=collect.ceiling,
            overwrite=out.exists(),
        )
    return load_dataset(out, env=env_id)


def _steps(method: str, config: Any) -> int:
    """The steps a ranking learner reports to its callback (for the progress bar)."""
    if method == "trex":
        return int(config.steps * config.ensemble)
    if method == "drex":
        return int(config.trex.steps * config.trex.ensemble)
    if method == "relent-gym":
        return int(config.iterations)
    return int(config.burn_in + config.samples)


def ranking_experiment(cfg: RunConfig) -> Experiment:
    """Prepare a gym run: load the dataset (checked against the env) or, with ``[data.collect]``, collect
    the demonstrations into ``DIR/demos`` first (the experiment's ``setup``); add mirror images,
    configure the learner (seeded by ``cfg.seed``). ``finish`` saves the reward (and D-REX's clone,
    B-REX's posterior), scores the predicted returns against the true ones, evaluates D-REX's clone
    (``[eval] bc_episodes``), runs the ``[policy]`` stage on the learned reward or, with ``reward =
    "constant"``, the constant-reward control (the policy's evaluation rollouts saved in ``policy/rollouts``),
    and the reward-hacking check on those rollouts (``[eval] hacking_check``). ``relent-gym`` (which trains no
    policy of its own) runs here too. A run on preferences is :func:`preference_experiment`'s."""
    import gymnasium as gym

    from rewardlab.experiments.config import GymEval
    from rewardlab.experiments.run import Experiment
    from rewardlab.registry import LEARNERS

    if isinstance(cfg.data, PreferenceData):
        return preference_experiment(cfg)
    assert cfg.env is not None and isinstance(cfg.data, RankingData)
    method, env_id, data = cfg.learner.name, cfg.env.id, cfg.data
    spec, config = LEARNERS[method], cfg.learner.config
    evaluation = cfg.eval if isinstance(cfg.eval, GymEval) else GymEval()
    env = gym.make(env_id)
    space = (env.observation_space, env.action_space)
    env.close()
    _check_mirror(space, method, data.mirror_obs, data.mirror_act)
    loaded: dict[str, Any] = {}

    def load(directory: Path) -> None:
        """Read (or collect, then read) the demonstrations, and their mirror images."""
        if data.collect is None:
            assert data.dataset is not None
            loaded["demos"] = read_demos(data.dataset, env_id)
        else:
            loaded["demos"] = _collected(env_id, data.collect, cfg.seed, directory / "demos")
            loaded["collection"] = json.loads((directory / "demos" / "result.json").read_text(encoding="utf-8"))
        loaded["train"] = _mirrored(loaded["demos"], space, method, data.mirror_obs, data.mirror_act)

    if data.collect is None:
        load(Path())  # a dataset is read and checked before any work

    def fit(callback: Any, checkpoint: Any) -> FitResult:
        extra = {} if checkpoint is None else {"checkpoint": checkpoint}
        learner, rng = spec.learner_class()(config), np.random.default_rng(cfg.seed)
        if method in ("drex", "relent-gym"):  # they roll out in the env themselves
            return learner.fit(loaded["demos"], env_id, rng=rng, callback=callback, **extra)  # type: ignore[no-any-return]
        return learner.fit(loaded["train"], space, rng=rng, callback=callback, **extra)  # type: ignore[no-any-return]

    def finish(fit: FitResult, directory: Path) -> dict[str, Any]:
        from rewardlab.eval import extrapolation_plot, kendall_tau
        from rewardlab.prefs.trex import TrajectoryEncoder, predicted_returns

        demos = loaded["demos"]
        summary: dict[str, Any] = {
            "method": method,
            "env": env_id,
            "demos": data.dataset if data.collect is None else "demos",  # collected: relative to the run directory
            "seed": cfg.seed,
            "mirror": None
            if data.mirror_obs is None
            else {"obs": list(data.mirror_obs), "act": None if data.mirror_act is None else list(data.mirror_act)},
        }
        if "collection" in loaded:
            summary["collection"] = loaded["collection"]
        metrics: dict[str, float] = {}
        for key in ("train_accuracy", "val_accuracy", "acceptance", "rhat_max", "ess_min", "pairs", "trajectories", "ranking_tau"):
            if key in fit.info:
                summary[key] = fit.info[key]
                if key not in ("pairs", "trajectories"):
                    metrics[key] = fit.info[key]
        aux = fit.info.get("aux_losses", fit.info.get("pretrain", {}).get("aux_losses"))
        if aux is not None:  # T-REX's, or B-REX's embedding's, self-supervised losses at the end
            summary["aux_losses"] = aux
        figure = None
        if all(tr.rews is not None for tr in demos):
            judged = fit.info.get("rollouts", demos)
            predicted = predicted_returns(fit.reward, judged, TrajectoryEncoder.for_reward(space, fit.reward))
            true = judged.returns()
            if len(true) > 1:
                summary["kendall_tau"] = metrics["kendall_tau"] = kendall_tau(predicted, true)
                figure = extrapolation_plot(predicted, true, demo=np.ones(len(true), bool), title=f"{method} on {env_id}")
        summary["warnings"] = [str(w) for w in fit.info.get("warnings", [])]
        fit.reward.save(directory / "reward")
        if "bc_policy" in fit.info:  # D-REX's clone, to warm-start the policy (`train-policy --init-policy`)
            fit.info["bc_policy"].save(directory / "bc_policy")
        if fit.posterior is not None:
            fit.posterior.save(directory / "posterior")
        if figure is not None:
            figure.savefig(directory / "extrapolation.png", dpi=110)
        if evaluation.bc_episodes:
            from rewardlab.rl import evaluate

            clone = evaluate(fit.info["bc_policy"], env_id, episodes=evaluation.bc_episodes, seed=10_000 + cfg.seed).returns()
            summary["bc"] = {"true_return_mean": float(clone.mean()), "true_return_std": float(clone.std()), "episodes": len(clone)}
            metrics["bc_return_mean"] = summary["bc"]["true_return_mean"]
        if cfg.policy is not None:
            rollouts = _policy_on_reward(cfg, fit, directory, demos, "the demonstrations record no true rewards", summary, metrics)
            if evaluation.hacking_check:
                check = _hacking_check(fit, fit.info.get("rollouts", demos), rollouts, space, cfg.seed, evaluation.hacking_alpha)
                summary["warnings"] += check.pop("warnings")
                summary["hacking_check"] = check
                metrics["hacking_flagged"] = math.nan if check["flagged"] is None else float(check["flagged"])
        summary["metrics"] = metrics
        return summary

    return Experiment(f"{method} on {env_id}", _steps(method, config), fit, finish, setup=None if data.collect is None else load)


def _policy_on_reward(
    cfg: RunConfig, fit: FitResult, directory: Path, demos: Any, reason: str, summary: dict[str, Any], metrics: dict[str, float]
) -> Any:
    """The ``[policy]`` stage of a gym run on the learned reward (or the constant-reward control) into
    ``directory/policy``, its evaluation rollouts saved in ``policy/rollouts`` and returned; its summary
    (judged against the best of ``demos``, or null with ``reason``), warnings and metrics added to
    ``summary`` and ``metrics``."""
    from rewardlab.data.io import save_dataset
    from rewardlab.rewards import ConstantReward

    assert cfg.policy is not None and cfg.env is not None
    stage, env_id = cfg.policy, cfg.env.id
    policy = configured_policy_stage(
        stage,
        env_id,
        fit.reward if stage.reward == "learned" else ConstantReward(),
        directory / "policy",
        seed=cfg.seed,
        init_policy=fit.info.get("bc_policy") if stage.init_from_clone else None,
        keep_rollouts=True,
    )
    rollouts = policy.pop("rollouts")
    save_dataset(rollouts, directory / "policy" / "rollouts", env_id=env_id)  # for extrapolation plots
    policy["reward"] = stage.reward
    policy.update(best_demo_verdict(demos, reason, policy["true_return_mean"], policy["true_return_std"]))
    summary["warnings"] += policy.pop("warnings")
    summary["policy"] = policy
    for key in ("true_return_mean", "true_return_std", "distance_mean", "best_demo_return", "beats_best_demo"):
        if policy.get(key) is not None:
            metrics[key] = float(policy[key])
    return rollouts


def preference_experiment(cfg: RunConfig) -> Experiment:
    """Prepare a gym trex or brex run on a saved preference dataset (``[data] kind = "preferences"``): the
    dataset is read and checked before any work (:func:`~rewardlab.data.load_preferences`; an ``env_id``
    other than ``[env] id`` raises :class:`~rewardlab.errors.DataFileError`, one without an ``env_id`` is
    checked against the env's spaces by the fit). ``finish`` saves the reward (and B-REX's posterior),
    records the pair counts and accuracies, the Kendall tau of predicted against true segment returns and
    their extrapolation plot when the segments record their true rewards, and runs the ``[policy]`` stage
    (the policy is judged against no demonstration: ``beats_best_demo`` is null)."""
    import gymnasium as gym

    from rewardlab.data.preferences import load_preferences
    from rewardlab.errors import DataFileError
    from rewardlab.experiments.run import Experiment
    from rewardlab.registry import LEARNERS

    assert cfg.env is not None and isinstance(cfg.data, PreferenceData)
    method, env_id, path = cfg.learner.name, cfg.env.id, cfg.data.path
    spec, config = LEARNERS[method], cfg.learner.config
    prefs = load_preferences(path)
    if prefs.env_id is not None and prefs.env_id != env_id:
        raise DataFileError(
            f"{Path(path) / 'preferences.json'}: env_id is {prefs.env_id!r}, but [env] id is {env_id!r}. "
            f"Fix: point data.path at preferences recorded in {env_id}, or set [env] id = {prefs.env_id!r}"
        )
    env = gym.make(env_id)
    space = (env.observation_space, env.action_space)
    env.close()

    def fit(callback: Any, checkpoint: Any) -> FitResult:
        extra = {} if checkpoint is None else {"checkpoint": checkpoint}
        learner, rng = spec.learner_class()(config), np.random.default_rng(cfg.seed)
        return learner.fit(prefs, space, rng=rng, callback=callback, **extra)  # type: ignore[no-any-return]

    def finish(fit: FitResult, directory: Path) -> dict[str, Any]:
        from rewardlab.eval import extrapolation_plot, kendall_tau
        from rewardlab.prefs.trex import TrajectoryEncoder, predicted_returns

        summary: dict[str, Any] = {"method": method, "env": env_id, "preferences": path, "seed": cfg.seed, "env_id": prefs.env_id}
        metrics: dict[str, float] = {}
        for key in ("train_accuracy", "val_accuracy", "acceptance", "rhat_max", "ess_min", "pairs", "skipped", "segments"):
            if key in fit.info:
                summary[key] = fit.info[key]
                if key not in ("pairs", "skipped", "segments"):
                    metrics[key] = fit.info[key]
        figure = None
        answered = prefs.answered()
        batch = answered.segments()
        if batch.rews_a is not None and batch.rews_b is not None:  # true segment returns, in the order of predicted_returns
            true = np.stack([batch.rews_a.sum(1), batch.rews_b.sum(1)], 1).reshape(-1)
            predicted = predicted_returns(fit.reward, answered, TrajectoryEncoder.for_reward(space, fit.reward))
            summary["kendall_tau"] = metrics["kendall_tau"] = kendall_tau(predicted, true)
            figure = extrapolation_plot(predicted, true, demo=np.ones(len(true), bool), title=f"{method} on {env_id} (preference segments)")
        summary["warnings"] = [str(w) for w in fit.info.get("warnings", [])]
        fit.reward.save(directory / "reward")
        if fit.posterior is not None:
            fit.posterior.save(directory / "posterior")
        if figure is not None:
            figure.savefig(directory / "extrapolation.png", dpi=110)
        if cfg.policy is not None:
            _policy_on_reward(cfg, fit, directory, None, "learned from preferences: no demonstrations", summary, metrics)
        summary["metrics"] = metrics
        return summary

    return Experiment(f"{method} on {env_id} from preferences", _steps(method, config), fit, finish)


def _hacking_check(fit: FitResult, ranked: Any, rollouts: Any, space: tuple[Any, Any], seed: int, alpha: float) -> dict[str, Any]:
    """:func:`rewardlab.prefs.reward_hacking_check` of the policy's ``rollouts`` against the ``ranked`` data the
    reward ``fit`` learned from (its net's last layer, rng seeded by ``seed``), as ``result.json`` records it:
    the :class:`~rewardlab.prefs.HackingCheck` fields, ``flagged`` null with its ``reason`` when undetermined,
    and ``warnings`` (B-REX's, an undetermined verdict, a flagged policy)."""
    import dataclasses

    from rewardlab.prefs import reward_hacking_check

    check = reward_hacking_check(ranked, rollouts, space, rng=np.random.default_rng(seed), embedding=fit.reward, alpha=alpha)
    out = dataclasses.asdict(check)
    warnings = [str(w) for w in check.warnings]
    if check.flagged is None:
        warnings.append(f"the reward-hacking check is undetermined: {check.reason}")
    elif check.flagged:
        warnings.append(
            f"the reward-hacking check flags the policy: its posterior mean return {check.policy_mean:.4g} beats the top-ranked "
            f"trajectories' {check.top_mean:.4g} while its {alpha:g}-VaR {check.policy_var:.4g} falls below theirs {check.top_var:.4g}"
        )
    out["warnings"] = warnings
    return out


#: How ``rewardlab prefs`` names the run config's keys in its errors: its options, and the learner's
#: settings by their own names (as ``--set`` gives them).
_PREFS_NAMES = {
    "data.dataset": "--demos",
    "data.path": "--preferences",
    "data.kind": "--preferences",
    "data.mirror_obs": "--mirror-obs",
    "data.mirror_act": "--mirror-act",
    "env.id": "--env",
    "seed": "--seed",
}


def learn_reward(
    method: str,
    env_id: str,
    demos_dir: str | Path | None,
    out: str | Path,
    *,
    seed: int = 0,
    settings: dict[str, Any] | None = None,
    mirror_obs: list[float] | None = None,
    mirror_act: list[float] | None = None,
    overwrite: bool = False,
    preferences: str | Path | None = None,
) -> dict[str, Any]:
    """Fit ``method`` (``trex``, ``drex`` or ``brex``) to the demonstrations in ``demos_dir``, or (trex, brex)
    to the preference dataset in ``preferences`` (a :func:`~rewardlab.data.save_preferences` directory; give
    exactly one); write ``out/reward``,
    ``out/result.json`` and, when true returns are known, ``out/extrapolation.png`` (an existing non-empty
    ``out`` only with ``overwrite``), all or nothing: the run config of these arguments run by
    :func:`rewardlab.experiments.run.execute`. ``mirror_obs`` (and ``mirror_act``), sign vectors of a
    reflection symmetry of the task, add each demonstration's mirror image with the same rank to the
    training data (:func:`rewardlab.data.ranking.with_mirror_images`; T-REX and B-REX on demonstrations)."""
    from rewardlab.experiments.config import load_run_config
    from rewardlab.experiments.irl import named_as
    from rewardlab.experiments.run import execute
    from rewardlab.registry import learner_spec

    learner_spec(method, ("trex", "drex", "brex"))
    with named_as(_PREFS_NAMES, {"learner.": ""}):
        if (demos_dir is None) == (preferences is None):
            given = "both are given" if preferences is not None else "neither is given"
            raise ConfigError(
                "--demos", f"or --preferences: {given}", "give one: --demos DIR (demonstrations) or --preferences DIR (labelled pairs)"
            )
        if mirror_act is not None and mirror_obs is None:
            raise ConfigError("--mirror-act", "is set without --mirror-obs", "give the observation's signs too")
        if preferences is not None and mirror_obs is not None:
            raise ConfigError("--mirror-obs", "is set with --preferences", "leave it out: mirror images are made of demonstrations")
        learner: dict[str, Any] = {"name": method}
        overrides: dict[str, str] = {}
        for key, value in (settings or {}).items():
            if isinstance(value, str):
                overrides[f"learner.{key}"] = value
            else:
                learner[key] = value
        data: dict[str, Any] = (
            {"kind": "preferences", "path": str(Path(preferences).absolute())}
            if preferences is not None
            else {"dataset": dataset_reference(demos_dir)}  # type: ignore[arg-type]
        )
        if mirror_obs is not None:
            data["mirror_obs"] = list(mirror_obs)
        if mirror_act is not None:
            data["mirror_act"] = list(mirror_act)
        cfg = load_run_config({"seed": seed, "learner": learner, "env": {"id": env_id}, "data": data}, overrides)
        summary = execute(cfg, out, overwrite=overwrite, staged=True)
    summary["seconds"] = summary["fit_seconds"]
    return summary


def configured_policy_stage(
    stage: Any, env_id: str, reward: Any, directory: Path, *, seed: int, init_policy: Any = None, keep_rollouts: bool = False
) -> dict[str, Any]:
    """:func:`policy_stage` with the settings of a run config's ``[policy]`` table ``stage``
    (:class:`rewardlab.experiments.config.PolicyStage`)."""
    return policy_stage(
        env_id,
        reward,
        directory,
        steps=stage.steps,
        seed=seed,
        algo=stage.algo,
        normalize=stage.normalize,
        ctrl_cost=stage.ctrl_cost,
        checkpoint_every=stage.checkpoint_every,
        eval_episodes=stage.eval_episodes,
        hyperparams=dict(stage.hyperparams),
        init_policy=init_policy,
        init_log_std=stage.init_log_std,
        critic_warmup=stage.critic_warmup,
        critic_warmup_lr=stage.critic_warmup_lr,
        keep_rollouts=keep_rollouts,
    )


def policy_stage(
    env_id: str,
    reward: Any,
    directory: Path,
    *,
    steps: int,
    seed: int,
    algo: str,
    normalize: str,
    ctrl_cost: float,
    checkpoint_every: int | None,
    eval_episodes: int,
    hyperparams: dict[str, Any],
    init_policy: Any,
    init_log_std: float | None,
    critic_warmup: int,
    critic_warmup_lr: float | None,
    progress: bool = True,
    keep_rollouts: bool = False,
) -> dict[str, Any]:
    """Train ``algo`` on ``env_id`` with the learned ``reward`` (None: the env's own reward; ``normalize`` and
    ``ctrl_cost`` then do not apply and are recorded as null) (checkpoints and the final model into
    ``directory``) and evaluate the final policy on the true reward: the stage's summary (with
    ``keep_rollouts``, also the evaluation's trajectories as ``"rollouts"``, for the caller to pop)."""
    from rewardlab.data.gym_rollouts import env_spaces
    from rewardlab.experiments.run import progress_bar
    from rewardlab.rewards.wrappers import check_reward_spaces
    from rewardlab.rl import evaluate, train_policy
    from rewardlab.rl.sb3 import check_hyperparams

    hyperparams = check_hyperparams(algo, hyperparams)
    if init_log_std is not None and not math.isfinite(init_log_std):
        raise ConfigError("init_log_std", f"is {init_log_std}", "give a finite log standard deviation, e.g. -1.5")
    if reward is not None:
        check_reward_spaces(reward, *env_spaces(env_id), reward="--reward", env=f"--env {env_id}")
    if init_log_std is not None:
        hyperparams["policy_kwargs"] = {**hyperparams.get("policy_kwargs", {}), "log_std_init": init_log_std}
    every = checkpoint_every or max(1, steps // 10)
    directory.mkdir(parents=True, exist_ok=True)
    source = "the env's reward" if reward is None else "the learned reward"
    with progress_bar(f"{algo} on {env_id} with {source}", steps, enabled=progress) as advance:
        result = train_policy(
            env_id,
            steps=steps,
            seed=seed,
            algo=algo,
            reward=reward,
            normalize=normalize,
            ctrl_cost=ctrl_cost,
            checkpoint_every=every,
            out=directory,
            hyperparams=hyperparams,
            callback=lambda done, _m: advance(done),
            init_policy=init_policy,
            critic_warmup=critic_warmup,
            critic_warmup_lr=critic_warmup_lr,
        )
    final = evaluate(result.model, env_id, episodes=eval_episodes, seed=10_000 + seed)
    summary: dict[str, Any] = {
        "env": env_id,
        "algo": algo,
        "steps": steps,
        "seed": seed,
        "normalize": None if reward is None else normalize,
        "ctrl_cost": None if reward is None else ctrl_cost,
        "hyperparams": hyperparams,
        "init_log_std": init_log_std,
        "critic_warmup": critic_warmup,
        "critic_warmup_lr": critic_warmup_lr,
        "true_return_mean": float(final.returns().mean()),
        "true_return_std": float(final.returns().std()),
        "checkpoints": [str(p) for _, p in result.checkpoints],
        "seconds": result.seconds,
        "warnings": [],
    }
    distances = [tr.infos["x_distance"] for tr in final if "x_distance" in tr.infos]
    if distances:
        summary["distance_mean"] = float(np.mean(distances))
    if keep_rollouts:
        summary["rollouts"] = final
    return summary


def train_on_reward(
    env_id: str,
    reward_dir: str | Path | None,
    out: str | Path,
    *,
    steps: int,
    seed: int = 0,
    algo: str = "ppo",
    normalize: str = "running",
    ctrl_cost: float = 0.0,
    checkpoint_every: int | None = None,
    eval_episodes: int = 10,
    hyperparams: dict[str, Any] | None = None,
    init_policy: str | Path | None = None,
    init_log_std: float | None = None,
    critic_warmup: int = 0,
    critic_warmup_lr: float | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Train ``algo`` on ``env_id`` with the reward saved in ``reward_dir`` (any reward's ``save``: a learned
    one, or :class:`~rewardlab.rewards.ConstantReward` for the constant-reward control), or with None on the env's
    own reward (the baseline a learned reward is compared with; ``result.json`` then says ``"reward": null``); checkpoints, the final model and
    ``result.json`` (true return of the final policy) go to ``out`` (an existing non-empty one only with ``overwrite``); ``hyperparams`` override the algorithm's preset.
    ``init_policy``: a behavioural-cloning policy directory (``GymBCPolicy.save``, e.g. D-REX's
    ``bc_policy``) that PPO's actor starts from, with log standard deviation ``init_log_std``, after
    ``critic_warmup`` steps that train the critic alone (at ``critic_warmup_lr``, default the algorithm's rate).
    The same stage as a run config's ``[policy]`` (:func:`ranking_experiment`)."""
    from rewardlab.irl.bc import GymBCPolicy
    from rewardlab.rewards import load_reward
    from rewardlab.rl.sb3 import check_hyperparams

    out = check_out(out, overwrite=overwrite)
    hyperparams = check_hyperparams(algo, hyperparams)
    if init_log_std is not None and not math.isfinite(init_log_std):
        raise ConfigError("init_log_std", f"is {init_log_std}", "give a finite log standard deviation, e.g. -1.5")
    if reward_dir is None and ctrl_cost != 0:
        raise ConfigError(
            "ctrl_cost", f"is {ctrl_cost} without a reward", "add a control cost to a learned reward only (--reward), or drop it"
        )
    # a learned reward, or ConstantReward.save's control (spaces checked by the stage); None: the env's own
    reward = None if reward_dir is None else load_reward(reward_dir)
    clone = None if init_policy is None else GymBCPolicy.load(init_policy)
    with run_directory(out, overwrite=overwrite) as tmp:
        summary = policy_stage(
            env_id,
            reward,
            tmp,
            steps=steps,
            seed=seed,
            algo=algo,
            normalize=normalize,
            ctrl_cost=ctrl_cost,
            checkpoint_every=checkpoint_every,
            eval_episodes=eval_episodes,
            hyperparams=hyperparams,
            init_policy=clone,
            init_log_std=init_log_std,
            critic_warmup=critic_warmup,
            critic_warmup_lr=critic_warmup_lr,
        )
        summary["reward"] = None if reward_dir is None else str(reward_dir)
        summary["init_policy"] = None if init_policy is None else str(init_policy)
        summary["checkpoints"] = [str(out / Path(p).relative_to(tmp)) for p in summary["checkpoints"]]
        mean, std = summary["true_return_mean"], summary["true_return_std"]
        if reward_dir is None:
            summary.update(best_demo_verdict(None, "trained on the env's own reward: no demonstrations", mean, std))
        else:
            summary.update(_against_best_demo(reward_dir, env_id, mean, std))
        write_json(tmp / "result.json", summary)
    return summary


def _recorded_demos(reward_dir: str | Path, env_id: str) -> tuple[Any, str]:
    """The demonstrations in the ``demos`` directory recorded by the reward's run
    (``reward_dir/../result.json``), or None and why not."""
    from rewardlab.errors import RewardLabError

    run = Path(reward_dir).parent / "result.json"
    try:
        demos_dir = json.loads(run.read_text(encoding="utf-8")).get("demos") if run.is_file() else None
        demos_dir = run.parent / demos_dir if isinstance(demos_dir, str) else None  # collected demos: relative to the run
        demos = read_demos(str(demos_dir), env_id) if demos_dir is not None and demos_dir.exists() else None
    except (OSError, ValueError, RewardLabError):
        demos = None
    return demos, f"{run} names no readable demonstrations with recorded true rewards"


def _against_best_demo(reward_dir: str | Path, env_id: str, mean: float, std: float) -> dict[str, Any]:
    """:func:`best_demo_verdict` against the demonstrations recorded by the reward's run (``reward_dir/../result.json``)."""
    return best_demo_verdict(*_recorded_demos(reward_dir, env_id), mean, std)


def best_demo_verdict(demos: Any, reason: str, mean: float, std: float) -> dict[str, Any]:
    """``best_demo_return``, ``beats_best_demo`` and ``warnings`` of a policy's mean true return against the
    best of ``demos`` (the demonstrations the reward learned from); when there are none, or they record
    no true rewards, both are null with a ``beats_best_demo_reason``."""
    if demos is None or not len(demos) or any(tr.rews is None for tr in demos):
        return {"best_demo_return": None, "beats_best_demo": None, "beats_best_demo_reason": reason, "warnings": []}
    best = float(demos.returns().max())
    beats = mean > best
    warnings = [] if beats else [f"the policy's true return {mean:.4g} ± {std:.3g} is not above the best demonstration's {best:.4g}"]
    return {"best_demo_return": best, "beats_best_demo": beats, "warnings": warnings}
