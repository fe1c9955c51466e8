"""The command line, run for real in a subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path


def run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "rewardlab", *args], capture_output=True, text=True, env=env, timeout=300)


def test_demo_writes_figure_and_summary(tmp_path: Path):
    proc = run("demo", "--out", str(tmp_path / "out"), "--demos", "3")
    assert proc.returncode == 0, proc.stderr
    png = tmp_path / "out" / "demo.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    returns = summary["returns"]
    assert returns["optimal"] >= returns["soft-optimal (MaxEnt, T=1)"] > returns["uniform random"]
    assert len(summary["demos"]) == 3 and "expected return" in proc.stdout
    assert not list((tmp_path / "out").glob(".*tmp"))  # atomic writes leave no temp files


def test_demo_rejects_bad_input(tmp_path: Path):
    proc = run("demo", "--out", str(tmp_path), "--demos", "0")
    assert proc.returncode != 0
    assert "demos" in proc.stderr + proc.stdout


def test_help_lists_demo():
    proc = run("--help")
    assert proc.returncode == 0 and "demo" in proc.stdout
