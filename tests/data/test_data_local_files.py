"""Datasets are read from disk only: a missing or damaged file is an error naming it, never a Hub
download; `robo-reward data check` lists every problem of a folder."""

from __future__ import annotations

import shutil
import socket

import numpy as np
import pytest

from robo_reward.cli import main
from robo_reward.data.episode import Episode
from robo_reward.data.lerobot_io import dataset_info, load_episodes, write_dataset
from robo_reward.utils.errors import DatasetError

VIDEO = "videos/observation.images.wrist/chunk-000/file-000.mp4"
FRAMES = "data/chunk-000/file-000.parquet"
EPISODES = "meta/episodes/chunk-000/file-000.parquet"


def _episode(seed: int, T: int = 8) -> Episode:
    rng = np.random.default_rng(seed)
    views = {v: rng.integers(0, 255, (T, 16, 16, 3), dtype=np.uint8) for v in ("front", "wrist")}
    state = rng.normal(size=(T, 4)).astype(np.float32)
    return Episode(views=views, state=state, action=state[:, :2].copy(), task="t", outcome="success")


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return write_dataset([_episode(0), _episode(1)], tmp_path_factory.mktemp("ds") / "clean")


@pytest.fixture
def copy(clean, tmp_path):
    return shutil.copytree(clean, tmp_path / "ds")


@pytest.fixture
def network(monkeypatch):
    """Every attempt to resolve or connect, recorded and refused."""
    attempts: list[str] = []

    def refuse(*args, **kwargs):
        attempts.append(repr(args[:2]))
        raise OSError("network use in a test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


def _truncate(path):
    path.write_bytes(path.read_bytes()[:200])


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (lambda ds: (ds / VIDEO).unlink(), VIDEO),
        (lambda ds: (ds / FRAMES).unlink(), FRAMES),
        (lambda ds: (ds / EPISODES).unlink(), "meta/episodes/"),
        (lambda ds: (ds / "meta/tasks.parquet").unlink(), "meta/tasks.parquet"),
        (lambda ds: (ds / "meta/info.json").unlink(), "meta/info.json"),
        (lambda ds: _truncate(ds / FRAMES), FRAMES),
        (lambda ds: _truncate(ds / EPISODES), EPISODES),
        (lambda ds: _truncate(ds / VIDEO), VIDEO),
        (lambda ds: (ds / "meta/info.json").write_text("{"), "meta/info.json"),
    ],
    ids=["no-video", "no-frames", "no-episodes", "no-tasks", "no-info", "cut-frames", "cut-episodes",
         "cut-video", "bad-info"],
)  # fmt: skip
def test_a_missing_or_damaged_file_is_named_and_nothing_is_downloaded(copy, network, damage, named):
    damage(copy)
    with pytest.raises(DatasetError, match=named):
        load_episodes(copy)
    assert network == []  # lerobot falls back to the Hub for missing files; here nothing tried


def test_info_reads_a_complete_dataset_without_the_network(clean, network):
    assert dataset_info(clean)["episodes"] == 2
    assert len(load_episodes(clean)) == 2 and network == []


def test_check_passes_a_clean_dataset(clean, capsys):
    capsys.readouterr()
    main(["data", "check", str(clean)])  # returns: exit status 0
    assert "OK — 2 episodes, 16 frames, 6 files, views front, wrist" in capsys.readouterr().out


def test_check_lists_every_problem_and_exits_2_in_one_line(tmp_path, capsys):
    bad = _episode(2)
    bad.state[3, 1] = np.nan
    bad.action[5, 0] = np.inf
    ds = write_dataset([_episode(0), bad, _episode(3)], tmp_path / "ds")
    (ds / VIDEO).unlink()
    capsys.readouterr()  # the writer's progress bars
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "check", str(ds)])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 2
    problems = [line for line in out.splitlines() if line.startswith("problem: ")]
    assert any(VIDEO in p and "missing" in p for p in problems)
    assert any("'observation.state' has 1 frames with NaN or infinity (episodes 1)" in p for p in problems)
    assert any("'action' has 1 frames with NaN or infinity (episodes 1)" in p for p in problems)
    assert len(problems) == 3
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("robo-reward data check: error: ") and "2 more" in lines[0]


def test_check_finds_shapes_and_lengths_that_disagree_with_the_metadata(copy):
    import json

    from robo_reward.data.check import check_dataset

    info = json.loads((copy / "meta/info.json").read_text())
    info["features"]["observation.state"]["shape"] = [5]
    info["features"]["observation.images.front"]["shape"] = [32, 32, 3]
    (copy / "meta/info.json").write_text(json.dumps(info))
    problems = check_dataset(copy)["problems"]
    assert any("'observation.state' has per-frame shape (4,), info.json says (5,)" in p for p in problems)
    assert any("frames are (16, 16, 3), info.json says (32, 32, 3)" in p for p in problems)
    assert len(problems) == 2
