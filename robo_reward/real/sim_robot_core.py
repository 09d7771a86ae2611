"""The MuJoCo sim as a position-controlled arm, without ROS: commands in, one control step, state out.

The env runs in `joint` control (7 joint targets + gripper), like a ros2_control arm. The three
command interfaces a real arm exposes map onto it:
- joint positions (JointTrajectory / Float64MultiArray): targets that persist until replaced;
- a Cartesian velocity (TwistStamped, as MoveIt Servo streams): integrated over one control step
  and solved by the sim's own damped-least-squares IK — exactly the env's `ee_delta` action with
  d = v·dt / scale — and forgotten after `twist_timeout` seconds (a silent servo stops the arm);
- the gripper command in [-1, 1] (+1 closes), on its own topic.
A command with a NaN/inf or the wrong number of values raises BadInput and changes nothing.
"""

from __future__ import annotations

import numpy as np

from robo_reward.data.episode import IMAGE_KEY, STATE_KEY
from robo_reward.real.inputs import finite_vector


class SimRobot:
    def __init__(self, task: str, image_size: int = 96, views: tuple[str, ...] = ("front", "side", "wrist"),
                 seed: int = 0, twist_timeout: float = 0.5) -> None:  # fmt: skip
        from robo_reward.sim import JOINT_NAMES, make_env
        from robo_reward.sim.controller import WORKSPACE_HI, WORKSPACE_LO, axis_angle_matrix
        from robo_reward.sim.env import CONTROL_DT

        self._axis_angle, self._ws = axis_angle_matrix, (WORKSPACE_LO, WORKSPACE_HI)
        self.joint_names = tuple(JOINT_NAMES)
        self.control_dt = CONTROL_DT
        self.views = tuple(views)
        self.image_size = image_size
        self.twist_timeout = twist_timeout
        self.seed = seed
        self.episode = -1
        self.task = task
        self.env = make_env(task, image_size=image_size, views=self.views, control="joint")
        self.reset()

    @property
    def sim(self):
        return self.env.unwrapped

    def reset(self, task: str | None = None) -> dict:
        if task and task != self.task:
            from robo_reward.sim import make_env

            self.env.close()
            self.task = task
            self.env = make_env(task, image_size=self.image_size, views=self.views, control="joint")
        self.episode += 1
        self.obs, self.info = self.env.reset(seed=self.seed + self.episode)
        hold = self.sim.hold_action()
        self.joint_target, self.gripper = hold[:-1].astype(float), float(hold[-1])
        self.twist: tuple[np.ndarray, np.ndarray, float] | None = None
        self.steps = 0
        return self.info

    # commands -----------------------------------------------------------------------------------
    def command_joints(self, positions: np.ndarray) -> None:
        self.joint_target, self.twist = finite_vector(positions, "joint command", len(self.joint_names)), None

    def command_twist(self, linear: np.ndarray, angular: np.ndarray, now: float) -> None:
        self.twist = (
            finite_vector(linear, "twist linear", 3),
            finite_vector(angular, "twist angular", 3),
            now,
        )

    def command_gripper(self, command: float) -> None:
        (value,) = finite_vector([command], "gripper command", 1)
        self.gripper = float(np.clip(value, -1.0, 1.0))

    # stepping -----------------------------------------------------------------------------------
    def step(self, now: float) -> dict:
        """One env step (CONTROL_DT = 0.1 s of physics) with the newest commands; returns info."""
        sc, dt = self.sim.scene, self.control_dt
        if self.twist is not None and now - self.twist[2] <= self.twist_timeout:
            lin, ang, _ = self.twist
            target_pos = np.clip(sc.ee_pos + lin * dt, *self._ws)
            target_mat = self._axis_angle(ang * dt) @ sc.ee_mat
            self.joint_target = self.sim.controller.solve(target_pos, target_mat)
        elif self.twist is not None:  # the servo went quiet: stop where the arm is
            self.joint_target, self.twist = sc.arm_qpos, None
        action = np.append(np.clip(self.joint_target, sc.arm_lo, sc.arm_hi), self.gripper).astype(np.float32)
        self.obs, _, _, _, self.info = self.env.step(action)
        self.steps += 1
        return self.info

    # readings -----------------------------------------------------------------------------------
    def images(self) -> dict[str, np.ndarray]:
        return {v: self.obs[f"{IMAGE_KEY}{v}"] for v in self.views}

    def state(self) -> np.ndarray:
        """observation.state: 7 joints, gripper opening (m), end-effector position (m)."""
        return self.obs[STATE_KEY]

    def ee_quaternion(self) -> np.ndarray:
        """(w, x, y, z) of the end effector in the world frame."""
        import mujoco

        q = np.empty(4)
        mujoco.mju_mat2Quat(q, self.sim.scene.ee_mat.ravel())
        return q

    def close(self) -> None:
        self.env.close()
