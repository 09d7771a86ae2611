"""`robo-reward data check DIR`: everything that can be wrong with a dataset folder, one line each.

Checked, in order (a missing metadata file stops the rest; everything else is collected):
- files: meta/info.json, meta/tasks.parquet, meta/episodes/*.parquet, and for every episode its
  frames file and one video per view — present, and parquet files readable;
- shapes: each numeric column's per-frame shape is the one info.json declares; every episode has the
  number of frames its metadata says, numbered 0..T-1;
- views: every view's video decodes, at the declared image size, and holds each episode's frames;
- values: no NaN or infinity in any float column (state, action, progress, extras).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from robo_reward.data.local_dataset import (
    EPISODES_DIR,
    TASKS,
    episode_files,
    episode_table,
    require_info,
    require_parquet,
    video_keys,
)
from robo_reward.utils.errors import DatasetError, one_line

BOOKKEEPING = ("timestamp", "frame_index", "episode_index", "index", "task_index")


def check_dataset(root: str | Path, decode_videos: bool = True) -> dict[str, Any]:
    """{"root", "episodes", "frames", "views", "files", "problems": [one line each], "nonfinite": {column: n}}."""
    root = Path(root)
    report: dict[str, Any] = {"root": str(root), "problems": [], "nonfinite": {}}
    problems: list[str] = report["problems"]
    try:
        info = require_info(root)
    except DatasetError as e:
        problems.append(str(e))
        return report
    metadata_files = [root / TASKS, *sorted((root / EPISODES_DIR).rglob("*.parquet"))]
    for path in metadata_files:
        _collect(problems, require_parquet, path)
    if problems:
        return report
    try:
        episodes = episode_table(root, info)
    except DatasetError as e:
        problems.append(str(e))
        return report
    files = episode_files(root, info, episodes)
    report |= {
        "episodes": len(episodes),
        "frames": sum(r["length"] for r in episodes),
        "files": 1 + len(metadata_files) + len(files),  # info.json, tasks, episode tables, frames, videos
    }
    report["views"] = [k.split(".")[-1] for k in video_keys(info)]
    unreadable = set()
    for path, what in files:
        if not path.is_file():
            problems.append(f"{path.relative_to(root).as_posix()} is missing ({what})")
            unreadable.add(path)
        elif path.suffix == ".parquet" and _collect(problems, require_parquet, path):
            unreadable.add(path)
    _check_frames(root, info, episodes, unreadable, report)
    if decode_videos:
        _check_videos(root, info, episodes, unreadable, problems)
    return report


def _collect(problems: list[str], check, *args) -> bool:
    """Run `check(*args)`; a DatasetError becomes a problem line. Returns whether it failed."""
    try:
        check(*args)
    except DatasetError as e:
        problems.append(str(e))
        return True
    return False


def _check_frames(root: Path, info: dict, episodes: list[dict], skip: set[Path], report: dict) -> None:
    """Column shapes, episode lengths and frame numbering, non-finite values — from the parquet files."""
    import pyarrow.parquet as pq

    problems = report["problems"]
    features = {k: f for k, f in info["features"].items() if f["dtype"] not in ("video", "image", "string")}
    by_file: dict[Path, list[dict]] = {}
    for row in episodes:
        data = info["data_path"].format(
            chunk_index=row["data/chunk_index"], file_index=row["data/file_index"]
        )
        by_file.setdefault(root / data, []).append(row)
    for path, rows_of_file in by_file.items():
        if path in skip:
            continue
        table = pq.read_table(path)
        ep_index = np.asarray(table.column("episode_index").to_numpy())
        frame_index = np.asarray(table.column("frame_index").to_numpy())
        for row in rows_of_file:
            e, expected = row["episode_index"], int(row["length"])
            frames = frame_index[ep_index == e]
            if len(frames) != expected:
                problems.append(
                    f"{path.name}: episode {e} has {len(frames)} frames, its metadata says {expected}"
                )
            elif not np.array_equal(np.sort(frames), np.arange(expected)):
                problems.append(f"{path.name}: episode {e}'s frames are not numbered 0..{expected - 1}")
        for name, feature in features.items():
            if name in BOOKKEEPING:
                continue
            if name not in table.column_names:
                problems.append(f"{path.name}: column {name!r} declared in info.json is missing")
                continue
            values = table.column(name).to_numpy(zero_copy_only=False)
            array = np.stack(values) if values.dtype == object else np.asarray(values)
            shape = tuple(array.shape[1:]) or (1,)
            if shape != tuple(feature["shape"]):
                problems.append(
                    f"{path.name}: column {name!r} has per-frame shape {shape}, info.json says {tuple(feature['shape'])}"
                )
            if array.dtype.kind == "f":
                bad = ~np.isfinite(array.reshape(len(array), -1)).all(axis=1)
                if bad.any():
                    report["nonfinite"][name] = report["nonfinite"].get(name, 0) + int(bad.sum())
                    hit = sorted({int(x) for x in ep_index[bad]})
                    problems.append(
                        f"{path.name}: column {name!r} has {int(bad.sum())} frames with NaN or infinity "
                        f"(episodes {', '.join(map(str, hit[:5]))}{' ...' if len(hit) > 5 else ''})"
                    )


def _check_videos(root: Path, info: dict, episodes: list[dict], skip: set[Path], problems: list[str]) -> None:
    """Each video decodes at the declared size and covers each of its episodes' frames."""
    decoded: dict[Path, tuple[np.ndarray, np.ndarray] | None] = {}
    for key in video_keys(info):
        height, width = info["features"][key]["shape"][:2]
        for row in episodes:
            e = row["episode_index"]
            path = root / info["video_path"].format(
                video_key=key,
                chunk_index=row[f"videos/{key}/chunk_index"],
                file_index=row[f"videos/{key}/file_index"],
            )
            if path in skip:
                continue
            if path not in decoded:
                decoded[path] = _decode_or_report(path, problems)
                if decoded[path] is not None and decoded[path][0].shape[1:] != (height, width, 3):
                    problems.append(
                        f"{path.name} ({key}): frames are {decoded[path][0].shape[1:]}, info.json says {(height, width, 3)}"
                    )
            if decoded[path] is None:
                continue
            frames, stamps = decoded[path]
            start = float(row[f"videos/{key}/from_timestamp"])
            available = len(frames) - int(np.argmin(np.abs(stamps - start)))
            if available < int(row["length"]):
                problems.append(
                    f"{path.name} ({key}): episode {e} needs {row['length']} frames from {start:.3f}s, "
                    f"the video has {available}"
                )


def _decode_or_report(path: Path, problems: list[str]) -> tuple[np.ndarray, np.ndarray] | None:
    from robo_reward.data.lerobot_io import decode_video

    try:
        return decode_video(path)
    except DatasetError as e:
        problems.append(one_line(e))
        return None
