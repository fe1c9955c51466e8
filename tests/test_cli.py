"""The command line, run for real in a subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch


def run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "rewardlab", *args], capture_output=True, text=True, env=env, timeout=300)


def test_demo_writes_report_figure_and_summary(tmp_path: Path):
    proc = run("demo", "--out", str(tmp_path / "out"), "--demos", "5")
    assert proc.returncode == 0, proc.stderr
    png = tmp_path / "out" / "demo.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    returns = summary["returns"]
    assert returns["optimal"] >= returns["soft-optimal (MaxEnt, T=1)"] > returns["uniform random"]
    assert summary["seconds"] > 0 and "expected true return" in proc.stdout  # its time (target 60 s): benchmarks/cli_demo.py
    methods = summary["methods"]
    assert {"mce", "deep-maxent"} <= set(methods)
    for name, row in methods.items():
        assert row["metrics"]["agreement_on_demo_states"] >= 0.8, name
    page = (tmp_path / "out" / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 + len(methods) and "<table>" in page  # world, learners, posterior
    bayes = summary["bayesian"]
    assert "How sure can we be?" in page and bayes["rhat_max"] < 1.5 and bayes["evd_var_0.95"] >= 0
    assert bayes["sufficiency"]["demos"][-1] == 5 and len(bayes["sufficiency"]["bound"]) == len(bayes["sufficiency"]["demos"])
    # no verdict from chains that have not mixed: the report and summary.json say so instead
    unmixed = bayes["rhat_max"] > 1.01
    assert any("have not mixed" in w for w in summary["warnings"]) == unmixed
    assert ("R-hat above 1.01" in page) == unmixed
    verdicts = bayes["sufficiency"]["sufficient"] + bayes["sufficiency"]["sufficient_from_every_cell"]
    assert all(v in (True, False, None) for v in verdicts)
    assert any("undetermined" in w for w in summary["warnings"]) == (None in verdicts)
    assert not list((tmp_path / "out").glob(".*tmp"))  # atomic writes leave no temp files


def test_demo_rejects_bad_input(tmp_path: Path):
    proc = run("demo", "--out", str(tmp_path), "--demos", "0")
    assert proc.returncode != 0
    assert "demos" in proc.stderr + proc.stdout


def test_help_lists_demo():
    proc = run("--help")
    assert proc.returncode == 0 and "demo" in proc.stdout


def test_irl_command_writes_result_reward_and_figures(tmp_path: Path):
    out = tmp_path / "run"
    proc = run("irl", "mce", "--world", "navigation:layout=tiny", "--demos", "20", "--out", str(out), "--set", "iterations=80")
    assert proc.returncode == 0, proc.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["method"] == "mce" and result["demos"] == 20 and result["info"]["iterations"] <= 80
    assert result["metrics"]["agreement_on_demo_states"] >= 0.95
    from rewardlab.eval import expected_value_difference
    from rewardlab.mdp.worlds import navigation_gridworld

    world = navigation_gridworld("tiny")
    # demos cover only the start cell's route, so the EVD from uniform starts is not 0, but far below a blank reward's
    assert result["metrics"]["evd"] < 0.5 * expected_value_difference(world.mdp, world.reward, torch.zeros(9))
    assert (out / "reward" / "reward.safetensors").is_file() and (out / "figures.png").stat().st_size > 10_000

    from rewardlab.rewards import TabularReward

    assert TabularReward.load(out / "reward").values.shape == (9,)


def test_irl_deep_maxent_result_json_holds_its_feature_scaling_as_numbers(tmp_path: Path):
    out = tmp_path / "deep"
    sets = ["iterations=20", "input_l1=0.01"]
    proc = run(
        "irl",
        "deep-maxent",
        "--world",
        "objectworld:size=8,seed=0",
        "--demos",
        "8",
        "--out",
        str(out),
        *[x for s in sets for x in ("--set", s)],
    )
    assert proc.returncode == 0, proc.stderr
    info = json.loads((out / "result.json").read_text())["info"]
    assert info["config"]["input_l1"] == 0.01
    scaling = info["feature_scaling"]  # 4 distance features: the quantile map's centre and scale, and its 4 x 64 reference
    assert scaling["kind"] == "quantile" and scaling["mean"] == [0.5] * 4 and len(scaling["reference"]) == 4
    assert "..." not in (out / "result.json").read_text()  # no truncated tensor reprs


def test_irl_command_errors_name_the_option(tmp_path: Path):
    proc = run("irl", "nonsense", "--out", str(tmp_path))
    assert proc.returncode == 2 and "method" in proc.stderr and "Traceback" not in proc.stderr + proc.stdout
    proc = run("irl", "mce", "--out", str(tmp_path), "--set", "iterations")
    assert proc.returncode == 2 and "--set" in proc.stderr
    proc = run("irl", "bc", "--out", str(tmp_path), "--set", "reward=state")
    assert proc.returncode == 2 and "reward: is not a setting of bc" in proc.stderr


def test_irl_birl_writes_the_posterior_and_its_diagnostics(tmp_path: Path):
    out = tmp_path / "birl"
    args = ["--world", "featuregrid:size=5,seed=1", "--demos", "10", "--out", str(out)]
    sets = ["prior=sphere", "beta=50", "samples=800", "burn_in=200", "thin=1", "chains=2", "step_size=0.05"]
    proc = run("irl", "birl", *args, *[x for s in sets for x in ("--set", s)])
    assert proc.returncode == 0, proc.stderr
    result = json.loads((out / "result.json").read_text())
    post = result["posterior"]
    assert post["samples"] == [2, 800, 4] and 0 < post["acceptance"] < 1
    assert result["metrics"]["policy_loss"] < 0.05 and result["metrics"]["agreement_on_demo_states"] >= 0.95
    if post["sufficient"] is None:  # 2 short chains may not mix: then no verdict, a reason and a printed warning
        assert post["sufficient_reason"] and post["sufficiency_bound"] is None and post["evd_var_0.95"] is None
        assert result["warnings"] and "warning:" in proc.stdout
    else:
        assert post["sufficiency_bound"] >= 0 and post["evd_var_0.95"] >= 0
    assert (out / "trace.png").stat().st_size > 10_000 and "posterior" in proc.stdout

    from rewardlab.irl.posterior import RewardPosterior
    from rewardlab.mdp.worlds import feature_gridworld

    assert RewardPosterior.load(out / "posterior", feature_gridworld(5, seed=1).mdp).samples.shape == (2, 800, 4)
