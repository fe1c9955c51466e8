"""RL from preferences (Christiano et al. 2017) as a ``rewardlab run`` experiment, and ``rewardlab rlhf``.

A run config with ``[learner] name = "rlhf"`` and an ``[env]`` (no ``[data]``: the teacher is the
learner's ``teacher``, a B-Pref preset of :data:`rewardlab.prefs.teachers.TEACHER_PRESETS`) fits
:class:`rewardlab.prefs.rlhf.RLHF` on the env, seeded by the run's seed; ``rewardlab rlhf`` builds that
config from its options (:func:`run_rlhf`) and runs it by the same path as ``rewardlab run``
(:func:`rewardlab.experiments.run.run_config`). The run directory holds:

* ``config.toml``: the resolved config; ``rewardlab run DIR/config.toml --out OTHER`` runs it again;
* ``metrics.jsonl``: one row per round of the loop (every ``feedback_every`` env steps; labels are
  asked until ``label_until`` of the steps), ``step`` = the round (from 0), with ``env_steps``,
  ``labels`` (asked so far; with people, answered so far), ``label_accuracy`` (the reward model against the true returns of the
  round's new pairs, before training on them; null in round 0 and in rounds that asked none),
  ``true_return`` (mean true return of the episodes finished since the last round), ``seconds``, and
  in the rounds that asked labels the reward trainer's ``new_labels``, ``train_accuracy``,
  ``val_accuracy``, ``train_loss``, ``val_loss``; ``eval_return`` where the loop evaluated its policy;
* ``checkpoints/``: the loop's state every ``checkpoint_every`` rounds (labels, reward ensemble, policy
  and optimiser, schedule, rng); ``--resume`` continues a killed run from there (the envs restart their
  episodes, so it is not bit-identical to an uninterrupted run);
* ``reward/``: the learned reward ensemble, normalised (:meth:`rewardlab.rewards.NeuralReward.save`;
  :func:`rewardlab.rewards.load_reward` reads it, ``rewardlab train-policy --reward DIR/reward`` trains on it);
* ``policy/model.zip``: the loop's final SB3 policy (``stable_baselines3.PPO.load`` or ``SAC.load``);
* ``preferences/``: every pair asked, with the teacher's label and both segments' true rewards
  (:func:`rewardlab.data.preferences.save_preferences`; :func:`rewardlab.data.preferences.load_preferences`
  reads it, ``expect_env`` the env's id);
* ``curves.png`` (unless ``figures = false``): the true return of the training episodes (and of the
  evaluations) against env steps, and the reward model's label accuracy against labels
  (:func:`rlhf_curves`);
* ``result.json``: ``metrics`` ``eval_return_mean``, ``eval_return_std`` (the final policy on the true
  reward over ``learner.eval_episodes`` episodes), ``labels``, ``env_steps``, ``label_accuracy`` (the last
  round's that measured it, often on few labels), ``label_accuracy_mean`` (over every round, weighted by
  its new labels), ``val_accuracy`` (held-out labels at the end), ``seconds`` (the loop's wall
  time); with ``env``, ``teacher``, ``query``, ``algo``, ``policy_reward`` (``"true"``: the control whose
  policy trains on the env's reward), ``skipped`` (labels the teacher declined) and ``curve`` (the
  metrics rows).

**People as the teacher.** With ``teacher = "human"`` and ``label_server = URL`` (``rewardlab rlhf
--teacher human --label-server URL``) the loop posts its queries to a labelling server (``rewardlab label
serve``) and trains on the answers as they arrive (:class:`rewardlab.labeling.teacher.LabelServerTeacher`;
the loop's side: :mod:`rewardlab.prefs.rlhf`, "People"). The server's operator token is read from the
environment variable ``REWARDLAB_LABEL_TOKEN`` (never from the command line or the config, so it stays
out of ``config.toml``, shell histories and process lists); the queries are posted with the run
directory as their ``run``. A server that fails or cannot be reached stops the run with its error;
``--resume`` continues from the last checkpoint and collects the queries pending there. ``result.json``
adds ``unanswered`` (queries with no answer by the end) and ``asked``; the metrics rows add ``asked``
and ``pending``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rewardlab.errors import ConfigError
from rewardlab.learner import FitResult

if TYPE_CHECKING:
    from rewardlab.experiments.config import RunConfig
    from rewardlab.experiments.run import Experiment

__all__ = ["LABEL_TOKEN_ENV", "RLHF_OPTIONS", "label_token", "rlhf_curves", "rlhf_experiment", "run_rlhf"]

#: The environment variable holding the labelling server's operator token for ``teacher = "human"``.
LABEL_TOKEN_ENV = "REWARDLAB_LABEL_TOKEN"


def label_token(environ: Any = None) -> str:
    """The labelling server's operator token from ``$REWARDLAB_LABEL_TOKEN`` (``environ``: default
    ``os.environ``), or a :class:`ConfigError` saying how to make and give one.

    Examples:
        >>> label_token({"REWARDLAB_LABEL_TOKEN": " tok "})
        'tok'
        >>> label_token({})
        Traceback (most recent call last):
        ...
        rewardlab.errors.ConfigError: REWARDLAB_LABEL_TOKEN: is not set, and the human teacher needs the labelling server's operator token. Fix: make one with `rewardlab label add-annotator NAME --operator` and export REWARDLAB_LABEL_TOKEN=<token> (it is read from the environment only, never from the command line).
    """
    import os

    token = (os.environ if environ is None else environ).get(LABEL_TOKEN_ENV, "").strip()
    if not token:
        raise ConfigError(
            LABEL_TOKEN_ENV,
            "is not set, and the human teacher needs the labelling server's operator token",
            f"make one with `rewardlab label add-annotator NAME --operator` and export {LABEL_TOKEN_ENV}=<token> "
            "(it is read from the environment only, never from the command line)",
        )
    return token


def _check_server_url(url: str | None, field: str) -> str:
    """``url`` if it is an http(s) URL, else a :class:`ConfigError` on ``field``.

    Examples:
        >>> _check_server_url("http://127.0.0.1:8000", "label_server")
        'http://127.0.0.1:8000'
        >>> _check_server_url("127.0.0.1:8000", "label_server")
        Traceback (most recent call last):
        ...
        rewardlab.errors.ConfigError: label_server: is '127.0.0.1:8000', not an http(s) URL. Fix: give the labelling server's URL, e.g. http://127.0.0.1:8000 (what rewardlab label serve prints).
    """
    fix = "give the labelling server's URL, e.g. http://127.0.0.1:8000 (what rewardlab label serve prints)"
    if url is None or not url.strip():
        raise ConfigError(field, "is missing, and the human teacher needs the labelling server", fix)
    if not url.startswith(("http://", "https://")):
        raise ConfigError(field, f"is {url!r}, not an http(s) URL", fix)
    return url


def _last_finite(rows: list[dict[str, Any]], key: str) -> float:
    """The last finite ``row[key]`` of ``rows``, NaN when none has one.

    Examples:
        >>> _last_finite([{"a": 0.5}, {"a": float("nan")}, {}], "a")
        0.5
        >>> _last_finite([], "a")
        nan
    """
    for row in reversed(rows):
        value = row.get(key)
        if value is not None and math.isfinite(float(value)):
            return float(value)
    return math.nan


def _weighted_accuracy(rows: list[dict[str, Any]]) -> float:
    """The mean of the rounds' ``label_accuracy`` weighted by their ``new_labels``: the reward model's
    accuracy on every label it was asked to predict before training on it (NaN when none was).

    Examples:
        >>> _weighted_accuracy([{"label_accuracy": None, "new_labels": 5}, {"label_accuracy": 0.5, "new_labels": 4},
        ...                     {"label_accuracy": 1.0, "new_labels": 1}])
        0.6
    """
    pairs = [
        (float(r["label_accuracy"]), float(r["new_labels"])) for r in rows if r.get("label_accuracy") is not None and r.get("new_labels")
    ]
    pairs = [(a, n) for a, n in pairs if math.isfinite(a) and n > 0]
    return sum(a * n for a, n in pairs) / sum(n for _, n in pairs) if pairs else math.nan


def rlhf_curves(curve: list[dict[str, Any]], *, final: tuple[float, float, float] | None = None, title: str = "") -> Any:
    """The learning curves of an RLHF loop as a two-panel matplotlib figure.

    Left: the mean true return of the episodes finished in each round (``true_return``) and of the
    evaluations (``eval_return``, where the loop evaluated) against ``env_steps``, and the ``final``
    evaluation ``(env_steps, mean, std)`` as a point with its standard deviation. Right: the reward
    model's ``label_accuracy`` on each round's new labels (measured before training on them; points,
    and their running mean weighted by the rounds' ``new_labels``) and its ``val_accuracy`` on the
    held-out labels against ``labels``, with chance (0.5) marked.

    Args:
        curve: the loop's metrics rows (``FitResult.info["curve"]``, one per labelling round).
        final: the final evaluation, or None.
        title: the figure's title.

    Examples:
        >>> rows = [{"env_steps": 512.0, "labels": 4.0, "new_labels": 4.0, "true_return": -1200.0, "label_accuracy": float("nan")},
        ...         {"env_steps": 1024.0, "labels": 8.0, "new_labels": 4.0, "true_return": -900.0, "label_accuracy": 0.75}]
        >>> fig = rlhf_curves(rows, final=(1024.0, -850.0, 40.0))
        >>> [ax.get_xlabel() for ax in fig.axes]
        ['env steps', 'labels']
    """
    import matplotlib.pyplot as plt

    def column(key: str, rows: list[dict[str, Any]]) -> np.ndarray:
        return np.array([float(r[key]) if r.get(key) is not None else math.nan for r in rows], dtype=float)

    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.8))
    steps = column("env_steps", curve)
    for key, label, style in (("true_return", "training episodes", "-o"), ("eval_return", "evaluation", "s")):
        values = column(key, curve)
        shown = np.isfinite(values) & np.isfinite(steps)
        if shown.any():
            left.plot(steps[shown], values[shown], style, ms=3, label=label)
    if final is not None and math.isfinite(final[1]):
        left.errorbar([final[0]], [final[1]], yerr=[final[2]], fmt="D", color="tab:red", capsize=3, label="final evaluation")
    left.set_xlabel("env steps")
    left.set_ylabel("true return")
    left.set_title("policy")
    labels = column("labels", curve)
    for key, label, style in (("label_accuracy", "new labels (before training)", "o"), ("val_accuracy", "held-out labels", "--s")):
        values = column(key, curve)
        shown = np.isfinite(values) & np.isfinite(labels)
        if shown.any():
            right.plot(labels[shown], values[shown], style, ms=3, label=label)
    accuracy, new = column("label_accuracy", curve), column("new_labels", curve)
    counted = np.isfinite(accuracy) & np.isfinite(new) & (new > 0)
    if counted.any():  # a round asks few labels late in the schedule: their running mean is the readable curve
        running = np.cumsum(accuracy[counted] * new[counted]) / np.cumsum(new[counted])
        right.plot(labels[counted], running, "-", color="tab:blue", label="new labels, running mean")
    right.axhline(0.5, color="0.7", lw=1, ls=":", label="chance")
    right.set_ylim(0.0, 1.02)
    right.set_xlabel("labels")
    right.set_ylabel("reward model's accuracy")
    right.set_title("reward model")
    for ax in (left, right):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def rlhf_experiment(cfg: RunConfig) -> Experiment:
    """Prepare an ``rlhf`` run (see the module docstring): the loop's config is checked already
    (:func:`rewardlab.experiments.config.load_run_config`); ``fit`` runs
    :meth:`rewardlab.prefs.rlhf.RLHF.fit` on ``cfg.env.id`` with the run's callback (a metrics row per
    labelling round) and checkpoint, ``rng`` seeded by ``cfg.seed``; ``finish`` writes ``reward/``,
    ``policy/model.zip``, ``preferences/``, ``curves.png`` and the summary."""
    from rewardlab.experiments.run import Experiment
    from rewardlab.prefs.rlhf import planned_rounds
    from rewardlab.registry import LEARNERS

    assert cfg.env is not None and cfg.data is None
    env_id, config, name = cfg.env.id, cfg.learner.config, cfg.learner.name
    spec = LEARNERS[name]
    human = config.teacher == "human"
    token = ""
    if human:  # checked before any work: the server's URL, the token, the client's packages
        url = _check_server_url(config.label_server, "learner.label_server")
        token = label_token()
        try:
            from rewardlab.labeling.teacher import LabelServerTeacher
        except ImportError as exc:
            raise ConfigError(
                "learner.teacher", f"is 'human', but the labelling client cannot be imported ({exc})", "pip install 'rewardlab[label]'"
            ) from exc
    directory: list[Path] = []

    def setup(run_dir: Path) -> None:
        directory[:] = [run_dir]

    def fit(callback: Any, checkpoint: Any) -> FitResult:
        extra: dict[str, Any] = {} if checkpoint is None else {"checkpoint": checkpoint}
        learner = spec.learner_class()(config)
        rng = np.random.default_rng(cfg.seed)
        if not human:
            return learner.fit(env_id, rng=rng, callback=callback, **extra)  # type: ignore[no-any-return]
        run = str(directory[0].resolve()) if directory else ""
        with LabelServerTeacher(url, token, env_id=env_id, run=run) as teacher:
            return learner.fit(env_id, rng=rng, callback=callback, teacher=teacher, **extra)  # type: ignore[no-any-return]

    def finish(result: FitResult, directory: Path) -> dict[str, Any]:
        from rewardlab.data.preferences import save_preferences

        info = result.info
        curve = [dict(row) for row in info.get("curve", [])]
        dataset = info["dataset"]
        result.reward.save(directory / "reward")
        (directory / "policy").mkdir(parents=True, exist_ok=True)
        policy: Any = result.policy  # the SB3 model
        policy.save(directory / "policy" / "model.zip")
        save_preferences(dataset, directory / "preferences")
        mean, std = float(info["eval_return_mean"]), float(info["eval_return_std"])
        if cfg.figures:
            import matplotlib.pyplot as plt

            figure = rlhf_curves(
                curve,
                final=(float(info["env_steps"]), mean, std),
                title=f"{name} on {env_id}: {config.teacher} teacher, {config.query} queries, seed {cfg.seed}",
            )
            figure.savefig(directory / "curves.png", dpi=110)
            plt.close(figure)
        val = info.get("val_accuracy", _last_finite(curve, "val_accuracy"))
        metrics = {
            "eval_return_mean": mean,
            "eval_return_std": std,
            "labels": float(info["labels"]),
            "env_steps": float(info["env_steps"]),
            "label_accuracy": _last_finite(curve, "label_accuracy"),
            "label_accuracy_mean": _weighted_accuracy(curve),
            "val_accuracy": float(val),
            "seconds": float(info["seconds"]),
        }
        return {
            "method": name,
            "env": env_id,
            "seed": cfg.seed,
            "teacher": config.teacher,
            "query": config.query,
            "algo": config.algo,
            "policy_reward": config.policy_reward,
            "skipped": int(dataset.n_skipped),
            **({"asked": int(info["asked"]), "unanswered": int(info["unanswered"])} if human else {}),
            "metrics": metrics,
            "warnings": [str(w) for w in info.get("warnings", [])],
            "curve": curve,  # the rounds' metrics as rows (a round without labels reports no trainer metrics)
        }

    return Experiment(f"{name} on {env_id} (labelling rounds)", planned_rounds(config, env_id), fit, finish, setup)


#: ``rewardlab rlhf``'s options and the run config keys they set (its errors name the options).
RLHF_OPTIONS = {
    "env.id": "--env",
    "learner.teacher": "--teacher",
    "learner.label_server": "--label-server",
    "learner.labels": "--labels",
    "learner.steps": "--steps",
    "learner.query": "--query",
    "learner.algo": "--algo",
    "learner.segment": "--segment",
    "seed": "--seed",
}

#: The run config's own top-level keys ``rewardlab rlhf --set`` may set (the others are learner settings).
_RUN_KEYS = ("checkpoint_every", "tensorboard", "figures")


def run_rlhf(
    env_id: str,
    out: str | Path,
    *,
    teacher: str = "oracle",
    label_server: str | None = None,
    labels: int = 700,
    steps: int = 1_000_000,
    query: str = "disagreement",
    algo: str = "ppo",
    segment: int = 50,
    seed: int = 0,
    settings: dict[str, str] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """``rewardlab rlhf``: the run config of these arguments (``checkpoint_every = 1``: a checkpoint after
    every labelling round), run into ``out`` by :func:`rewardlab.experiments.run.run_config` (resumable;
    an existing non-empty ``out`` only with ``resume`` or ``overwrite``); ``result.json``'s content.

    ``settings`` (``--set key=value``) are learner settings (``feedback_every``, ``reward.members``,
    ``hyperparams.n_steps``, ...) or the run's ``checkpoint_every``, ``tensorboard``, ``figures``; the
    options' own keys are refused there. A checkpoint holds SAC's replay buffer: for long SAC runs,
    ``checkpoint_every=10`` saves the time of writing it every round.

    ``teacher="human"`` asks people through the labelling server at ``label_server`` (its operator
    token in ``$REWARDLAB_LABEL_TOKEN``; the module docstring's "People as the teacher").

    Raises:
        ConfigError: a mistake in any of them, naming the option (``--teacher``) or the setting
            (``reward.members``), before any work.
    """
    from rewardlab.experiments.config import load_run_config
    from rewardlab.experiments.irl import named_as
    from rewardlab.experiments.run import run_config

    if teacher == "human":
        _check_server_url(label_server, "--label-server")
    learner: dict[str, Any] = {
        "name": "rlhf",
        "teacher": teacher,
        "labels": labels,
        "steps": steps,
        "query": query,
        "algo": algo,
        "segment": segment,
    }
    if label_server is not None:
        learner["label_server"] = label_server
    table: dict[str, Any] = {"seed": seed, "checkpoint_every": 1, "learner": learner, "env": {"id": env_id}}
    overrides: dict[str, str] = {}
    for key, value in (settings or {}).items():
        dotted = key if key in _RUN_KEYS else f"learner.{key}"
        if dotted in RLHF_OPTIONS or key in RLHF_OPTIONS or key in ("name", "label", "seed"):
            option = RLHF_OPTIONS.get(dotted, RLHF_OPTIONS.get(key))
            fix = f"give it as {option}" if option else "leave it out: rewardlab rlhf sets it"
            raise ConfigError("--set", f"{key!r} is an option of rewardlab rlhf", fix)
        overrides[dotted] = value
    with named_as(RLHF_OPTIONS, {"learner.": ""}):
        cfg = load_run_config(table, overrides)
    return run_config(cfg, out, resume=resume, overwrite=overwrite, progress=progress)
