"""The README's two commands exist and CI runs the test one verbatim."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    return re.findall(r"```bash\n(python3 -m venv .*)\n```", (ROOT / "README.md").read_text())


def test_readme_has_install_run_and_install_test_commands():
    commands = readme_commands()
    assert len(commands) == 2
    assert commands[0].endswith("rewardlab demo --out rewardlab-demo")
    assert "pytest" in commands[1] and "-c constraints.txt" in commands[1]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert readme_commands()[1] in ci.splitlines()


def test_constraints_pin_the_cpu_torch():
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text().split()


def readme_examples() -> list[object]:
    """The README's Python examples; those that train PPO are long reproductions (``-m slow``)."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    slow = ("train_policy(", "make_ranked_demos(")
    return [
        pytest.param(block, id=f"example-{i}", marks=[pytest.mark.slow] if any(s in block for s in slow) else [])
        for i, block in enumerate(blocks)
    ]


def _run_example(code: str, cwd: Path) -> str:
    import os
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.parametrize("example", readme_examples())
def test_every_readme_python_example_runs_as_written(example: str, tmp_path: Path) -> None:
    """Each example runs unchanged in a fresh directory and prints what it promises (no NaN, no traceback)."""
    out = _run_example(example, tmp_path)
    assert out.strip() and "nan" not in out.lower().split()


def test_every_readme_toml_block_is_a_valid_run_config_or_sweep(tmp_path: Path) -> None:
    """The README's config examples are checked as `rewardlab run` / `rewardlab sweep` read them."""
    from rewardlab.experiments.config import load_run_config
    from rewardlab.experiments.sweep import load_sweep, plan_trials

    blocks = re.findall(r"```toml\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert len(blocks) >= 2
    for i, block in enumerate(blocks):
        path = tmp_path / f"block{i}.toml"
        path.write_text(block)
        if "[[methods]]" in block:
            trials = plan_trials(load_sweep(path))
            assert len(trials) == 12 and len({t.name for t in trials}) == 12  # as its comment says
        else:
            assert load_run_config(path).learner.name
