"""The last step before the arm: every command the policy node publishes passes `CommandGate`.

`CommandGate.admit(command)` returns a command that is finite and inside the absolute limits, or
None when nothing safe can be sent. Policy commands, holds, the e-stop hold and the deactivate hold
all go through it inside `PolicyRunner`, and the node's command publisher admits again whatever it
is handed (a no-op for an admitted command), so no publish path bypasses it.

- joints: a target with a NaN/inf (or the wrong number of values) holds the last admitted target;
  before any target was admitted there is nothing safe to send (None). Then each joint is clipped
  to [lower, upper].
- twist: a NaN/inf in the linear or angular part sends a zero twist; speeds are scaled (direction
  kept) to `max_linear_speed` / `max_angular_speed`.
- gripper: NaN/inf holds the last admitted gripper command (none yet: no gripper command); clipped
  to the gripper range.
Rate limits (joint velocity, the end-effector box) stay in `SafetyFilter`, which knows the previous
target and the measured pose: applied to a hold they would turn it into a motion.
Every intervention is counted by reason and added to the command's `reasons`, which the node logs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

import numpy as np

from robo_reward.real.safety import SafetyLimits, limit_norm


@dataclass
class Command:
    """One command for the arm. `joints` for joint interfaces, `linear`/`angular` for twist."""

    hold: bool
    gripper: float | None
    joints: np.ndarray | None = None
    linear: np.ndarray | None = None
    angular: np.ndarray | None = None
    obs_stamp: float | None = None  # stamp of the observation the action was computed from
    first_of_chunk: bool = False
    reasons: tuple[str, ...] = ()  # why it holds, or which safety limits clamped it


def _finite(x: np.ndarray | None, size: int) -> np.ndarray | None:
    """`x` as float64 (size,) when it has that many values, all finite; else None."""
    if x is None:
        return None
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    return a if a.size == size and np.all(np.isfinite(a)) else None


class CommandGate:
    """Finite and inside limits, always (see the module docstring)."""

    def __init__(self, limits: SafetyLimits, action_space: str) -> None:
        if action_space not in ("joint", "ee_delta"):
            raise ValueError(f"action_space must be joint or ee_delta, got {action_space!r}")
        self.limits, self.action_space = limits, action_space
        self.last_joints: np.ndarray | None = None
        self.last_gripper: float | None = None
        self.counts: Counter[str] = Counter()
        self.refused = 0  # commands with nothing safe to send

    def admit(self, command: Command | None) -> Command | None:
        if command is None:
            return None
        reasons: list[str] = []
        gripper = self._gripper(command.gripper, reasons)
        if self.action_space == "joint":
            joints = self._joints(command.joints, reasons)
            if joints is None:
                self.refused += 1
                self.counts.update(dict.fromkeys(reasons, 1))
                return None
            out = replace(command, joints=joints, linear=None, angular=None, gripper=gripper)
        else:
            linear, angular = self._twist(command.linear, command.angular, reasons)
            out = replace(command, joints=None, linear=linear, angular=angular, gripper=gripper)
        reasons = list(dict.fromkeys(reasons))  # one count per reason and command
        if "gate_non_finite" in reasons:
            out.hold = True
        out.reasons = command.reasons + tuple(r for r in reasons if r not in command.reasons)
        self.counts.update(reasons)
        return out

    def _joints(self, joints: np.ndarray | None, reasons: list[str]) -> np.ndarray | None:
        lim = self.limits
        target = _finite(joints, lim.joint_lower.size)
        if target is None:
            reasons.append("gate_non_finite")
            if self.last_joints is None:
                return None
            target = self.last_joints
        clipped = np.clip(target, lim.joint_lower, lim.joint_upper)
        if np.any(clipped != target):
            reasons.append("gate_joint_limit")
        self.last_joints = clipped
        return clipped.copy()

    def _twist(
        self, linear: np.ndarray | None, angular: np.ndarray | None, reasons: list[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        lin, ang = _finite(linear, 3), _finite(angular, 3)
        if lin is None or ang is None:
            reasons.append("gate_non_finite")
            return np.zeros(3), np.zeros(3)
        lin, lin_clamped = limit_norm(lin, self.limits.max_linear_speed)
        ang, ang_clamped = limit_norm(ang, self.limits.max_angular_speed)
        if lin_clamped or ang_clamped:
            reasons.append("gate_speed")
        return lin, ang

    def _gripper(self, gripper: float | None, reasons: list[str]) -> float | None:
        if gripper is None:
            return None
        lim = self.limits
        g = float(gripper)
        if not np.isfinite(g):
            reasons.append("gate_non_finite")
            return self.last_gripper
        out = float(np.clip(g, lim.gripper_min, lim.gripper_max))
        if out != g:
            reasons.append("gate_gripper_limit")
        self.last_gripper = out
        return out
