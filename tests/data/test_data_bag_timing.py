"""Bag timing: native bundle times by default (no repeated bundle, real gaps kept and reported),
resampling only on request (each bundle at most once), and stamps as exact int64 nanoseconds."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rosbags")
sys.path.insert(0, str(Path(__file__).parent))

from test_data_bag import RATES, write_bag

from robo_reward.data.bag import bag_to_episodes, import_bag, resample

T0 = 1_700_000_000_123_456_789  # an odd nanosecond count: float seconds cannot hold it
MS = 1_000_000


def write_camera_bag(path, image_ns: list[int]) -> Path:
    """One 8x8 mono8 camera with header stamps `image_ns`, joint states every 10 ms, no markers."""
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    T = store.types

    def header(ns):
        return T["std_msgs/msg/Header"](
            stamp=T["builtin_interfaces/msg/Time"](sec=ns // 10**9, nanosec=ns % 10**9), frame_id=""
        )

    msgs = []
    for i, ns in enumerate(image_ns):
        img = np.full(64, i, np.uint8)
        msgs.append((ns, "/front/image_raw", T["sensor_msgs/msg/Image"](
            header=header(ns), height=8, width=8, encoding="mono8", is_bigendian=0, step=8, data=img,
        )))  # fmt: skip
    for ns in range(image_ns[0] - 20 * MS, image_ns[-1] + 20 * MS, 10 * MS):
        msgs.append((ns, "/joint_states", T["sensor_msgs/msg/JointState"](
            header=header(ns), name=["a"], position=np.array([ns * 1e-9 - T0 * 1e-9]),
            velocity=np.zeros(0), effort=np.zeros(0),
        )))  # fmt: skip
    msgs.sort(key=lambda m: m[0])
    with Writer(path, version=9) as writer:
        conns = {}
        for ns, topic, msg in msgs:
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, msg.__msgtype__, typestore=store)
            writer.write(conns[topic], ns, store.serialize_cdr(msg, msg.__msgtype__))
    return path


# a 10 Hz camera with jitter that drops the frames of ticks 3 and 4 (a 300 ms hole) and of tick 8
JITTER_MS = [0, 4, -3, None, None, 2, -4, 1, None, 3, 0]
FRAMES_NS = [T0 + k * 100 * MS + j * MS + 7 for k, j in enumerate(JITTER_MS) if j is not None]


def test_native_times_by_default_exact_int64_ns(tmp_path):
    bag = write_camera_bag(tmp_path / "in", FRAMES_NS)
    (ep,), stats, _ = bag_to_episodes(bag, split="none")
    np.testing.assert_array_equal(ep.extras["bag_stamp_ns"], FRAMES_NS)  # every frame, once, to the ns
    assert ep.extras["bag_stamp_ns"].dtype == np.int64
    assert [int(f[0, 0, 0]) for f in ep.views["front"]] == list(range(len(FRAMES_NS)))
    assert stats.timing == "native" and stats.fps == 10 and stats.skipped_ticks == 0
    assert stats.max_gap_ms == pytest.approx(305.0)  # the real hole is kept and reported, not filled
    # the state is the newest joint sample at or before each frame (joints every 10 ms from T0 - 20 ms)
    newest = [((ns - T0 + 20 * MS) // (10 * MS)) * 10 * MS - 20 * MS for ns in FRAMES_NS]
    np.testing.assert_allclose(ep.state[:, 0], np.array(newest) * 1e-9, atol=1e-6)

    root, _ = import_bag(bag, tmp_path / "ds", split="none")  # the column survives the dataset exactly
    from robo_reward.data.lerobot_io import load_episodes

    (back,) = load_episodes(root)
    np.testing.assert_array_equal(np.asarray(back.extras["bag_stamp_ns"]).reshape(-1), FRAMES_NS)


def test_jittery_camera_with_drops_keeps_every_frame_once(tmp_path):
    rng = np.random.default_rng(0)  # 15 Hz, ±8 ms of jitter, frames 20-22 and 40 dropped
    stamps = [
        T0 + k * 10**9 // 15 + int(rng.uniform(-8, 8) * MS) for k in range(60) if k not in (20, 21, 22, 40)
    ]
    (ep,), stats, _ = bag_to_episodes(write_camera_bag(tmp_path / "in", stamps), split="none")
    np.testing.assert_array_equal(ep.extras["bag_stamp_ns"], stamps)
    assert ep.fps == 15 and stats.max_gap_ms > 250


def test_resample_on_request_never_repeats(tmp_path):
    bag = write_camera_bag(tmp_path / "in", FRAMES_NS)
    (ep,), stats, _ = bag_to_episodes(bag, split="none", fps=10)
    np.testing.assert_array_equal(ep.extras["bag_stamp_ns"], FRAMES_NS)  # one frame per 10 Hz tick
    assert stats.timing == "resample" and stats.skipped_ticks == 3 and stats.unused_bundles == 0

    # frames at 0, 104, 197, 502, 596, 701, 903, 1000 ms; ticks of 5 Hz at 0, 200, ..., 1000 ms take
    # the nearest frame of those nearest to them: 0, 197, (none at 400), 596, 701, 1000
    (ep,), stats, _ = bag_to_episodes(bag, split="none", fps=5)
    kept = [FRAMES_NS[i] for i in (0, 2, 4, 5, 7)]
    np.testing.assert_array_equal(ep.extras["bag_stamp_ns"], kept)
    assert stats.skipped_ticks == 1 and stats.unused_bundles == 3 and len(set(ep.extras["bag_stamp_ns"])) == 5
    with pytest.raises(ValueError, match="fps must be positive"):
        bag_to_episodes(bag, fps=0)


def test_resample_by_hand():
    stamps = np.array([0, 40, 60, 95, 260, 300]) * MS  # ticks of 100 ms: 0, 1, 1, 1, 3, 3
    keep, skipped = resample(stamps, 10)
    assert keep.tolist() == [0, 3, 5] and skipped == 1  # tick 1 takes 95 (5 ms off), tick 2 is empty


def test_three_cameras_native_is_paced_by_the_slowest(tmp_path):
    eps, stats, _ = bag_to_episodes(write_bag(tmp_path / "in"))
    assert stats.fps == min(RATES.values()) and stats.timing == "native"
    period = 1e9 / min(RATES.values())
    for ep in eps:
        stamps = ep.extras["bag_stamp_ns"]
        assert np.all(np.diff(stamps) > 0.5 * period) and np.all(np.diff(stamps) < 1.5 * period)
