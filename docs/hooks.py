"""MkDocs hooks: the pages generated from the code at build time, so they are never out of date.

- The command-line reference (docs/cli.md): the Typer app's own help text, each command's docstring and each
  option's help, type and default.
- The API reference: one page per module of :data:`API_MODULES`, rendered from its docstrings by mkdocstrings,
  listed in the navigation under "API reference".
- The docstrings' Sphinx roles (``:func:`name```, ``:class:`~pkg.Name```), which the Google-style renderer
  leaves as text, shown as the code spans they stand for (``~`` keeps the last name, as Sphinx does).
- The benchmark results: ``benchmarks/RESULTS.md`` and the figures it shows, published as they are in the
  repository (the method pages link to their sections), so the site and the file cannot disagree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: the modules whose docstrings make the API reference, by package (one page each, at api/MODULE.md)
API_MODULES = {
    "Tabular core": ["rewardlab.mdp.core", "rewardlab.mdp.solvers", "rewardlab.mdp.maxent", "rewardlab.mdp.policy_walk", "rewardlab.mdp.worlds"],
    "Data": ["rewardlab.data.trajectory", "rewardlab.data.rollouts", "rewardlab.data.gym_rollouts", "rewardlab.data.ranking",
             "rewardlab.data.preferences", "rewardlab.data.io", "rewardlab.data.validate"],
    "Learning from demonstrations": ["rewardlab.irl.bc", "rewardlab.irl.feature_matching", "rewardlab.irl.mwal", "rewardlab.irl.maxent",
                                     "rewardlab.irl.deep_maxent", "rewardlab.irl.sample_based", "rewardlab.irl.gcl",
                                     "rewardlab.irl.adversarial", "rewardlab.irl.lfl", "rewardlab.irl.lfl_deep"],
    "Bayesian IRL": ["rewardlab.irl.bayesian", "rewardlab.irl.posterior", "rewardlab.irl.sufficiency", "rewardlab.irl.active", "rewardlab.mcmc"],
    "Learning from rankings and preferences": ["rewardlab.prefs.trex", "rewardlab.prefs.drex", "rewardlab.prefs.brex", "rewardlab.prefs.losses",
                                               "rewardlab.prefs.active_linear", "rewardlab.prefs.queries", "rewardlab.prefs.teachers",
                                               "rewardlab.prefs.fragments", "rewardlab.prefs.reward_trainer", "rewardlab.prefs.rlhf"],
    "Rewards, policies and evaluation": ["rewardlab.rewards.tabular", "rewardlab.rewards.nets", "rewardlab.rewards.wrappers", "rewardlab.rewards.constant", "rewardlab.rewards.io", "rewardlab.rl.relabel", "rewardlab.rl.sb3", "rewardlab.eval.metrics", "rewardlab.eval.ranking", "rewardlab.eval.stats"],
    "Labelling app": ["rewardlab.labeling.store", "rewardlab.labeling.server", "rewardlab.labeling.clips", "rewardlab.labeling.teacher",
                      "rewardlab.labeling.agreement"],
    "Experiments": ["rewardlab.experiments.config", "rewardlab.experiments.run", "rewardlab.experiments.sweep",
                    "rewardlab.experiments.summarize", "rewardlab.experiments.report", "rewardlab.registry", "rewardlab.checks",
                    "rewardlab.checkpoint", "rewardlab.errors"],
}  # fmt: skip

MARKER = "<!-- rewardlab-cli-reference -->"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _commands(command: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    """Every leaf command under ``command``, depth first, with its path of names."""
    if hasattr(command, "commands"):
        out = []
        for name in command.commands:
            out += _commands(command.commands[name], [*path, name])
        return out
    return [(path, command)]


def cli_reference() -> str:
    """Markdown: one section per ``rewardlab`` command with its help and a table of its arguments and options."""
    import typer

    from rewardlab.cli import app

    lines = []
    for path, command in _commands(typer.main.get_command(app), ["rewardlab"]):
        lines += [f"## `{' '.join(path)}`", "", _cell(command.help or ""), ""]
        params = [p for p in command.params if p.name != "help"]
        if params:
            lines += ["| argument or option | type | default | help |", "|---|---|---|---|"]
            for p in params:
                names = ", ".join(f"`{o}`" for o in p.opts) if p.param_type_name == "option" else f"`{p.name.upper()}`"
                default = "" if p.default is None or p.required else f"`{p.default}`"
                kind = p.bare_type() if hasattr(p, "bare_type") else getattr(getattr(p, "type", None), "name", "")
                lines.append(f"| {names} | {_cell(kind)} | {_cell(default)} | {_cell(getattr(p, 'help', '') or '')} |")
            lines.append("")
    return "\n".join(lines)


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    return markdown.replace(MARKER, cli_reference()) if MARKER in markdown else markdown


def _api_uri(module: str) -> str:
    return f"api/{module.removeprefix('rewardlab.')}.md"


def on_config(config: Any, **_: Any) -> Any:
    """Fill the navigation's "API reference" entry with one section per package of :data:`API_MODULES`."""
    for i, entry in enumerate(config.nav or []):
        if isinstance(entry, dict) and "API reference" in entry:
            sections = [{title: [{m: _api_uri(m)} for m in modules]} for title, modules in API_MODULES.items()]
            config.nav[i] = {"API reference": sections}
    return config


def on_files(files: Any, config: Any, **_: Any) -> Any:
    """Add the generated API pages, and benchmarks/RESULTS.md with the benchmarks' figures (every PNG under
    benchmarks/ outside its virtual environments, at the same relative path, so RESULTS.md's links hold)."""
    from mkdocs.structure.files import File

    for modules in API_MODULES.values():
        for module in modules:
            files.append(File.generated(config, _api_uri(module), content=f"# {module}\n\n::: {module}\n"))
    bench = ROOT / "benchmarks"
    files.append(File.generated(config, "benchmarks/RESULTS.md", abs_src_path=str(bench / "RESULTS.md")))
    for figure in sorted(bench.rglob("*.png")):
        relative = figure.relative_to(bench)
        if not relative.parts[0].startswith("."):
            files.append(File.generated(config, f"benchmarks/{relative.as_posix()}", abs_src_path=str(figure)))
    return files


def _role(match: Any) -> str:
    target = match.group(2)
    return f"<code>{target.rsplit('.', 1)[-1] if target.startswith('~') else target}</code>"


def on_page_content(html: str, page: Any, **_: Any) -> str:
    """On the API pages, ``:func:<code>~a.b</code>`` becomes ``<code>b</code>`` (and without ``~``, ``a.b``)."""
    import re

    if not page.file.src_uri.startswith("api/"):
        return html
    return re.sub(r":(func|class|meth|mod|data|attr|exc|obj):<code>([^<]*)</code>", _role, html)
