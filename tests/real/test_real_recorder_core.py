import numpy as np
import pytest

from robo_reward.real.bundles import SyncedObservation
from robo_reward.real.inputs import BadInput
from robo_reward.real.policy_core import ArmSpec
from robo_reward.real.recorder_core import EpisodeRecorder

ARM = ArmSpec(
    ("j1", "j2"), "g", position_scale=0.05, rotation_scale=0.3, gripper_open=-1.0, gripper_closed=1.0
)
NAMES = ("j1", "j2", "g")


def obs(k: int) -> SyncedObservation:
    img = np.full((8, 8, 3), k, np.uint8)
    return SyncedObservation(
        int(1e9 + k * 1e8), {"front": img, "wrist": img}, np.array([k, -k, 0.0], np.float32), NAMES
    )


def test_actions_align_with_frames():
    rec = EpisodeRecorder(ARM, "joint", fps=10.0)
    rec.add(obs(0))  # not recording: ignored
    rec.start("stack")
    rec.add(obs(0))  # no command yet → hold (measured joints)
    rec.set_joint_command([0.5, 0.6])
    rec.set_gripper_command(1.0)
    rec.add(obs(1))
    rec.set_joint_command([0.7, 0.8])
    rec.add(obs(2))
    ep = rec.stop("partial")
    assert len(ep) == 3 and ep.task == "stack" and ep.outcome == "partial"
    np.testing.assert_allclose(ep.action, [[0.5, 0.6, 1.0], [0.7, 0.8, 1.0], [0.7, 0.8, 1.0]])
    assert ep.views["front"].shape == (3, 8, 8, 3) and ep.views["front"][2, 0, 0, 0] == 2
    np.testing.assert_allclose(ep.extras["ros_stamp"], [0.0, 0.1, 0.2], atol=1e-6)
    assert rec.last_state_names == NAMES
    assert rec.stop() is None  # nothing recorded since


def test_unrecordable_messages_leave_the_episode_as_it_was():
    rec = EpisodeRecorder(ARM, "joint", fps=10.0)
    rec.start("t")
    rec.set_joint_command([0.5, 0.6])
    for bad, kind in ((lambda: rec.set_joint_command([np.nan, 0.0]), "non_finite"),
                      (lambda: rec.set_joint_command([0.1]), "wrong_size"),
                      (lambda: rec.set_joint_command([1e308, 0.0]), "non_finite"),  # inf as float32
                      (lambda: rec.set_gripper_command(np.inf), "non_finite"),
                      (lambda: rec.add(SyncedObservation(0, {}, np.zeros(1, np.float32), ("g",))), "missing_joints"),
                      (lambda: rec.add(SyncedObservation(0, {}, np.full(3, np.nan, np.float32), NAMES)), "non_finite")):  # fmt: skip
        with pytest.raises(BadInput) as e:
            bad()
        assert e.value.kind == kind
    rec.add(obs(1))
    rec.add(obs(2))
    np.testing.assert_allclose(rec.stop().action, [[0.5, 0.6, 0.0], [0.5, 0.6, 0.0]])


def test_hold_before_any_command_and_twist_inverse():
    rec = EpisodeRecorder(ARM, "joint", fps=10.0)
    rec.start("t")
    rec.add(obs(3))
    np.testing.assert_allclose(rec.stop().action, [[3.0, -3.0, 0.0]])
    rec = EpisodeRecorder(ARM, "ee_delta", fps=10.0)
    rec.start("t")
    rec.add(obs(0))
    rec.set_twist_command([0.5, 0.0, -0.25], [0.0, 0.0, 1.5])
    rec.set_gripper_command(-1.0)
    np.testing.assert_allclose(rec.stop().action, [[1.0, 0.0, -0.5, 0.0, 0.0, 0.5, -1.0]])


def test_max_frames_bound():
    rec = EpisodeRecorder(ARM, "joint", fps=10.0, max_frames=2)
    rec.start("t")
    for k in range(4):
        rec.add(obs(k))
    assert len(rec.stop()) == 2 and rec.dropped == 2


def test_written_episode_loads(tmp_path):
    pytest.importorskip("lerobot")
    from robo_reward.data.lerobot_io import load_episodes, write_dataset

    rec = EpisodeRecorder(ARM, "joint", fps=10.0)
    rec.start("stack the cubes")
    for k in range(5):
        rec.set_joint_command([0.1 * k, 0.0])
        rec.add(obs(k))
    write_dataset([rec.stop()], tmp_path / "episode_0000", state_names=list(rec.last_state_names))
    (ep,) = load_episodes(tmp_path / "episode_0000")
    assert len(ep) == 5 and sorted(ep.views) == ["front", "wrist"] and ep.task == "stack the cubes"
    np.testing.assert_allclose(ep.action[:, 0], [0.1, 0.2, 0.3, 0.4, 0.4], atol=1e-6)
