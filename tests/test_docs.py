"""The documentation site (mkdocs.yml, docs/): it builds with warnings as errors (broken internal links and
anchors included), every Python example on its pages runs and passes its own assertions, and the built pages
fetch nothing from another host (the site is read offline)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import headless_chromium, needs_chromium

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").rglob("*.md"))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site built with ``mkdocs build --strict`` (any warning, a broken link or anchor included, fails it)."""
    out = tmp_path_factory.mktemp("docs") / "site"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", PYTHONPATH=str(ROOT / "src"))
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    return out


def test_the_site_builds_strictly_and_fetches_nothing_from_elsewhere(site: Path) -> None:
    for page in (
        "index.html",
        "architecture/index.html",
        "cli/index.html",
        "methods/sample-based-and-adversarial/index.html",
        "api/adversarial/index.html",
    ):
        assert (site / page).is_file(), page
    api = (site / "api" / "adversarial" / "index.html").read_text(encoding="utf-8")
    assert "AIRLConfig" in api and "disc_replay" in api  # the reference is generated from the docstrings
    import typer

    from rewardlab.cli import app

    cli = (site / "cli" / "index.html").read_text(encoding="utf-8")
    top = typer.main.get_command(app)
    for name in top.commands:  # every command, and the options' help as the code gives it
        assert f"rewardlab {name}" in cli, name
    assert "minari:DATASET_ID" in cli and "--demos" in cli
    external = re.compile(r"<(?:script|link|img)[^>]+(?:src|href)=\"(?:https?:)?//")
    for html in site.rglob("*.html"):
        assert not external.search(html.read_text(encoding="utf-8")), f"{html} loads a resource from another host"


def _examples() -> list[tuple[str, str]]:
    out = []
    for page in PAGES:
        for i, block in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)):
            out.append((f"{page.relative_to(ROOT / 'docs')}#{i}", block))
    return out


@pytest.mark.parametrize(("where", "code"), _examples(), ids=[w for w, _ in _examples()])
def test_every_python_example_on_the_site_runs(where: str, code: str, tmp_path: Path) -> None:
    assert "assert " in code, f"{where}: an example checks its own output with an assert"
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg", PYTHONPATH=str(ROOT / "src"))
    ran = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert ran.returncode == 0, f"{where}:\n{ran.stderr}"


@needs_chromium
def test_the_index_and_a_method_page_render_in_headless_chromium(site: Path, tmp_path: Path) -> None:
    """The built site served by a real HTTP server process and opened in Debian's chromium: each page has its
    title and a figure or code block that rendered, and the console has no error; screenshots are saved."""
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(site)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        browser = headless_chromium("1280,900", console=True)
        driver = next(browser)
        try:
            pages = {
                "index": ("", "rewardlab", "img"),
                "method": ("methods/sample-based-and-adversarial/", "Sample-based and adversarial IRL", "pre code"),
            }
            for name, (path, title, selector) in pages.items():
                driver.get(f"http://127.0.0.1:{port}/{path}")
                assert title in driver.title
                shown = driver.find_elements("css selector", f"article {selector}")
                assert shown and all(e.is_displayed() for e in shown[:1])
                if selector == "img":  # the figure loaded: a decoded image has a natural width
                    assert driver.execute_script("return arguments[0].naturalWidth", shown[0]) > 100
                errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
                assert not errors, errors
                driver.save_screenshot(str(tmp_path / f"docs_{name}.png"))
                assert (tmp_path / f"docs_{name}.png").stat().st_size > 10_000
        finally:
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
