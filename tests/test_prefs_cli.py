"""The ranking commands end to end on Pendulum-v1 at toy scale: collect ranked demonstrations from
real PPO checkpoints, learn rewards with T-REX, D-REX and B-REX, train PPO on one; and the dataset
files: save/load, Minari, the D-REX paper's demonstrations, and refusing a dataset from another env."""

from __future__ import annotations

import json
import os
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from typer.testing import CliRunner

from rewardlab.cli import app
from rewardlab.data import Trajectory
from rewardlab.data.gym_rollouts import collect_rollouts
from rewardlab.data.io import from_minari, load_dataset, load_npz_episodes, save_dataset, to_minari
from rewardlab.errors import ConfigError, DataFileError
from rewardlab.eval import kendall_tau
from rewardlab.irl.bc import GymBCPolicy
from rewardlab.prefs import PreferencePosterior
from rewardlab.prefs.trex import TrajectoryEncoder, predicted_returns
from rewardlab.rewards import NeuralReward
from rewardlab.rl import evaluate, make_ranked_demos, train_policy

runner = CliRunner()


@pytest.fixture(scope="module")
def demos_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demos")
    result = runner.invoke(
        app, ["demos", "collect", "--env", "Pendulum-v1", "--checkpoints", "3", "--steps", "768", "--out", str(out), "--set", "n_steps=64"]
    )
    assert result.exit_code == 0, result.output
    return out


def test_collect_writes_ranked_demonstrations(demos_dir) -> None:
    ds = load_dataset(demos_dir, env="Pendulum-v1")
    assert [tr.infos["rank"] for tr in ds] == [0, 1, 2]
    assert [len(tr) for tr in ds] == [200, 200, 200] and ds[0].obs.shape == (201, 3)
    summary = json.loads((demos_dir / "result.json").read_text())
    assert np.allclose(summary["true_returns"], ds.returns())
    assert len(list((demos_dir / "checkpoints").glob("checkpoint_*.zip"))) == 3
    assert summary["checkpoint_steps"] == [256, 512, 768]  # one 4 x 64-step rollout per checkpoint


def test_checkpoint_spacing_and_return_ceiling(tmp_path) -> None:
    """``every`` saves finer checkpoints of which ``checkpoints`` are kept evenly spaced; ``ceiling`` ends the
    candidates before the first checkpoint whose mean return reaches it (same seed, same rollouts)."""
    ppo = {"n_steps": 64}  # 4 envs x 64 = 256 steps per update
    full = make_ranked_demos("Pendulum-v1", checkpoints=6, steps=1536, seed=0, hyperparams=ppo, out=tmp_path / "full")
    means = full.returns()
    assert [tr.infos["checkpoint"] for tr in full] == [256, 512, 768, 1024, 1280, 1536]
    # rolling out each checkpoint during training leaves PPO's training exactly as without the rollouts
    train_policy("Pendulum-v1", steps=1536, seed=0, hyperparams=ppo, checkpoint_every=256, out=tmp_path / "plain")
    last = [PPO.load(tmp_path / d / "checkpoint_1536.zip").policy.state_dict() for d in ("full", "plain")]
    assert all(torch.equal(last[0][k], last[1][k]) for k in last[0])
    sub = make_ranked_demos("Pendulum-v1", checkpoints=3, steps=1536, every=256, seed=0, hyperparams=ppo)
    assert [tr.infos["rank"] for tr in sub] == [0, 1, 2]
    assert [tr.infos["checkpoint"] for tr in sub] == [256, 768, 1536]
    assert np.allclose(sub.returns(), means[[0, 2, 5]])
    # the last checkpoint that beats every earlier one: a ceiling at its return keeps those before it
    first = max(j for j in range(1, 6) if means[j] > means[:j].max())
    out = tmp_path / "capped"
    args = ["demos", "collect", "--env", "Pendulum-v1", "--checkpoints", "12", "--steps", "1536", "--every", "256"]
    r = runner.invoke(app, [*args, "--ceiling", str(float(means[first])), "--out", str(out), "--set", "n_steps=64"])
    assert r.exit_code == 0, r.output
    capped = load_dataset(out, env="Pendulum-v1")
    assert [tr.infos["rank"] for tr in capped] == list(range(first))
    assert np.allclose(capped.returns(), means[:first]) and capped.returns().max() < means[first]
    assert json.loads((out / "result.json").read_text())["ceiling"] == float(means[first])
    with pytest.raises(ConfigError, match="ceiling"):
        make_ranked_demos("Pendulum-v1", checkpoints=2, steps=512, seed=0, hyperparams=ppo, ceiling=float(means[0]))
    with pytest.raises(ConfigError, match="every"):
        make_ranked_demos("Pendulum-v1", checkpoints=2, steps=512, every=0)


def test_trex_then_train_policy(demos_dir, tmp_path) -> None:
    r = runner.invoke(
        app,
        [
            "prefs",
            "trex",
            "--env",
            "Pendulum-v1",
            "--demos",
            str(demos_dir),
            "--out",
            str(tmp_path / "trex"),
            "--set",
            "steps=40",
            "--set",
            "pairs=200",
            "--set",
            "snippet=5x20",
            "--set",
            "hidden=16",
        ],
    )
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "trex" / "result.json").read_text())
    model = NeuralReward.load(tmp_path / "trex" / "reward")
    assert model.spec.hidden == (16,) and model.spec.obs_shape == (3,)
    demos = load_dataset(demos_dir, env="Pendulum-v1")
    # the recorded Kendall taus are the saved reward's against the demonstrations' true returns, and the ranks'
    predicted = predicted_returns(model, demos, TrajectoryEncoder.for_reward(gym.make("Pendulum-v1"), model))
    assert summary["kendall_tau"] == pytest.approx(kendall_tau(predicted, demos.returns()))
    assert summary["ranking_tau"] == pytest.approx(kendall_tau([0, 1, 2], demos.returns()))
    assert (summary["pairs"], summary["trajectories"]) == (200, 3)
    assert (tmp_path / "trex" / "extrapolation.png").stat().st_size > 1000
    r = runner.invoke(
        app,
        [
            "train-policy",
            "--env",
            "Pendulum-v1",
            "--reward",
            str(tmp_path / "trex" / "reward"),
            "--out",
            str(tmp_path / "ppo"),
            "--steps",
            "512",
            "--set",
            "n_steps=128",
            "--set",
            "n_envs=1",
            "--set",
            "n_epochs=2",
        ],
    )
    assert r.exit_code == 0, r.output
    trained = json.loads((tmp_path / "ppo" / "result.json").read_text())
    assert trained["steps"] == 512
    assert len(trained["checkpoints"]) == 4  # one per 128-step rollout
    assert all(Path(c).parent == tmp_path / "ppo" and Path(c).is_file() for c in trained["checkpoints"])  # not the temporary dir
    assert (tmp_path / "ppo" / "model.zip").is_file()
    # the reported true return is the saved policy's, on the evaluation seeds 10,000 + seed
    again = evaluate(PPO.load(tmp_path / "ppo" / "model.zip"), "Pendulum-v1", episodes=10, seed=10_000).returns()
    assert trained["true_return_mean"] == pytest.approx(again.mean()) and trained["true_return_std"] == pytest.approx(again.std())
    # ...set against the best demonstration the reward learned from, found through the reward's run directory
    best = float(demos.returns().max())
    assert trained["best_demo_return"] == pytest.approx(best)
    assert trained["beats_best_demo"] == (trained["true_return_mean"] > best)
    beaten = [w for w in trained["warnings"] if "best demonstration" in w]
    assert len(beaten) == (0 if trained["beats_best_demo"] else 1)
    assert ("warning:" in r.output) == (not trained["beats_best_demo"])


def test_train_policy_does_not_invent_a_best_demonstration(tmp_path) -> None:
    """A reward saved outside a `prefs` run directory: nothing says which demonstrations it came from."""
    from rewardlab.experiments.prefs import _against_best_demo

    out = _against_best_demo(tmp_path / "reward", "Pendulum-v1", -300.0, 20.0)
    assert out["best_demo_return"] is None and out["beats_best_demo"] is None and out["warnings"] == []
    assert "result.json" in out["beats_best_demo_reason"]


def _ordered_demos(out, *, rising: bool) -> np.ndarray:
    """Four short Pendulum rollouts saved with ranks in (rising) or against (not rising) their true returns."""
    ds = collect_rollouts("Pendulum-v1", lambda o: np.zeros((len(o), 1), np.float32), 4, seed=0, max_steps=20)
    returns = ds.returns()
    order = np.argsort(np.argsort(returns if rising else -returns))  # rank 3 = highest (lowest) return
    ranked = [Trajectory(tr.obs, tr.acts, tr.rews, tr.terminal, {"rank": int(r)}) for tr, r in zip(ds, order, strict=True)]
    save_dataset(ranked, out, env_id="Pendulum-v1")
    return returns


@pytest.mark.parametrize("rising", [True, False])
def test_trex_command_warns_when_true_returns_fall_with_rank(tmp_path, rising: bool) -> None:
    returns = _ordered_demos(tmp_path / "demos", rising=rising)
    assert len(set(returns.tolist())) == 4
    small = ["--set", "steps=5", "--set", "pairs=20", "--set", "snippet=5x10", "--set", "hidden=8"]
    r = runner.invoke(
        app, ["prefs", "trex", "--env", "Pendulum-v1", "--demos", str(tmp_path / "demos"), "--out", str(tmp_path / "t"), *small]
    )
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "t" / "result.json").read_text())
    assert summary["ranking_tau"] == (1.0 if rising else -1.0)
    if rising:
        assert summary["warnings"] == [] and "warning:" not in r.output
    else:
        [warning] = summary["warnings"]
        assert warning.startswith("T-REX: the recorded true returns do not rise with rank (Kendall tau -1.00")
        assert "warning: T-REX: the recorded true returns do not rise" in " ".join(r.output.split())


def test_drex_and_brex_commands(demos_dir, tmp_path) -> None:
    r = runner.invoke(
        app,
        [
            "prefs",
            "drex",
            "--env",
            "Pendulum-v1",
            "--demos",
            str(demos_dir),
            "--out",
            str(tmp_path / "drex"),
            "--set",
            "schedule=custom",
            "--set",
            "epsilons=0x1",
            "--set",
            "rollouts=2",
            "--set",
            "bc_epochs=5",
            "--set",
            "max_steps=30",
            "--set",
            "trex.steps=30",
            "--set",
            "trex.hidden=16",
            "--set",
            "trex.pairs=100",
            "--set",
            "trex.snippet=5x10",
        ],
    )
    assert r.exit_code == 0, r.output
    # D-REX's clone is saved (safetensors + JSON) and PPO can start from it
    clone = GymBCPolicy.load(tmp_path / "drex" / "bc_policy")
    r = runner.invoke(
        app,
        [
            "train-policy",
            "--env",
            "Pendulum-v1",
            "--reward",
            str(tmp_path / "drex" / "reward"),
            "--out",
            str(tmp_path / "warm"),
            "--steps",
            "128",
            "--init-policy",
            str(tmp_path / "drex" / "bc_policy"),
            "--init-log-std",
            "-2",
            "--critic-warmup",
            "128",
            "--critic-warmup-lr",
            "1e-3",
            "--set",
            "learning_rate=3e-5",
            "--set",
            "n_steps=64",
            "--set",
            "n_envs=1",
        ],
    )
    assert r.exit_code == 0, r.output
    from stable_baselines3 import PPO

    warmed = PPO.load(tmp_path / "warm" / "model.zip")
    obs = np.random.default_rng(0).uniform([-1, -1, -8], [1, 1, 8], (16, 3)).astype(np.float32)
    np.testing.assert_allclose(warmed.predict(obs, deterministic=True)[0], clone.predict(obs)[0], atol=1e-4)  # critic-only so far
    result = json.loads((tmp_path / "warm" / "result.json").read_text())
    assert (result["critic_warmup"], result["critic_warmup_lr"], result["hyperparams"]["learning_rate"]) == (128, 1e-3, 3e-5)
    r = runner.invoke(
        app,
        [
            "prefs",
            "brex",
            "--env",
            "Pendulum-v1",
            "--demos",
            str(demos_dir),
            "--out",
            str(tmp_path / "brex"),
            "--set",
            "samples=2000",
            "--set",
            "burn_in=100",
            "--set",
            "thin=10",
            "--set",
            "pretrain.steps=30",
            "--set",
            "pretrain.hidden=16",
            "--set",
            "pretrain.pairs=100",
            "--set",
            "pretrain.snippet=5x20",
            "--set",
            "pretrain.aux=inverse_dynamics",
        ],
    )
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "brex" / "result.json").read_text())
    posterior = PreferencePosterior.load(tmp_path / "brex" / "posterior")
    assert summary["acceptance"] == pytest.approx(float(posterior.acceptance.mean())) and summary["pairs"] == 3
    assert tuple(posterior.samples.shape[:2]) == (1, 200)  # 2,000 samples thinned by 10
    assert set(summary["aux_losses"]) == {"inverse_dynamics"} and summary["aux_losses"]["inverse_dynamics"] > 0
    assert (tmp_path / "brex" / "posterior" / "posterior.safetensors").is_file()


def test_trex_on_mirror_images(demos_dir, tmp_path) -> None:
    base = ["prefs", "trex", "--env", "Pendulum-v1", "--demos", str(demos_dir), "--set", "steps=20", "--set", "snippet=5x20"]
    r = runner.invoke(app, [*base, "--out", str(tmp_path / "m"), "--mirror-obs", "1,-1,-1", "--mirror-act", "-1"])
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "m" / "result.json").read_text())
    assert summary["trajectories"] == 2 * len(load_dataset(demos_dir, env="Pendulum-v1"))
    assert summary["mirror"] == {"obs": [1.0, -1.0, -1.0], "act": [-1.0]}
    for flags, field in (
        (["--mirror-obs", "1,-1"], "--mirror-obs"),
        (["--mirror-obs", "1,x,-1"], "--mirror-obs"),
        (["--mirror-act", "-1"], "--mirror-act"),
    ):
        r = runner.invoke(app, [*base, "--out", str(tmp_path / "bad"), *flags])
        assert r.exit_code == 2 and field in r.output, r.output
    assert not (tmp_path / "bad").exists()


def test_a_dataset_from_another_env_is_refused(demos_dir, tmp_path) -> None:
    r = runner.invoke(app, ["prefs", "trex", "--env", "HalfCheetah-v5", "--demos", str(demos_dir), "--out", str(tmp_path / "x")])
    assert r.exit_code == 2
    assert "the env has (17,)" in r.output and "Fix" in r.output
    r = runner.invoke(
        app, ["prefs", "trex", "--env", "Pendulum-v1", "--demos", str(demos_dir), "--out", str(tmp_path / "x"), "--set", "stepz=3"]
    )
    assert r.exit_code == 2 and "stepz" in r.output


def test_dataset_files_round_trip_and_reject_corruption(tmp_path) -> None:
    ds = collect_rollouts("Pendulum-v1", lambda o: np.zeros((len(o), 1), np.float32), 3, seed=0, max_steps=9, infos={"rank": 1})
    save_dataset(ds, tmp_path / "d", env_id="Pendulum-v1")
    back = load_dataset(tmp_path / "d", env="Pendulum-v1")
    for a, b in zip(ds, back, strict=True):
        assert np.array_equal(a.obs, b.obs) and np.array_equal(a.acts, b.acts) and np.array_equal(a.rews, b.rews)
        assert a.infos == b.infos and a.terminal == b.terminal
    (tmp_path / "d" / "trajectories.npz").write_bytes(b"not a zip")
    with pytest.raises(DataFileError, match=r"not an \.npz archive"):
        load_dataset(tmp_path / "d")
    with pytest.raises(DataFileError, match="missing"):
        load_dataset(tmp_path / "nowhere")


def test_minari_round_trip(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    ds = collect_rollouts("Pendulum-v1", lambda o: np.ones((len(o), 1), np.float32), 2, seed=1, max_steps=7)
    to_minari(
        ds,
        "rewardlab/pendulum/test-v0",
        env="Pendulum-v1",
        eval_env="Pendulum-v1",
        author="rewardlab tests",
        author_email="tests@rewardlab.invalid",
        code_permalink="https://example.invalid/rewardlab",
    )
    back = from_minari("rewardlab/pendulum/test-v0")
    assert len(back) == 2
    assert np.allclose(back[1].obs, ds[1].obs) and np.allclose(back[1].acts, ds[1].acts) and np.allclose(back[1].rews, ds[1].rews)


def test_the_drex_paper_demonstrations_load() -> None:
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "shared" / "data" / "drex-mujoco-demos" / "hopper.npz"
    if not path.is_file():
        if os.environ.get("CI"):  # CI checks ../shared out beside the clone: there the test must run, not skip
            pytest.fail(f"{path} is missing, but CI is set: CI must provide ../shared/data beside the clone")
        pytest.skip("the shared D-REX data is not beside this checkout")
    ds = load_npz_episodes(path)
    assert [len(tr) for tr in ds] == [294, 336, 298, 392]  # the stored 295/337/299/393 steps, the last without its next observation
    # the recorded returns (meta.json) less each episode's dropped last reward
    assert ds.returns()[3] < 1280.087 and ds.returns()[3] > 1270


def test_collect_rollouts_epsilon_and_rank(tmp_path) -> None:
    def zero(o):
        return np.zeros((len(o), 1), np.float32)

    ds = collect_rollouts("Pendulum-v1", zero, 4, seed=3, epsilon=1.0, max_steps=5, n_envs=2, infos={"rank": -1.0})
    acts = np.concatenate([tr.acts for tr in ds])
    assert (acts != 0).all() and (np.abs(acts) <= 2).all()  # every action replaced by a uniform draw from [-2, 2]
    assert all(not np.any(tr.acts) for tr in collect_rollouts("Pendulum-v1", zero, 4, seed=3, epsilon=0.0, max_steps=5))
    assert [tr.infos["seed"] for tr in ds] == [3, 4, 5, 6] and [tr.infos["rank"] for tr in ds] == [-1.0] * 4
    again = collect_rollouts("Pendulum-v1", zero, 4, seed=3, epsilon=1.0, max_steps=5, n_envs=2, infos={"rank": -1.0})
    assert all(np.array_equal(a.obs, b.obs) and np.array_equal(a.acts, b.acts) for a, b in zip(ds, again, strict=True))
    # the recorded true rewards are Pendulum's -(theta^2 + 0.1 thetadot^2 + 0.001 u^2) before each step
    for tr in ds:
        theta = np.arctan2(tr.obs[:-1, 1], tr.obs[:-1, 0])
        expected = -(theta**2 + 0.1 * tr.obs[:-1, 2] ** 2 + 0.001 * tr.acts[:, 0] ** 2)
        np.testing.assert_allclose(tr.rews, expected, rtol=1e-5, atol=1e-5)
