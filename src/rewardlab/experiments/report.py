"""``rewardlab report DIR``: one self-contained HTML page (figures inlined, no file or host fetched when it is
opened) for a run directory or a sweep directory, in the style of ``rewardlab demo``'s report.

* A **run** (``result.json``, from ``rewardlab run``, ``rewardlab irl``, ``rewardlab rlhf``, ...): its learner and
  task, every number of ``result.json["metrics"]`` as written, its warnings, every figure (``*.png``) of the run
  directory, and its ``config.toml``.
* A **sweep** (``trials.json``, from ``rewardlab sweep``): the summary of :func:`rewardlab.experiments.summarize.summarize`
  (read from ``summary.json``, or computed and written when it is missing): per method the IQM with its interval
  and the mean ± SEM, per task and method the same, the trials left out with their reasons, its warnings and
  ``summary.png``.

The page is written next to the data (``DIR/report.html`` by default), atomically.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from rewardlab._io import atomic_write
from rewardlab.errors import DataFileError, ValidationError
from rewardlab.experiments.demo import REPORT_STYLE, _img

__all__ = ["write_report"]


def _number(value: Any) -> str:
    """A metric as the page shows it: up to 6 significant digits, so the page and ``result.json`` agree.

    Examples:
        >>> _number(0.123456789), _number(12), _number(None), _number(float("nan")), _number("text")
        ('0.123457', '12', '–', 'nan', 'text')
    """
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return html.escape(str(value))
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.6g}"


def _ci(interval: Any) -> str:
    return "–" if not interval else f"[{_number(interval[0])}, {_number(interval[1])}]"


def _page(title: str, sub: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
{REPORT_STYLE}</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="sub">{sub}</p>
{body}
</body></html>
"""


def _figures(directory: Path) -> str:
    return "".join(
        f"<figure>{_img(png.read_bytes(), png.stem)}<figcaption>{html.escape(png.name)}</figcaption></figure>"
        for png in sorted(directory.glob("*.png"))
    )


def _read(path: Path) -> dict[str, Any]:
    from rewardlab.experiments.summarize import _read_json

    data = _read_json(path, "rerun or resume the run that writes it")
    if not isinstance(data, dict):
        raise DataFileError(f"{path}: is not a JSON object. Fix: rerun or resume the run that writes it")
    return data


def _run_html(directory: Path) -> str:
    result = _read(directory / "result.json")
    metrics = result.get("metrics")
    if not isinstance(metrics, dict):
        raise DataFileError(f"{directory / 'result.json'}: has no 'metrics' table. Fix: rerun or resume the run")
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_number(v)}</td></tr>" for k, v in metrics.items())
    warnings = "".join(f"<li>{html.escape(str(w))}</li>" for w in result.get("warnings", []) or [])
    config = directory / "config.toml"
    figures = _figures(directory)
    parts = [
        "<h2>Metrics</h2>",
        f"<table class=metrics><thead><tr><th>metric</th><th>value</th></tr></thead><tbody>{rows}</tbody></table>",
        f"<h2>Warnings</h2><ul>{warnings}</ul>" if warnings else "",
        f"<h2>Figures</h2>{figures}" if figures else "",
        f"<h2>Config</h2><pre><code>{html.escape(config.read_text(encoding='utf-8'))}</code></pre>" if config.is_file() else "",
    ]
    task = result.get("env") or result.get("world") or (result.get("config") or {}).get("env", {}).get("id", "")
    learner = result.get("learner", "run")
    sub = f"{html.escape(str(learner))} on {html.escape(str(task))}, seed {html.escape(str(result.get('seed', '–')))}: {html.escape(str(directory))}"
    return _page(f"rewardlab run: {learner}", sub, "".join(parts))


def _sweep_html(directory: Path, metric: str | None) -> str:
    from rewardlab.experiments.summarize import summarize

    path = directory / "summary.json"
    summary = _read(path) if path.is_file() and metric is None else summarize(directory, metric)
    head = "<tr><th>method</th><th>runs</th><th>IQM</th><th>IQM CI</th><th>mean</th><th>SEM</th></tr>"
    aggregate = "".join(
        f"<tr><th>{html.escape(r['method'])}</th><td>{r['runs']}</td><td>{_number(r['iqm'])}</td><td>{_ci(r.get('iqm_ci'))}</td>"
        f"<td>{_number(r['mean'])}</td><td>{_number(r.get('sem'))}</td></tr>"
        for r in summary["aggregate"]
    )
    per_task = "".join(
        f"<tr><th>{html.escape(str(r['task']))}</th><th>{html.escape(r['method'])}</th><td>{r['n']}</td>"
        f"<td>{_number(r['iqm'])}</td><td>{_ci(r.get('iqm_ci'))}</td><td>{_number(r['mean'])}</td><td>{_number(r.get('sem'))}</td></tr>"
        for r in summary["per_task"]
    )
    excluded = "".join(
        f"<tr><th>{html.escape(str(r.get('name', '')))}</th><td>{html.escape(str(r.get('status', '')))}</td>"
        f"<td>{html.escape(str(r.get('reason', '')))}</td></tr>"
        for r in summary.get("excluded", [])
    )
    improvement = "".join(
        f"<tr><th>{html.escape(r['x'])}</th><th>{html.escape(r['y'])}</th><td>{r['tasks']}</td><td>{_number(r['probability'])}</td>"
        f"<td>{_ci(r.get('ci'))}</td><td>{html.escape(str(r.get('reason', '')))}</td></tr>"
        for r in summary.get("improvement", [])
    )
    warnings = "".join(f"<li>{html.escape(str(w))}</li>" for w in summary.get("warnings", []))
    figure = directory / "summary.png"
    parts = [
        f"<h2>Aggregate: {html.escape(summary['metric'])}</h2>",
        f"<table class=aggregate><thead>{head}</thead><tbody>{aggregate}</tbody></table>",
        "<h2>Per task</h2><table class=per-task><thead><tr><th>task</th><th class=name>method</th><th>seeds</th><th>IQM</th><th>IQM CI</th>"
        f"<th>mean</th><th>SEM</th></tr></thead><tbody>{per_task}</tbody></table>",
        "<h2>Probability of improvement</h2><table class=improvement><thead><tr><th>X</th><th class=name>Y</th><th>tasks</th>"
        f"<th>P(X better than Y)</th><th>CI</th><th>note</th></tr></thead><tbody>{improvement}</tbody></table>"
        if improvement
        else "",
        f"{_img(figure.read_bytes(), 'summary')}" if figure.is_file() else "",
        f"<h2>Trials left out</h2><table><tbody>{excluded}</tbody></table>" if excluded else "",
        f"<h2>Warnings</h2><ul>{warnings}</ul>" if warnings else "",
    ]
    level = summary.get("confidence", 0.95)
    sub = (
        f"{len(summary['methods'])} methods on {len(summary['tasks'])} tasks; intervals: {level:.0%} stratified bootstrap "
        f"({summary.get('resamples', '–')} resamples); higher is {'better' if summary['higher_is_better'] else 'worse'}: "
        f"{html.escape(str(directory))}"
    )
    return _page(f"rewardlab sweep: {summary['metric']}", sub, "".join(parts))


def write_report(directory: str | Path, out: str | Path | None = None, *, metric: str | None = None) -> Path:
    """Write the HTML page of a run or sweep directory (module docstring) and return its path.

    Args:
        directory: a run directory (with ``result.json``) or a sweep directory (with ``trials.json``).
        out: the page's path (default ``directory/report.html``).
        metric: a sweep's metric to summarise (default: the sweep's own, or its saved ``summary.json``).

    Raises:
        ValidationError: ``directory`` is neither a run nor a sweep (names what it lacks).
        DataFileError: its ``result.json`` or ``summary.json`` cannot be read.
    """
    directory = Path(directory)
    if (directory / "trials.json").is_file():
        page = _sweep_html(directory, metric)
    elif (directory / "result.json").is_file():
        page = _run_html(directory)
    else:
        raise ValidationError(
            "directory",
            f"{directory} has neither result.json (a run) nor trials.json (a sweep)",
            "give a directory written by rewardlab run, irl, rlhf or sweep (a run not finished yet: resume it first)",
        )
    target = Path(out) if out is not None else directory / "report.html"
    return atomic_write(target, lambda f: f.write(page.encode("utf-8")))
