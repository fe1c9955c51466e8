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

import hashlib
import os
import re
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rewardlab._io import atomic_write
from rewardlab.errors import ConfigError, DataFileError

__all__ = ["Checkpoint", "fingerprint", "rng_state", "set_rng_state", "set_torch_rng_state", "torch_rng_state"]

_NAME = re.compile(r"^step-(\d{9})\.pt$")


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """The state of a numpy ``Generator`` as plain values (for a checkpoint)."""
    return dict(rng.bit_generator.state)


def set_rng_state(rng: np.random.Generator, state: dict[str, Any]) -> None:
    """Put ``rng`` back in ``state`` (from :func:`rng_state`), in place."""
    rng.bit_generator.state = state


def torch_rng_state(device: torch.device | str = "cpu") -> dict[str, Any]:
    """torch's global random state (CPU, and ``device``'s when it is a CUDA device), for a learner whose
    dropout or sampling draws from it (inside :func:`torch.random.fork_rng`, seeded from its ``rng``)."""
    device = torch.device(device)
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_torch_rng_state(state: dict[str, Any], device: torch.device | str = "cpu") -> None:
    """Put torch's global random state back as :func:`torch_rng_state` saved it."""
    device = torch.device(device)
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _feed(h: Any, value: Any) -> None:
    """Feed ``value`` into the hash ``h``: arrays by dtype, shape and bytes; containers item by item."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        h.update(f"tensor {value.dtype} {tuple(value.shape)};".encode())
        h.update(value.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if value.numel() else b"")
    elif isinstance(value, np.ndarray):
        if value.dtype == object:
            h.update(f"objects {value.shape};".encode())
            for item in value.reshape(-1):
                _feed(h, item)
        else:
            h.update(f"array {value.dtype} {value.shape};".encode())
            h.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, dict):
        h.update(f"dict {len(value)};".encode())
        for key in sorted(value, key=repr):
            _feed(h, key)
            _feed(h, value[key])
    elif isinstance(value, (list, tuple)):
        h.update(f"{type(value).__name__} {len(value)};".encode())
        for item in value:
            _feed(h, item)
    elif is_dataclass(value) and not isinstance(value, type):
        h.update(f"{type(value).__qualname__};".encode())
        for f in fields(value):
            _feed(h, f.name)
            _feed(h, getattr(value, f.name))
    else:
        h.update(f"{type(value).__name__} {value!r};".encode())


def fingerprint(*parts: Any) -> str:
    """A short digest of everything a fit's result depends on, for :meth:`Checkpoint.bind`.

    ``parts`` are configs (dataclasses, field by field), tensors and numpy arrays (dtype, shape and
    every byte), rng states, strings and numbers, nested in lists, tuples and dicts. Two fits with
    equal parts get the same digest; a different setting, a different datum or another seed (its
    rng state) gives another one.

    Examples:
        >>> a = fingerprint("maxent", {"lr": 0.1}, np.arange(3))
        >>> a == fingerprint("maxent", {"lr": 0.1}, np.arange(3)), a == fingerprint("maxent", {"lr": 0.1}, np.arange(4))
        (True, False)
        >>> len(a)
        16
    """
    h = hashlib.blake2b(digest_size=8)
    for part in parts:
        _feed(h, part)
    return h.hexdigest()


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

    def bind(self, name: str, *parts: Any) -> Checkpoint:
        """This checkpoint (same directory and schedule) for one fit: ``name`` (the learner) and the
        :func:`fingerprint` of ``parts`` (its config, the data it trains on, its rng state at the start)
        are added to the fingerprint, so that a checkpoint of another fit is refused on restore.

        Examples:
            >>> import tempfile
            >>> ckpt = Checkpoint(tempfile.mkdtemp(), every=1, fingerprint="run 7")
            >>> ckpt.bind("maxent", np.zeros(2)).fingerprint[:15], len(ckpt.bind("maxent", np.zeros(2)).fingerprint)
            ('run 7 | maxent ', 31)
        """
        mark = f"{name} {fingerprint(*parts)}"
        return Checkpoint(
            self.directory, self.every, fingerprint=f"{self.fingerprint} | {mark}" if self.fingerprint else mark, keep=self.keep
        )

    def child(self, name: str) -> Checkpoint:
        """The checkpoints of one stage of a fit (D-REX's clone, B-REX's pretraining) in the subdirectory
        ``name``, on the same schedule, with the stage's name added to the fingerprint."""
        return Checkpoint(self.directory / name, self.every, fingerprint=f"{self.fingerprint} / {name}", keep=self.keep)

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
