"""``rewardlab summarize SWEEP_DIR``: the statistics of a sweep's finished trials as Markdown tables,
a JSON file and a figure.

It reads the sweep directory written by ``rewardlab sweep`` (``trials.json`` and each trial's
``result.json["metrics"]``), groups one metric's scores by method x task x seed and writes, next to
``trials.json``:

- ``summary.md``: an aggregate table over tasks (IQM with its stratified bootstrap CI, mean ± SEM), the
  probability of improvement between each pair of methods with its CI, a per-task table (seeds,
  mean ± SEM, IQM and its CI) and every trial that is not included (failed, not finished, no value) with
  the reason;
- ``summary.json``: the same numbers (a CI that cannot be computed is ``null`` with a ``*_reason``);
- ``summary.png``: the IQM and its CI per method, and each task's mean ± SEM per method.

The statistics are :mod:`rewardlab.eval.stats` (the rliable definitions). Each interval is drawn with its
own ``numpy.random.default_rng(seed)``, so every number can be recomputed alone. For a metric where lower
is better (EVD, policy loss) the means, IQMs and intervals are in the metric's own units; "improvement"
means a lower value: P(X better than Y) is :func:`~rewardlab.eval.stats.probability_of_improvement` of the
negated scores, P(X < Y) + P(X = Y) / 2.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from rewardlab._io import atomic_write, write_json
from rewardlab._schema import check_meta, did_you_mean
from rewardlab.errors import ConfigError, DataFileError, ValidationError
from rewardlab.eval.stats import (
    aggregate_iqm,
    aggregate_mean,
    iqm,
    mean_and_sem,
    probability_of_improvement,
    probability_of_improvement_ci,
    stratified_bootstrap_ci,
)

__all__ = ["load_trials", "summarize"]

_FROM_SWEEP = "point at a directory written by `rewardlab sweep`"


class _TrialsRequired(TypedDict):
    trials: list[dict[str, Any]]


class _TrialsFile(_TrialsRequired, total=False):
    metric: str
    higher_is_better: bool


class _Trial(TypedDict):
    name: str
    dir: str
    method: str
    task: str
    seed: int


def _read_json(path: Path, fix: str) -> Any:
    """The JSON in ``path``; a missing or unreadable file is a :class:`DataFileError` naming it."""
    if not path.is_file():
        raise DataFileError(f"{path}: missing. Fix: {fix}")
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise DataFileError(f"{path}: not valid JSON ({exc}). Fix: {fix}") from exc


def _fmt(value: float | None) -> str:
    """A number with 4 significant digits; ``—`` for none."""
    return "—" if value is None or not math.isfinite(value) else f"{value:.4g}"


def _ci_text(low: float | None, high: float | None) -> str:
    return "—" if low is None or high is None else f"[{_fmt(low)}, {_fmt(high)}]"


def _pm(mean: float, sem: float | None) -> str:
    return f"{_fmt(mean)} ± {_fmt(sem)}" if sem is not None and math.isfinite(sem) else _fmt(mean)


def _cell(text: str) -> str:
    """``text`` safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _task_label(task: str) -> str:
    return task or "(one task)"


def _interval(
    runs: Sequence[int], compute: Callable[..., tuple[float, float]], *args: Any, **kwargs: Any
) -> tuple[float | None, float | None, str | None]:
    """``(low, high, None)`` of ``compute(*args, **kwargs)``, or ``(None, None, reason)`` when a task has a single
    seed (``runs``: the seed counts; a bootstrap over seeds has nothing to resample)."""
    if min(runs) < 2:
        return None, None, "a task has a single seed: a bootstrap over seeds needs at least 2"
    low, high = compute(*args, **kwargs)
    return low, high, None


def load_trials(sweep_dir: str | os.PathLike[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A sweep directory's ``trials.json``, checked, and each trial (``name``, ``dir``, ``method``, ``task``,
    ``seed``, ``overrides``) with its ``run_dir`` and ``result`` (the ``result.json`` content, or None while the
    trial is unfinished): what ``rewardlab summarize`` and the benchmark scripts read."""
    sweep_dir = Path(sweep_dir)
    where = sweep_dir / "trials.json"
    meta = check_meta(_read_json(where, _FROM_SWEEP), _TrialsFile, str(where), f"rerun `rewardlab sweep` into {sweep_dir}")
    trials = []
    for index, raw in enumerate(meta["trials"]):
        trial = check_meta(
            raw, _Trial, f"{where}: trial {index}", "rerun `rewardlab sweep` (the file lists each trial's name, dir, method, task, seed)"
        )
        run_dir = sweep_dir / trial["dir"]
        result = None
        if (run_dir / "result.json").is_file():
            result = _read_json(run_dir / "result.json", f"remove {run_dir} and resume the sweep to rerun the trial")
            if not isinstance(result, dict) or not isinstance(result.get("metrics"), dict):
                raise DataFileError(
                    f"{run_dir / 'result.json'}: has no 'metrics' object. Fix: remove {run_dir} and resume the sweep to rerun the trial"
                )
        trials.append({**trial, "run_dir": run_dir, "result": result})
    return meta, trials


def _unfinished_reason(run_dir: Path) -> tuple[str, str]:
    """``(status, reason)`` of a trial without ``result.json``: its error if it failed, else how often it started."""
    error_path = run_dir / "error.json"
    if error_path.is_file():
        try:
            error = json.loads(error_path.read_text(encoding="utf-8")).get("error", "no message")
        except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            error = "error.json is unreadable"
        return "failed", str(error).splitlines()[0] if str(error) else "no message"
    attempts = run_dir / "attempts.jsonl"
    started = len(attempts.read_text(encoding="utf-8").splitlines()) if attempts.is_file() else 0
    return "not finished", (f"started {started} time(s), no result.json" if started else "never started")


def summarize(
    sweep_dir: str | Path,
    metric: str | None = None,
    *,
    higher_is_better: bool | None = None,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> dict[str, Any]:
    """Summarise a sweep's finished trials; write ``summary.md``, ``summary.json`` and ``summary.png`` into it.

    Args:
        sweep_dir: a directory written by ``rewardlab sweep`` (``trials.json``, ``trials/<name>/result.json``).
        metric: the ``result.json["metrics"]`` entry to compare (default: ``trials.json["metric"]``, else the
            first metric of the first finished trial).
        higher_is_better: whether larger values are better (default: ``trials.json["higher_is_better"]``, else
            False, as for EVD). Only the probability of improvement depends on it.
        confidence: the level of every interval.
        resamples: bootstrap resamples per interval.
        seed: each interval is drawn with ``numpy.random.default_rng(seed)``.

    Returns:
        The content of ``summary.json``: ``metric``, ``higher_is_better``, ``methods``, ``tasks``, ``per_task``
        (one row per method and task), ``aggregate`` (one row per method), ``improvement`` (one row per
        ordered pair of methods), ``excluded`` (trials not included, with ``status`` and ``reason``) and
        ``warnings``.

    Raises:
        DataFileError: ``trials.json`` or a ``result.json`` is missing a required key or is not JSON.
        ConfigError: ``metric`` is not in any finished trial's metrics (the message lists those that are).
        ValidationError: no trial has finished.
    """
    sweep_dir = Path(sweep_dir)
    meta, trials = load_trials(sweep_dir)
    finished = [t for t in trials if t["result"] is not None]
    excluded: list[dict[str, Any]] = []
    for trial in trials:
        if trial["result"] is None:
            status, why_not = _unfinished_reason(trial["run_dir"])
            excluded.append({"name": trial["name"], "dir": trial["dir"], "status": status, "reason": why_not})
    if not finished:
        counts = f"{sum(e['status'] == 'failed' for e in excluded)} failed, {sum(e['status'] != 'failed' for e in excluded)} not finished"
        raise ValidationError(
            "sweep_dir",
            f"{sweep_dir} has no finished trial ({len(trials)} trial(s): {counts})",
            "finish the sweep with `rewardlab sweep SWEEP.toml --out DIR --resume`; a failed trial's error is in its error.json",
        )
    available = sorted({name for t in finished for name in t["result"]["metrics"]})
    metric = metric or meta.get("metric") or next(iter(finished[0]["result"]["metrics"]), None)
    if metric is None or metric not in available:
        raise ConfigError(
            "metric",
            f"{metric!r} is not a metric of the sweep's {len(finished)} finished trial(s)",
            f"{did_you_mean(str(metric), available)}use one of {', '.join(available) or '(none: the results hold no metrics)'}",
        )
    better_higher = bool(meta.get("higher_is_better", False)) if higher_is_better is None else higher_is_better

    scores: dict[str, dict[str, dict[int, float]]] = {}
    owner: dict[tuple[str, str, int], str] = {}
    methods: list[str] = []
    tasks: list[str] = []
    for trial in trials:  # the sweep's order of methods and tasks, including those with no finished trial
        methods += [trial["method"]] if trial["method"] not in methods else []
        tasks += [trial["task"]] if trial["task"] not in tasks else []
    for trial in finished:
        value = trial["result"]["metrics"].get(metric)
        reason: str | None = None
        if metric not in trial["result"]["metrics"]:
            reason = f"its result has no {metric!r}"
        elif value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            reason = f"{metric} is {value!r}, not a finite number"
        if reason is not None:
            excluded.append({"name": trial["name"], "dir": trial["dir"], "status": "no value", "reason": reason})
            continue
        key = (trial["method"], trial["task"], trial["seed"])
        if key in owner:
            raise DataFileError(
                f"{sweep_dir / 'trials.json'}: trials {owner[key]!r} and {trial['name']!r} are both method {key[0]!r}, "
                f"task {key[1]!r}, seed {key[2]}. Fix: give each grid point its own task (rerun `rewardlab sweep`)"
            )
        owner[key] = trial["name"]
        scores.setdefault(trial["method"], {}).setdefault(trial["task"], {})[trial["seed"]] = float(value)
    if not scores:
        raise ValidationError(
            "sweep_dir", f"none of the {len(finished)} finished trial(s) has a finite {metric!r}", "see the trials' result.json files"
        )

    def values(method: str, task: str) -> np.ndarray:
        by_seed = scores[method][task]
        return np.array([by_seed[s] for s in sorted(by_seed)])

    def draw() -> np.random.Generator:
        return np.random.default_rng(seed)

    options: dict[str, Any] = {"confidence": confidence, "resamples": resamples}
    warnings = [f"trial {e['name']} ({e['status']}: {e['reason']}) is not included" for e in excluded]

    per_task = []
    for task in tasks:
        for method in methods:
            if task not in scores.get(method, {}):
                continue
            x = values(method, task)
            mean, sem = mean_and_sem(x)
            low, high, why = _interval([len(x)], stratified_bootstrap_ci, x, aggregate_iqm, rng=draw(), **options)
            per_task.append(
                {
                    "method": method,
                    "task": task,
                    "n": len(x),
                    "seeds": sorted(scores[method][task]),
                    "mean": mean,
                    "sem": sem if math.isfinite(sem) else None,
                    "iqm": iqm(x),
                    "iqm_ci": [low, high] if why is None else None,
                    **({"iqm_ci_reason": why} if why else {}),
                }
            )

    aggregate = []
    for method in methods:
        if method not in scores:
            warnings.append(f"method {method} has no finished trial with a value: it is left out of every table")
            continue
        covered = {task: values(method, task) for task in tasks if task in scores[method]}
        if len(covered) < len(tasks):
            missing = ", ".join(_task_label(t) for t in tasks if t not in covered)
            warnings.append(f"method {method} has no value on task(s) {missing}: its aggregate covers {len(covered)} of {len(tasks)} tasks")
        runs = [len(v) for v in covered.values()]
        if min(runs) < 2:
            warnings.append(f"method {method} has a single seed on some task: no standard error and no confidence interval")
        mean, sem = mean_and_sem(covered)
        iqm_low, iqm_high, why = _interval(runs, stratified_bootstrap_ci, covered, aggregate_iqm, rng=draw(), **options)
        mean_low, mean_high, _ = _interval(runs, stratified_bootstrap_ci, covered, aggregate_mean, rng=draw(), **options)
        aggregate.append(
            {
                "method": method,
                "tasks": len(covered),
                "runs": sum(runs),
                "iqm": iqm(covered),
                "iqm_ci": [iqm_low, iqm_high] if why is None else None,
                "mean": mean,
                "sem": sem if math.isfinite(sem) else None,
                "mean_ci": [mean_low, mean_high] if why is None else None,
                **({"ci_reason": why} if why else {}),
            }
        )

    sign = 1.0 if better_higher else -1.0
    improvement = []
    present = [m for m in methods if m in scores]
    for i, x_method in enumerate(present):
        for y_method in present[i + 1 :]:
            common = [t for t in tasks if t in scores[x_method] and t in scores[y_method]]
            row: dict[str, Any] = {"x": x_method, "y": y_method, "tasks": len(common)}
            if not common:
                improvement += [{**row, "probability": None, "ci": None, "reason": "no task with values for both"}]
                improvement += [
                    {**row, "x": y_method, "y": x_method, "probability": None, "ci": None, "reason": "no task with values for both"}
                ]
                continue
            xs = {t: sign * values(x_method, t) for t in common}
            ys = {t: sign * values(y_method, t) for t in common}
            p = probability_of_improvement(xs, ys)
            low, high, why = _interval(
                [len(v) for v in (*xs.values(), *ys.values())], probability_of_improvement_ci, xs, ys, rng=draw(), **options
            )
            extra = {"reason": why} if why else {}
            # P(Y better than X) = 1 - P(X better than Y), and the percentile interval mirrors with it
            improvement.append({**row, "probability": p, "ci": None if why else [low, high], **extra})
            mirrored = None if why or low is None or high is None else [1.0 - high, 1.0 - low]
            improvement.append({**row, "x": y_method, "y": x_method, "probability": 1.0 - p, "ci": mirrored, **extra})

    summary: dict[str, Any] = {
        "sweep_dir": str(sweep_dir),
        "metric": metric,
        "higher_is_better": better_higher,
        "confidence": confidence,
        "resamples": resamples,
        "seed": seed,
        "methods": present,
        "tasks": tasks,
        "trials": {"total": len(trials), "included": sum(len(s) for m in scores.values() for s in m.values()), "excluded": len(excluded)},
        "per_task": per_task,
        "aggregate": aggregate,
        "improvement": improvement,
        "excluded": excluded,
        "warnings": warnings,
    }
    atomic_write(sweep_dir / "summary.md", lambda f: f.write(_markdown(summary).encode("utf-8")))
    write_json(sweep_dir / "summary.json", summary)
    figure = _figure(summary)
    atomic_write(sweep_dir / "summary.png", lambda f: f.write(figure))
    return summary


def _markdown(summary: dict[str, Any]) -> str:
    """``summary.md``: aggregate, probability of improvement, per task, trials not included."""
    metric, level = summary["metric"], f"{summary['confidence']:.0%}"
    direction = "higher is better" if summary["higher_is_better"] else "lower is better"
    counts = summary["trials"]
    lines = [
        f"# {metric} ({direction})",
        "",
        f"Sweep `{summary['sweep_dir']}`: {counts['total']} trials, {counts['included']} included, {counts['excluded']} not included"
        + (" (listed at the end)." if counts["excluded"] else "."),
        f"Intervals: {level} stratified bootstrap (percentile, {summary['resamples']} resamples of the seeds within each task, "
        f"rng seed {summary['seed']}); IQM: the mean of the middle 50% of all runs of all tasks pooled "
        "(Agarwal et al. 2021, Deep RL at the Edge of the Statistical Precipice).",
        "",
        "## Aggregate over tasks",
        "",
        f"| method | tasks | runs | IQM | IQM {level} CI | mean ± SEM | mean {level} CI |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in summary["aggregate"]:
        iqm_ci, mean_ci = row["iqm_ci"] or [None, None], row["mean_ci"] or [None, None]
        lines.append(
            f"| {_cell(row['method'])} | {row['tasks']} | {row['runs']} | {_fmt(row['iqm'])} | {_ci_text(*iqm_ci)} "
            f"| {_pm(row['mean'], row['sem'])} | {_ci_text(*mean_ci)} |"
        )
    methods = summary["methods"]
    if len(methods) > 1:
        better = "higher" if summary["higher_is_better"] else "lower"
        lines += [
            "",
            "## Probability of improvement",
            "",
            f"P(row better than column): the chance that a seed of the row's method scores a {better} {metric} than a seed of "
            f"the column's on the same task (ties count half), averaged over the tasks both have; {level} CI in brackets.",
            "",
            "| | " + " | ".join(map(_cell, methods)) + " |",
            "|---|" + "---:|" * len(methods),
        ]
        table = {(row["x"], row["y"]): row for row in summary["improvement"]}
        for x in methods:
            cells = []
            for y in methods:
                row = table.get((x, y))
                if row is None or row["probability"] is None:
                    cells.append("—")
                else:
                    cells.append(f"{row['probability']:.2f}" + (f" [{row['ci'][0]:.2f}, {row['ci'][1]:.2f}]" if row["ci"] else ""))
            lines.append(f"| **{_cell(x)}** | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Per task",
        "",
        f"| task | method | seeds | mean ± SEM | IQM | IQM {level} CI |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in summary["per_task"]:
        ci = row["iqm_ci"] or [None, None]
        lines.append(
            f"| {_cell(_task_label(row['task']))} | {_cell(row['method'])} | {row['n']} | {_pm(row['mean'], row['sem'])} "
            f"| {_fmt(row['iqm'])} | {_ci_text(*ci)} |"
        )
    if summary["excluded"]:
        lines += ["", "## Trials not included", "", "| trial | status | reason |", "|---|---|---|"]
        for row in summary["excluded"]:
            lines.append(f"| {_cell(row['name'])} | {row['status']} | {_cell(str(row['reason']))} |")
    others = [w for w in summary["warnings"] if not w.startswith("trial ")]
    if others:
        lines += ["", "## Warnings", "", *[f"- {w}" for w in others]]
    return "\n".join(lines) + "\n"


def _figure(summary: dict[str, Any]) -> bytes:
    """``summary.png``: the IQM with its CI per method (left) and each task's mean ± SEM per method (right)."""
    from matplotlib.figure import Figure

    methods, tasks, metric = summary["methods"], summary["tasks"], summary["metric"]
    labels = [_task_label(t) for t in tasks]
    many = len(tasks) > 4  # then the task names stand upright under their points, in a smaller font
    room = 0.075 * max((len(label) for label in labels), default=0) if many else 0.0  # inches for upright names
    figure = Figure(figsize=(11 + 0.15 * max(len(tasks) - 12, 0), 0.6 * len(methods) + 2.6 + room))
    left, right = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.4]})
    colours = [f"C{i % 10}" for i in range(len(methods))]
    for position, row in enumerate(summary["aggregate"]):
        colour = colours[methods.index(row["method"])]
        if row["iqm_ci"]:
            left.hlines(position, *row["iqm_ci"], color=colour, linewidth=8, alpha=0.45)
        left.plot([row["iqm"]], [position], "|", color="black", markersize=16)
    left.set_yticks(range(len(summary["aggregate"])), [row["method"] for row in summary["aggregate"]])
    left.set_ylim(len(summary["aggregate"]) - 0.5, -0.5)  # the first method on top
    direction = "higher" if summary["higher_is_better"] else "lower"
    left.set_xlabel(f"IQM of {metric} ({direction} is better)")
    left.set_title(f"IQM over all tasks, {summary['confidence']:.0%} stratified bootstrap CI", fontsize=10)
    width = 0.8 / max(len(methods), 1)
    rows = {(row["method"], row["task"]): row for row in summary["per_task"]}
    for m, method in enumerate(methods):
        xs, ys, errs = [], [], []
        for t, task in enumerate(tasks):
            row = rows.get((method, task))
            if row is not None:
                xs.append(t - 0.4 + width * (m + 0.5))
                ys.append(row["mean"])
                errs.append(row["sem"] if row["sem"] is not None else 0.0)
        right.errorbar(xs, ys, yerr=errs, fmt="o", color=colours[m], capsize=3, label=method)
    right.set_xticks(range(len(tasks)), labels, rotation=90 if many else 0, fontsize=7 if many else None)
    right.set_ylabel(metric)
    right.set_title("per task: mean ± SEM over seeds", fontsize=10)
    right.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
