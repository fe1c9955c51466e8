"""Sweeps: one run (:mod:`rewardlab.experiments.run`) per point of a grid of learners x settings x seeds,
on a local process pool or on Ray Tune, resumable, with failures reported rather than fatal.

``rewardlab sweep SWEEP.toml --out DIR [--backend local|ray] [--address ADDR] [--workers N] [--resume]``
calls :func:`run_sweep`.

The sweep file
--------------
Four tables; only ``[[methods]]`` (or a ``[learner]`` in the base) is required::

    # the run config every trial starts from (a `rewardlab run` file, inline here), or
    # base = "run.toml"   (a path relative to this sweep file)
    [base]
    seed = 0

    [base.world]
    name = "objectworld"
    size = 6

    [base.data]
    demos = 8

    # one entry per learner: each is the run config's [learner] table (name, label, its settings)
    [[methods]]
    name = "maxent"
    label = "MaxEnt"
    iterations = 20

    [[methods]]
    name = "mce"                 # label: the name
    iterations = 20
    lr = 0.05

    # dotted keys of the run config -> the values to try; every combination runs (cartesian product)
    [grid]
    seed = [0, 1, 2]
    "data.demos" = [4, 8]        # quoted: one dotted key (an unquoted data.demos works too)

    # how `rewardlab summarize` ranks the methods (defaults: the first metric of the first result, lower is better)
    [summary]
    metric = "evd"
    higher_is_better = false

That is 2 methods x 3 seeds x 2 demonstration counts = 12 trials. A trial's config is the base with
its method as ``[learner]`` and its grid point set over it; every trial's config is built and checked
(:func:`rewardlab.experiments.config.load_run_config`) before any trial runs, and an error names the
trial and the dotted key. A grid may not set ``learner.name`` or ``learner.label`` (that is what
``[[methods]]`` is for), and each method needs its own label.

Trials are named ``INDEX-LABEL[-KEY=VALUE...]-seed=SEED`` (``0003-MaxEnt-data.demos=8-seed=1``), with the
grid keys that take more than one value: the same sweep file gives the same names, so ``--resume``
finds its trials again.

The sweep directory (the contract ``rewardlab summarize`` reads)
-----------------------------------------------------------------
* ``sweep.toml``: the resolved sweep file (the base inline); ``--resume`` refuses a different one.
* ``trials.json``: ``{"metric", "higher_is_better", "trials": [{"name", "dir", "method", "task", "seed",
  "overrides"}, ...]}`` where ``method`` is the learner's label, ``task`` the grid point without the
  seed (``"data.demos=8"``, ``""`` when there is none) and ``overrides`` the trial's learner name and
  grid point as dotted keys.
* ``trials/NAME/``: the trial's run directory; the trial finished iff its ``result.json`` exists.
  ``attempts.jsonl`` gets one line each time the trial starts; ``error.json`` (``{"error", "traceback"}``)
  when it failed twice.
* ``status.json``: ``finished``, ``failed``, ``total``, ``wall_seconds`` (and the failed trials' errors).
* ``ray/``: Ray Tune's own files (``--backend ray``).

Running
-------
Each trial runs :func:`run_trial` in a worker process with one thread: started (one line in
``attempts.jsonl``), and if it raises, started once more with ``resume=True`` so that it continues
from its last checkpoint; after a second failure its error is written to ``error.json`` and the other
trials carry on. Finished trials are never run again; ``--resume`` runs the others (continuing from
their checkpoints). ``local`` runs a process pool of ``workers`` processes; ``ray`` runs one Ray Tune
trial per sweep trial calling the same :func:`run_trial` (:mod:`rewardlab.experiments.ray_backend`), so
both give the same result for the same seeds. On a Ray cluster of several machines, ``DIR`` must be on a
file system that every node sees (the trials write their run directories there) and every node needs
rewardlab installed.

A relative ``data.dataset`` or ``data.path`` (gym runs) is read against the directory of the file that names it: the
base file, or the sweep file for an inline base or a grid value.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import os
import re
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from rewardlab._io import atomic_write, write_json
from rewardlab._schema import did_you_mean
from rewardlab.errors import ConfigError, RewardLabError, ValidationError

__all__ = [
    "BACKENDS",
    "Trial",
    "expand_grid",
    "flatten_grid",
    "load_sweep",
    "plan_trials",
    "run_sweep",
    "run_trial",
    "trial_name",
]

#: The places a sweep can run: a local process pool (no Ray needed) or Ray Tune.
BACKENDS = ("local", "ray")

_SWEEP_KEYS = ("base", "methods", "grid", "summary")
_SUMMARY_KEYS = {"metric": str, "higher_is_better": bool}
#: the run config's keys a grid may not set: [[methods]] sets them
_METHOD_KEYS = ("learner", "learner.name", "learner.label")
#: the run config's paths (a dataset or preference directory): relative to the file that names them
_DATA_PATHS = ("dataset", "path")
#: attempts per trial and per sweep invocation: the first, and one retry that resumes from its checkpoint
ATTEMPTS = 2


def _read(path: Path, what: str) -> dict[str, Any]:
    """A TOML file (:func:`~rewardlab.experiments.config.read_toml`); a missing one is named as ``what``."""
    from rewardlab.experiments.config import read_toml

    if not path.is_file():
        raise ConfigError(what, f"{path} is not a file", "give the path of an existing TOML file")
    return read_toml(path)


def flatten_grid(grid: Mapping[str, Any], prefix: str = "") -> dict[str, list[Any]]:
    """The ``[grid]`` table as dotted keys -> lists of values, whether its keys were written quoted
    (``"data.demos" = [4, 8]``) or as nested tables (``data.demos = [4, 8]``).

    Raises:
        ConfigError: a value that is not a list, or an empty list, naming ``grid.KEY``.

    Examples:
        >>> flatten_grid({"seed": [0, 1], "data": {"demos": [4, 8]}})
        {'seed': [0, 1], 'data.demos': [4, 8]}
        >>> flatten_grid({"seed": []})
        Traceback (most recent call last):
        ...
        rewardlab.errors.ConfigError: grid.seed: is an empty list. Fix: give at least one value, e.g. seed = [0, 1].
    """
    flat: dict[str, list[Any]] = {}
    for key, values in grid.items():
        dotted = f"{prefix}{key}"
        if isinstance(values, Mapping):
            flat.update(flatten_grid(values, f"{dotted}."))
            continue
        if not isinstance(values, list):
            raise ConfigError(
                f"grid.{dotted}", f"is {values!r}, not a list of values", f"write the values to try as a list, e.g. {dotted} = [{values!r}]"
            )
        if not values:
            raise ConfigError(f"grid.{dotted}", "is an empty list", f"give at least one value, e.g. {dotted} = [0, 1]")
        flat[dotted] = values
    return flat


def expand_grid(grid: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values (cartesian product), the last key varying fastest.

    Examples:
        >>> expand_grid({"data.demos": [4, 8], "seed": [0, 1]})
        [{'data.demos': 4, 'seed': 0}, {'data.demos': 4, 'seed': 1}, {'data.demos': 8, 'seed': 0}, {'data.demos': 8, 'seed': 1}]
        >>> expand_grid({})
        [{}]
    """
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(grid[k] for k in keys))]


def _shown(value: Any) -> str:
    """A grid value as text: ``8``, ``0.001``, ``true``, ``objectworld``, ``64,64``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_shown(v) for v in value)
    if isinstance(value, Mapping):
        return ",".join(f"{k}={_shown(v)}" for k, v in value.items())
    return str(value)


def _safe(text: str) -> str:
    """``text`` as a file name: letters, digits and ``. , = + -`` kept, anything else ``_``."""
    return re.sub(r"[^A-Za-z0-9.,=+\-]", "_", text)


def trial_name(index: int, width: int, label: str, point: Mapping[str, Any], seed: int | None) -> str:
    """A trial's stable, readable name: index, method label, the varying grid keys, seed.

    ``point`` holds the varying grid keys only (not the seed); the name is also the trial's directory,
    so characters other than letters, digits and ``. , = + -`` become ``_``.

    Examples:
        >>> trial_name(3, 4, "maxent", {"world.size": 8}, 1)
        '0003-maxent-world.size=8-seed=1'
        >>> trial_name(12, 4, "Deep MaxEnt", {"learner.hidden": [64, 64]}, 0)
        '0012-Deep_MaxEnt-learner.hidden=64,64-seed=0'
    """
    parts = [f"{index:0{width}d}", label, *(f"{k}={_shown(v)}" for k, v in point.items())]
    if seed is not None:
        parts.append(f"seed={seed}")
    return "-".join(_safe(p) for p in parts)


@dataclass(frozen=True)
class Trial:
    """One trial of a sweep: a resolved run config and where it runs.

    Attributes:
        index: its place in the sweep (0-based).
        name: :func:`trial_name`, also its directory under ``trials/``.
        method: the learner's label.
        learner: the learner's registry name.
        task: the varying grid keys other than the seed, ``"key=value, ..."`` (``""`` when none).
        seed: the run's seed.
        overrides: the learner name, the grid point and the seed as dotted keys (what differs from the base).
        config: the resolved run config as a TOML-ready table (``run_config_table``).
    """

    index: int
    name: str
    method: str
    learner: str
    task: str
    seed: int
    overrides: dict[str, Any]
    config: dict[str, Any] = field(repr=False)

    @property
    def dir(self) -> str:
        """The run directory, relative to the sweep directory."""
        return f"trials/{self.name}"

    def entry(self) -> dict[str, Any]:
        """Its entry in ``trials.json``."""
        return {
            "name": self.name,
            "dir": self.dir,
            "method": self.method,
            "task": self.task,
            "seed": self.seed,
            "overrides": self.overrides,
        }


def load_sweep(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The sweep file at ``path``, checked and resolved: its base run config read in (a ``base = "run.toml"``
    path is relative to the sweep file), ``grid`` flattened to dotted keys, ``summary`` checked.

    Raises:
        ConfigError: an unreadable file, an unknown table, a base that is neither a table nor a path, methods
            that are not a list of tables, a grid value that is not a non-empty list, a bad summary.
    """
    path = Path(path)
    raw = _read(path, "sweep file")
    for key in raw:
        if key not in _SWEEP_KEYS:
            raise ConfigError(
                key, f"is not a table of a sweep file ({path})", f"{did_you_mean(key, _SWEEP_KEYS)}use {', '.join(_SWEEP_KEYS)}"
            )
    base = raw.get("base", {})
    base_dir = path.parent
    if isinstance(base, str):
        base_dir = (path.parent / base).parent
        base = _read(path.parent / base, "base")
    if not isinstance(base, dict):
        raise ConfigError(
            "base", f"is {base!r}", 'give a [base] table (a run config) or base = "run.toml", a path relative to the sweep file'
        )
    base = _anchored(base, base_dir)
    methods = raw.get("methods")
    if methods is not None and "learner" in base:
        raise ConfigError(
            "base.learner", "is given together with [[methods]]", "give each learner as a whole [[methods]] table, and no [base.learner]"
        )
    if methods is None:
        if "learner" not in base:
            raise ConfigError("methods", "the sweep has no learner", 'add [[methods]] tables (name = "maxent", ...) or a [base.learner]')
        methods = [base["learner"]]
    if not isinstance(methods, list) or not methods or not all(isinstance(m, dict) for m in methods):
        raise ConfigError(
            "methods", f"is {methods!r}", 'give one [[methods]] table per learner, each with name = "..." (and label, settings)'
        )
    labels: dict[str, int] = {}
    for i, method in enumerate(methods):
        if not isinstance(method.get("name"), str):
            raise ConfigError(f"methods[{i}].name", f"is {method.get('name')!r}", 'name the learner, e.g. name = "maxent"')
        label = method.get("label", method["name"])
        if label in labels:
            raise ConfigError(
                f"methods[{i}].label",
                f"{label!r} is also the label of methods[{labels[label]}]",
                'give each method its own label, e.g. label = "maxent-lr0.1"',
            )
        labels[label] = i
    grid = flatten_grid(raw.get("grid", {}))
    for key in (f"data.{name}" for name in _DATA_PATHS):
        if key in grid:
            grid[key] = [_absolute(v, path.parent) for v in grid[key]]
    for key in grid:
        if key in _METHOD_KEYS:
            raise ConfigError(f"grid.{key}", "is set by [[methods]]", "list the learners as [[methods]] tables, not in the grid")
    summary = raw.get("summary", {})
    if not isinstance(summary, dict):
        raise ConfigError("summary", f"is {summary!r}", 'give a [summary] table: metric = "evd", higher_is_better = false')
    for key, value in summary.items():
        if key not in _SUMMARY_KEYS:
            raise ConfigError(
                f"summary.{key}", "is not a summary setting", f"{did_you_mean(key, _SUMMARY_KEYS)}use {', '.join(_SUMMARY_KEYS)}"
            )
        kind = _SUMMARY_KEYS[key]
        if not isinstance(value, kind):
            raise ConfigError(f"summary.{key}", f"is {value!r}", "give a metric name (a string)" if kind is str else "give true or false")
    base = {k: v for k, v in base.items() if k != "learner"}
    return {"base": base, "methods": methods, "grid": grid, "summary": summary}


def _absolute(value: Any, directory: Path) -> Any:
    """A relative path string made absolute against ``directory``; anything else unchanged."""
    return str((directory / Path(value).expanduser()).resolve()) if isinstance(value, str) else value


def _anchored(base: dict[str, Any], directory: Path) -> dict[str, Any]:
    """``base`` with a relative ``data.dataset`` or ``data.path`` read against the directory of the file that
    holds it (not the working directory of whoever runs the trial)."""
    data = base.get("data")
    if isinstance(data, dict) and any(name in data for name in _DATA_PATHS):
        base = {**base, "data": {**data, **{name: _absolute(data[name], directory) for name in _DATA_PATHS if name in data}}}
    return base


def _resolved_sweep_table(sweep: Mapping[str, Any]) -> dict[str, Any]:
    """The resolved sweep as a TOML table (``sweep.toml``): base inline, quoted dotted grid keys."""
    table: dict[str, Any] = {"base": sweep["base"], "methods": sweep["methods"], "grid": sweep["grid"]}
    if sweep["summary"]:
        table["summary"] = sweep["summary"]
    return table


def plan_trials(sweep: Mapping[str, Any]) -> list[Trial]:
    """Every trial of a resolved sweep (:func:`load_sweep`), each config built and checked by
    :func:`~rewardlab.experiments.config.load_run_config`: methods outermost, then the grid in file order.

    Raises:
        ConfigError: the first trial whose config is invalid, naming the trial and the dotted key.
    """
    from rewardlab.experiments.config import load_run_config, run_config_table, set_dotted

    grid: dict[str, list[Any]] = sweep["grid"]
    points = expand_grid(grid)
    varying = [k for k, values in grid.items() if len(values) > 1 and k != "seed"]
    methods: list[dict[str, Any]] = sweep["methods"]
    total = len(methods) * len(points)
    width = max(4, len(str(total - 1)))
    trials: list[Trial] = []
    for index, (method, point) in enumerate(itertools.product(methods, points)):
        label = str(method.get("label", method["name"]))
        shown = {k: point[k] for k in varying}
        raw_seed = point.get("seed", sweep["base"].get("seed"))
        table = copy.deepcopy(dict(sweep["base"]))
        table["learner"] = copy.deepcopy(method)
        try:
            for key, value in point.items():
                set_dotted(table, key, copy.deepcopy(value))
            cfg = load_run_config(table)
        except RewardLabError as exc:
            name = trial_name(index, width, label, shown, raw_seed if isinstance(raw_seed, int) else None)
            if isinstance(exc, ValidationError):
                raise ConfigError(f"{exc.field} (trial {name})", exc.problem, exc.fix) from None
            raise ConfigError(f"trial {name}", str(exc), "fix the sweep file's base, method or grid") from None
        resolved = run_config_table(cfg)
        seed = int(resolved["seed"])
        name = trial_name(index, width, label, shown, seed)
        overrides = {"learner.name": method["name"], **point, "seed": seed}
        trials.append(
            Trial(
                index=index,
                name=name,
                method=label,
                learner=str(method["name"]),
                task=", ".join(f"{k}={_shown(v)}" for k, v in shown.items()),
                seed=seed,
                overrides=overrides,
                config=resolved,
            )
        )
    return trials


# ---------------------------------------------------------------- the trial function (every backend)


def single_thread() -> None:
    """One thread for torch and the BLAS in this worker process (the trials run side by side)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    import torch

    torch.set_num_threads(1)


def attempts(run_dir: str | os.PathLike[str]) -> int:
    """How many times the trial in ``run_dir`` has started (lines of its ``attempts.jsonl``)."""
    path = Path(run_dir) / "attempts.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def _record_start(run_dir: Path, resume: bool) -> int:
    """Append this start to ``attempts.jsonl`` (one line, flushed and synced); return its number."""
    number = attempts(run_dir) + 1
    line = json.dumps({"attempt": number, "pid": os.getpid(), "time": time.time(), "resume": resume}) + "\n"
    with open(run_dir / "attempts.jsonl", "a") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())
    return number


def _write_text(text: str, handle: IO[bytes]) -> None:
    handle.write(text.encode())


def _error_entry(exc: BaseException) -> dict[str, str]:
    return {"error": f"{type(exc).__name__}: {exc}", "traceback": "".join(traceback.format_exception(exc))}


def run_trial(task: Mapping[str, Any]) -> dict[str, Any]:
    """Run one trial (``task`` = ``{"name", "dir": absolute run directory, "config": run config table}``)
    to the end: up to :data:`ATTEMPTS` starts, each recorded in ``attempts.jsonl``; a start after an
    earlier one (of this call or of a killed sweep) continues the run from its latest checkpoint. After
    the last failure its error goes to ``error.json``.

    The run directory holds the sweep's ``attempts.jsonl`` before the run starts, so the trial's resolved
    ``config.toml`` is written first and every start is ``run_config(..., resume=True)``: with no
    checkpoint yet the fit starts from the beginning, with one it continues from it.

    The same function runs in the local pool's processes and in Ray Tune's trials.

    Returns:
        ``{"name", "ok": bool, "error": "Type: message" or None}``.
    """
    from rewardlab.experiments.config import load_run_config, run_config_table, toml_text
    from rewardlab.experiments.run import run_config

    single_thread()
    run_dir = Path(task["dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    error: dict[str, str] = {}
    for _ in range(ATTEMPTS):
        _record_start(run_dir, resume=attempts(run_dir) > 0)
        try:
            cfg = load_run_config(task["config"])
            if not (run_dir / "config.toml").exists():
                atomic_write(run_dir / "config.toml", functools.partial(_write_text, toml_text(run_config_table(cfg))))
            run_config(cfg, run_dir, resume=True, progress=False)
        except Exception as exc:  # any failure of the trial is its own; the sweep carries on
            error = _error_entry(exc)
            continue
        (run_dir / "error.json").unlink(missing_ok=True)
        return {"name": task["name"], "ok": True, "error": None}
    write_json(run_dir / "error.json", error)
    return {"name": task["name"], "ok": False, "error": error["error"]}


def outcome(task: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's state read from its run directory: finished (``result.json``), failed (``error.json``) or neither."""
    run_dir = Path(task["dir"])
    if (run_dir / "result.json").exists():
        return {"name": task["name"], "ok": True, "error": None}
    try:
        error = json.loads((run_dir / "error.json").read_text())["error"]
    except (OSError, ValueError, KeyError, TypeError):
        error = "the trial stopped without a result or an error (its process died)"
    return {"name": task["name"], "ok": False, "error": error}


# ---------------------------------------------------------------- the local backend


def run_local(tasks: list[dict[str, Any]], workers: int, done: Callable[[dict[str, Any]], None]) -> None:
    """Run ``tasks`` through :func:`run_trial` on a pool of ``workers`` single-threaded processes
    (``spawn``: nothing inherited from this process's torch), calling ``done(outcome)`` as each ends.

    A worker that dies (killed, out of memory) breaks the pool: it is started afresh and the trials it
    had not finished are run again, as long as each has had fewer than :data:`ATTEMPTS` starts in this
    call; a trial that took a worker down on each of them is reported failed (``error.json``).
    """
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    before = {t["name"]: attempts(t["dir"]) for t in tasks}
    pending = list(tasks)
    while pending:
        starts = sum(attempts(t["dir"]) for t in pending)
        again: list[dict[str, Any]] = []
        finished = 0
        with ProcessPoolExecutor(max_workers=min(workers, len(pending)), mp_context=context, initializer=single_thread) as pool:
            futures: dict[Future[dict[str, Any]], dict[str, Any]] = {pool.submit(run_trial, t): t for t in pending}
            remaining = set(futures)
            while remaining:
                complete, remaining = wait(remaining, return_when=FIRST_COMPLETED)
                for future in complete:
                    task = futures[future]
                    try:
                        result = future.result()
                    except BrokenProcessPool as exc:
                        if attempts(task["dir"]) - before[task["name"]] < ATTEMPTS:
                            again.append(task)
                            continue
                        error = {"error": f"the trial's worker process died twice ({exc})", "traceback": ""}
                        write_json(Path(task["dir"]) / "error.json", error)
                        result = {"name": task["name"], "ok": False, "error": error["error"]}
                    finished += 1
                    done(result)
        if again and not finished and sum(attempts(t["dir"]) for t in again) == starts:
            raise RewardLabError(
                "the sweep's worker processes died before starting a trial: a script that calls run_sweep needs its "
                "code under `if __name__ == '__main__':` (the workers are spawned and import the main module); "
                "otherwise run one trial with `rewardlab run` to see why"
            )
        pending = sorted(again, key=lambda t: t["index"])


# ---------------------------------------------------------------- the sweep


def _check_out(out: Path, resolved: dict[str, Any], resume: bool) -> None:
    """Refuse an ``out`` that holds something else, or (without ``resume``) a sweep already."""
    if out.exists() and not out.is_dir():
        raise ConfigError("--out", f"{out} is a file", "give a directory for the sweep (it is created)")
    stored = out / "sweep.toml"
    if stored.exists():
        if not resume:
            raise ConfigError("--out", f"{out} already holds a sweep", "pass --resume to continue it, or choose another --out")
        before = _read(stored, "--out")
        if before != json.loads(json.dumps(resolved)):
            raise ConfigError(
                "sweep file",
                f"differs from the one {out} was started with ({stored})",
                "resume with the same sweep file (and base), or start the changed sweep in another --out",
            )
    elif out.exists() and any(out.iterdir()):
        raise ConfigError("--out", f"{out} is not empty and holds no sweep.toml", "choose an empty or new directory")


def _trials_table(trials: list[Trial], summary: Mapping[str, Any], out: Path) -> dict[str, Any]:
    """``trials.json``: the summary's metric (default: the first metric of the first result) and the trials."""
    metric = summary.get("metric")
    if metric is None:
        for trial in trials:
            path = out / trial.dir / "result.json"
            if path.exists():
                metrics = json.loads(path.read_text()).get("metrics", {})
                metric = next(iter(metrics), None)
                break
    return {"metric": metric, "higher_is_better": bool(summary.get("higher_is_better", False)), "trials": [t.entry() for t in trials]}


def _warnings(trials: list[Trial], out: Path, metric: str | None) -> list[str]:
    """The finished trials' warnings as ``NAME: text``, and a trial whose result lacks the summary metric."""
    lines = []
    for trial in trials:
        path = out / trial.dir / "result.json"
        if not path.exists():
            continue
        result = json.loads(path.read_text())
        lines += [f"{trial.name}: {w}" for w in result.get("warnings", [])]
        if metric is not None and metric not in result.get("metrics", {}):
            lines.append(f"{trial.name}: its result has no metric {metric!r} (summary.metric); it has {sorted(result.get('metrics', {}))}")
    return lines


def run_sweep(
    sweep_file: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    backend: str = "local",
    address: str | None = None,
    workers: int = 2,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Run every trial of ``sweep_file`` (see the module docstring) into the sweep directory ``out``.

    Every trial's config is checked before anything runs or is written; then ``sweep.toml`` and
    ``trials.json`` are written, the unfinished trials run on ``backend`` (``"local"``: a pool of
    ``workers`` processes; ``"ray"``: Ray Tune at ``address``, or a local Ray of ``workers`` CPUs started
    and shut down here), and ``status.json`` is written at the end.

    Args:
        sweep_file: the sweep TOML file.
        out: the sweep directory (new or empty; with ``resume``, one this sweep file started).
        backend: ``"local"`` or ``"ray"``.
        address: a Ray cluster's address (``ray`` only), e.g. ``"auto"`` or ``"ray://head:10001"``.
        workers: trials run at once.
        resume: continue the sweep in ``out``: finished trials are kept, the others run (from their checkpoints).
        progress: show a rich progress bar of trials done and failed.

    Returns:
        The ``status.json`` content: ``finished``, ``failed``, ``total``, ``wall_seconds``, ``skipped`` (finished
        before this call), ``backend``, ``workers``, ``errors`` (failed trial name -> ``"Type: message"``) and
        ``warnings`` (the trials' warnings, ``"NAME: text"``).

    The local pool spawns its workers, which import the caller's main module: a script that calls this
    needs its code under ``if __name__ == "__main__":``.

    Raises:
        ConfigError: a bad sweep file or trial config (naming the trial and the dotted key), a bad backend,
            ``workers`` or ``out``, or Ray missing for ``backend="ray"``; all before any trial runs.
    """
    start = time.perf_counter()
    if backend not in BACKENDS:
        raise ConfigError("--backend", f"is {backend!r}", f"{did_you_mean(backend, BACKENDS)}use one of {', '.join(BACKENDS)}")
    if address is not None and backend != "ray":
        raise ConfigError("--address", "is a Ray cluster's address", "add --backend ray, or leave --address out")
    if workers < 1:
        raise ConfigError("--workers", f"is {workers}", "run at least one trial at a time (--workers 1 or more)")
    if backend == "ray":
        from rewardlab.experiments.ray_backend import check_reachable, require_ray

        require_ray()
        if address is not None:
            check_reachable(address)
    out = Path(out).absolute()
    sweep = load_sweep(sweep_file)
    trials = plan_trials(sweep)
    resolved = _resolved_sweep_table(sweep)
    _check_out(out, resolved, resume)
    if not (out / "sweep.toml").exists():
        from rewardlab.experiments.config import toml_text

        text = toml_text(resolved)
        atomic_write(out / "sweep.toml", lambda f: f.write(text.encode()))
    write_json(out / "trials.json", _trials_table(trials, sweep["summary"], out))

    tasks = [
        {"index": t.index, "name": t.name, "dir": str(out / t.dir), "config": t.config}
        for t in trials
        if not (out / t.dir / "result.json").exists()
    ]
    skipped = len(trials) - len(tasks)
    errors: dict[str, str] = {}
    with _Progress(len(trials), skipped, enabled=progress) as bar:

        def done(result: dict[str, Any]) -> None:
            if not result["ok"]:
                errors[result["name"]] = result["error"]
            bar.advance(result["ok"])

        if tasks and backend == "local":
            run_local(tasks, workers, done)
        elif tasks:
            from rewardlab.experiments.ray_backend import run_ray

            run_ray(tasks, workers=workers, address=address, storage=out / "ray", done=done)

    table = _trials_table(trials, sweep["summary"], out)
    write_json(out / "trials.json", table)
    unfinished = [t for t in trials if not (out / t.dir / "result.json").exists()]
    finished = len(trials) - len(unfinished)
    status = {
        "finished": finished,
        "failed": len(trials) - finished,
        "total": len(trials),
        "skipped": skipped,
        "wall_seconds": time.perf_counter() - start,
        "backend": backend,
        "workers": workers,
        "errors": {t.name: errors.get(t.name) or outcome({"name": t.name, "dir": out / t.dir})["error"] for t in unfinished},
        "warnings": _warnings(trials, out, table["metric"]),
    }
    write_json(out / "status.json", status)
    return status


class _Progress:
    """A rich bar of trials done, with the count that failed; nothing when disabled."""

    def __init__(self, total: int, skipped: int, *, enabled: bool) -> None:
        self.total, self.done, self.failed, self.enabled = total, skipped, 0, enabled
        self._bar: Any = None

    def _description(self) -> str:
        failed = f", [red]{self.failed} failed[/red]" if self.failed else ""
        return f"trials{failed}"

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            self._bar.__enter__()
            self._task = self._bar.add_task(self._description(), total=self.total, completed=self.done)
        return self

    def advance(self, ok: bool) -> None:
        self.done += 1
        self.failed += not ok
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, description=self._description())

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)


def failures(status: Mapping[str, Any]) -> Iterable[str]:
    """``NAME: Type: message`` for each failed trial of a sweep's status."""
    return (f"{name}: {error}" for name, error in status["errors"].items())
