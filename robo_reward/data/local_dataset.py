"""Open a LeRobotDataset v3 folder strictly from disk: a missing or damaged file is an error naming it.

lerobot treats a local folder as a cache of a Hub repository: when a file it wants is missing it asks
the Hub for `<repo_id>` (here a made-up `robo_reward/<folder>`) and tries to download it. A dataset
of this project exists only on disk, so before lerobot sees a folder every file it will read is
checked here — with pyarrow, from meta/info.json and the episode table, which costs milliseconds —
and the lerobot classes used refuse to download (the package also sets `HF_HUB_OFFLINE=1`).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from robo_reward.utils.errors import DatasetError, one_line
from robo_reward.utils.io import read_json

# any string that is not a version keeps lerobot from asking the Hub which version to fetch
LOCAL_REVISION = "local"
INFO = Path("meta") / "info.json"
TASKS = Path("meta") / "tasks.parquet"
EPISODES_DIR = Path("meta") / "episodes"


def repo_id(root: Path) -> str:
    return f"robo_reward/{root.name}"


def require_info(root: str | Path) -> dict:
    """meta/info.json of the dataset at `root`, read without lerobot (cheap)."""
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"dataset {root} does not exist: check the path")
    if not (root / INFO).is_file():
        raise DatasetError(f"{root} is not a LeRobotDataset (no {INFO.as_posix()}): give a dataset folder")
    try:
        info = read_json(root / INFO)
    except ValueError as e:
        raise DatasetError(
            f"{root / INFO} is damaged ({one_line(e)}): restore it or re-collect the dataset"
        ) from e
    missing = [k for k in ("features", "total_episodes", "fps", "data_path") if k not in info]
    if missing:
        raise DatasetError(
            f"{root / INFO} is damaged (no {', '.join(missing)}): restore it or re-collect the dataset"
        )
    if not (root / TASKS).is_file():
        raise DatasetError(f"{root} is incomplete: {TASKS.as_posix()} is missing")
    if not any((root / EPISODES_DIR).rglob("*.parquet")):
        raise DatasetError(f"{root} is incomplete: {EPISODES_DIR.as_posix()}/ holds no parquet file")
    return info


def require_parquet(path: Path) -> None:
    """A readable parquet file (its footer parses): a truncated or overwritten one is named here."""
    import pyarrow.parquet as pq

    try:
        pq.read_metadata(path)
    except Exception as e:  # pyarrow's ArrowInvalid / OSError flavours
        raise DatasetError(f"{path} is damaged ({one_line(e)}): restore it or re-collect the dataset") from e


def episode_table(root: Path, info: dict) -> list[dict[str, Any]]:
    """One row per episode (length, file indices, video timestamps) from meta/episodes/, in order."""
    import pyarrow.parquet as pq

    tables = sorted((root / EPISODES_DIR).rglob("*.parquet"))
    for path in [root / TASKS, *tables]:
        require_parquet(path)
    rows = []
    for path in tables:
        table = pq.read_table(path)
        rows += table.select([c for c in table.column_names if not c.startswith("stats/")]).to_pylist()
    rows.sort(key=lambda r: r["episode_index"])
    if [r["episode_index"] for r in rows] != list(range(info["total_episodes"])):
        raise DatasetError(
            f"{root} is incomplete: {INFO.as_posix()} lists {info['total_episodes']} episodes, "
            f"{EPISODES_DIR.as_posix()}/ describes {len(rows)}"
        )
    return rows


def video_keys(info: dict) -> list[str]:
    return [k for k, f in info["features"].items() if f.get("dtype") == "video"]


def episode_files(root: Path, info: dict, episodes: list[dict[str, Any]]) -> list[tuple[Path, str]]:
    """Every file lerobot reads for these episodes, with what it holds: [(path, description)]."""
    files: dict[Path, str] = {}
    for row in episodes:
        e = row["episode_index"]
        data = info["data_path"].format(
            chunk_index=row["data/chunk_index"], file_index=row["data/file_index"]
        )
        files.setdefault(root / data, f"the frames of episode {e}")
        for key in video_keys(info):
            video = info["video_path"].format(
                video_key=key,
                chunk_index=row[f"videos/{key}/chunk_index"],
                file_index=row[f"videos/{key}/file_index"],
            )
            files.setdefault(root / video, f"the {key} video of episode {e}")
    return list(files.items())


def require_files(root: str | Path) -> dict:
    """Every file lerobot will read exists (parquet files readable); returns meta/info.json."""
    root = Path(root)
    info = require_info(root)
    for path, what in episode_files(root, info, episode_table(root, info)):
        if not path.is_file():
            raise DatasetError(
                f"{root} is incomplete: {path.relative_to(root).as_posix()} ({what}) is missing"
            )
        if path.suffix == ".parquet":
            require_parquet(path)
    return info


@functools.cache
def _local_classes() -> tuple[type, type]:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset, LeRobotDatasetMetadata

    def refuse(self, *args: Any, **kwargs: Any) -> None:
        raise DatasetError(
            f"{self.root} is incomplete: lerobot wanted to download files of it from the Hub "
            f"(run `robo-reward data check {self.root}` to see which)"
        )

    metadata = type("LocalMetadata", (LeRobotDatasetMetadata,), {"pull_from_repo": refuse})
    dataset = type("LocalDataset", (LeRobotDataset,), {"pull_from_repo": refuse, "download": refuse})
    return metadata, dataset


def _open(kind: int, root: str | Path, what: str, **kwargs: Any):
    root = Path(root)
    require_files(root)
    try:
        return _local_classes()[kind](repo_id(root), root=root, revision=LOCAL_REVISION, **kwargs)
    except DatasetError:
        raise
    except Exception as e:  # a damaged file the checks above cannot see: name the folder and the cause
        raise DatasetError(
            f"{root}: its {what} cannot be read ({one_line(e)}): run `robo-reward data check {root}`"
        ) from e


def open_metadata(root: str | Path):
    """lerobot's `LeRobotDatasetMetadata` of the folder at `root`, from disk only (files checked first)."""
    return _open(0, root, "metadata")


def open_dataset(root: str | Path, **kwargs: Any):
    """lerobot's `LeRobotDataset` of the folder at `root`, from disk only (files checked first)."""
    return _open(1, root, "frames", **kwargs)
