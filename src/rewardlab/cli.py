"""The ``rewardlab`` command line. The only module that parses arguments."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Learn reward functions from demonstrations and preferences.")
console = Console()


F = TypeVar("F", bound=Callable[..., Any])


def _friendly(command: F) -> F:
    """Print a rewardlab error as one clear line (field, problem, fix) and exit with status 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from rewardlab.errors import RewardLabError

        try:
            return command(*args, **kwargs)
        except RewardLabError as exc:
            console.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
            raise typer.Exit(2) from exc

    return wrapper  # type: ignore[return-value]


@app.callback()
def _main() -> None:
    """rewardlab: inverse RL and reward learning from preferences."""


@app.command()
@_friendly
def demo(
    out: Annotated[Path, typer.Option(help="Directory for report.html, demo.png and summary.json.")] = Path("rewardlab-demo"),
    seed: Annotated[int, typer.Option(help="Seed of the sampled demonstrations.")] = 0,
    n_demos: Annotated[int, typer.Option("--demos", help="Number of demonstrations to sample.")] = 10,
) -> None:
    """What is the reward? Every learner side by side on the navigation gridworld, as an HTML report."""
    from rewardlab.experiments.demo import run_demo

    result = run_demo(out, seed=seed, n_demos=n_demos)
    console.print(
        f"navigation gridworld '{result['layout']}' ({result['rows']}x{result['cols']}, horizon {result['horizon']}), {n_demos} demos"
    )
    returns = Table(title="expected true return from the start")
    returns.add_column("policy")
    returns.add_column("return", justify="right")
    for name, value in result["returns"].items():
        returns.add_row(name, f"{value:.2f}")
    console.print(returns)
    scores = Table(title="what is the reward? (lower evd / policy loss is better)")
    keys = ["evd", "policy_loss", "reward_distance", "agreement_on_demo_states"]
    scores.add_column("method")
    for key in [*keys, "fit s"]:
        scores.add_column(key, justify="right")
    for name, row in result["methods"].items():
        cells = [f"{row['metrics'][k]:.3g}" if k in row["metrics"] else "-" for k in keys]
        scores.add_row(name, *cells, f"{row['fit_seconds']:.2f}")
    console.print(scores)
    console.print(f"wrote [bold]{result['report']}[/bold] ({result['seconds']:.1f} s)")


def _parse_settings(items: list[str]) -> dict[str, object]:
    from rewardlab.errors import ConfigError
    from rewardlab.mdp.worlds import parse_value

    settings: dict[str, object] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ConfigError("--set", f"{item!r} is not key=value", "write hyperparameters as --set iterations=300")
        settings[key.strip()] = parse_value(value.strip())
    return settings


@app.command()
@_friendly
def irl(
    method: Annotated[str, typer.Argument(help="Learner: maxent, mce, deep-maxent, bc, projection, max-margin, mwal, birl.")],
    world: Annotated[str, typer.Option(help="World spec, e.g. objectworld:size=32,seed=0 or navigation.")] = "navigation",
    n_demos: Annotated[int, typer.Option("--demos", help="Number of expert demonstrations.")] = 16,
    out: Annotated[Path, typer.Option(help="Run directory for result.json, reward/ and figures.png.")] = Path("runs/irl"),
    seed: Annotated[int, typer.Option(help="Seed of demonstrations and learner.")] = 0,
    length: Annotated[int | None, typer.Option(help="Steps per demonstration (default: horizon, or 8 when discounted).")] = None,
    expert: Annotated[str, typer.Option(help="Demonstrator: optimal or soft (MaxEnt).")] = "optimal",
    epsilon: Annotated[float, typer.Option(help="Probability of a random action in the demonstrations.")] = 0.0,
    settings: Annotated[list[str] | None, typer.Option("--set", help="Learner hyperparameter key=value (repeatable).")] = None,
) -> None:
    """Learn a reward from demonstrations in a world with a known reward, and score it."""
    from rewardlab.experiments.irl import run_irl

    summary = run_irl(
        method,
        world,
        n_demos,
        out,
        seed=seed,
        length=length,
        expert=expert,
        epsilon=epsilon,
        hyperparameters=_parse_settings(settings or []),
    )
    table = Table(title=f"{method} on {world} from {n_demos} demonstrations ({summary['fit_seconds']:.2f} s)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summary["metrics"].items():
        table.add_row(key, f"{value:.4g}")
    console.print(table)
    if "posterior" in summary:
        post = summary["posterior"]
        extra = ", ".join(f"{k} {post[k]:.3g}" for k in ("acceptance", "evd_var_0.95", "sufficiency_bound") if k in post)
        console.print(f"posterior {post['samples']}: {extra}; max R-hat {max(post['rhat'], default=float('nan')):.3f}")
    console.print(f"wrote {out}/result.json")


def main() -> None:  # pragma: no cover - console entry point
    app()
