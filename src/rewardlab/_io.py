"""Atomic file writes (a crash or a full disk never leaves half a file behind), and the checked
reading of a ``NAME.json`` + ``NAME.safetensors`` pair that models and posteriors are saved as."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "read_meta", "read_tensors", "save_tensors", "write_json"]


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


def save_tensors(directory: str | os.PathLike[str], name: str, tensors: dict[str, Any], meta: dict[str, Any]) -> Path:
    """Write ``name.safetensors`` (CPU, contiguous) and ``name.json`` into ``directory``, each atomically."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".{name}.safetensors.partial"
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(partial))
    partial.replace(directory / f"{name}.safetensors")
    write_json(directory / f"{name}.json", meta)
    return directory


def read_meta(
    directory: str | os.PathLike[str], name: str, data_suffix: str, fmt: str, writer: str, *, schema: Any
) -> tuple[dict[str, Any], Path]:
    """Check that ``name.json`` and ``name<data_suffix>`` exist in ``directory``, that the JSON is UTF-8,
    an object of format ``fmt`` and matches ``schema`` (a ``TypedDict``, :func:`rewardlab._schema.check_meta`):
    ``(meta, data_path)``. Otherwise :class:`DataFileError` names the file, the key and the fix; ``writer``
    is what wrote them (e.g. ``"TabularReward.save"``)."""
    from rewardlab._schema import check_meta
    from rewardlab.errors import DataFileError

    directory = Path(directory)
    meta_path, data_path = directory / f"{name}.json", directory / f"{name}{data_suffix}"
    for path in (meta_path, data_path):
        if not path.is_file():
            raise DataFileError(f"{path}: missing. Fix: point at a directory written by {writer}")
    try:
        meta = json.loads(meta_path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DataFileError(f"{meta_path}: not UTF-8 text ({exc.reason} at byte {exc.start}). Fix: re-save it with {writer}") from exc
    except (json.JSONDecodeError, RecursionError) as exc:
        raise DataFileError(f"{meta_path}: not valid JSON ({exc}). Fix: re-save it with {writer}") from exc
    if not isinstance(meta, dict):
        raise DataFileError(f"{meta_path}: is a JSON {type(meta).__name__}, not an object. Fix: re-save it with {writer}")
    if meta.get("format") != fmt:
        raise DataFileError(f"{meta_path}: format is {meta.get('format')!r}, not {fmt!r}. Fix: load it with the matching reader")
    return check_meta(meta, schema, str(meta_path), f"re-save it with {writer}"), data_path


def read_tensors(
    directory: str | os.PathLike[str], name: str, fmt: str, owner: str, *, schema: Any, required: tuple[str, ...] = ()
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read what :func:`save_tensors` wrote: ``(meta, tensors)``.

    A missing, unreadable or foreign file (``meta["format"] != fmt``), metadata that does not match
    ``schema`` (see :func:`read_meta`) or a missing tensor of ``required`` raises :class:`DataFileError`
    naming the file and the fix; ``owner`` is the class whose ``save`` wrote it.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from rewardlab.errors import DataFileError

    meta, data_path = read_meta(directory, name, ".safetensors", fmt, f"{owner}.save", schema=schema)
    try:
        tensors = load_file(str(data_path))
    except (SafetensorError, OSError, ValueError) as exc:  # corrupt header, truncated data
        raise DataFileError(f"{data_path}: unreadable ({exc}). Fix: re-save it with {owner}.save") from exc
    missing = [key for key in required if key not in tensors]
    if missing:
        raise DataFileError(f"{data_path}: has no tensor {missing[0]!r}. Fix: re-save it with {owner}.save")
    return meta, tensors
