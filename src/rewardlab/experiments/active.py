"""The active preference learning experiment: ``rewardlab run`` with ``[learner] name = "active-linear"`` on a
``[world]`` whose reward is linear in its state features (``World.weights``: featuregrid, navigation,
random). The learner asks a simulated teacher of the true weights one query per step
(:class:`rewardlab.prefs.active_linear.ActivePreferenceLearner`, seeded by the run's seed + 1; the world by
the run's seed unless ``[world] seed`` is given) and the run writes:

* ``result.json``: the metrics, the cosine curve (``curve``: ``queries`` and ``cosine`` per query), the
  history, the asked pairs and labels (``info``); metrics:

  - ``queries_to_0.9`` (``queries_to_<target>``): the first query count whose cosine similarity between the
    posterior-mean weights and the true weights is at least ``learner.target`` (0.9). A run that never
    reaches it within its budget counts as **budget + 1** (``learner.queries + 1``): right-censored, a lower
    bound, so medians and IQMs over seeds are lower bounds when any run is censored; ``reached_0.9`` is 1 or
    0 per run, its mean the fraction that reached it;
  - ``final_cosine`` (after the last query) and ``mean_cosine`` (the mean over queries: the area under the
    cosine curve divided by the budget);
  - ``evd``, ``reward_distance`` and ``policy_loss`` of the learned (posterior-mean) reward on the world;
* ``reward/`` (the linear reward), ``posterior/`` (the last query's MH samples);
* ``figures.png`` (unless ``figures = false``): true and learned reward, the cosine against queries;
* ``config.toml`` and ``metrics.jsonl`` (one line per query) as every run does.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rewardlab._io import atomic_write
from rewardlab.errors import ConfigError
from rewardlab.learner import FitResult
from rewardlab.registry import LEARNERS

if TYPE_CHECKING:
    from rewardlab.experiments.config import RunConfig
    from rewardlab.experiments.run import Experiment

__all__ = ["active_experiment", "cosine_metrics"]


def cosine_metrics(cosines: Any, target: float, budget: int) -> dict[str, float]:
    """The run's cosine metrics: ``queries_to_<target>`` (budget + 1 when never reached), ``reached_<target>``,
    ``final_cosine`` and ``mean_cosine`` (over the ``budget`` queries; a run stopped early averages what it asked).

    Examples:
        >>> {k: round(v, 4) for k, v in cosine_metrics([0.5, 0.92, 0.95], 0.9, 3).items()}
        {'queries_to_0.9': 2.0, 'reached_0.9': 1.0, 'final_cosine': 0.95, 'mean_cosine': 0.79}
        >>> cosine_metrics([0.5, 0.6], 0.9, 2)["queries_to_0.9"]  # censored: budget + 1
        3.0
    """
    from rewardlab.prefs.active_linear import queries_to_reach

    c = np.asarray(cosines, dtype=np.float64)
    reached = queries_to_reach(c, target)
    return {
        f"queries_to_{target:g}": float(budget + 1 if reached is None else reached),
        f"reached_{target:g}": float(reached is not None),
        "final_cosine": float(c[-1]),
        "mean_cosine": float(c.mean()),
    }


def _figure(world: Any, result: FitResult, label: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = world.shape is not None
    fig, axes = plt.subplots(1, 3 if grid else 1, figsize=(13.5 if grid else 4.6, 4.2), squeeze=False)
    if grid:
        world.plot(axes[0, 0], title="true reward")
        world.plot(axes[0, 1], values=result.reward.values, title=f"learned reward ({label})")
    ax = axes[0, -1]
    ax.plot(result.history["queries"], result.history["cosine"])
    ax.axhline(result.info["target"], color="grey", lw=0.8, ls="--")
    ax.set_xlabel("queries")
    ax.set_ylabel("cosine(posterior mean w, true w)")
    ax.set_ylim(-1.05, 1.05)
    ax.set_title(f"{result.info['strategy']}, teacher {result.info['teacher']}")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


def active_experiment(cfg: RunConfig) -> Experiment:
    """Prepare an active-linear run: build the world (its true weights are the teacher's) and the learner.

    Raises:
        ConfigError: a world whose reward is not linear in its features (``world.name``).
    """
    from rewardlab.experiments.irl import _jsonable, _spec_text, evaluate
    from rewardlab.experiments.run import Experiment

    assert cfg.world is not None
    name = cfg.learner.name
    spec = LEARNERS[name]
    learner = spec.learner_class()(cfg.learner.config)
    world = cfg.world.build()
    if world.weights is None or world.mdp.features is None:
        raise ConfigError(
            "world.name",
            f"{cfg.world.name!r} has no true reward linear in its state features, which the teacher needs",
            "use featuregrid, navigation or random",
        )
    config = cfg.learner.config

    def fit(callback: Any, checkpoint: Any) -> FitResult:
        return learner.fit(world.weights, world.mdp, rng=np.random.default_rng(cfg.seed + 1), callback=callback)  # type: ignore[no-any-return]

    def finish(result: FitResult, directory: Path) -> dict[str, Any]:
        metrics = cosine_metrics(result.history["cosine"], config.target, config.queries)
        metrics |= evaluate(world, result, None, None, None)
        summary: dict[str, Any] = {
            "method": name,
            "description": spec.description,
            "world": _spec_text(cfg.world.name, cfg.world.options),  # type: ignore[union-attr]
            "seed": cfg.seed,
            "strategy": config.strategy,
            "teacher": config.teacher,
            "queries": config.queries,
            "metrics": metrics,
            "curve": {"queries": result.history["queries"], "cosine": result.history["cosine"]},
            "info": _jsonable(result.info),
            "history": result.history.to_dict(),
            "warnings": [str(w) for w in result.info.get("warnings", [])],
        }
        result.reward.save(directory / "reward")
        result.posterior.save(directory / "posterior")
        if cfg.figures:
            png = _figure(world, result, cfg.learner.label)
            atomic_write(directory / "figures.png", lambda f: f.write(png))
        return summary

    return Experiment(f"{name} ({config.strategy}) on {cfg.world.name}", config.queries, fit, finish)
