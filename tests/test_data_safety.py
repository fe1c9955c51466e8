"""Data safety: a dataset, reward, posterior or run directory is written whole or not at all.

A failed or interrupted save leaves the earlier files as they were (never new arrays beside old
metadata), a run directory is complete and consistent or absent, an existing ``--out`` is replaced
only with ``--overwrite``, and an unusable ``--out`` is refused before any work. The failures are
simulated for real: an I/O error injected at the second file's flush, a writer that raises between
files, and a process killed with SIGKILL between files.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from rewardlab.cli import app
from rewardlab.data import Trajectory, TrajectoryDataset
from rewardlab.data.io import from_minari, load_dataset, save_dataset, to_minari
from rewardlab.errors import ConfigError, ValidationError
from rewardlab.rewards import NeuralReward, RewardNetSpec, TabularReward

runner = CliRunner()


def _dataset(n: int, length: int, rank: object = 1) -> TrajectoryDataset:
    rng = np.random.default_rng(n + length)
    return TrajectoryDataset(
        Trajectory(rng.normal(size=(length + 1, 2)), rng.normal(size=(length, 1)), rews=rng.normal(size=length), infos={"rank": rank})
        for _ in range(n)
    )


def _same(a: TrajectoryDataset, b: TrajectoryDataset) -> bool:
    return len(a) == len(b) and all(
        np.array_equal(x.obs, y.obs) and np.array_equal(x.acts, y.acts) and np.array_equal(x.rews, y.rews) and x.infos == y.infos
        for x, y in zip(a, b, strict=True)
    )


def _siblings(path: Path) -> list[str]:
    """Everything in ``path``'s parent: no temporary directories may be left beside it."""
    return sorted(p.name for p in path.parent.iterdir())


def _fail_fsync_on_call(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    """Make the ``n``-th ``os.fsync`` raise an I/O error (a full disk while flushing a file)."""
    calls = {"count": 0}
    real = os.fsync

    def fsync(fd: int) -> None:
        calls["count"] += 1
        if calls["count"] == n:
            raise OSError(28, "No space left on device")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


# ----------------------------------------------------------------------------- datasets
def test_a_failed_resave_leaves_the_earlier_dataset_whole(tmp_path: Path) -> None:
    """Before: the new .npz replaced the old one, then the JSON failed: 5 new trajectories under old metadata."""
    old = _dataset(2, 3)
    save_dataset(old, tmp_path / "d", env_id="Toy-v0")
    bad = TrajectoryDataset([Trajectory(np.zeros((5, 2)), np.zeros((4, 1)), infos={"policy": object()}) for _ in range(5)])
    with pytest.raises(ValidationError, match="infos"):
        save_dataset(bad, tmp_path / "d")
    assert _same(load_dataset(tmp_path / "d"), old)
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["trajectories.json", "trajectories.npz"]
    assert _siblings(tmp_path / "d") == ["d"]


def test_an_io_error_on_the_second_file_leaves_the_earlier_dataset_whole(tmp_path: Path, monkeypatch) -> None:
    old = _dataset(2, 3)
    save_dataset(old, tmp_path / "d")
    _fail_fsync_on_call(monkeypatch, 2)  # the .npz is flushed, the .json is not
    with pytest.raises(OSError, match="No space"):
        save_dataset(_dataset(5, 4), tmp_path / "d")
    monkeypatch.undo()
    assert _same(load_dataset(tmp_path / "d"), old)
    assert _siblings(tmp_path / "d") == ["d"]


def test_numpy_scalars_and_arrays_in_infos_save_and_round_trip(tmp_path: Path) -> None:
    """Before: a numpy integer rank (what np.argsort or a Ranking gives) was refused."""
    ds = TrajectoryDataset(
        Trajectory(np.zeros((3, 2)), np.zeros(2), infos={"rank": np.int64(r), "noise": np.float32(0.25), "mask": np.array([1, 0])})
        for r in (2, 0, 1)
    )
    save_dataset(ds, tmp_path / "d")
    back = load_dataset(tmp_path / "d")
    assert [tr.infos for tr in back] == [{"rank": r, "noise": 0.25, "mask": [1, 0]} for r in (2, 0, 1)]
    assert all(type(tr.infos["rank"]) is int for tr in back)


def test_saving_into_a_directory_keeps_its_other_files(tmp_path: Path) -> None:
    (tmp_path / "d" / "notes").mkdir(parents=True)
    (tmp_path / "d" / "notes" / "readme.txt").write_text("mine")
    (tmp_path / "d" / "result.json").write_text("{}")
    save_dataset(_dataset(1, 2), tmp_path / "d")
    save_dataset(_dataset(3, 2), tmp_path / "d")
    assert (tmp_path / "d" / "notes" / "readme.txt").read_text() == "mine" and (tmp_path / "d" / "result.json").read_text() == "{}"
    assert len(load_dataset(tmp_path / "d")) == 3


# ----------------------------------------------------------------------------- rewards and posteriors
def test_a_reward_pair_is_one_unit(tmp_path: Path, monkeypatch) -> None:
    """Before: the .safetensors was replaced (without a flush) before the .json was written, so an I/O error
    on the .json left new weights beside old metadata: a reward that no longer loads."""
    old = NeuralReward(RewardNetSpec((3,), hidden=(4,)), seed=0)
    old.save(tmp_path / "r")
    _fail_fsync_on_call(monkeypatch, 1)
    with pytest.raises(OSError, match="No space"):
        NeuralReward(RewardNetSpec((3,), hidden=(8, 8)), seed=1).save(tmp_path / "r")
    monkeypatch.undo()
    back = NeuralReward.load(tmp_path / "r")
    obs = torch.randn(6, 3)
    with torch.no_grad():
        assert back.spec.hidden == (4,) and torch.equal(back(obs), old(obs))
    assert _siblings(tmp_path / "r") == ["r"]


def test_non_finite_weights_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    """Before: a NaN reward (e.g. from a diverged fit) was saved and loaded without a word."""
    from rewardlab._io import save_tensors

    old = TabularReward.linear(torch.eye(3), torch.tensor([1.0, 2.0, 3.0]))
    old.save(tmp_path / "r")
    model = NeuralReward(RewardNetSpec((3,), hidden=(4,)))
    with torch.no_grad():
        model.member(0).last_layer.weight[0, 0] = float("nan")
    with pytest.raises(ValidationError, match=r"reward\.members\.0\.head\.2\.weight: has 1 NaN or infinite value"):
        model.save(tmp_path / "r")
    with pytest.raises(ValidationError, match="weights"):
        TabularReward(torch.zeros(3), torch.tensor([float("inf"), 0.0, 0.0])).save(tmp_path / "r")
    assert torch.equal(TabularReward.load(tmp_path / "r").values, old.values)
    with pytest.raises(ValidationError, match="samples"):
        save_tensors(tmp_path / "p", "posterior", {"samples": torch.tensor([np.nan])}, {}, finite=("samples",))
    save_tensors(
        tmp_path / "p", "posterior", {"samples": torch.zeros(2), "log_prior": torch.tensor([-np.inf, 0.0])}, {}, finite=("samples",)
    )


def test_a_posterior_saves_as_one_unit_beside_nothing_else(tmp_path: Path) -> None:
    from rewardlab.irl.bayesian import BayesianIRLConfig, sample_posterior
    from rewardlab.irl.posterior import RewardPosterior
    from rewardlab.mdp.worlds import feature_gridworld

    w = feature_gridworld(3, seed=0)
    post = sample_posterior(w.mdp, torch.zeros(9, 4), BayesianIRLConfig(chains=2, samples=30, burn_in=0), rng=np.random.default_rng(0))
    post.save(tmp_path / "p")
    post.save(tmp_path / "p")
    assert torch.equal(RewardPosterior.load(tmp_path / "p", w.mdp).samples, post.samples)
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["posterior.json", "posterior.safetensors"]
    assert _siblings(tmp_path / "p") == ["p"]


# ----------------------------------------------------------------------------- the directory writer
def test_atomic_directory_replaces_whole_or_not_at_all(tmp_path: Path) -> None:
    from rewardlab._io import atomic_directory

    target = tmp_path / "run"
    with atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("first")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "b.txt").write_text("first")
    with pytest.raises(KeyboardInterrupt), atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("second")
        raise KeyboardInterrupt
    assert (target / "a.txt").read_text() == "first" and (target / "sub" / "b.txt").read_text() == "first"
    with atomic_directory(target) as tmp:
        (tmp / "c.txt").write_text("third")
    assert sorted(p.name for p in target.iterdir()) == ["c.txt"]  # replaced entirely, nothing of the old left
    assert _siblings(target) == ["run"]
    (tmp_path / "link").symlink_to(target)  # through a link: the directory it points at is replaced, the link kept
    with atomic_directory(tmp_path / "link") as tmp:
        (tmp / "d.txt").write_text("fourth")
    assert (tmp_path / "link").is_symlink() and sorted(p.name for p in target.iterdir()) == ["d.txt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValidationError, match="is a file"), atomic_directory(tmp_path / "file"):
        pass


def test_atomic_directory_refuses_the_working_directory(tmp_path: Path, monkeypatch) -> None:
    from rewardlab._io import atomic_directory

    (tmp_path / "w").mkdir()
    monkeypatch.chdir(tmp_path / "w")
    for target in (".", str(tmp_path)):
        with pytest.raises(ValidationError, match="working directory"), atomic_directory(target):
            pass
    assert Path.cwd() == tmp_path / "w"


def test_without_replace_a_directory_filled_meanwhile_is_kept_and_the_new_one_too(tmp_path: Path) -> None:
    from rewardlab._io import atomic_directory

    target = tmp_path / "run"
    with pytest.raises(FileExistsError, match="finished directory is") as info, atomic_directory(target, replace=False) as tmp:
        (tmp / "mine.txt").write_text("new")
        target.mkdir()
        (target / "theirs.txt").write_text("other")
    assert (target / "theirs.txt").read_text() == "other" and not (target / "mine.txt").exists()
    kept = Path(str(info.value).rsplit(" ", 1)[-1])
    assert (kept / "mine.txt").read_text() == "new"


# ----------------------------------------------------------------------------- run directories
def _irl(out: Path, method: str, *extra: str) -> object:
    sets = {"birl": ["samples=60", "burn_in=10", "chains=2"], "mce": ["iterations=20"]}[method]
    args = ["irl", method, "--world", "featuregrid:size=3,seed=0", "--demos", "4", "--out", str(out)]
    return runner.invoke(app, [*args, *[x for s in sets for x in ("--set", s)], *extra])


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_a_rerun_into_an_existing_out_is_refused_without_overwrite_and_replaces_it_with(tmp_path: Path) -> None:
    """Before: maxent's rerun into birl's --out left birl's posterior/ and trace.png beside its result.json."""
    out = tmp_path / "run"
    r = _irl(out, "birl")
    assert r.exit_code == 0, r.output
    before = _snapshot(out)
    assert "posterior/posterior.safetensors" in before
    r = _irl(out, "mce")
    assert r.exit_code == 2 and "--out" in r.output and "--overwrite" in r.output and "Traceback" not in r.output
    assert _snapshot(out) == before
    r = _irl(out, "mce", "--overwrite")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["config.toml", "figures.png", "metrics.jsonl", "result.json", "reward"]
    assert json.loads((out / "result.json").read_text())["method"] == "mce"
    assert _siblings(out) == ["run"]


def test_a_run_that_fails_between_files_leaves_the_previous_run_or_nothing(tmp_path: Path, monkeypatch) -> None:
    """Before: a failure after reward/ and figures.png were written left them beside the previous result.json."""
    import rewardlab.experiments.run as run

    out = tmp_path / "run"
    assert _irl(out, "mce").exit_code == 0
    before = _snapshot(out)

    def crash(path: Path, data: object) -> Path:
        raise OSError(5, "Input/output error")  # between files: reward/ and figures.png are written

    monkeypatch.setattr(run, "write_json", crash)  # result.json, the run's last file
    r = _irl(tmp_path / "fresh", "birl")
    assert isinstance(r.exception, OSError) and not (tmp_path / "fresh").exists()
    r = _irl(out, "birl", "--overwrite")
    assert isinstance(r.exception, OSError)
    assert _snapshot(out) == before
    assert _siblings(out) == ["run"]


def test_a_run_killed_with_sigkill_between_files_leaves_the_previous_run(tmp_path: Path) -> None:
    """A real process, killed (SIGKILL, no cleanup) just before it writes result.json."""
    out = tmp_path / "run"
    assert _irl(out, "mce").exit_code == 0
    before = _snapshot(out)
    script = textwrap.dedent(
        f"""
        import inspect, os, signal
        import rewardlab.experiments.irl as irl
        import rewardlab.experiments.run as run
        run.write_json = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
        # a rerun that replaces the previous one (before --overwrite existed, every rerun wrote over it)
        replace = {{"overwrite": True}} if "overwrite" in inspect.signature(irl.run_irl).parameters else {{}}
        sets = {{"samples": 60, "burn_in": 10, "chains": 2}}
        irl.run_irl("birl", "featuregrid:size=3,seed=0", 4, {str(out)!r}, hyperparameters=sets, **replace)
        """
    )
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert _snapshot(out) == before  # the killed run's reward/, posterior/ and figures are only in a hidden sibling
    assert [n for n in _siblings(out) if not n.startswith(".run.tmp-")] == ["run"]


@pytest.mark.parametrize(
    ("command", "sentinel"),
    [
        (["demo"], "rewardlab.experiments.demo.navigation_gridworld"),
        (["irl", "mce", "--world", "featuregrid:size=3,seed=0"], "rewardlab.experiments.config.WorldSection.build"),
        (["demos", "collect", "--env", "Pendulum-v1"], "rewardlab.rl.make_ranked_demos"),
        (["prefs", "trex", "--env", "Pendulum-v1", "--demos", "nowhere"], "rewardlab.data.io.load_dataset"),
        (["train-policy", "--env", "Pendulum-v1", "--reward", "nowhere"], "rewardlab.rewards.NeuralReward.load"),
    ],
)
def test_an_unusable_out_is_refused_before_any_work(tmp_path: Path, monkeypatch, command: list[str], sentinel: str) -> None:
    """Before: ``irl`` fitted, then failed on the file with a FileExistsError traceback."""
    called: list[str] = []

    def work(*args: object, **kwargs: object) -> None:
        called.append(sentinel)
        raise AssertionError("work started before --out was checked")

    monkeypatch.setattr(sentinel, work)
    (tmp_path / "file").write_text("not a directory")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "result.json").write_text("{}")
    for out, problem in (
        (tmp_path / "file", "is a file"),
        (tmp_path / "file" / "sub", "on its path, is a file"),
        (tmp_path / "full", "already holds"),
    ):
        r = runner.invoke(app, [*command, "--out", str(out)])
        said = " ".join(r.output.split())  # rich wraps long lines
        assert r.exit_code == 2 and "--out" in said and problem in said, r.output
    assert not called
    assert (tmp_path / "file").read_text() == "not a directory" and (tmp_path / "full" / "result.json").read_text() == "{}"


def test_check_out_accepts_a_new_or_empty_directory_and_creates_only_its_parent(tmp_path: Path) -> None:
    from rewardlab._io import check_out

    assert check_out(tmp_path / "a" / "b" / "run") == tmp_path / "a" / "b" / "run"
    assert (tmp_path / "a" / "b").is_dir() and not (tmp_path / "a" / "b" / "run").exists()
    (tmp_path / "empty").mkdir()
    check_out(tmp_path / "empty")
    with pytest.raises(ConfigError, match="--overwrite"):
        check_out(tmp_path / "a")
    assert check_out(tmp_path / "a", overwrite=True) == tmp_path / "a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "empty"]


def test_collect_demos_stages_its_checkpoints_and_leaves_nothing_on_failure(tmp_path: Path, monkeypatch) -> None:
    """PPO's checkpoints go into the temporary directory with the rest: a failure after training leaves no
    checkpoints/ and no dataset at --out."""
    import rewardlab.data.io as data_io
    import rewardlab.rl as rl
    from rewardlab.experiments.prefs import collect_demos

    written: list[Path] = []

    def fake_ranked_demos(env_id: str, *, out: Path, **kwargs: object) -> TrajectoryDataset:
        out.mkdir(parents=True)
        (out / "checkpoint_256.zip").write_bytes(b"weights")
        written.append(out)
        ds = _dataset(2, 3, rank=np.int64(1))
        for i, tr in enumerate(ds):
            tr.infos.update(rank=np.int64(i), checkpoint=256)
        return ds

    monkeypatch.setattr(rl, "make_ranked_demos", fake_ranked_demos)
    summary = collect_demos("Pendulum-v1", tmp_path / "demos", checkpoints=2, steps=512)
    assert written[0].parent.name.startswith(".demos.tmp-") and summary["ranks"] == [0, 1]
    assert (tmp_path / "demos" / "checkpoints" / "checkpoint_256.zip").read_bytes() == b"weights"
    assert [tr.infos["rank"] for tr in load_dataset(tmp_path / "demos")] == [0, 1]

    def broken_save(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(data_io, "save_dataset", broken_save)
    with pytest.raises(OSError):
        collect_demos("Pendulum-v1", tmp_path / "again", checkpoints=2, steps=512)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demos"]


# ----------------------------------------------------------------------------- Minari
def test_minari_export_keeps_infos_and_refuses_existing_or_malformed_ids(tmp_path: Path, monkeypatch) -> None:
    """Before: ranks came back as {"episode": i}; an existing id raised Minari's ValueError, and a malformed
    one left an empty dataset directory behind."""
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    ds = TrajectoryDataset(
        Trajectory(
            np.random.default_rng(i).normal(size=(6, 3)).astype(np.float32),
            np.zeros((5, 1), np.float32),
            rews=np.ones(5),
            infos={"rank": np.int64(2 - i), "checkpoint": 256 * (i + 1)},
        )
        for i in range(3)
    )
    meta = {
        "env": "Pendulum-v1",
        "eval_env": "Pendulum-v1",
        "author": "rewardlab tests",
        "author_email": "t@rewardlab.invalid",
        "code_permalink": "https://x.invalid",
    }
    to_minari(ds, "rewardlab/pendulum/safety-v0", **meta)
    back = from_minari("rewardlab/pendulum/safety-v0")
    assert [tr.infos for tr in back] == [{"rank": 2 - i, "checkpoint": 256 * (i + 1)} for i in range(3)]
    assert np.allclose(back[2].obs, ds[2].obs)
    stored = sorted(p.relative_to(tmp_path) for p in (tmp_path / "minari").rglob("*"))
    with pytest.raises(ConfigError, match="already exists"):
        to_minari(_dataset(1, 2), "rewardlab/pendulum/safety-v0", **meta)
    for bad in ("not an id", "rewardlab/pendulum/safety"):
        with pytest.raises(ConfigError, match="malformed"):
            to_minari(ds, bad, **meta)
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "minari").rglob("*")) == stored
    assert [tr.infos["rank"] for tr in from_minari("rewardlab/pendulum/safety-v0")] == [2, 1, 0]
