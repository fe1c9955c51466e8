"""The ``rewardlab`` command line. The only module that parses arguments."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import typer.core
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rewardlab.errors import ConfigError, RewardLabError

console = Console()
errors = Console(stderr=True)

#: click's exceptions module, wherever this typer takes click from (recent typers vendor it)
_click: Any = sys.modules[typer.BadParameter.__module__]


def _print_error(exc: Exception) -> None:
    """The one way the CLI reports a user's mistake: one ``error: field: problem. Fix: fix.`` line on
    stderr, never wrapped (``soft_wrap``) and never read as rich markup."""
    errors.print(f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True)


def _option_name(param: Any) -> str:
    """``--demos`` for an option, ``method`` for an argument."""
    opts = [o for o in getattr(param, "opts", []) if o.startswith("-")]
    return max(opts, key=len) if opts else str(param.name)


def _wanted(param: Any, kind: str) -> str:
    """``"an integer >= 0 (default 0)"``: what ``param`` accepts, from its typer ``min``/``max`` and default."""
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    bounds = f" between {low} and {high}" if low is not None and high is not None else ""
    bounds = bounds or (f" >= {low}" if low is not None else f" <= {high}" if high is not None else "")
    default = getattr(param, "default", None)
    shown = f" (default {default})" if default is not None and not getattr(param, "required", False) and default != () else ""
    return f"{kind}{bounds}{shown}"


_KINDS = {"int_parsing": "an integer", "int_from_float": "an integer", "float_parsing": "a number", "bool_parsing": "true or false"}
_RANGES = ("greater_than_equal", "less_than_equal", "greater_than", "less_than")


def _usage_error(exc: Any) -> RewardLabError:
    """A click usage error (an option out of range, mistyped, unknown, missing or without its value; an
    extra argument) as the rewardlab error that names the option and the fix."""
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else "rewardlab"
    see = f"see `{path} --help`"
    param = getattr(exc, "param", None)
    if isinstance(exc, _click.MissingParameter) and param is not None:
        name = _option_name(param)
        helptext = (getattr(param, "help", None) or "").rstrip(".")
        value = f"{name} {param.name.upper()}" if name.startswith("-") else param.name.upper()
        return ConfigError(name, "is missing", f"give {value}" + (f" ({helptext})" if helptext else ""))
    if isinstance(exc, _click.BadParameter) and param is not None:
        name = _option_name(param)
        cause = exc.__cause__
        details = cause.errors() if hasattr(cause, "errors") else []  # typer >= 0.2x checks values with pydantic
        annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
        kind = "an integer" if annotation is int else "a number" if annotation is float else "a value"
        if details and details[0].get("type") in _RANGES:
            low, high = getattr(param, "min", None), getattr(param, "max", None)
            interval = f"x>={low}" if high is None else f"x<={high}" if low is None else f"{low}<=x<={high}"
            return ConfigError(name, f"{details[0]['input']} is not in the range {interval}", f"give {_wanted(param, kind)}")
        if details and details[0].get("type") in _KINDS:
            kind = _KINDS[details[0]["type"]]
            return ConfigError(name, f"{details[0]['input']!r} is not {kind}", f"give {_wanted(param, kind)}")
        message = str(exc.message).rstrip(".")
        return ConfigError(name, message[:1].lower() + message[1:], see)
    if isinstance(exc, _click.NoSuchOption):
        close = sorted(exc.possibilities or [])
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        return ConfigError(exc.option_name, f"is not an option of {path}", f"{hint}{see}")
    if isinstance(exc, _click.BadOptionUsage):
        name = exc.option_name
        problem = str(exc.message).replace(f"Option {name!r} ", "").rstrip(".")
        fix = f"give a value after {name}" if "requires" in problem else f"write {name} alone" if "take a value" in problem else see
        return ConfigError(name, problem, fix)
    message = str(exc.message).rstrip(".")
    return ConfigError(path, message[:1].lower() + message[1:], see)


class _OneLineGroup(typer.core.TyperGroup):
    """The app's (and its sub-apps') click group: every usage error click or typer raises, in any
    command, reaches the user as one ``error:`` line naming the option and the fix, with exit status 2,
    as rewardlab's own errors do (:func:`_friendly`). ``--help`` and a bare group still show help."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """The subcommand named by ``args[0]``; an unknown name is a :class:`ConfigError` with a did-you-mean."""
        if args and not args[0].startswith("-") and self.get_command(ctx, args[0]) is None:
            from rewardlab._schema import did_you_mean

            names = self.list_commands(ctx)
            fix = f"{did_you_mean(args[0], names)}use one of {', '.join(names)}"
            raise ConfigError(args[0], f"is not a command of {ctx.command_path}", fix)
        return super().resolve_command(ctx, args)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; what the console script and ``typer.testing.CliRunner`` both call."""
        run = functools.partial(super().main, args, prog_name, complete_var, False, windows_expand_args, **extra)
        if not standalone_mode:
            return run()
        try:
            code = run()
        except RewardLabError as exc:  # an unknown command (resolve_command)
            _print_error(exc)
            sys.exit(2)
        except _click.ClickException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help is already printed
                sys.exit(exc.exit_code)
            _print_error(_usage_error(exc) if isinstance(exc, _click.UsageError) else exc)
            sys.exit(2 if isinstance(exc, _click.UsageError) else exc.exit_code)
        except typer.Abort:
            errors.print("Aborted!", highlight=False)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)  # typer.Exit(n) and --help come back as their status


app = typer.Typer(
    cls=_OneLineGroup, add_completion=False, no_args_is_help=True, help="Learn reward functions from demonstrations and preferences."
)


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
        try:
            return command(*args, **kwargs)
        except RewardLabError as exc:
            _print_error(exc)
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
        cells = [f"{row['metrics'][k]:.3g}" if row["metrics"].get(k) is not None else "-" for k in keys]
        scores.add_row(name, *cells, f"{row['fit_seconds']:.2f}")
    console.print(scores)
    _print_warnings(result)
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
    method: Annotated[
        str,
        typer.Argument(
            help="Learner: maxent, mce, deep-maxent, bc, projection, max-margin, mwal, birl, relent, perturb (a --world); "
            "gail, airl, gcl (an --env, --demos DIR)."
        ),
    ],
    world: Annotated[str | None, typer.Option(help="World spec, e.g. objectworld:size=32,seed=0 (default navigation).")] = None,
    env: Annotated[
        str | None, typer.Option(help="Gymnasium env id (gail, airl, gcl), e.g. Pendulum-v1; then --demos is a directory.")
    ] = None,
    demos: Annotated[
        str | None,
        typer.Option(
            "--demos",
            help="Number of expert demonstrations (a --world; default 16), or with --env a dataset directory (save_dataset), an .npz of episodes or minari:DATASET_ID.",
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Run directory for result.json, reward/ and figures.png (policy/ with --env).")] = Path(
        "runs/irl"
    ),
    seed: Annotated[int, typer.Option(min=0, help="Seed of demonstrations and learner.")] = 0,
    length: Annotated[int | None, typer.Option(min=1, help="Steps per demonstration (default: horizon, or 8 when discounted).")] = None,
    expert: Annotated[str, typer.Option(help="Demonstrator: optimal or soft (MaxEnt).")] = "optimal",
    epsilon: Annotated[float, typer.Option(min=0.0, max=1.0, help="Probability of a random action in the demonstrations.")] = 0.0,
    settings: Annotated[list[str] | None, typer.Option("--set", help="Learner hyperparameter key=value (repeatable).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="With --env: continue the run in --out (a finished one: do nothing).")] = False,
    overwrite: Overwrite = False,
) -> None:
    """Learn a reward from demonstrations: in a world with a known reward, and score it; or (gail, airl, gcl) on a
    Gymnasium env from a dataset of demonstrations, and evaluate the generator policy."""
    if env is not None:
        _irl_gym(method, env, world, demos, out, seed, length, expert, epsilon, settings, resume, overwrite)
        return
    from rewardlab.experiments.config import ADVERSARIAL_LEARNERS
    from rewardlab.experiments.irl import run_irl

    if method in ADVERSARIAL_LEARNERS:
        raise ConfigError(
            "--env", "is missing", f"{method} runs on a Gymnasium env: give --env ENV --demos DIR (a dataset of demonstrations)"
        )
    if resume:
        raise ConfigError("--resume", "is given without --env", "rerun a tabular world with --overwrite (it takes seconds)")
    n_demos = _demo_count(demos)
    world = world or "navigation"
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
        table.add_row(key, "-" if value is None else f"{value:.4g}")  # None: not finite (e.g. a log-likelihood of -inf)
    console.print(table)
    if "posterior" in summary:
        post = summary["posterior"]
        extra = ", ".join(f"{k} {post[k]:.3g}" for k in ("acceptance", "evd_var_0.95", "sufficiency_bound") if post.get(k) is not None)
        console.print(f"posterior {post['samples']}: {extra}; max R-hat {max(post['rhat'], default=float('nan')):.3f}")
    _print_warnings(summary)
    console.print(f"wrote {out}/result.json")


def _demo_count(text: str | None) -> int:
    """``--demos`` of a tabular run: a count (default 16)."""
    if text is None:
        return 16
    try:
        return int(text)
    except ValueError:
        raise ConfigError("--demos", f"{text!r} is not an integer", "give an integer >= 1 (default 16)") from None


def _irl_gym(
    method: str,
    env: str,
    world: str | None,
    demos: str | None,
    out: Path,
    seed: int,
    length: int | None,
    expert: str,
    epsilon: float,
    settings: list[str] | None,
    resume: bool,
    overwrite: bool,
) -> None:
    """``rewardlab irl gail|airl|gcl --env ENV --demos DIR``: :func:`rewardlab.experiments.adversarial.run_adversarial`."""
    from rewardlab.experiments.adversarial import run_adversarial
    from rewardlab.experiments.config import ADVERSARIAL_LEARNERS
    from rewardlab.registry import learner_spec

    learner_spec(method, ADVERSARIAL_LEARNERS)
    if world is not None:
        raise ConfigError("--world", "is given together with --env", "give one: --world (a tabular world) or --env (a Gymnasium env)")
    for name, value, default in (("--length", length, None), ("--expert", expert, "optimal"), ("--epsilon", epsilon, 0.0)):
        if value != default:
            raise ConfigError(name, "samples demonstrations in a tabular world", "leave it out with --env (--demos names the dataset)")
    if demos is None:
        raise ConfigError(
            "--demos",
            "is missing",
            "give --demos DIR, a dataset of demonstrations (save_dataset, `rewardlab demos collect`), or minari:DATASET_ID",
        )
    summary = run_adversarial(
        method, _env_id(env), demos, out, seed=seed, settings=_parse_settings(settings or []), resume=resume, overwrite=overwrite
    )
    m = summary["metrics"]
    score = "-" if m.get("normalized_score") is None else f"{m['normalized_score']:.2f}"
    console.print(
        f"{method} on {env}: generator's true return {m['eval_return_mean']:.1f} ± {m['eval_return_std']:.1f} (normalised {score}) "
        f"after {m['env_steps']:.0f} env steps in {m['seconds']:.0f} s",
        highlight=False,
        soft_wrap=True,
    )
    _print_warnings(summary)
    console.print(f"wrote {out}/result.json, {out}/reward and {out}/policy")


@app.command("run")
@_friendly
def run_command(
    config: Annotated[
        Path, typer.Argument(help="A run config (TOML): [learner], [world] or [env], [data], ... (see docs/experiments.md).")
    ],
    out: Annotated[Path, typer.Option(help="Run directory: config.toml, metrics.jsonl, checkpoints/, reward/, result.json.")],
    settings: Annotated[
        list[str] | None, typer.Option("--set", help="Config key=value over the file, e.g. learner.trex.steps=500.")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in --out from its last checkpoint (a finished one: do nothing).")
    ] = False,
    overwrite: Overwrite = False,
    tensorboard: Annotated[
        bool, typer.Option("--tensorboard", help="Also log the metrics to OUT/tensorboard (needs tensorboard).")
    ] = False,
) -> None:
    """Run any learner from a typed config file; resumable (--resume) after a crash or a kill."""
    from rewardlab.experiments.config import load_run_config
    from rewardlab.experiments.run import run_config

    overrides = _parse_settings(settings or [])
    if tensorboard:
        overrides.setdefault("tensorboard", "true")
    cfg = load_run_config(config, overrides)
    summary = run_config(cfg, out, resume=resume, overwrite=overwrite)
    where = cfg.world.name if cfg.world is not None else cfg.env.id if cfg.env is not None else ""
    table = Table(title=f"{summary['label']} on {where}, seed {summary['seed']} ({summary['fit_seconds']:.2f} s)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summary["metrics"].items():
        table.add_row(key, "-" if value is None else f"{value:.4g}")
    console.print(table)
    _print_warnings(summary)
    console.print(f"wrote {out}/result.json")


@app.command()
@_friendly
def sweep(
    sweep_file: Annotated[
        Path, typer.Argument(help="Sweep file (TOML): a base run config, methods, grid and summary tables (rewardlab.experiments.sweep).")
    ],
    out: Annotated[Path, typer.Option(help="Sweep directory: sweep.toml, trials.json, trials/NAME/, status.json.")],
    backend: Annotated[str, typer.Option(help="Where trials run: local (a process pool) or ray (Ray Tune).")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster address (--backend ray); default: start a local Ray.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Trials run at once (pool processes or Ray CPUs).")] = 2,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the sweep in --out: finished trials are kept.")] = False,
) -> None:
    """Run a grid of learners x settings x seeds, one run directory per trial; failed trials are retried once."""
    from rewardlab.experiments.sweep import failures, run_sweep

    status = run_sweep(sweep_file, out, backend=backend, address=address, workers=workers, resume=resume)
    skipped = f" ({status['skipped']} already finished)" if status["skipped"] else ""
    console.print(
        f"{status['finished']} of {status['total']} trials finished{skipped}, {status['failed']} failed, {status['wall_seconds']:.1f} s",
        highlight=False,
    )
    _print_warnings(status)
    for line in failures(status):
        errors.print(f"[bold red]failed:[/bold red] {escape(line)}", highlight=False, soft_wrap=True)
    console.print(f"wrote {out}/trials.json and {out}/status.json")
    if status["failed"]:
        raise typer.Exit(1)


demos_app = typer.Typer(cls=_OneLineGroup, no_args_is_help=True, help="Demonstrations: collect ranked ones from PPO checkpoints.")
prefs_app = typer.Typer(cls=_OneLineGroup, no_args_is_help=True, help="Learn a reward from rankings: trex, drex, brex.")
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
        out: Annotated[Path, typer.Option(help="Run directory for reward/, result.json and extrapolation.png.")],
        demos: Annotated[
            Path | None, typer.Option(help="A directory written by `rewardlab demos collect` (or save_dataset), or minari:DATASET_ID.")
        ] = None,
        preferences: Annotated[
            Path | None,
            typer.Option(
                help="Instead of --demos (trex, brex): a preference dataset directory (save_preferences, an RLHF run's preferences/)."
            ),
        ] = None,
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
            preferences=preferences,
        )
        keys = ("train_accuracy", "val_accuracy", "kendall_tau", "ranking_tau", "acceptance")
        shown = {k: summary[k] for k in keys if summary.get(k) is not None}
        console.print(f"{method} on {env}: " + ", ".join(f"{k} {v:.3g}" for k, v in shown.items()) + f" ({summary['seconds']:.1f} s)")
        _print_warnings(summary)
        console.print(f"wrote {out}/reward")

    command.__doc__ = {
        "trex": "T-REX: a reward from ranked demonstrations (infos['rank'], higher = better) or labelled pairs (--preferences).",
        "drex": "D-REX: behavioural cloning, noise-ranked rollouts, then T-REX, from unranked demonstrations.",
        "brex": "Bayesian REX: a posterior over the last layer of a T-REX reward, from ranked demonstrations or labelled pairs.",
    }[method]
    return command


for _method in ("trex", "drex", "brex"):
    prefs_app.command(_method)(_prefs(_method))


label_app = typer.Typer(
    cls=_OneLineGroup, no_args_is_help=True, help="The labelling app: serve it, add annotators, import pairs, export labels."
)
app.add_typer(label_app, name="label")

RunDir = Annotated[Path | None, typer.Option("--run", help="Run directory; the database is RUN/labels.db unless --db is given.")]
DbUrl = Annotated[str | None, typer.Option("--db", help="Database URL (sqlite:///PATH, postgresql+psycopg://...) or SQLite file.")]


def _label_db(run: Path | None, db: str | None) -> str:
    """The database of ``--db``, else ``--run``'s ``labels.db``; neither is a :class:`ConfigError`."""
    if db is not None:
        return db
    if run is None:
        raise ConfigError("--run", "is missing (and so is --db)", "give --run DIR (database DIR/labels.db) or --db URL")
    return str(run / "labels.db")


@label_app.command("serve")
@_friendly
def label_serve(
    run: RunDir = None,
    db: DbUrl = None,
    host: Annotated[str, typer.Option(help="Address to bind; other machines reach it only if you bind 0.0.0.0.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    max_body: Annotated[int, typer.Option(min=1, help="Largest request body in bytes (larger: 413).")] = 16 * 1024,
    clips_dir: Annotated[Path | None, typer.Option("--clips", help="Where clips are rendered and served from (default RUN/clips).")] = None,
    render: Annotated[
        bool, typer.Option("--render/--no-render", help="Render the clips of segments that have none, in the background.")
    ] = True,
    render_workers: Annotated[int, typer.Option(min=1, help="Threads rendering clips.")] = 1,
    max_query_body: Annotated[int, typer.Option(min=1, help="Largest POST /api/queries body in bytes (larger: 413).")] = 8 * 1024 * 1024,
    per_query: Annotated[
        int | None, typer.Option(min=1, help="Annotators per query: a query is handed out to at most N people (default: everyone).")
    ] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Seed of the left/right order draws (default: fresh entropy).")] = None,
) -> None:
    """Serve the labelling API (uvicorn) over the database, creating or migrating it first; clips of the
    segments it holds (and of those posted to it) are rendered into RUN/clips (or --clips) as it runs."""
    import uvicorn

    from rewardlab.labeling import open_store
    from rewardlab.labeling.clips import ClipRenderer
    from rewardlab.labeling.server import create_app

    url = _label_db(run, db)
    store = open_store(url)
    clips = clips_dir if clips_dir is not None else run / "clips" if run is not None else None
    renderer = ClipRenderer(clips, workers=render_workers) if render and clips is not None else None
    errors.print(f"serving {store!r} on http://{host}:{port}", highlight=False, soft_wrap=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        errors.print(
            f"[yellow]warning:[/yellow] --host {host} serves other machines over plain HTTP: tokens travel unencrypted; "
            "put a TLS proxy in front or keep to a trusted network",
            highlight=False,
            soft_wrap=True,
        )
    if renderer is None:
        errors.print("clips are not rendered (--no-render, or --db without --run or --clips)", highlight=False, soft_wrap=True)
    try:
        uvicorn.run(
            create_app(
                store, clips_dir=clips, max_body=max_body, per_query=per_query, seed=seed, renderer=renderer, max_query_body=max_query_body
            ),
            host=host,
            port=port,
            log_level="warning",
        )
    finally:
        if renderer is not None:
            renderer.close(wait=False)
        store.close()


@label_app.command("add-annotator")
@_friendly
def label_add_annotator(
    name: Annotated[str, typer.Argument(help="The annotator's name (unique).")],
    run: RunDir = None,
    db: DbUrl = None,
    operator: Annotated[bool, typer.Option("--operator", help="An operator: also sees the operator endpoints.")] = False,
) -> None:
    """Add an annotator and print their token (once: only its hash is stored) on stdout."""
    from rewardlab.labeling import open_store

    with open_store(_label_db(run, db)) as store:
        token = store.add_annotator(name, "operator" if operator else "annotator")
    errors.print(f"token of {name!r} ({'operator' if operator else 'annotator'}), shown once:", highlight=False, soft_wrap=True)
    print(token)


@label_app.command("export")
@_friendly
def label_export(
    out: Annotated[Path, typer.Option(help="Directory for the preference dataset (preferences.npz, .jsonl or .parquet, .json).")],
    run: RunDir = None,
    db: DbUrl = None,
    env: Annotated[str | None, typer.Option(help="Only the queries of this env (needed when the store holds several).")] = None,
    table: Annotated[str, typer.Option("--format", help="Table format: jsonl or parquet.")] = "jsonl",
    no_skipped: Annotated[bool, typer.Option("--no-skipped", help="Leave out skipped and can't-tell answers.")] = False,
    no_gold: Annotated[bool, typer.Option("--no-gold", help="Leave out the answers to gold queries.")] = False,
) -> None:
    """Export every stored answer as a preference dataset (one pair per answer, with annotator, times and side order)."""
    from rewardlab.data.preferences import save_preferences
    from rewardlab.labeling import open_store

    if table not in ("jsonl", "parquet"):
        raise ConfigError("--format", f"is {table!r}", "choose jsonl or parquet")
    from rewardlab.errors import ValidationError

    with open_store(_label_db(run, db)) as store:
        try:
            dataset = store.export(env_id=env, skipped=not no_skipped, gold=not no_gold)
        except ValidationError as exc:
            if exc.field != "env_id":
                raise
            raise ConfigError("--env", exc.problem, "give --env ID: export one env at a time") from None
        where = repr(store)
    if not len(dataset):
        scope = f" of env {env}" if env else ""
        filters = " and ".join(flag for flag, on in (("--no-skipped", no_skipped), ("--no-gold", no_gold)) if on)
        raise ConfigError(
            "--out",
            f"would hold no preferences: {where} has no answers{scope}{' left after ' + filters if filters else ''}",
            "label first (rewardlab label serve), or drop the filters" if filters else "label first (rewardlab label serve)",
        )
    save_preferences(dataset, out, format=table)
    people = sorted({p.annotator for p in dataset if p.annotator is not None})
    console.print(
        f"wrote {len(dataset)} preferences ({dataset.n_skipped} skipped) of {len(people)} annotators, env {dataset.env_id}, to {out}",
        highlight=False,
        soft_wrap=True,
    )


@label_app.command("import")
@_friendly
def label_import(
    pairs: Annotated[
        Path, typer.Argument(help="A preference dataset directory (save_preferences), or a pairs table (.csv, .jsonl) with --segments.")
    ],
    run: RunDir = None,
    db: DbUrl = None,
    segments: Annotated[
        Path | None, typer.Option(help="With a pairs table: the .npz of segments its a / b columns index (obs, acts, optional rews).")
    ] = None,
    env: Annotated[str | None, typer.Option(help="The env the segments come from (default: the dataset's).")] = None,
    gold: Annotated[int, typer.Option(min=0, help="Make N of the labelled pairs gold queries, the file's label their known answer.")] = 0,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the gold draw.")] = 0,
    no_render: Annotated[bool, typer.Option("--no-render", help="Do not render clips now (else RUN/clips/ID.mp4; needs --run).")] = False,
) -> None:
    """Put saved segment pairs into the store as queries for people to answer (the file's labels are not answers)."""
    from rewardlab.data.preferences import import_pairs, load_preferences
    from rewardlab.errors import DataFileError
    from rewardlab.labeling import open_store
    from rewardlab.labeling.offline import import_preferences

    if not pairs.exists():
        raise DataFileError(f"{pairs}: missing. Fix: pass a preference dataset directory or a pairs table (.csv, .jsonl)")
    if pairs.is_dir():
        if segments is not None:
            raise ConfigError(
                "--segments", f"is given but {pairs} is a preference dataset directory (it holds its segments)", "leave --segments out"
            )
        dataset = load_preferences(pairs, expect_env=env)
    else:
        if segments is None:
            raise ConfigError(
                "--segments", f"is missing: {pairs} is a pairs table", "give --segments NPZ, the segments its a / b columns index"
            )
        dataset = import_pairs(pairs, segments, env)
    if not no_render and run is None:
        raise ConfigError("--run", "is missing: clips are rendered into RUN/clips", "give --run DIR, or --no-render (render them later)")
    with open_store(_label_db(run, db)) as store:
        done = import_preferences(
            store,
            dataset,
            env_id=env,
            gold=gold,
            seed=seed,
            run="" if run is None else str(run),
            source=str(pairs.resolve()),
            clips_dir=None if no_render or run is None else run / "clips",
        )
        where = repr(store)
    console.print(
        f"imported {done.rows} pairs: {len(done.segments)} segments, {len(done.queries)} queries ({len(done.gold)} gold) into {where}",
        highlight=False,
        soft_wrap=True,
    )
    if not no_render:
        console.print(f"rendered {done.clips} clips into {run}/clips", highlight=False, soft_wrap=True)
    for line in done.failed:
        errors.print(f"[yellow]warning:[/yellow] clip of segment {line}", highlight=False, soft_wrap=True)


@app.command("train-policy")
@_friendly
def train_policy_command(
    env: Annotated[str, typer.Option(help="Gymnasium env id.")],
    out: Annotated[Path, typer.Option(help="Run directory for checkpoints, model.zip and result.json.")],
    reward: Annotated[
        Path | None,
        typer.Option(
            help="A reward directory: `rewardlab prefs ...`'s, or ConstantReward.save's (the control); omit it for the env's own reward."
        ),
    ] = None,
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
    """Train a policy (Stable-Baselines3) on a learned reward, or on the env's own without --reward, and report its true return."""
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
    source = "the env's reward" if reward is None else "the learned reward"
    console.print(
        f"{algo} on {env} with {source}: true return {summary['true_return_mean']:.1f} ± {summary['true_return_std']:.1f}{extra} ({summary['seconds']:.0f} s)"
    )
    _print_warnings(summary)
    console.print(f"wrote {out}/result.json")


@app.command("rlhf")
@_friendly
def rlhf_command(
    env: Annotated[str, typer.Option(help="Gymnasium env id, e.g. Pendulum-v1 or HalfCheetah-v5.")],
    out: Annotated[
        Path, typer.Option(help="Run directory: config.toml, metrics.jsonl, reward/, policy/, preferences/, curves.png, result.json.")
    ],
    teacher: Annotated[
        str,
        typer.Option(
            help="B-Pref simulated teacher: oracle, mistake, noisy, skip, myopic or equal; or human: people label through "
            "the labelling server at --label-server (its operator token in $REWARDLAB_LABEL_TOKEN)."
        ),
    ] = "oracle",
    label_server: Annotated[
        str | None, typer.Option("--label-server", help="URL of the labelling server (rewardlab label serve), with --teacher human.")
    ] = None,
    labels: Annotated[int, typer.Option(min=1, help="Label budget: pairs of segments the teacher is asked about.")] = 700,
    steps: Annotated[int, typer.Option(min=1, help="Env steps of the policy.")] = 1_000_000,
    query: Annotated[
        str, typer.Option(help="Query strategy: uniform, disagreement, entropy, kcenter, kcenter_disagreement or kcenter_entropy.")
    ] = "disagreement",
    algo: Annotated[str, typer.Option(help="ppo or sac.")] = "ppo",
    segment: Annotated[int, typer.Option(min=1, help="Segment length (steps) of each side of a query.")] = 50,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the policy, the queries, the teacher and the reward ensemble.")] = 0,
    settings: Annotated[
        list[str] | None,
        typer.Option("--set", help="Loop setting key=value, e.g. feedback_every=2048, reward.members=3, hyperparams.n_steps=512."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in --out from its last checkpoint (a finished one: do nothing).")
    ] = False,
    overwrite: Overwrite = False,
) -> None:
    """RL from preferences (Christiano et al. 2017): a policy, a reward learned from a teacher's labels (simulated, or people), one loop."""
    from rewardlab.experiments.rlhf import run_rlhf

    summary = run_rlhf(
        _env_id(env),
        out,
        teacher=teacher,
        label_server=label_server,
        labels=labels,
        steps=steps,
        query=query,
        algo=algo,
        segment=segment,
        seed=seed,
        settings=_parse_settings(settings or []),
        resume=resume,
        overwrite=overwrite,
    )
    m = summary["metrics"]

    def shown(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    console.print(
        f"rlhf on {env} ({teacher} teacher, {query} queries): true return {shown(m['eval_return_mean'], '.1f')} ± "
        f"{shown(m['eval_return_std'], '.1f')} after {shown(m['env_steps'], '.0f')} env steps, {shown(m['labels'], '.0f')} labels "
        f"(label accuracy {shown(m['label_accuracy_mean'], '.2f')} over all rounds, {shown(m['label_accuracy'], '.2f')} in the last) "
        f"in {shown(m['seconds'], '.0f')} s"
        + (f"; {summary['unanswered']} of {summary['asked']} queries unanswered" if "unanswered" in summary else ""),
        highlight=False,
        soft_wrap=True,
    )
    _print_warnings(summary)
    console.print(f"wrote {out}")


@app.command("summarize")
@_friendly
def summarize_command(
    sweep_dir: Annotated[Path, typer.Argument(help="A directory written by `rewardlab sweep` (trials.json, trials/*/result.json).")],
    metric: Annotated[str | None, typer.Option(help="The result metric to compare (default: the metric named in trials.json).")] = None,
    higher_is_better: Annotated[
        bool | None,
        typer.Option("--higher-is-better/--lower-is-better", help="Direction of the metric (default: the sweep's; EVD: lower)."),
    ] = None,
) -> None:
    """Statistics of a sweep: IQM, mean ± SEM, stratified bootstrap CIs and probability of improvement, as
    summary.md, summary.json and summary.png in SWEEP_DIR."""
    from rewardlab.experiments.summarize import summarize

    summary = summarize(sweep_dir, metric, higher_is_better=higher_is_better)
    level = f"{summary['confidence']:.0%}"
    direction = "higher" if summary["higher_is_better"] else "lower"
    table = Table(title=f"{escape(summary['metric'])} over {len(summary['tasks'])} task(s) ({direction} is better)")
    for column in ("method", "tasks", "runs", "IQM", f"IQM {level} CI", "mean ± SEM"):
        table.add_column(column, justify="left" if column == "method" else "right")
    for row in summary["aggregate"]:
        ci = f"[{row['iqm_ci'][0]:.4g}, {row['iqm_ci'][1]:.4g}]" if row["iqm_ci"] else "-"
        sem = f" ± {row['sem']:.4g}" if row["sem"] is not None else ""
        table.add_row(escape(row["method"]), str(row["tasks"]), str(row["runs"]), f"{row['iqm']:.4g}", ci, f"{row['mean']:.4g}{sem}")
    console.print(table)
    _print_warnings(summary)
    console.print(f"wrote {sweep_dir}/summary.md")


@app.command("report")
@_friendly
def report_command(
    directory: Annotated[Path, typer.Argument(help="A run directory (result.json) or a sweep directory (trials.json).")],
    out: Annotated[Path | None, typer.Option(help="The page to write (default: DIRECTORY/report.html).")] = None,
    metric: Annotated[str | None, typer.Option(help="A sweep's metric (default: the sweep's own, or its summary.json).")] = None,
) -> None:
    """One self-contained HTML page for a run or a sweep: metrics, figures and config, or the sweep's statistics."""
    from rewardlab.experiments.report import write_report

    console.print(f"wrote {write_report(directory, out, metric=metric)}")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # `python -m rewardlab.cli ...` runs the command line too (as `python -m rewardlab` does)
    main()
