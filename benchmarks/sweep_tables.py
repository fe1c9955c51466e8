"""Markdown tables of a metric against one grid key (e.g. the number of demonstrations) from a sweep
directory written by ``rewardlab sweep``: one row per method (and per value of other grid keys), one
column per value of the key, each cell the mean ± standard error over the seeds
(``rewardlab.eval.stats.mean_and_sem``). ``rewardlab summarize`` gives the rliable statistics; this
gives the papers' layout. Used by ``rankings.py table`` and ``bayesian_irl.py table``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rewardlab.eval.stats import mean_and_sem


def read_scores(sweep: Path, metric: str) -> list[dict[str, Any]]:
    """``{"method", "seed", "overrides", "value"}`` of every finished trial with a finite ``metric``."""
    scores = []
    for trial in json.loads((sweep / "trials.json").read_text())["trials"]:
        result = sweep / trial["dir"] / "result.json"
        if result.is_file():
            value = json.loads(result.read_text())["metrics"].get(metric)
            if value is not None:
                scores.append({"method": trial["method"], "seed": trial["seed"], "overrides": trial["overrides"], "value": value})
    return scores


def curve_table(
    sweep: Path, metric: str, column: str, *, rows: tuple[str, ...] = (), paper: dict[str, dict[Any, float]] | None = None
) -> str:
    """The table of ``metric`` against the grid key ``column`` (``"data.demos"``); a row per method and per
    value of the grid keys ``rows``; ``paper`` rows (name -> one number per column) follow the row of the
    method of that name (name -> column value -> number)."""
    paper = dict(paper or {})  # each paper row once, after the first row of its method
    scores = read_scores(sweep, metric)
    columns = sorted({s["overrides"][column] for s in scores})
    keys = list(dict.fromkeys((s["method"], *(s["overrides"][k] for k in rows)) for s in scores))
    seeds = len({s["seed"] for s in scores})
    lines = [f"| {metric} ({seeds} seeds, mean ± s.e.) | {' | '.join(map(str, columns))} |", "|---|" + "---|" * len(columns)]
    for key in keys:
        cells = []
        for x in columns:
            values = [
                s["value"] for s in scores if (s["method"], *(s["overrides"][k] for k in rows)) == key and s["overrides"][column] == x
            ]
            cells.append("{:.3f} ± {:.3f}".format(*mean_and_sem(values)) if values else "–")
        name = ", ".join([key[0], *(f"{k}={v}" for k, v in zip(rows, key[1:], strict=True))])
        lines.append(f"| rewardlab {name} | {' | '.join(cells)} |")
        if key[0] in paper:
            numbers = paper.pop(key[0])
            lines.append(f"| paper {key[0]} | {' | '.join(f'{numbers[x]:.3f}' if x in numbers else '–' for x in columns)} |")
    return "\n".join(lines)
