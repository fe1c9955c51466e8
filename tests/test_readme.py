"""The README's two commands exist and CI runs the test one verbatim."""

import re
from pathlib import Path

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
