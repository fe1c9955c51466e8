"""Trajectory datasets on disk: ``.npz`` + JSON (never pickle), Minari datasets in and out, and the
D-REX paper's demonstration files.

:func:`save_dataset` writes ``trajectories.npz`` (arrays ``obs_i``, ``acts_i``, ``rews_i`` per
trajectory ``i``) and ``trajectories.json`` (format, count, shapes, terminal flags, infos, the env id)
as one unit: both are serialised first, then written into a temporary sibling directory that replaces
the old files in one rename, so a failed or interrupted save leaves the earlier dataset as it was. :func:`load_dataset` checks them against each other and, given an env, against its
spaces, so a dataset recorded in another env is refused with a message naming the mismatch.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
import zlib
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from rewardlab._io import json_text, npz_bytes, read_meta, write_files
from rewardlab._schema import check_meta
from rewardlab.data.trajectory import Trajectory, TrajectoryDataset
from rewardlab.errors import ConfigError, DataFileError, ValidationError

__all__ = [
    "MINARI_PREFIX",
    "check_env",
    "dataset_reference",
    "from_arrays",
    "from_minari",
    "load_dataset",
    "load_npz_episodes",
    "minari_id",
    "save_dataset",
    "to_minari",
]

_FORMAT = "rewardlab.TrajectoryDataset"


class DatasetMeta(TypedDict):
    """The schema of ``trajectories.json`` (what :func:`save_dataset` writes, version 1)."""

    format: str
    version: int
    count: int
    env_id: str | None
    obs_shape: list[int]
    act_shape: list[int]
    lengths: list[int]
    terminal: list[bool]
    infos: list[dict[str, Any]]


class _EpisodeRequired(TypedDict):
    obs: np.ndarray
    acts: np.ndarray


class _EpisodeArrays(_EpisodeRequired, total=False):
    """The arrays of episode ``i`` in an ``.npz`` of episodes: ``obs_i`` and ``acts_i`` required, ``rews_i`` optional."""

    rews: np.ndarray


def _read_npz(path: Path, fix: str) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path``, never unpickling; a file that is not a readable ``.npz`` of
    plain arrays raises :class:`DataFileError` with ``fix`` (never numpy's advice to allow pickle)."""
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise DataFileError(f"{path}: cannot be read ({exc.strerror}). Fix: {fix}") from exc
    if magic != b"PK\x03\x04":
        what = "empty" if not magic else "not an .npz archive (no zip header)"
        raise DataFileError(f"{path}: is {what}. Fix: {fix}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except ValueError as exc:
        if "pickle" in str(exc):  # an object array: rewardlab never loads pickled data
            raise DataFileError(f"{path}: holds object arrays, which would need unpickling. Fix: {fix}") from exc
        raise DataFileError(f"{path}: is corrupt ({exc}). Fix: {fix}") from exc
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:  # truncated or damaged members
        raise DataFileError(f"{path}: is corrupt ({type(exc).__name__}: {exc}). Fix: {fix}") from exc
    for key, array in arrays.items():
        if array.dtype.kind not in "biuf":
            raise DataFileError(f"{path}: array {key!r} holds {array.dtype} values, not numbers. Fix: {fix}")
    return arrays


def _serialisable(dataset: Any, verb: str) -> list[Trajectory]:
    """The trajectories of ``dataset``, checked to be non-empty and to have JSON-serialisable ``infos``
    before anything is written."""
    items = list(dataset)
    if not items:
        raise ValidationError("dataset", "is empty", f"{verb} at least one trajectory")
    for i, tr in enumerate(items):
        try:
            json_text(tr.infos)
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                f"infos of trajectory {i}", f"are not JSON-serialisable ({exc})", "keep numbers, strings, lists and dicts in infos"
            ) from exc
    return items


def save_dataset(dataset: Any, directory: str | Path, *, env_id: str | None = None, atomic: bool = True) -> Path:
    """Write ``dataset`` into ``directory`` as ``trajectories.npz`` + ``trajectories.json``, as one unit
    (other files in ``directory`` are kept); ``atomic=False`` writes the two files in place, for a
    directory that is itself being written atomically (a run directory). ``infos`` hold JSON values: numbers (numpy scalars and
    arrays included), strings, lists, dicts; anything else raises :class:`ValidationError` naming the
    trajectory, and nothing is written.

    Examples:
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> ds = TrajectoryDataset([Trajectory(np.zeros((3, 2)), np.ones(2), rews=np.array([1.0, 2.0]), infos={"rank": 1})])
        >>> _ = save_dataset(ds, d, env_id="Toy-v0")
        >>> back = load_dataset(d)
        >>> back[0].ret, back[0].infos["rank"], back[0].obs.shape
        (3.0, 1, (3, 2))
    """
    items = _serialisable(dataset, "save")
    arrays: dict[str, np.ndarray] = {}
    for i, tr in enumerate(items):
        arrays[f"obs_{i}"], arrays[f"acts_{i}"] = np.asarray(tr.obs), np.asarray(tr.acts)
        if tr.rews is not None:
            arrays[f"rews_{i}"] = np.asarray(tr.rews)
    meta = {
        "format": _FORMAT,
        "version": 1,
        "count": len(items),
        "env_id": env_id,
        "obs_shape": list(np.asarray(items[0].obs).shape[1:]),
        "act_shape": list(np.asarray(items[0].acts).shape[1:]),
        "lengths": [len(tr) for tr in items],
        "terminal": [bool(tr.terminal) for tr in items],
        "infos": [tr.infos for tr in items],
    }
    files = {"trajectories.npz": npz_bytes(arrays), "trajectories.json": json_text(meta).encode()}
    return write_files(directory, files, atomic=atomic)


def load_dataset(directory: str | Path, *, env: Any = None) -> TrajectoryDataset:
    """Read what :func:`save_dataset` wrote. With ``env`` (an env or env id), check the observation and
    action shapes against its spaces. Missing, corrupt or mismatched files raise :class:`DataFileError`."""
    directory = Path(directory)
    meta, data_path = read_meta(directory, "trajectories", ".npz", _FORMAT, "rewardlab.data.io.save_dataset", schema=DatasetMeta)
    count = meta["count"]
    for key in ("lengths", "terminal", "infos"):
        if count < 1 or len(meta[key]) != count:
            raise DataFileError(
                f"{directory / 'trajectories.json'}: count is {count} but {key!r} has {len(meta[key])} entries. Fix: re-save the dataset"
            )
    arrays = _read_npz(data_path, "re-save the dataset")
    out = []
    for i in range(count):
        if f"obs_{i}" not in arrays or f"acts_{i}" not in arrays:
            raise DataFileError(f"{data_path}: trajectory {i} is missing. Fix: re-save the dataset")
        acts = arrays[f"acts_{i}"]
        if acts.ndim == 0 or len(acts) != meta["lengths"][i]:
            raise DataFileError(
                f"{data_path}: trajectory {i} has {acts.shape} actions, the JSON says {meta['lengths'][i]}. Fix: re-save the dataset"
            )
        try:
            out.append(Trajectory(arrays[f"obs_{i}"], acts, arrays.get(f"rews_{i}"), meta["terminal"][i], dict(meta["infos"][i])))
        except ValidationError as exc:
            raise DataFileError(f"{data_path}: trajectory {i}: {exc} Fix: re-save the dataset") from exc
    dataset = TrajectoryDataset(out)
    if env is not None:
        check_env(dataset, env, source=str(directory))
    return dataset


def check_env(dataset: TrajectoryDataset, env: Any, *, source: str = "dataset") -> None:
    """Refuse a dataset whose observation or action shapes differ from ``env``'s spaces."""
    import gymnasium as gym

    from rewardlab.data.gym_rollouts import check_env_id

    made = gym.make(check_env_id(env)) if isinstance(env, str) else env
    obs_shape = tuple(made.observation_space.shape or ())
    act_shape = tuple(made.action_space.shape or ())
    for i, tr in enumerate(dataset):
        if tuple(tr.obs.shape[1:]) != obs_shape or tuple(tr.acts.shape[1:]) != act_shape:
            raise DataFileError(
                f"{source}: trajectory {i} has observations {tuple(tr.obs.shape[1:])} and actions {tuple(tr.acts.shape[1:])}, "
                f"the env has {obs_shape} and {act_shape}. Fix: use the dataset recorded in this env"
            )


def from_arrays(obs: np.ndarray, acts: np.ndarray, rews: np.ndarray | None = None, **infos: Any) -> Trajectory:
    """A trajectory from arrays as many libraries store them. With ``T + 1`` observations they are used as they
    are; with ``T`` (no final observation, as in the D-REX files) the last action and reward are dropped,
    so every kept action has the observation it led to.

    Examples:
        >>> tr = from_arrays(np.zeros((4, 2)), np.zeros((4, 1)), np.ones(4))
        >>> len(tr), tr.obs.shape, tr.ret
        (3, (4, 2), 3.0)
    """
    obs, acts = np.asarray(obs), np.asarray(acts)
    if len(obs) == len(acts):
        acts = acts[:-1]
        rews = None if rews is None else np.asarray(rews)[:-1]
    return Trajectory(obs, acts, rews, infos=infos)


def load_npz_episodes(path: str | Path, **infos: Any) -> TrajectoryDataset:
    """Episodes stored as ``obs_i``, ``acts_i``, ``rews_i`` arrays in one ``.npz`` (the D-REX demonstrations
    in ``../shared/data``), each through :func:`from_arrays`; ``infos["episode"]`` is ``i``. Episodes are
    numbered from 0 without gaps; a missing ``acts_i`` or a corrupt file raises :class:`DataFileError`."""
    fix = "pass an .npz file of obs_i / acts_i / rews_i arrays"
    arrays = _read_npz(Path(path), fix)
    count = sum(1 for k in arrays if k.startswith("obs_"))
    if count == 0:
        raise DataFileError(f"{path}: no obs_0 array. Fix: {fix}")
    out = []
    for i in range(count):
        given = {field: arrays[f"{field}_{i}"] for field in ("obs", "acts", "rews") if f"{field}_{i}" in arrays}
        episode = check_meta(given, _EpisodeArrays, f"{path}: episode {i}", fix)
        if episode["obs"].ndim == 0 or episode["acts"].ndim == 0:
            raise DataFileError(f"{path}: episode {i} has a scalar obs or acts. Fix: {fix}")
        try:
            out.append(from_arrays(episode["obs"], episode["acts"], episode.get("rews"), episode=i, **infos))
        except ValidationError as exc:
            raise DataFileError(f"{path}: episode {i}: {exc} Fix: {fix}") from exc
    return TrajectoryDataset(out)


_MINARI_INFOS = "rewardlab_infos"  # the dataset metadata key holding each trajectory's infos, as JSON


def to_minari(dataset: Any, dataset_id: str, env: Any, **kwargs: Any) -> Any:
    """Write ``dataset`` as a Minari dataset ``dataset_id`` (e.g. ``"rewardlab/pendulum/demos-v0"``) for ``env``.

    Each trajectory's ``infos`` (ranks, checkpoints, ...) go into the dataset's metadata under
    ``"rewardlab_infos"`` (a JSON list by episode id), so :func:`from_minari` returns them. A malformed id,
    an id that already exists locally, or infos that JSON cannot hold raise :class:`ConfigError` /
    :class:`ValidationError` before anything is written; a failure while writing removes the partial
    dataset. Extra keyword arguments go to ``minari.create_dataset_from_buffers`` (author, description, ...).
    """
    import minari
    from minari.data_collector import EpisodeBuffer
    from minari.dataset.minari_dataset import parse_dataset_id
    from minari.storage import get_dataset_path

    try:
        parse_dataset_id(dataset_id)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            "dataset_id", f"{dataset_id!r} is malformed", "write it as [namespace/]name-v<version>, e.g. rewardlab/pendulum/demos-v0"
        ) from exc
    path = Path(get_dataset_path(dataset_id))
    if path.exists():
        raise ConfigError(
            "dataset_id", f"{dataset_id!r} already exists at {path}", "choose a new name or version, or delete it (minari.delete_dataset)"
        )
    items = _serialisable(dataset, "export")
    infos = json_text([tr.infos for tr in items])
    buffers = []
    for i, tr in enumerate(items):
        t = len(tr)
        rews = tr.rews if tr.rews is not None else np.zeros(t)
        term = np.zeros(t, bool)
        trunc = np.zeros(t, bool)
        (term if tr.terminal else trunc)[-1] = True
        buffers.append(
            EpisodeBuffer(
                id=i,
                observations=np.asarray(tr.obs),
                actions=np.asarray(tr.acts),
                rewards=list(np.asarray(rews, dtype=float)),
                terminations=list(term),
                truncations=list(trunc),
            )
        )
    kwargs.setdefault("algorithm_name", "rewardlab")
    kwargs.setdefault("description", f"{len(buffers)} trajectories exported by rewardlab.data.io.to_minari")
    try:
        created = minari.create_dataset_from_buffers(dataset_id, buffers, env=env, **kwargs)
        created.storage.update_metadata({_MINARI_INFOS: infos})
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)  # no half-written dataset under this id
        raise
    return created


#: ``[data] dataset`` / ``--demos`` naming a Minari dataset instead of a path: ``minari:DATASET_ID``.
MINARI_PREFIX = "minari:"


def minari_id(dataset: str) -> str:
    """The Minari id of ``minari:DATASET_ID``; a missing or locally absent id raises :class:`ConfigError` naming
    ``data.dataset`` (nothing is downloaded: list what is stored with ``minari list local``).

    Examples:
        >>> minari_id("minari:")
        Traceback (most recent call last):
        ...
        rewardlab.errors.ConfigError: data.dataset: 'minari:' names no dataset. Fix: give minari:DATASET_ID, e.g. minari:mujoco/halfcheetah/expert-v0.
    """
    name = dataset[len(MINARI_PREFIX) :].strip()
    if not name:
        raise ConfigError(
            "data.dataset", f"{dataset!r} names no dataset", "give minari:DATASET_ID, e.g. minari:mujoco/halfcheetah/expert-v0"
        )
    try:
        import minari
    except ImportError:
        raise ConfigError("data.dataset", f"is {dataset!r} but minari is not installed", "pip install 'rewardlab[minari]'") from None
    local = minari.list_local_datasets()
    if name not in local:
        raise ConfigError(
            "data.dataset",
            f"{name!r} is not a Minari dataset stored here ({len(local)} stored: {sorted(local)[:5]})",
            "download it first (minari download ID) or point MINARI_DATASETS_PATH at where it is",
        )
    return name


def dataset_reference(dataset: str | os.PathLike[str], base: str | os.PathLike[str] | None = None) -> str:
    """``dataset`` as ``[data] dataset`` stores it: ``minari:DATASET_ID`` unchanged, a path made absolute (relative
    to ``base``, default the working directory; ``~`` expanded).

    Examples:
        >>> dataset_reference("minari:mujoco/halfcheetah/expert-v0")
        'minari:mujoco/halfcheetah/expert-v0'
        >>> dataset_reference("demos", base="/data")
        '/data/demos'
    """
    text = os.fspath(dataset)
    if text.startswith(MINARI_PREFIX):
        return text
    return str((Path(base if base is not None else Path.cwd()) / Path(text).expanduser()).resolve())


def from_minari(dataset_id_or_dataset: Any) -> TrajectoryDataset:
    """Read a Minari dataset (an id of a locally stored dataset, or a loaded ``MinariDataset``). Each
    trajectory's ``infos`` are those :func:`to_minari` saved; ``{"episode": id}`` for other datasets."""
    import minari

    ds = minari.load_dataset(dataset_id_or_dataset) if isinstance(dataset_id_or_dataset, str) else dataset_id_or_dataset
    saved = ds.storage.metadata.get(_MINARI_INFOS)
    try:
        infos = None if saved is None else json.loads(saved)
    except (json.JSONDecodeError, TypeError) as exc:
        infos = exc
    if infos is not None and not (
        isinstance(infos, list) and len(infos) == ds.storage.total_episodes and all(isinstance(x, dict) for x in infos)
    ):
        raise DataFileError(
            f"Minari dataset {ds.id}: metadata {_MINARI_INFOS!r} is not a JSON list of one dict per episode. Fix: export it again with to_minari"
        )
    out = []
    for ep in ds.iterate_episodes():
        if not isinstance(ep.observations, np.ndarray):
            raise ValidationError("observations", "are a dict or tuple space", "flatten the observations before loading")
        info = {"episode": int(ep.id)} if infos is None else dict(infos[int(ep.id)])
        out.append(Trajectory(ep.observations, ep.actions, ep.rewards, bool(ep.terminations[-1]), info))
    return TrajectoryDataset(out)
