"""Policy optimisation with Stable-Baselines3, by composition: an SB3 model is held, never subclassed.

* :func:`make_vec_env` — SB3 vector envs whose reward is optionally replaced by a learned reward model
  (:class:`rewardlab.rewards.wrappers.LearnedReward`, with its normalisation and control cost); the
  env's own reward stays in ``info["true_reward"]``.
* :func:`train_policy` — PPO or SAC on such an env, with hyperparameter presets for the envs the
  benchmarks use (the tuned values of the RL Baselines3 Zoo), periodic checkpoints and a callback.
* :func:`evaluate` — true returns (and distance travelled) of a policy.
* :func:`make_ranked_demos` — the standard way to get ranked suboptimal demonstrations: train PPO on
  the true reward, keep checkpoints, roll each out; the rank is the checkpoint's training time alone.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rewardlab._schema import apply_settings
from rewardlab.data.gym_rollouts import collect_rollouts
from rewardlab.data.trajectory import TrajectoryDataset
from rewardlab.errors import ConfigError

__all__ = [
    "PRESETS",
    "TrainResult",
    "check_hyperparams",
    "evaluate",
    "init_actor",
    "load_policy_state",
    "make_ranked_demos",
    "make_vec_env",
    "policy_state",
    "preset_params",
    "rollout_steps",
    "train_policy",
]

#: Tuned hyperparameters (RL Baselines3 Zoo) for the envs our benchmarks use; others get SB3's defaults.
PRESETS: dict[tuple[str, str], dict[str, Any]] = {
    ("ppo", "Pendulum-v1"): {
        "n_envs": 4,
        "n_steps": 1024,
        "gae_lambda": 0.95,
        "gamma": 0.9,
        "n_epochs": 10,
        "ent_coef": 0.0,
        "learning_rate": 1e-3,
        "clip_range": 0.2,
        "use_sde": True,
        "sde_sample_freq": 4,
    },
    # HalfCheetah-v5 uses SB3's defaults (the PPO paper's MuJoCo settings), which need no observation normalisation
}


def make_vec_env(
    env_id: str | Callable[[], Any],
    *,
    n_envs: int = 1,
    seed: int = 0,
    reward: Any = None,
    normalize: str = "none",
    ctrl_cost: float = 0.0,
    zero_reward: bool = False,
) -> Any:
    """An SB3 ``DummyVecEnv`` of ``n_envs`` copies of ``env_id`` (an id or a function returning a new env, e.g.
    ``lambda: atari_env("Breakout")``), each with its reward replaced by ``reward`` if given,
    or by 0 with ``zero_reward`` (the placeholder that :class:`rewardlab.rl.relabel.RelabelRollout` fills in).

    Examples:
        >>> envs = make_vec_env("Pendulum-v1", n_envs=2)
        >>> envs.num_envs
        2
    """
    from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env

    from rewardlab.rewards.wrappers import LearnedReward

    kwargs: dict[str, Any] = {}
    if zero_reward:
        from rewardlab.rl.relabel import ZeroReward

        kwargs = {"wrapper_class": ZeroReward}
    elif reward is not None:
        kwargs = {"wrapper_class": LearnedReward, "wrapper_kwargs": {"model": reward, "normalize": normalize, "ctrl_cost": ctrl_cost}}
    return sb3_make_vec_env(env_id, n_envs=n_envs, seed=seed, **kwargs)


#: Constructor arguments of the SB3 algorithm that :func:`train_policy` sets itself.
_SET_BY_TRAIN_POLICY = ("policy", "env", "seed", "device", "verbose", "_init_setup_model")


def preset_params(algo: str, env_id: Any, hyperparams: dict[str, Any] | None = None) -> dict[str, Any]:
    """The algorithm's settings for ``env_id``: its :data:`PRESETS` entry (none for an env factory) overridden
    by ``hyperparams`` (``n_envs`` included).

    Examples:
        >>> preset_params("ppo", "Pendulum-v1", {"n_steps": 256})["n_steps"], preset_params("sac", "Pendulum-v1")
        (256, {})
    """
    return {**(PRESETS.get((algo, env_id), {}) if isinstance(env_id, str) else {}), **(hyperparams or {})}


def rollout_steps(algo: str, env_id: Any, hyperparams: dict[str, Any] | None = None) -> int:
    """Env steps between policy updates' data collections: PPO's rollout of ``n_steps x n_envs`` (preset, then
    ``hyperparams``, then SB3's default ``n_steps``); 1 for SAC, which updates every step.

    Examples:
        >>> rollout_steps("ppo", "Pendulum-v1"), rollout_steps("sac", "Pendulum-v1")
        (4096, 1)
    """
    if algo != "ppo":
        return 1
    import inspect

    from stable_baselines3 import PPO

    params = preset_params(algo, env_id, hyperparams)
    return int(params.get("n_steps", inspect.signature(PPO).parameters["n_steps"].default)) * int(params.get("n_envs", 1))


def check_hyperparams(algo: str, hyperparams: dict[str, Any] | None) -> dict[str, Any]:
    """``hyperparams`` checked against the SB3 constructor's keyword parameters (plus ``n_envs``), each
    value read by its declared type (command-line text too, e.g. ``"1024"`` for ``n_steps``, a JSON
    object for ``policy_kwargs``); unknown keys get a suggestion.

    Examples:
        >>> check_hyperparams("ppo", {"n_steps": "1024", "gamma": 0.9})
        {'n_steps': 1024, 'gamma': 0.9}
    """
    from stable_baselines3 import PPO, SAC

    if algo not in ("ppo", "sac"):
        raise ConfigError("algo", f"is {algo!r}", "choose 'ppo' or 'sac'")
    checked = apply_settings(
        PPO if algo == "ppo" else SAC, dict(hyperparams or {}), algo.upper(), fixed=_SET_BY_TRAIN_POLICY, extra={"n_envs": int}
    )
    if checked.get("n_envs", 1) < 1:
        raise ConfigError("n_envs", f"is {checked['n_envs']}", "run at least one env")
    return checked


@dataclass
class TrainResult:
    """What :func:`train_policy` returns: the SB3 model, its checkpoints ``(step, path)``, an evaluation
    curve ``(step, mean true return)`` and the wall time."""

    model: Any
    checkpoints: list[tuple[int, Path]] = field(default_factory=list)
    curve: list[tuple[int, float]] = field(default_factory=list)
    seconds: float = 0.0


def train_policy(
    env_id: str | Callable[[], Any],
    *,
    steps: int,
    seed: int = 0,
    algo: str = "ppo",
    reward: Any = None,
    normalize: str = "running",
    ctrl_cost: float = 0.0,
    hyperparams: dict[str, Any] | None = None,
    checkpoint_every: int | None = None,
    out: str | Path | None = None,
    eval_episodes: int = 0,
    callback: Callable[[int, dict[str, float]], bool | None] | None = None,
    device: str = "cpu",
    reward_batch: str = "auto",
    policy: str = "auto",
    init_policy: Any = None,
    critic_warmup: int = 0,
    critic_warmup_lr: float | None = None,
    ctrl_cost_on: str = "executed",
) -> TrainResult:
    """Train ``algo`` (``"ppo"`` or ``"sac"``) on ``env_id``, on the true reward or on ``reward``.

    Args:
        env_id: a Gymnasium env id, or a function returning a new env (``lambda: atari_env("Breakout")``).
        steps: environment steps.
        seed: seeds the envs and the algorithm.
        algo: ``"ppo"`` or ``"sac"``.
        reward: a learned reward model; None trains on the env's own reward.
        normalize: the learned reward's transform (``"none"``, ``"sigmoid"``, ``"running"``).
        ctrl_cost: weight of ``-||a||^2`` added to the learned reward.
        hyperparams: overrides of the preset (``n_envs`` plus SB3 constructor arguments).
        checkpoint_every: save the model every this many steps (needs ``out``); each save is a checkpoint.
            PPO checkpoints fall on rollout boundaries (``n_steps x n_envs``), so the interval is at
            least one rollout and each checkpoint's step is the model's own step count.
        out: directory for checkpoints (``checkpoint_<step>.zip``, SB3's own format) and the final model.
        eval_episodes: evaluate the true return with this many episodes at each checkpoint (0: never).
        callback: ``callback(step, metrics) -> stop?`` at each checkpoint.
        device: torch device of the policy.
        reward_batch: how the learned reward is computed: ``"step"`` calls it after every env step
            (:class:`rewardlab.rewards.wrappers.LearnedReward`); ``"rollout"`` once per PPO rollout on all
            its transitions (:mod:`rewardlab.rl.relabel`, the same rewards; 1.7x faster on HalfCheetah);
            ``"auto"`` picks ``"rollout"`` for PPO on Box observations (vectors and images) and ``"step"``
            otherwise (SAC, dict observations).
        policy: SB3's policy class name; ``"auto"`` is ``"CnnPolicy"`` for image observations
            (``(C, H, W)`` or ``(H, W, C)`` uint8, e.g. :func:`rewardlab.rl.atari_env`) and ``"MlpPolicy"`` otherwise.
        init_policy: warm start (PPO, ``MlpPolicy``): a behavioural-cloning policy
            (:func:`rewardlab.irl.bc.fit_gym_bc`) whose network becomes the actor's, its mean action the
            Gaussian's mean (:func:`init_actor`). The actor gets the clone's widths and ReLU unless
            ``hyperparams["policy_kwargs"]`` says otherwise; set ``log_std_init`` there to start with
            less exploration noise than SB3's standard deviation of 1.
        critic_warmup: the first this many of ``steps`` train only the value function (PPO), the actor
            frozen, so that a warm-started actor is not pushed around by a critic that knows nothing yet.
        critic_warmup_lr: the learning rate of the warm-up (default: the algorithm's own). A warm-started
            Gaussian with a small standard deviation needs a small learning rate afterwards (set
            ``hyperparams["learning_rate"]``, e.g. 3e-5 at ``log_std_init=-1.5``: the KL divergence of a
            mean step grows as ``1 / std^2``), while the fresh critic learns faster at SB3's 3e-4.
        ctrl_cost_on: ``"executed"`` or ``"raw"`` actions (:class:`rewardlab.rl.relabel.RelabelRollout`;
            ``"raw"`` needs the per-rollout reward).
    """
    from stable_baselines3 import PPO, SAC
    from stable_baselines3.common.preprocessing import is_image_space

    from rewardlab.data.gym_rollouts import env_spaces

    hyperparams = check_hyperparams(algo, hyperparams)
    if steps < 0:  # 0 builds the (warm-started) model without training it
        raise ConfigError("steps", f"is {steps}", "train for zero or more steps")
    if not math.isfinite(ctrl_cost):
        raise ConfigError("ctrl_cost", f"is {ctrl_cost}", "give a finite weight (0 for none)")
    if checkpoint_every is not None and out is None:
        raise ConfigError("out", "is None with checkpoint_every set", "pass a directory for the checkpoints")
    if critic_warmup and (algo != "ppo" or not 0 < critic_warmup <= steps):
        raise ConfigError(
            "critic_warmup", f"is {critic_warmup} with algo={algo!r}, steps={steps}", "use PPO and 0 < critic_warmup <= steps"
        )
    if critic_warmup_lr is not None and not (critic_warmup and critic_warmup_lr > 0 and math.isfinite(critic_warmup_lr)):
        raise ConfigError(
            "critic_warmup_lr", f"is {critic_warmup_lr} with critic_warmup={critic_warmup}", "give a positive rate with critic_warmup > 0"
        )
    if reward_batch not in ("auto", "step", "rollout"):
        raise ConfigError("reward_batch", f"is {reward_batch!r}", "choose 'auto', 'step' or 'rollout'")
    if reward_batch == "rollout" and algo != "ppo":
        raise ConfigError("reward_batch", f"is 'rollout' with algo={algo!r}", "use reward_batch='step' for off-policy algorithms")
    if reward is not None:
        from rewardlab.rewards.wrappers import check_reward_spaces

        check_reward_spaces(reward, *env_spaces(env_id), reward="reward", env="env_id")
    params = preset_params(algo, env_id, hyperparams)
    if init_policy is not None:
        if algo != "ppo":
            raise ConfigError("init_policy", f"is set with algo={algo!r}", "warm-start PPO only (SAC's actor is a squashed Gaussian)")
        from torch import nn

        hidden = [m.out_features for m in init_policy.network if isinstance(m, nn.Linear)][:-1]
        params["policy_kwargs"] = {"net_arch": {"pi": hidden, "vf": [64, 64]}, "activation_fn": nn.ReLU, **params.get("policy_kwargs", {})}
    n_envs = int(params.pop("n_envs", 1))
    deferred = reward is not None and (reward_batch == "rollout" or (reward_batch == "auto" and algo == "ppo" and _box_obs(env_id)))
    if ctrl_cost_on != "executed" and not deferred:
        raise ConfigError(
            "ctrl_cost_on", f"is {ctrl_cost_on!r}", "charge raw actions only with a learned reward computed per rollout (PPO)"
        )
    envs = make_vec_env(
        env_id,
        n_envs=n_envs,
        seed=seed,
        reward=None if deferred else reward,
        normalize=normalize,
        ctrl_cost=ctrl_cost,
        zero_reward=deferred,
    )
    cls = PPO if algo == "ppo" else SAC
    if policy == "auto":
        policy = "CnnPolicy" if is_image_space(env_spaces(env_id)[0], check_channels=False) else "MlpPolicy"
    try:
        model = cls(policy, envs, seed=seed, device=device, verbose=0, **params)
    except (ValueError, AssertionError) as exc:  # SB3 and torch check their arguments when the model is built
        raise ConfigError("hyperparams", f"{cls.__name__} refused {params}: {exc}", "change the --set value it names") from exc
    if init_policy is not None:
        init_actor(model, init_policy)
    relabel = None
    if deferred:
        from rewardlab.rl.relabel import RelabelRollout

        relabel = RelabelRollout(reward, normalize=normalize, ctrl_cost=ctrl_cost, ctrl_cost_on=ctrl_cost_on)  # type: ignore[arg-type]
    result = TrainResult(model)
    t0 = time.perf_counter()
    # PPO collects whole rollouts of n_steps x n_envs: a checkpoint falls on the first rollout boundary
    # at or after each multiple of checkpoint_every (SAC updates every step)
    rollout = int(getattr(model, "n_steps", 1)) * n_envs
    every = max(rollout, checkpoint_every or steps)
    done = 0
    if critic_warmup:
        policy_net: Any = model.policy
        actor = [*policy_net.mlp_extractor.policy_net.parameters(), *policy_net.action_net.parameters(), policy_net.log_std]
        for p in actor:
            p.requires_grad_(False)  # Adam skips parameters without gradients
        schedule = model.lr_schedule
        if critic_warmup_lr is not None:
            from stable_baselines3.common.utils import FloatSchedule

            model.lr_schedule = FloatSchedule(critic_warmup_lr)
        model.learn(critic_warmup, callback=relabel)
        model.lr_schedule = schedule
        for p in actor:
            p.requires_grad_(True)
        done = int(model.num_timesteps)
    while done < steps:
        model.learn(min(every, steps - done), reset_num_timesteps=done == 0, callback=relabel)
        done = int(model.num_timesteps)
        metrics: dict[str, float] = {"seconds": time.perf_counter() - t0}
        if out is not None and checkpoint_every is not None:
            path = checkpoint_path(out, done)
            path.parent.mkdir(parents=True, exist_ok=True)
            model.save(path)
            result.checkpoints.append((done, path))
        if eval_episodes:
            ret = float(evaluate(model, env_id, episodes=eval_episodes, seed=10_000 + seed).returns().mean())
            result.curve.append((done, ret))
            metrics["true_return"] = ret
        if callback is not None and callback(done, metrics):
            break
    if out is not None:
        model.save(Path(out) / "model.zip")
    result.seconds = time.perf_counter() - t0
    return result


def init_actor(model: Any, bc: Any) -> None:
    """Copy a behavioural-cloning MLP (:class:`rewardlab.irl.bc.GymBCPolicy`, Box actions) into the actor of
    an SB3 PPO ``MlpPolicy``, so that the Gaussian's mean action equals the clone's (before clipping).

    The clone standardises observations, ``x = (o - mean) / std``; that is folded into the first layer:
    ``W x + b = (W / std) o + (b - W mean / std)``. The actor must have the clone's hidden widths and
    ReLU activations (``policy_kwargs={"net_arch": {"pi": widths, ...}, "activation_fn": nn.ReLU}``).
    """
    import torch
    from torch import nn

    if bc.low is None:
        raise ConfigError("init_policy", "is a clone of Discrete actions", "warm-start from a Box-action clone")
    policy = model.policy
    ours = [m for m in bc.network if isinstance(m, nn.Linear)]
    theirs = [m for m in policy.mlp_extractor.policy_net if isinstance(m, nn.Linear)] + [policy.action_net]
    acts = {type(m) for m in policy.mlp_extractor.policy_net if not isinstance(m, nn.Linear)}
    if [tuple(m.weight.shape) for m in ours] != [tuple(m.weight.shape) for m in theirs] or (len(ours) > 1 and acts != {nn.ReLU}):
        raise ConfigError(
            "init_policy",
            f"has layers {[tuple(m.weight.shape) for m in ours]}, the actor {[tuple(m.weight.shape) for m in theirs]} ({acts})",
            "give the actor the clone's widths and ReLU: policy_kwargs={'net_arch': {'pi': widths}, 'activation_fn': nn.ReLU}",
        )
    with torch.no_grad():
        for k, (src, dst) in enumerate(zip(ours, theirs, strict=True)):
            weight, bias = src.weight.double(), src.bias.double()
            if k == 0:
                bias = bias - weight @ (bc.mean / bc.std)
                weight = weight / bc.std
            dst.weight.copy_(weight.to(dst.weight.dtype))
            dst.bias.copy_(bias.to(dst.bias.dtype))


def _box_obs(env_id: str | Callable[[], Any]) -> bool:
    import gymnasium as gym

    from rewardlab.data.gym_rollouts import env_spaces

    return isinstance(env_spaces(env_id)[0], gym.spaces.Box)


def evaluate(
    policy: Any, env_id: str | Callable[[], Any], *, episodes: int = 10, seed: int = 0, deterministic: bool = True
) -> TrajectoryDataset:
    """Roll out ``policy`` for ``episodes`` episodes on the true reward; ``.returns()`` gives the returns,
    each trajectory's ``infos["x_distance"]`` the distance travelled (MuJoCo locomotion)."""
    return collect_rollouts(env_id, policy, episodes, seed=seed, deterministic=deterministic)


def make_ranked_demos(
    env_id: str | Callable[[], Any],
    *,
    checkpoints: int,
    steps: int,
    episodes: int = 1,
    seed: int = 0,
    out: str | Path | None = None,
    hyperparams: dict[str, Any] | None = None,
    device: str = "cpu",
    max_steps: int | None = None,
    every: int | None = None,
    ceiling: float | None = None,
) -> TrajectoryDataset:
    """Ranked suboptimal demonstrations: train PPO for ``steps`` on the true reward, save a checkpoint every
    ``every`` steps (default ``steps // checkpoints``; at rollout boundaries, so fewer when a rollout is
    longer), roll each out ``episodes`` times (stochastic actions, as the paper's demonstrators) and keep
    ``checkpoints`` of them, evenly spaced in training time (all of them if there are fewer).

    ``ceiling`` keeps the demonstrations suboptimal, as T-REX's premise needs: each checkpoint is rolled out
    as soon as it is saved, and training stops at the first one whose mean true return over its ``episodes``
    rollouts reaches ``ceiling``; the candidates are the checkpoints before it. With ``steps`` generous and
    ``every`` small, the kept checkpoints then span the demonstrator's progress up to that level whatever
    the seed's learning speed (a seed that learns slowly is trained for longer before the ceiling; one
    that learns fast gives fewer candidates). The true return only chooses *which* checkpoints become
    demonstrations, as a person choosing demonstrators would; the learner still sees the training-time
    rank alone.

    ``infos["rank"]`` is the kept checkpoint's index (0 = earliest; later = better, by training time
    alone), ``infos["checkpoint"]`` its step; true rewards are recorded for evaluation only. ``device``
    trains PPO there; ``max_steps`` cuts each demonstration (Atari episodes can be long).
    """
    if checkpoints < 1:
        raise ConfigError("checkpoints", f"is {checkpoints}", "keep at least one checkpoint")
    if steps < 1:
        raise ConfigError("steps", f"is {steps}", "train PPO for at least one step")
    if ceiling is not None and math.isnan(ceiling):
        raise ConfigError("ceiling", "is NaN", "give a return to stop at, or none")
    if every is not None and not 0 < every <= steps:
        raise ConfigError("every", f"is {every}", f"save checkpoints every 1..steps ({steps}) steps")
    every = every or max(1, steps // checkpoints)
    from stable_baselines3 import PPO

    folder = Path(out) if out is not None else _tmpdir()
    rollouts: list[TrajectoryDataset] = []

    def roll_out(step: int, _metrics: dict[str, float]) -> bool:
        """Roll out the checkpoint just saved; stop training at the first that reaches the ceiling."""
        # loading reseeds the global generators and rolling out draws from torch's: keep PPO's training
        # stream as it was, so that the checkpoints do not depend on the rollouts
        np_state, py_state = np.random.get_state(), random.getstate()
        with torch.random.fork_rng():
            batch = collect_rollouts(
                env_id,
                PPO.load(checkpoint_path(folder, step), device=device),
                episodes,
                seed=seed * 1000 + len(rollouts) * episodes,
                deterministic=False,
                max_steps=max_steps,
                infos={"checkpoint": step},
            )
        np.random.set_state(np_state)
        random.setstate(py_state)
        if ceiling is not None and batch.returns().mean() >= ceiling:
            return True
        rollouts.append(batch)
        return False

    train_policy(
        env_id, steps=steps, seed=seed, hyperparams=hyperparams, checkpoint_every=every, out=folder, device=device, callback=roll_out
    )
    if not rollouts:
        raise ConfigError(
            "ceiling", f"is {ceiling}", "the first checkpoint already reaches it: raise the ceiling or save checkpoints earlier (every)"
        )
    kept = sorted({round(i) for i in np.linspace(0, len(rollouts) - 1, min(checkpoints, len(rollouts)))})
    demos = []
    for rank, index in enumerate(kept):
        for tr in rollouts[index]:
            tr.infos["rank"] = rank
            demos.append(tr)
    return TrajectoryDataset(demos)


def checkpoint_path(out: str | Path, step: int) -> Path:
    """Where :func:`train_policy` saves the checkpoint taken after ``step`` steps."""
    return Path(out) / f"checkpoint_{step}.zip"


def _tmpdir() -> Path:
    import tempfile

    return Path(tempfile.mkdtemp(prefix="rewardlab-ckpt-"))


def policy_state(model: Any) -> dict[str, Any]:
    """What a checkpoint needs to continue an SB3 model: its parameters (weights and optimiser state, SB3's
    ``get_parameters``), SAC's entropy coefficient and the filled part of an off-policy replay buffer.
    :func:`load_policy_state` puts it back into a model built with the same settings.

    Examples:
        >>> from stable_baselines3 import PPO
        >>> model = PPO("MlpPolicy", "Pendulum-v1", n_steps=64, batch_size=64, seed=0)
        >>> sorted(policy_state(model)), sorted(policy_state(model)["parameters"])
        (['parameters'], ['policy', 'policy.optimizer'])
    """
    state: dict[str, Any] = {"parameters": model.get_parameters()}
    if hasattr(model, "log_ent_coef"):
        state["log_ent_coef"] = model.log_ent_coef.detach().clone()
    buffer = getattr(model, "replay_buffer", None)
    if buffer is not None:
        n = buffer.buffer_size if buffer.full else buffer.pos
        state["buffer"] = {
            "pos": buffer.pos,
            "full": buffer.full,
            **{name: getattr(buffer, name)[:n].copy() for name in _BUFFER_FIELDS},
        }
    return state


def load_policy_state(model: Any, state: dict[str, Any]) -> None:
    """Restore :func:`policy_state`'s ``state`` into ``model`` (same algorithm, spaces and buffer size), in place."""
    model.set_parameters(state["parameters"], exact_match=True, device=model.device)
    if "log_ent_coef" in state:
        with torch.no_grad():
            model.log_ent_coef.copy_(torch.as_tensor(state["log_ent_coef"]))
    if "buffer" in state:
        saved, buffer = state["buffer"], model.replay_buffer
        for name in _BUFFER_FIELDS:
            data = np.asarray(saved[name])
            getattr(buffer, name)[: len(data)] = data
        buffer.pos, buffer.full = int(saved["pos"]), bool(saved["full"])


#: the arrays of SB3's ``ReplayBuffer`` that :func:`policy_state` keeps
_BUFFER_FIELDS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")
