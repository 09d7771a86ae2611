"""LeRobotDataset v3 I/O for `Episode`s, through lerobot's own `LeRobotDataset`.

Writing goes through `LeRobotDataset.create/add_frame/save_episode/finalize`, so anything written here
loads back with plain `LeRobotDataset(repo_id, root=DIR)`. Views are stored as videos. Privileged sim
columns travel as frame features (`progress`, `stage`, `success`, `outcome`); per-episode facts that
are not frame features (registry task name, outcome label) are also kept in `meta/robo_reward.json`.

Reading for training decodes each video file once, sequentially, with PyAV (random-access decoding
per frame is far slower), and slices it per episode by the timestamps lerobot stores. Reading never
reaches the network: a missing or damaged file is a `DatasetError` naming it (see `local_dataset`).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from robo_reward.data.episode import IMAGE_KEY, OUTCOMES, STATE_KEY, Episode
from robo_reward.data.local_dataset import open_dataset, open_metadata, require_info
from robo_reward.utils.errors import DatasetError, UserError, one_line
from robo_reward.utils.io import read_json, write_json

META_NAME = "robo_reward.json"
PRIVILEGED = ("progress", "stage", "success", "outcome")


def _features(ep: Episode, state_names: list[str] | None, action_names: list[str] | None) -> dict:
    feats: dict = {}
    for view, frames in ep.views.items():
        h, w = frames.shape[1:3]
        feats[IMAGE_KEY + view] = {
            "dtype": "video",
            "shape": (h, w, 3),
            "names": ["height", "width", "channels"],
        }
    feats[STATE_KEY] = {"dtype": "float32", "shape": (ep.state.shape[1],), "names": state_names}
    feats["action"] = {"dtype": "float32", "shape": (ep.action.shape[1],), "names": action_names}
    if ep.progress is not None:
        feats["progress"] = {"dtype": "float32", "shape": (1,), "names": None}
    if ep.stage is not None:
        feats["stage"] = {"dtype": "int64", "shape": (1,), "names": None}
    if ep.success is not None:
        feats["success"] = {"dtype": "bool", "shape": (1,), "names": None}
    feats["outcome"] = {"dtype": "int64", "shape": (1,), "names": None}
    for name, col in ep.extras.items():
        col = np.asarray(col)
        feats[name] = {"dtype": str(col.dtype), "shape": tuple(col.shape[1:]) or (1,), "names": None}
    return feats


@contextlib.contextmanager
def _quiet_writer() -> Iterator[None]:
    """Silence lerobot's writer at the sources; errors still come through.

    It speaks in three voices, none of them ours: FFmpeg's libx264 statistics (lerobot hands logging
    back to FFmpeg's own logger after each encode, and that one prints INFO), a `datasets` progress bar
    per episode, and numpy's cast warning about bool columns.
    """
    import av
    import datasets

    av.logging.set_level(av.logging.ERROR)
    av.logging.set_libav_level(av.logging.ERROR)  # what FFmpeg's own logger prints
    bars_were_on = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Converting input from bool", RuntimeWarning)
            yield
    finally:
        if bars_were_on:
            datasets.enable_progress_bars()


@_quiet_writer()
def write_dataset(
    episodes: Iterable[Episode],
    root: str | Path,
    repo_id: str | None = None,
    state_names: list[str] | None = None,
    action_names: list[str] | None = None,
    overwrite: bool = False,
    progress_callback=None,
) -> Path:
    """Write episodes as a LeRobotDataset v3 at `root`.

    The dataset is built in a temporary sibling folder and renamed into place at the end, so an
    interrupted write never leaves a half dataset at `root`.
    """
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    root = Path(root)
    if root.exists() and not overwrite:
        raise FileExistsError(f"{root} exists; pass overwrite=True (CLI: --overwrite) to replace it")
    repo_id = repo_id or f"robo_reward/{root.name}"
    tmp = root.with_name(f".{root.name}.writing")
    if tmp.exists():
        shutil.rmtree(tmp)
    it = iter(episodes)
    first = next(it, None)
    if first is None:
        raise ValueError("write_dataset got no episodes")
    feats = _features(first, state_names, action_names)
    ds = LeRobotDataset.create(
        repo_id=repo_id,
        fps=round(first.fps),
        features=feats,
        root=tmp,
        use_videos=True,
        vcodec="h264",
        image_writer_threads=0,
    )
    meta_eps = []
    for n, ep in enumerate(_chain(first, it), start=1):
        if set(ep.views) != {k[len(IMAGE_KEY) :] for k in feats if k.startswith(IMAGE_KEY)}:
            raise ValueError(f"episode {n - 1} has views {sorted(ep.views)}, expected the first episode's")
        outcome = OUTCOMES.index(ep.outcome)
        for t in range(len(ep)):
            frame = {IMAGE_KEY + v: f[t] for v, f in ep.views.items()}
            frame[STATE_KEY] = ep.state[t].astype(np.float32)
            frame["action"] = ep.action[t].astype(np.float32)
            frame["task"] = ep.task
            if "progress" in feats:
                frame["progress"] = np.array([ep.progress[t]], dtype=np.float32)
            if "stage" in feats:
                frame["stage"] = np.array([ep.stage[t]], dtype=np.int64)
            if "success" in feats:
                frame["success"] = np.array([bool(ep.success[t])], dtype=bool)
            frame["outcome"] = np.array([outcome], dtype=np.int64)
            for name, col in ep.extras.items():
                if name not in feats or (tuple(np.shape(col)[1:]) or (1,)) != tuple(feats[name]["shape"]):
                    raise ValueError(
                        f"episode {n - 1}'s extras column {name!r} has per-frame shape {np.shape(col)[1:]}, "
                        f"the first episode's {feats.get(name, {}).get('shape')}: one column has one shape"
                    )
                frame[name] = np.asarray(col[t]).reshape(feats[name]["shape"]).astype(feats[name]["dtype"])
            ds.add_frame(frame)
        ds.save_episode()
        meta_eps.append({"task_name": ep.task_name, "outcome": ep.outcome, "length": len(ep)})
        if progress_callback is not None:
            progress_callback(n)
    ds.finalize()
    write_json(tmp / "meta" / META_NAME, {"episodes": meta_eps, "fps": first.fps})
    if root.exists():
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(root)
    return root


def _chain(first: Episode, rest):
    yield first
    yield from rest


def decode_video(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """All frames of a video file as (N, H, W, 3) uint8 RGB, with their timestamps (N,) in seconds."""
    import av

    frames, stamps = [], []
    try:
        with av.logging.Capture(), av.open(str(path)) as container:  # its complaints become our error
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                frames.append(frame.to_ndarray(format="rgb24"))
                stamps.append(float(frame.pts * stream.time_base) if frame.pts is not None else len(stamps))
    except (av.error.FFmpegError, IndexError) as e:
        raise DatasetError(f"video {path} cannot be decoded ({one_line(e)}): it is damaged") from e
    if not frames:
        raise DatasetError(f"video {path} holds no frames: it is damaged")
    return np.stack(frames), np.asarray(stamps)


def dataset_info(root: str | Path) -> dict:
    """Cheap summary without decoding video: episodes, frames, fps, views, columns, outcomes, tasks."""
    root = Path(root)
    meta = open_metadata(root)
    extra = read_json(root / "meta" / META_NAME) if (root / "meta" / META_NAME).exists() else {}
    outcomes: dict[str, int] = {}
    for e in extra.get("episodes", []):
        outcomes[e["outcome"]] = outcomes.get(e["outcome"], 0) + 1
    return {
        "root": str(root),
        "episodes": meta.total_episodes,
        "frames": meta.total_frames,
        "fps": meta.fps,
        "views": [k[len(IMAGE_KEY) :] for k in meta.video_keys],
        "columns": list(meta.features),
        "tasks": sorted(meta.tasks.index) if meta.tasks is not None else [],
        "task_names": sorted({e["task_name"] for e in extra.get("episodes", []) if e.get("task_name")}),
        "outcomes": outcomes,
    }


def load_episodes(
    root: str | Path,
    episodes: Iterable[int] | None = None,
    views: Iterable[str] | None = None,
    with_images: bool = True,
) -> list[Episode]:
    """Load a LeRobotDataset v3 folder into `Episode`s (all, or the given episode indices), from disk
    only: a missing or damaged file is a `DatasetError` naming it."""
    root = Path(root)
    require_info(root)
    logging.getLogger("lerobot").setLevel(logging.WARNING)
    ds = open_dataset(root, video_backend="pyav")
    meta = ds.meta
    extra = read_json(root / "meta" / META_NAME) if (root / "meta" / META_NAME).exists() else {}
    extra_eps = extra.get("episodes", [])
    columns = ds.hf_dataset.with_format(None)
    table = {name: np.asarray(columns[name]) for name in columns.column_names if name != "task"}
    ep_index = table["episode_index"]
    wanted = range(meta.total_episodes) if episodes is None else list(episodes)
    video_keys = [k for k in meta.video_keys if views is None or k[len(IMAGE_KEY) :] in set(views)]
    decoded: dict[Path, tuple[np.ndarray, np.ndarray]] = {}
    out = []
    for e in wanted:
        if not 0 <= e < meta.total_episodes:
            raise UserError(
                f"episode {e} out of range: {root} has {meta.total_episodes} episodes (0-{meta.total_episodes - 1})"
            )
        rows = np.nonzero(ep_index == e)[0]
        order = rows[np.argsort(table["frame_index"][rows])]
        T = len(order)
        ep_meta = meta.episodes[e]
        frames: dict[str, np.ndarray] = {}
        for key in video_keys:
            view = key[len(IMAGE_KEY) :]
            if not with_images:
                frames[view] = np.zeros((T, 1, 1, 3), np.uint8)
                continue
            path = root / meta.get_video_file_path(e, key)
            if path not in decoded:
                decoded[path] = decode_video(path)
            all_frames, stamps = decoded[path]
            start = float(ep_meta[f"videos/{key}/from_timestamp"])
            i0 = int(np.argmin(np.abs(stamps - start)))
            clip = all_frames[i0 : i0 + T]
            if len(clip) != T:
                raise DatasetError(f"{path}: episode {e} needs {T} frames from {start:.3f}s, got {len(clip)}")
            frames[view] = clip
        tasks = ep_meta["tasks"]
        info = extra_eps[e] if e < len(extra_eps) else {}

        def col(name: str, rows=order):
            return table[name][rows] if name in table else None

        outcome_col = col("outcome")
        outcome = info.get("outcome") or (
            OUTCOMES[int(outcome_col[0])] if outcome_col is not None else "success"
        )
        progress, stage, success = col("progress"), col("stage"), col("success")
        known = {"observation.state", "action", "progress", "stage", "success", "outcome", "timestamp"}
        known |= {"frame_index", "episode_index", "index", "task_index"}
        out.append(
            Episode(
                views=frames,
                state=np.stack(col(STATE_KEY)).astype(np.float32),
                action=np.stack(col("action")).astype(np.float32),
                task=tasks[0] if isinstance(tasks, list | tuple | np.ndarray) else str(tasks),
                fps=float(meta.fps),
                task_name=info.get("task_name", ""),
                progress=None if progress is None else np.asarray(progress, np.float32).reshape(T),
                stage=None if stage is None else np.asarray(stage, np.int64).reshape(T),
                success=None if success is None else np.asarray(success, bool).reshape(T),
                outcome=outcome,
                extras={k: np.asarray(table[k][order]) for k in table if k not in known},
            )
        )
    return out
