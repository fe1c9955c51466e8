"""``rewardlab report``: one self-contained page for a run and for a sweep, whose numbers equal the run's
``result.json`` and the sweep's summary, with every figure inlined; a directory that is neither is refused."""

import json
import os
import re
import subprocess
import sys
from html import unescape
from pathlib import Path

import pytest

from rewardlab.errors import ValidationError
from rewardlab.experiments.report import _number, write_report

SWEEP = """
[base.world]
name = "navigation"
layout = "tiny"

[base.data]
demos = 4

[[methods]]
name = "mce"
iterations = 20

[[methods]]
name = "bc"

[grid]
seed = [0, 1]

[summary]
metric = "policy_loss"  # BC learns no reward, so it has no EVD; both have a policy loss
"""


def _cells(page: str, table_class: str) -> list[list[str]]:
    table = re.search(rf"<table class={table_class}>(.*?)</table>", page, flags=re.S)
    assert table, table_class
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1), flags=re.S)[1:]  # without the header
    return [[unescape(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S)] for row in rows]


def test_a_runs_page_shows_its_result_json_numbers_figures_and_config(tmp_path: Path) -> None:
    from rewardlab.experiments.irl import run_irl

    run_irl("maxent", "navigation:layout=tiny", 6, tmp_path / "run")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    done = subprocess.run(
        [sys.executable, "-m", "rewardlab", "report", str(tmp_path / "run")], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    metrics = json.loads((tmp_path / "run" / "result.json").read_text())["metrics"]
    shown = {k: v for k, v in _cells(page, "metrics")}
    assert shown == {k: _number(v) for k, v in metrics.items()}
    for k, v in metrics.items():  # the shown text reads back as the stored number (6 significant digits)
        if isinstance(v, float) and v == v:
            assert float(shown[k]) == pytest.approx(v, rel=1e-5, abs=1e-12)
    pngs = list((tmp_path / "run").glob("*.png"))
    assert pngs and page.count('src="data:image/png;base64,') == len(pngs)
    assert not re.search(r"(?:src|href)=\"(?!data:)", page)  # self-contained: nothing fetched from a file or host


def test_a_sweeps_page_shows_its_summary(tmp_path: Path) -> None:
    from rewardlab.experiments.summarize import summarize
    from rewardlab.experiments.sweep import run_sweep

    (tmp_path / "sweep.toml").write_text(SWEEP)
    run_sweep(tmp_path / "sweep.toml", tmp_path / "sweep", workers=1, progress=False)
    summary = summarize(tmp_path / "sweep")
    page = write_report(tmp_path / "sweep", tmp_path / "page.html").read_text(encoding="utf-8")
    rows = _cells(page, "aggregate")
    assert [r[0] for r in rows] == [r["method"] for r in summary["aggregate"]]
    for shown, row in zip(rows, summary["aggregate"], strict=True):
        assert shown[1:] == [str(row["runs"]), _number(row["iqm"]), f"[{_number(row['iqm_ci'][0])}, {_number(row['iqm_ci'][1])}]",
                             _number(row["mean"]), _number(row["sem"])]  # fmt: skip
    assert len(_cells(page, "per-task")) == len(summary["per_task"])
    pairs = _cells(page, "improvement")  # P(X better than Y) for each ordered pair, as summary.json has it
    assert len(pairs) == len(summary["improvement"]) >= 2
    for shown, row in zip(pairs, summary["improvement"], strict=True):
        assert shown[:4] == [row["x"], row["y"], str(row["tasks"]), _number(row["probability"])]
    assert page.count('src="data:image/png;base64,') == 1  # summary.png


def test_a_directory_that_is_neither_a_run_nor_a_sweep_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"neither result\.json"):
        write_report(tmp_path)
    assert not (tmp_path / "report.html").exists()
