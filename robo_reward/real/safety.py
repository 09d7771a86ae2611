"""The safety layer between a policy and an arm: limits (clamp + report), watchdog, e-stop; no ROS.

- `SafetyFilter` clamps every command before it leaves the policy node: joint position limits, a
  per-joint velocity limit (a target may move at most v_max·dt from the previous one), the gripper
  range, Cartesian speed limits for twist commands and an end-effector box (a twist may not carry
  the end effector out of it; from outside it may only move back in). Each clamp is reported with
  its reason and counted, never silent.
- `Watchdog`: the arm holds when the newest synced observation is older than `timeout` seconds.
- `EStop`: latches on `trigger()` and stays engaged until an explicit `reset()`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class SafetyLimits:
    joint_lower: np.ndarray  # (J,) rad
    joint_upper: np.ndarray  # (J,) rad
    max_joint_velocity: np.ndarray  # (J,) rad/s
    gripper_min: float = -1.0
    gripper_max: float = 1.0
    ee_box_min: np.ndarray = field(default_factory=lambda: np.full(3, -np.inf))  # (3,) m, robot base frame
    ee_box_max: np.ndarray = field(default_factory=lambda: np.full(3, np.inf))
    max_linear_speed: float = np.inf  # m/s
    max_angular_speed: float = np.inf  # rad/s
    watchdog_timeout: float = 0.5  # s

    def __post_init__(self) -> None:
        lo, hi = np.asarray(self.joint_lower, float), np.asarray(self.joint_upper, float)
        v = np.broadcast_to(np.asarray(self.max_joint_velocity, float), lo.shape).copy()
        if lo.shape != hi.shape or np.any(lo > hi):
            raise ValueError(f"joint limits need lower <= upper of equal length, got {lo} / {hi}")
        if np.any(v <= 0):
            raise ValueError(f"max_joint_velocity must be > 0, got {v}")
        if self.watchdog_timeout <= 0:
            raise ValueError(f"watchdog_timeout must be > 0 s, got {self.watchdog_timeout}")
        object.__setattr__(self, "joint_lower", lo)
        object.__setattr__(self, "joint_upper", hi)
        object.__setattr__(self, "max_joint_velocity", v)
        object.__setattr__(self, "ee_box_min", np.asarray(self.ee_box_min, float))
        object.__setattr__(self, "ee_box_max", np.asarray(self.ee_box_max, float))

    @classmethod
    def from_config(cls, robot: dict, safety: dict) -> SafetyLimits:
        """From a rig's robot.yaml (joint limits) and safety.yaml (everything else)."""
        joints = robot["joints"]
        margin = float(safety.get("joint_limit_margin", 0.0))
        box = safety.get("ee_box", {})
        return cls(
            joint_lower=[j["lower"] + margin for j in joints],
            joint_upper=[j["upper"] - margin for j in joints],
            max_joint_velocity=[
                min(j.get("max_velocity", np.inf), safety["max_joint_velocity"]) for j in joints
            ],
            gripper_min=min(float(robot["gripper"]["open"]), float(robot["gripper"]["closed"])),
            gripper_max=max(float(robot["gripper"]["open"]), float(robot["gripper"]["closed"])),
            ee_box_min=box.get("min", [-np.inf] * 3),
            ee_box_max=box.get("max", [np.inf] * 3),
            max_linear_speed=float(safety.get("max_linear_speed", np.inf)),
            max_angular_speed=float(safety.get("max_angular_speed", np.inf)),
            watchdog_timeout=float(safety["watchdog_timeout"]),
        )


@dataclass(frozen=True)
class SafetyReport:
    reasons: tuple[str, ...] = ()

    @property
    def clamped(self) -> bool:
        return bool(self.reasons)


class SafetyFilter:
    """Clamp commands to `limits`; `counts[reason]` tallies every clamp since construction."""

    def __init__(self, limits: SafetyLimits) -> None:
        self.limits = limits
        self.counts: Counter[str] = Counter()

    def _report(self, reasons: list[str]) -> SafetyReport:
        self.counts.update(reasons)
        return SafetyReport(tuple(reasons))

    def joints(self, target: np.ndarray, reference: np.ndarray, dt: float) -> tuple[np.ndarray, SafetyReport]:
        """Joint position target → safe target. `reference`: the previous target (or measured joints)."""
        lim = self.limits
        target = np.asarray(target, float).copy()
        reference = np.asarray(reference, float)
        if target.shape != lim.joint_lower.shape:
            raise ValueError(f"joint command has {target.shape} values, the arm has {lim.joint_lower.shape}")
        reasons = []
        if not np.all(np.isfinite(target)):
            return np.clip(reference, lim.joint_lower, lim.joint_upper), self._report(["non_finite"])
        clipped = np.clip(target, lim.joint_lower, lim.joint_upper)
        if np.any(clipped != target):
            reasons.append("joint_limit")
        max_step = lim.max_joint_velocity * max(dt, 0.0)
        stepped = np.clip(clipped, reference - max_step, reference + max_step)
        if np.any(stepped != clipped):
            reasons.append("joint_velocity")
        return stepped, self._report(reasons)

    def gripper(self, command: float) -> tuple[float, SafetyReport]:
        lim = self.limits
        if not np.isfinite(command):
            return lim.gripper_min, self._report(["non_finite"])
        out = float(np.clip(command, lim.gripper_min, lim.gripper_max))
        return out, self._report(["gripper_limit"] if out != command else [])

    def twist(
        self, linear: np.ndarray, angular: np.ndarray, ee_position: np.ndarray | None, dt: float
    ) -> tuple[np.ndarray, np.ndarray, SafetyReport]:
        """Cartesian velocity (m/s, rad/s) → safe velocity; the box needs the current EE position."""
        lim = self.limits
        linear, angular = np.asarray(linear, float).copy(), np.asarray(angular, float).copy()
        if not (np.all(np.isfinite(linear)) and np.all(np.isfinite(angular))):
            return np.zeros(3), np.zeros(3), self._report(["non_finite"])
        reasons = []
        for vec, vmax, reason in ((linear, lim.max_linear_speed, "linear_speed"),
                                  (angular, lim.max_angular_speed, "angular_speed")):  # fmt: skip
            speed = float(np.linalg.norm(vec))
            if speed > vmax:
                vec *= vmax / speed
                reasons.append(reason)
        if ee_position is not None and dt > 0:
            p = np.asarray(ee_position, float)
            nxt = p + linear * dt
            # allowed next position per axis: the box, widened to include p (so from outside the
            # box an axis may only move back towards it)
            inside = np.clip(nxt, np.minimum(lim.ee_box_min, p), np.maximum(lim.ee_box_max, p))
            if np.any(np.abs(inside - nxt) > 1e-12):
                linear = (inside - p) / dt
                reasons.append("ee_box")
        return linear, angular, self._report(reasons)


class Watchdog:
    """Expired when the newest observation stamp is older than `timeout` (or none arrived yet)."""

    def __init__(self, timeout: float) -> None:
        if timeout <= 0:
            raise ValueError(f"watchdog timeout must be > 0 s, got {timeout}")
        self.timeout = float(timeout)
        self.last_stamp: float | None = None
        self.trips = 0
        self._expired = True

    def feed(self, stamp: float) -> None:
        if self.last_stamp is None or stamp > self.last_stamp:
            self.last_stamp = float(stamp)

    def age(self, now: float) -> float:
        return np.inf if self.last_stamp is None else now - self.last_stamp

    def expired(self, now: float) -> bool:
        expired = self.age(now) > self.timeout
        if expired and not self._expired:
            self.trips += 1
        self._expired = expired
        return expired

    def reset(self) -> None:
        self.last_stamp = None
        self._expired = True


class EStop:
    """A latching emergency stop: once triggered it stays engaged until `reset()`."""

    def __init__(self) -> None:
        self.engaged = False
        self.reason = ""
        self.triggers = 0

    def trigger(self, reason: str = "e-stop") -> None:
        if not self.engaged:
            self.triggers += 1
        self.engaged, self.reason = True, reason

    def reset(self) -> None:
        self.engaged, self.reason = False, ""
