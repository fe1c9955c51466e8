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

#: ``--overwrite``, on every command with ``--out``: a run directory is written all or nothing, and an
#: existing non-empty one is replaced (only once the new run is complete) only when this is given.
Overwrite = Annotated[
    bool, typer.Option("--overwrite", help="Replace an existing non-empty --out, once the new run is complete (refused without it).")
]


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


def _print_warnings(summary: dict[str, Any]) -> None:
    """Each of a run's ``summary["warnings"]`` as one ``warning: ...`` line."""
    for line in summary.get("warnings", []):
        console.print(f"[yellow]warning:[/yellow] {line}", highlight=False)


@app.callback()
def _main() -> None:
    """rewardlab: inverse RL and reward learning from preferences."""


@app.command()
@_friendly
def demo(
    out: Annotated[Path, typer.Option(help="Directory for report.html, demo.png and summary.json.")] = Path("rewardlab-demo"),
    seed: Annotated[int, typer.Option(min=0, help="Seed of the sampled demonstrations.")] = 0,
    n_demos: Annotated[int, typer.Option("--demos", min=1, help="Number of demonstrations to sample.")] = 10,
    overwrite: Overwrite = False,
) -> None:
    """What is the reward? Every learner side by side on the navigation gridworld, as an HTML report."""
    from rewardlab.experiments.demo import run_demo

    result = run_demo(out, seed=seed, n_demos=n_demos, overwrite=overwrite)
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


def _parse_settings(items: list[str]) -> dict[str, str]:
    """``--set key=value`` items as ``{key: text}``; each command reads the text by the type its config
    declares for the key (:func:`rewardlab._schema.apply_settings`), so a mistyped value is refused there."""
    from rewardlab.errors import ConfigError

    settings: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError("--set", f"{item!r} is not key=value", "write hyperparameters as --set iterations=300")
        if key.strip() in settings:
            raise ConfigError("--set", f"{key.strip()!r} is given twice", "set each hyperparameter once")
        settings[key.strip()] = value.strip()
    return settings


def _env_id(env: str) -> str:
    """``--env`` checked against Gymnasium's registry (with a did-you-mean)."""
    from rewardlab.data.gym_rollouts import check_env_id

    return check_env_id(env, "--env")


@app.command()
@_friendly
def irl(
    method: Annotated[str, typer.Argument(help="Learner: maxent, mce, deep-maxent, bc, projection, max-margin, mwal, birl.")],
    world: Annotated[str, typer.Option(help="World spec, e.g. objectworld:size=32,seed=0 or navigation.")] = "navigation",
    n_demos: Annotated[int, typer.Option("--demos", min=1, help="Number of expert demonstrations.")] = 16,
    out: Annotated[Path, typer.Option(help="Run directory for result.json, reward/ and figures.png.")] = Path("runs/irl"),
    seed: Annotated[int, typer.Option(min=0, help="Seed of demonstrations and learner.")] = 0,
    length: Annotated[int | None, typer.Option(min=1, help="Steps per demonstration (default: horizon, or 8 when discounted).")] = None,
    expert: Annotated[str, typer.Option(help="Demonstrator: optimal or soft (MaxEnt).")] = "optimal",
    epsilon: Annotated[float, typer.Option(min=0.0, max=1.0, help="Probability of a random action in the demonstrations.")] = 0.0,
    settings: Annotated[list[str] | None, typer.Option("--set", help="Learner hyperparameter key=value (repeatable).")] = None,
    overwrite: Overwrite = False,
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
        overwrite=overwrite,
    )
    table = Table(title=f"{method} on {world} from {n_demos} demonstrations ({summary['fit_seconds']:.2f} s)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summary["metrics"].items():
        table.add_row(key, f"{value:.4g}")
    console.print(table)
    if "posterior" in summary:
        post = summary["posterior"]
        extra = ", ".join(f"{k} {post[k]:.3g}" for k in ("acceptance", "evd_var_0.95", "sufficiency_bound") if post.get(k) is not None)
        console.print(f"posterior {post['samples']}: {extra}; max R-hat {max(post['rhat'], default=float('nan')):.3f}")
    _print_warnings(summary)
    console.print(f"wrote {out}/result.json")


demos_app = typer.Typer(no_args_is_help=True, help="Demonstrations: collect ranked ones from PPO checkpoints.")
prefs_app = typer.Typer(no_args_is_help=True, help="Learn a reward from rankings: trex, drex, brex.")
app.add_typer(demos_app, name="demos")
app.add_typer(prefs_app, name="prefs")


@demos_app.command("collect")
@_friendly
def demos_collect(
    env: Annotated[str, typer.Option(help="Gymnasium env id, e.g. Pendulum-v1 or HalfCheetah-v5.")],
    out: Annotated[Path, typer.Option(help="Directory for trajectories.npz/.json, checkpoints/ and result.json.")],
    checkpoints: Annotated[int, typer.Option(min=1, help="PPO checkpoints to roll out (rank = checkpoint index).")] = 12,
    steps: Annotated[int, typer.Option(min=1, help="PPO training steps on the true reward.")] = 12_288,
    episodes: Annotated[int, typer.Option(min=1, help="Rollouts per checkpoint.")] = 1,
    seed: Annotated[int, typer.Option(min=0, help="Seed of PPO and the rollouts.")] = 0,
    every: Annotated[int | None, typer.Option(min=1, help="Save a checkpoint every this many steps (default steps / checkpoints).")] = None,
    ceiling: Annotated[
        float | None,
        typer.Option(help="Keep only checkpoints before the first whose mean true return reaches this (suboptimal demos)."),
    ] = None,
    settings: Annotated[list[str] | None, typer.Option("--set", help="PPO hyperparameter key=value over the preset (repeatable).")] = None,
    overwrite: Overwrite = False,
) -> None:
    """Ranked demonstrations: train PPO on the true reward, keep checkpoints, roll each out."""
    from rewardlab.experiments.prefs import collect_demos

    summary = collect_demos(
        _env_id(env),
        out,
        checkpoints=checkpoints,
        steps=steps,
        episodes=episodes,
        seed=seed,
        hyperparams=_parse_settings(settings or []),
        every=every,
        ceiling=ceiling,
        overwrite=overwrite,
    )
    returns = ", ".join(f"{r:.1f}" for r in summary["true_returns"])
    console.print(f"{len(summary['ranks'])} demonstrations of {env} (true returns by rank: {returns}) in {summary['seconds']:.0f} s")
    console.print(f"wrote {out}/trajectories.npz")


def _signs(name: str, text: str | None) -> list[float] | None:
    """``"1,-1,-1"`` -> ``[1.0, -1.0, -1.0]``; each entry must be 1 or -1."""
    from rewardlab.errors import ConfigError

    if text is None:
        return None
    try:
        signs = [float(x) for x in text.split(",")]
    except ValueError:
        signs = []
    if not signs or any(x not in (1.0, -1.0) for x in signs):
        raise ConfigError(name, f"is {text!r}", "give comma-separated 1 and -1, one per coordinate, e.g. 1,-1,-1")
    return signs


def _prefs(method: str) -> Callable[..., None]:
    @_friendly
    def command(
        env: Annotated[str, typer.Option(help="Gymnasium env id the demonstrations come from.")],
        demos: Annotated[Path, typer.Option(help="A directory written by `rewardlab demos collect` (or save_dataset).")],
        out: Annotated[Path, typer.Option(help="Run directory for reward/, result.json and extrapolation.png.")],
        seed: Annotated[int, typer.Option(min=0, help="Seed of the learner.")] = 0,
        settings: Annotated[list[str] | None, typer.Option("--set", help="Learner setting key=value (repeatable).")] = None,
        mirror_obs: Annotated[
            str | None,
            typer.Option(help="Signs of a reflection symmetry of the observations, e.g. 1,-1,-1 (Pendulum): train on mirror images too."),
        ] = None,
        mirror_act: Annotated[str | None, typer.Option(help="The reflection's signs on the actions, e.g. -1 (Pendulum).")] = None,
        overwrite: Overwrite = False,
    ) -> None:
        from rewardlab.experiments.prefs import learn_reward

        summary = learn_reward(
            method,
            _env_id(env),
            demos,
            out,
            seed=seed,
            settings=_parse_settings(settings or []),
            mirror_obs=_signs("--mirror-obs", mirror_obs),
            mirror_act=_signs("--mirror-act", mirror_act),
            overwrite=overwrite,
        )
        keys = ("train_accuracy", "val_accuracy", "kendall_tau", "ranking_tau", "acceptance")
        shown = {k: summary[k] for k in keys if summary.get(k) is not None}
        console.print(f"{method} on {env}: " + ", ".join(f"{k} {v:.3g}" for k, v in shown.items()) + f" ({summary['seconds']:.1f} s)")
        _print_warnings(summary)
        console.print(f"wrote {out}/reward")

    command.__doc__ = {
        "trex": "T-REX: a reward from ranked demonstrations (infos['rank'], higher = better).",
        "drex": "D-REX: behavioural cloning, noise-ranked rollouts, then T-REX, from unranked demonstrations.",
        "brex": "Bayesian REX: a posterior over the last layer of a T-REX reward, from ranked demonstrations.",
    }[method]
    return command


for _method in ("trex", "drex", "brex"):
    prefs_app.command(_method)(_prefs(_method))


@app.command("train-policy")
@_friendly
def train_policy_command(
    env: Annotated[str, typer.Option(help="Gymnasium env id.")],
    reward: Annotated[Path, typer.Option(help="A reward directory written by `rewardlab prefs ...` (NeuralReward.save).")],
    out: Annotated[Path, typer.Option(help="Run directory for checkpoints, model.zip and result.json.")],
    steps: Annotated[int, typer.Option(min=1, help="Environment steps.")] = 100_000,
    algo: Annotated[str, typer.Option(help="ppo or sac.")] = "ppo",
    normalize: Annotated[str, typer.Option(help="Learned-reward transform: none, sigmoid or running.")] = "running",
    ctrl_cost: Annotated[float, typer.Option(help="Weight of the -||a||^2 control cost added to the learned reward.")] = 0.0,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the envs and the algorithm.")] = 0,
    settings: Annotated[
        list[str] | None, typer.Option("--set", help="Algorithm hyperparameter key=value over the preset (repeatable).")
    ] = None,
    init_policy: Annotated[
        Path | None, typer.Option(help="Warm-start PPO's actor from this behavioural-cloning policy (D-REX writes OUT/bc_policy).")
    ] = None,
    init_log_std: Annotated[float | None, typer.Option(help="Initial log standard deviation of PPO's actions (SB3: 0).")] = None,
    critic_warmup: Annotated[
        int, typer.Option(min=0, help="Train only PPO's critic for the first this many steps (with --init-policy).")
    ] = 0,
    critic_warmup_lr: Annotated[
        float | None,
        typer.Option(help="Learning rate of the critic warm-up; set the later one with --set learning_rate=... (warm start: 3e-5)."),
    ] = None,
    overwrite: Overwrite = False,
) -> None:
    """Train a policy (Stable-Baselines3) on a learned reward and report its true return."""
    from rewardlab.experiments.prefs import train_on_reward

    summary = train_on_reward(
        _env_id(env),
        reward,
        out,
        steps=steps,
        seed=seed,
        algo=algo,
        normalize=normalize,
        ctrl_cost=ctrl_cost,
        hyperparams=_parse_settings(settings or []),
        init_policy=init_policy,
        init_log_std=init_log_std,
        critic_warmup=critic_warmup,
        critic_warmup_lr=critic_warmup_lr,
        overwrite=overwrite,
    )
    extra = f", distance {summary['distance_mean']:.1f}" if "distance_mean" in summary else ""
    if summary.get("best_demo_return") is not None:
        extra += f"; best demonstration {summary['best_demo_return']:.1f}"
    console.print(
        f"{algo} on {env}: true return {summary['true_return_mean']:.1f} ± {summary['true_return_std']:.1f}{extra} ({summary['seconds']:.0f} s)"
    )
    _print_warnings(summary)
    console.print(f"wrote {out}/result.json")


def main() -> None:  # pragma: no cover - console entry point
    app()
