"""The safety layer between a policy and an arm: limits (clamp + report), watchdog, e-stop; no ROS.

- `SafetyFilter` clamps every command before it leaves the policy node: joint position limits, a
  per-joint velocity limit (a target may move at most v_max·dt from the previous one), the gripper
  range, Cartesian speed limits for twist commands and an end-effector box (a twist may not carry
  the end effector out of it; from outside it may only move back in). Each clamp is reported with
  its reason and counted, never silent.
- `Watchdog`: the arm holds when the newest synced observation is older than `timeout` seconds.
Non-finite values are reported here and resolved by `robo_reward.real.command_gate.CommandGate`,
the final gate of every command (holds included): finite and inside the limits, always.
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
        """A NaN/inf command stays as it is (reported): the CommandGate holds the last finite one,
        where any fixed fallback (open or closed) could drop or crush what the gripper holds."""
        lim = self.limits
        if not np.isfinite(command):
            return float(command), self._report(["non_finite"])
        out = float(np.clip(command, lim.gripper_min, lim.gripper_max))
        return out, self._report(["gripper_limit"] if out != command else [])

    def twist(
        self, linear: np.ndarray, angular: np.ndarray, ee_position: np.ndarray | None, dt: float
    ) -> tuple[np.ndarray, np.ndarray, SafetyReport]:
        """Cartesian velocity (m/s, rad/s) → safe velocity; the box needs the current EE position.

        A NaN/inf velocity, or an EE position with a NaN/inf axis (the box cannot be enforced without
        it), gives a zero twist."""
        lim = self.limits
        linear, angular = np.asarray(linear, float).copy(), np.asarray(angular, float).copy()
        if not (np.all(np.isfinite(linear)) and np.all(np.isfinite(angular))):
            return np.zeros(3), np.zeros(3), self._report(["non_finite"])
        reasons = []
        linear, clamped = limit_norm(linear, lim.max_linear_speed)
        reasons += ["linear_speed"] if clamped else []
        angular, clamped = limit_norm(angular, lim.max_angular_speed)
        reasons += ["angular_speed"] if clamped else []
        if ee_position is not None and dt > 0:
            p = np.asarray(ee_position, float)
            if not np.all(np.isfinite(p)):
                return np.zeros(3), np.zeros(3), self._report(["non_finite_ee_position"])
            nxt = p + linear * dt
            # allowed next position per axis: the box, widened to include p (so from outside the
            # box an axis may only move back towards it)
            inside = np.clip(nxt, np.minimum(lim.ee_box_min, p), np.maximum(lim.ee_box_max, p))
            if np.any(np.abs(inside - nxt) > 1e-12):
                linear = (inside - p) / dt
                reasons.append("ee_box")
        return linear, angular, self._report(reasons)


def limit_norm(vec: np.ndarray, vmax: float) -> tuple[np.ndarray, bool]:
    """`vec` scaled down (direction kept) to norm `vmax` if longer; (vector, whether it was scaled).

    The norm is taken of `vec / max|vec|`, so values near the float range do not overflow to inf."""
    vec = np.asarray(vec, float)
    peak = float(np.max(np.abs(vec))) if vec.size else 0.0
    if peak == 0.0:
        return vec.copy(), False
    unit = vec / peak
    norm = float(np.linalg.norm(unit))  # in [1, sqrt(len(vec))]
    if peak * norm <= vmax * (1 + 1e-9):
        return vec.copy(), False
    return unit * (vmax / norm), True


class Watchdog:
    """Expired when the newest observation stamp is older than `timeout` (or none arrived yet).

    Time cannot freeze it: a stamp ahead of the clock counts as "now" (`clamped`), so the age is
    never negative; and when the clock itself has gone back behind the newest stamp (a clock step),
    the age is unknown, so the watchdog expires until an observation stamped in the new time
    arrives (`clock_steps`).
    """

    def __init__(self, timeout: float) -> None:
        if timeout <= 0:
            raise ValueError(f"watchdog timeout must be > 0 s, got {timeout}")
        self.timeout = float(timeout)
        self.last_stamp: float | None = None
        self.trips = 0
        self.clamped = 0
        self.clock_steps = 0
        self._expired = True

    def feed(self, stamp: float, now: float) -> None:
        """An observation stamped `stamp` arrived at `now` (both s, the node's clock)."""
        if stamp > now:
            stamp = now
            self.clamped += 1
        behind_clock = self.last_stamp is not None and self.last_stamp > now
        if self.last_stamp is None or stamp > self.last_stamp or behind_clock:
            self.last_stamp = float(stamp)

    def age(self, now: float) -> float:
        if self.last_stamp is None:
            return np.inf
        age = now - self.last_stamp
        return age if age >= 0 else np.inf  # negative: the clock went back past the newest stamp

    def expired(self, now: float) -> bool:
        expired = self.age(now) > self.timeout
        if expired and not self._expired:
            self.trips += 1
            if self.last_stamp is not None and now < self.last_stamp:
                self.clock_steps += 1
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
