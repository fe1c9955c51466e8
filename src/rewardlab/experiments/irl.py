"""The tabular experiment: a learner from demonstrations (or, with ``[data] kind = "ranked"``, from
ranked suboptimal demonstrations) on a world with a known reward: demos -> learner -> metrics, reward,
figures. The one code path of ``rewardlab run`` with a ``[world]``
(:func:`tabular_experiment`) and of ``rewardlab irl METHOD --world SPEC --demos N --out DIR``
(:func:`run_irl`, a thin wrapper that builds the run config), which write:

* ``result.json``: settings, metrics (EVD, policy loss, reward distance, feature-expectation gap,
  held-out log-likelihood, agreement with the expert on demonstrated states, and with ``[eval]
  transfer_worlds`` the EVD on fresh worlds, ``evd_transfer``), timings, history;
* ``reward/``: the learned reward as safetensors + JSON (not for behavioural cloning);
* ``figures.png``: true vs learned reward, the learned reward's optimal policy, the learning curve;
* ``config.toml`` and ``metrics.jsonl`` (:mod:`rewardlab.experiments.run`).

``rewardlab irl`` writes its directory all or nothing (:func:`rewardlab._io.run_directory`): an existing
non-empty ``out`` is refused unless ``overwrite``, and replaced only once the new run is complete.
"""

from __future__ import annotations

import inspect
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from rewardlab._io import atomic_write
from rewardlab.data import TrajectoryDataset, feature_counts
from rewardlab.errors import ConfigError, ValidationError
from rewardlab.eval import (
    expected_value_difference,
    feature_expectation_gap,
    heldout_log_likelihood,
    policy_loss,
    reward_distance,
)
from rewardlab.experiments.config import DemoData, LearnerStages, TabularEval
from rewardlab.irl.bc import as_time_indexed
from rewardlab.irl.experts import expert_demonstrations, ranked_suboptimal_demonstrations
from rewardlab.irl.feature_matching import demonstration_episodes
from rewardlab.learner import FitResult
from rewardlab.mdp import World, episode_occupancy, feature_expectations, value_iteration
from rewardlab.mdp.worlds import parse_world_spec, world_builder
from rewardlab.registry import LEARNERS, learner_spec, learners_for

if TYPE_CHECKING:
    from rewardlab.experiments.config import RunConfig
    from rewardlab.experiments.run import Experiment

__all__ = ["IRL_METHODS", "make_learner", "reward_on", "run_irl", "tabular_experiment"]


#: The learners ``rewardlab irl`` runs: those of the registry that learn from demonstrations on tabular worlds.
IRL_METHODS = learners_for(data="demonstrations", space="tabular")


def make_learner(method: str, **hyperparameters: Any) -> Any:
    """Build the IRL learner ``method`` (one of :data:`IRL_METHODS`) with the given hyperparameters: each
    checked against the type its config declares (command-line text is read by that type), then by the
    config's own checks (:meth:`rewardlab.registry.LearnerSpec.make`)."""
    return learner_spec(method, IRL_METHODS).make(**hyperparameters)


def _jsonable(x: Any) -> Any:
    """``x`` as JSON values; an array of up to 4,096 numbers as a list, a larger one as its shape only."""
    if isinstance(x, (torch.Tensor, np.ndarray)):
        n = x.numel() if isinstance(x, torch.Tensor) else x.size
        return x.tolist() if n <= 4096 else {"shape": list(x.shape), "dtype": str(x.dtype), "values": "not written (over 4,096)"}
    if is_dataclass(x) and not isinstance(x, type):
        return {k: _jsonable(v) for k, v in asdict(x).items()}
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return repr(x)


def _agreement(world: World, policy: torch.Tensor, expert: torch.Tensor, demos: TrajectoryDataset) -> float:
    """Fraction of demonstrated (t, s) where the policy's most likely action is one the expert takes."""
    states, _, times = demos.decisions()
    finite = world.mdp.horizon is not None
    s = torch.as_tensor(states)
    t = torch.as_tensor(times)
    mine = policy[t, s] if policy.ndim == 3 else policy[s]
    theirs = expert[t, s] if finite else expert[s]
    best = mine.argmax(-1)
    return float((theirs.gather(-1, best[:, None]) > 0).double().mean())


def _over(world: World, policy: torch.Tensor, horizon: int) -> tuple[Any, torch.Tensor]:
    """The world's MDP with ``horizon`` decisions, and ``policy`` time-indexed to match it."""
    mdp = world.mdp if world.mdp.horizon == horizon else world.mdp.replace(horizon=horizon)
    if policy.ndim == 2:
        policy = as_time_indexed(policy, horizon)
    return mdp, policy[:horizon]


def evaluate(
    world: World, result: FitResult, demos: TrajectoryDataset | None, held_out: TrajectoryDataset | None, expert: torch.Tensor | None
) -> dict[str, float]:
    """Metrics of a fit against the world's true reward.

    ``evd`` and ``reward_distance`` need a learned reward; ``policy_loss`` (uniform start, true
    reward) is that of the policy optimal for the learned reward, or of the learner's own policy
    (behavioural cloning); ``agreement_on_demo_states`` compares its most likely actions with
    ``expert``'s (the optimal policy) on the demonstrated states; ``feature_gap`` and
    ``heldout_log_likelihood`` are measured over the demonstrations' length from their start states.
    With ``held_out=None`` (the demonstrations are not the expert's: ranked suboptimal ones) those two
    measures of matching the demonstrations are left out; without demonstrations (learning from a
    learner: ``demos`` None) only the metrics of the learned reward.
    """
    mdp = world.mdp
    metrics: dict[str, float] = {}
    reward = getattr(result.reward, "values", None)
    if reward is not None:
        metrics["evd"] = expected_value_difference(mdp, world.reward, reward)
        metrics["reward_distance"] = reward_distance(mdp, world.reward, reward)
        policy = value_iteration(mdp, reward).policy
    else:
        if result.policy is None:
            raise ConfigError("method", "returned neither a reward nor a policy", "check the learner")
        policy = result.policy.to(mdp.dtype)
        if mdp.horizon is not None and policy.ndim == 2:
            policy = as_time_indexed(policy, mdp.horizon)
    metrics["policy_loss"] = policy_loss(mdp, world.reward, policy, initial="uniform")
    if demos is None or expert is None:
        return metrics
    metrics["agreement_on_demo_states"] = _agreement(world, policy, expert, demos)
    if held_out is None:
        return metrics
    length = max(len(tr) for tr in demos)
    if mdp.features is not None:
        mu_pi = feature_expectations(mdp, episode_occupancy(mdp, policy, *demonstration_episodes(demos, mdp)))
        metrics["feature_gap"] = feature_expectation_gap(feature_counts(demos, mdp.features, discount=mdp.discount), mu_pi.numpy())
    if result.policy is not None:
        model_policy = result.policy.to(mdp.dtype)
        horizon = model_policy.shape[0] if model_policy.ndim == 3 else length
        model, timed = _over(world, model_policy, horizon)
        metrics["heldout_log_likelihood"] = heldout_log_likelihood(model, timed, held_out)
    return metrics


def _figures(world: World, result: FitResult, metrics: dict[str, float], method: str) -> bytes | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reward = getattr(result.reward, "values", None)
    panels = (2 if reward is not None else 1) + 1 if world.shape is not None else 0
    curve = [k for k in ("objective", "loss", "gap", "margin", "log_posterior") if k in result.history]
    panels += bool(curve)
    if panels == 0:
        return None
    fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 4.2), squeeze=False)
    i = 0
    if world.shape is not None:
        world.plot(axes[0, i], title="true reward")
        i += 1
        if reward is not None:
            policy = value_iteration(world.mdp, reward).policy
            world.plot(axes[0, i], values=reward, title=f"learned reward ({method})")
            i += 1
        else:
            assert result.policy is not None
            policy = result.policy
        world.plot(axes[0, i], policy=policy, title=f"its policy, EVD/policy loss {metrics['policy_loss']:.3g}")
        i += 1
    if curve:
        ax = axes[0, i]
        ax.plot(result.history.steps, result.history[curve[0]])
        ax.set_xlabel("step")
        ax.set_ylabel(curve[0])
        ax.set_title("learning curve")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def _posterior_summary(world: World, result: FitResult, out: Path, *, figures: bool = True) -> dict[str, Any]:
    """Save a Bayesian learner's samples and (with ``figures``) trace plot; return its diagnostics and,
    for Bayesian IRL's reward posterior on a discounted world, the posterior's 0.95-VaR of the returned
    policy's EVD and the sufficiency verdict (B-REX's posterior is over reward weights given rankings:
    its diagnostics only). When the chains have not mixed (or hold too few effective samples for the
    bound), the verdict and the VaR are ``null``, ``sufficient_reason`` says why and ``warnings`` holds
    the message."""
    from rewardlab.irl.posterior import RewardPosterior

    posterior = result.posterior
    posterior.save(out / "posterior")
    if figures and isinstance(posterior, RewardPosterior):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig = posterior.trace_plot()
        fig.savefig(out / "trace.png", dpi=90)
        plt.close(fig)
    diag = posterior.diagnostics()
    summary: dict[str, Any] = {
        "acceptance": diag["acceptance"],
        "rhat": np.asarray(diag["rhat"]).tolist(),
        "ess": np.asarray(diag["ess"]).tolist(),
        "samples": list(posterior.samples.shape),
        "warnings": [],
    }
    if world.mdp.horizon is None and result.policy is not None and isinstance(posterior, RewardPosterior):
        from rewardlab.irl.sufficiency import sufficiency

        try:
            verdict = sufficiency(posterior, result.policy, initial="uniform")
        except ValidationError:  # too few samples for the order statistic
            return summary
        undetermined = verdict.reason is not None
        summary["evd_var_0.95"] = None if undetermined else posterior.evd_var(result.policy, 0.95, initial="uniform")
        summary["sufficiency_bound"] = None if undetermined else verdict.bound
        summary["sufficient"] = verdict.sufficient
        if undetermined:
            summary["sufficient_reason"] = verdict.reason
            summary["warnings"].append(f"sufficiency and the 0.95-VaR of EVD are undetermined: {verdict.reason}")
    return summary


@contextmanager
def as_demos_option(name: str = "data.demos") -> Iterator[None]:
    """Name a demonstration count the sampler refuses (its argument ``n``, e.g. one whose memory estimate
    is beyond the machine's) as the run config's ``data.demos`` (or ``name``)."""
    try:
        yield
    except ValidationError as exc:
        if exc.field != "n":
            raise
        raise type(exc)(name, exc.problem, "ask for fewer demonstrations") from None


def reward_on(result: FitResult, world: World) -> torch.Tensor:
    """The learned reward applied to ``world``'s state features ``(S', F)`` -> ``(S',)`` (e.g. a transfer
    world of the same kind with another seed, Wulfmeier et al. 2015): Deep MaxEnt's network
    (:func:`rewardlab.irl.deep_maxent.predict_reward`, with the training world's feature scaling), or a
    linear reward's weights, ``features @ w``.

    Raises:
        ConfigError: the reward is neither (no weights, or weights that do not give the learned reward
            on the training world's raw features), or the world has no features.
    """
    from rewardlab.irl.deep_maxent import predict_reward

    features = world.mdp.features
    if features is None:
        raise ConfigError("eval.transfer_worlds", f"world {world.name!r} has no state features", "set it to 0")
    if "network" in result.info and "feature_scaling" in result.info:
        return predict_reward(result, features)
    weights = getattr(result.reward, "weights", None)
    if weights is None or weights.shape != (features.shape[1],):
        raise ConfigError("eval.transfer_worlds", "the learned reward is not linear in the state features", "set it to 0")
    values: torch.Tensor = features @ weights.to(features.dtype)
    return values


def _spec_text(name: str, options: dict[str, Any]) -> str:
    """A world's options as a ``make_world`` spec (those that differ from the builder's defaults)."""
    defaults = {k: p.default for k, p in inspect.signature(world_builder(name)).parameters.items()}

    def text(value: Any) -> str:
        if isinstance(value, tuple) and all(isinstance(v, int) for v in value):
            return "x".join(map(str, value))
        return str(value)

    given = [f"{k}={text(v)}" for k, v in options.items() if defaults.get(k, inspect.Parameter.empty) != v]
    return name + (":" + ",".join(given) if given else "")


def _ranked_data(
    world: World, n: int, seed: int, length: int | None, rankings: bool
) -> tuple[TrajectoryDataset, np.ndarray, np.ndarray | None, list[str]]:
    """``[data] kind = "ranked"``: ``n`` suboptimal demonstrations ranked by their true return (seed
    ``seed``), their returns, the scores a ranking learner gets (None: the recorded ranks) and warnings.

    When every demonstration has the same return there is nothing to rank: a ranking learner
    (``rankings``) then gets them ranked by their order, the later higher (scores ``returns + 1e-9 i``,
    as the B-REX gridworld table of ``benchmarks/rankings.py`` did), and a warning says so."""
    demos, returns = ranked_suboptimal_demonstrations(world, n, rng=np.random.default_rng(seed), length=length)
    if not rankings or n < 2 or np.ptp(returns) > 0:
        return demos, returns, None, []
    warning = f"all {n} ranked demonstrations have the same true return ({returns[0]:g}): ranked by their order instead, the later higher"
    return demos, returns, returns + np.arange(n) * 1e-9, [warning]


def tabular_experiment(cfg: RunConfig) -> Experiment:
    """Prepare a tabular run: build the world (and the transfer worlds), sample the demonstrations
    (seed ``cfg.seed``) and, from the expert, held-out ones (seed ``cfg.seed + 10_000``), configure the
    learner (its fit seeded by ``cfg.seed + 1``). Nothing is trained until ``fit``.

    With ``[data] kind = "ranked"`` the demonstrations are ranked suboptimal ones (:func:`_ranked_data`):
    trex and brex learn from their ranking, a demonstration learner treats them as the expert's, and
    ``agreement_on_demo_states`` compares with the optimal policy. With ``[data] kind = "stages"``
    (learning from a learner) the learner sees the observed learner's stages instead
    (:func:`rewardlab.experiments.lfl.observed_learner`)."""
    from rewardlab.experiments.run import Experiment

    assert cfg.world is not None and isinstance(cfg.eval, TabularEval) and isinstance(cfg.data, (DemoData, LearnerStages))
    name, data = cfg.learner.name, cfg.data
    spec = LEARNERS[name]
    learner = spec.learner_class()(cfg.learner.config)
    world = cfg.world.build()
    scores: np.ndarray | None = None
    returns: np.ndarray | None = None
    data_warnings: list[str] = []
    held_out: TrajectoryDataset | None = None
    demos: TrajectoryDataset | None = None
    expert_policy: torch.Tensor | None = None
    observed = None
    train: Any
    if isinstance(data, LearnerStages):  # learning from a learner (experiments/lfl.py)
        from rewardlab.experiments.lfl import observed_learner

        observed = observed_learner(world, data, cfg.learner.config.alpha, cfg.seed)
        train, described = observed.data, observed.summary(data.length)
    else:
        n_demos, length, expert, epsilon = data.demos, data.length, data.expert, data.epsilon
        ranked = data.kind == "ranked"
        with as_demos_option():
            if ranked:
                demos, returns, scores, data_warnings = _ranked_data(world, n_demos, cfg.seed, length, spec.data == "rankings")
                expert_policy = value_iteration(world.mdp, world.reward).policy
            else:
                demos, expert_policy = expert_demonstrations(
                    world, n_demos, rng=np.random.default_rng(cfg.seed), length=length, expert=expert, epsilon=epsilon
                )
                held_out, _ = expert_demonstrations(
                    world, max(n_demos, 16), rng=np.random.default_rng(cfg.seed + 10_000), length=length, expert=expert, epsilon=epsilon
                )
        train = demos
        described = {
            "demos": n_demos,
            "demo_length": max(len(tr) for tr in demos),
            "expert": "ranked" if ranked else expert,
            "epsilon": epsilon,
        }
    base_seed = cfg.world.options.get("seed", 0)
    transfer = [cfg.world.build(seed=base_seed + cfg.eval.transfer_seed_offset + i) for i in range(cfg.eval.transfer_worlds)]

    def fit(callback: Any, checkpoint: Any) -> FitResult:
        extra: dict[str, Any] = {} if checkpoint is None else {"checkpoint": checkpoint}
        if scores is not None:
            extra["scores"] = scores
        return learner.fit(train, world.mdp, rng=np.random.default_rng(cfg.seed + 1), callback=callback, **extra)  # type: ignore[no-any-return]

    def finish(result: FitResult, directory: Path) -> dict[str, Any]:
        metrics = evaluate(world, result, demos, held_out, expert_policy)
        if observed is not None:
            metrics |= observed.metrics(world, result)
        summary: dict[str, Any] = {
            "method": name,
            "description": spec.description,
            "world": _spec_text(cfg.world.name, cfg.world.options),  # type: ignore[union-attr]
            **described,
            "seed": cfg.seed,
        }
        if returns is not None:
            summary["demo_returns"] = returns.tolist()
        if transfer:
            evds = [expected_value_difference(test.mdp, test.reward, reward_on(result, test)) for test in transfer]
            metrics["evd_transfer"] = float(np.mean(evds))
            summary["transfer"] = [{"world_seed": base_seed + cfg.eval.transfer_seed_offset + i, "evd": e} for i, e in enumerate(evds)]  # type: ignore[union-attr]
        summary["metrics"] = metrics
        summary["info"] = _jsonable({k: v for k, v in result.info.items() if k not in ("network", "policies", "model", "spec")})
        summary["history"] = result.history.to_dict()
        summary["warnings"] = data_warnings + [str(w) for w in result.info.get("warnings", [])]
        if getattr(result.reward, "save", None) is not None:
            result.reward.save(directory / "reward")
        if result.posterior is not None:
            posterior_summary = _posterior_summary(world, result, directory, figures=cfg.figures)
            summary["warnings"] += posterior_summary.pop("warnings")
            summary["posterior"] = posterior_summary
        png = _figures(world, result, metrics, name) if cfg.figures else None
        if png is not None:
            atomic_write(directory / "figures.png", lambda f: f.write(png))
        return summary

    total = getattr(cfg.learner.config, "iterations", None) if spec.iterative else None
    return Experiment(f"{name} on {cfg.world.name}", total, fit, finish)


#: How ``rewardlab irl`` names the run config's keys in its errors: its options, and the learner's and
#: the world's settings by their own names (as ``--set`` and the world spec give them).
_IRL_NAMES = {"data.demos": "--demos", "data.length": "--length", "data.expert": "--expert", "data.epsilon": "--epsilon", "seed": "--seed"}


@contextmanager
def named_as(exact: dict[str, str], prefixes: dict[str, str]) -> Iterator[None]:
    """Re-raise a :class:`ValidationError` from a run config with a command's own names for its field:
    ``exact`` maps whole fields (``"data.demos"`` -> ``"--demos"``), ``prefixes`` their starts
    (``"learner."`` -> ``""``)."""
    try:
        yield
    except ValidationError as exc:
        field = exact.get(exc.field)
        if field is None:
            start = next((p for p in prefixes if exc.field.startswith(p)), None)
            if start is None:
                raise
            field = prefixes[start] + exc.field[len(start) :]
        raise type(exc)(field, exc.problem, exc.fix) from None


def run_irl(
    method: str,
    world_spec: str,
    n_demos: int,
    out: str | Path,
    *,
    seed: int = 0,
    length: int | None = None,
    expert: str = "optimal",
    epsilon: float = 0.0,
    hyperparameters: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Sample demonstrations in ``world_spec``, fit ``method``, evaluate and write the run directory
    ``out`` (checked first; an existing non-empty one only with ``overwrite``), all or nothing: the run
    config of these arguments (the world's seed is the spec's, default 0, not ``seed``) run by
    :func:`rewardlab.experiments.run.execute`."""
    from rewardlab.experiments.config import load_run_config
    from rewardlab.experiments.run import execute

    learner_spec(method, IRL_METHODS)
    with named_as(_IRL_NAMES, {"learner.": "", "world.name": "world", "world.": ""}):
        name, options = parse_world_spec(world_spec)
        parameters = inspect.signature(world_builder(name)).parameters
        world: dict[str, Any] = {"name": name}
        if "seed" in parameters and "seed" not in options:
            world["seed"] = parameters["seed"].default  # `rewardlab irl` keeps the spec's world seed
        learner: dict[str, Any] = {"name": method}
        overrides = {f"world.{k}": v for k, v in options.items()}
        for key, value in (hyperparameters or {}).items():
            if isinstance(value, str):
                overrides[f"learner.{key}"] = value
            else:
                learner[key] = value
        if n_demos < 1:
            raise ConfigError("--demos", f"is {n_demos}", "ask for at least one demonstration")
        table: dict[str, Any] = {
            "seed": seed,
            "learner": learner,
            "world": world,
            "data": {"demos": n_demos, "expert": expert, "epsilon": epsilon},
        }
        if length is not None:
            table["data"]["length"] = length
        cfg = load_run_config(table, overrides)
        return execute(cfg, out, overwrite=overwrite, staged=True)
