"""MkDocs hook: the command-line reference (docs/cli.md) generated from the Typer app at build time, so it is the
code's own help text (each command's docstring and each option's help, type and default) and never out of date."""

from __future__ import annotations

from typing import Any

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
