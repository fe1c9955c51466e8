"""Sweeps (rewardlab.experiments.sweep): real trials through run_config on a tiny objectworld, on the local
process pool and on Ray Tune; SIGKILL and resume; a failing trial retried and reported; sweep-file errors
before anything runs."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rewardlab.errors import ConfigError
from rewardlab.experiments.sweep import expand_grid, load_sweep, plan_trials, run_sweep

#: 2 learners x 2 seeds on a 6x6 objectworld; a deep-maxent trial takes a few seconds and checkpoints every 5 steps
SWEEP = """
[base]
checkpoint_every = 5

[base.world]
name = "objectworld"
size = 6

[base.data]
demos = 4

[[methods]]
name = "mce"
label = "MCE"
iterations = 15

[[methods]]
name = "deep-maxent"
iterations = 200

[grid]
seed = [0, 1]

[summary]
metric = "evd"
"""

NAMES = ["0000-MCE-seed=0", "0001-MCE-seed=1", "0002-deep-maxent-seed=0", "0003-deep-maxent-seed=1"]


def write(tmp_path: Path, text: str, name: str = "sweep.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def metrics(out: Path) -> dict[str, dict[str, float]]:
    return {p.parent.name: json.loads(p.read_text())["metrics"] for p in sorted((out / "trials").glob("*/result.json"))}


def starts(out: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in (out / "trials" / name / "attempts.jsonl").read_text().splitlines()]


def cli(*args: str, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    return subprocess.Popen(
        [sys.executable, "-m", "rewardlab.cli", "sweep", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,
    )


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory) -> Path:
    """The sweep run uninterrupted on the local pool (2 workers): the reference of the other tests."""
    tmp = tmp_path_factory.mktemp("local")
    out = tmp / "out"
    status = run_sweep(write(tmp, SWEEP), out, workers=2, progress=False)
    assert status["finished"] == status["total"] == 4 and status["failed"] == 0, status
    return out


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray with 2 CPUs for this module, shut down after (its start-up time printed)."""
    ray = pytest.importorskip("ray")
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    print(f"ray.init(num_cpus=2): {time.perf_counter() - start:.2f} s")
    yield ray
    ray.shutdown()


def test_local_sweep_writes_the_contract_files(local_sweep: Path):
    out = local_sweep
    table = json.loads((out / "trials.json").read_text())
    assert table["metric"] == "evd" and table["higher_is_better"] is False
    assert [t["name"] for t in table["trials"]] == NAMES
    first = table["trials"][0]
    assert first == {
        "name": "0000-MCE-seed=0",
        "dir": "trials/0000-MCE-seed=0",
        "method": "MCE",
        "task": "",
        "seed": 0,
        "overrides": {"learner.name": "mce", "seed": 0},
    }
    assert [t["method"] for t in table["trials"]] == ["MCE", "MCE", "deep-maxent", "deep-maxent"]
    for trial in table["trials"]:
        run = out / trial["dir"]
        result = json.loads((run / "result.json").read_text())
        assert result["seed"] == trial["seed"] and result["label"] == trial["method"]
        assert len(starts(out, trial["name"])) == 1 and not (run / "error.json").exists()
        assert (run / "config.toml").exists() and (run / "metrics.jsonl").exists()
    status = json.loads((out / "status.json").read_text())
    assert (status["finished"], status["failed"], status["total"]) == (4, 0, 4) and status["wall_seconds"] > 0
    assert (out / "sweep.toml").exists()
    # different seeds, different learners: different results (the trials are not copies of one another)
    found = metrics(out)
    assert len({round(m["evd"], 12) for m in found.values()}) == 4


def test_ray_backend_gives_the_same_trials_as_the_local_pool(local_sweep: Path, ray_local, tmp_path: Path):
    out = tmp_path / "out"
    start = time.perf_counter()
    status = run_sweep(write(tmp_path, SWEEP), out, backend="ray", workers=2, progress=False)
    print(
        f"ray sweep of 4 trials: {time.perf_counter() - start:.2f} s, local {json.loads((local_sweep / 'status.json').read_text())['wall_seconds']:.2f} s"
    )
    assert status["finished"] == 4 and status["failed"] == 0, status
    assert metrics(out) == metrics(local_sweep)  # bit-identical per-trial metrics for the same seeds
    assert (out / "trials.json").read_text() == (local_sweep / "trials.json").read_text()
    assert any((out / "ray").iterdir())  # Tune's own files stay under DIR/ray
    assert ray_local.is_initialized()  # a Ray the caller started is left running


def test_killed_sweep_resumes_without_running_a_finished_trial_twice(local_sweep: Path, tmp_path: Path):
    sweep, out = write(tmp_path, SWEEP), tmp_path / "out"
    proc = cli(str(sweep), "--out", str(out), "--workers", "2", start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:  # kill once an MCE trial finished and a deep-maxent one checkpointed
        done = {p.parent.name for p in out.glob("trials/*/result.json")}
        checkpointed = {p.parent.parent.name for p in out.glob("trials/*/checkpoints/step-*.pt")}
        if done and checkpointed - done:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = {p.parent.name for p in out.glob("trials/*/result.json")}
    midway = {p.parent.parent.name for p in out.glob("trials/*/checkpoints/step-*.pt")} - done
    assert 0 < len(done) < 4 and midway, f"the kill came too late or too early: {sorted(done)} finished"

    resumed = cli(str(sweep), "--out", str(out), "--workers", "2", "--resume")
    stdout, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr
    assert f"({len(done)} already finished)" in stdout
    for name in NAMES:
        lines = starts(out, name)
        if name in done:
            assert len(lines) == 1, name  # finished before the kill: never started again
        else:
            assert lines[-1]["resume"] is (len(lines) > 1), name
    for name in midway:  # killed part-way: continued from its checkpoint in the second start
        assert [line["resume"] for line in starts(out, name)] == [False, True], name
    assert metrics(out) == metrics(local_sweep)  # resumed trials end where uninterrupted ones did
    status = json.loads((out / "status.json").read_text())
    assert (status["finished"], status["skipped"], status["failed"]) == (4, len(done), 0)


def test_a_failing_trial_is_retried_once_then_reported_while_the_others_finish(tmp_path: Path):
    text = SWEEP.replace('name = "deep-maxent"\n', 'name = "deep-maxent"\nlabel = "diverges"\nlr = 1e30\n')
    out = tmp_path / "out"
    proc = cli(str(write(tmp_path, text)), "--out", str(out), "--workers", "2")
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1, stdout + stderr
    failed = ["0002-diverges-seed=0", "0003-diverges-seed=1"]
    for name in failed:
        lines = starts(out, name)
        assert [line["attempt"] for line in lines] == [1, 2] and [line["resume"] for line in lines] == [False, True]
        error = json.loads((out / "trials" / name / "error.json").read_text())
        assert error["error"].startswith("NonFiniteError:") and "Traceback" in error["traceback"]
        assert f"failed: {name}: NonFiniteError:" in " ".join(stderr.split())
        assert not (out / "trials" / name / "result.json").exists()
    assert sorted(metrics(out)) == NAMES[:2]
    status = json.loads((out / "status.json").read_text())
    assert (status["finished"], status["failed"], status["total"]) == (2, 2, 4)
    assert sorted(status["errors"]) == failed


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (
            lambda t: t.replace("seed = [0, 1]", 'seed = [0, 1]\n"world.sizee" = [6, 8]'),
            "world.sizee (trial 0000-MCE-world.sizee=6-seed=0)",
        ),
        (lambda t: t.replace("iterations = 200", 'iterations = "many"'), "learner.iterations (trial 0002-deep-maxent-seed=0)"),
        (lambda t: t.replace("seed = [0, 1]", "seed = []"), "grid.seed"),
        (lambda t: t.replace('label = "MCE"', 'label = "deep-maxent"'), "methods[1].label"),
        (lambda t: t.replace("[summary]", "[sumary]"), "sumary"),
        (lambda t: t.replace("seed = [0, 1]", 'seed = [0, 1]\n"learner.name" = ["mce"]'), "grid.learner.name"),
    ],
    ids=["unknown-grid-key", "wrong-type-in-method", "empty-grid-list", "same-label", "unknown-table", "learner-in-grid"],
)
def test_sweep_file_errors_fail_before_any_trial_runs(tmp_path: Path, edit, field: str):
    out = tmp_path / "out"
    with pytest.raises(ConfigError) as caught:
        run_sweep(write(tmp_path, edit(SWEEP)), out, progress=False)
    assert caught.value.field == field
    assert not out.exists()  # nothing written, nothing run


def test_sweep_file_error_on_the_command_line_is_one_line_and_status_2(tmp_path: Path):
    proc = cli(str(write(tmp_path, SWEEP.replace("seed = [0, 1]", "seed = []"))), "--out", str(tmp_path / "out"))
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert stderr.strip().splitlines() == ["error: grid.seed: is an empty list. Fix: give at least one value, e.g. seed = [0, 1]."]


def test_grid_is_the_cartesian_product_and_names_show_only_varying_keys(tmp_path: Path):
    text = SWEEP.replace("seed = [0, 1]", 'seed = [0, 1]\n"data.demos" = [4, 8]\nworld.size = [6]')
    trials = plan_trials(load_sweep(write(tmp_path, text)))
    assert len(trials) == 2 * 2 * 2 == len(expand_grid({"a": [1, 2], "b": [3, 4]})) * 2
    assert trials[1].name == "0001-MCE-data.demos=8-seed=0" and trials[1].task == "data.demos=8"
    assert trials[1].overrides == {"learner.name": "mce", "seed": 0, "data.demos": 8, "world.size": 6}
    assert trials[1].config["data"]["demos"] == 8 and trials[1].config["world"]["size"] == 6
    assert trials[-1].name == "0007-deep-maxent-data.demos=8-seed=1"
    assert len({t.name for t in trials}) == 8
    # the base as a file, relative to the sweep file: the same trials
    head, tail = text.split("[[methods]]", 1)
    (tmp_path / "conf").mkdir()
    write(tmp_path / "conf", head.replace("[base.", "[").replace("[base]\n", ""), "run.toml")
    from_file = plan_trials(load_sweep(write(tmp_path, 'base = "conf/run.toml"\n\n[[methods]]' + tail, "from_file.toml")))
    assert [(t.name, t.config) for t in from_file] == [(t.name, t.config) for t in trials]


def test_resume_refuses_a_changed_sweep_and_a_second_start_needs_resume(local_sweep: Path, tmp_path: Path):
    with pytest.raises(ConfigError, match="already holds a sweep"):
        run_sweep(write(tmp_path, SWEEP), local_sweep, progress=False)
    with pytest.raises(ConfigError, match="differs from the one"):
        run_sweep(write(tmp_path, SWEEP.replace("demos = 4", "demos = 5")), local_sweep, resume=True, progress=False)
    status = run_sweep(write(tmp_path, SWEEP), local_sweep, resume=True, progress=False)  # all finished: nothing runs
    assert (status["finished"], status["skipped"]) == (4, 4)
    assert all(len(starts(local_sweep, n)) == 1 for n in NAMES)


def test_a_killed_worker_process_is_replaced_and_its_trial_continued(local_sweep: Path, tmp_path: Path):
    out = tmp_path / "out"
    victim = out / "trials" / NAMES[2]

    def kill_the_worker_once_it_checkpointed():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not list(victim.glob("checkpoints/step-*.pt")):
            time.sleep(0.02)
        os.kill(starts(out, NAMES[2])[0]["pid"], signal.SIGKILL)

    killer = threading.Thread(target=kill_the_worker_once_it_checkpointed)
    killer.start()
    status = run_sweep(write(tmp_path, SWEEP), out, workers=2, progress=False)
    killer.join()
    assert (status["finished"], status["failed"]) == (4, 0), status
    lines = starts(out, NAMES[2])
    assert [line["resume"] for line in lines] == [False, True] and lines[0]["pid"] != lines[1]["pid"]
    assert metrics(out) == metrics(local_sweep)


def test_the_documented_example_sweep_file_plans_its_twelve_trials(tmp_path: Path):
    import rewardlab.experiments.sweep as sweep_module

    block = sweep_module.__doc__.split("The sweep file")[1].split("::\n")[1].split("That is")[0]
    text = "\n".join(line[4:] for line in block.splitlines())
    trials = plan_trials(load_sweep(write(tmp_path, text)))
    assert len(trials) == 12 and trials[3].name == "0003-MaxEnt-data.demos=8-seed=1"
    assert {t.method for t in trials} == {"MaxEnt", "mce"} and trials[3].config["learner"]["iterations"] == 20
