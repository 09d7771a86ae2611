"""The native task suite: one registry-wide parametrised test, plus IK, state cloning and vector envs."""

from __future__ import annotations

import functools

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from suite_checks import check_task

from robo_reward.sim import STATE_NAMES, list_tasks, make_env
from robo_reward.sim.experts import make_expert
from robo_reward.sim.rollout import rollout, run_episode
from robo_reward.sim.tasks import TASKS
from robo_reward.sim.validate import suite_tasks

S = 32


@pytest.mark.parametrize("task", suite_tasks())
def test_task(task):
    check_task(task, image_size=S)


def test_reach_stage_is_the_half_way_mark():
    """reach: stage 1 from the frame the distance has halved; progress stays the closeness itself."""
    from robo_reward.sim.primitives import closeness
    from robo_reward.sim.tasks.reach import TOL

    env = make_env("reach", render=False)
    traj = rollout(env, make_expert(env, rng=np.random.default_rng(0)).act, seed=0)
    task, sc = env.unwrapped.task, env.unwrapped.scene
    start = task.params[0]
    assert traj.stage[0] == 0 and traj.stage[-1] == 1 and traj.outcome == "success"
    first = int(np.argmax(traj.stage == 1))
    assert traj.progress[first - 1] < 0.5 <= traj.progress[first]
    # the marker placed at a known distance from the gripper: two thirds of the start, one third
    for d, stage in ((start * 2 / 3, 0), (start / 3, 1)):
        sc.set_mocap("target/target", sc.ee_pos + np.array([d, 0.0, 0.0]))
        mujoco.mj_forward(sc.model, sc.data)
        ev = task.evaluate(sc)
        assert ev.stage == stage and task.progress(ev) == pytest.approx(closeness(d, start, TOL), abs=1e-6)
    # a failed reach that never gets half way stays in stage 0 and is a failure
    fail = rollout(env, lambda obs, info: np.zeros(7, np.float32), seed=1)
    assert not fail.stage.any() and fail.outcome == "failure"


def test_environment_state_reads_object_poses():
    """pick_place: cube position, (cos 4ψ, sin 4ψ) of its yaw, pad position; the same for a quarter turn;
    a rollout records it per frame as the `observation.environment_state` extras column."""
    env = make_env("pick_place", render=False)
    env.reset(seed=3)
    sc = env.unwrapped.scene
    for yaw in (0.3, 0.3 + np.pi / 2):
        sc.set_free_pose("cube/joint", [0.5, 0.1, 0.02], yaw=yaw)
        sc.set_mocap("pad/pad", [0.45, -0.15, 0.0])
        mujoco.mj_forward(sc.model, sc.data)
        np.testing.assert_allclose(
            env.unwrapped.environment_state(),
            [0.5, 0.1, 0.02, np.cos(1.2), np.sin(1.2), 0.45, -0.15, 0.0], atol=1e-6,
        )  # fmt: skip
    drawer = make_env("open_drawer", render=False)
    drawer.reset(seed=0)
    slide = drawer.unwrapped.scene.joint_qpos("drawer/slide")[0]
    assert drawer.unwrapped.environment_state()[0] == pytest.approx(slide)
    env = make_env("pick_place", image_size=S)
    ep = run_episode(env, make_expert(env, rng=np.random.default_rng(0)).act, seed=4, max_steps=6)
    col = ep.extras["observation.environment_state"]
    assert col.shape == (len(ep), 8) and col.dtype == np.float32
    np.testing.assert_allclose(col[-1], env.unwrapped.environment_state())


def test_registry_lists_native_then_robosuite():
    names = list_tasks()
    assert names[: len(TASKS)] == list(TASKS)
    assert {"robosuite/Lift", "robosuite/Stack", "robosuite/Door"} <= set(names[len(TASKS) :])
    with pytest.raises(KeyError):
        make_env("nope")


def test_ik_follows_end_effector_deltas():
    env = make_env("reach", render=False)
    env.reset(seed=0)
    sc = env.unwrapped.scene
    for axis in range(3):
        for sign in (1.0, -1.0):
            start = sc.ee_pos
            a = np.zeros(7, np.float32)
            a[axis] = 0.6 * sign
            env.step(a)
            env.step(np.zeros(7, np.float32))  # settle
            moved = sc.ee_pos - start
            assert moved[axis] * sign == pytest.approx(0.03, abs=0.006)
            assert np.abs(np.delete(moved, axis)).max() < 0.006
    R0 = sc.ee_mat
    env.step(np.array([0, 0, 0, 0, 0, 0.5, 0], np.float32))
    env.step(np.zeros(7, np.float32))
    yaw = np.arctan2(*(sc.ee_mat @ R0.T)[[1, 0], 0])
    assert yaw == pytest.approx(0.15, abs=0.03)


def test_joint_control_tracks_targets():
    env = make_env("reach", render=False, control="joint")
    env.reset(seed=0)
    q = env.unwrapped.scene.arm_qpos + 0.1
    for _ in range(5):
        env.step(np.append(q, 1.0).astype(np.float32))
    np.testing.assert_allclose(env.unwrapped.scene.arm_qpos, q, atol=0.01)
    assert env.unwrapped.scene.gripper_opening < 0.01  # +1 closes


def test_sim_state_round_trip():
    env = make_env("pick_place", image_size=S)
    env.reset(seed=5)
    rng = np.random.default_rng(1)
    for _ in range(4):
        env.step(rng.uniform(-1, 1, 7).astype(np.float32))
    state = env.unwrapped.get_sim_state()
    assert state.dtype == np.float64 and state.ndim == 1
    actions = rng.uniform(-1, 1, (5, 7)).astype(np.float32)
    first = [env.step(a) for a in actions]
    other = make_env("pick_place", image_size=S)
    other.reset(seed=99)  # different randomisation, overwritten by the state
    for e in (env, other):
        e.unwrapped.set_sim_state(state)
        for a, (obs, r, term, trunc, info) in zip(actions, first, strict=True):
            obs2, r2, term2, trunc2, info2 = e.step(a)
            for k in obs:
                np.testing.assert_array_equal(obs[k], obs2[k])
            assert info == info2 and (r, term, trunc) == (r2, term2, trunc2)


def test_async_vector_env_two_workers():
    fns = [functools.partial(make_env, "reach", image_size=S) for _ in range(2)]
    venv = gym.vector.AsyncVectorEnv(fns)
    try:
        obs, info = venv.reset(seed=[0, 1])
        assert obs["observation.images.front"].shape == (2, S, S, 3)
        obs, r, term, trunc, info = venv.step(np.zeros((2, 7), np.float32))
        assert obs["observation.state"].shape == (2, len(STATE_NAMES)) and info["progress"].shape == (2,)
    finally:
        venv.close()
