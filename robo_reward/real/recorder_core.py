"""The recorder's logic without ROS: synced observations + the commands sent → `Episode`s.

Frame t holds the observation of bundle t and, as its action, the last command sent before bundle
t+1 arrived (the command in force after observing frame t, as `Episode.action` is defined); the last
frame's action is the last command before `stop()`. Before any command the action is "hold" (the
measured joints, or zero velocity). Commands are stored in the policy's action space: joint
positions + gripper action, or — for twist — the ee_delta action that produces that velocity.
A command or observation that cannot be recorded (NaN/inf, the wrong number of values, a state
without the arm's joints) raises BadInput and leaves the episode as it was: no NaN is written.
"""

from __future__ import annotations

import numpy as np

from robo_reward.data.episode import Episode
from robo_reward.real.bundles import SyncedObservation
from robo_reward.real.inputs import BadInput, finite_vector, float32_vector
from robo_reward.real.policy_core import ArmSpec


class EpisodeRecorder:
    def __init__(self, arm: ArmSpec, action_space: str, fps: float, max_frames: int = 10_000) -> None:
        if action_space not in ("joint", "ee_delta"):
            raise ValueError(f"action_space must be joint or ee_delta, got {action_space!r}")
        self.arm, self.action_space, self.fps, self.max_frames = arm, action_space, float(fps), max_frames
        self.recording = False
        self.task = ""
        self.frames: list[SyncedObservation] = []
        self.actions: list[np.ndarray] = []
        self.command: np.ndarray | None = None
        self.gripper_action = 0.0
        self.dropped = 0
        self.last_state_names: tuple[str, ...] = ()

    @property
    def action_dim(self) -> int:
        return len(self.arm.joint_names) + 1 if self.action_space == "joint" else 7

    def start(self, task: str) -> None:
        self.recording, self.task = True, task
        self.frames, self.actions, self.command = [], [], None

    def set_joint_command(self, positions: np.ndarray) -> None:
        joints = float32_vector(positions, "joint command", size=len(self.arm.joint_names))
        self.command = np.append(joints, np.float32(self.gripper_action))

    def set_twist_command(self, linear: np.ndarray, angular: np.ndarray) -> None:
        linear = finite_vector(linear, "twist linear", size=3)
        angular = finite_vector(angular, "twist angular", size=3)
        with np.errstate(over="ignore"):  # beyond float32 becomes inf, refused just below
            action = self.arm.twist_action(linear, angular, 0.0, 1.0 / self.fps)
        self.command = float32_vector(action, "twist as an ee_delta action")
        self.command[-1] = self.gripper_action

    def set_gripper_command(self, command: float) -> None:
        (value,) = finite_vector([command], "gripper command", size=1)
        self.gripper_action = self.arm.gripper_action(value)
        if self.command is not None:
            self.command[-1] = self.gripper_action

    def _hold(self, obs: SyncedObservation) -> np.ndarray:
        if self.action_space == "ee_delta":
            a = np.zeros(7, np.float32)
        else:
            idx = {n: i for i, n in enumerate(obs.state_names)}
            a = np.array([obs.state[idx[n]] for n in self.arm.joint_names] + [0.0], np.float32)
        a[-1] = self.gripper_action
        return a

    def _current_action(self) -> np.ndarray:
        return self.command.copy() if self.command is not None else self._hold(self.frames[-1])

    def add(self, obs: SyncedObservation) -> None:
        if not self.recording:
            return
        if not np.all(np.isfinite(obs.state)):
            raise BadInput("observation state has NaN/inf: not recorded", "non_finite")
        if self.action_space == "joint" and not set(self.arm.joint_names) <= set(obs.state_names):
            raise BadInput(
                f"observation state {list(obs.state_names)} lacks the arm's joints {list(self.arm.joint_names)}",
                "missing_joints",
            )
        if len(self.frames) >= self.max_frames:
            self.dropped += 1
            return
        if self.frames:
            self.actions.append(self._current_action())
        self.frames.append(obs)

    def stop(self, outcome: str = "success") -> Episode | None:
        """End the episode; None when it holds no frame."""
        self.recording = False
        if not self.frames:
            return None
        self.actions.append(self._current_action())
        views = {v: np.stack([f.images[v] for f in self.frames]) for v in self.frames[0].images}
        stamps = np.array([f.stamp for f in self.frames], np.float64)
        episode = Episode(
            views=views,
            state=np.stack([f.state for f in self.frames]).astype(np.float32),
            action=np.stack(self.actions).astype(np.float32),
            task=self.task,
            fps=self.fps,
            outcome=outcome,
            extras={"ros_stamp": (stamps - stamps[0]).astype(np.float32)},
        )
        self.last_state_names = self.frames[0].state_names
        self.frames, self.actions = [], []
        return episode
