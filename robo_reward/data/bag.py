"""rosbag2 ⇄ dataset, with the `rosbags` library (mcap or sqlite3 storage; no ROS install needed).

Import (`bag_to_episodes`, `import_bag`):
- Image topics (`sensor_msgs/Image`: rgb8, bgr8, rgba8, bgra8, mono8; `sensor_msgs/CompressedImage`:
  jpeg/png) become views; `sensor_msgs/JointState` gives `observation.state` (joint positions); a
  command topic (`std_msgs/Float64MultiArray`, or a JointState named like `*command*`) gives `action`.
- Episodes are split (`split="auto"`: marker if the bag has one, else gaps) by a marker topic
  (`std_msgs/String` or `Bool`, in the forms `bag_markers.py` lists: `start`, `start 3`, `start:3`,
  `begin`, `end`, `stop 3`, JSON `{"event": ...}`, or a user regex), by gaps in the image streams
  longer than `gap_s`, or one per bag.
- Frames go through `ApproxTimeSync` (the same sync the ROS node uses). By default bundles are paced by
  the slowest camera and the faster cameras contribute their nearest frame (`allow_reuse`), with
  `slop` (auto: half the longest other camera period + 5 ms) bounding the skew.
- Timing: by default every bundle is one dataset frame at its own time (`fps=None`, policy "native";
  the dataset's nominal fps is the median bundle rate). With `fps`, bundles are resampled to a
  regular clock (policy "resample"): each tick takes the nearest bundle whose nearest tick it is, so
  no bundle is used twice; ticks with none are skipped and counted. The policy, the skipped ticks and
  the longest gap between frames are reported in `BagImportStats`.
- Stamps stay int64 nanoseconds end to end (float seconds would round 1.7e9 s stamps to ~0.2 µs):
  each frame's bundle time is the `bag_stamp_ns` column. state[t] = the newest joint positions at or
  before frame t; action[t] = the newest command before frame t+1 (the command in force after
  observing t). Without a command topic, action[t] = state[t+1]. Stamps are header stamps (log time
  for header-less messages) unless `stamps="log"`.

Export (the other direction) is in `bag_export.py`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from robo_reward.cameras.sync import ApproxTimeSync, Frame, SyncPolicy
from robo_reward.data.bag_markers import MarkerReport, compile_marker_regex, marker_spans
from robo_reward.data.episode import Episode

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


def _stamp(msg: Any, log_ns: int, stamps: str) -> int:
    """The message's time in int64 nanoseconds: its header stamp, or the log time."""
    header = getattr(msg, "header", None)
    if stamps == "header" and header is not None and (header.stamp.sec or header.stamp.nanosec):
        return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)
    return int(log_ns)


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
    timing: str = "native"  # "native": one frame per bundle at its time; "resample": on an fps clock
    fps: float = 0.0  # the dataset's (nominal) rate
    skipped_ticks: int = 0  # resample: clock ticks that got no bundle
    unused_bundles: int = 0  # resample: bundles no tick took
    max_gap_ms: float = 0.0  # the longest time between consecutive frames of an episode
    slop: float = 0.0
    skew_mean_ms: float = 0.0
    skew_max_ms: float = 0.0
    sync: dict = field(default_factory=dict)
    markers: MarkerReport | None = None  # what the marker topic held, when episodes were split by it


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
    by_topic, types, image_topics, split, marker_topic, gap_s, marker_regex, stats
) -> list[tuple[int, int, str, str]]:
    """(start_ns, end_ns, instruction, outcome) per episode."""
    stamps = np.sort(np.concatenate([[s for s, _ in by_topic[t]] for t in image_topics]))
    if split == "auto":  # a marker topic if the bag has one, else gaps
        has_marker = marker_topic is not None or any(
            ty in (STRING, BOOL) and by_topic.get(t) for t, ty in types.items()
        )
        split = "marker" if has_marker else "gap"
    if split == "marker":
        candidates = [t for t, ty in types.items() if ty in (STRING, BOOL)]
        if marker_topic is None:
            if len(candidates) != 1:
                raise ValueError(
                    f"split='marker' needs --marker-topic; String/Bool topics in the bag: {candidates}"
                )
            marker_topic = candidates[0]
        if marker_topic not in candidates:
            raise ValueError(
                f"--marker-topic {marker_topic!r} is not a String/Bool topic of the bag; those are {candidates}"
            )
        messages = [(s, m.data) for s, m in by_topic.get(marker_topic, [])]
        spans, stats.markers = marker_spans(messages, int(stamps[-1]), marker_topic, marker_regex)
        return spans
    if split == "gap":
        cuts = np.nonzero(np.diff(stamps) > gap_s * 1e9)[0]
        bounds = zip(np.r_[stamps[0], stamps[cuts + 1]], np.r_[stamps[cuts], stamps[-1]], strict=True)
        return [(int(a), int(b), "", "success") for a, b in bounds]
    if split == "none":
        return [(int(stamps[0]), int(stamps[-1]), "", "success")]
    raise ValueError(f"split must be 'marker', 'gap' or 'none', got {split!r}")


def _hold(stamps: np.ndarray, values: np.ndarray, at: np.ndarray, strict: bool = False) -> np.ndarray:
    """Sample-and-hold on int64 ns times: the newest value at or before (strictly before) each time;
    the first value before the first stamp."""
    idx = np.searchsorted(stamps, at, side="left" if strict else "right") - 1
    return values[np.clip(idx, 0, len(values) - 1)]


def nominal_fps(stamps_ns: list[np.ndarray]) -> float:
    """The whole-number rate of bundles: the mean interval, leaving out gaps over 1.5 typical intervals
    (dropped frames) — the mean, not the median, since the jitter of a bundle's frames averages out."""
    periods = np.concatenate([np.diff(s) for s in stamps_ns]).astype(np.float64)
    steady = periods[periods <= 1.5 * np.median(periods)]
    return float(max(1, round(1e9 / steady.mean())))


def resample(stamps_ns: np.ndarray, fps: float) -> tuple[np.ndarray, int]:
    """Indices of the bundles kept on a clock at `fps` from the first bundle, and the ticks left empty.

    Each bundle belongs to its nearest tick; each tick keeps the nearest of its bundles. So no bundle
    is used twice and a kept bundle is at most half a period off its tick.
    """
    period = 1e9 / fps
    offset = (stamps_ns - stamps_ns[0]).astype(np.float64)
    tick = np.rint(offset / period).astype(np.int64)
    order = np.lexsort((np.abs(offset - tick * period), tick))  # by tick, nearest bundle first
    first = np.r_[True, tick[order][1:] != tick[order][:-1]]
    keep = np.sort(order[first])
    return keep, int(tick[-1] + 1 - len(keep))


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
    marker_regex: str | None = None,
) -> tuple[list[Episode], BagImportStats, dict]:
    """Read a rosbag2 folder into Episodes. Returns (episodes, stats, {"state_names", "action_names"}).

    `fps=None` keeps every synced bundle at its own time; a number resamples them to that rate."""
    if fps is not None and not fps > 0:
        raise ValueError(f"fps must be positive (or None to keep the bag's own bundle times), got {fps}")
    regex = compile_marker_regex(marker_regex)
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
        v: (len(by_topic[t]) - 1) / max((by_topic[t][-1][0] - by_topic[t][0][0]) * 1e-9, 1e-9)
        for v, t in views.items()
    }
    reference = min(rates, key=rates.get)  # the slowest camera paces the bundles
    if slop is None:
        others = [1.0 / r for v, r in rates.items() if v != reference] or [0.0]
        slop = 0.5 * max(others) + 0.005
    stats.slop = slop
    policy = SyncPolicy(allow_reuse=allow_reuse, reference=reference)
    synced = []  # (bundles, their int64 ns times, instruction, outcome) per episode
    for start, end, instruction, outcome in _segments(
        by_topic, types, list(views.values()), split, marker_topic, gap_s, regex, stats
    ):
        bundles = _sync(by_topic, views, start, end, slop, policy, stats)
        if len(bundles) >= 2:
            ns = np.array([_bundle_ns(b, by_topic, views) for b in bundles], np.int64)
            synced.append((bundles, ns, instruction, outcome))
    if not synced:
        raise ValueError(f"{bag}: no episode with at least 2 synced bundles (slop={slop:.3f}s)")
    stats.timing = "native" if fps is None else "resample"
    stats.fps = float(fps) if fps is not None else nominal_fps([ns for _, ns, _, _ in synced])
    episodes, skews = [], []
    for bundles, ns, instruction, outcome in synced:
        keep = np.arange(len(ns))
        if fps is not None:
            keep, skipped = resample(ns, fps)
            stats.skipped_ticks += skipped
            stats.unused_bundles += len(ns) - len(keep)
        chosen, at = [bundles[i] for i in keep], ns[keep]
        if len(at) > 1:
            stats.max_gap_ms = max(stats.max_gap_ms, float(np.diff(at).max()) * 1e-6)
        frames = {
            v: np.stack([decode_image(by_topic[t][b.frames[v].seq][1], t) for b in chosen])
            for v, t in views.items()
        }
        state = _hold(js_t, js_v, at).astype(np.float32)
        if cmd is not None:
            nxt = np.r_[at[1:], np.iinfo(np.int64).max]
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
                fps=stats.fps,
                outcome=outcome,
                extras={"bag_stamp_ns": at},
            )
        )
        stats.bundles += len(bundles)
        stats.frames += len(chosen)
    stats.skew_mean_ms = float(np.mean(skews) * 1e3)
    stats.skew_max_ms = float(np.max(skews) * 1e3)
    action_names = cmd[2] if cmd is not None and cmd[2] else None
    return episodes, stats, {"state_names": state_names or None, "action_names": action_names}


def _sync(by_topic, views, start: int, end: int, slop: float, policy: SyncPolicy, stats) -> list:
    """The bundles of one episode's frames (images not yet decoded), in time order."""
    sync = ApproxTimeSync(list(views), slop=slop, queue_size=256, policy=policy)
    events = []
    for v, t in views.items():
        events += [(s, v, i) for i, (s, _) in enumerate(by_topic[t]) if start <= s <= end]
    bundles = []
    for s, v, i in sorted(events):
        # seconds from the episode start: small floats keep the sync's arithmetic at sub-ns precision
        bundles += sync.push(Frame(v, None, (s - start) * 1e-9, i))
    for key, value in sync.counters.as_dict().items():
        if isinstance(value, dict):
            for v, n in value.items():
                stats.sync.setdefault(key, {}).setdefault(v, 0)
                stats.sync[key][v] += n
    return bundles


def _bundle_ns(bundle, by_topic, views) -> int:
    """A bundle's time: the integer mean of its frames' nanosecond stamps."""
    stamps = [by_topic[views[v]][f.seq][0] for v, f in bundle.frames.items()]
    return sum(stamps) // len(stamps)


def import_bag(
    bag: str | Path, out: str | Path, overwrite: bool = False, **kwargs: Any
) -> tuple[Path, BagImportStats]:
    """`bag_to_episodes` then `write_dataset`; kwargs go to `bag_to_episodes`."""
    from robo_reward.data.lerobot_io import write_dataset

    fps = kwargs.get("fps")
    if fps is not None and fps != round(fps):
        raise ValueError(f"a LeRobot dataset has a whole-number fps; got fps={fps}")
    episodes, stats, names = bag_to_episodes(bag, **kwargs)
    root = write_dataset(episodes, out, overwrite=overwrite, **names)
    return root, stats
