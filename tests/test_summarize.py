"""``rewardlab summarize``: a sweep directory built by hand (the layout of contracts section 4) with
known numbers, summarised into summary.md / summary.json / summary.png, checked against values
computed by hand; and the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from rewardlab.cli import app
from rewardlab.errors import ConfigError, DataFileError, ValidationError
from rewardlab.eval.stats import aggregate_iqm, aggregate_mean, probability_of_improvement_ci, stratified_bootstrap_ci
from rewardlab.experiments.summarize import summarize

A, B = "world.size=8", "world.size=16"
#: EVD (lower is better) of each method on each task, seeds 0..3
EVD = {
    ("maxent", A): [0.1, 0.2, 0.3, 0.4],
    ("maxent", B): [1.0, 2.0, 3.0, 10.0],
    ("bc", A): [0.5, 0.6, 0.7, 0.8],
    ("bc", B): [2.0, 4.0, 6.0, 8.0],
}
RESAMPLES = 2000


def _trial(root: Path, method: str, task: str, seed: int, *, evd: float | None = None, extra: dict[str, Any] | None = None) -> dict:
    """One trial entry of trials.json; with ``evd`` its finished run directory too."""
    index = len(list((root / "trials").glob("*"))) if (root / "trials").exists() else 0
    name = f"{index:04d}-{method}-{task}-seed={seed}"
    run_dir = root / "trials" / name
    run_dir.mkdir(parents=True)
    if evd is not None:
        metrics = {"evd": evd, "policy_loss": 2 * evd, **(extra or {})}
        result = {"learner": method, "label": method, "seed": seed, "metrics": metrics, "warnings": [], "fit_seconds": 0.1, "config": {}}
        (run_dir / "result.json").write_text(json.dumps(result))
    overrides = {"learner.name": method, "world.size": int(task.split("=")[1]), "seed": seed} if task else {}
    return {"name": name, "dir": f"trials/{name}", "method": method, "task": task, "seed": seed, "overrides": overrides}


def _write_trials(root: Path, trials: list[dict], **meta: Any) -> Path:
    (root / "trials.json").write_text(json.dumps({"metric": "evd", "higher_is_better": False, **meta, "trials": trials}))
    return root


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """2 methods x 2 tasks x 4 finished seeds, plus a failed trial and one started but not finished."""
    root = tmp_path / "sweep"
    trials = [_trial(root, m, t, s, evd=v) for (m, t), values in EVD.items() for s, v in enumerate(values)]
    failed = _trial(root, "maxent", A, 4)
    (root / failed["dir"] / "error.json").write_text(json.dumps({"error": "RuntimeError: boom\nsecond line", "traceback": "..."}))
    running = _trial(root, "bc", B, 4)
    (root / running["dir"] / "attempts.jsonl").write_text(json.dumps({"attempt": 1, "pid": 1, "time": 0}) + "\n")
    return _write_trials(root, [*trials, failed, running])


def test_summary_numbers_equal_hand_computed_ones(sweep: Path) -> None:
    summary = summarize(sweep, resamples=RESAMPLES)
    assert json.loads((sweep / "summary.json").read_text()) == summary
    assert summary["metric"] == "evd" and summary["higher_is_better"] is False
    assert summary["methods"] == ["maxent", "bc"] and summary["tasks"] == [A, B]
    assert summary["trials"] == {"total": 18, "included": 16, "excluded": 2}

    rows = {(r["method"], r["task"]): r for r in summary["per_task"]}
    # maxent on A: mean 0.25; s^2 = (0.15^2 + 0.05^2) * 2 / 3; IQM of 4 runs drops 1 at each end: (0.2 + 0.3) / 2
    assert rows["maxent", A]["mean"] == pytest.approx(0.25)
    assert rows["maxent", A]["sem"] == pytest.approx(np.sqrt(0.05 / 3) / 2)
    assert rows["maxent", A]["iqm"] == pytest.approx(0.25)
    assert rows["maxent", B]["mean"] == pytest.approx(4.0) and rows["maxent", B]["iqm"] == pytest.approx(2.5)  # (2 + 3) / 2
    assert rows["bc", B]["mean"] == pytest.approx(5.0) and rows["bc", B]["iqm"] == pytest.approx(5.0)  # (4 + 6) / 2
    assert rows["maxent", A]["n"] == 4 and rows["maxent", A]["seeds"] == [0, 1, 2, 3]  # the failed seed 4 is not there
    for (method, task), values in EVD.items():
        expected = stratified_bootstrap_ci(values, aggregate_iqm, resamples=RESAMPLES, rng=np.random.default_rng(0))
        assert rows[method, task]["iqm_ci"] == pytest.approx(list(expected))

    aggregate = {r["method"]: r for r in summary["aggregate"]}
    # maxent pooled: 0.1 0.2 0.3 0.4 1 2 3 10 -> middle four (0.3 + 0.4 + 1 + 2) / 4; mean of task means (0.25 + 4) / 2
    assert aggregate["maxent"]["iqm"] == pytest.approx(0.925) and aggregate["maxent"]["mean"] == pytest.approx(2.125)
    # bc pooled: 0.5 0.6 0.7 0.8 2 4 6 8 -> (0.7 + 0.8 + 2 + 4) / 4; mean (0.65 + 5) / 2
    assert aggregate["bc"]["iqm"] == pytest.approx(1.875) and aggregate["bc"]["mean"] == pytest.approx(2.825)
    # SEM of the mean of task means: sqrt(s_A^2 / 4 + s_B^2 / 4) / 2
    s2 = np.var(EVD["bc", A], ddof=1) / 4 + np.var(EVD["bc", B], ddof=1) / 4
    assert aggregate["bc"]["sem"] == pytest.approx(np.sqrt(s2) / 2)
    assert aggregate["maxent"]["tasks"] == 2 and aggregate["maxent"]["runs"] == 8
    maxent = {A: EVD["maxent", A], B: EVD["maxent", B]}
    rng = np.random.default_rng(0)
    assert aggregate["maxent"]["iqm_ci"] == pytest.approx(list(stratified_bootstrap_ci(maxent, resamples=RESAMPLES, rng=rng)))
    rng = np.random.default_rng(0)
    assert aggregate["maxent"]["mean_ci"] == pytest.approx(
        list(stratified_bootstrap_ci(maxent, aggregate_mean, resamples=RESAMPLES, rng=rng))
    )

    pairs = {(r["x"], r["y"]): r for r in summary["improvement"]}
    # lower EVD is better. Task A: every maxent seed beats every bc seed -> 1. Task B, maxent [1, 2, 3, 10] vs bc
    # [2, 4, 6, 8]: 1 beats 4, 2 beats 3 and ties 1, 3 beats 3, 10 beats none -> 10.5 / 16. Mean (1 + 0.65625) / 2
    assert pairs["maxent", "bc"]["probability"] == pytest.approx(0.828125)
    assert pairs["bc", "maxent"]["probability"] == pytest.approx(0.171875)
    assert pairs["maxent", "bc"]["tasks"] == 2
    negated = {t: -np.array(v) for t, v in maxent.items()}, {t: -np.array(EVD["bc", t]) for t in (A, B)}
    expected = probability_of_improvement_ci(*negated, resamples=RESAMPLES, rng=np.random.default_rng(0))
    assert pairs["maxent", "bc"]["ci"] == pytest.approx(list(expected))
    assert pairs["bc", "maxent"]["ci"] == pytest.approx([1 - expected[1], 1 - expected[0]])

    excluded = {e["name"].split("-", 1)[1]: e for e in summary["excluded"]}
    assert excluded[f"maxent-{A}-seed=4"]["status"] == "failed" and excluded[f"maxent-{A}-seed=4"]["reason"] == "RuntimeError: boom"
    assert excluded[f"bc-{B}-seed=4"] == {
        **excluded[f"bc-{B}-seed=4"],
        "status": "not finished",
        "reason": "started 1 time(s), no result.json",
    }
    assert sum("is not included" in w for w in summary["warnings"]) == 2


def test_summary_markdown_and_figure(sweep: Path) -> None:
    summary = summarize(sweep, resamples=RESAMPLES)
    text = (sweep / "summary.md").read_text()
    assert text.startswith("# evd (lower is better)")
    low, high = summary["aggregate"][0]["iqm_ci"]
    assert f"| maxent | 2 | 8 | 0.925 | [{low:.4g}, {high:.4g}] | 2.125 ± " in text
    p = summary["improvement"][0]
    assert f"| **maxent** | — | 0.83 [{p['ci'][0]:.2f}, {p['ci'][1]:.2f}] |" in text
    assert f"| {A} | maxent | 4 | 0.25 ± 0.06455 | 0.25 |" in text
    assert "## Trials not included" in text and "| failed | RuntimeError: boom |" in text and "| not finished | started 1 time(s)" in text
    png = (sweep / "summary.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert not list(sweep.glob(".*tmp"))  # atomic writes leave no temp files


def test_metric_and_direction_can_be_chosen(sweep: Path) -> None:
    higher = summarize(sweep, higher_is_better=True, resamples=RESAMPLES)
    pairs = {(r["x"], r["y"]): r["probability"] for r in higher["improvement"]}
    assert pairs["maxent", "bc"] == pytest.approx(0.171875)  # higher EVD now counts as better
    assert "# evd (higher is better)" in (sweep / "summary.md").read_text()
    doubled = summarize(sweep, "policy_loss", resamples=RESAMPLES)  # policy_loss = 2 evd in these results
    aggregate = {r["method"]: r for r in doubled["aggregate"]}
    assert doubled["metric"] == "policy_loss" and aggregate["maxent"]["iqm"] == pytest.approx(2 * 0.925)


def test_unknown_metric_names_the_metric_and_the_available_ones(sweep: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        summarize(sweep, "evdd")
    assert str(caught.value).startswith("metric: 'evdd' is not a metric of the sweep's 16 finished trial(s)")
    assert "did you mean 'evd'? use one of evd, policy_loss" in str(caught.value)
    assert not (sweep / "summary.md").exists()


def test_single_seeds_missing_tasks_and_bad_values_are_reported(tmp_path: Path) -> None:
    root = tmp_path / "sweep"
    trials = [
        _trial(root, "maxent", A, 0, evd=1.0),
        _trial(root, "maxent", A, 1, evd=3.0),
        _trial(root, "maxent", B, 0, evd=5.0),
        _trial(root, "bc", A, 0, evd=2.0),  # one seed, one task
        _trial(root, "bc", A, 1, evd=None),  # never started
    ]
    nan_trial = _trial(root, "maxent", B, 1, evd=1.0)
    result_path = root / nan_trial["dir"] / "result.json"
    result = json.loads(result_path.read_text())
    result["metrics"]["evd"] = None  # a non-finite value as rewardlab's strict JSON writes it
    result_path.write_text(json.dumps(result))
    summary = summarize(_write_trials(root, [*trials, nan_trial]), resamples=RESAMPLES)
    rows = {(r["method"], r["task"]): r for r in summary["per_task"]}
    assert rows["bc", A]["sem"] is None and rows["bc", A]["iqm_ci"] is None and "single seed" in rows["bc", A]["iqm_ci_reason"]
    assert rows["maxent", A]["iqm_ci"] is not None and rows["maxent", A]["mean"] == 2.0
    aggregate = {r["method"]: r for r in summary["aggregate"]}
    assert aggregate["maxent"]["iqm_ci"] is None and "single seed" in aggregate["maxent"]["ci_reason"]  # maxent B has 1 seed
    assert aggregate["bc"]["tasks"] == 1
    pair = next(r for r in summary["improvement"] if (r["x"], r["y"]) == ("maxent", "bc"))
    # on their one common task A: maxent [1, 3] vs bc [2], lower better: 1 beats 2, 3 does not -> 0.5; no interval
    assert pair["tasks"] == 1 and pair["probability"] == 0.5 and pair["ci"] is None and "single seed" in pair["reason"]
    statuses = {e["status"]: e["reason"] for e in summary["excluded"]}
    assert statuses == {"not finished": "never started", "no value": "evd is None, not a finite number"}
    assert any(w.startswith(f"method bc has no value on task(s) {B}") for w in summary["warnings"])
    text = (root / "summary.md").read_text()
    assert "## Warnings" in text and "| no value | evd is None, not a finite number |" in text


def test_refusals(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match=r"trials\.json: missing\. Fix: point at a directory written by `rewardlab sweep`"):
        summarize(tmp_path)
    root = tmp_path / "sweep"
    never = _write_trials(root, [_trial(root, "maxent", A, 0)])
    with pytest.raises(ValidationError, match=r"^sweep_dir: .* has no finished trial \(1 trial\(s\): 0 failed, 1 not finished\)"):
        summarize(never)
    (root / "trials.json").write_text(json.dumps({"trials": [{"name": "x", "dir": "trials/x", "method": "m", "task": ""}]}))
    with pytest.raises(DataFileError, match=r"trial 0: has no 'seed'"):
        summarize(root)


def test_a_sweep_without_task_axis(tmp_path: Path) -> None:
    root = tmp_path / "sweep"
    trials = [_trial(root, m, "", s, evd=v) for m, values in {"a": [1.0, 2.0], "b": [3.0, 4.0]}.items() for s, v in enumerate(values)]
    summary = summarize(_write_trials(root, trials, metric="evd", higher_is_better=True), resamples=RESAMPLES)
    assert summary["tasks"] == [""] and summary["higher_is_better"] is True
    assert {(r["x"], r["y"]): r["probability"] for r in summary["improvement"]}["b", "a"] == 1.0
    assert "| (one task) | a | 2 | 1.5 ± 0.5 | 1.5 |" in (root / "summary.md").read_text()


runner = CliRunner()


def test_cli_summarize(sweep: Path) -> None:
    result = runner.invoke(app, ["summarize", str(sweep)])
    assert result.exit_code == 0, result.output
    words = " ".join(result.stdout.split())  # rich wraps long lines at the terminal's width
    assert "evd over 2 task(s) (lower is better)" in words and "│ maxent │ 2 │ 8 │ 0.925 │" in words and "1.875" in words
    assert "warning: trial" in words and "(failed: RuntimeError: boom) is not included" in words
    assert "".join(words.split()).endswith(f"wrote{sweep}/summary.md")
    assert json.loads((sweep / "summary.json").read_text())["resamples"] == 10_000
    result = runner.invoke(app, ["summarize", str(sweep), "--metric", "policy_loss", "--higher-is-better"])
    assert result.exit_code == 0 and "policy_loss over 2 task(s) (higher is better)" in result.stdout
    result = runner.invoke(app, ["summarize", str(sweep), "--metric", "evdd"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: metric: 'evdd' is not a metric of the sweep's 16 finished trial(s). Fix: did you mean 'evd'? use one of evd, policy_loss."
    )


def test_method_names_are_shown_verbatim(tmp_path: Path) -> None:
    """Labels with rich markup brackets or a Markdown pipe reach the table and the file unchanged."""
    root = tmp_path / "sweep"
    labels = {"maxent[lr=0.1]": [1.0, 2.0], "b|c": [3.0, 4.0]}
    trials = [_trial(root, m, "", s, evd=v) for m, values in labels.items() for s, v in enumerate(values)]
    result = runner.invoke(app, ["summarize", str(_write_trials(root, trials))])
    assert result.exit_code == 0, result.output
    assert "│ maxent[lr=0.1] │" in result.stdout and "│ b|c " in result.stdout
    text = (root / "summary.md").read_text()
    assert "| maxent[lr=0.1] | 1 | 2 | 1.5 |" in text and "| **b\\|c** |" in text
