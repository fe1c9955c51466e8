"""Clips for the labelling app: segments drawn per env, encoded as H.264 MP4, rendered ahead in the background."""

from __future__ import annotations

import functools
import itertools
import math
import os
import threading
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

av = pytest.importorskip("av")

from rewardlab.data.preferences import Segment  # noqa: E402
from rewardlab.errors import ConfigError, ShapeError, ValidationError  # noqa: E402
from rewardlab.labeling.clips import ClipRenderer, encode_mp4, render_frames, render_segment  # noqa: E402

ROD = np.array([204, 77, 77])


def decoded(path: Path) -> tuple[str, str, int, int, int]:
    """``(codec, pixel format, width, height, frames)`` of an MP4, decoded back with PyAV."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return stream.codec_context.name, stream.codec_context.pix_fmt, stream.width, stream.height, frames


def pendulum(thetas: list[float], velocity: float = 0.0) -> Segment:
    obs = np.array([[math.cos(t), math.sin(t), velocity] for t in thetas])
    return Segment(obs, np.zeros((len(thetas), 1)))


def rod_angle(frame: np.ndarray) -> float:
    """The drawn rod's angle from upright (counter-clockwise positive), from the centroid of its pixels."""
    ys, xs = np.nonzero(np.abs(frame.astype(int) - ROD).sum(-1) < 60)
    centre = (frame.shape[1] / 2, frame.shape[0] / 2)
    return math.atan2(-(xs.mean() - centre[0]), -(ys.mean() - centre[1]))


def test_pendulum_clip_decodes_as_h264_with_one_frame_per_step(tmp_path: Path) -> None:
    path = render_segment("Pendulum-v1", pendulum([0.1 * t for t in range(7)]), out=tmp_path / "p.mp4", size=(96, 64))
    assert path == tmp_path / "p.mp4"
    assert decoded(path) == ("h264", "yuv420p", 96, 64, 7)
    assert [p.name for p in tmp_path.iterdir()] == ["p.mp4"]  # no temporary file left behind
    data = path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # faststart: a browser can start before the whole file


def test_pendulum_drawing_follows_the_angle() -> None:
    thetas = [0.0, 0.6, -0.6, 2.0, -2.5]
    frames, fps = render_frames("Pendulum-v1", pendulum(thetas), size=(128, 128))
    assert fps == 20 and frames[0].shape == (128, 128, 3)
    for theta, frame in zip(thetas, frames, strict=True):
        assert rod_angle(frame) == pytest.approx(theta, abs=0.08)
    # theta and -theta are mirror images (left-right); different angles differ
    mirror = np.abs(frames[1].astype(int) - frames[2][:, ::-1]).mean()
    plain = np.abs(frames[1].astype(int) - frames[2]).mean()
    assert mirror < 0.1 * plain


@functools.lru_cache(maxsize=1)
def mujoco_rendering_missing() -> str | None:
    """Why MuJoCo cannot render offscreen here (no MuJoCo, no EGL, a bad MUJOCO_GL), or None when it can."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    try:
        env = gym.make("HalfCheetah-v5", render_mode="rgb_array", width=16, height=16)
        env.reset(seed=0)
        env.render()
        env.close()
    except Exception as err:
        return f"MuJoCo cannot render offscreen here (MUJOCO_GL={os.environ['MUJOCO_GL']}): {type(err).__name__}: {err}"
    return None


def cheetah_or_skip(segment: Segment, size: tuple[int, int] = (64, 48)) -> list[np.ndarray]:
    missing = mujoco_rendering_missing()
    if missing:
        pytest.skip(missing)
    frames, fps = render_frames("HalfCheetah-v5", segment, size=size)
    assert fps == 20
    return frames


def test_halfcheetah_renders_and_moves_by_its_integrated_x_velocity(tmp_path: Path) -> None:
    if mujoco_rendering_missing():
        pytest.skip(mujoco_rendering_missing() or "")
    env = gym.make("HalfCheetah-v5")
    obs, _ = env.reset(seed=0)
    env.close()
    still = np.repeat(obs[None], 4, axis=0)
    still[:, 8] = 0.0  # obs[8] = qvel[0], the root x velocity: the body stays put
    moving = still.copy()
    moving[:, 8] = 10.0  # 10 m/s: x advances 0.5 m per frame (dt 0.05 s), the floor slides under the camera
    frames_still = cheetah_or_skip(Segment(still, np.zeros((4, 6))))
    frames_moving = cheetah_or_skip(Segment(moving, np.zeros((4, 6))))
    assert frames_still[0].shape == (48, 64, 3)
    assert all(np.array_equal(frames_still[0], f) for f in frames_still[1:])
    assert np.array_equal(frames_moving[0], frames_still[0])  # x starts at 0
    assert all(not np.array_equal(a, b) for a, b in itertools.pairwise(frames_moving))
    # ... while the camera follows the body: its (tan) pixels stay where they were
    body = [np.argwhere(f[..., 0].astype(int) - f[..., 2] > 60).mean(0) for f in (frames_moving[0], frames_moving[-1])]
    assert np.abs(body[0] - body[1]).max() < 1.0
    path = render_segment("HalfCheetah-v5", Segment(moving, np.zeros((4, 6))), out=tmp_path / "c.mp4", size=(64, 48))
    assert decoded(path) == ("h264", "yuv420p", 64, 48, 4)


def test_grid_world_clip_draws_the_agent_in_its_cell(tmp_path: Path) -> None:
    states = [6, 3, 0, 1]  # the tiny navigation map is 3 x 3: bottom-left, up, up, right
    frames, fps = render_frames("navigation:layout=tiny", Segment(np.array(states), np.zeros(4)), size=(60, 60))
    assert fps == 4 and frames[0].shape == (60, 60, 3)
    for s, frame in zip(states, frames, strict=True):
        ys, xs = np.nonzero((frame == (220, 30, 30)).all(-1))
        assert (int(ys.mean() // 20), int(xs.mean() // 20)) == divmod(s, 3)
    path = render_segment("FrozenLake-v1", Segment(np.array([[0], [4], [8]]), np.zeros(3)), out=tmp_path / "g.mp4")
    assert decoded(path) == ("h264", "yuv420p", 192, 192, 3)


def test_atari_clip_is_the_last_frame_of_each_stack_upscaled() -> None:
    rng = np.random.default_rng(0)
    obs = rng.integers(0, 256, size=(3, 4, 84, 84), dtype=np.uint8)
    frames, fps = render_frames("ALE/Pong-v5", Segment(obs, np.zeros(3)))
    assert fps == 15 and frames[0].shape == (336, 336, 3)
    for frame, stack in zip(frames, obs, strict=True):
        assert np.array_equal(frame[::4, ::4, 0], stack[-1]) and np.array_equal(frame[..., 0], frame[..., 2])
    channel_last, _ = render_frames("ALE/Pong-v5", Segment(obs.transpose(0, 2, 3, 1), np.zeros(3)), size=(168, 168))
    assert channel_last[0].shape == (168, 168, 3) and np.array_equal(channel_last[2][::2, ::2, 1], obs[2, -1])


def test_bad_segments_and_unknown_envs_raise_errors_naming_them(tmp_path: Path) -> None:
    with pytest.raises(ShapeError, match=r"segment\.obs: has shape \(2, 4\) for Pendulum-v1"):
        render_segment("Pendulum-v1", Segment(np.zeros((2, 4)), np.zeros((2, 1))), out=tmp_path / "x.mp4")
    with pytest.raises(ShapeError, match="for HalfCheetah-v5"):
        render_frames("HalfCheetah-v5", Segment(np.zeros((2, 3)), np.zeros((2, 6))))
    with pytest.raises(ConfigError, match=r"'CartPole-v1' is not an environment .* Pendulum-v1"):
        render_segment("CartPole-v1", Segment(np.zeros((2, 4)), np.zeros(2)), out=tmp_path / "x.mp4")
    with pytest.raises(ShapeError, match=r"frames: frame 0 has shape \(4, 4\) and dtype uint8"):
        encode_mp4([np.zeros((4, 4), np.uint8)], fps=10)
    with pytest.raises(ConfigError, match="tinyy"):  # a known world with a bad option: the world's own error
        render_segment("navigation:layout=tinyy", Segment(np.zeros(2), np.zeros(2)), out=tmp_path / "x.mp4")
    with pytest.raises(ConfigError, match="'gridworld' is not an environment"):
        render_frames("gridworld", Segment(np.zeros(2), np.zeros(2)))
    with pytest.raises(ValidationError, match="holds state 9, outside the 9 states of navigation"):
        render_frames("navigation:layout=tiny", Segment(np.array([0, 9]), np.zeros(2)))
    with pytest.raises(ConfigError, match="size"):
        render_segment("Pendulum-v1", pendulum([0.0]), out=tmp_path / "x.mp4", size=(65, 64))
    assert not list(tmp_path.iterdir())


def test_renderer_renders_ahead_and_keeps_failures(tmp_path: Path) -> None:
    with ClipRenderer(tmp_path, workers=2, max_pending=3, size=(32, 32)) as clips:
        for k in range(4):
            clips.submit(k, "Pendulum-v1", pendulum([0.3 * k, 0.3 * k + 0.1]))
        clips.submit("bad", "Pendulum-v1", Segment(np.zeros((2, 5)), np.zeros((2, 1))))
        assert clips.wait(timeout=60)
        assert [decoded(clips.path(k) or Path("missing")) for k in range(4)] == [("h264", "yuv420p", 32, 32, 2)] * 4
        assert clips.path("bad") is None and clips.status("bad") == "failed"
        assert (clips.error("bad") or "").startswith("ShapeError: segment.obs: has shape (2, 5) for Pendulum-v1")
        assert clips.error(0) is None and clips.status("never") == "unknown"
        clips.submit("bad", "Pendulum-v1", pendulum([0.0]))  # a failed key is retried
        assert clips.wait(["bad"], timeout=60) and clips.error("bad") is None and clips.status("bad") == "ready"
    # a new renderer over the same directory finds the clips already there
    with ClipRenderer(tmp_path) as again:
        again.submit(0, "Pendulum-v1", pendulum([0.0]))
        assert again.path(0) == tmp_path / "0.mp4"


def test_renderer_queue_is_bounded(tmp_path: Path) -> None:
    release = threading.Event()

    def slow(obs: np.ndarray) -> np.ndarray:
        release.wait(10)
        return np.zeros((16, 16, 3), np.uint8)

    with ClipRenderer(tmp_path, workers=1, max_pending=1) as clips:
        clips.submit("slow", slow, Segment(np.zeros((1, 1)), np.zeros(1)))
        assert clips.status("slow") == "pending" and clips.path("slow") is None
        with pytest.raises(TimeoutError, match="queue stayed full"):
            clips.submit("next", slow, Segment(np.zeros((1, 1)), np.zeros(1)), timeout=0.05)
        release.set()
        assert clips.wait(timeout=10) and clips.path("slow") == tmp_path / "slow.mp4"
        with pytest.raises(ValidationError, match=r"key: is '\.\./up'"):
            clips.submit("../up", slow, Segment(np.zeros((1, 1)), np.zeros(1)))


def test_renderer_threads_draw_mujoco_clips_as_one_thread_does(tmp_path: Path) -> None:
    if mujoco_rendering_missing():
        pytest.skip(mujoco_rendering_missing() or "")
    env = gym.make("HalfCheetah-v5")
    obs, _ = env.reset(seed=0)
    env.close()
    segments = []
    for k in range(2):
        moved = np.repeat(obs[None], 3, axis=0)
        moved[:, 1], moved[:, 8] = 0.2 * k, 3.0 * k  # body angle and x velocity differ per clip
        segments.append(Segment(moved, np.zeros((3, 6))))
    cheetah_or_skip(segments[0], size=(32, 32))  # skips where EGL is missing
    with ClipRenderer(tmp_path, workers=2, size=(32, 32)) as clips:
        for k, segment in enumerate(segments):
            clips.submit(k, "HalfCheetah-v5", segment)
        assert clips.wait(timeout=60)
        for k in range(2):
            assert clips.error(k) is None
            alone_k = render_segment("HalfCheetah-v5", segments[k], out=tmp_path / f"alone{k}.mp4", size=(32, 32))
            with av.open(str(clips.path(k))) as threaded, av.open(str(alone_k)) as single:
                pairs = zip(threaded.decode(video=0), single.decode(video=0), strict=True)
                assert all(np.array_equal(a.to_ndarray(format="rgb24"), b.to_ndarray(format="rgb24")) for a, b in pairs)
