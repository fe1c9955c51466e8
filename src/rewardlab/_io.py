"""Atomic writes: of a file (a crash or a full disk never leaves half a file behind) and of a whole
directory (a dataset, a reward, a posterior, a run: complete and consistent, or the previous one, never
a mix); the checked reading of a ``NAME.json`` + ``NAME.safetensors`` pair that models and posteriors
are saved as.

A directory is written into a temporary sibling ``.NAME.tmp-XXXXXXXX`` in the same parent and swapped
into place with renames only once it is complete (:func:`atomic_directory`): the old directory is moved
aside to ``.NAME.old-XXXXXXXX``, the new one renamed in, the old one removed. A failure before the swap
removes the temporary directory and leaves the old one untouched; a process killed at any point leaves
the old directory or the new one at ``NAME`` (or, killed between the two renames, neither at ``NAME``
and both, complete, in the hidden siblings), never a mix. Everything that can fail on the data (JSON
serialisation, non-finite values) is checked before anything is written.
"""

from __future__ import annotations

import errno
import json
import math
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import IO, Any

__all__ = [
    "atomic_directory",
    "atomic_write",
    "check_out",
    "json_text",
    "npz_bytes",
    "read_meta",
    "read_tensors",
    "run_directory",
    "save_tensors",
    "write_files",
    "write_json",
]


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
    """Plain JSON values: non-finite floats become None (strict JSON has no NaN or infinity), numpy
    scalars their Python values and numpy arrays nested lists."""
    import numpy as np

    if isinstance(data, np.ndarray):
        return _strict(data.tolist())
    if isinstance(data, np.generic) and isinstance(data, (np.bool_, np.integer, np.floating)):
        data = data.item()
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {(k.item() if isinstance(k, np.generic) else k): _strict(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_strict(v) for v in data]
    return data


def json_text(data: Any) -> str:
    """``data`` as indented, strict JSON text: NaN and infinities become null, numpy scalars and arrays
    plain numbers and lists. Anything else that JSON cannot hold raises ``TypeError``.

    Examples:
        >>> import numpy as np
        >>> json.loads(json_text({"rank": np.int64(3), "x": np.array([1.5, np.nan])}))
        {'rank': 3, 'x': [1.5, None]}
    """
    return json.dumps(_strict(data), indent=2, sort_keys=True, allow_nan=False) + "\n"


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as indented, strict JSON (:func:`json_text`), atomically.

    Examples:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.json"
        >>> json.loads(write_json(target, {"a": float("-inf"), "b": 1.5}).read_text())
        {'a': None, 'b': 1.5}
    """
    text = json_text(data)
    return atomic_write(path, lambda f: f.write(text.encode()))


class _Filled(FileExistsError):
    """The directory :func:`atomic_directory` was to create without ``replace`` was filled meanwhile."""


def _holds_cwd(target: Path) -> bool:
    """Whether ``target`` is the working directory or one of its ancestors (it cannot be swapped out)."""
    here, there = Path.cwd().resolve(), target.resolve()
    return here == there or there in here.parents


def _sibling(target: Path, kind: str) -> Path:
    """A new directory ``.NAME.<kind>-XXXXXXXX`` beside ``target`` (``mkdir``, so it honours the umask)."""
    while True:
        path = target.parent / f".{target.name}.{kind}-{secrets.token_hex(4)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def _fsync_tree(root: Path) -> None:
    """Flush every file and directory under ``root`` to disk, so the rename that follows publishes data
    that survives a power cut (POSIX; directories cannot be opened for fsync everywhere)."""
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                with open(path, "rb") as handle:
                    os.fsync(handle.fileno())
        _fsync_dir(folder)


def _fsync_dir(folder: str | os.PathLike[str]) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _link_or_copy(src: str, dst: str) -> None:
    """A hard link (same inode, no copy), or a copy where the filesystem has no hard links."""
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)


def _carry_over(old: Path, new: Path) -> None:
    """Put every entry of ``old`` that ``new`` lacks into ``new`` (hard links, so nothing is copied)."""
    for entry in old.iterdir():
        dst = new / entry.name
        if dst.exists() or dst.is_symlink():
            continue
        if entry.is_symlink():
            os.symlink(os.readlink(entry), dst)
        elif entry.is_dir():
            shutil.copytree(entry, dst, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(str(entry), str(dst))


def _swap_in(staging: Path, target: Path, *, replace: bool) -> None:
    """Rename the complete directory ``staging`` to ``target``. An absent or empty ``target`` is replaced
    by one rename; a non-empty one, with ``replace``, is moved aside first and removed after (restored
    if the second rename fails). Without ``replace`` a non-empty ``target`` raises ``OSError``."""
    try:
        os.rename(staging, target)  # POSIX: succeeds onto an empty directory, fails onto a non-empty one
    except OSError as exc:
        if not replace or exc.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not target.is_dir():
            raise
        aside = _sibling(target, "old")
        os.rename(target, aside)  # onto the empty directory just made
        try:
            os.rename(staging, target)
        except BaseException:
            os.rename(aside, target)
            raise
        shutil.rmtree(aside, ignore_errors=True)
    _fsync_dir(target.parent)


@contextmanager
def atomic_directory(directory: str | os.PathLike[str], *, keep_others: bool = False, replace: bool = True) -> Iterator[Path]:
    """Write a whole directory atomically: yield an empty temporary sibling ``.NAME.tmp-XXXXXXXX`` to
    write into; when the block ends without an exception, swap it into place at ``directory``.

    Args:
        directory: the directory to (re)place; its parent is created.
        keep_others: entries of the existing directory that the new one does not write are kept (hard
            links: nothing is copied), so a unit (``reward.json`` + ``reward.safetensors``) replaces only
            its own files. Off: the new directory replaces the old one entirely.
        replace: replace an existing non-empty directory; off, such a directory (found at the swap)
            raises ``FileExistsError`` naming the finished temporary directory, which is kept (check
            for such a directory before any work: :func:`check_out`).

    An exception in the block removes the temporary directory and leaves ``directory`` as it was. A
    ``directory`` that is a file, or that is or holds the working directory, raises :class:`ValidationError`.

    Examples:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "run"
        >>> with atomic_directory(target) as tmp:
        ...     _ = (tmp / "a.txt").write_text("first")
        >>> try:
        ...     with atomic_directory(target) as tmp:
        ...         _ = (tmp / "a.txt").write_text("second")
        ...         raise RuntimeError("killed")
        ... except RuntimeError:
        ...     pass
        >>> (target / "a.txt").read_text(), sorted(p.name for p in target.parent.iterdir())
        ('first', ['run'])
    """
    from rewardlab.errors import ValidationError

    target = Path(directory)
    target = target.resolve() if target.is_symlink() else target  # swap the directory a link points at, keep the link
    if target.exists() and not target.is_dir():
        raise ValidationError("directory", f"{target} is a file", "pass a directory path (it is created)")
    if _holds_cwd(target):
        raise ValidationError("directory", f"{target} is the working directory or holds it", "write into a directory of its own below it")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = _sibling(target, "tmp")
    except OSError as exc:
        raise ValidationError(
            "directory", f"cannot write beside {target} ({exc.strerror or exc})", "choose a directory you can write to"
        ) from exc
    try:
        yield staging
        _fsync_tree(staging)
        if keep_others and target.is_dir():
            _carry_over(target, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        _swap_in(staging, target, replace=replace)
    except OSError as exc:
        if replace or exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            shutil.rmtree(staging, ignore_errors=True)
            raise
        raise _Filled(errno.EEXIST, f"{target} was filled while this was being written; the finished directory is {staging}") from exc


def write_files(directory: str | os.PathLike[str], files: dict[str, bytes], *, atomic: bool = True) -> Path:
    """Write ``files`` (name -> content) into ``directory``: all or none (:func:`atomic_directory` with
    ``keep_others``: other files already there stay), or straight in when ``atomic`` is False (the
    caller's directory is itself being written atomically).

    Examples:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp()) / "data"
        >>> sorted(p.name for p in write_files(folder, {"a.json": b"{}", "b.txt": b"x"}).iterdir())
        ['a.json', 'b.txt']
    """
    target = Path(directory)
    with atomic_directory(target, keep_others=True) if atomic else nullcontext(target) as tmp:
        for name, content in files.items():
            (tmp / name).write_bytes(content)
    return target


def npz_bytes(arrays: dict[str, Any]) -> bytes:
    """``arrays`` as the bytes of a compressed ``.npz`` (no pickles: object arrays are refused by the readers)."""
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def save_tensors(
    directory: str | os.PathLike[str],
    name: str,
    tensors: dict[str, Any],
    meta: dict[str, Any],
    *,
    finite: Collection[str] | None = None,
) -> Path:
    """Write ``name.safetensors`` (CPU, contiguous) and ``name.json`` into ``directory`` as one unit
    (:func:`atomic_directory`; other files in ``directory`` are kept).

    Both files are serialised before anything is written. The floating tensors named in ``finite``
    (default: every floating tensor) must be finite: a NaN or infinite weight raises
    :class:`ValidationError` and nothing is written.
    """
    import torch
    from safetensors.torch import save as to_bytes

    from rewardlab.errors import ValidationError

    cpu = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    for key in cpu if finite is None else finite:
        value = cpu[key]
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise ValidationError(
                f"{name}.{key}", f"has {bad} NaN or infinite value(s) of {value.numel()}", "save only a model whose fit ended finite"
            )
    data, text = to_bytes(cpu), json_text(meta)
    directory = Path(directory)
    with atomic_directory(directory, keep_others=True) as tmp:
        (tmp / f"{name}.safetensors").write_bytes(data)
        (tmp / f"{name}.json").write_text(text)
    return directory


def check_out(out: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Check a run's output directory before any work: not a file, not the working directory, empty or
    absent unless ``overwrite``, and writable (its parent is created and a temporary sibling made and
    removed). Every failure is a :class:`ConfigError` naming ``--out``."""
    from rewardlab.errors import ConfigError

    target = Path(out)
    target = target.resolve() if target.is_symlink() else target
    if target.exists() and not target.is_dir():
        raise ConfigError("--out", f"{target} is a file", "give a directory path (it is created)")
    if _holds_cwd(target):
        raise ConfigError("--out", f"{target} is the working directory or holds it", "give a new directory below it, e.g. --out runs/x")
    if target.is_dir() and not overwrite:
        entries = sorted(p.name for p in target.iterdir())
        if entries:
            shown = ", ".join(entries[:4]) + (", ..." if len(entries) > 4 else "")
            raise ConfigError(
                "--out",
                f"{target} already holds {len(entries)} entries ({shown})",
                "choose a new directory, or pass --overwrite to replace it",
            )
    above = next((a for a in target.absolute().parents if a.exists()), None)
    if above is not None and not above.is_dir():
        raise ConfigError("--out", f"{above}, on its path, is a file", "give a directory path whose parents are directories")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _sibling(target, "tmp").rmdir()
    except OSError as exc:
        raise ConfigError(
            "--out", f"cannot write in {target.parent} ({exc.strerror or exc})", "choose a directory you can write to"
        ) from exc
    return target


@contextmanager
def run_directory(out: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """A run directory, all or nothing: check ``out`` (:func:`check_out`), yield a temporary sibling
    to write the run into, and rename it to ``out`` when the block completes. An exception in the block
    removes the temporary directory and leaves ``out`` as it was. With ``overwrite`` an existing ``out``
    is replaced, only then; without it, an ``out`` that another process filled meanwhile raises
    :class:`ConfigError` naming the kept temporary directory."""
    from rewardlab.errors import ConfigError

    target = check_out(out, overwrite=overwrite)
    try:
        with atomic_directory(target, replace=overwrite) as tmp:
            yield tmp
    except _Filled as exc:
        raise ConfigError("--out", str(exc.strerror), "move the finished run into place, or rerun with --overwrite") from exc


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
