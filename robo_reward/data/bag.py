"""rosbag2 ⇄ dataset, with the `rosbags` library (mcap or sqlite3 storage; no ROS install needed).

Import (`bag_to_episodes`, `import_bag`):
- Image topics (`sensor_msgs/Image`: rgb8, bgr8, rgba8, bgra8, mono8; `sensor_msgs/CompressedImage`:
  jpeg/png) become views; `sensor_msgs/JointState` gives `observation.state` (joint positions); a
  command topic (`std_msgs/Float64MultiArray`, or a JointState named like `*command*`) gives `action`.
- Episodes are split (`split="auto"`: marker if the bag has one, else gaps) by a marker topic (`std_msgs/String`: `start[:<instruction>]`, `end[:<outcome>]`,
  or an outcome word `success|partial|failure`; `std_msgs/Bool`: true starts, false ends), by gaps in
  the image streams longer than `gap_s`, or one per bag.
- Frames go through `ApproxTimeSync` (the same sync the ROS node uses). By default bundles are paced by
  the slowest camera and the faster cameras contribute their nearest frame (`allow_reuse`), with
  `slop` (auto: half the longest other camera period + 5 ms) bounding the skew. Bundles are then
  resampled to `fps` (nearest bundle to each tick of a regular clock; ticks with no bundle within
  one period are skipped and counted).
- state[t] = the newest joint positions at or before frame t; action[t] = the newest command before
  frame t+1 (the command in force after observing t). Without a command topic, action[t] = state[t+1].
  Stamps are header stamps (log time for header-less messages) unless `stamps="log"`.

Export (the other direction) is in `bag_export.py`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from robo_reward.cameras.sync import ApproxTimeSync, Frame, SyncPolicy
from robo_reward.data.episode import OUTCOMES, Episode

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
JOINTS = "sensor_msgs/msg/JointState"
ARRAY = "std_msgs/msg/Float64MultiArray"
STRING, BOOL = "std_msgs/msg/String", "std_msgs/msg/Bool"
ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")
_CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}


def _typestore():
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_HUMBLE)


def _stamp(msg: Any, log_ns: int, stamps: str) -> float:
    header = getattr(msg, "header", None)
    if stamps == "header" and header is not None and (header.stamp.sec or header.stamp.nanosec):
        return header.stamp.sec + header.stamp.nanosec * 1e-9
    return log_ns * 1e-9


def decode_image(msg: Any, topic: str) -> np.ndarray:
    """A sensor_msgs Image or CompressedImage → (H, W, 3) uint8 RGB."""
    import cv2

    if hasattr(msg, "format"):  # CompressedImage
        bgr = cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"{topic}: cannot decode a CompressedImage of format {msg.format!r}")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    enc = msg.encoding.lower()
    if enc not in _CHANNELS:
        raise ValueError(
            f"{topic}: unknown image encoding {msg.encoding!r}; supported: {', '.join(ENCODINGS)}"
        )
    c = _CHANNELS[enc]
    rows = np.asarray(msg.data, np.uint8).reshape(msg.height, msg.step)
    img = rows[:, : msg.width * c].reshape(msg.height, msg.width, c)
    convert = {"bgr8": cv2.COLOR_BGR2RGB, "rgba8": cv2.COLOR_RGBA2RGB, "bgra8": cv2.COLOR_BGRA2RGB}
    if enc == "mono8":
        return np.repeat(img, 3, axis=2)
    return cv2.cvtColor(img, convert[enc]) if enc in convert else img.copy()


def view_names(topics: list[str]) -> dict[str, str]:
    """Short unique view names from image topics: /camera/front/image_raw → front."""
    noise = {
        "camera",
        "cameras",
        "cam",
        "image",
        "image_raw",
        "image_rect",
        "image_color",
        "compressed",
        "color",
    }
    tokens = {
        t: [p for p in t.strip("/").split("/") if p and p.lower() not in noise] or [t.strip("/")]
        for t in topics
    }
    names = {t: re.sub(r"\W+", "_", tok[-1]) for t, tok in tokens.items()}
    if len(set(names.values())) < len(names):
        names = {t: re.sub(r"\W+", "_", "_".join(tok)) for t, tok in tokens.items()}
    return {v: t for t, v in names.items()}


@dataclass
class BagImportStats:
    messages: dict[str, int] = field(default_factory=dict)  # per topic
    bundles: int = 0
    frames: int = 0  # dataset frames written
    skipped_ticks: int = 0  # clock ticks with no bundle within one period
    slop: float = 0.0
    skew_mean_ms: float = 0.0
    skew_max_ms: float = 0.0
    sync: dict = field(default_factory=dict)


def _read_bag(path: Path, stamps: str) -> tuple[dict[str, list], dict[str, str]]:
    """Every message of the bag, deserialised: topic → [(stamp, msg)], and topic → msgtype."""
    from rosbags.rosbag2 import Reader

    if not Path(path).exists():
        raise FileNotFoundError(f"no bag at {path}")
    store = _typestore()
    by_topic: dict[str, list] = defaultdict(list)
    with Reader(path) as reader:
        types = {c.topic: c.msgtype for c in reader.connections}
        wanted = [
            c for c in reader.connections if c.msgtype in (IMAGE, COMPRESSED, JOINTS, ARRAY, STRING, BOOL)
        ]
        for conn, log_ns, raw in reader.messages(connections=wanted):
            msg = store.deserialize_cdr(raw, conn.msgtype)
            by_topic[conn.topic].append((_stamp(msg, log_ns, stamps), msg))
    for msgs in by_topic.values():
        msgs.sort(key=lambda m: m[0])
    return by_topic, types


def _segments(
    by_topic, types, image_topics, split, marker_topic, gap_s
) -> list[tuple[float, float, str, str]]:
    """(start, end, instruction, outcome) per episode."""
    stamps = np.sort(np.concatenate([[s for s, _ in by_topic[t]] for t in image_topics]))
    if split == "auto":  # a marker topic if the bag has one, else gaps
        has_marker = marker_topic is not None or any(
            ty in (STRING, BOOL) and by_topic.get(t) for t, ty in types.items()
        )
        split = "marker" if has_marker else "gap"
    if split == "marker":
        if marker_topic is None:
            markers = [t for t, ty in types.items() if ty in (STRING, BOOL)]
            if len(markers) != 1:
                raise ValueError(
                    f"split='marker' needs --marker-topic; String/Bool topics in the bag: {markers}"
                )
            marker_topic = markers[0]
        out, start, task, outcome = [], None, "", "success"
        for s, msg in by_topic.get(marker_topic, []):
            word = ("start" if msg.data else "end") if isinstance(msg.data, bool) else str(msg.data).strip()
            kind, _, arg = word.partition(":")
            if kind == "start":
                start, task, outcome = s, arg, "success"
            elif kind in ("end", "stop") and start is not None:
                out.append((start, s, task, arg if arg in OUTCOMES else outcome))
                start = None
            elif kind in OUTCOMES:
                outcome = kind
        if start is not None:  # a recording that never closed
            out.append((start, stamps[-1], task, outcome))
        if not out:
            raise ValueError(f"marker topic {marker_topic!r} has no start/end markers")
        return out
    if split == "gap":
        cuts = np.nonzero(np.diff(stamps) > gap_s)[0]
        bounds = zip(np.r_[stamps[0], stamps[cuts + 1]], np.r_[stamps[cuts], stamps[-1]], strict=True)
        return [(a, b, "", "success") for a, b in bounds]
    if split == "none":
        return [(stamps[0], stamps[-1], "", "success")]
    raise ValueError(f"split must be 'marker', 'gap' or 'none', got {split!r}")


def _hold(stamps: np.ndarray, values: np.ndarray, at: np.ndarray, strict: bool = False) -> np.ndarray:
    """Sample-and-hold: the newest value at or before (strictly before) each time; the first before it."""
    # 1 µs of tolerance: a bundle stamp is a mean of frame stamps and may sit an ulp before them
    idx = np.searchsorted(stamps, at - 1e-6 if strict else at + 1e-6, side="left" if strict else "right") - 1
    return values[np.clip(idx, 0, len(values) - 1)]


def bag_to_episodes(
    bag: str | Path,
    views: dict[str, str] | None = None,
    joint_topic: str | None = None,
    command_topic: str | None = None,
    marker_topic: str | None = None,
    split: Literal["auto", "marker", "gap", "none"] = "auto",
    gap_s: float = 1.0,
    fps: float | None = None,
    slop: float | None = None,
    allow_reuse: bool = True,
    task: str = "",
    stamps: Literal["header", "log"] = "header",
) -> tuple[list[Episode], BagImportStats, dict]:
    """Read a rosbag2 folder into Episodes. Returns (episodes, stats, {"state_names", "action_names"})."""
    by_topic, types = _read_bag(Path(bag), stamps)
    stats = BagImportStats(messages={t: len(m) for t, m in by_topic.items()})
    if views is None:
        topics = [t for t, ty in types.items() if ty in (IMAGE, COMPRESSED) and by_topic.get(t)]
        if not topics:
            raise ValueError(
                f"{bag} has no sensor_msgs/Image or CompressedImage topics with messages; topics: {types}"
            )
        views = view_names(sorted(topics))
    for v, t in views.items():
        if types.get(t) not in (IMAGE, COMPRESSED) or not by_topic.get(t):
            raise ValueError(f"view {v!r}: topic {t!r} is not an image topic with messages in {bag}")
    joint_topics = [t for t, ty in types.items() if ty == JOINTS and by_topic.get(t)]
    is_cmd = re.compile(r"command|cmd|target|action", re.I)
    if command_topic is None:
        cands = [t for t, ty in types.items() if ty == ARRAY and by_topic.get(t)]
        cands += [t for t in joint_topics if is_cmd.search(t)]
        command_topic = cands[0] if cands else None
    if joint_topic is None:
        states = [t for t in joint_topics if t != command_topic and not is_cmd.search(t)]
        if not states:
            raise ValueError(f"{bag} has no sensor_msgs/JointState topic for the state; topics: {types}")
        joint_topic = states[0]

    def vectors(topic: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
        msgs = by_topic.get(topic)
        if not msgs:
            raise ValueError(f"topic {topic!r} has no messages in {bag}")
        first = msgs[0][1]
        names = list(getattr(first, "name", []))
        rows = []
        for _, m in msgs:
            if hasattr(m, "position"):
                pos = np.asarray(m.position, np.float64)
                if list(m.name) != names and set(m.name) == set(names):
                    pos = pos[[list(m.name).index(n) for n in names]]
                rows.append(pos)
            else:
                rows.append(np.asarray(m.data, np.float64))
        if len({len(r) for r in rows}) != 1:
            raise ValueError(
                f"topic {topic!r}: messages have different lengths {sorted({len(r) for r in rows})}"
            )
        return np.array([s for s, _ in msgs]), np.stack(rows), names

    js_t, js_v, state_names = vectors(joint_topic)
    cmd = vectors(command_topic) if command_topic else None

    rates = {
        v: (len(by_topic[t]) - 1) / max(by_topic[t][-1][0] - by_topic[t][0][0], 1e-9)
        for v, t in views.items()
    }
    reference = min(rates, key=rates.get)  # the slowest camera paces the bundles
    if slop is None:
        others = [1.0 / r for v, r in rates.items() if v != reference] or [0.0]
        slop = 0.5 * max(others) + 0.005
    stats.slop = slop
    episodes, skews = [], []
    for start, end, instruction, outcome in _segments(
        by_topic, types, list(views.values()), split, marker_topic, gap_s
    ):
        sync = ApproxTimeSync(
            list(views),
            slop=slop,
            queue_size=256,
            policy=SyncPolicy(allow_reuse=allow_reuse, reference=reference),
        )
        events = []
        for v, t in views.items():
            events += [(s, v, i) for i, (s, _) in enumerate(by_topic[t]) if start - 1e-6 <= s <= end + 1e-6]
        bundles = []
        for s, v, i in sorted(events):
            bundles += sync.push(Frame(v, None, s, i))  # image decoded only if the frame is kept
        for key, value in sync.counters.as_dict().items():
            if isinstance(value, dict):
                for v, n in value.items():
                    stats.sync.setdefault(key, {}).setdefault(v, 0)
                    stats.sync[key][v] += n
        if len(bundles) < 2:
            continue
        b_stamps = np.array([b.stamp for b in bundles])
        ep_fps = fps or float(max(1, round((len(b_stamps) - 1) / (b_stamps[-1] - b_stamps[0]))))
        ticks = np.arange(b_stamps[0], b_stamps[-1] + 0.5 / ep_fps, 1.0 / ep_fps)
        right = np.clip(np.searchsorted(b_stamps, ticks), 1, len(b_stamps) - 1)
        left = right - 1
        nearest = np.where(ticks - b_stamps[left] <= b_stamps[right] - ticks, left, right)
        keep = np.abs(b_stamps[nearest] - ticks) <= 1.0 / ep_fps
        stats.skipped_ticks += int((~keep).sum())
        chosen = [bundles[i] for i in nearest[keep]]
        at = np.array([b.stamp for b in chosen])
        frames = {
            v: np.stack([decode_image(by_topic[t][b.frames[v].seq][1], t) for b in chosen])
            for v, t in views.items()
        }
        state = _hold(js_t, js_v, at).astype(np.float32)
        if cmd is not None:
            nxt = np.r_[at[1:], np.inf]
            action = _hold(cmd[0], cmd[1], nxt, strict=True).astype(np.float32)
        else:
            action = np.r_[state[1:], state[-1:]]
        skews += [b.skew for b in chosen]
        episodes.append(
            Episode(
                views=frames,
                state=state,
                action=action,
                task=instruction or task or "recorded episode",
                fps=ep_fps,
                outcome=outcome,
                extras={"bag_stamp": at.astype(np.float64)},
            )
        )
        stats.bundles += len(bundles)
        stats.frames += len(chosen)
    if not episodes:
        raise ValueError(f"{bag}: no episode with at least 2 synced bundles (slop={slop:.3f}s)")
    stats.skew_mean_ms = float(np.mean(skews) * 1e3)
    stats.skew_max_ms = float(np.max(skews) * 1e3)
    action_names = cmd[2] if cmd is not None and cmd[2] else None
    return episodes, stats, {"state_names": state_names or None, "action_names": action_names}


def import_bag(
    bag: str | Path, out: str | Path, overwrite: bool = False, **kwargs: Any
) -> tuple[Path, BagImportStats]:
    """`bag_to_episodes` then `write_dataset`; kwargs go to `bag_to_episodes`."""
    from robo_reward.data.lerobot_io import write_dataset

    episodes, stats, names = bag_to_episodes(bag, **kwargs)
    fps = {round(e.fps) for e in episodes}
    if len(fps) > 1:
        raise ValueError(f"episodes came out at different rates {sorted(fps)}; pass fps=")
    root = write_dataset(episodes, out, overwrite=overwrite, **names)
    return root, stats
