"""Import throughput of a minute of 3-camera 320x240 video (slow: run with `pytest -m slow -s`)."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("rosbags")


def write_big_bag(path, seconds=60.0, h=240, w=320, rates=(("front", 30.0), ("side", 20.0), ("wrist", 15.0))):
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    T = store.types
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    msgs = []
    for view, hz in rates:
        for i, t in enumerate(np.arange(rng.uniform(0, 1 / hz), seconds, 1 / hz)):
            msgs.append((t, f"/camera/{view}/image_raw", np.roll(base, i, axis=1)))
    for t in np.arange(0, seconds, 0.01):
        msgs.append((t, "/joint_states", None))
    msgs.sort(key=lambda m: m[0])

    def header(t):
        return T["std_msgs/msg/Header"](
            stamp=T["builtin_interfaces/msg/Time"](sec=int(t), nanosec=int((t % 1) * 1e9)), frame_id=""
        )

    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conns = {}
        for t, topic, img in msgs:
            if img is None:
                msg = T["sensor_msgs/msg/JointState"](
                    header=header(t), name=["a", "b"], position=np.array([t, -t]), velocity=np.zeros(0),
                    effort=np.zeros(0),
                )  # fmt: skip
            else:
                msg = T["sensor_msgs/msg/Image"](
                    header=header(t), height=h, width=w, encoding="rgb8", is_bigendian=0, step=w * 3,
                    data=img.reshape(-1),
                )  # fmt: skip
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, msg.__msgtype__, typestore=store)
            writer.write(conns[topic], int(t * 1e9) + 1, store.serialize_cdr(msg, msg.__msgtype__))
    return sum(img is not None for _, _, img in msgs)


@pytest.mark.slow
def test_import_throughput(tmp_path):
    import lerobot.datasets.lerobot_dataset  # noqa: F401  (import time is not import throughput)

    from robo_reward.data.bag import bag_to_episodes
    from robo_reward.data.lerobot_io import write_dataset

    n_images = write_big_bag(tmp_path / "big")
    t0 = time.perf_counter()
    eps, stats, names = bag_to_episodes(tmp_path / "big", fps=10, split="none")
    t1 = time.perf_counter()
    write_dataset(eps, tmp_path / "ds", **names)
    t2 = time.perf_counter()
    frames = sum(len(e) for e in eps)
    print(
        f"\n{n_images} image msgs (320x240, 30/20/15 Hz, 60 s) -> {frames} frames x 3 views at 10 fps\n"
        f"read+sync+decode: {t1 - t0:.2f}s = {frames / (t1 - t0):.0f} frames/s "
        f"({n_images / (t1 - t0):.0f} image msgs/s); write_dataset: {t2 - t1:.2f}s; "
        f"total {frames / (t2 - t0):.1f} frames/s; skew mean {stats.skew_mean_ms:.1f} ms, "
        f"max {stats.skew_max_ms:.1f} ms (slop {stats.slop * 1e3:.1f} ms)"
    )
    assert frames >= 590 and stats.skipped_ticks == 0
