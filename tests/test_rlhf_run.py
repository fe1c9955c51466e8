"""RLHF through the run machinery (issue 19's command line): ``rewardlab rlhf`` on real Pendulum with real
SB3 at toy scale writes a run directory (result.json, the labelled dataset, one metrics row per labelling
round, the reward, the policy, the curves); its config.toml reproduces it under ``rewardlab run``;
``--resume`` of a finished run does no work; mistakes fail before any work; run configs and sweeps of
rlhf are checked like any other."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import CrashAfterSave, crash_after_save
from rewardlab.cli import app
from rewardlab.data.preferences import load_preferences
from rewardlab.errors import ConfigError
from rewardlab.experiments.config import load_run_config, read_toml, run_config_table, toml_text

runner = CliRunner()

#: a loop of a few seconds: 2048 PPO steps in rounds of 2 x 256 (longer than an episode), 20 labels of 20-step segments
TINY = [
    "--env", "Pendulum-v1", "--teacher", "oracle", "--labels", "20", "--steps", "2048", "--segment", "20",
    "--query", "disagreement",
    "--set", "feedback_every=512", "--set", "hyperparams.n_steps=128", "--set", "hyperparams.n_envs=2", "--set", "eval_episodes=2",
    "--set", "reward.members=2", "--set", "reward.hidden=16", "--set", "reward.steps_per_round=50",
]  # fmt: skip

RESULT_METRICS = {
    "eval_return_mean",
    "eval_return_std",
    "labels",
    "env_steps",
    "label_accuracy",
    "label_accuracy_mean",
    "val_accuracy",
    "seconds",
}


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rlhf") / "run"
    result = runner.invoke(app, ["rlhf", *TINY, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in " ".join(result.output.split()) and "20 labels" in result.output
    return out


def test_the_rlhf_command_writes_the_run_directory(run_dir: Path) -> None:
    from stable_baselines3 import PPO

    from rewardlab.rewards import NeuralReward, load_reward

    result = json.loads((run_dir / "result.json").read_text())
    metrics = result["metrics"]
    assert set(metrics) >= RESULT_METRICS and result["learner"] == "rlhf"
    assert (result["teacher"], result["query"], result["algo"], result["env"]) == ("oracle", "disagreement", "ppo", "Pendulum-v1")
    assert metrics["labels"] == 20 and metrics["env_steps"] >= 2048
    assert metrics["eval_return_mean"] < 0 and metrics["eval_return_std"] >= 0  # Pendulum's true return
    assert 0 <= metrics["label_accuracy"] <= 1 and 0 <= metrics["val_accuracy"] <= 1
    # the labelled dataset: every pair asked, the oracle answers them all, true rewards kept
    prefs = load_preferences(run_dir / "preferences", expect_env="Pendulum-v1")
    assert len(prefs) == 20 and len(prefs.answered()) == 20 and result["skipped"] == 0
    assert prefs.length == 20 and all(p.a.rews is not None and p.b.rews is not None for p in prefs)
    labels = prefs.labels()  # the oracle prefers the segment of higher true return
    better = np.array([p.a.ret >= p.b.ret for p in prefs])
    assert np.array_equal(labels == 1.0, better)
    # one metrics row per labelling round, the same rows as result.json's curve
    lines = rows(run_dir / "metrics.jsonl")
    assert [row["step"] for row in lines] == list(range(len(lines))) and len(lines) == len(result["curve"]) >= 2
    asked = [row["labels"] for row in lines]
    assert asked == sorted(asked) and asked[-1] == 20 and lines[-1]["env_steps"] <= metrics["env_steps"]
    assert all({"env_steps", "labels", "label_accuracy", "true_return", "seconds"} <= set(row) for row in lines)
    trained = [row for row in lines if row.get("new_labels")]  # rounds that asked labels report the reward's accuracies
    assert sum(row["new_labels"] for row in trained) == 20 and all({"train_accuracy", "val_accuracy"} <= set(row) for row in trained)
    assert lines[0]["label_accuracy"] is None  # round 0: no reward yet to judge the new labels
    judged = [(row["label_accuracy"], row["new_labels"]) for row in trained if row["label_accuracy"] is not None]
    assert metrics["label_accuracy"] == judged[-1][0]  # the last round's
    assert metrics["label_accuracy_mean"] == pytest.approx(sum(a * n for a, n in judged) / sum(n for _, n in judged))
    # the artefacts load
    reward = load_reward(run_dir / "reward")
    assert isinstance(reward, NeuralReward)
    model = PPO.load(run_dir / "policy" / "model.zip")
    assert model.observation_space.shape == (3,)
    assert (run_dir / "curves.png").stat().st_size > 10_000 and (run_dir / "config.toml").is_file()


def test_rewardlab_run_of_the_saved_config_reproduces_the_run(run_dir: Path, tmp_path: Path) -> None:
    saved = read_toml(run_dir / "config.toml")
    assert saved["learner"]["name"] == "rlhf" and "data" not in saved and saved["checkpoint_every"] == 1
    assert saved["learner"]["reward"]["members"] == 2 and saved["learner"]["hyperparams"] == {"n_steps": 128, "n_envs": 2}
    again = runner.invoke(app, ["run", str(run_dir / "config.toml"), "--out", str(tmp_path / "again"), "--set", "figures=false"])
    assert again.exit_code == 0, again.output
    assert not (tmp_path / "again" / "curves.png").exists() and (tmp_path / "again" / "preferences").is_dir()
    first, second = (json.loads((d / "result.json").read_text()) for d in (run_dir, tmp_path / "again"))
    assert second["metrics"]["labels"] == first["metrics"]["labels"] == 20
    a, b = (load_preferences(d / "preferences") for d in (run_dir, tmp_path / "again"))
    assert np.array_equal(a.labels(), b.labels())  # same seed, same queries and answers


def test_resume_of_a_finished_run_does_no_work(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rewardlab.prefs.rlhf import RLHF

    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a finished run was fitted again")

    monkeypatch.setattr(RLHF, "fit", never)
    before = (run_dir / "result.json").read_bytes()
    resumed = runner.invoke(app, ["rlhf", *TINY, "--out", str(run_dir), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert (run_dir / "result.json").read_bytes() == before and "20 labels" in resumed.output
    # another budget is another run: refused, naming the key that differs
    other = runner.invoke(app, ["rlhf", *TINY, "--labels", "30", "--out", str(run_dir), "--resume"])
    assert other.exit_code == 2 and "learner.labels" in " ".join(other.output.split())


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--set", "reward.membrs=2"], "reward.membrs: is not a setting"),
        (["--set", "feedback_evry=64"], "did you mean 'feedback_every'"),
        (["--set", "hyperparams.n_stepz=64"], "hyperparams.n_stepz"),
        (["--set", "labels=5"], "give it as --labels"),
        (["--set", "figures=maybe"], "figures"),
        (["--set", "policy_reward=both"], "policy_reward"),
        (["--teacher", "oracel"], "--teacher: is 'oracel'"),
        (["--query", "disagrement"], "--query"),
    ],
)
def test_mistakes_fail_before_any_work_naming_the_option(extra: list[str], named: str, tmp_path: Path) -> None:
    out = tmp_path / "never"
    result = runner.invoke(app, ["rlhf", *TINY, *extra, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert named in " ".join(result.output.split()) and not out.exists()


# ----------------------------------------------------------------------------- run configs and sweeps
RLHF_TOML = """
seed = 3
[learner]
name = "rlhf"
labels = 40
teacher = "mistake"
hyperparams = {n_steps = 256}
[learner.reward]
members = 2
hidden = [16]
[env]
id = "Pendulum-v1"
"""


def test_an_rlhf_run_config_needs_no_data_and_round_trips(tmp_path: Path) -> None:
    (tmp_path / "run.toml").write_text(RLHF_TOML)
    cfg = load_run_config(tmp_path / "run.toml", {"learner.reward.lr": "0.001", "learner.hyperparams.gamma": "0.95"})
    config = cfg.learner.config
    assert cfg.kind == "gym" and cfg.data is None and cfg.policy is None and cfg.env is not None and cfg.env.id == "Pendulum-v1"
    assert (config.labels, config.teacher, config.reward.members, config.reward.hidden, config.reward.lr) == (
        40,
        "mistake",
        2,
        (16,),
        0.001,
    )
    assert config.hyperparams == {"n_steps": 256, "gamma": 0.95}  # command-line text read by SB3's declared types
    table = run_config_table(cfg)
    assert "data" not in table and load_run_config(read_toml_text(tmp_path, toml_text(table))) == cfg


def read_toml_text(directory: Path, text: str) -> dict[str, Any]:
    (directory / "resolved.toml").write_text(text)
    return read_toml(directory / "resolved.toml")


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ('[data]\ndataset = "demos"\n', "data"),
        ("[policy]\nsteps = 100\n", "policy"),
        ("[eval]\nhacking_check = true\n", "eval"),
    ],
)
def test_sections_the_loop_owns_are_refused(extra: str, key: str, tmp_path: Path) -> None:
    (tmp_path / "run.toml").write_text(RLHF_TOML + extra)
    with pytest.raises(ConfigError, match=rf"^{key}: is given for rlhf.*learner\."):
        load_run_config(tmp_path / "run.toml")


def test_a_sweep_over_teachers_queries_and_seeds_plans_checked_rlhf_trials(tmp_path: Path) -> None:
    from rewardlab.experiments.sweep import load_sweep, plan_trials

    (tmp_path / "run.toml").write_text(RLHF_TOML)
    (tmp_path / "sweep.toml").write_text(
        'base = "run.toml"\n[grid]\n"learner.teacher" = ["oracle", "noisy", "skip"]\n'
        '"learner.query" = ["uniform", "disagreement"]\nseed = [0, 1]\n[summary]\nmetric = "eval_return_mean"\nhigher_is_better = true\n'
    )
    trials = plan_trials(load_sweep(tmp_path / "sweep.toml"))
    assert len(trials) == 12 and {t.learner for t in trials} == {"rlhf"}
    seen = {(t.config["learner"]["teacher"], t.config["learner"]["query"], t.seed) for t in trials}
    assert seen == {(a, b, s) for a in ("oracle", "noisy", "skip") for b in ("uniform", "disagreement") for s in (0, 1)}
    assert all(t.config["learner"]["labels"] == 40 and "data" not in t.config for t in trials)
    (tmp_path / "bad.toml").write_text('base = "run.toml"\n[grid]\n"learner.teacher" = ["oracle", "oracel"]\n')
    with pytest.raises(ConfigError, match="oracel"):
        plan_trials(load_sweep(tmp_path / "bad.toml"))


def test_a_run_that_dies_just_after_a_checkpoint_keeps_that_rounds_metrics_row(tmp_path: Path) -> None:
    """The window a SIGKILL hits only sometimes, made certain: the process dies right after writing round
    1's checkpoint. Round 1's metrics row was written before it, so the resumed run has one row per round,
    rows 0-1 as they were (the other order lost row 1 for good and resumed at round 2)."""
    whole = runner.invoke(app, ["rlhf", *TINY, "--out", str(tmp_path / "whole")])
    assert whole.exit_code == 0, whole.output
    with crash_after_save(1):
        died = runner.invoke(app, ["rlhf", *TINY, "--out", str(tmp_path / "died")])
    assert isinstance(died.exception, CrashAfterSave)
    assert [row["step"] for row in rows(tmp_path / "died" / "metrics.jsonl")] == [0, 1]
    resumed = runner.invoke(app, ["rlhf", *TINY, "--out", str(tmp_path / "died"), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    lines, uninterrupted = rows(tmp_path / "died" / "metrics.jsonl"), rows(tmp_path / "whole" / "metrics.jsonl")
    assert [row["step"] for row in lines] == list(range(len(uninterrupted))) and len(lines) > 2
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in lines[:2]] == [
        {k: v for k, v in r.items() if k != "seconds"} for r in uninterrupted[:2]
    ]


# ----------------------------------------------------------------------------- kill and resume
def test_a_killed_rlhf_run_resumes_from_its_last_checkpointed_round(tmp_path: Path) -> None:
    """A real process, killed with SIGKILL once it has checkpointed a round, then ``--resume``d: the rounds
    before the checkpoint are kept as they were (their metrics rows and labels equal an uninterrupted
    run's), the rest run again with fresh episodes on the same env-step schedule, and the run ends with
    the whole label budget and one row per round, none lost and none twice."""
    import os
    import signal
    import subprocess
    import sys
    import time

    longer = [*TINY, "--steps", "4096"]  # 7 rounds, labels asked in the first 3: a kill at the first checkpoint leaves labels to ask
    whole = runner.invoke(app, ["rlhf", *longer, "--out", str(tmp_path / "whole")])
    assert whole.exit_code == 0, whole.output
    killed = tmp_path / "killed"
    src = Path(__file__).resolve().parents[1] / "src"
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg", PYTHONPATH=str(src))
    command = [sys.executable, "-m", "rewardlab.cli", "rlhf", *longer, "--out", str(killed)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list((killed / "checkpoints").glob("step-*.pt")):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL and not (killed / "result.json").exists()
    checkpointed = max(int(p.stem.split("-")[1]) for p in (killed / "checkpoints").glob("step-*.pt"))
    uninterrupted = rows(tmp_path / "whole" / "metrics.jsonl")
    assert checkpointed < 2 and len(uninterrupted) > 4, "killed too late to leave labels to ask"
    resumed = runner.invoke(app, ["rlhf", *longer, "--out", str(killed), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    lines = rows(killed / "metrics.jsonl")
    assert [row["step"] for row in lines] == list(range(len(uninterrupted)))  # none lost, none twice
    assert [row["env_steps"] for row in lines] == [row["env_steps"] for row in uninterrupted]  # the same schedule

    def timeless(row: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in row.items() if k != "seconds"}

    assert [timeless(r) for r in lines[: checkpointed + 1]] == [timeless(r) for r in uninterrupted[: checkpointed + 1]]
    result = json.loads((killed / "result.json").read_text())
    assert result["metrics"]["labels"] == 20 and result["metrics"]["env_steps"] == lines[-1]["env_steps"]
    prefs, first = load_preferences(killed / "preferences"), load_preferences(tmp_path / "whole" / "preferences")
    kept = int(uninterrupted[checkpointed]["labels"])
    assert len(prefs) == 20 and np.array_equal(prefs.labels()[:kept], first.labels()[:kept])
    assert all(np.array_equal(p.a.obs, q.a.obs) for p, q in zip(prefs[:kept], first[:kept], strict=True))


def test_a_resumed_loop_keeps_its_budget_when_its_rounds_are_shorter_than_an_episode(tmp_path: Path) -> None:
    """Rounds of 64 steps per env (Pendulum's episodes last 200): a resumed round finishes no episode of
    its own, so it cuts its segments from the episodes the checkpoint kept, and asks what the schedule
    says, as the uninterrupted loop does (without the saved pool it asked 2 labels of 8)."""
    from rewardlab.checkpoint import Checkpoint
    from rewardlab.prefs.reward_trainer import RewardTrainerConfig
    from rewardlab.prefs.rlhf import RLHF, RLHFConfig

    cfg = RLHFConfig(
        steps=512,
        labels=8,
        segment=10,
        feedback_every=128,
        eval_episodes=1,
        hyperparams={"n_steps": 64, "n_envs": 2},
        reward=RewardTrainerConfig(members=2, hidden=(16,), batch_size=8, steps_per_round=10),
    )
    whole = RLHF(cfg).fit("Pendulum-v1", rng=np.random.default_rng(1))

    with pytest.raises(CrashAfterSave), crash_after_save(0):  # killed just after round 0's checkpoint
        RLHF(cfg).fit("Pendulum-v1", rng=np.random.default_rng(1), checkpoint=Checkpoint(tmp_path, 1))
    rounds: list[tuple[int, float]] = []
    resumed = RLHF(cfg).fit(
        "Pendulum-v1",
        rng=np.random.default_rng(1),
        callback=lambda r, m: rounds.append((r, m["labels"])) and False,
        checkpoint=Checkpoint(tmp_path, 1),
    )
    assert rounds[0][0] == 1 and resumed.info["labels"] == whole.info["labels"] == 8
    assert [r for r, _ in rounds] == whole.history.steps[1:]
