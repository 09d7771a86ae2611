import numpy as np
import pytest

from robo_reward.real.inputs import BadInput

pytest.importorskip("mujoco")

from robo_reward.real.sim_robot_core import SimRobot


@pytest.fixture(scope="module")
def robot():
    r = SimRobot("reach", image_size=32, views=("front",), seed=3)
    yield r
    r.close()


def test_twist_moves_the_end_effector(robot):
    robot.reset()
    start = robot.state()[8:11].copy()
    for k in range(5):
        robot.command_twist([0.0, 0.2, 0.0], [0.0, 0.0, 0.0], now=float(k) * 0.1)
        robot.step(now=float(k) * 0.1)
    moved = robot.state()[8:11] - start
    assert moved[1] > 0.05 and abs(moved[0]) < 0.03 and abs(moved[2]) < 0.03
    assert robot.images()["front"].shape == (32, 32, 3)


def test_stale_twist_stops_and_joint_targets_hold(robot):
    robot.reset()
    robot.command_twist([0.3, 0.0, 0.0], [0.0, 0.0, 0.0], now=0.0)
    robot.step(now=2.0)  # the servo command is 2 s old: ignored, the arm stays
    assert robot.twist is None
    target = robot.state()[:7].astype(float) + np.array([0.2, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    robot.command_joints(target)
    robot.command_gripper(1.0)
    for _ in range(10):
        robot.step(now=3.0)
    np.testing.assert_allclose(robot.state()[:7], target, atol=0.02)
    assert robot.state()[7] < 0.01  # gripper closed
    with pytest.raises(ValueError, match="expected 7"):
        robot.command_joints([0.0])


def test_non_finite_commands_change_nothing(robot):
    robot.reset()
    target, gripper = robot.joint_target.copy(), robot.gripper
    for bad in (lambda: robot.command_joints([np.nan] * 7), lambda: robot.command_gripper(np.inf),
                lambda: robot.command_twist([0.0, np.nan, 0.0], [0.0] * 3, now=0.0)):  # fmt: skip
        with pytest.raises(BadInput) as e:
            bad()
        assert e.value.kind == "non_finite"
    assert robot.joint_target.tolist() == target.tolist() and robot.gripper == gripper and robot.twist is None


def test_reset_changes_seed_and_task(robot):
    robot.reset()
    e = robot.episode
    info = robot.reset("push")
    assert robot.episode == e + 1 and robot.task == "push" and info["progress"] <= 0.05
