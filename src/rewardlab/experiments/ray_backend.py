"""The Ray Tune backend of :mod:`rewardlab.experiments.sweep`: one Tune trial per sweep trial, each calling
:func:`rewardlab.experiments.sweep.run_trial` (as the local pool does), so both backends give the same
result for the same seeds.

Ray is optional (``pip install rewardlab[ray]``, pinned to the tested version) and imported only here.
With an ``address`` the sweep joins that cluster (``ray.init(address=...)``; every node needs rewardlab
installed; a cluster started by ``ray start`` wants its token: ``RAY_AUTH_MODE=token``, the token in
``~/.ray/auth_token`` or ``RAY_AUTH_TOKEN``); otherwise it uses the Ray already initialised in this process, or starts a local one with
``workers`` CPUs and shuts it down at the end. Tune writes its own files under ``DIR/ray``.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rewardlab._io import write_json
from rewardlab.errors import ConfigError
from rewardlab.experiments.sweep import outcome, run_trial

__all__ = ["check_reachable", "require_ray", "run_ray"]

_SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def require_ray() -> None:
    """Check that Ray Tune can be imported.

    Raises:
        ConfigError: naming ``--backend`` and the install command, when it cannot.
    """
    try:
        import ray
        import ray.tune  # noqa: F401
    except ImportError as exc:
        raise ConfigError("--backend", f"ray needs Ray Tune, which is not installed ({exc})", "pip install rewardlab[ray]") from None


def check_reachable(address: str) -> None:
    """Refuse at once an ``address`` (``HOST:PORT``) where nothing listens (Ray itself retries for minutes).

    Raises:
        ConfigError: naming ``--address``: malformed, or nothing accepts a connection there within 5 s.
    """
    if address == "auto" or "://" in address:  # Ray's own forms (the local cluster's file, a client URL): Ray checks them
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError("--address", f"is {address!r}", "give the HOST:PORT that `ray start --head` printed, e.g. 10.0.0.5:6379")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise ConfigError(
            "--address", f"nothing accepts connections at {address} ({exc})", "start the cluster (`ray start --head`) or fix the address"
        ) from None


def _tune_trial(config: dict[str, Any], tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """The Tune trainable: run sweep trial ``config["index"]`` of ``tasks`` and report whether it finished."""
    result = run_trial(tasks[config["index"]])
    return {"ok": int(result["ok"])}


def _report(tune: Any) -> type:
    """The Tune callback class that tells the sweep each trial's outcome (read from its run directory)."""

    class Report(tune.Callback):  # type: ignore[misc]
        def __init__(self, tasks: list[dict[str, Any]], done: Callable[[dict[str, Any]], None]) -> None:
            self.by_index = {t["index"]: t for t in tasks}
            self.done = done

        def __getstate__(self) -> dict[str, Any]:
            """Tune pickles its run config (with the callbacks) into its experiment state; the live sweep
            (its progress bar) stays in this process, so a copy reports nothing."""
            return {"by_index": {}, "done": None}

        def _end(self, trial: Any) -> None:
            if self.done is None:
                return
            task = self.by_index[trial.config["index"]]
            result = outcome(task)
            error_file = Path(task["dir"]) / "error.json"
            if not result["ok"] and not error_file.exists():
                error = f"the trial's Ray worker died: {trial.error_file or 'no error recorded'}"
                write_json(error_file, {"error": error, "traceback": ""})
                result["error"] = error
            self.done(result)

        def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            self._end(trial)

        def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            self._end(trial)

    return Report


def run_ray(
    tasks: list[dict[str, Any]], *, workers: int, address: str | None, storage: Path, done: Callable[[dict[str, Any]], None]
) -> None:
    """Run ``tasks`` (each ``{"index", "name", "dir", "config"}``) as Ray Tune trials, ``workers`` at a time,
    calling ``done(outcome)`` as each ends; Tune's files go under ``storage``.

    A trial whose Ray worker dies is restarted once by Tune (``FailureConfig(max_failures=1)``; the
    restart resumes from the trial's checkpoint) and reported with ``error.json`` after that.
    """
    require_ray()
    import ray
    from ray import tune

    started = False
    if not ray.is_initialized():
        if address is not None:
            check_reachable(address)
            try:
                ray.init(
                    address=address,
                    runtime_env={"env_vars": _SINGLE_THREAD},
                    include_dashboard=False,
                    logging_level=logging.ERROR,
                    log_to_driver=False,
                )
            except (ConnectionError, RuntimeError, ray.exceptions.RayError) as exc:  # no cluster there, or it wants a token
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ConfigError(
                    "--address",
                    f"no Ray cluster could be joined at {address} ({type(exc).__name__}: {first[:200]})",
                    "check the address `ray start --head` printed (HOST:PORT); a cluster started by `ray start` uses token "
                    "authentication: run the sweep with RAY_AUTH_MODE=token and the cluster's token (~/.ray/auth_token "
                    "or RAY_AUTH_TOKEN); or leave --address out to start a local Ray",
                ) from None
        else:
            ray.init(num_cpus=workers, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
        started = True
    quiet = {"RAY_AIR_NEW_OUTPUT": "0"}  # the legacy reporter, which verbose=0 silences
    saved_env = {k: os.environ.get(k) for k in quiet}
    tune_logger = logging.getLogger("ray.tune")
    saved_level = tune_logger.level
    os.environ.update(quiet)
    tune_logger.setLevel(logging.WARNING)
    try:
        trainable = tune.with_resources(tune.with_parameters(_tune_trial, tasks=tasks), {"cpu": 1})
        tuner = tune.Tuner(
            trainable,
            param_space={"index": tune.grid_search([t["index"] for t in tasks])},
            tune_config=tune.TuneConfig(max_concurrent_trials=workers, reuse_actors=True),
            run_config=tune.RunConfig(
                name=time.strftime("sweep-%Y%m%d-%H%M%S"),
                storage_path=str(storage.absolute()),
                verbose=0,
                callbacks=[_report(tune)(tasks, done)],
                failure_config=tune.FailureConfig(max_failures=1),
            ),
        )
        tuner.fit()
    finally:
        tune_logger.setLevel(saved_level)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if started:
            ray.shutdown()
