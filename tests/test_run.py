"""``rewardlab run`` (issue 18): typed run configs (round trips, errors before any work), run directories
(config.toml, metrics.jsonl, checkpoints, result.json), reproduction from the saved config, ``--resume``
after a real SIGKILL, and the gym ranking path from a tiny dataset."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from rewardlab.cli import app
from rewardlab.errors import ConfigError
from rewardlab.experiments.config import (
    GYM_LEARNERS,
    TABULAR_LEARNERS,
    GymLearnerStages,
    LearnerStages,
    RankingData,
    load_run_config,
    read_toml,
    run_config_table,
    toml_text,
)
from rewardlab.experiments.run import run_config
from rewardlab.registry import LEARNERS

runner = CliRunner()
SRC = Path(__file__).resolve().parents[1] / "src"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def error_line(result: Any) -> str:
    return " ".join(result.output.split())


# ----------------------------------------------------------------------------- configs
@pytest.mark.parametrize("name", TABULAR_LEARNERS + GYM_LEARNERS)
def test_every_learner_config_round_trips_through_toml(name: str, tmp_path: Path) -> None:
    if name == "deep-lfl":
        table: dict[str, Any] = {
            "learner": {"name": name, "hidden": [8]},
            "env": {"id": "Pendulum-v1"},
            "data": {"kind": "stages", "stages": 3, "steps": 400, "hyperparams": {"n_steps": 64, "n_envs": 2}},
        }
    elif name == "rlhf":  # no [data]: its teacher labels its own rollouts
        table = {
            "learner": {"name": name, "teacher": "noisy", "reward": {"members": 2}, "hyperparams": {"n_steps": 64}},
            "env": {"id": "Pendulum-v1"},
        }
    elif name in GYM_LEARNERS:
        table = {"learner": {"name": name}, "env": {"id": "Pendulum-v1"}, "data": {"dataset": "demos"}}
        if name == "drex":
            table["learner"]["trex"] = {"steps": 7}
            table["policy"] = {"steps": 64, "init_from_clone": True, "hyperparams": {"n_steps": 32}}
        elif name in ("gail", "airl", "gcl"):
            table["learner"]["hyperparams"] = {"n_steps": 64}
            table["policy"] = {"steps": 64}
        else:
            table["data"]["mirror_obs"] = [1, -1, -1]
    else:
        table = {"seed": 2, "learner": {"name": name, "label": f"my {name}"}, "world": {"name": "objectworld", "size": 8}}
    config_file = write(tmp_path / "run.toml", toml_text(table))
    cfg = load_run_config(config_file)
    resolved = run_config_table(cfg)
    again = load_run_config(read_toml(write(tmp_path / "resolved.toml", toml_text(resolved))))
    assert again == cfg and run_config_table(again) == resolved
    assert resolved["learner"]["name"] == name and set(LEARNERS[name].fixed).isdisjoint(resolved["learner"])
    if name == "deep-lfl":
        assert isinstance(cfg.data, GymLearnerStages) and cfg.data.hyperparams == {"n_steps": 64, "n_envs": 2}
        assert resolved["data"] == {"kind": "stages", "stages": 3, "steps": 400, "episodes": 8, "hyperparams": {"n_steps": 64, "n_envs": 2}}
    elif name == "rlhf":
        assert cfg.data is None and "data" not in resolved and resolved["learner"]["reward"]["members"] == 2
        assert cfg.learner.config.teacher == "noisy" and cfg.learner.config.hyperparams == {"n_steps": 64}
    elif name in GYM_LEARNERS:
        assert isinstance(cfg.data, RankingData) and cfg.data.dataset == str(tmp_path / "demos")  # relative to the file
    else:
        assert cfg.world is not None and cfg.world.options["seed"] == 2  # the world's seed defaults to the run's
        assert resolved["learner"]["label"] == f"my {name}"
        assert isinstance(cfg.data, LearnerStages) == (name == "lfl")  # a learner's stages: lfl's default data
    if name == "drex":
        assert cfg.learner.config.trex.steps == 7 and cfg.policy is not None and cfg.policy.hyperparams == {"n_steps": 32}


def test_overrides_set_nested_keys_by_their_declared_types(tmp_path: Path) -> None:
    base = {"learner": {"name": "drex", "trex": {"steps": 7, "lr": 0.5}}, "env": {"id": "Pendulum-v1"}, "data": {"dataset": "d"}}
    cfg = load_run_config(base, {"learner.trex.steps": "500", "learner.bc_hidden": "16,16", "seed": "4", "data.mirror_obs": "none"})
    assert (cfg.learner.config.trex.steps, cfg.learner.config.trex.lr, cfg.learner.config.bc_hidden, cfg.seed) == (500, 0.5, (16, 16), 4)
    tabular = {"learner": {"name": "mce"}, "world": {"name": "navigation"}}
    cfg = load_run_config(tabular, {"world.size": "4x5", "world.seed": "9", "data.length": "none"})
    assert cfg.world is not None and cfg.world.options["size"] == (4, 5) and cfg.world.options["seed"] == 9


TREX_GYM = '[learner]\nname = "trex"\n[env]\nid = "Pendulum-v1"\n'


@pytest.mark.parametrize(
    ("text", "overrides", "expected"),
    [
        # a typo'd key, at every level: named with its dotted key, a did-you-mean and the valid keys
        (
            '[learner]\nname = "maxent"\niteratons = 5\n[world]\nname = "navigation"\n',
            {},
            ["learner.iteratons", "did you mean 'iterations'"],
        ),
        ('sed = 1\n[learner]\nname = "maxent"\n[world]\nname = "navigation"\n', {}, ["sed", "did you mean 'seed'"]),
        ('[learner]\nname = "maxnet"\n[world]\nname = "navigation"\n', {}, ["learner.name", "did you mean 'maxent'"]),
        ('[learner]\nname = "maxent"\n[world]\nname = "objectwrld"\n', {}, ["world.name", "did you mean 'objectworld'"]),
        ('[learner]\nname = "maxent"\n[world]\nname = "objectworld"\nsise = 8\n', {}, ["world.sise", "did you mean 'size'"]),
        ('[learner]\nname = "maxent"\n[world]\nname = "navigation"\n[data]\ndemo = 3\n', {}, ["data.demo", "did you mean 'demos'"]),
        (
            '[learner]\nname = "drex"\n[env]\nid = "Pendulum-v1"\n[data]\ndataset = "d"\n',
            {"learner.trex.step": "5"},
            ["learner.trex.step", "'steps'"],
        ),
        # a wrong type: named with the expected type
        ('[learner]\nname = "maxent"\niterations = "many"\n[world]\nname = "navigation"\n', {}, ["learner.iterations", "not an integer"]),
        ('seed = 1.5\n[learner]\nname = "maxent"\n[world]\nname = "navigation"\n', {}, ["seed", "not an integer"]),
        ('[learner]\nname = "maxent"\n[world]\nname = "navigation"\n', {"data.epsilon": "lots"}, ["data.epsilon", "not a finite number"]),
        ('[learner]\nname = "trex"\n[env]\nid = "Pendulum-v1"\n[data]\ndataset = "d"\n', {"learner.hidden": "abc"}, ["learner.hidden"]),
        # a missing required field
        ('[world]\nname = "navigation"\n', {}, ["learner", "missing"]),
        ('[learner]\nlabel = "x"\n[world]\nname = "navigation"\n', {}, ["learner.name", "missing"]),
        ('[learner]\nname = "trex"\n[env]\nid = "Pendulum-v1"\n', {}, ["data.dataset", "missing"]),
        (
            '[learner]\nname = "trex"\n[env]\nid = "Pendulum-v1"\n[data]\ndataset = "d"\n[policy]\nalgo = "ppo"\n',
            {},
            ["policy.steps", "missing"],
        ),
        ('[learner]\nname = "maxent"\n', {}, ["world", "[env]"]),
        # values out of range and pairings that are not supported, named with what is
        ('[learner]\nname = "maxent"\n[world]\nname = "navigation"\n[data]\ndemos = 0\n', {}, ["data.demos", "at least one"]),
        ('[learner]\nname = "lfl"\n[env]\nid = "Pendulum-v1"\n', {}, ["learner.name", "supported pairings", "deep-lfl"]),
        ('[learner]\nname = "deep-lfl"\n[world]\nname = "objectworld"\n', {}, ["learner.name", "supported pairings", "lfl"]),
        # learning from a learner: [data] is the learner's stages
        ('[learner]\nname = "maxent"\n[world]\nname = "objectworld"\n[data]\nkind = "stages"\n', {}, ["data.kind", "lfl"]),
        ('[learner]\nname = "lfl"\n[world]\nname = "objectworld"\n[data]\ndemos = 4\n', {}, ["data.demos", "stages"]),
        ('[learner]\nname = "lfl"\n[world]\nname = "objectworld"\n', {"data.stages": "1"}, ["data.stages", "at least two"]),
        ('[learner]\nname = "lfl"\n[world]\nname = "objectworld"\n', {"data.kind": "demos"}, ["data.kind", "'stages'"]),
        (
            '[learner]\nname = "deep-lfl"\n[env]\nid = "Pendulum-v1"\n[data]\nsteps = 5000\n',
            {},
            ["data.steps", "rollout of 4096 steps", "16384"],  # the preset's n_steps 1024 x n_envs 4
        ),
        (
            '[learner]\nname = "deep-lfl"\n[env]\nid = "Pendulum-v1"\n',
            {"data.hyperparams.n_step": "64"},
            ["data.hyperparams.n_step", "n_steps"],
        ),
        ('[learner]\nname = "trex"\n[world]\nname = "featuregrid"\n', {}, ["data.kind", "is 'expert'", "kind = 'ranked'"]),
        (
            '[learner]\nname = "brex"\n[world]\nname = "featuregrid"\n[data]\nkind = "ranked"\nepsilon = 0.3\n',
            {},
            ["data.epsilon", "ranked"],
        ),
        ('[learner]\nname = "drex"\n[world]\nname = "featuregrid"\n', {}, ["learner.name", "with [data] kind = 'ranked'"]),
        ('[learner]\nname = "maxent"\n[env]\nid = "Pendulum-v1"\n', {}, ["learner.name", "supported pairings"]),
        ('[learner]\nname = "trex"\n[env]\nid = "Pendulm-v1"\n[data]\ndataset = "d"\n', {}, ["env.id", "Pendulum-v1"]),
        ('[learner]\nname = "mwal"\n[world]\nname = "objectworld"\n[eval]\ntransfer_worlds = 2\n', {}, ["eval.transfer_worlds", "mwal"]),
        # gym ranking runs: demonstrations collected in the run, the constant-reward control, [eval]
        (TREX_GYM + '[data]\ndataset = "d"\n[data.collect]\nsteps = 100\n', {}, ["data.collect", "together with dataset"]),
        (TREX_GYM + "[data.collect]\nchekpoints = 3\n", {}, ["data.collect.chekpoints", "did you mean 'checkpoints'"]),
        (TREX_GYM + "[data.collect]\nsteps = 100\nevery = 200\n", {}, ["data.collect.every", "1..steps (100)"]),
        (TREX_GYM + "[data.collect]\nepisodes = 0\n", {}, ["data.collect.episodes", "at least once"]),
        (TREX_GYM + '[data]\ncollect = "yes"\n', {}, ["data.collect", "not a table"]),
        (TREX_GYM + "[data.collect]\n", {"data.collect.hyperparams.n_step": "64"}, ["data.collect.hyperparams.n_step", "n_steps"]),
        (TREX_GYM + '[data]\ndataset = "d"\n[policy]\nsteps = 64\nreward = "zero"\n', {}, ["policy.reward", "constant"]),
        (TREX_GYM + '[data]\ndataset = "d"\n[eval]\nhacking_check = true\n', {}, ["eval.hacking_check", "[policy]"]),
        (TREX_GYM + '[data]\ndataset = "d"\n[eval]\nhacking_chek = true\n', {}, ["eval.hacking_chek", "did you mean 'hacking_check'"]),
        (TREX_GYM + '[data]\ndataset = "d"\n[eval]\nhacking_alpha = 1.5\n', {}, ["eval.hacking_alpha", "(0, 1)"]),
        (TREX_GYM + '[data]\ndataset = "d"\n[eval]\nbc_episodes = 5\n', {}, ["eval.bc_episodes", "drex"]),
        ('[learner]\nname = "maxent"\n[world]\nname = "objectworld"\n[eval]\nhacking_check = true\n', {}, ["eval.hacking_check"]),
        ('[learner]\nname = "deep-lfl"\n[env]\nid = "Pendulum-v1"\n[eval]\nhacking_check = true\n', {}, ["eval", "deep-lfl"]),
    ],
)
def test_config_mistakes_fail_before_any_work_naming_the_key(
    tmp_path: Path, text: str, overrides: dict[str, str], expected: list[str]
) -> None:
    config_file = write(tmp_path / "run.toml", text)
    with pytest.raises(ConfigError) as info:
        load_run_config(config_file, overrides)
    for part in expected:
        assert part in str(info.value), str(info.value)
    out = tmp_path / "out"
    sets = [x for key, value in overrides.items() for x in ("--set", f"{key}={value}")]
    result = runner.invoke(app, ["run", str(config_file), "--out", str(out), *sets])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert error_line(result).startswith("error: ") and expected[0] in error_line(result)
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["run.toml"]  # nothing written


# ----------------------------------------------------------------------------- runs
MAXENT = """
seed = 3
[learner]
name = "maxent"
iterations = 40
[world]
name = "objectworld"
size = 6
[data]
demos = 8
length = 6
[eval]
transfer_worlds = 2
"""


def test_a_saved_config_reproduces_the_run_and_transfer_evd_is_the_weights_on_new_worlds(tmp_path: Path) -> None:
    from rewardlab.eval import expected_value_difference
    from rewardlab.mdp.worlds import objectworld
    from rewardlab.rewards import TabularReward

    first = runner.invoke(app, ["run", str(write(tmp_path / "run.toml", MAXENT)), "--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "checkpoints",
        "config.toml",
        "figures.png",
        "metrics.jsonl",
        "result.json",
        "reward",
    ]
    again = runner.invoke(app, ["run", str(tmp_path / "a" / "config.toml"), "--out", str(tmp_path / "b")])
    assert again.exit_code == 0, again.output
    a, b = (json.loads((tmp_path / d / "result.json").read_text()) for d in "ab")
    assert a["metrics"] == b["metrics"] and a["config"] == b["config"] and a["history"] == b["history"]
    assert (a["learner"], a["label"], a["seed"]) == ("maxent", "maxent", 3)
    assert [w[:49] for w in a["warnings"]] == ["MaxEnt: L-BFGS did not converge in 40 evaluations"]  # a budget of 40 says so
    assert a["config"] == read_toml(tmp_path / "a" / "config.toml")
    lines = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in lines] == a["history"]["step"] and all("objective" in row for row in lines)
    # transfer: the learned weights on the objectworlds of world seeds 3 + 1000 + i
    weights = TabularReward.load(tmp_path / "a" / "reward").weights
    evds = []
    for seed in (1003, 1004):
        test = objectworld(6, seed=seed)
        evds.append(expected_value_difference(test.mdp, test.reward, test.mdp.features @ weights))
    assert a["metrics"]["evd_transfer"] == pytest.approx(np.mean(evds), rel=1e-12)
    assert [t["world_seed"] for t in a["transfer"]] == [1003, 1004]


def test_rewardlab_irl_and_rewardlab_run_are_one_code_path(tmp_path: Path) -> None:
    from rewardlab.experiments.irl import run_irl

    irl = run_irl("mce", "navigation:layout=tiny", 6, tmp_path / "irl", seed=2, hyperparameters={"iterations": "30"})
    table = {"seed": 2, "learner": {"name": "mce", "iterations": 30}, "world": {"name": "navigation", "layout": "tiny", "seed": 0}}
    run = run_config(load_run_config(table, {"data.demos": "6"}), tmp_path / "run", progress=False)
    assert irl["metrics"] == run["metrics"] and irl["history"] == run["history"]
    assert json.loads((tmp_path / "irl" / "result.json").read_text())["config"] == run["config"]


def test_out_is_refused_unless_resume_or_overwrite_and_resume_checks_the_config(tmp_path: Path, monkeypatch) -> None:
    import rewardlab.experiments.run as run_module

    config_file = write(tmp_path / "run.toml", MAXENT.replace("transfer_worlds = 2", "transfer_worlds = 0"))
    out = tmp_path / "out"
    assert runner.invoke(app, ["run", str(config_file), "--out", str(out)]).exit_code == 0
    finished = (out / "result.json").read_bytes()
    refused = runner.invoke(app, ["run", str(config_file), "--out", str(out)])
    assert refused.exit_code == 2 and "--overwrite" in error_line(refused) and "--out" in error_line(refused)
    other = runner.invoke(app, ["run", str(config_file), "--out", str(out), "--resume", "--set", "learner.lr=0.5", "--set", "data.demos=9"])
    assert other.exit_code == 2 and "differs from this config at data.demos, learner.lr" in error_line(other)

    def no_work(cfg: Any) -> Any:
        raise AssertionError("a finished run was run again")

    monkeypatch.setattr(run_module, "prepare", no_work)
    done = runner.invoke(app, ["run", str(config_file), "--out", str(out), "--resume", "--tensorboard"])  # runtime keys may differ
    assert done.exit_code == 0, done.output
    assert (out / "result.json").read_bytes() == finished
    both = runner.invoke(app, ["run", str(config_file), "--out", str(out), "--resume", "--overwrite"])
    assert both.exit_code == 2 and "--resume" in error_line(both)
    monkeypatch.undo()
    replaced = runner.invoke(app, ["run", str(config_file), "--out", str(out), "--overwrite", "--set", "seed=4"])
    assert replaced.exit_code == 0, replaced.output
    assert json.loads((out / "result.json").read_text())["seed"] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "run.toml"]  # no hidden siblings left


def test_tensorboard_logs_the_metrics(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    config_file = write(tmp_path / "run.toml", MAXENT.replace("transfer_worlds = 2", "transfer_worlds = 0"))
    result = runner.invoke(app, ["run", str(config_file), "--out", str(tmp_path / "out"), "--tensorboard"])
    assert result.exit_code == 0, result.output
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "out" / "tensorboard"))
    events.Reload()
    logged = [e.value for e in events.Scalars("objective")]
    lines = [json.loads(line)["objective"] for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    assert logged == pytest.approx(lines, rel=1e-6)


DEEP = """
seed = 1
checkpoint_every = 10
[learner]
name = "deep-maxent"
iterations = 240
hidden = [16, 16]
[world]
name = "objectworld"
size = 8
[data]
demos = 8
"""


def test_resume_after_sigkill_equals_the_uninterrupted_run(tmp_path: Path) -> None:
    """A real process, killed with SIGKILL once it has written a checkpoint, then ``--resume``d."""
    config_file = write(tmp_path / "run.toml", DEEP)
    whole = run_config(load_run_config(config_file), tmp_path / "whole", progress=False)
    killed = tmp_path / "killed"
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg", PYTHONPATH=str(SRC))
    proc = subprocess.Popen(
        [sys.executable, "-m", "rewardlab.cli", "run", str(config_file), "--out", str(killed)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not list((killed / "checkpoints").glob("step-*.pt")):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "no checkpoint within 60 s"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    rows = [json.loads(line) for line in (killed / "metrics.jsonl").read_text().splitlines() if line.endswith("}")]
    checkpointed = max(int(p.stem.split("-")[1]) for p in (killed / "checkpoints").glob("step-*.pt"))
    assert not (killed / "result.json").exists() and 0 <= checkpointed < len(rows) < 240  # killed part-way
    # mark the lines of the checkpointed steps: a resume keeps them (a restart from scratch would rewrite them)
    marked = [json.dumps({**row, "before_the_kill": True}) + "\n" for row in rows[: checkpointed + 1]]
    (killed / "metrics.jsonl").write_text("".join(marked) + "".join(json.dumps(row) + "\n" for row in rows[checkpointed + 1 :]))
    resumed = runner.invoke(app, ["run", str(config_file), "--out", str(killed), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    result = json.loads((killed / "result.json").read_text())
    assert result["metrics"] == json.loads((tmp_path / "whole" / "result.json").read_text())["metrics"] == pytest.approx(whole["metrics"])
    assert result["history"] == whole["history"]
    saved = [load_file(str(d / "reward" / "reward.safetensors")) for d in (killed, tmp_path / "whole")]
    assert torch.equal(saved[0]["values"], saved[1]["values"])
    lines = [json.loads(line) for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in lines] == list(range(240))  # one line per step: none lost, none twice
    assert [row.pop("before_the_kill", False) for row in lines] == [True] * (checkpointed + 1) + [False] * (239 - checkpointed)
    assert lines == [json.loads(line) for line in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]


# ----------------------------------------------------------------------------- gym
def _tiny_ranked_dataset(path: Path) -> Any:
    """Four 20-step Pendulum rollouts of the zero action, ranked by their true return (3 = the highest), saved at ``path``."""
    from rewardlab.data import Trajectory
    from rewardlab.data.gym_rollouts import collect_rollouts
    from rewardlab.data.io import save_dataset

    ds = collect_rollouts("Pendulum-v1", lambda o: np.zeros((len(o), 1), np.float32), 4, seed=0, max_steps=20)
    order = np.argsort(np.argsort(ds.returns()))
    save_dataset(
        [Trajectory(tr.obs, tr.acts, tr.rews, tr.terminal, {"rank": int(r)}) for tr, r in zip(ds, order, strict=True)],
        path,
        env_id="Pendulum-v1",
    )
    return ds


def test_a_gym_trex_run_from_a_tiny_dataset(tmp_path: Path) -> None:
    from rewardlab.rewards import NeuralReward

    ds = _tiny_ranked_dataset(tmp_path / "demos")
    text = """
        seed = 0
        [learner]
        name = "trex"
        label = "T-REX (tiny)"
        steps = 5
        pairs = 20
        snippet = [5, 10]
        hidden = [8]
        [env]
        id = "Pendulum-v1"
        [data]
        dataset = "demos"
        [policy]
        steps = 64
        eval_episodes = 1
        hyperparams = {n_steps = 32, batch_size = 32}
    """
    config_file = write(tmp_path / "trex.toml", "\n".join(line.strip() for line in text.splitlines()))
    result = runner.invoke(app, ["run", str(config_file), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "result.json").read_text())
    assert (summary["learner"], summary["label"]) == ("trex", "T-REX (tiny)")
    assert summary["metrics"]["ranking_tau"] == 1.0 and "kendall_tau" in summary["metrics"]
    assert summary["demos"] == str(tmp_path / "demos") and summary["config"]["data"]["dataset"] == str(tmp_path / "demos")
    assert NeuralReward.load(tmp_path / "out" / "reward") is not None
    policy = summary["policy"]  # the train-policy stage on the learned reward, scored on the true one
    assert (tmp_path / "out" / "policy" / "model.zip").is_file() and summary["metrics"]["true_return_mean"] == policy["true_return_mean"]
    assert policy["best_demo_return"] == pytest.approx(float(ds.returns().max()))
    assert policy["beats_best_demo"] == (policy["true_return_mean"] > policy["best_demo_return"])
    steps = [json.loads(line)["step"] for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    assert steps and steps == sorted(steps)
    # the saved config, run again from another directory, gives the same numbers
    again = runner.invoke(app, ["run", str(tmp_path / "out" / "config.toml"), "--out", str(tmp_path / "again")])
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "again" / "result.json").read_text())["metrics"] == summary["metrics"]


COLLECT = """
seed = 0
[learner]
name = "trex"
steps = 5
pairs = 20
snippet = [5, 10]
architecture = "linear"
ensemble = 2
[env]
id = "Pendulum-v1"
[data]
mirror_obs = [1, -1, -1]
mirror_act = [-1]
[data.collect]
checkpoints = 3
steps = 192
episodes = 2
hyperparams = {n_steps = 64, n_envs = 1, batch_size = 64, n_epochs = 2}
[policy]
steps = 64
eval_episodes = 2
ctrl_cost = 0.001
hyperparams = {n_steps = 32, batch_size = 32}
[eval]
hacking_check = true
"""


def test_a_gym_run_collects_its_demonstrations_learns_and_trains_a_policy(tmp_path: Path, monkeypatch) -> None:
    """[data.collect] is `rewardlab demos collect` inside the run (same seed, same demonstrations, same
    result as a run from that dataset); --resume reuses a finished collection; the hacking check's
    fields are those of `reward_hacking_check` on the saved demonstrations, reward and policy rollouts."""
    import rewardlab.experiments.prefs as prefs_module
    from rewardlab.data.gym_rollouts import env_spaces
    from rewardlab.data.io import load_dataset
    from rewardlab.prefs import reward_hacking_check
    from rewardlab.rewards import NeuralReward

    config_file = write(tmp_path / "collect.toml", COLLECT)
    result = runner.invoke(app, ["run", str(config_file), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    summary = json.loads((out / "result.json").read_text())
    demos = load_dataset(out / "demos", env="Pendulum-v1")
    assert summary["demos"] == "demos" and sorted({tr.infos["rank"] for tr in demos}) == [0, 1, 2] and len(demos) == 6
    assert summary["collection"]["true_returns"] == pytest.approx(demos.returns().tolist(), rel=1e-12)
    assert summary["collection"]["seed"] == 0 and (out / "demos" / "checkpoints").is_dir()
    metrics = summary["metrics"]
    assert metrics["best_demo_return"] == pytest.approx(float(demos.returns().max()), rel=1e-12)
    assert metrics["beats_best_demo"] == float(metrics["true_return_mean"] > metrics["best_demo_return"])
    assert summary["policy"]["reward"] == "learned" and summary["config"]["data"]["collect"]["checkpoints"] == 3
    # the same demonstrations through `rewardlab demos collect`, then a run from that dataset: the same numbers
    collected = runner.invoke(
        app,
        ["demos", "collect", "--env", "Pendulum-v1", "--out", str(tmp_path / "demos"), "--checkpoints", "3", "--steps", "192"]
        + ["--episodes", "2", "--seed", "0"]
        + [x for kv in ("n_steps=64", "n_envs=1", "batch_size=64", "n_epochs=2") for x in ("--set", kv)],
    )
    assert collected.exit_code == 0, collected.output
    assert load_dataset(tmp_path / "demos").returns().tolist() == demos.returns().tolist()
    table = read_toml(config_file)
    del table["data"]["collect"]
    table["data"]["dataset"] = str(tmp_path / "demos")
    run_config(load_run_config(table), tmp_path / "from-dataset", progress=False)
    from_dataset = json.loads((tmp_path / "from-dataset" / "result.json").read_text())
    assert from_dataset["metrics"] == metrics and from_dataset["hacking_check"] == summary["hacking_check"]
    # the hacking check, by hand on the run's artefacts
    check = summary["hacking_check"]
    rollouts = load_dataset(out / "policy" / "rollouts", env="Pendulum-v1")
    assert len(rollouts) == 2 and float(rollouts.returns().mean()) == pytest.approx(metrics["true_return_mean"], rel=1e-12)
    reward = NeuralReward.load(out / "reward")
    direct = reward_hacking_check(demos, rollouts, env_spaces("Pendulum-v1"), rng=np.random.default_rng(0), embedding=reward)
    for key in ("policy_mean", "policy_var", "top_mean", "top_var", "rhat_max"):
        value = getattr(direct, key)  # a NaN (a VaR of unmixed chains) is null in result.json
        assert check[key] == (None if np.isnan(value) else pytest.approx(value, rel=1e-9)), key
    assert (check["flagged"], check["reason"], check["alpha"]) == (direct.flagged, direct.reason, 0.05)
    flag = metrics.get("hacking_flagged")
    assert flag == (None if direct.flagged is None else float(direct.flagged))  # null in result.json when undetermined
    if direct.flagged is None:
        assert any("reward-hacking check is undetermined" in w for w in summary["warnings"]) and direct.reason
    assert any("flags the policy" in w for w in summary["warnings"]) == bool(direct.flagged)
    # --resume of a run killed after its collection: the collection is reused, the result is the same
    (out / "result.json").unlink()
    monkeypatch.setattr(prefs_module, "collect_demos", lambda *a, **k: pytest.fail("collected again"))
    resumed = run_config(load_run_config(config_file), out, resume=True, progress=False)
    assert resumed["metrics"] == metrics


def test_the_constant_reward_control_is_train_policy_on_a_saved_constant_reward(tmp_path: Path) -> None:
    """[policy] reward = "constant" trains the same PPO as `train_on_reward` of a saved ConstantReward
    (same seed, normalisation, control cost): identical weights; the learned reward's policy differs."""
    from stable_baselines3 import PPO

    from rewardlab.experiments.prefs import train_on_reward
    from rewardlab.rewards import ConstantReward

    _tiny_ranked_dataset(tmp_path / "demos")
    table = read_toml(write(tmp_path / "collect.toml", COLLECT))
    del table["data"]["collect"], table["eval"]
    table["data"]["dataset"] = str(tmp_path / "demos")
    control = run_config(load_run_config(table, {"policy.reward": "constant"}), tmp_path / "control", progress=False)
    learned = run_config(load_run_config(table), tmp_path / "learned", progress=False)
    ConstantReward().save(tmp_path / "constant")
    by_hand = train_on_reward(
        "Pendulum-v1",
        tmp_path / "constant",
        tmp_path / "by-hand",
        steps=64,
        seed=0,
        normalize="running",
        ctrl_cost=0.001,
        eval_episodes=2,
        hyperparams={"n_steps": 32, "batch_size": 32},
    )
    weights = [PPO.load(d / "policy" / "model.zip").policy.state_dict() for d in (tmp_path / "control", tmp_path / "learned")]
    reference = PPO.load(tmp_path / "by-hand" / "model.zip").policy.state_dict()
    assert weights[0].keys() == reference.keys() and all(torch.equal(weights[0][k], reference[k]) for k in reference)
    assert not all(torch.equal(weights[1][k], reference[k]) for k in reference)  # the setting matters
    assert control["metrics"]["true_return_mean"] == by_hand["true_return_mean"]
    assert control["policy"]["reward"] == "constant" and learned["policy"]["reward"] == "learned"
    assert control["metrics"]["best_demo_return"] == learned["metrics"]["best_demo_return"]  # the same demonstrations
    assert control["metrics"]["kendall_tau"] == learned["metrics"]["kendall_tau"]  # the learner fits in the control too


def test_a_drex_run_reads_an_npz_of_episodes_and_evaluates_its_clone(tmp_path: Path) -> None:
    """[data] dataset may be an .npz of obs_i / acts_i / rews_i (the D-REX paper's demonstrations in
    ../shared/data); [eval] bc_episodes evaluates D-REX's clone as `evaluate` does; a wrong env is refused."""
    from rewardlab.errors import DataFileError
    from rewardlab.irl.bc import GymBCPolicy
    from rewardlab.rl import evaluate

    ds = _tiny_ranked_dataset(tmp_path / "demos")
    np.savez(tmp_path / "demo.npz", obs_0=ds[3].obs, acts_0=ds[3].acts, rews_0=ds[3].rews)
    table = {
        "learner": {"name": "drex", "rollouts": 1, "max_steps": 20, "bc_epochs": 2, "trex": {"steps": 5, "pairs": 20, "snippet": [5, 10]}},
        "env": {"id": "Pendulum-v1"},
        "data": {"dataset": str(tmp_path / "demo.npz")},
        "eval": {"bc_episodes": 2},
    }
    summary = run_config(load_run_config(table), tmp_path / "out", progress=False)
    clone = evaluate(GymBCPolicy.load(tmp_path / "out" / "bc_policy"), "Pendulum-v1", episodes=2, seed=10_000).returns()
    assert summary["metrics"]["bc_return_mean"] == pytest.approx(float(clone.mean()), rel=1e-12) and summary["bc"]["episodes"] == 2
    assert summary["demos"] == str(tmp_path / "demo.npz")
    with pytest.raises(DataFileError, match=r"demo\.npz"):
        run_config(load_run_config({**table, "env": {"id": "CartPole-v1"}}), tmp_path / "wrong", progress=False)


def test_gym_run_configs_with_collection_control_and_eval_round_trip(tmp_path: Path) -> None:
    cfg = load_run_config(
        read_toml(write(tmp_path / "collect.toml", COLLECT)), {"policy.reward": "constant", "data.collect.ceiling": "-800"}
    )
    resolved = run_config_table(cfg)
    assert load_run_config(read_toml(write(tmp_path / "resolved.toml", toml_text(resolved)))) == cfg
    assert resolved["data"]["collect"] == {
        "checkpoints": 3,
        "steps": 192,
        "episodes": 2,
        "ceiling": -800.0,
        "hyperparams": {"n_steps": 64, "n_envs": 1, "batch_size": 64, "n_epochs": 2},
    }
    assert "dataset" not in resolved["data"] and resolved["policy"]["reward"] == "constant"
    assert resolved["eval"] == {"hacking_check": True, "hacking_alpha": 0.05, "bc_episodes": 0}


# ----------------------------------------------------------------------------- learning from a learner
LFL = """
seed = 0
[learner]
name = "lfl"
alpha = 0.5
[world]
name = "objectworld"
size = 6
[data]
stages = 3
"""


def test_an_lfl_run_on_exact_stages_recovers_the_reward_and_beats_the_learner_it_watched(tmp_path: Path) -> None:
    from rewardlab.eval import expected_value_difference, reward_distance
    from rewardlab.irl.lfl import learner_reward, soft_policy_improvement
    from rewardlab.mdp.worlds import objectworld
    from rewardlab.rewards import TabularReward

    result = runner.invoke(app, ["run", str(write(tmp_path / "lfl.toml", LFL)), "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "a" / "result.json").read_text())
    metrics = summary["metrics"]
    # exact soft policy-iteration stages at the right temperature: the reward up to shaping (Jacq et al. 2019)
    assert metrics["residual"] < 1e-9 and metrics["reward_distance"] < 1e-6 and metrics["evd"] == metrics["policy_loss"] == 0.0
    # by hand: the learner's policies from the uniform one, the least-squares reward, its EVD
    world = objectworld(6, seed=0)
    pis = [torch.full((world.mdp.n_states, world.mdp.n_actions), 1 / world.mdp.n_actions, dtype=torch.float64)]
    for _ in range(2):
        pis.append(soft_policy_improvement(world.mdp, world.reward, pis[-1], 0.5))
    by_hand, _ = learner_reward(world.mdp, pis, 0.5)
    saved = TabularReward.load(tmp_path / "a" / "reward").values
    assert torch.allclose(saved, by_hand.to(saved.dtype), atol=1e-12)
    from rewardlab.eval import policy_loss

    assert metrics["observed_policy_loss"] == pytest.approx(policy_loss(world.mdp, world.reward, pis[-1], initial="uniform"), rel=1e-12)
    assert metrics["observed_policy_loss"] > 0.5  # the learner is still far from optimal after two improvements...
    random = torch.as_tensor(np.random.default_rng(0).standard_normal(saved.shape))
    assert expected_value_difference(world.mdp, world.reward, random) > 0.5  # ...and so is a random reward's policy
    assert reward_distance(world.mdp, world.reward, random) > 0.3
    assert (summary["stages"], summary["learner_alpha"], summary["trajectories_per_stage"], summary["warnings"]) == (3, 0.5, 0, [])
    assert (tmp_path / "a" / "figures.png").is_file() and summary["config"]["data"]["kind"] == "stages"
    # from sampled trajectories: estimated policies, an approximate reward, still better than the learner
    sampled = runner.invoke(app, ["run", str(tmp_path / "lfl.toml"), "--out", str(tmp_path / "b"), "--set", "data.trajectories=200"])
    assert sampled.exit_code == 0, sampled.output
    approx = json.loads((tmp_path / "b" / "result.json").read_text())["metrics"]
    assert approx["residual"] > 1e-3 and approx["evd"] < approx["observed_policy_loss"]  # measured: 0.29 < 0.995
    again = runner.invoke(app, ["run", str(tmp_path / "b" / "config.toml"), "--out", str(tmp_path / "c")])
    assert again.exit_code == 0 and json.loads((tmp_path / "c" / "result.json").read_text())["metrics"] == approx


def test_an_lfl_run_on_a_finite_horizon_world_is_refused_before_any_work(tmp_path: Path) -> None:
    config_file = write(tmp_path / "lfl.toml", '[learner]\nname = "lfl"\n[world]\nname = "navigation"\n')
    result = runner.invoke(app, ["run", str(config_file), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert error_line(result).startswith("error: world:") and "finite-horizon" in error_line(result) and "discounted" in error_line(result)
    assert not (tmp_path / "out").exists()


DEEP_LFL = """
seed = 0
checkpoint_every = 25
[learner]
name = "deep-lfl"
hidden = [16]
steps = 400
batch_size = 64
policy_epochs = 5
policy_hidden = [8]
[env]
id = "Pendulum-v1"
[data]
stages = 3
steps = 192
episodes = 4
max_steps = 50
hyperparams = {n_steps = 64, n_envs = 1, batch_size = 64, n_epochs = 2}
"""


def test_a_deep_lfl_run_observes_ppo_checkpoints_and_scores_the_reward_on_their_true_returns(tmp_path: Path) -> None:
    from rewardlab.data.io import load_dataset
    from rewardlab.eval import kendall_tau
    from rewardlab.prefs.trex import TrajectoryEncoder, predicted_returns
    from rewardlab.rewards import NeuralReward

    text = DEEP_LFL + "[policy]\nsteps = 64\neval_episodes = 1\nhyperparams = {n_steps = 32, batch_size = 32}\n"
    result = runner.invoke(app, ["run", str(write(tmp_path / "lfl.toml", text)), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    summary = json.loads((out / "result.json").read_text())
    assert (summary["learner"], summary["stages"], summary["checkpoint_steps"]) == ("deep-lfl", 3, [64, 128, 192])
    # the metrics again from the artefacts: the observed rollouts (stage = PPO checkpoint) and the saved reward
    observed = load_dataset(out / "stages", env="Pendulum-v1")
    assert len(observed) == 12 and sorted({tr.infos["rank"] for tr in observed}) == [0, 1, 2]
    returns = [float(np.mean([tr.ret for tr in observed if tr.infos["rank"] == k])) for k in range(3)]
    assert summary["observed_returns"] == pytest.approx(returns, rel=1e-12)
    metrics = summary["metrics"]
    assert (metrics["observed_return_first"], metrics["observed_return_last"]) == (
        summary["observed_returns"][0],
        summary["observed_returns"][-1],
    )
    reward = NeuralReward.load(out / "reward")
    predicted = predicted_returns(reward, observed, TrajectoryEncoder.for_reward("Pendulum-v1", reward))
    assert metrics["kendall_tau"] == pytest.approx(kendall_tau(predicted, observed.returns()), abs=1e-12)
    assert 0 < metrics["rmse"] < 10 and summary["info"]["rmse"] == metrics["rmse"]
    improved = returns[-1] > returns[0]
    assert any("did not improve" in w for w in summary["warnings"]) == (not improved)  # said when the learner made no progress
    # the [policy] stage: a policy trained on the learned reward, against the best observed rollout
    assert metrics["true_return_mean"] == summary["policy"]["true_return_mean"] and (out / "policy" / "model.zip").is_file()
    assert metrics["best_demo_return"] == pytest.approx(float(observed.returns().max()))
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["policies", "step-000000374.pt", "step-000000399.pt"]
    assert [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [0, 100, 200, 300, 399]


def test_deep_lfl_resume_after_sigkill_equals_the_uninterrupted_run(tmp_path: Path) -> None:
    """PPO's checkpoints are rolled out again on resume (the same rollouts: the checkpoint's fingerprint
    binds them), the stage policies and the regression continue from their checkpoints."""
    config_file = write(
        tmp_path / "lfl.toml", DEEP_LFL.replace("steps = 400", "steps = 1500").replace("checkpoint_every = 25", "checkpoint_every = 10")
    )
    whole = run_config(load_run_config(config_file), tmp_path / "whole", progress=False)
    killed = tmp_path / "killed"
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg", PYTHONPATH=str(SRC))
    proc = subprocess.Popen(
        [sys.executable, "-m", "rewardlab.cli", "run", str(config_file), "--out", str(killed)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not list((killed / "checkpoints").glob("step-*.pt")):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "no checkpoint within 60 s"
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    checkpointed = max(int(p.stem.split("-")[1]) for p in (killed / "checkpoints").glob("step-*.pt"))
    assert not (killed / "result.json").exists() and (killed / "checkpoints" / "policies").is_dir() and checkpointed < 1499
    resumed = runner.invoke(app, ["run", str(config_file), "--out", str(killed), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    result = json.loads((killed / "result.json").read_text())
    assert result["metrics"] == whole["metrics"] and result["history"] == whole["history"]
    saved = [load_file(str(d / "reward" / "reward.safetensors")) for d in (killed, tmp_path / "whole")]
    assert saved[0].keys() == saved[1].keys() and all(torch.equal(saved[0][k], saved[1][k]) for k in saved[0])
    lines = [json.loads(line)["step"] for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert lines == [*range(0, 1500, 100), 1499]  # one line per reported step: none lost, none twice


# ----------------------------------------------------------------------------- figures, ranked demonstrations
def test_figures_false_skips_the_plots_and_changes_nothing_else(tmp_path: Path) -> None:
    table = read_toml(write(tmp_path / "run.toml", MAXENT))
    drawn = run_config(load_run_config(table), tmp_path / "drawn", progress=False)
    cfg = load_run_config(table, {"figures": "false"})
    assert cfg.figures is False and load_run_config(run_config_table(cfg)) == cfg
    plain = run_config(cfg, tmp_path / "plain", progress=False)
    assert (tmp_path / "drawn" / "figures.png").is_file() and not (tmp_path / "plain" / "figures.png").exists()
    assert plain["metrics"] == drawn["metrics"] and plain["history"] == drawn["history"]
    assert plain["config"]["figures"] is False and drawn["config"]["figures"] is True


RANKED_LEARNERS_SETTINGS = {
    "trex": {"snippet": "none", "pairs": 60, "steps": 40, "batch_size": 16, "lr": 0.05, "validation": 0.0},
    "brex": {"samples": 300, "burn_in": 100, "thin": 1, "step_size": 0.05, "adapt": True},
    "birl": {"prior": "sphere", "beta": 50.0, "chains": 1, "samples": 300, "burn_in": 0, "thin": 1, "step_size": 0.01, "adapt": False},
}


@pytest.mark.parametrize("name", ["trex", "brex", "birl"])
def test_ranked_demonstrations_on_a_world_equal_the_library_calls(name: str, tmp_path: Path) -> None:
    """``[data] kind = "ranked"``: the run's demonstrations are ``ranked_suboptimal_demonstrations`` of the
    run's seed, its fit is the learner's fit on them (seed + 1; Bayesian IRL treats them as optimal), and
    its policy loss is that of the policy optimal for the learned reward (the B-REX table's measure)."""
    from rewardlab.eval import policy_loss
    from rewardlab.irl.experts import ranked_suboptimal_demonstrations
    from rewardlab.mdp import value_iteration
    from rewardlab.mdp.worlds import feature_gridworld
    from rewardlab.registry import make_learner

    settings = RANKED_LEARNERS_SETTINGS[name]
    table = {"seed": 4, "figures": False, "learner": {"name": name, **settings}, "world": {"name": "featuregrid", "size": 5}}
    table["data"] = {"kind": "ranked", "demos": 5, "length": 6}
    cfg = load_run_config(table)
    assert load_run_config(run_config_table(cfg)) == cfg
    run = run_config(cfg, tmp_path / "run", progress=False)
    world = feature_gridworld(5, seed=4)
    demos, returns = ranked_suboptimal_demonstrations(world, 5, rng=np.random.default_rng(4), length=6)
    fit = make_learner(name, **{k: (None if v == "none" else v) for k, v in settings.items()}).fit(
        demos, world.mdp, rng=np.random.default_rng(5)
    )
    assert run["demo_returns"] == returns.tolist() and run["expert"] == "ranked"
    assert torch.equal(torch.as_tensor(load_file(str(tmp_path / "run" / "reward" / "reward.safetensors"))["values"]), fit.reward.values)
    expected = policy_loss(world.mdp, world.reward, value_iteration(world.mdp, fit.reward.values).policy, initial="uniform")
    assert run["metrics"]["policy_loss"] == pytest.approx(expected, rel=1e-12)
    assert run["metrics"]["evd"] == pytest.approx(expected, rel=1e-12)  # the feature grid starts uniformly
    assert {"feature_gap", "heldout_log_likelihood"}.isdisjoint(run["metrics"])  # they measure a match to expert data
    assert not (tmp_path / "run" / "figures.png").exists()


def test_ranked_demonstrations_of_one_return_are_ranked_by_order_with_a_warning(tmp_path: Path) -> None:
    # feature grid 4x4 of seed 1: both 2-step demonstrations of seed 1 have the same true return
    table = {"seed": 1, "figures": False, "learner": {"name": "brex", **RANKED_LEARNERS_SETTINGS["brex"]}}
    table |= {"world": {"name": "featuregrid", "size": 4}, "data": {"kind": "ranked", "demos": 2, "length": 2}}
    run = run_config(load_run_config(table), tmp_path / "run", progress=False)
    assert run["demo_returns"][0] == run["demo_returns"][1]
    assert any("same true return" in w and "ranked by their order" in w for w in run["warnings"])
    assert run["info"]["pairs"] == 1 and np.isfinite(run["metrics"]["policy_loss"])


def test_a_sweep_file_given_to_run_says_to_use_sweep(tmp_path: Path) -> None:
    sweep = write(tmp_path / "sweep.toml", '[base]\nseed = 0\n[[methods]]\nname = "maxent"\n[grid]\nseed = [0, 1]\n')
    with pytest.raises(ConfigError, match=r"is a table of sweep files.*rewardlab sweep"):
        load_run_config(sweep)
