"""Frame sources: video file, fake devices (dead, slow, fast), sim renderer, dataset replay."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from robo_reward.cameras.sources import (
    DatasetReplaySource,
    MujocoSource,
    OpenCVSource,
    QueuedSource,
    poll,
)
from robo_reward.cameras.sync import ApproxTimeSync
from robo_reward.data.episode import Episode


class FakeCapture:
    """Stands in for cv2.VideoCapture: `period` seconds per frame, or never a frame (`dead`)."""

    def __init__(self, period: float = 0.01, dead: bool = False, color=(0, 0, 255)):
        self.period, self.dead, self.color = period, dead, color
        self.released = threading.Event()

    def isOpened(self):
        return True

    def set(self, *_):
        return True

    def get(self, *_):
        return 0.0

    def read(self):
        if self.dead:  # hangs like an unplugged camera, until released (or half a second)
            self.released.wait(0.5)
            return False, None
        time.sleep(self.period)
        return True, np.full((4, 6, 3), self.color, np.uint8)

    def release(self):
        self.released.set()


def test_video_file_replays_every_frame_with_video_time(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 20.0, (32, 24))
    for i in range(12):
        writer.write(np.full((24, 32, 3), (0, 0, 20 * i), np.uint8))  # BGR: red ramp
    writer.release()
    with OpenCVSource("front", path, queue_size=2) as src:
        frames = []
        while (f := src.read(timeout=2.0)) is not None:
            frames.append(f)
    assert src.ended and len(frames) == 12
    assert [f.seq for f in frames] == list(range(12))
    assert frames[0].image.shape == (24, 32, 3) and frames[0].image.dtype == np.uint8
    assert frames[5].image[..., 0].mean() == pytest.approx(100, abs=6)  # red is channel 0 in RGB
    assert frames[5].image[..., 2].mean() < 6
    np.testing.assert_allclose(np.diff([f.stamp for f in frames]), 0.05, atol=1e-3)


def test_missing_file_and_unopenable_device(tmp_path):
    with pytest.raises(FileNotFoundError, match="'front'"):
        OpenCVSource("front", tmp_path / "none.mp4").start()

    class Closed(FakeCapture):
        def isOpened(self):
            return False

    with pytest.raises(RuntimeError, match="camera 'side' .*could not be opened"):
        OpenCVSource("side", 7, capture_factory=lambda _: Closed()).start()


def test_dead_camera_raises_timeout_naming_it():
    src = OpenCVSource("wrist", 3, first_frame_timeout=0.2, capture_factory=lambda _: FakeCapture(dead=True))
    with src, pytest.raises(TimeoutError, match=r"camera 'wrist' \(device 3\) delivered no frame"):
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.0:
            src.read(timeout=0.05)


def test_slow_camera_never_blocks_the_others():
    fast = OpenCVSource("front", 0, queue_size=2, capture_factory=lambda _: FakeCapture(0.01))
    slow = OpenCVSource("side", 1, queue_size=2, capture_factory=lambda _: FakeCapture(0.25))
    got = {"front": 0, "side": 0}
    with fast, slow:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 0.6:
            frames, _ = poll([fast, slow])
            for f in frames:
                got[f.view] += 1
            time.sleep(0.005)
    assert got["front"] >= 20, got
    assert 1 <= got["side"] <= 3, got
    assert not fast.ended and fast.dropped >= 0


def test_queue_drops_oldest():
    src = QueuedSource("a", queue_size=2)
    src.start()
    for i in range(5):
        src.put(np.zeros((2, 2, 3), np.uint8), float(i))
    assert src.dropped == 3
    assert [src.read(0).stamp, src.read(0).stamp, src.read(0)] == [3.0, 4.0, None]
    with pytest.raises(ValueError, match="uint8"):
        src.put(np.zeros((2, 2, 3), np.float32), 5.0)


def test_dataset_replay_feeds_sync():
    T = 6
    rng = np.random.default_rng(0)
    ep = Episode(
        views={v: rng.integers(0, 255, (T, 8, 8, 3), dtype=np.uint8) for v in ("front", "wrist")},
        state=np.zeros((T, 2), np.float32),
        action=np.zeros((T, 2), np.float32),
        task="t",
        fps=10.0,
    )
    sources = [DatasetReplaySource(ep, v) for v in ep.views]
    sync = ApproxTimeSync(list(ep.views), slop=0.001)
    bundles = []
    for _ in range(T + 1):
        bundles += poll(sources, sync)[1]
    assert len(bundles) == T and all(s.ended for s in sources)
    np.testing.assert_array_equal(bundles[3].images["wrist"], ep.views["wrist"][3])
    assert bundles[3].stamp == pytest.approx(0.3)
    with pytest.raises(ValueError, match="no view 'side'"):
        DatasetReplaySource(ep, "side")


def test_mujoco_source_renders_named_camera():
    mujoco = pytest.importorskip("mujoco")
    xml = """<mujoco><worldbody><light pos="0 0 3"/><geom type="box" size=".2 .2 .2" rgba="1 0 0 1"/>
      <camera name="top" pos="0 0 2" xyaxes="1 0 0 0 1 0"/></worldbody></mujoco>"""
    model = mujoco.MjModel.from_xml_string(xml)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)  # camera poses are computed by the simulation, not the renderer
    try:
        src = MujocoSource.from_model(model, data, "top", height=48, width=64, view="front")
    except Exception as e:  # no GL context on this machine
        pytest.skip(f"no offscreen rendering: {e}")
    with src:
        f0 = src.read()
        mujoco.mj_step(model, data)
        f1 = src.read()
    assert f0.image.shape == (48, 64, 3) and f0.view == "front"
    assert f1.stamp > f0.stamp and f1.seq == 1
    center = f0.image[20:28, 28:36].reshape(-1, 3).mean(0)
    assert center[0] > 2 * center[1]  # the red box fills the middle
    with pytest.raises(ValueError, match="no camera 'nope'"):
        MujocoSource.from_model(model, data, "nope")
