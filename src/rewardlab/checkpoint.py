"""Resumable fits: a learner saves its training state every few steps and picks up from the latest.

A learner whose ``fit`` takes ``checkpoint=`` does, in its training loop::

    state = checkpoint.restore() if checkpoint is not None else None
    if state is not None:
        step0 = state["step"] + 1          # the saved state is the one after step ``state["step"]``
        ...load parameters, optimiser, rng (set_rng_state), history...
    for step in range(step0, steps):
        ...one step...
        if checkpoint is not None and checkpoint.due(step):
            checkpoint.save(step, {"params": ..., "optimizer": ..., "rng": rng_state(rng), ...})

so that a fit killed part-way and run again with the same settings, data and seed returns the same
result as one that was never interrupted.

The state is a nested dict of tensors, numpy arrays (stored as tensors: read them back with
``np.asarray``), numbers, strings, ``None`` and lists. It is written with :func:`torch.save`
atomically (a killed write leaves the previous checkpoint in place) and read with
``torch.load(weights_only=True)``, which refuses anything but those plain values: a checkpoint
cannot run code when it is loaded. The latest ``keep`` checkpoints are kept.

Examples:
    >>> import tempfile
    >>> rng = np.random.default_rng(0)
    >>> ckpt = Checkpoint(tempfile.mkdtemp(), every=2, fingerprint="maxent lr=0.1")
    >>> ckpt.restore() is None
    True
    >>> [step for step in range(5) if ckpt.due(step)]
    [1, 3]
    >>> _ = ckpt.save(3, {"w": torch.ones(2), "rng": rng_state(rng)})
    >>> first = rng.random()
    >>> state = Checkpoint(ckpt.directory, every=2, fingerprint="maxent lr=0.1").restore()
    >>> state["step"], state["w"].tolist()
    (3, [1.0, 1.0])
    >>> set_rng_state(rng, state["rng"]); rng.random() == first
    True
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rewardlab._io import atomic_write
from rewardlab.errors import ConfigError, DataFileError

__all__ = ["Checkpoint", "rng_state", "set_rng_state"]

_NAME = re.compile(r"^step-(\d{9})\.pt$")


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """The state of a numpy ``Generator`` as plain values (for a checkpoint)."""
    return dict(rng.bit_generator.state)


def set_rng_state(rng: np.random.Generator, state: dict[str, Any]) -> None:
    """Put ``rng`` back in ``state`` (from :func:`rng_state`), in place."""
    rng.bit_generator.state = state


def _plain(value: Any) -> Any:
    """``value`` with numpy arrays and scalars turned into tensors and Python numbers (what ``weights_only`` loads)."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class Checkpoint:
    """The checkpoints of one fit, in ``directory``.

    Args:
        directory: where ``step-XXXXXXXXX.pt`` files go (created on the first save).
        every: save after every ``every``-th step (steps counted from 0: ``due(every - 1)`` is the first);
            0 saves only what the learner saves explicitly.
        fingerprint: what the state belongs to (e.g. the learner's resolved config and the data's size);
            a checkpoint with another fingerprint is refused on restore instead of silently mixing runs.
        keep: how many of the latest checkpoints to keep on disk.
    """

    def __init__(self, directory: str | os.PathLike[str], every: int, *, fingerprint: str = "", keep: int = 2) -> None:
        if every < 0:
            raise ConfigError("checkpoint_every", f"is {every}", "give 0 (only at the end) or a positive number of steps")
        if keep < 1:
            raise ConfigError("keep", f"is {keep}", "keep at least one checkpoint")
        self.directory = Path(directory)
        self.every = every
        self.fingerprint = fingerprint
        self.keep = keep

    def due(self, step: int) -> bool:
        """Whether to save after ``step`` (counted from 0)."""
        return self.every > 0 and (step + 1) % self.every == 0

    def _files(self) -> list[tuple[int, Path]]:
        if not self.directory.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.directory.iterdir() if (m := _NAME.match(p.name))]
        return sorted(found)

    def save(self, step: int, state: dict[str, Any]) -> Path:
        """Write ``state`` (the learner's state after ``step``) atomically; drop all but the latest ``keep``."""
        payload = {"step": int(step), "fingerprint": self.fingerprint, "state": _plain(state)}
        path = atomic_write(self.directory / f"step-{step:09d}.pt", lambda f: torch.save(payload, f))
        for _, old in self._files()[: -self.keep]:
            old.unlink(missing_ok=True)
        return path

    @property
    def latest_step(self) -> int | None:
        """The step of the newest checkpoint on disk, or None."""
        files = self._files()
        return files[-1][0] if files else None

    def restore(self) -> dict[str, Any] | None:
        """The newest saved state with its ``"step"``, or None when there is none.

        Raises:
            ConfigError: the checkpoint belongs to other settings (its fingerprint differs).
            DataFileError: no checkpoint file can be read.
        """
        files = self._files()
        if not files:
            return None
        problems = []
        for step, path in reversed(files):
            try:
                payload = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:  # a damaged file: fall back to the one before
                problems.append(f"{path.name}: {type(exc).__name__}: {exc}")
                continue
            if payload.get("fingerprint", "") != self.fingerprint:
                raise ConfigError(
                    "resume",
                    f"the checkpoint {path} was written by other settings ({payload.get('fingerprint')!r}, now {self.fingerprint!r})",
                    "resume with the settings of that run, or start a new run in another directory",
                )
            return {"step": step, **payload["state"]}
        raise DataFileError(
            f"{self.directory}: no checkpoint could be read ({'; '.join(problems)}). Fix: start the run again without --resume"
        )
