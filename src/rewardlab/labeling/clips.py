"""Clips of segments for the labelling app: a :class:`~rewardlab.data.preferences.Segment` replayed into
frames and encoded as an H.264 MP4 (PyAV, ``yuv420p``), written atomically, rendered ahead by a
background :class:`ClipRenderer` so that the page never waits for a clip.

How each kind of environment becomes frames (``T`` observations -> ``T`` frames, one per step):

* **Pendulum-v1** — the observation ``(3,)`` is ``(cos θ, sin θ, θ̇)``: ``θ = atan2(sin, cos)`` is set as
  the env's state (and the step's torque as its ``last_u``, drawn as the arrow) and Gymnasium draws it
  (pygame, offscreen).
* **MuJoCo locomotion** (HalfCheetah, Hopper, Walker2d, Swimmer, Ant, Humanoid, HumanoidStandup,
  InvertedPendulum; v4/v5): the observation starts with ``qpos[k:]`` then ``qvel`` (``k`` root positions
  excluded: 1 = x for HalfCheetah, Hopper, Walker2d; 2 = x, y for Swimmer, Ant, Humanoid; 0 for
  InvertedPendulum or an obs of length ``nq + nv``). The excluded root positions are **not recorded**, so
  they are integrated from the root velocities in the observation: ``x_0 = 0``,
  ``x_{t+1} = x_t + qvel_t[0] * dt`` (and ``y`` from ``qvel_t[1]``), so the body moves across the floor
  at its recorded speed, the camera following it (an Euler estimate: drift accumulates over a long clip, and Hopper's and
  Walker2d's observed velocities are clipped to ``±10``). The state is set with ``set_state`` and drawn
  offscreen (``MUJOCO_GL=egl`` unless set).
* **Atari** (``ALE/...`` ids, ``...NoFrameskip...``): frames come from the observations themselves — the
  last frame of each frame-stacked observation ``(stack, H, W)`` (or ``(H, W, stack)``, ``(H, W)``, or RGB
  ``(H, W, 3)``; a stack has at most 8 frames),
  upscaled by nearest neighbour.
* **Tabular worlds** (a :class:`~rewardlab.mdp.worlds.World`, a world spec such as
  ``"navigation:layout=tiny"``, or ``FrozenLake-v1`` / ``CliffWalking-v1``): integer state observations
  ``(T,)`` or ``(T, 1)`` (or one-hot ``(T, S)``); a numpy drawing of the grid (cells shaded by the
  world's true reward, grid lines) with the agent as a red disc and its previous cell as a faint mark.
* **A callable** ``draw(obs_t) -> (H, W, 3) uint8`` for anything else.

Any other env id raises :class:`~rewardlab.errors.ConfigError` naming it and what is supported; an
observation of the wrong shape for the env raises :class:`~rewardlab.errors.ShapeError`.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import os
import re
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rewardlab._io import atomic_write
from rewardlab.data.preferences import Segment
from rewardlab.errors import ConfigError, ShapeError, ValidationError

__all__ = ["SUPPORTED", "ClipRenderer", "clip_name", "encode_mp4", "render_frames", "render_segment", "segment_digest"]

log = logging.getLogger(__name__)

#: One drawing of one observation: ``(H, W, 3)`` uint8 RGB.
DrawFn = Callable[[np.ndarray], np.ndarray]
#: What to draw: an env id / world spec, a World, or a drawing function.
EnvLike = Any

#: MuJoCo envs whose observation starts with ``qpos[k:]`` then ``qvel``: family -> ``k`` (root positions left out).
MUJOCO_EXCLUDED: dict[str, int] = {
    "HalfCheetah": 1,
    "Hopper": 1,
    "Walker2d": 1,
    "Swimmer": 2,
    "Ant": 2,
    "Humanoid": 2,
    "HumanoidStandup": 2,
    "InvertedPendulum": 0,
}
_TOY_TEXT = {"FrozenLake-v1": "frozenlake", "CliffWalking-v1": "cliffwalking"}
#: What :func:`render_segment` draws, as said in its errors.
SUPPORTED = (
    "Pendulum-v1; MuJoCo "
    + ", ".join(f"{name}-v4/v5" for name in MUJOCO_EXCLUDED)
    + "; Atari ('ALE/<Game>-v5' or '<Game>NoFrameskip-v4', frame observations); tabular worlds (a World, a world spec "
    "such as 'navigation:layout=tiny', FrozenLake-v1, CliffWalking-v1); or a callable draw(obs) -> (H, W, 3) uint8 frame"
)
_DEFAULT_FPS = {"pendulum": 20, "atari": 15, "tabular": 4}
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def segment_digest(segment: Segment) -> bytes:
    """SHA-256 of a segment's arrays (each one's dtype, shape and bytes; ``rews`` too): equal segments, equal digests.

    Examples:
        >>> a = Segment(np.zeros((2, 1)), np.zeros(2))
        >>> segment_digest(a) == segment_digest(Segment(np.zeros((2, 1)), np.zeros(2))), segment_digest(a) == segment_digest(Segment(np.ones((2, 1)), np.zeros(2)))
        (True, False)
    """
    digest = hashlib.sha256()
    for x in (segment.obs, segment.acts, segment.rews):
        if x is None:
            digest.update(b"none")
            continue
        arr = np.ascontiguousarray(x)
        digest.update(f"{arr.dtype.str}{arr.shape}".encode())
        digest.update(arr.tobytes())
    return digest.digest()


def clip_name(segment_id: int, segment: Segment, env_id: str | None) -> str:
    """The clip key of a stored segment: ``"<id>-<12 hex digits>"``, the digits from its env id and arrays.

    Naming clips by content as well as id means that a clips directory kept from another database (the
    ids start again at 1) is never served for the wrong segment: a segment whose clip name differs is
    rendered again, while a restarted server finds the clips it made.

    Examples:
        >>> seg = Segment(np.zeros((2, 1)), np.zeros(2))
        >>> name = clip_name(7, seg, "Pendulum-v1")
        >>> name.startswith("7-"), len(name), name == clip_name(7, seg, "CartPole-v1")
        (True, 14, False)
    """
    digest = hashlib.sha256(f"{env_id}".encode() + b"\0" + segment_digest(segment)).hexdigest()
    return f"{int(segment_id)}-{digest[:12]}"


def _env_name(env: EnvLike) -> str:
    if isinstance(env, str):
        return env
    return str(getattr(env, "name", None) or getattr(env, "__name__", type(env).__name__))


def _unsupported(env: EnvLike, why: str = "is not an environment clips can be drawn for") -> ConfigError:
    return ConfigError("env", f"{_env_name(env)!r} {why}", f"use one of: {SUPPORTED}")


def _family(env_id: str) -> str:
    """``"HalfCheetah-v5"`` -> ``"HalfCheetah"``; ``"ALE/Pong-v5"`` -> ``"Pong"``."""
    return env_id.rsplit("/", 1)[-1].rsplit("-v", 1)[0]


def _is_atari(env_id: str) -> bool:
    return env_id.startswith("ALE/") or "NoFrameskip" in env_id


def _even(n: int) -> int:
    return max(2, n - n % 2)


# ----------------------------------------------------------------------------- frame sources
class _Source:
    """Turns observations into frames; ``fps`` is the env's real time per step."""

    fps: int = 30

    def frames(self, segment: Segment, size: tuple[int, int] | None) -> Iterator[np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        return None


class _Pendulum(_Source):
    fps = _DEFAULT_FPS["pendulum"]

    def __init__(self, env_id: str) -> None:
        self.env_id = env_id
        self.env: Any = None

    def frames(self, segment: Segment, size: tuple[int, int] | None) -> Iterator[np.ndarray]:
        if segment.obs_shape != (3,):
            raise ShapeError(
                "segment.obs", f"has shape {segment.obs.shape} for {self.env_id}", "pass Pendulum observations (T, 3): cos θ, sin θ, θ̇"
            )
        import gymnasium as gym

        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        self.env = gym.make(self.env_id, render_mode="rgb_array")
        self.env.reset(seed=0)
        pendulum = self.env.unwrapped
        pendulum.screen_dim = max(size) if size else 320  # read at the first render
        acts = segment.acts.reshape(len(segment), -1)
        for obs, act in zip(segment.obs, acts, strict=True):
            cos, sin, velocity = (float(v) for v in obs)
            pendulum.state = np.array([math.atan2(sin, cos), velocity])
            pendulum.last_u = float(act[0]) if act.size else None
            yield self.env.render()

    def close(self) -> None:
        if self.env is not None:
            self.env.close()


class _Mujoco(_Source):
    def __init__(self, env_id: str) -> None:
        self.env_id = env_id
        self.excluded = MUJOCO_EXCLUDED[_family(env_id)]
        self.env: Any = None

    def frames(self, segment: Segment, size: tuple[int, int] | None) -> Iterator[np.ndarray]:
        os.environ.setdefault("MUJOCO_GL", "egl")
        import gymnasium as gym

        width, height = size or (480, 480)
        self.env = gym.make(self.env_id, render_mode="rgb_array", width=width, height=height)
        self.env.reset(seed=0)
        sim = self.env.unwrapped
        nq, nv = int(sim.model.nq), int(sim.model.nv)
        self.fps = round(1 / sim.dt)
        obs_dim = int(np.prod(self.env.observation_space.shape))
        if segment.obs_shape != (obs_dim,):
            raise ShapeError(
                "segment.obs", f"has shape {segment.obs.shape} for {self.env_id}", f"pass {self.env_id} observations (T, {obs_dim})"
            )
        k = 0 if obs_dim == nq + nv else self.excluded
        root = np.zeros(k)
        # the free camera follows the root: its look-at point moves with the integrated x (and y)
        camera = sim.mujoco_renderer._get_viewer("rgb_array").cam
        lookat = np.array(camera.lookat, dtype=float)
        for obs in segment.obs:
            qpos = np.concatenate([root, obs[: nq - k]])
            qvel = np.asarray(obs[nq - k : nq - k + nv], dtype=float)
            sim.set_state(qpos, qvel)
            camera.lookat[:k] = lookat[:k] + root
            yield self.env.render()
            root = root + qvel[:k] * sim.dt  # the excluded root positions, integrated from their velocities

    def close(self) -> None:
        if self.env is not None:
            self.env.close()


class _Atari(_Source):
    fps = _DEFAULT_FPS["atari"]

    def __init__(self, env_id: str) -> None:
        self.env_id = env_id

    def frames(self, segment: Segment, size: tuple[int, int] | None) -> Iterator[np.ndarray]:
        shape = segment.obs_shape
        if len(shape) == 2:
            last = segment.obs
        elif len(shape) == 3 and shape[0] <= 8 < min(shape[1:]):
            last = segment.obs[:, -1]  # the newest frame of a channel-first stack (stack, H, W)
        elif len(shape) == 3 and shape[-1] == 3:
            last = segment.obs  # RGB frames (H, W, 3)
        elif len(shape) == 3 and shape[-1] <= 8 < min(shape[:2]):
            last = segment.obs[..., -1]  # the newest frame of a channel-last stack (H, W, stack), as SB3's VecFrameStack
        else:
            raise ShapeError(
                "segment.obs",
                f"has shape {segment.obs.shape} for {self.env_id}",
                "pass frame observations (T, stack, H, W), (T, H, W, stack), (T, H, W) or (T, H, W, 3)",
            )
        frames = np.asarray(last)
        if frames.dtype != np.uint8:
            frames = np.clip(frames * (255.0 if frames.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
        h, w = frames.shape[1:3]
        scale = 4 if size is None else max(1, min(size[0] // w, size[1] // h))
        for frame in frames:
            rgb = frame if frame.ndim == 3 else np.repeat(frame[..., None], 3, axis=2)
            yield np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)


class _Tabular(_Source):
    fps = _DEFAULT_FPS["tabular"]

    def __init__(self, world: Any) -> None:
        if world.shape is None:
            raise _unsupported(world.name, "is a tabular world without a grid (World.shape is None)")
        self.world = world
        self.rows, self.cols = world.shape
        reward = np.asarray(world.reward.detach().cpu().numpy() if hasattr(world.reward, "detach") else world.reward, dtype=float)
        per_state = reward.max(1) if reward.ndim == 2 else reward
        span = float(per_state.max() - per_state.min())
        self.shade = (per_state - per_state.min()) / span if span > 0 else np.full_like(per_state, 0.5)

    def _states(self, segment: Segment) -> np.ndarray:
        n = self.rows * self.cols
        obs = segment.obs
        name = self.world.name
        if obs.ndim == 2 and obs.shape[1] == n and np.all((obs == 0) | (obs == 1)) and np.all(obs.sum(1) == 1):
            states = obs.argmax(1)
        elif obs.ndim == 1 or (obs.ndim == 2 and obs.shape[1] == 1):
            flat = obs.reshape(-1)
            if not np.all(flat == np.round(flat)):
                raise ValidationError("segment.obs", f"holds non-integer states for {name}", "pass state indices")
            states = flat.astype(int)
        else:
            raise ShapeError("segment.obs", f"has shape {obs.shape} for {name}", f"pass state indices (T,) or (T, 1), or one-hot (T, {n})")
        if states.min() < 0 or states.max() >= n:
            bad = int(states[(states < 0) | (states >= n)][0])
            raise ValidationError(
                "segment.obs", f"holds state {bad}, outside the {n} states of {name}", "pass the world the segment was recorded in"
            )
        return np.asarray(states, dtype=np.int64)

    def frames(self, segment: Segment, size: tuple[int, int] | None) -> Iterator[np.ndarray]:
        states = self._states(segment)
        cell = 48 if size is None else max(4, min(size[0] // self.cols, size[1] // self.rows))
        low, high = np.array([40.0, 60.0, 90.0]), np.array([235.0, 225.0, 150.0])
        colours = (low + self.shade[:, None] * (high - low)).astype(np.uint8).reshape(self.rows, self.cols, 3)
        board = np.repeat(np.repeat(colours, cell, axis=0), cell, axis=1)
        board[::cell] = board[:, ::cell] = 20  # grid lines
        yy, xx = np.mgrid[0:cell, 0:cell]
        centre = (cell - 1) / 2
        disc = (yy - centre) ** 2 + (xx - centre) ** 2 <= (0.35 * cell) ** 2
        previous = None
        for s in states:
            frame = board.copy()
            if previous is not None:
                r, c = divmod(int(previous), self.cols)
                frame[r * cell : (r + 1) * cell, c * cell : (c + 1) * cell][disc] = (230, 150, 150)
            r, c = divmod(int(s), self.cols)
            frame[r * cell : (r + 1) * cell, c * cell : (c + 1) * cell][disc] = (220, 30, 30)
            previous = s
            yield frame


class _Drawn(_Source):
    fps = 30

    def __init__(self, draw: DrawFn) -> None:
        self.draw = draw

    def frames(self, segment: Segment, size: tuple[int, int] | None) -> Iterator[np.ndarray]:
        for t, obs in enumerate(segment.obs):
            frame = np.asarray(self.draw(obs))
            if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
                raise ShapeError(
                    "draw(obs)", f"returned shape {frame.shape} and dtype {frame.dtype} at step {t}", "return an (H, W, 3) uint8 RGB frame"
                )
            yield frame


def _source(env: EnvLike) -> _Source:
    """The frame source for ``env`` (see the module docstring), or :class:`ConfigError`."""
    from rewardlab.mdp.worlds import World, make_world, world_builder

    if isinstance(env, World):
        return _Tabular(env)
    if callable(env) and not isinstance(env, str):
        return _Drawn(env)
    if not isinstance(env, str):
        raise _unsupported(env)
    if _family(env) == "Pendulum":
        return _Pendulum(env)
    if _family(env) in MUJOCO_EXCLUDED and env.rsplit("-", 1)[-1] in ("v4", "v5"):
        return _Mujoco(env)
    if _is_atari(env):
        return _Atari(env)
    if env in _TOY_TEXT:
        return _Tabular(make_world(_TOY_TEXT[env]))
    try:
        world_builder(env.partition(":")[0].strip())
    except ConfigError:
        raise _unsupported(env) from None
    return _Tabular(make_world(env))  # a known world: a bad option is make_world's error, naming it


# ----------------------------------------------------------------------------- encoding
def _check_size(size: tuple[int, int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 16 or v % 2 for v in size)
    ):
        raise ConfigError("size", f"is {size!r}", "pass (width, height), even integers of at least 16 (H.264 yuv420p needs even sizes)")
    return int(size[0]), int(size[1])


def _rgb(frame: Any, t: int) -> np.ndarray:
    rgb = np.ascontiguousarray(frame)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ShapeError("frames", f"frame {t} has shape {rgb.shape} and dtype {rgb.dtype}", "pass (H, W, 3) uint8 RGB frames")
    return rgb


def encode_mp4(frames: Any, *, fps: int, size: tuple[int, int] | None = None, crf: int = 23) -> bytes:
    """Encode RGB frames as an H.264 MP4 (``yuv420p``, libx264) in memory.

    Args:
        frames: an iterable of ``(H, W, 3)`` uint8 RGB frames, all the same size.
        fps: frames per second.
        size: ``(width, height)`` of the video, even; default the first frame's size rounded down to
            even. Frames are scaled to it (bicubic).
        crf: x264's constant rate factor (lower = better quality, bigger file).

    Returns:
        The MP4 file's bytes, its index (``moov``) first ("faststart").

    Examples:
        >>> import av, io
        >>> data = encode_mp4([np.full((20, 30, 3), 10 * t, np.uint8) for t in range(5)], fps=10)
        >>> with av.open(io.BytesIO(data)) as c:
        ...     s = c.streams.video[0]
        ...     (s.codec_context.name, s.width, s.height, sum(1 for _ in c.decode(s)))
        ('h264', 30, 20, 5)
        >>> data.index(b"moov") < data.index(b"mdat")  # faststart
        True
    """
    import av

    if isinstance(fps, bool) or not isinstance(fps, (int, np.integer)) or not 1 <= fps <= 240:
        raise ConfigError("fps", f"is {fps!r}", "pass an integer frame rate between 1 and 240")
    size = _check_size(size)
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise ShapeError("frames", "is empty", "pass at least one frame")
    first = _rgb(first, 0)
    with tempfile.TemporaryDirectory(prefix="rewardlab-clip-") as scratch:
        # a file, not memory: the faststart pass (the index moved to the front, so a browser can play the
        # clip before it has all of it) reopens the output by name
        target = Path(scratch) / "clip.mp4"
        with av.open(str(target), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream: Any = None
            for t, frame in enumerate(itertools.chain([first], frames)):
                rgb = _rgb(frame, t)
                if stream is None:
                    width, height = size or (_even(rgb.shape[1]), _even(rgb.shape[0]))
                    stream = container.add_stream("libx264", rate=int(fps), options={"crf": str(crf), "preset": "veryfast"})
                    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
                video = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(width=stream.width, height=stream.height, format="yuv420p")
                for packet in stream.encode(video):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        return target.read_bytes()


def render_frames(env: EnvLike, segment: Segment, *, size: tuple[int, int] | None = None) -> tuple[list[np.ndarray], int]:
    """The ``T`` frames of ``segment`` drawn for ``env``, and the env's frame rate (steps per second).

    Args:
        env: an env id, a world spec, a :class:`~rewardlab.mdp.worlds.World`, or ``draw(obs) -> (H, W, 3)``.
        segment: ``T`` steps; observations ``(T, *obs_shape)`` in the env's layout.
        size: ``(width, height)`` to draw at where the source can (MuJoCo, Pendulum's square side, the
            Atari and grid scale); None = the source's default.

    Returns:
        ``(frames, fps)``: ``T`` arrays ``(H, W, 3)`` uint8, and the real-time rate.

    Examples:
        >>> frames, fps = render_frames("navigation:layout=tiny", Segment(np.array([6, 3, 0]), np.zeros(3)))
        >>> len(frames), frames[0].shape, fps
        (3, (144, 144, 3), 4)
    """
    if not isinstance(segment, Segment):
        raise ValidationError("segment", f"is a {type(segment).__name__}", "pass a rewardlab.data.preferences.Segment")
    source = _source(env)
    try:
        frames = list(source.frames(segment, _check_size(size)))
    finally:
        source.close()
    return frames, source.fps


def render_segment(
    env: EnvLike,
    segment: Segment,
    *,
    out: str | os.PathLike[str],
    fps: int | None = None,
    size: tuple[int, int] | None = None,
) -> Path:
    """Replay ``segment``'s observations into frames and write them as an H.264 MP4 at ``out``, atomically.

    One frame per step (``T`` frames). How each env is drawn, and how HalfCheetah's missing x position is
    recovered (integrated from the root x velocity in the observation), is in the module docstring.

    Args:
        env: ``"Pendulum-v1"``, a MuJoCo locomotion id (``"HalfCheetah-v5"``, ...), an Atari id
            (``"ALE/Breakout-v5"``), a tabular world (a World, a world spec, ``"FrozenLake-v1"``), or a callable
            ``draw(obs) -> (H, W, 3)`` uint8.
        segment: the :class:`~rewardlab.data.preferences.Segment`, observations ``(T, *obs_shape)``.
        out: the ``.mp4`` path; written to a temporary sibling and renamed into place.
        fps: frames per second; default the env's real time (Pendulum 20, MuJoCo ``1 / dt``: HalfCheetah 20,
            Hopper 125; Atari 15 (frame skip 4), grids 4, callables 30).
        size: ``(width, height)``, even; default the source's (Pendulum 320 x 320, MuJoCo 480 x 480,
            Atari 4x the frame, grids 48 px per cell). Frames are scaled to it.

    Returns:
        ``out`` as a Path.

    Raises:
        ConfigError: an env clips cannot be drawn for (the message lists what is supported), a bad size or fps.
        ShapeError: observations of the wrong shape for the env.

    Examples:
        >>> import tempfile, pathlib
        >>> path = render_segment("navigation:layout=tiny", Segment(np.array([6, 3, 0]), np.zeros(3)),
        ...                       out=pathlib.Path(tempfile.mkdtemp()) / "clip.mp4")
        >>> path.suffix, path.stat().st_size > 0
        ('.mp4', True)
    """
    if not isinstance(segment, Segment):
        raise ValidationError("segment", f"is a {type(segment).__name__}", "pass a rewardlab.data.preferences.Segment")
    size = _check_size(size)
    source = _source(env)
    try:
        frames = source.frames(segment, size)  # streamed into the encoder: one frame in memory at a time
        first = next(frames)  # the source knows its frame rate once it has drawn (MuJoCo: 1 / dt)
        data = encode_mp4(itertools.chain([first], frames), fps=source.fps if fps is None else fps, size=size)
    finally:
        source.close()
    return atomic_write(out, lambda handle: handle.write(data))


# ----------------------------------------------------------------------------- background rendering
State = Literal["unknown", "pending", "ready", "failed"]


class ClipRenderer(AbstractContextManager["ClipRenderer"]):
    """Renders clips ahead in a pool of background threads, into ``directory/<key>.mp4``.

    ``submit`` returns at once while fewer than ``max_pending`` clips wait or render, else blocks (the
    bounded queue: a producer cannot run ahead of the renderer without limit). A failure is kept as text
    (``error(key)``: the exception and its traceback's last line) and logged; it is never lost. A key whose
    clip is already on disk is ready at once (a restarted server does not render again). Threads share
    nothing but the queue: each clip builds and closes its own env (MuJoCo's EGL context, pygame's surface),
    and clips rendered by several threads equal those rendered alone (tested).

    Args:
        directory: where the clips go (created).
        workers: rendering threads (each renders one clip at a time; MuJoCo and the encoder release the GIL).
        max_pending: the most clips queued or rendering at once.
        fps: passed to :func:`render_segment`.
        size: passed to :func:`render_segment`.

    Examples:
        >>> import tempfile
        >>> with ClipRenderer(tempfile.mkdtemp()) as clips:
        ...     clips.submit("s1", "navigation:layout=tiny", Segment(np.array([6, 3]), np.zeros(2)))
        ...     clips.submit("bad", "navigation:layout=tiny", Segment(np.array([99]), np.zeros(1)))
        ...     _ = clips.wait()
        ...     clips.path("s1").name, clips.status("bad"), "outside the 9 states" in clips.error("bad")
        ('s1.mp4', 'failed', True)
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        workers: int = 1,
        max_pending: int = 32,
        fps: int | None = None,
        size: tuple[int, int] | None = None,
    ) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigError("workers", f"is {workers!r}", "pass a positive number of threads")
        if isinstance(max_pending, bool) or not isinstance(max_pending, int) or max_pending < 1:
            raise ConfigError("max_pending", f"is {max_pending!r}", "pass a positive queue bound")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.fps, self.size = fps, _check_size(size)
        self._slots = threading.BoundedSemaphore(max_pending)
        self._lock = threading.Lock()
        self._futures: dict[str, Future[Path]] = {}
        self._errors: dict[str, str] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rewardlab-clips")
        self._closed = False

    def _key(self, key: Any) -> str:
        text = str(key)
        if not _KEY.match(text):
            raise ValidationError(
                "key", f"is {text!r}", "use letters, digits, '_', '.', '-' (it names the clip file), starting with a letter or digit"
            )
        return text

    def clip_path(self, key: Any) -> Path:
        """Where the clip of ``key`` is (or will be) written: ``directory/<key>.mp4``."""
        return self.directory / f"{self._key(key)}.mp4"

    def submit(self, key: Any, env: EnvLike, segment: Segment, *, timeout: float | None = None) -> None:
        """Queue ``segment`` (drawn for ``env``) to be rendered as the clip of ``key``.

        Blocks while ``max_pending`` clips are queued or rendering (up to ``timeout`` seconds, then
        :class:`TimeoutError`). A key already queued or ready is left as it is; a failed key is retried.
        """
        name = self._key(key)
        with self._lock:
            if self._closed:
                raise ValidationError("renderer", "is closed", "submit to a new ClipRenderer")
            known = self._futures.get(name)
            if (known is not None and name not in self._errors) or (known is None and self.clip_path(name).exists()):
                return
        if not self._slots.acquire(timeout=timeout):
            raise TimeoutError(f"clip {name!r}: the render queue stayed full for {timeout} s; wait for clips or raise max_pending")
        with self._lock:
            if self._closed:
                self._slots.release()
                raise ValidationError("renderer", "is closed", "submit to a new ClipRenderer")
            self._errors.pop(name, None)
            future = self._pool.submit(self._render, name, env, segment)
            self._futures[name] = future

    def _render(self, name: str, env: EnvLike, segment: Segment) -> Path:
        try:
            return render_segment(env, segment, out=self.clip_path(name), fps=self.fps, size=self.size)
        except BaseException as err:
            text = f"{type(err).__name__}: {err}"
            with self._lock:
                self._errors[name] = text
            log.warning("clip %s failed: %s\n%s", name, text, traceback.format_exc())
            raise
        finally:
            self._slots.release()

    def status(self, key: Any) -> State:
        """``"ready"`` (the file is there), ``"pending"`` (queued or rendering), ``"failed"`` or ``"unknown"``."""
        name = self._key(key)
        with self._lock:
            if name in self._errors:
                return "failed"
            future = self._futures.get(name)
        if future is not None and not future.done():
            return "pending"
        return "ready" if self.clip_path(name).exists() else "unknown"

    def path(self, key: Any) -> Path | None:
        """The clip's path once it is written, else None (pending, failed or never submitted)."""
        return self.clip_path(key) if self.status(key) == "ready" else None

    def error(self, key: Any) -> str | None:
        """The failure of ``key``'s rendering as text (``"ShapeError: ..."``), or None."""
        with self._lock:
            return self._errors.get(self._key(key))

    def wait(self, keys: Any = None, timeout: float | None = None) -> bool:
        """Wait until ``keys`` (default: all submitted) are ready or failed; True if none is still pending."""
        import concurrent.futures

        with self._lock:
            names = list(self._futures) if keys is None else [self._key(k) for k in keys]
            futures = [self._futures[n] for n in names if n in self._futures]
        _done, pending = concurrent.futures.wait(futures, timeout=timeout)
        return not pending

    def close(self, *, wait: bool = True) -> None:
        """Stop taking clips; with ``wait``, finish the queued ones first (else drop those not started)."""
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=not wait)

    def __exit__(self, *exc: object) -> None:
        self.close()
