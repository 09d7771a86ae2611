"""`robo-reward data ...`: dataset info and checks, contact sheets, rosbag2 import and export."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import numpy as np
from tyro.conf import Positional

from robo_reward.utils.cli_helpers import console, emit_json, print_table


def info(dataset: Path, json: Path | None = None) -> dict:
    """Episodes, frames, fps, views, columns, outcomes and tasks of a LeRobot dataset (no video decoding)."""
    from robo_reward.data.lerobot_io import dataset_info

    d = dataset_info(dataset)
    rows = [{"field": k, "value": ", ".join(map(str, v)) if isinstance(v, list) else v} for k, v in d.items()]
    for r in rows:
        if isinstance(r["value"], dict):
            r["value"] = ", ".join(f"{k}: {n}" for k, n in r["value"].items())
    print_table(f"dataset {dataset}", rows)
    emit_json(json, d)
    return d


def check(dataset: Positional[Path], videos: bool = True, json: Path | None = None) -> dict:
    """Validate a dataset: every file present and readable, column shapes and episode lengths as its
    metadata declares, every view's video decodable at its size and covering each episode, no NaN or
    infinity in float columns. Prints each problem on its own line and exits with status 2 if there
    is any. `--no-videos` skips decoding (fast)."""
    from robo_reward.data.check import check_dataset
    from robo_reward.utils.errors import DatasetError

    report = check_dataset(dataset, decode_videos=videos)
    emit_json(json, report)
    problems = report["problems"]
    for line in problems:
        print(f"problem: {line}")
    if problems:
        more = f" (and {len(problems) - 1} more above)" if len(problems) > 1 else ""
        raise DatasetError(f"{dataset}: {problems[0]}{more}")
    print(
        f"{dataset}: OK — {report['episodes']} episodes, {report['frames']} frames, {report['files']} files, "
        f"views {', '.join(v.split('.')[-1] for v in report['views'])}"
    )
    return report


def _curves(ep) -> dict[str, np.ndarray]:
    curves = {}
    if ep.progress is not None:
        curves["progress"] = ep.progress
    for name, col in ep.extras.items():
        col = np.asarray(col)
        if ("progress" in name or "reward" in name) and col.dtype.kind == "f" and col.size == len(ep):
            curves[name] = col.reshape(-1)
    return curves


def show(
    dataset: Path,
    episode: int = 0,
    out: Path | None = None,
    frames: int = 8,
    views: list[str] | None = None,
) -> Path:
    """A views × time contact sheet PNG of one episode, with its progress/reward columns plotted under it."""
    from robo_reward.data.lerobot_io import load_episodes
    from robo_reward.utils.plots import contact_sheet

    (ep,) = load_episodes(dataset, episodes=[episode], views=views)
    out = out or Path(dataset) / "sheets" / f"episode_{episode:03d}.png"
    path = contact_sheet(
        ep.views,
        out,
        curves=_curves(ep) or None,
        n_frames=frames,
        title=f"episode {episode} ({ep.outcome}): {ep.task}",
        fps=ep.fps,
    )
    console.print(f"wrote {path}")
    return path


def import_bag(
    bag: Path,
    out: Path,
    fps: float | None = None,
    split: Literal["auto", "marker", "gap", "none"] = "auto",
    marker_topic: str | None = None,
    marker_regex: str | None = None,
    gap_s: float = 1.0,
    joint_topic: str | None = None,
    command_topic: str | None = None,
    view: list[str] | None = None,
    slop: float | None = None,
    strict_sync: bool = False,
    task: str = "",
    stamps: Literal["header", "log"] = "header",
    overwrite: bool = False,
    json: Path | None = None,
) -> dict:
    """rosbag2 (mcap or sqlite3) → LeRobot dataset. `--view front=/camera/front/image_raw` picks views
    (default: every image topic); `--strict-sync` forbids reusing a slow camera's frame.

    Episode markers (a std_msgs/String topic; Bool: true starts, false ends), any case:
      start | begin                    start 3 | start:3 | start episode 3 (the number)
      start:pick the cube | start 3: pick the cube   (the instruction)
      end | stop | finish | done       stop 3 | end:3 | end:failure | stop 3 failure
      success | partial | failure      (the outcome of the current or the last episode)
      {"event": "start", "episode": 3, "task": "..."}  {"event": "end", "outcome": "failure"}

    Frames keep their own times by default (one per synced bundle, times in the bag_stamp_ns column);
    --fps resamples to a regular clock without repeating a bundle.

    Args:
        fps: Resample to this rate: each bundle used at most once, empty ticks skipped and counted.
        split: How episodes are cut (auto: by a String/Bool marker topic if the bag has one, else gaps).
        marker_topic: The String/Bool topic with the episode markers (default: the bag's only one).
        marker_regex: Tried before the forms above: a named group (?P<event>...) holds start/end/an outcome; optional groups episode, task, outcome. E.g. 'EP(?P<episode>\\d+)_(?P<event>BEGIN|END)'.
        gap_s: With split=gap, a pause in the images longer than this starts a new episode.
        stamps: Message times from header stamps (log time for header-less messages) or log times.
    """
    from robo_reward.data.bag import import_bag as run

    views = None
    if view:
        bad = [v for v in view if "=" not in v]
        if bad:
            raise SystemExit(f"--view takes NAME=TOPIC, got {bad}")
        views = dict(v.split("=", 1) for v in view)
    import lerobot.datasets.lerobot_dataset  # noqa: F401  (heavy imports stay out of the timing)

    t0 = time.perf_counter()
    try:
        root, stats = run(
            bag, out, overwrite=overwrite, views=views, joint_topic=joint_topic, command_topic=command_topic,
            marker_topic=marker_topic, marker_regex=marker_regex, split=split, gap_s=gap_s, fps=fps, slop=slop,
            allow_reuse=not strict_sync, task=task, stamps=stamps,
        )  # fmt: skip
    except ValueError as e:  # markers, topics, encodings, fps: bad input, said in one line
        raise SystemExit(str(e)) from None
    dt = time.perf_counter() - t0
    metrics = {
        "dataset": str(root),
        "frames": stats.frames,
        "bundles": stats.bundles,
        "timing": stats.timing,
        "fps": stats.fps,
        "skipped_ticks": stats.skipped_ticks,
        "unused_bundles": stats.unused_bundles,
        "max_gap_ms": stats.max_gap_ms,
        "slop_ms": stats.slop * 1e3,
        "skew_mean_ms": stats.skew_mean_ms,
        "skew_max_ms": stats.skew_max_ms,
        "seconds": dt,
        "frames_per_s": stats.frames / dt if dt > 0 else 0.0,
    }
    print_table("import-bag", [metrics])
    markers = None if stats.markers is None else vars(stats.markers)
    for note in (markers or {}).get("notes", []):
        console.print(f"note: {note}", style="yellow", markup=False)
    emit_json(json, {**metrics, "messages": stats.messages, "sync": stats.sync, "markers": markers})
    return metrics


def export_bag(
    dataset: Path,
    out: Path,
    episodes: list[int] | None = None,
    storage: Literal["mcap", "sqlite3"] = "mcap",
    compressed: bool = False,
    json: Path | None = None,
) -> dict:
    """Dataset episodes → one rosbag2 for replay (per-view Image or jpeg CompressedImage, JointState,
    Float64MultiArray command, start/end markers on /episode_marker)."""
    from robo_reward.data.bag_export import export_bag as run

    counts = run(dataset, out, episodes=episodes, storage=storage, compressed=compressed)
    print_table(f"wrote {out}", [{"topic": k, "messages": v} for k, v in counts.items()])
    emit_json(json, counts)
    return counts


COMMANDS = {"info": info, "check": check, "show": show, "import-bag": import_bag, "export-bag": export_bag}
