import numpy as np
import pytest

from robo_reward.data.episode import Episode
from robo_reward.data.lerobot_io import dataset_info, load_episodes, write_dataset
from robo_reward.utils.errors import UserError


def _episode(rng, T, outcome="success"):
    # Smooth images compress well, so the lossy video round trip stays close.
    yy, xx = np.mgrid[0:32, 0:32]
    base = np.stack([xx * 8, yy * 8, (xx + yy) * 4], -1).astype(np.uint8)
    views = {
        v: np.stack([np.roll(base, t + i, axis=1) for t in range(T)])
        for i, v in enumerate(("front", "wrist"))
    }
    return Episode(
        views=views,
        state=rng.normal(size=(T, 5)).astype(np.float32),
        action=rng.normal(size=(T, 7)).astype(np.float32),
        task="put the cube on the pad",
        task_name="pick_place",
        progress=np.linspace(0, 1, T).astype(np.float32),
        stage=(np.arange(T) // 4).astype(np.int64),
        success=np.arange(T) == T - 1,
        outcome=outcome,
    )


def test_round_trip_through_lerobot(tmp_path):
    rng = np.random.default_rng(0)
    eps = [_episode(rng, 12), _episode(rng, 9, outcome="failure")]
    root = write_dataset(eps, tmp_path / "ds")
    info = dataset_info(root)
    assert info["episodes"] == 2 and info["frames"] == 21
    assert info["views"] == ["front", "wrist"] and info["outcomes"] == {"success": 1, "failure": 1}
    back = load_episodes(root)
    for a, b in zip(eps, back, strict=True):
        assert len(a) == len(b)
        np.testing.assert_array_equal(a.state, b.state)
        np.testing.assert_array_equal(a.action, b.action)
        np.testing.assert_allclose(a.progress, b.progress)
        np.testing.assert_array_equal(a.stage, b.stage)
        np.testing.assert_array_equal(a.success, b.success)
        assert (a.task, a.task_name, a.outcome) == (b.task, b.task_name, b.outcome)
        err = np.abs(a.views["front"].astype(int) - b.views["front"].astype(int)).mean()
        assert err < 6, err  # lossy video, but the same pictures

    # Plain lerobot reads it too.
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    ds = LeRobotDataset("robo_reward/ds", root=root, video_backend="pyav")
    assert len(ds) == 21
    item = ds[13]
    assert tuple(item["observation.images.front"].shape) == (3, 32, 32)
    assert int(item["episode_index"]) == 1


def test_write_refuses_to_clobber_and_rejects_empty(tmp_path):
    rng = np.random.default_rng(1)
    root = write_dataset([_episode(rng, 5)], tmp_path / "ds")
    with pytest.raises(FileExistsError, match="overwrite"):
        write_dataset([_episode(rng, 5)], root)
    with pytest.raises(ValueError, match="no episodes"):
        write_dataset([], tmp_path / "other")
    with pytest.raises(UserError, match="out of range"):
        load_episodes(root, episodes=[3])
    with pytest.raises(UserError, match="not a LeRobotDataset"):
        load_episodes(tmp_path)


def test_object_state_column_round_trips_and_keeps_one_shape(tmp_path):
    rng = np.random.default_rng(2)
    a, b = _episode(rng, 6), _episode(rng, 5)
    a.extras["observation.environment_state"] = rng.normal(size=(6, 8)).astype(np.float32)
    b.extras["observation.environment_state"] = rng.normal(size=(5, 8)).astype(np.float32)
    back = load_episodes(write_dataset([a, b], tmp_path / "ds"))
    for ep, loaded in zip((a, b), back, strict=True):
        col = loaded.extras["observation.environment_state"]
        np.testing.assert_array_equal(np.stack(col), ep.extras["observation.environment_state"])
    b.extras["observation.environment_state"] = np.zeros((5, 3), np.float32)  # another task's objects
    with pytest.raises(ValueError, match="has per-frame shape \\(3,\\), the first episode's \\(8,\\)"):
        write_dataset([a, b], tmp_path / "mixed")


def test_episode_validation():
    with pytest.raises(ValueError, match="uint8"):
        Episode(
            views={"front": np.zeros((2, 4, 4, 3), np.float32)},
            state=np.zeros((2, 1)),
            action=np.zeros((2, 1)),
            task="x",
        )
    with pytest.raises(ValueError, match="frames but state"):
        Episode(
            views={"front": np.zeros((3, 4, 4, 3), np.uint8)},
            state=np.zeros((2, 1)),
            action=np.zeros((2, 1)),
            task="x",
        )


def test_writing_a_dataset_prints_nothing(tmp_path, capfd):
    # Logs of a collect were mostly FFmpeg's libx264 statistics (several lines per video), a `datasets`
    # progress bar per episode and numpy's bool-cast warning; none of it tells the user anything.
    import warnings

    rng = np.random.default_rng(3)
    eps = [_episode(rng, 8), _episode(rng, 6, outcome="failure")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_dataset(eps, tmp_path / "ds")
        write_dataset(eps, tmp_path / "ds", overwrite=True)  # FFmpeg's logger is lerobot's after a write
    out, err = capfd.readouterr()
    assert out + err == "", (out + err)[:2000]
    assert not [w for w in caught if "bool" in str(w.message)]
