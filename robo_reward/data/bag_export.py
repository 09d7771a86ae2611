"""dataset → rosbag2 (`episodes_to_bag`, `export_bag`), for replay into the ROS 2 nodes.

Each frame at `t / fps` (counted in integer nanoseconds) becomes one message per view (raw rgb8 `Image`, or jpeg `CompressedImage`), one
`JointState`, one `Float64MultiArray` command, with `start:<task>` / `end:<outcome>` markers around each
episode — the layout `bag.py` imports.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from robo_reward.data.bag import ARRAY, COMPRESSED, IMAGE, JOINTS, STRING, _typestore
from robo_reward.data.episode import Episode


def episodes_to_bag(
    episodes: Iterable[Episode],
    out: str | Path,
    storage: Literal["mcap", "sqlite3"] = "mcap",
    compressed: bool = False,
    state_names: list[str] | None = None,
    start_time: float = 1_700_000_000.0,
    gap_s: float = 2.0,
) -> dict[str, int]:
    """Write episodes as a rosbag2 for replay; returns the message count per topic."""
    import cv2
    from rosbags.rosbag2 import StoragePlugin, Writer

    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists; rosbag2 writers never overwrite")
    store = _typestore()
    T = store.types
    plugin = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}[storage]
    counts: dict[str, int] = defaultdict(int)
    with Writer(out, version=9, storage_plugin=plugin) as writer:
        conns: dict[str, Any] = {}

        def write(topic: str, msg: Any, t_ns: int) -> None:
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, msg.__msgtype__, typestore=store)
            writer.write(conns[topic], t_ns, store.serialize_cdr(msg, msg.__msgtype__))
            counts[topic] += 1

        def header(t_ns: int, frame_id: str = "") -> Any:
            sec, nanosec = divmod(t_ns, 1_000_000_000)
            return T["std_msgs/msg/Header"](
                stamp=T["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec), frame_id=frame_id
            )

        # integer nanoseconds: float seconds near 1.7e9 s are only good to ~0.2 µs, and a frame
        # rounded to before its start marker would fall out of its episode on import
        t0 = int(round(start_time * 1e9))
        for ep in episodes:
            names = state_names or [f"joint_{i}" for i in range(ep.state.shape[1])]
            write("/episode_marker", T[STRING](data=f"start:{ep.task}"), t0)
            for i in range(len(ep)):
                t = t0 + round(i * 1e9 / ep.fps)
                for view, frames in ep.views.items():
                    img = np.ascontiguousarray(frames[i])
                    if compressed:
                        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
                        msg = T[COMPRESSED](header=header(t, view), format="jpeg", data=buf.reshape(-1))
                        write(f"/camera/{view}/image_raw/compressed", msg, t)
                    else:
                        h, w = img.shape[:2]
                        msg = T[IMAGE](
                            header=header(t, view), height=h, width=w, encoding="rgb8", is_bigendian=0,
                            step=w * 3, data=img.reshape(-1),
                        )  # fmt: skip
                        write(f"/camera/{view}/image_raw", msg, t)
                js = T[JOINTS](
                    header=header(t), name=list(names), position=ep.state[i].astype(np.float64),
                    velocity=np.zeros(0), effort=np.zeros(0),
                )  # fmt: skip
                write("/joint_states", js, t)
                layout = T["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0)
                write("/command", T[ARRAY](layout=layout, data=ep.action[i].astype(np.float64)), t + 100_000)
            t_end = t0 + round((len(ep) - 1) * 1e9 / ep.fps) + 1_000_000
            write("/episode_marker", T[STRING](data=f"end:{ep.outcome}"), t_end)
            t0 = t_end + round(gap_s * 1e9)
    return dict(counts)


def export_bag(
    dataset: str | Path, out: str | Path, episodes: list[int] | None = None, **kwargs: Any
) -> dict:
    """Dataset episodes (all, or the given indices) → one rosbag2; returns message counts per topic."""
    from robo_reward.data.lerobot_io import dataset_info, load_episodes

    eps = load_episodes(dataset, episodes=episodes)
    info_names = None
    try:
        import json

        feats = json.loads((Path(dataset) / "meta" / "info.json").read_text())["features"]
        info_names = feats.get("observation.state", {}).get("names")
    except (OSError, KeyError, ValueError):
        pass
    dataset_info(dataset)  # validates the folder
    if isinstance(info_names, list) and all(isinstance(n, str) for n in info_names):
        kwargs.setdefault("state_names", info_names)
    return episodes_to_bag(eps, out, **kwargs)
