"""The command-line experiments of learning from rankings: collect ranked demonstrations, learn a
reward (T-REX, D-REX, Bayesian REX), train a policy on it. Each writes a run directory with
``result.json`` (settings, metrics, timings) and its artefacts, and shows a progress bar. A run
directory is written all or nothing (:func:`rewardlab._io.run_directory`): everything, PPO's
checkpoints included, goes into a temporary sibling that is renamed to ``out`` once the run is complete;
an existing non-empty ``out`` is refused unless ``overwrite``."""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab._io import check_out, run_directory, write_json
from rewardlab.errors import ConfigError

__all__ = ["collect_demos", "learn_reward", "train_on_reward"]


@contextmanager
def _progress(description: str, total: int) -> Any:
    """A rich progress bar; yields ``advance_to(completed)``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda done: bar.update(task, completed=done)


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


def _mirrored(demos: Any, space: tuple[Any, Any], method: str, mirror_obs: list[float] | None, mirror_act: list[float] | None) -> Any:
    """``demos`` plus their mirror images under the sign flips given, after checking the flips' widths."""
    from rewardlab.data.ranking import sign_flip, with_mirror_images

    if mirror_obs is None:
        if mirror_act is not None:
            raise ConfigError("--mirror-act", "is set without --mirror-obs", "give the observation's signs too")
        return demos
    if method == "drex":
        raise ConfigError("--mirror-obs", "is set for D-REX", "use it with trex or brex (D-REX ranks its own rollouts)")
    for name, signs, box in (("--mirror-obs", mirror_obs, space[0]), ("--mirror-act", mirror_act, space[1])):
        width = box.shape[-1] if getattr(box, "shape", None) else None  # a Box's last axis; none for Discrete
        if signs is not None and (width is None or len(signs) != width):
            raise ConfigError(name, f"has {len(signs)} signs", f"give one sign per coordinate of {box}")
    return with_mirror_images(demos, sign_flip(mirror_obs), None if mirror_act is None else sign_flip(mirror_act))


def learn_reward(
    method: str,
    env_id: str,
    demos_dir: str | Path,
    out: str | Path,
    *,
    seed: int = 0,
    settings: dict[str, Any] | None = None,
    mirror_obs: list[float] | None = None,
    mirror_act: list[float] | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Fit ``method`` (``trex``, ``drex`` or ``brex``) to the demonstrations in ``demos_dir``; write ``out/reward``,
    ``out/result.json`` and, when true returns are known, ``out/extrapolation.png`` (an existing non-empty
    ``out`` only with ``overwrite``). ``mirror_obs`` (and
    ``mirror_act``), sign vectors of a reflection symmetry of the task, add each demonstration's mirror image
    with the same rank to the training data (:func:`rewardlab.data.ranking.with_mirror_images`; T-REX and
    B-REX)."""
    import gymnasium as gym

    from rewardlab.data.io import load_dataset
    from rewardlab.eval import extrapolation_plot, kendall_tau
    from rewardlab.prefs.trex import TrajectoryEncoder, predicted_returns
    from rewardlab.registry import learner_spec

    out = check_out(out, overwrite=overwrite)
    spec = learner_spec(method, ("trex", "drex", "brex"))
    cls, config = spec.learner_class(), spec.make_config(**dict(settings or {}))
    demos = load_dataset(demos_dir, env=env_id)
    env = gym.make(env_id)
    space = (env.observation_space, env.action_space)
    train = _mirrored(demos, space, method, mirror_obs, mirror_act)
    rng = np.random.default_rng(seed)
    if method == "trex":
        total = config.steps * config.ensemble
    elif method == "drex":
        total = config.trex.steps * config.trex.ensemble
    else:
        total = config.burn_in + config.samples
    start = time.perf_counter()
    with _progress(f"{method} on {env_id}", total) as advance:

        def callback(step: int, _metrics: dict[str, float]) -> bool:
            advance(step)
            return False

        if method == "drex":
            fit = cls(config).fit(demos, env_id, rng=rng, callback=callback)
        else:
            fit = cls(config).fit(train, space, rng=rng, callback=callback)
    seconds = time.perf_counter() - start
    summary: dict[str, Any] = {
        "method": method,
        "env": env_id,
        "demos": str(demos_dir),
        "seed": seed,
        "settings": settings or {},
        "mirror": None if mirror_obs is None else {"obs": mirror_obs, "act": mirror_act},
        "seconds": seconds,
    }
    for key in ("train_accuracy", "val_accuracy", "acceptance", "rhat_max", "ess_min", "pairs", "trajectories", "ranking_tau"):
        if key in fit.info:
            summary[key] = fit.info[key]
    aux = fit.info.get("aux_losses", fit.info.get("pretrain", {}).get("aux_losses"))
    if aux is not None:  # T-REX's, or B-REX's embedding's, self-supervised losses at the end
        summary["aux_losses"] = aux
    figure = None
    if all(tr.rews is not None for tr in demos):
        judged = fit.info.get("rollouts", demos)
        predicted = predicted_returns(fit.reward, judged, TrajectoryEncoder.for_reward(space, fit.reward))
        true = judged.returns()
        if len(true) > 1:
            summary["kendall_tau"] = kendall_tau(predicted, true)
            figure = extrapolation_plot(predicted, true, demo=np.ones(len(true), bool), title=f"{method} on {env_id}")
    summary["warnings"] = [str(w) for w in fit.info.get("warnings", [])]
    with run_directory(out, overwrite=overwrite) as tmp:
        fit.reward.save(tmp / "reward")
        if "bc_policy" in fit.info:  # D-REX's clone, to warm-start the policy (`train-policy --init-policy`)
            fit.info["bc_policy"].save(tmp / "bc_policy")
        if fit.posterior is not None:
            fit.posterior.save(tmp / "posterior")
        if figure is not None:
            figure.savefig(tmp / "extrapolation.png", dpi=110)
        write_json(tmp / "result.json", summary)
    return summary


def train_on_reward(
    env_id: str,
    reward_dir: str | Path,
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
    one, or :class:`~rewardlab.rewards.ConstantReward` for the constant-reward control); checkpoints, the final model and
    ``result.json`` (true return of the final policy) go to ``out`` (an existing non-empty one only with ``overwrite``); ``hyperparams`` override the algorithm's preset.
    ``init_policy``: a behavioural-cloning policy directory (``GymBCPolicy.save``, e.g. D-REX's
    ``bc_policy``) that PPO's actor starts from, with log standard deviation ``init_log_std``, after
    ``critic_warmup`` steps that train the critic alone (at ``critic_warmup_lr``, default the algorithm's rate)."""
    from rewardlab.data.gym_rollouts import env_spaces
    from rewardlab.irl.bc import GymBCPolicy
    from rewardlab.rewards import load_reward
    from rewardlab.rewards.wrappers import check_reward_spaces
    from rewardlab.rl import evaluate, train_policy
    from rewardlab.rl.sb3 import check_hyperparams

    out = check_out(out, overwrite=overwrite)
    hyperparams = check_hyperparams(algo, hyperparams)
    if init_log_std is not None and not math.isfinite(init_log_std):
        raise ConfigError("init_log_std", f"is {init_log_std}", "give a finite log standard deviation, e.g. -1.5")
    reward = load_reward(reward_dir)  # a learned reward, or ConstantReward.save's control
    check_reward_spaces(reward, *env_spaces(env_id), reward="--reward", env=f"--env {env_id}")
    clone = None if init_policy is None else GymBCPolicy.load(init_policy)
    if init_log_std is not None:
        hyperparams["policy_kwargs"] = {**hyperparams.get("policy_kwargs", {}), "log_std_init": init_log_std}
    every = checkpoint_every or max(1, steps // 10)
    with run_directory(out, overwrite=overwrite) as tmp:
        with _progress(f"{algo} on {env_id} with the learned reward", steps) as advance:
            result = train_policy(
                env_id,
                steps=steps,
                seed=seed,
                algo=algo,
                reward=reward,
                normalize=normalize,
                ctrl_cost=ctrl_cost,
                checkpoint_every=every,
                out=tmp,
                hyperparams=hyperparams,
                callback=lambda done, _m: advance(done),
                init_policy=clone,
                critic_warmup=critic_warmup,
                critic_warmup_lr=critic_warmup_lr,
            )
        final = evaluate(result.model, env_id, episodes=eval_episodes, seed=10_000 + seed)
        summary = {
            "env": env_id,
            "reward": str(reward_dir),
            "algo": algo,
            "steps": steps,
            "seed": seed,
            "normalize": normalize,
            "ctrl_cost": ctrl_cost,
            "hyperparams": hyperparams,
            "init_policy": None if init_policy is None else str(init_policy),
            "init_log_std": init_log_std,
            "critic_warmup": critic_warmup,
            "critic_warmup_lr": critic_warmup_lr,
            "true_return_mean": float(final.returns().mean()),
            "true_return_std": float(final.returns().std()),
            "checkpoints": [str(out / p.relative_to(tmp)) for _, p in result.checkpoints],
            "seconds": result.seconds,
        }
        distances = [tr.infos["x_distance"] for tr in final if "x_distance" in tr.infos]
        if distances:
            summary["distance_mean"] = float(np.mean(distances))
        summary.update(_against_best_demo(reward_dir, env_id, float(final.returns().mean()), float(final.returns().std())))
        write_json(tmp / "result.json", summary)
    return summary


def _against_best_demo(reward_dir: str | Path, env_id: str, mean: float, std: float) -> dict[str, Any]:
    """``best_demo_return``, ``beats_best_demo`` and ``warnings`` of a policy's mean true return against the
    best demonstration the reward learned from: the one in the ``demos`` directory recorded by the reward's
    run (``reward_dir/../result.json``), when it is there and records true rewards; else both are null with
    a ``beats_best_demo_reason``."""
    import json

    from rewardlab.data.io import load_dataset
    from rewardlab.errors import RewardLabError

    run = Path(reward_dir).parent / "result.json"
    try:
        demos_dir = json.loads(run.read_text(encoding="utf-8")).get("demos") if run.is_file() else None
        demos = load_dataset(demos_dir, env=env_id) if isinstance(demos_dir, str) and Path(demos_dir).is_dir() else None
    except (OSError, ValueError, RewardLabError):
        demos = None
    if demos is None or not len(demos) or any(tr.rews is None for tr in demos):
        reason = f"{run} names no readable demonstrations with recorded true rewards"
        return {"best_demo_return": None, "beats_best_demo": None, "beats_best_demo_reason": reason, "warnings": []}
    best = float(demos.returns().max())
    beats = mean > best
    warnings = [] if beats else [f"the policy's true return {mean:.4g} ± {std:.3g} is not above the best demonstration's {best:.4g}"]
    return {"best_demo_return": best, "beats_best_demo": beats, "warnings": warnings}
