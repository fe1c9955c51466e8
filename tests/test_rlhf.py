"""The Christiano loop (rewardlab.prefs.rlhf): schedule, PEBBLE relabelling, resume, and a tiny run end to end."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from conftest import CrashAfterSave, crash_after_save
from rewardlab.checkpoint import Checkpoint
from rewardlab.errors import ConfigError, ValidationError
from rewardlab.prefs.fragments import RandomFragmenter
from rewardlab.prefs.reward_trainer import RewardTrainerConfig
from rewardlab.prefs.rlhf import RLHF, RLHFConfig, label_schedule, relabel_replay_buffer
from rewardlab.prefs.teachers import TeacherLabels
from rewardlab.rl.sb3 import evaluate


def tiny(**changes: object) -> RLHFConfig:
    base: dict[str, object] = {
        "steps": 4096,
        "labels": 40,
        "feedback_every": 1024,
        "segment": 20,
        "eval_episodes": 2,
        "hyperparams": {"n_envs": 2, "n_steps": 512},
        "reward": RewardTrainerConfig(steps_per_round=30, hidden=(32, 32)),
    }
    return RLHFConfig(**{**base, **changes})  # type: ignore[arg-type]


# -- the label schedule -------------------------------------------------------------------------------


def test_schedule_endpoints_and_monotone() -> None:
    kw = {"budget": 500, "initial": 125, "until": 50_000}
    for decay in (1.0, 2.0, 5.0, 50.0):
        n = [label_schedule(t, decay=decay, **kw) for t in range(0, 60_000, 1000)]  # type: ignore[arg-type]
        assert n[0] == 125 and n[50] == 500 and n[-1] == 500
        assert all(b >= a for a, b in itertools.pairwise(n))


def test_schedule_hand_values() -> None:
    # n(t) = n0 + (N - n0) log(1 + k t / t_end) / log(1 + k), k = decay - 1, floored
    k = 4.0
    expected = 25 + math.floor(75 * math.log1p(k * 0.25) / math.log1p(k))
    assert label_schedule(250, budget=100, initial=25, until=1000, decay=5.0) == expected == 57  # log(2) / log(5) = 0.431
    assert label_schedule(250, budget=100, initial=25, until=1000, decay=1.0) == 25 + 18  # linear: 75 / 4 floored


def test_schedule_decaying_rate_front_loads() -> None:
    flat = [label_schedule(t, budget=1000, initial=0, until=1000, decay=1.0) for t in (100, 500)]
    decaying = [label_schedule(t, budget=1000, initial=0, until=1000, decay=10.0) for t in (100, 500)]
    assert decaying[0] > flat[0] and decaying[1] > flat[1]
    # the rate at the start is `decay` times the rate at the end
    first = label_schedule(1, budget=10**9, initial=0, until=10_000, decay=10.0)
    last = 10**9 - label_schedule(9_999, budget=10**9, initial=0, until=10_000, decay=10.0)
    assert first / last == pytest.approx(10.0, rel=0.01)


# -- config ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"query": "information_gain"}, "query"),
        ({"query": "bald"}, "query"),
        ({"teacher": "orakel"}, "teacher"),
        ({"labels": 0}, "labels"),
        ({"initial_fraction": 0.0}, "initial_fraction"),
        ({"label_decay": 0.5}, "label_decay"),
        ({"hyperparams": {"n_stepz": 8}}, "n_stepz"),
    ],
)
def test_config_refuses_bad_values(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        RLHFConfig(**changes)  # type: ignore[arg-type]


def test_config_reads_hyperparam_text() -> None:
    assert RLHFConfig(hyperparams={"n_steps": "256"}).hyperparams == {"n_steps": 256}


# -- PEBBLE relabelling ---------------------------------------------------------------------------------


def test_relabel_replay_buffer_equals_reward_of_executed_actions() -> None:
    from stable_baselines3 import SAC

    from rewardlab.rewards import NeuralReward, RewardNetSpec

    model = SAC("MlpPolicy", "Pendulum-v1", learning_starts=1000, seed=0, buffer_size=500)
    model.learn(300)
    reward = NeuralReward(RewardNetSpec((3,), hidden=(8,), act_dim=1), seed=0)
    buffer = model.replay_buffer
    assert relabel_replay_buffer(buffer, reward, model.policy) == 300
    obs = torch.as_tensor(buffer.observations[:300, 0])
    acts = torch.as_tensor(2.0 * buffer.actions[:300, 0])  # Pendulum's torque bounds are ±2
    with torch.no_grad():
        expected = reward(obs, acts).numpy()
    np.testing.assert_allclose(buffer.rewards[:300, 0], expected, rtol=1e-5, atol=1e-6)
    assert (buffer.rewards[300:] == 0).all()


# -- the loop -------------------------------------------------------------------------------------------


def test_tiny_loop_learns_a_reward_that_orders_held_out_pairs() -> None:
    cfg = tiny(steps=6144, labels=120, reward=RewardTrainerConfig(steps_per_round=60, hidden=(32, 32), label_noise=0.0))
    rounds: list[dict[str, float]] = []
    fit = RLHF(cfg).fit("Pendulum-v1", rng=np.random.default_rng(0), callback=lambda r, m: rounds.append(m) and False)
    assert fit.info["labels"] == len(fit.info["dataset"]) == 120
    assert fit.info["env_steps"] >= 6144
    assert [int(m["labels"]) for m in rounds] == sorted(int(m["labels"]) for m in rounds)
    assert math.isnan(rounds[0]["label_accuracy"])
    # held-out labels: the ~1/e of the labels the trainer never trained on
    last_update = [m for m in rounds if not math.isnan(m["new_labels"])][-1]
    assert all(len(fit.history[k]) == len(fit.history.steps) for k in rounds[0])  # every round reports every key
    assert last_update["val_labels"] >= 20 and last_update["val_accuracy"] > 0.7, last_update
    # held-out pairs: segments of fresh episodes of a uniformly random policy (round 0's kind of behaviour)
    uniform = np.random.default_rng(1)
    fresh = list(evaluate(lambda o: uniform.uniform(-2, 2, (len(o), 1)).astype(np.float32), "Pendulum-v1", episodes=8, seed=321))
    pairs = RandomFragmenter(20).fragment(fresh, 400, rng=np.random.default_rng(7))
    ra, rb = pairs.rewards()
    true = ra.sum(1) - rb.sum(1)
    with torch.no_grad():
        (oa, ob) = pairs.observations()
        pa = fit.reward(torch.as_tensor(oa.reshape(-1, 3))).reshape(len(pairs), -1).sum(1).numpy()
        pb = fit.reward(torch.as_tensor(ob.reshape(-1, 3))).reshape(len(pairs), -1).sum(1).numpy()
    accuracy = float(((pa > pb) == (true > 0))[true != 0].mean())
    assert accuracy > 0.75, accuracy


class _Refuses:
    """A teacher that skips everything (a person who never answers)."""

    def label(self, rewards_a: object, rewards_b: object, *, rng: np.random.Generator, pairs: object = None) -> TeacherLabels:
        n = np.shape(rewards_a)[0]
        return TeacherLabels(np.full(n, 0.5), np.ones(n, dtype=bool))


def test_a_teacher_that_answers_nothing_is_an_error_naming_the_teacher() -> None:
    with pytest.raises(ValidationError, match="teacher"):
        RLHF(tiny()).fit("Pendulum-v1", rng=np.random.default_rng(0), teacher=_Refuses())


def test_segments_longer_than_episodes_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="segment"):
        RLHF(tiny(segment=500)).fit("Pendulum-v1", rng=np.random.default_rng(0))


def test_resume_keeps_the_labels_and_the_budget(tmp_path: object) -> None:
    cfg = tiny()
    seen: list[int] = []
    ckpt = Checkpoint(tmp_path, every=1, fingerprint="rlhf test")  # type: ignore[arg-type]
    with pytest.raises(CrashAfterSave), crash_after_save(1):
        RLHF(cfg).fit(
            "Pendulum-v1", rng=np.random.default_rng(3), callback=lambda r, m: seen.append(int(m["labels"])) and False, checkpoint=ckpt
        )
    asked_before = seen[-1]
    rounds: list[int] = []
    fit = RLHF(cfg).fit(
        "Pendulum-v1",
        rng=np.random.default_rng(3),
        callback=lambda r, m: rounds.append(r) and False,
        checkpoint=Checkpoint(tmp_path, every=1, fingerprint="rlhf test"),  # type: ignore[arg-type]
    )
    assert rounds[0] == 2  # continued after the saved round 1
    assert fit.info["labels"] == cfg.labels
    uninterrupted = RLHF(cfg).fit("Pendulum-v1", rng=np.random.default_rng(3))
    # the labels asked before the interruption are the uninterrupted run's first ones, segments and answers alike
    for p, q in zip(fit.info["dataset"][:asked_before], uninterrupted.info["dataset"][:asked_before], strict=True):
        np.testing.assert_array_equal(p.a.obs, q.a.obs)
        assert p.label == q.label
    assert fit.info["curve"][:2] == uninterrupted.info["curve"][:2] or len(fit.info["curve"]) == len(uninterrupted.info["curve"])


def test_sac_loop_relabels_its_replay_buffer_with_the_final_reward() -> None:
    small = {"learning_starts": 100, "policy_kwargs": {"net_arch": [32, 32]}}
    cfg = tiny(algo="sac", steps=800, labels=20, feedback_every=200, label_until=0.6, hyperparams=small)
    fit = RLHF(cfg).fit("Pendulum-v1", rng=np.random.default_rng(0))
    buffer, model = fit.policy.replay_buffer, fit.policy
    n = buffer.pos
    obs = torch.as_tensor(buffer.observations[:n, 0])
    acts = torch.as_tensor(model.policy.unscale_action(buffer.actions[:n, 0]))
    with torch.no_grad():
        expected = fit.reward(obs, acts).numpy()
    # every stored reward is the final learned reward (labels ended before the last rounds)
    np.testing.assert_allclose(buffer.rewards[:n, 0], expected, rtol=1e-4, atol=1e-5)
    assert fit.info["labels"] == 20


def test_true_reward_control_trains_the_policy_on_the_env_reward() -> None:
    learned = RLHF(tiny(steps=2048, labels=20)).fit("Pendulum-v1", rng=np.random.default_rng(0))
    control = RLHF(tiny(steps=2048, labels=20, policy_reward="true")).fit("Pendulum-v1", rng=np.random.default_rng(0))
    # Pendulum's reward is -(theta^2 + 0.1 theta_dot^2 + 0.001 u^2) in [-16.28, 0]; SB3 adds gamma * V(s_T) on
    # the few time-limit truncations of a rollout, so a handful of rows may leave that range
    inside = lambda r: float(((r <= 0) & (r >= -16.3)).mean())  # noqa: E731
    assert inside(control.policy.rollout_buffer.rewards) > 0.98
    assert inside(learned.policy.rollout_buffer.rewards) < 0.9  # the normalised learned reward has both signs
    assert control.info["labels"] == learned.info["labels"] == 20


def test_why_the_loop_defaults_to_no_label_noise() -> None:
    """The 10% noise model's gradient vanishes on a confidently wrong pair; plain Bradley–Terry's does not."""
    from rewardlab.prefs.losses import bradley_terry_log_likelihood

    x = torch.tensor([-20.0], requires_grad=True)  # predicted R_a - R_b, but the label says a is better
    for noise, expected in ((0.1, 0.0), (0.0, 1.0)):
        (grad,) = torch.autograd.grad(-bradley_terry_log_likelihood(x, torch.ones(1), noise=noise).sum(), x)
        assert float(-grad) == pytest.approx(expected, abs=1e-6)
    assert RLHFConfig().reward.label_noise == 0.0


def test_the_peer_benchmark_uses_our_pendulum_ppo_preset() -> None:
    """benchmarks/imitation_prefs.py runs in imitation's venv, so it repeats the preset: it must stay equal."""
    import importlib.util
    from pathlib import Path

    from rewardlab.rl.sb3 import PRESETS

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "imitation_prefs.py"
    spec = importlib.util.spec_from_file_location("imitation_prefs", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert PRESETS[("ppo", "Pendulum-v1")] == module.PPO_PRESET
