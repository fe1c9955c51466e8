"""Atomic file writes: a crash or a full disk never leaves half a file behind."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "write_json"]


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it into place.

    Examples:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
        >>> _ = atomic_write(target, lambda f: f.write(b"hello"))
        >>> target.read_text()
        'hello'
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _strict(data: Any) -> Any:
    """Non-finite floats become None: strict JSON has no NaN or infinity."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _strict(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_strict(v) for v in data]
    return data


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as indented, strict JSON (NaN and infinities become null), atomically.

    Examples:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.json"
        >>> json.loads(write_json(target, {"a": float("-inf"), "b": 1.5}).read_text())
        {'a': None, 'b': 1.5}
    """
    text = json.dumps(_strict(data), indent=2, sort_keys=True, allow_nan=False) + "\n"
    return atomic_write(path, lambda f: f.write(text.encode()))
