"""The waypoint machine the scripted experts run: a list of `Phase`s followed in the EE-delta action
space, with optional action noise (and its noise-free twin as the label), a rotation gain and recovery
(`Phase.holds` / `Phase.retry`). Each task builds its own plan (`Task.plan`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from robo_reward.sim.controller import POS_SCALE, ROT_SCALE, rotation_error
from robo_reward.sim.scene import Scene

DOWN = np.diag([1.0, -1.0, -1.0])  # gripper pointing down, closing along world y at yaw 0

Target = Callable[[Scene], np.ndarray]
OPEN, CLOSE = -1.0, 1.0  # gripper commands
MAX_RETRIES = 2


@dataclass
class Phase:
    """Move the gripper to `target(scene)` with the gripper at `grip`; done when within `tol` (and after
    `wait` more steps), when `until(scene)` holds, or after `timeout` steps."""

    name: str
    target: Target
    grip: float
    tol: float = 0.012
    speed: float = 0.7  # fraction of the largest step
    wait: int = 0
    timeout: int = 40
    until: Callable[[Scene], bool] | None = None
    yaw: Callable[[Scene], float] | None = None
    stall: bool = False  # a failure: hold still from here on
    # recovery: while `holds(scene)` is false, go back to the phase named `retry` (e.g. lost the cube)
    holds: Callable[[Scene], bool] | None = None
    retry: str | None = None
    # a staged mistake: this phase is executed, `label`'s action is recorded (the correction, not the error)
    label: Phase | None = None


def offset(target: Target, delta) -> Target:
    delta = np.asarray(delta, dtype=float)
    return lambda sc: target(sc) + delta


def body_yaw(scene: Scene, body: str) -> float:
    R = scene.data.xmat[scene.model.body(body).id].reshape(3, 3)
    return float(np.arctan2(R[1, 0], R[0, 0]))


def nearest_yaw(current: float, yaw: float, period: float) -> float:
    """The angle yaw + k*period closest to current."""
    return yaw + period * np.round((current - yaw) / period)


def rz(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


class WaypointExpert:
    """Runs `phases` (built per episode by `plan(scene, rng)`) and emits (7,) EE-delta actions.

    With `noise > 0` the arm part of each action gets Gaussian noise, in every phase or, with
    `noise_phases`, only in the phases of those names (e.g. the free-space moves, leaving the precise
    descend/grasp/release phases exact), and with `noise_rotation=False` only on the translation (not the
    rotation) dims; `clean_action` always holds the last action without it (the label
    for noise-injected demos, where the noisy action is executed). `label_action` is the action to record
    when the executed one is: the same action, except in a phase with a `label` (a staged mistake), where
    it is the noise-free action of the label phase. `rot_gain` < 1 turns the rotation
    from dead-beat (the whole error in one or two saturated steps) into a proportional servo that
    removes that fraction of the error per step, so the grasp yaw is aligned over the approach, while
    the wrist camera sees the cube, rather than in the first two steps of an episode; 0 never rotates (this
    expert's fingers still grip a cube turned by up to 45°, across its faces at an angle).
    """

    def __init__(
        self,
        env,
        plan: Callable[[Scene, np.random.Generator, str | None], list[Phase]],
        noise: float = 0.0,
        failure: str | None = None,
        rng: np.random.Generator | None = None,
        noise_phases: Iterable[str] | None = None,
        noise_rotation: bool = True,
        rot_gain: float = 1.0,
    ):
        if not 0.0 <= rot_gain <= 1.0:
            raise ValueError(f"rot_gain must be in [0, 1], got {rot_gain}")
        self.env = env.unwrapped
        self.rot_gain = float(rot_gain)
        self.plan, self.noise, self.failure = plan, float(noise), failure
        self.noise_phases = None if noise_phases is None else frozenset(noise_phases)
        self.noise_dims = 6 if noise_rotation else 3
        self.rng = rng if rng is not None else np.random.default_rng()
        self.phases: list[Phase] = []
        self.index = self.count = self.dwell = self.retries = 0
        self._episode_step = -1
        self.clean_action: np.ndarray | None = None
        self.label_action: np.ndarray | None = None

    def reset(self) -> None:
        self.phases = self.plan(self.env.scene, self.rng, self.failure)
        self.index = self.count = self.dwell = self.retries = 0

    @property
    def phase_name(self) -> str:
        return self.phases[self.index].name if self.index < len(self.phases) else "done"

    def act(self, obs=None, info=None) -> np.ndarray:
        step = self.env._steps
        if not self.phases or step == 0 and self._episode_step != 0:
            self.reset()
        self._episode_step = step
        sc = self.env.scene
        phase = self._advance(sc)
        if phase is None or phase.stall:
            a = np.zeros(7)
            a[6] = self.env.gripper_command() if phase is None else phase.grip
            self.clean_action = self.label_action = a.astype(np.float32)
            return self.clean_action.copy()
        a = self._action(sc, phase)
        clean = np.clip(a, -1.0, 1.0).astype(np.float32)
        if self.noise > 0 and (self.noise_phases is None or phase.name in self.noise_phases):
            a[: self.noise_dims] += self.rng.normal(0.0, self.noise, self.noise_dims)
        executed = np.clip(a, -1.0, 1.0).astype(np.float32)
        if phase.label is None:
            self.clean_action, self.label_action = clean, executed
        else:
            self.clean_action = self.label_action = np.clip(self._action(sc, phase.label), -1, 1).astype(
                np.float32
            )
        return executed

    def _action(self, sc: Scene, phase: Phase) -> np.ndarray:
        """The noise-free, unclipped action that moves toward `phase`'s target."""
        err = phase.target(sc) - sc.ee_pos
        limit = phase.speed * POS_SCALE
        norm = np.linalg.norm(err)
        move = err if norm <= limit else err * (limit / norm)
        yaw = sc.ee_yaw if phase.yaw is None else phase.yaw(sc)
        rot = rotation_error(rz(yaw) @ DOWN, sc.ee_mat)
        return np.concatenate([move / POS_SCALE, self.rot_gain * rot / ROT_SCALE, [phase.grip]])

    def _advance(self, sc: Scene) -> Phase | None:
        while self.index < len(self.phases):
            p = self.phases[self.index]
            if p.holds is not None and self.retries < MAX_RETRIES and not p.holds(sc):
                # the latest phase of that name before this one (a plan may repeat its phases)
                self.index = max(i for i, q in enumerate(self.phases[: self.index]) if q.name == p.retry)
                self.count = self.dwell = 0
                self.retries += 1
                continue
            reached = np.linalg.norm(p.target(sc) - sc.ee_pos) < p.tol if p.until is None else p.until(sc)
            self.dwell = self.dwell + 1 if reached else 0
            if not p.stall and (self.dwell > p.wait or self.count >= p.timeout):
                self.index, self.count, self.dwell = self.index + 1, 0, 0
                continue
            self.count += 1
            return p
        return None
