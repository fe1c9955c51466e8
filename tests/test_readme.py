"""The README's two commands exist, CI runs the test one verbatim, and its links hold."""

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


def test_the_readme_links_only_to_files_that_exist() -> None:
    """The README is the front page: its method table and links point into docs/ and benchmarks/, and a renamed
    page must not leave a dead link there (the site's own links are checked by its strict build)."""
    text = (ROOT / "README.md").read_text()
    links = [link.split("#")[0] for link in re.findall(r"\]\(([^)]+)\)", text) if not link.startswith("http")]
    assert len(links) >= 15
    for link in links:
        assert (ROOT / link).exists(), link
    methods = re.findall(r"\]\(docs/methods/([a-z-]+)\.md\)", text)
    assert sorted(set(methods)) == sorted(p.stem for p in (ROOT / "docs" / "methods").glob("*.md"))  # every method page
