"""One run of a :class:`~rewardlab.experiments.config.RunConfig` into a run directory, resumable.

``rewardlab run CONFIG.toml --out DIR`` calls :func:`run_config`, which writes, in this order:

* ``config.toml``: the resolved config (every field, defaults filled in); ``rewardlab run DIR/config.toml``
  reproduces the run;
* ``metrics.jsonl``: one JSON object ``{"step": int, "<metric>": float, ...}`` per step the learner
  reports to its callback, flushed line by line (also to ``DIR/tensorboard`` with ``tensorboard``);
* ``checkpoints/``: the learner's training state (:class:`rewardlab.checkpoint.Checkpoint`, every
  ``checkpoint_every`` steps) for learners whose fit can resume (``LearnerSpec.resumable``);
* the artefacts of the experiment: ``reward/``, ``figures.png`` (tabular), ``posterior/``,
  ``extrapolation.png``, ``policy/`` (gym), ``preferences/`` and ``curves.png`` (rlhf:
  :mod:`rewardlab.experiments.rlhf`), ...;
* ``result.json`` last, atomically: its existence means the run finished. Keys: ``learner``, ``label``,
  ``seed``, ``metrics`` (flat name -> float), ``warnings``, ``fit_seconds`` (of this process's part of
  the fit), ``config`` (the resolved table), and the experiment's own (``history``, ``info``, ...).

Data safety: an existing non-empty ``DIR`` is refused unless ``resume`` (continue it) or ``overwrite``
(write the new run into a hidden sibling and swap it in only once it is complete). ``resume`` of a
finished run returns its ``result.json`` without work; of a killed one, it truncates ``metrics.jsonl``
to the latest checkpoint's step and continues the fit from that checkpoint (same seed, same result
as an uninterrupted run); with a config that differs from ``DIR/config.toml`` (other than
``checkpoint_every``, ``tensorboard`` and ``figures``) it is refused, naming the keys that differ.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardlab._io import atomic_write, check_out, run_directory, write_json
from rewardlab.errors import ConfigError
from rewardlab.experiments.config import ACTIVE_LEARNERS, ADVERSARIAL_LEARNERS, RunConfig, read_toml, run_config_table, toml_text
from rewardlab.learner import Callback, FitResult

__all__ = ["Experiment", "progress_bar", "run_config"]

#: Top-level keys that change how a run is watched or drawn, not what it computes: they may differ on resume.
RUNTIME_KEYS = ("checkpoint_every", "tensorboard", "figures")


@dataclass(frozen=True)
class Experiment:
    """A run prepared (world built, data loaded, learner configured; nothing trained): what
    :func:`run_config` drives. Built by the experiment kinds' ``prepare`` functions
    (:func:`rewardlab.experiments.irl.tabular_experiment`, :func:`rewardlab.experiments.prefs.ranking_experiment`,
    :func:`rewardlab.experiments.rlhf.rlhf_experiment`, :func:`rewardlab.experiments.adversarial.adversarial_experiment`).

    Attributes:
        description: what the progress bar says.
        total: the learner's steps, for the progress bar (None: unknown).
        fit: ``fit(callback, checkpoint) -> FitResult``: the learner's fit.
        finish: ``finish(result, directory) -> summary``: evaluate, write the artefacts into
            ``directory``, return the experiment's part of ``result.json`` (with ``metrics`` and ``warnings``).
        setup: ``setup(directory)``: work in the run directory before the fit (collecting the data into
            it); called again on ``--resume``, where it reuses what it finished. None: nothing to do.
    """

    description: str
    total: int | None
    fit: Callable[[Callback, Any], FitResult]
    finish: Callable[[FitResult, Path], dict[str, Any]]
    setup: Callable[[Path], None] | None = None


def prepare(cfg: RunConfig) -> Experiment:
    """The :class:`Experiment` of ``cfg``'s kind (all checks that need the world or the data happen here)."""
    if cfg.kind == "tabular" and cfg.learner.name in ACTIVE_LEARNERS:
        from rewardlab.experiments.active import active_experiment

        return active_experiment(cfg)
    if cfg.kind == "tabular":
        from rewardlab.experiments.irl import tabular_experiment

        return tabular_experiment(cfg)
    if cfg.learner.name in ADVERSARIAL_LEARNERS:
        from rewardlab.experiments.adversarial import adversarial_experiment

        return adversarial_experiment(cfg)
    if cfg.learner.name == "deep-lfl":
        from rewardlab.experiments.lfl import gym_stages_experiment

        return gym_stages_experiment(cfg)
    if cfg.data is None:  # a learner that asks a teacher in its loop (rlhf)
        from rewardlab.experiments.rlhf import rlhf_experiment

        return rlhf_experiment(cfg)
    from rewardlab.experiments.prefs import ranking_experiment

    return ranking_experiment(cfg)


@contextmanager
def progress_bar(description: str, total: int | None, *, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """A transient rich progress bar on stderr (none when not ``enabled`` or stderr is not a terminal);
    yields ``advance_to(completed)``."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    disable = not (enabled and console.is_terminal)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
        console=console,
        disable=disable,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda done: bar.update(task, completed=done)


def _tensorboard_writer() -> Any:
    """torch's ``SummaryWriter`` class, or a ConfigError saying how to install tensorboard."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise ConfigError(
            "tensorboard", "is on, but the tensorboard package is not installed", "pip install 'rewardlab[tensorboard]', or run without it"
        ) from exc
    return SummaryWriter


def _differences(saved: Any, now: Any, prefix: str = "") -> list[str]:
    """The dotted keys at which two config tables differ."""
    if isinstance(saved, dict) and isinstance(now, dict):
        keys = sorted(set(saved) | set(now))
        return [d for k in keys if not (not prefix and k in RUNTIME_KEYS) for d in _differences(saved.get(k), now.get(k), f"{prefix}{k}.")]
    return [] if saved == now else [prefix.rstrip(".")]


def _fingerprint(table: dict[str, Any]) -> str:
    """What a checkpoint belongs to: the learner and a hash of the resolved config (runtime keys aside)."""
    body = json.dumps({k: v for k, v in table.items() if k not in RUNTIME_KEYS}, sort_keys=True)
    return f"{table['learner']['name']} {hashlib.sha256(body.encode()).hexdigest()[:16]}"


def _keep_lines(path: Path, last_step: int | None) -> None:
    """Cut ``metrics.jsonl`` to the lines of steps up to ``last_step`` (None: none), atomically; a
    partial last line (a write killed half-way) is dropped."""
    kept = []
    if last_step is not None and path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] <= last_step:
                kept.append(line + "\n")
    text = "".join(kept)
    atomic_write(path, lambda f: f.write(text.encode()))


def _number(value: Any) -> float | None:
    """A metric as a finite float, None when it is not finite; raises TypeError when it is not a number."""
    number = float(value)
    return number if math.isfinite(number) else None


def run_config(cfg: RunConfig, out: str | Path, *, resume: bool = False, overwrite: bool = False, progress: bool = True) -> dict[str, Any]:
    """Run ``cfg`` into the run directory ``out`` (see the module docstring); return ``result.json``'s content.

    Raises:
        ConfigError: ``--out`` is unusable or holds another run (without ``resume``/``overwrite``),
            ``resume`` with another config, ``resume`` with ``overwrite``, tensorboard missing; and
            every problem of the world, the data or the learner's settings, before any work.
    """
    return execute(cfg, out, resume=resume, overwrite=overwrite, progress=progress)


def execute(
    cfg: RunConfig, out: str | Path, *, resume: bool = False, overwrite: bool = False, progress: bool = True, staged: bool = False
) -> dict[str, Any]:
    """:func:`run_config`; ``staged``: write the whole directory into a hidden sibling and rename it
    into place at the end even for a new ``out`` (all or nothing, not resumable: ``rewardlab irl``,
    ``rewardlab prefs``). ``overwrite`` always stages."""
    target = Path(out)
    if resume and overwrite:
        raise ConfigError(
            "--resume", "is given with --overwrite", "choose one: --resume continues the run in --out, --overwrite replaces it"
        )
    table = run_config_table(cfg)
    continuing = False
    if resume and (target / "config.toml").is_file():
        differ = _differences(read_toml(target / "config.toml"), table)
        if differ:
            raise ConfigError(
                "--resume",
                f"{target}/config.toml differs from this config at {', '.join(differ)}",
                f"resume with the saved config (rewardlab run {target}/config.toml --out {target} --resume), or run into a new directory",
            )
        if (target / "result.json").is_file():
            return json.loads((target / "result.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]
        continuing = True
    else:
        if resume and target.is_dir() and any(target.iterdir()):
            raise ConfigError("--resume", f"{target} holds no config.toml, so it is not a run directory", "give the directory of a run")
        target = check_out(target, overwrite=overwrite)
    writer_class = _tensorboard_writer() if cfg.tensorboard else None
    experiment = prepare(cfg)
    if staged or overwrite:
        with run_directory(target, overwrite=overwrite) as tmp:
            return _execute(cfg, table, experiment, tmp, continuing=False, resumable=False, progress=progress, writer_class=writer_class)
    target.mkdir(parents=True, exist_ok=True)
    return _execute(cfg, table, experiment, target, continuing=continuing, resumable=True, progress=progress, writer_class=writer_class)


def _execute(
    cfg: RunConfig,
    table: dict[str, Any],
    experiment: Experiment,
    directory: Path,
    *,
    continuing: bool,
    resumable: bool,
    progress: bool,
    writer_class: Any,
) -> dict[str, Any]:
    from rewardlab.checkpoint import Checkpoint
    from rewardlab.registry import LEARNERS

    text = toml_text(table)
    atomic_write(directory / "config.toml", lambda f: f.write(text.encode()))
    checkpoint = None
    if resumable and getattr(LEARNERS[cfg.learner.name], "resumable", False):
        checkpoint = Checkpoint(directory / "checkpoints", every=cfg.checkpoint_every, fingerprint=_fingerprint(table))
    last = checkpoint.latest_step if checkpoint is not None and continuing else None
    _keep_lines(directory / "metrics.jsonl", last)
    if experiment.setup is not None:
        experiment.setup(directory)
    writer = writer_class(log_dir=str(directory / "tensorboard")) if writer_class is not None else None
    try:
        with (
            open(directory / "metrics.jsonl", "a", encoding="utf-8") as log,
            progress_bar(experiment.description, experiment.total, enabled=progress) as advance,
        ):

            def callback(step: int, metrics: dict[str, float]) -> bool:
                row: dict[str, Any] = {"step": int(step)}
                for key, value in metrics.items():
                    try:
                        row[key] = _number(value)
                    except (TypeError, ValueError):
                        continue  # not a number: not a metric line's business
                log.write(json.dumps(row) + "\n")
                log.flush()
                if writer is not None:
                    for key, value in row.items():
                        if key != "step" and value is not None:
                            writer.add_scalar(key, value, int(step))
                advance(int(step) + 1)
                return False

            start = time.perf_counter()
            result = experiment.fit(callback, checkpoint)
            seconds = time.perf_counter() - start
        summary = experiment.finish(result, directory)
    finally:
        if writer is not None:
            writer.close()
    metrics: dict[str, float | None] = {}
    for key, value in summary.get("metrics", {}).items():
        try:
            metrics[key] = _number(value)  # a non-finite one is null, as in result.json
        except (TypeError, ValueError):
            continue
    summary.update(
        learner=cfg.learner.name,
        label=cfg.learner.label,
        seed=cfg.seed,
        metrics=metrics,
        warnings=[str(w) for w in summary.get("warnings", [])],
        fit_seconds=seconds,
        config=table,
    )
    write_json(directory / "result.json", summary)
    return summary
