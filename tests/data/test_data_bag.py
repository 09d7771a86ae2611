"""rosbag2 ⇄ dataset: a bag written with rosbags (3 cameras at different rates, joint states, commands,
2 episodes) imports into a LeRobot dataset and exports back with the same frames per topic."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

pytest.importorskip("rosbags")

from robo_reward.data.bag import (
    COMPRESSED,
    IMAGE,
    JOINTS,
    bag_to_episodes,
    import_bag,
    view_names,
)
from robo_reward.data.bag_export import episodes_to_bag, export_bag

H, W = 24, 32
RATES = {"front": 30.0, "side": 20.0, "wrist": 15.0}
EPISODES = [(100.0, 102.0, "pick the cube", "success"), (103.5, 105.5, "pick the cube", "failure")]


def q_of(t: float) -> np.ndarray:
    return np.array([np.sin(t), np.cos(t), 0.1 * t])


def write_bag(path, storage="mcap", encoding="rgb8", with_images=True, seed=0, markers=None):
    """The test bag; `markers` replaces the (start, end) marker texts of each episode."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    T = store.types
    rng = np.random.default_rng(seed)
    plugin = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}[storage]
    msgs = []  # (log_time, topic, msg)

    def header(t):
        sec = int(t)
        return T["std_msgs/msg/Header"](
            stamp=T["builtin_interfaces/msg/Time"](sec=sec, nanosec=int((t - sec) * 1e9)), frame_id=""
        )

    for n, (start, end, task, outcome) in enumerate(EPISODES):
        begin, finish = markers[n] if markers else (f"start:{task}", f"end:{outcome}")
        msgs.append((start - 0.05, "/episode_marker", T["std_msgs/msg/String"](data=begin)))
        msgs.append((end + 0.05, "/episode_marker", T["std_msgs/msg/String"](data=finish)))
        if with_images:
            for k, (view, hz) in enumerate(RATES.items()):
                phase = rng.uniform(0, 1 / hz)
                for t in np.arange(start + phase, end, 1 / hz):
                    t = float(t + rng.uniform(-0.002, 0.002))
                    img = np.full((H, W, 3), int(t * 10) % 250, np.uint8)
                    img[..., k] = 255  # each view has its own colour
                    if view == "wrist":  # a compressed camera
                        _, buf = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
                        msg = T[COMPRESSED](header=header(t), format="png", data=buf.reshape(-1))
                        msgs.append((t + 0.01, f"/camera/{view}/image_raw/compressed", msg))
                    else:
                        enc = encoding if view == "front" else "bgr8"
                        data = img if enc in ("rgb8", "16UC1") else img[..., ::-1]
                        msg = T[IMAGE](
                            header=header(t), height=H, width=W, encoding=enc, is_bigendian=0, step=W * 3,
                            data=np.ascontiguousarray(data).reshape(-1),
                        )  # fmt: skip
                        msgs.append((t + 0.01, f"/camera/{view}/image_raw", msg))
        for t in np.arange(start - 0.1, end + 0.1, 0.01):  # joint states at 100 Hz
            js = T[JOINTS](
                header=header(t),
                name=["a", "b", "c"],
                position=q_of(t),
                velocity=np.zeros(0),
                effort=np.zeros(0),
            )
            msgs.append((t, "/joint_states", js))
        for t in np.arange(start, end, 0.02):  # commands at 50 Hz, no header: log time
            layout = T["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0)
            msgs.append(
                (
                    t,
                    "/arm/command",
                    T["std_msgs/msg/Float64MultiArray"](layout=layout, data=np.array([t, -t])),
                )
            )
    msgs.sort(key=lambda m: m[0])
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        conns = {}
        for t, topic, msg in msgs:
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, msg.__msgtype__, typestore=store)
            writer.write(conns[topic], int(t * 1e9), store.serialize_cdr(msg, msg.__msgtype__))
    return path


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_bag_to_episodes(tmp_path, storage):
    bag = write_bag(tmp_path / "in", storage)
    eps, stats, names = bag_to_episodes(bag, fps=10)
    assert len(eps) == 2 and [e.outcome for e in eps] == ["success", "failure"]
    assert all(e.task == "pick the cube" and e.fps == 10 for e in eps)
    assert all(19 <= len(e) <= 21 for e in eps), [len(e) for e in eps]
    assert set(eps[0].views) == {"front", "side", "wrist"} and names["state_names"] == ["a", "b", "c"]
    assert stats.skew_max_ms <= stats.slop * 1e3 + 1e-6
    for e in eps:
        stamps = e.extras["bag_stamp_ns"] * 1e-9
        np.testing.assert_allclose(np.diff(stamps), 0.1, atol=0.04)  # resampled to 10 Hz
        np.testing.assert_allclose(
            e.state, np.stack([q_of(t) for t in stamps]), atol=0.012
        )  # held, ≤ 10 ms old
        nxt = np.r_[stamps[1:], np.inf]
        assert np.all(e.action[:, 0] < nxt) and np.all(e.action[:-1, 0] >= stamps[:-1] - 0.1)
        for k, view in enumerate(("front", "side", "wrist")):  # colours survive (bgr8, png decode)
            assert e.views[view][..., k].min() == 255


def test_import_loads_in_lerobot_and_exports_back(tmp_path):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    bag = write_bag(tmp_path / "in")
    t0 = time.perf_counter()
    root, stats = import_bag(bag, tmp_path / "ds", fps=10)
    dt = time.perf_counter() - t0
    print(f"\nimport: {stats.frames} frames x 3 views in {dt:.2f}s = {stats.frames / dt:.1f} frames/s")
    ds = LeRobotDataset("robo_reward/ds", root=root, video_backend="pyav")
    assert ds.num_episodes == 2 and ds.num_frames == stats.frames
    item = ds[0]
    assert tuple(item["observation.images.front"].shape) == (3, H, W)

    counts = export_bag(root, tmp_path / "out.mcap")
    for view in ("front", "side", "wrist"):
        assert counts[f"/camera/{view}/image_raw"] == stats.frames
    assert counts["/joint_states"] == counts["/command"] == stats.frames
    assert counts["/episode_marker"] == 4

    again, _, _ = bag_to_episodes(tmp_path / "out.mcap", fps=10)  # the exported bag imports the same
    assert [len(e) for e in again] == [
        int(n) for n in np.bincount(np.asarray(ds.hf_dataset["episode_index"]))
    ]


def test_export_compressed_sqlite(tmp_path):
    eps, _, names = bag_to_episodes(write_bag(tmp_path / "in"), fps=5)
    counts = episodes_to_bag(
        eps, tmp_path / "out", storage="sqlite3", compressed=True, **{"state_names": names["state_names"]}
    )
    assert counts["/camera/front/image_raw/compressed"] == sum(len(e) for e in eps)
    back, _, _ = bag_to_episodes(tmp_path / "out", fps=5)
    assert [len(e) for e in back] == [len(e) for e in eps]
    np.testing.assert_allclose(back[0].state, eps[0].state, atol=1e-6)
    np.testing.assert_allclose(back[0].action, eps[0].action, atol=1e-6)


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="no sensor_msgs/Image or CompressedImage"):
        bag_to_episodes(write_bag(tmp_path / "noimg", with_images=False))
    with pytest.raises(ValueError, match="unknown image encoding '16UC1'"):
        bag_to_episodes(write_bag(tmp_path / "enc", encoding="16UC1"))
    with pytest.raises(FileNotFoundError):
        bag_to_episodes(tmp_path / "missing")


def test_view_names():
    assert view_names(["/camera/front/image_raw", "/cam/wrist/image_raw/compressed"]) == {
        "front": "/camera/front/image_raw",
        "wrist": "/cam/wrist/image_raw/compressed",
    }
    assert set(view_names(["/left/color/image", "/right/color/image"])) == {"left", "right"}
    assert set(view_names(["/a/rgb", "/b/rgb"])) == {"a_rgb", "b_rgb"}
