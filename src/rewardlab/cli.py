"""The ``rewardlab`` command line. The only module that parses arguments."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Learn reward functions from demonstrations and preferences.")
console = Console()


@app.callback()
def _main() -> None:
    """rewardlab: inverse RL and reward learning from preferences."""


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Directory for demo.png and summary.json.")] = Path("rewardlab-demo"),
    seed: Annotated[int, typer.Option(help="Seed of the sampled demonstrations.")] = 0,
    n_demos: Annotated[int, typer.Option("--demos", help="Number of demonstrations to sample.")] = 5,
) -> None:
    """Draw the navigation gridworld: true reward, optimal and soft-optimal policies, and demos."""
    from rewardlab.demo import run_demo

    result = run_demo(out, seed=seed, n_demos=n_demos)
    table = Table(title=f"navigation gridworld '{result['layout']}' ({result['rows']}x{result['cols']}, horizon {result['horizon']})")
    table.add_column("policy")
    table.add_column("expected return", justify="right")
    for name, value in result["returns"].items():
        table.add_row(name, f"{value:.2f}")
    console.print(table)
    console.print(f"optimal policy:\n{result['optimal_ascii']}")
    console.print(f"wrote [bold]{result['figure']}[/bold] and {result['summary']}")


def main() -> None:  # pragma: no cover - console entry point
    app()
