"""GAIL and AIRL through the run machinery: ``rewardlab irl gail|airl --env ENV --demos DIR`` (a real
subprocess), ``rewardlab run`` with a ``[policy]`` stage, ``rewardlab sweep``, ``train-policy`` on the saved
reward, and the config's refusals. Demonstrations: tests/data/pendulum_expert (10 expert episodes, return -163.5).
Runs are a few thousand generator steps: they check the plumbing, not the learning (tests/test_adversarial.py)."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rewardlab.errors import ConfigError
from rewardlab.experiments.config import load_run_config

DEMOS = Path(__file__).parent / "data" / "pendulum_expert"
#: 4 rounds of 2 envs x 256 steps, 2 evaluation episodes
SMALL = ["--set", "steps=2048", "--set", "hyperparams.n_steps=256", "--set", "hyperparams.n_envs=2", "--set", "eval_episodes=2"]


def cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg", PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    return subprocess.run([sys.executable, "-m", "rewardlab", *args], capture_output=True, text=True, env=env, timeout=300)


def test_irl_airl_writes_a_run_whose_reward_trains_a_policy(tmp_path: Path) -> None:
    """result.json's metrics are the generator's evaluation and its normalised score from the expert's and a random
    policy's returns; one metrics row per round; reward/ is g(s) (state-only), loaded by load_reward and trained on by
    ``rewardlab train-policy --reward``; policy/model.zip is the generator."""
    import torch
    from stable_baselines3 import PPO

    from rewardlab.rewards import NeuralReward, load_reward
    from rewardlab.rl.sb3 import preset_params

    out = tmp_path / "airl"
    proc = cli("irl", "airl", "--env", "Pendulum-v1", "--demos", str(DEMOS), "--out", str(out), *SMALL)
    assert proc.returncode == 0, proc.stderr
    assert "airl on Pendulum-v1: generator's true return" in proc.stdout
    result = json.loads((out / "result.json").read_text())
    m = result["metrics"]
    assert result["learner"] == "airl" and result["config"]["data"]["dataset"] == str(DEMOS.resolve())
    assert m["expert_return"] == pytest.approx(-163.5, abs=0.1) and m["random_return"] < -800
    assert m["normalized_score"] == pytest.approx((m["eval_return_mean"] - m["random_return"]) / (m["expert_return"] - m["random_return"]))
    assert (m["env_steps"], m["rounds"]) == (2048, 4) and m["seconds"] > 0 and math.isfinite(m["disc_loss"])
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 1, 2, 3] and [r["env_steps"] for r in rows] == [512, 1024, 1536, 2048]
    reward = load_reward(out / "reward")
    assert isinstance(reward, NeuralReward) and reward.spec.obs_shape == (3,) and reward.spec.act_dim == 0  # g(s)
    potential = load_reward(out / "potential")  # h(s), with PPO's discount (the Pendulum preset's)
    gamma = preset_params("ppo", "Pendulum-v1").get("gamma", 0.99)
    assert isinstance(potential, NeuralReward) and potential.spec.act_dim == 0 and result["discount"] == gamma
    assert not torch.equal(potential.member(0).head[0].weight, reward.member(0).head[0].weight)
    generator = PPO.load(out / "policy" / "model.zip")
    assert generator.predict([0.0, 1.0, 0.0], deterministic=True)[0].shape == (1,)
    trained = tmp_path / "transfer"
    proc = cli("train-policy", "--env", "Pendulum-v1", "--reward", str(out / "reward"), "--steps", "256", "--out", str(trained),
               "--set", "n_steps=128", "--set", "n_envs=2")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads((trained / "result.json").read_text())["steps"] == 256


def test_a_gail_run_config_with_a_policy_stage_and_a_sweep_of_gail_and_airl(tmp_path: Path) -> None:
    """``rewardlab run``: GAIL's reward (-log(1 - D), a SoftplusReward) in reward/, the generator in policy/ and a
    fresh PPO trained on the reward in transfer/policy/; a sweep of gail and airl over 2 seeds finishes every trial."""
    from rewardlab.experiments.run import run_config
    from rewardlab.experiments.sweep import run_sweep
    from rewardlab.rewards import SoftplusReward, load_reward

    learner = "steps = 1024\neval_episodes = 1\nhyperparams = {n_steps = 256, n_envs = 2}\n"
    where = 'id = "Pendulum-v1"\n'
    run_file = tmp_path / "gail.toml"
    run_file.write_text(
        f'[learner]\nname = "gail"\n{learner}[env]\n{where}[data]\ndataset = "{DEMOS}"\n'
        "[policy]\nsteps = 256\neval_episodes = 1\nhyperparams = {n_steps = 128}\n"
    )
    result = run_config(load_run_config(run_file), tmp_path / "gail", progress=False)
    assert isinstance(load_reward(tmp_path / "gail" / "reward"), SoftplusReward)
    assert (tmp_path / "gail" / "policy" / "model.zip").is_file() and (tmp_path / "gail" / "transfer" / "policy" / "model.zip").is_file()
    assert result["policy"]["steps"] == 256 and math.isfinite(result["metrics"]["true_return_mean"])
    assert result["metrics"]["rounds"] == 2
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(
        f'[base.env]\n{where}[base.data]\ndataset = "{DEMOS}"\n'
        f'[[methods]]\nname = "gail"\n{learner}[[methods]]\nname = "airl"\n{learner}[grid]\nseed = [0, 1]\n'
        '[summary]\nmetric = "normalized_score"\nhigher_is_better = true\n'
    )
    status = run_sweep(sweep, tmp_path / "sweep", workers=2, progress=False)
    assert (status["finished"], status["failed"]) == (4, 0)
    trials = json.loads((tmp_path / "sweep" / "trials.json").read_text())["trials"]
    assert sorted(t["method"] for t in trials) == ["airl", "airl", "gail", "gail"]


def test_gail_reads_its_demonstrations_from_a_minari_dataset(tmp_path: Path) -> None:
    """``--demos minari:ID``: the demonstrations exported to a local Minari dataset (to_minari) train GAIL as the
    directory does; the run records the Minari id; an id not stored locally, or an empty one, is refused naming
    --demos before any work, and nothing is written."""
    from rewardlab.data.io import load_dataset, to_minari

    store = tmp_path / "minari"
    demos = load_dataset(DEMOS, env="Pendulum-v1")
    env = dict(os.environ, MINARI_DATASETS_PATH=str(store))
    os.environ["MINARI_DATASETS_PATH"] = str(store)
    try:
        to_minari(demos, "rewardlab/pendulum/expert-v0", env="Pendulum-v1", eval_env="Pendulum-v1", author="rewardlab tests",
                  author_email="tests@rewardlab.invalid", code_permalink="https://example.invalid/rewardlab")  # fmt: skip
    finally:
        del os.environ["MINARI_DATASETS_PATH"]
    out = tmp_path / "gail"
    command = ["irl", "gail", "--env", "Pendulum-v1", "--demos", "minari:rewardlab/pendulum/expert-v0", "--out", str(out), *SMALL]
    proc = subprocess.run([sys.executable, "-m", "rewardlab", *command], capture_output=True, text=True, timeout=300,
                          env=dict(env, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src")))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["config"]["data"]["dataset"] == "minari:rewardlab/pendulum/expert-v0"
    m = result["metrics"]
    assert result["demonstrations"] == len(demos) == 10 and m["expert_return"] == pytest.approx(float(demos.returns().mean()))
    assert (m["env_steps"], m["rounds"]) == (2048, 4)
    for dataset, expected in (("minari:nowhere/none-v0", "'nowhere/none-v0' is not a Minari dataset stored here"),
                              ("minari: ", "names no dataset")):  # fmt: skip
        bad = subprocess.run([sys.executable, "-m", "rewardlab", "irl", "airl", "--env", "Pendulum-v1", "--demos", dataset,
                              "--out", str(tmp_path / "bad")], capture_output=True, text=True, timeout=120,
                             env=dict(env, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src")))  # fmt: skip
        assert (
            bad.returncode != 0 and "error: --demos:" in bad.stderr + bad.stdout and expected in " ".join((bad.stderr + bad.stdout).split())
        )
        assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize(
    ("extra", "overrides", "expected"),
    [
        ('[data]\ndataset = "d"\nmirror_obs = [1, -1, -1]\n', {}, "data.mirror_obs: is set for gail"),
        ('[data]\ndataset = "d"\n[eval]\nhacking_check = true\n', {}, "eval: has no settings for gail runs"),
        ('[data]\ndataset = "d"\n', {"learner.hyperparams.n_stepz": "64"}, "learner.hyperparams.n_stepz"),
        ('[data]\ndataset = "d"\n', {"learner.disc_lr": "-1"}, "learner.disc_lr: is -1"),
        ("", {}, "data.dataset: is missing"),
    ],
)
def test_bad_gail_configs_are_refused_before_any_work(extra: str, overrides: dict, expected: str, tmp_path: Path) -> None:
    (tmp_path / "run.toml").write_text('[learner]\nname = "gail"\n[env]\nid = "Pendulum-v1"\n' + extra)
    with pytest.raises(ConfigError, match=expected.replace("[", r"\[")):
        load_run_config(tmp_path / "run.toml", overrides)


def test_airl_on_a_tabular_world_is_refused_with_the_pairings() -> None:
    with pytest.raises(ConfigError, match="'airl' cannot run on a tabular"):
        load_run_config({"learner": {"name": "airl"}, "world": {"name": "navigation"}})


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["irl", "gail", "--demos", "x"], "error: --env: is missing. Fix: gail runs on a Gymnasium env"),
        (["irl", "airl", "--env", "Pendulum-v1"], "error: --demos: is missing"),
        (["irl", "airl", "--env", "Pendulum-v1", "--demos", "d", "--world", "navigation"], "error: --world: is given together with --env"),
        (["irl", "airl", "--env", "Pendulum-v1", "--demos", "d", "--epsilon", "0.5"], "error: --epsilon: samples demonstrations"),
        (
            ["irl", "mce", "--env", "Pendulum-v1", "--demos", "d"],
            "error: method: 'mce' is not a known learner here. Fix: choose one of airl, gail",
        ),
        (["irl", "gail", "--env", "Pendulum-v1", "--demos", str(DEMOS), "--set", "seed=3"], "error: --set: 'seed' is an option"),
    ],
)
def test_irl_on_an_env_refuses_bad_options(args: list[str], expected: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rewardlab.cli import app

    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code != 0 and expected in " ".join(result.output.split()), result.output
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- checkpoints and resume
@pytest.mark.parametrize("method", ["gail", "airl"])
def test_a_fit_restored_from_its_last_checkpoint_returns_the_same_reward_policy_and_history(method: str, tmp_path: Path) -> None:
    """The saved state is complete: a fit resumed from the checkpoint of its last round (killed before result.json)
    has no round left to run and returns bit for bit the uninterrupted fit's reward, potential, generator (its
    deterministic evaluation) and per-round metrics."""
    import numpy as np
    import torch

    from rewardlab.checkpoint import Checkpoint
    from rewardlab.data.io import load_dataset
    from rewardlab.registry import make_learner

    demos = load_dataset(DEMOS, env="Pendulum-v1")
    settings = {"steps": 1024, "hyperparams": {"n_steps": 256, "n_envs": 2}, "eval_episodes": 2, "normalize_reward": True}
    ckpt = Checkpoint(tmp_path / "ckpt", every=1)
    first = make_learner(method, **settings).fit(demos, "Pendulum-v1", rng=np.random.default_rng(3), checkpoint=ckpt)
    assert Checkpoint(tmp_path / "ckpt", every=1).latest_step == 1
    again = make_learner(method, **settings).fit(demos, "Pendulum-v1", rng=np.random.default_rng(3), checkpoint=ckpt)
    assert again.info["rounds"] == first.info["rounds"] == 2 and again.info["env_steps"] == 1024
    assert again.info["eval_return_mean"] == first.info["eval_return_mean"]
    assert again.history.to_dict() == first.history.to_dict()
    for a, b in zip(first.reward.state_dict().values(), again.reward.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    if method == "airl":
        for a, b in zip(first.info["potential"].state_dict().values(), again.info["potential"].state_dict().values(), strict=True):
            assert torch.equal(a, b)
    with pytest.raises(ConfigError, match="checkpoint"):  # another config's checkpoint is refused, not mixed in
        make_learner(method, **{**settings, "disc_updates": 2}).fit(demos, "Pendulum-v1", rng=np.random.default_rng(3), checkpoint=ckpt)


def test_a_killed_irl_run_resumes_from_its_last_checkpointed_round(tmp_path: Path) -> None:
    """A real process, killed with SIGKILL once it has checkpointed a round, then ``--resume``d: the rounds up to the
    checkpoint keep their metrics rows (equal to an uninterrupted run's), the rest run on the same env-step
    schedule, and the run ends with one row per round, none lost and none twice."""
    import signal
    import time

    from rewardlab.experiments.adversarial import run_adversarial

    args = ["--set", "steps=4096", *SMALL[2:]]  # 8 rounds
    settings = dict(a.split("=") for a in args[1::2])
    whole = run_adversarial("gail", "Pendulum-v1", DEMOS, tmp_path / "whole", settings=settings, progress=False)
    killed = tmp_path / "killed"
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg", PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    command = [sys.executable, "-m", "rewardlab", "irl", "gail", "--env", "Pendulum-v1", "--demos", str(DEMOS), "--out", str(killed), *args]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list((killed / "checkpoints").glob("step-*.pt")):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL and not (killed / "result.json").exists()
    saved = max(int(p.stem.split("-")[1]) for p in (killed / "checkpoints").glob("step-*.pt"))
    assert saved < 7
    resumed = cli("irl", "gail", "--env", "Pendulum-v1", "--demos", str(DEMOS), "--out", str(killed), *args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads((killed / "result.json").read_text())
    assert (result["metrics"]["rounds"], result["metrics"]["env_steps"]) == (8, 4096)
    rows = [json.loads(line) for line in (killed / "metrics.jsonl").read_text().splitlines()]
    reference = [json.loads(line) for line in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(8)) and [r["env_steps"] for r in rows] == [512.0 * (i + 1) for i in range(8)]
    for mine, theirs in zip(rows[: saved + 1], reference[: saved + 1], strict=True):
        assert mine["disc_loss"] == theirs["disc_loss"] and mine["policy_reward"] == theirs["policy_reward"]
    assert whole["metrics"]["rounds"] == 8


@pytest.mark.parametrize("method", ["relent", "perturb"])
def test_irl_runs_the_sample_based_learners_on_a_tabular_world(method: str, tmp_path: Path) -> None:
    """relent and perturb go through the tabular ``rewardlab irl`` path (a --world, --demos N): their reward's optimal
    policy agrees with the demonstrations on most demonstrated states."""
    from typer.testing import CliRunner

    from rewardlab.cli import app

    out = tmp_path / method
    result = CliRunner().invoke(app, ["irl", method, "--world", "navigation:layout=tiny", "--demos", "8", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "result.json").read_text())
    assert summary["learner"] == method and summary["metrics"]["agreement_on_demo_states"] >= 0.75
    assert (out / "reward").is_dir()


# ----------------------------------------------------------------------------- guided cost learning
def test_irl_gcl_writes_a_run_and_refuses_resume(tmp_path: Path) -> None:
    """``rewardlab irl gcl`` (a real subprocess) writes reward/ (a loadable (s, a) reward), policy/ and result.json
    with the generator's normalised score and GCL's last objective, one metrics row per round; ``--resume`` is
    refused, naming the option, since GCL's fit keeps no checkpoints."""
    from typer.testing import CliRunner

    from rewardlab.cli import app
    from rewardlab.rewards import NeuralReward, load_reward

    out = tmp_path / "gcl"
    proc = cli("irl", "gcl", "--env", "Pendulum-v1", "--demos", str(DEMOS), "--out", str(out), *SMALL)
    assert proc.returncode == 0, proc.stderr
    assert "gcl on Pendulum-v1: generator's true return" in proc.stdout
    result = json.loads((out / "result.json").read_text())
    m = result["metrics"]
    assert result["learner"] == "gcl" and result["demonstrations"] == 10 and result["demo_segments"] > 0
    assert m["expert_return"] == pytest.approx(-163.5, abs=0.1) and math.isfinite(m["objective"])
    assert m["normalized_score"] == pytest.approx((m["eval_return_mean"] - m["random_return"]) / (m["expert_return"] - m["random_return"]))
    assert (m["env_steps"], m["rounds"]) == (2048, 4)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["env_steps"] for r in rows] == [512, 1024, 1536, 2048]
    reward = load_reward(out / "reward")
    assert isinstance(reward, NeuralReward) and reward.spec.obs_shape == (3,) and reward.spec.act_dim == 1
    assert (out / "policy" / "model.zip").is_file() and not (out / "checkpoints").exists()
    args = ["irl", "gcl", "--env", "Pendulum-v1", "--demos", str(DEMOS), "--out", str(out), "--resume"]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code != 0 and "--resume: is given for gcl, whose fit keeps no checkpoints" in " ".join(refused.output.split())


def test_a_gcl_run_config_runs(tmp_path: Path) -> None:
    """``[learner] name = "gcl"`` on an ``[env]`` with a ``[data] dataset`` runs through ``run_config``."""
    from rewardlab.experiments.run import run_config

    (tmp_path / "run.toml").write_text(
        f'[learner]\nname = "gcl"\nsteps = 1024\neval_episodes = 1\nhyperparams = {{n_steps = 256, n_envs = 2}}\n'
        f'[env]\nid = "Pendulum-v1"\n[data]\ndataset = "{DEMOS}"\n'
    )
    result = run_config(load_run_config(tmp_path / "run.toml"), tmp_path / "out", progress=False)
    assert result["learner"] == "gcl" and (result["metrics"]["env_steps"], result["metrics"]["rounds"]) == (1024, 2)
    assert (tmp_path / "out" / "reward").is_dir() and (tmp_path / "out" / "policy" / "model.zip").is_file()


def test_a_relent_gym_run_config_runs_as_a_reward_learner_with_a_policy_stage(tmp_path: Path) -> None:
    """``relent-gym`` trains no policy: its run saves reward/, scores its predicted returns against the true ones
    (Kendall's tau in [-1, 1]) and trains the ``[policy]`` stage on its reward into policy/."""
    from rewardlab.experiments.run import run_config

    (tmp_path / "run.toml").write_text(
        f'[learner]\nname = "relent-gym"\nepisodes = 5\niterations = 20\n[env]\nid = "Pendulum-v1"\n[data]\ndataset = "{DEMOS}"\n'
        "[policy]\nsteps = 512\nhyperparams = {n_steps = 256, n_envs = 2}\n"
    )
    result = run_config(load_run_config(tmp_path / "run.toml"), tmp_path / "out", progress=False)
    m = result["metrics"]
    assert result["learner"] == "relent-gym" and -1 <= m["kendall_tau"] <= 1 and math.isfinite(m["true_return_mean"])
    assert (tmp_path / "out" / "reward").is_dir() and (tmp_path / "out" / "policy").is_dir()
