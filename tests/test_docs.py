"""The documentation site (mkdocs.yml, docs/): it builds with warnings as errors (broken internal links and
anchors included), every Python example on its pages runs and passes its own assertions, every TOML block is a
config that `rewardlab run` / `rewardlab sweep` accept, and the built pages fetch nothing from another host (the
site is read offline)."""

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
    for page in PAGES:  # every page of docs/ is built (hooks.py is not a page)
        html = page.relative_to(ROOT / "docs").with_suffix("")
        assert (site / ("index.html" if html.name == "index" else f"{html}/index.html")).is_file(), page
    import importlib

    sys.path.insert(0, str(ROOT / "docs"))
    try:
        hooks = importlib.import_module("hooks")
    finally:
        sys.path.remove(str(ROOT / "docs"))
    for modules in hooks.API_MODULES.values():  # one API page per module, rendered from its docstrings
        for module in modules:
            api = site / "api" / module.removeprefix("rewardlab.") / "index.html"
            assert api.is_file(), module
            text = api.read_text(encoding="utf-8")
            assert module in text, module
            assert not re.search(r":(func|class|meth|mod|data|attr):<code>", text), f"{module}: a Sphinx role shown as text"
    adversarial = (site / "api" / "irl.adversarial" / "index.html").read_text(encoding="utf-8")
    assert "AIRLConfig" in adversarial and "disc_replay" in adversarial
    results = (site / "benchmarks" / "RESULTS" / "index.html").read_text(encoding="utf-8")  # the results file, as it is
    assert "GAIL and AIRL against imitation 1.0.1" in results and (site / "benchmarks" / "objectworld" / "objectworld.png").is_file()
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


def _blocks(language: str) -> list[tuple[str, str]]:
    out = []
    for page in PAGES:
        for i, block in enumerate(re.findall(rf"```{language}\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)):
            out.append((f"{page.relative_to(ROOT / 'docs')}#{i}", block))
    return out


def _examples() -> list[object]:
    """The site's Python examples; those that train PPO to the end are long reproductions (``-m slow``)."""
    slow = ("train_policy(", "make_ranked_demos(")
    return [
        pytest.param(where, code, id=where, marks=[pytest.mark.slow] if any(s in code for s in slow) else [])
        for where, code in _blocks("python")
    ]


@pytest.mark.parametrize(("where", "code"), _examples())
def test_every_python_example_on_the_site_runs(where: str, code: str, tmp_path: Path) -> None:
    assert "assert " in code, f"{where}: an example checks its own output with an assert"
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg", PYTHONPATH=str(ROOT / "src"))
    ran = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=1800, env=env)
    assert ran.returncode == 0, f"{where}:\n{ran.stderr}"
    assert ran.stdout.strip() and "nan" not in ran.stdout.lower().split(), f"{where} prints what it promises, no NaN"


def test_every_toml_block_on_the_site_is_a_valid_run_config_or_sweep(tmp_path: Path) -> None:
    """The config examples are read as `rewardlab run` / `rewardlab sweep` read them."""
    from rewardlab.experiments.config import load_run_config
    from rewardlab.experiments.sweep import load_sweep, plan_trials

    blocks = _blocks("toml")
    assert len(blocks) >= 2
    for i, (where, block) in enumerate(blocks):
        path = tmp_path / f"block{i}.toml"
        path.write_text(block)
        if "[[methods]]" in block:
            trials = plan_trials(load_sweep(path))
            assert len(trials) == 12 and len({t.name for t in trials}) == 12, where  # as its comment says
        else:
            assert load_run_config(path).learner.name, where


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
                "maxent": ("methods/maxent/", "MaxEnt", "img"),
                "labelling": ("labelling-app/", "labelling app", "img"),
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
