"""The policy node's logic without ROS: the action-chunk buffer, and the runner that turns
observations into safe commands at the control rate.

    observe(bundle) ── infer() ─ backend → chunk (H, A) ─ first n_action_steps → ChunkBuffer
    tick(now) ─ e-stop? watchdog? buffer empty? → hold : pop action → command → SafetyFilter
              ─ CommandGate (every command, holds included) → Command

Action spaces (the policy's) and command interfaces (the arm's):
- `joint`: action = J joint position targets + gripper → `joint_trajectory` or `position_array`;
- `ee_delta`: action = (dx, dy, dz, drx, dry, drz, gripper) in [-1, 1] → `twist`, a velocity
  (linear = d·position_scale / control_period, angular likewise) plus the gripper on its own topic.
Holding means: joint interfaces repeat the joint positions measured when the hold began; twist sends
zero velocity. The gripper keeps its last command either way (a hold must not drop the object).
`observe` refuses (BadInput) observations it cannot act on: stamped in the future, not newer than
the newest one, a state without the arm's joints, with a NaN/inf, or with a joint reading further
than `joint_reading_tolerance` outside the limits (a hold would otherwise command the arm there).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from robo_reward.real.backends import Backend
from robo_reward.real.bundles import SyncedObservation
from robo_reward.real.command_gate import Command, CommandGate
from robo_reward.real.inputs import DEFAULT_MAX_STAMP_LEAD, BadInput, check_stamp
from robo_reward.real.safety import EStop, SafetyFilter, Watchdog

__all__ = ["ACTION_SPACES", "COMMAND_INTERFACES", "ArmSpec", "ChunkBuffer", "Command", "PolicyRunner"]

ACTION_SPACES = ("joint", "ee_delta")
COMMAND_INTERFACES = {"joint_trajectory": "joint", "position_array": "joint", "twist": "ee_delta"}
EE_POSITION_NAMES = ("ee_x", "ee_y", "ee_z")


@dataclass(frozen=True)
class ArmSpec:
    """What the runner needs to know about the arm (from a rig's robot.yaml)."""

    joint_names: tuple[str, ...]
    gripper_joint: str = "gripper"
    position_scale: float = 0.05  # metres per unit of an ee_delta action
    rotation_scale: float = 0.25  # radians per unit of an ee_delta action
    gripper_open: float = -1.0  # robot gripper command for action -1 (open)
    gripper_closed: float = 1.0  # robot gripper command for action +1 (closed)

    @classmethod
    def from_config(cls, robot: dict) -> ArmSpec:
        g, ee = robot["gripper"], robot.get("ee_delta", {})
        return cls(
            joint_names=tuple(j["name"] for j in robot["joints"]),
            gripper_joint=g["joint"],
            position_scale=float(ee.get("position_scale", 0.05)),
            rotation_scale=float(ee.get("rotation_scale", 0.25)),
            gripper_open=float(g["open"]),
            gripper_closed=float(g["closed"]),
        )

    @property
    def state_names(self) -> tuple[str, ...]:
        """The default observation.state layout: joints, gripper, end-effector position."""
        return (*self.joint_names, self.gripper_joint, *EE_POSITION_NAMES)

    def gripper_command(self, action: float) -> float:
        """Policy gripper action in [-1, 1] (+1 closes) → robot gripper command (linear; the
        safety filter clamps an action outside [-1, 1] to the gripper range, and reports it)."""
        a = float(action)
        return self.gripper_open + (a + 1.0) * 0.5 * (self.gripper_closed - self.gripper_open)

    def gripper_action(self, command: float) -> float:
        """Inverse of `gripper_command`: robot gripper command → action in [-1, 1]."""
        span = self.gripper_closed - self.gripper_open
        return float(np.clip(2.0 * (command - self.gripper_open) / span - 1.0, -1.0, 1.0)) if span else 0.0

    def twist_action(
        self, linear: np.ndarray, angular: np.ndarray, gripper: float, period: float
    ) -> np.ndarray:
        """Inverse of the ee_delta → twist mapping: a velocity held for `period` s → (7,) action."""
        return np.concatenate(
            [
                np.asarray(linear) * period / self.position_scale,
                np.asarray(angular) * period / self.rotation_scale,
                [self.gripper_action(gripper)],
            ]
        ).astype(np.float32)


# -- chunk buffer and runner ------------------------------------------------------------------------


@dataclass
class ChunkBuffer:
    """Actions still to execute from the newest chunk (receding horizon: a new chunk replaces them)."""

    actions: deque = field(default_factory=deque)
    obs_stamp: float | None = None
    fresh: bool = False  # the next pop is the first action of a new chunk

    def fill(self, chunk: np.ndarray, n_steps: int, obs_stamp: float) -> None:
        with np.errstate(over="ignore"):  # a huge value becomes inf, which the gate refuses
            self.actions = deque(np.asarray(chunk, np.float32)[: max(1, n_steps)])
        self.obs_stamp, self.fresh = obs_stamp, len(self.actions) > 0

    def pop(self) -> tuple[np.ndarray, float | None, bool] | None:
        if not self.actions:
            return None
        first, self.fresh = self.fresh, False
        return self.actions.popleft(), self.obs_stamp, first

    def clear(self) -> None:
        self.actions.clear()
        self.fresh = False

    def __len__(self) -> int:
        return len(self.actions)


class PolicyRunner:
    """Observation in, command out, with safety on every command. Not thread-safe: lock around it."""

    def __init__(
        self,
        backend: Backend,
        arm: ArmSpec,
        safety: SafetyFilter,
        action_space: str,
        control_period: float,
        task: str,
        n_action_steps: int = 4,
        replan_threshold: int = 0,
        max_stamp_lead: float = DEFAULT_MAX_STAMP_LEAD,
        joint_reading_tolerance: float = 0.1,
    ) -> None:
        if action_space not in ACTION_SPACES:
            raise ValueError(f"action_space must be one of {ACTION_SPACES}, got {action_space!r}")
        want = len(arm.joint_names) + 1 if action_space == "joint" else 7
        if backend.action_dim != want:
            raise ValueError(
                f"{action_space} actions for this arm have {want} values, the policy gives {backend.action_dim}"
            )
        self.backend, self.arm, self.safety = backend, arm, safety
        self.action_space, self.dt, self.task = action_space, float(control_period), task
        self.n_action_steps, self.replan_threshold = n_action_steps, replan_threshold
        self.max_stamp_lead, self.joint_reading_tolerance = max_stamp_lead, joint_reading_tolerance
        self.gate = CommandGate(safety.limits, action_space)
        self.watchdog = Watchdog(safety.limits.watchdog_timeout)
        self.estop = EStop()
        self.buffer = ChunkBuffer()
        self.active = False
        self.newest: SyncedObservation | None = None
        self._used_stamp: int | None = None
        self._hold_joints: np.ndarray | None = None
        self._last_joints: np.ndarray | None = None  # previous safe joint target (velocity limit)
        self.counts = {"inferences": 0, "commands": 0, "holds": 0}

    # observations -------------------------------------------------------------------------------
    def observe(self, obs: SyncedObservation, now: float) -> None:
        """Take a synced observation received at `now` (s, the node's clock); BadInput if unusable."""
        check_stamp(obs.stamp, now, self.max_stamp_lead)
        self._check_state(obs)
        if self.newest is not None and self.newest.stamp > now + self.max_stamp_lead:
            self.newest = None  # the clock went back: the newest stamp lies in its future
        if self.newest is not None and obs.stamp_ns <= self.newest.stamp_ns:
            raise BadInput(
                f"observation stamp {obs.stamp:.3f} is not newer than {self.newest.stamp:.3f}",
                "backwards_stamp",
            )
        self.newest = obs
        self.watchdog.feed(obs.stamp, now)

    def _check_state(self, obs: SyncedObservation) -> None:
        state = np.asarray(obs.state, dtype=np.float64)
        if not np.all(np.isfinite(state)):
            raise BadInput(f"observation state has NaN/inf: {state.tolist()}", "non_finite")
        try:
            joints, _, _ = self.measured(obs)
        except (KeyError, IndexError):
            raise BadInput(
                f"observation state {list(obs.state_names)} lacks the arm's joints {list(self.arm.joint_names)}",
                "missing_joints",
            ) from None
        lim, tol = self.safety.limits, self.joint_reading_tolerance
        outside = (joints < lim.joint_lower - tol) | (joints > lim.joint_upper + tol)
        if outside.any():
            names = [n for n, o in zip(self.arm.joint_names, outside, strict=True) if o]
            raise BadInput(
                f"joint readings {names} lie more than {tol} rad outside the safety limits: "
                "a faulty sensor, or robot.yaml limits that do not fit this arm",
                "implausible_joints",
            )

    def measured(
        self, obs: SyncedObservation | None = None
    ) -> tuple[np.ndarray | None, np.ndarray | None, float | None]:
        """(joint positions, EE position or None, gripper) of an observation, by state name."""
        obs = obs or self.newest
        if obs is None:
            return None, None, None
        names = obs.state_names or self.arm.state_names[: len(obs.state)]
        idx = {n: i for i, n in enumerate(names)}
        joints = np.array([obs.state[idx[n]] for n in self.arm.joint_names], float)
        ee = (
            np.array([obs.state[idx[n]] for n in EE_POSITION_NAMES], float)
            if all(n in idx for n in EE_POSITION_NAMES)
            else None
        )
        g = float(obs.state[idx[self.arm.gripper_joint]]) if self.arm.gripper_joint in idx else None
        return joints, ee, g

    # inference ----------------------------------------------------------------------------------
    def wants_inference(self) -> bool:
        return (
            self.active
            and not self.estop.engaged
            and self.newest is not None
            and self.newest.stamp_ns != self._used_stamp
            and len(self.buffer) <= self.replan_threshold
        )

    def take_observation(self) -> tuple[SyncedObservation, dict] | None:
        """The observation to infer from (marks it used), or None when no inference is due."""
        if not self.wants_inference():
            return None
        obs = self.newest
        self._used_stamp = obs.stamp_ns
        return obs, obs.contract(self.task)

    def set_chunk(self, obs: SyncedObservation, chunk: np.ndarray) -> None:
        self.counts["inferences"] += 1
        if self.active and not self.estop.engaged:
            self.buffer.fill(chunk, self.n_action_steps, obs.stamp)

    # commands -----------------------------------------------------------------------------------
    def hold_reason(self, now: float) -> str | None:
        if self.estop.engaged:
            return "estop"
        if not self.active:
            return "inactive"
        if self.watchdog.expired(now):
            return "watchdog"
        if not self.buffer:
            return "no_action"
        return None

    def tick(self, now: float) -> Command | None:
        """The command to publish now; None when nothing can be sent (no joint state seen yet)."""
        reason = self.hold_reason(now)
        if reason is not None:
            if reason in ("estop", "watchdog", "inactive"):
                self.buffer.clear()
            return self.hold(reason)
        action, obs_stamp, first = self.buffer.pop()
        cmd = self._admit(self._command(action))
        if cmd is not None:
            cmd.obs_stamp, cmd.first_of_chunk = obs_stamp, first
            self._hold_joints = None
            self.counts["commands"] += 1
        return cmd

    def hold(self, reason: str) -> Command | None:
        self.counts["holds"] += 1
        gripper = self.gate.last_gripper
        if self.action_space == "ee_delta":
            return self._admit(
                Command(True, gripper, linear=np.zeros(3), angular=np.zeros(3), reasons=(reason,))
            )
        if self._hold_joints is None:
            joints, _, _ = self.measured()
            if joints is None:
                return None
            self._hold_joints = joints
        cmd = self._admit(Command(True, gripper, joints=self._hold_joints.copy(), reasons=(reason,)))
        if cmd is not None:
            self._hold_joints = cmd.joints.copy()  # a refused reading holds the admitted target
        return cmd

    def _admit(self, cmd: Command) -> Command | None:
        """Every command leaves through the gate; the runner continues from what it let through."""
        out = self.gate.admit(cmd)
        if out is not None and out.joints is not None:
            self._last_joints = out.joints.copy()
        return out

    def _command(self, action: np.ndarray) -> Command:
        joints_now, ee_now, _ = self.measured()
        gripper, g_rep = self.safety.gripper(self.arm.gripper_command(action[-1]))
        if self.action_space == "ee_delta":
            with np.errstate(over="ignore"):  # inf is refused by the filter and the gate
                lin = action[:3] * self.arm.position_scale / self.dt
                ang = action[3:6] * self.arm.rotation_scale / self.dt
            lin, ang, rep = self.safety.twist(lin, ang, ee_now, self.dt)
            return Command(False, gripper, linear=lin, angular=ang, reasons=rep.reasons + g_rep.reasons)
        reference = self._last_joints if self._last_joints is not None else joints_now
        target, rep = self.safety.joints(action[:-1], reference, self.dt)
        return Command(False, gripper, joints=target, reasons=rep.reasons + g_rep.reasons)

    def activate(self) -> None:
        """Start commanding, from fresh observations only (nothing from before stays in force)."""
        self.active = True
        self._last_joints = None
        self._hold_joints = None
        self.newest, self._used_stamp = None, None
        self.watchdog.reset()

    def deactivate(self) -> Command | None:
        """Stop moving: drop the chunk and return the hold command to send last."""
        self.active = False
        self.buffer.clear()
        return self.hold("inactive")
