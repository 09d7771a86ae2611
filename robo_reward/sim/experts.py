"""Scripted experts: closed-loop waypoint machines in the EE-delta action space, one per task.

Each expert (a `robo_reward.sim.waypoints.WaypointExpert`) reads privileged state from
`env.unwrapped.scene` (object poses, drawer opening), moves the gripper through a list of `Phase`s and
can inject a failure (`FAILURE_MODES[task]`) that still makes
partial progress: `miss_grasp` (closes beside the object), `drop` (lets go while carrying), `wrong_place`
(puts it down off the goal), `stall` (stops moving part-way).

`regrasp=True` and `drop=True` stage a recovered mistake instead, and `align=True` moves the grasp
rotation to where the wrist camera sees the cube (`robo_reward.sim.staged`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from robo_reward.sim.scene import Scene
from robo_reward.sim.staged import align_above, staged_drop, staged_miss
from robo_reward.sim.tasks.base import CUBE_HALF
from robo_reward.sim.tasks.drawer_store import FLOOR_Z
from robo_reward.sim.tasks.open_drawer import drawer_opening, hook_point
from robo_reward.sim.tasks.push import behind_point
from robo_reward.sim.waypoints import (
    CLOSE,
    OPEN,
    Phase,
    Target,
    WaypointExpert,
    body_yaw,
    nearest_yaw,
    offset,
)

FAILURE_MODES: dict[str, tuple[str, ...]] = {
    "reach": ("wrong_place", "stall"),
    "push": ("wrong_place", "stall"),
    "pick_place": ("miss_grasp", "drop", "wrong_place", "stall"),
    "stack": ("miss_grasp", "drop", "wrong_place", "stall"),
    "open_drawer": ("miss_grasp", "stall"),
    "drawer_store": ("miss_grasp", "drop", "wrong_place", "stall"),
}


# --- building blocks -------------------------------------------------------------------------------
def cube_pos(name: str) -> Target:
    return lambda sc: sc.body_pos(f"{name}/cube")


def fixed(point) -> Target:
    point = np.asarray(point, dtype=float)
    return lambda sc: point


def holding_cube(cube: str) -> Callable[[Scene], bool]:
    return lambda sc: bool(np.linalg.norm(sc.body_pos(f"{cube}/cube") - sc.ee_pos) < 0.035)


def grasp_yaw(name: str) -> Callable[[Scene], float]:
    return lambda sc: nearest_yaw(sc.ee_yaw, body_yaw(sc, f"{name}/cube"), np.pi / 2)


def pick(cube: str, failure: str | None, rng: np.random.Generator, lift_z: float = 0.12) -> list[Phase]:
    """Above the cube → down → close → lift. `miss_grasp` closes 5 cm beside it."""
    miss = np.zeros(3)
    if failure == "miss_grasp":
        ang = rng.uniform(0, 2 * np.pi)
        miss = np.array([0.055 * np.cos(ang), 0.055 * np.sin(ang), 0.0])
    grasp = offset(cube_pos(cube), miss + [0.0, 0.0, 0.004])
    yaw = grasp_yaw(cube)
    return [
        Phase("above_cube", offset(grasp, [0, 0, 0.1]), OPEN, tol=0.012, yaw=yaw),
        Phase("descend", grasp, OPEN, tol=0.006, speed=0.5, yaw=yaw, timeout=25),
        Phase("close", grasp, CLOSE, tol=1.0, wait=3),
        Phase(
            "lift",
            lambda sc, g=grasp: np.array([*g(sc)[:2], lift_z]),
            CLOSE,
            tol=0.02,
            speed=0.8,
            holds=holding_cube(cube) if failure is None else None,
            retry="above_cube",
        ),
    ]


def holding(cube: str, target: Target) -> Target:
    """Turn a target for the held cube's centre into one for the gripper (corrects grasp offsets)."""

    def ee_target(sc: Scene) -> np.ndarray:
        if not sc.grasped(f"{cube}/geom"):
            return target(sc)
        return target(sc) + sc.ee_pos - sc.body_pos(f"{cube}/cube")

    return ee_target


def place(
    cube: str,
    goal: Target,
    rest_z: Callable[[Scene], float],
    failure: str | None,
    rng: np.random.Generator,
    carry_z: float = 0.12,
    wrong_offset=None,
) -> list[Phase]:
    """Carry the cube over the goal → lower it to `rest_z` (cube centre height) → open → retreat up.
    `wrong_place` puts it `wrong_offset` from the goal (default: 12 cm in a random direction)."""
    if failure == "wrong_place":
        if wrong_offset is None:
            ang = rng.uniform(0, 2 * np.pi)
            wrong_offset = [0.12 * np.cos(ang), 0.12 * np.sin(ang), 0.0]
        goal = offset(goal, wrong_offset)
    above = holding(cube, lambda sc: np.array([*goal(sc)[:2], carry_z]))
    down = holding(cube, lambda sc: np.array([*goal(sc)[:2], rest_z(sc) + 0.004]))
    carry = [Phase("carry", above, CLOSE, tol=0.015)]
    if failure == "drop":
        carry = [Phase("carry", above, CLOSE, timeout=1), Phase("drop", above, OPEN, wait=20, timeout=20)]
    if failure == "stall":
        carry = [Phase("carry", above, CLOSE, timeout=4), Phase("stall", above, CLOSE, stall=True)]
    if failure is None:  # a clean expert re-grasps a cube it has lost
        for p in carry:
            p.holds, p.retry = holding_cube(cube), "above_cube"
    return [
        *carry,
        Phase(
            "lower",
            down,
            CLOSE,
            tol=0.006,
            speed=0.4,
            timeout=25,
            holds=holding_cube(cube) if failure is None else None,
            retry="above_cube",
        ),
        Phase("release", down, OPEN, tol=1.0, wait=3),
        Phase("retreat", lambda sc: sc.ee_pos + [0, 0, 0.05], OPEN, timeout=2),
    ]


# --- per-task plans ----------------------------------------------------------------------------------
def plan_reach(sc: Scene, rng, failure):
    goal = sc.body_pos("target/target")
    if failure == "wrong_place":  # sideways of the straight path, so it never passes the goal
        d = (goal - sc.ee_pos)[:2] / max(np.linalg.norm((goal - sc.ee_pos)[:2]), 1e-6)
        goal = goal + 0.12 * rng.choice([-1, 1]) * np.array([-d[1], d[0], 0.0])
    if failure == "stall":
        mid = (sc.ee_pos + goal) / 2
        return [Phase("reach", fixed(mid), OPEN), Phase("stall", fixed(mid), OPEN, stall=True)]
    return [Phase("reach", fixed(goal), OPEN, tol=0.008, timeout=60)]


def plan_push(sc: Scene, rng, failure):
    goal = sc.body_pos("pad/pad")
    if failure == "wrong_place":
        cube = sc.body_pos("cube/cube")
        u = (goal - cube)[:2] / np.linalg.norm((goal - cube)[:2])
        goal = goal + 0.12 * np.array([-u[1], u[0], 0.0]) * rng.choice([-1, 1])
    behind = lambda s: behind_point(s.body_pos("cube/cube"), goal)  # noqa: E731

    def direction(s: Scene) -> np.ndarray:
        d = (goal - s.body_pos("cube/cube"))[:2]
        return np.array([*d / max(np.linalg.norm(d), 1e-6), 0.0])

    def yaw(s: Scene) -> float:
        u = direction(s)
        return nearest_yaw(s.ee_yaw, float(np.arctan2(u[1], u[0])), np.pi)

    def push_to(s: Scene) -> np.ndarray:
        # Push through the cube's centre toward the goal; if the pusher has drifted sideways off that
        # line, back off and realign first. Push depth shrinks near the goal so the cube does not coast.
        u, b = direction(s), behind(s)
        rel = (s.ee_pos - b) * [1, 1, 0]
        if np.linalg.norm(rel - (rel @ u) * u) > 0.012:
            return b - 0.015 * u + [0, 0, 0.003]
        remaining = np.linalg.norm((goal - s.body_pos("cube/cube"))[:2])
        return b + min(0.03, remaining + 0.005) * u + [0, 0, 0.003]

    phases = [
        Phase("above_behind", offset(behind, [0, 0, 0.08]), CLOSE, tol=0.012, yaw=yaw),
        Phase("descend", offset(behind, [0, 0, 0.003]), CLOSE, tol=0.008, speed=0.5, yaw=yaw),
    ]
    if failure == "stall":
        start = np.linalg.norm((goal - sc.body_pos("cube/cube"))[:2])
        half_way = lambda s: np.linalg.norm((goal - s.body_pos("cube/cube"))[:2]) < 0.75 * start  # noqa: E731
        return [
            *phases,
            Phase("push", push_to, CLOSE, speed=0.4, until=half_way),
            Phase("stall", push_to, CLOSE, stall=True),
        ]
    return [*phases, Phase("push", push_to, CLOSE, speed=0.4, tol=0.0, timeout=200, yaw=yaw)]


def plan_pick_place(sc: Scene, rng, failure):
    rest = lambda s: CUBE_HALF  # noqa: E731
    return [*pick("cube", failure, rng), *place("cube", lambda s: s.body_pos("pad/pad"), rest, failure, rng)]


def plan_stack(sc: Scene, rng, failure):
    rest = lambda s: s.body_pos("base/cube")[2] + 2 * CUBE_HALF  # noqa: E731
    return [
        *pick("cube", failure, rng, lift_z=0.14),
        *place("cube", lambda s: s.body_pos("base/cube"), rest, failure, rng, carry_z=0.14),
    ]


def open_drawer_phases(failure: str | None, open_to: float = 0.16) -> list[Phase]:
    hook: Target = hook_point
    if failure == "miss_grasp":  # closes on the robot side of the handle: the pull does nothing
        hook = offset(hook_point, [-0.07, 0.0, 0.0])
    pull = offset(hook, [-0.06, 0.0, 0.0])
    yaw0 = lambda s: nearest_yaw(s.ee_yaw, 0.0, np.pi)  # noqa: E731
    phases = [
        Phase("above_handle", offset(hook, [0, 0, 0.1]), CLOSE, tol=0.012, yaw=yaw0),
        Phase("hook", hook, CLOSE, tol=0.008, speed=0.5, yaw=yaw0, timeout=25),
    ]
    if failure == "stall":
        return [
            *phases,
            Phase("pull", pull, CLOSE, speed=0.5, until=lambda s: drawer_opening(s) > 0.05),
            Phase("stall", pull, CLOSE, stall=True),
        ]
    return [
        *phases,
        Phase(
            "pull", pull, CLOSE, speed=0.5, yaw=yaw0, timeout=40, until=lambda s: drawer_opening(s) >= open_to
        ),
    ]


def plan_open_drawer(sc: Scene, rng, failure):
    return open_drawer_phases(failure)


def plan_drawer_store(sc: Scene, rng, failure):
    inside = lambda s: s.site_pos("drawer/inside")  # noqa: E731
    rest = lambda s: s.body_pos("drawer/drawer")[2] + FLOOR_Z + CUBE_HALF  # noqa: E731
    handle = lambda s: s.site_pos("drawer/handle")  # noqa: E731
    push_from = offset(handle, [-0.04, 0.0, -0.01])
    yaw0 = lambda s: nearest_yaw(s.ee_yaw, 0.0, np.pi)  # noqa: E731
    pick_fail = failure if failure == "miss_grasp" else None
    place_fail = failure if failure in ("drop", "wrong_place") else None
    phases = [
        *open_drawer_phases(None),
        Phase("unhook", lambda s: hook_point(s) + [0, 0, 0.1], OPEN, tol=0.02),
        *pick("cube", pick_fail, rng, lift_z=0.16),
        # wrong_place: on the table beside the cabinet instead of in the drawer
        *place("cube", inside, rest, place_fail, rng, carry_z=0.16, wrong_offset=[0.0, -0.2, 0.0]),
    ]
    if failure == "stall":
        return [*phases, Phase("stall", inside, OPEN, stall=True)]
    return [
        *phases,
        Phase("above_front", offset(push_from, [0, 0, 0.1]), OPEN, tol=0.015, yaw=yaw0),
        Phase("down_front", push_from, CLOSE, tol=0.01, speed=0.5, yaw=yaw0),
        Phase(
            "push_closed",
            offset(push_from, [0.06, 0.0, 0.0]),
            CLOSE,
            speed=0.5,
            yaw=yaw0,
            timeout=60,
            until=lambda s: drawer_opening(s) < 0.004,
        ),
        Phase("back_off", offset(push_from, [-0.05, 0.0, 0.05]), OPEN),
    ]


# the phase names each task's plans use (over all failure modes); `noise_phases` must come from these
_PICK_AND_PLACE = (
    "above_cube",
    "descend",
    "close",
    "lift",
    "carry",
    "drop",
    "stall",
    "lower",
    "release",
    "retreat",
    "above_miss",
    "descend_miss",
    "close_miss",
    "reopen",
    "carry_slip",
    "slip",
    "close_empty",
)
PHASE_NAMES: dict[str, tuple[str, ...]] = {
    "reach": ("reach", "stall"),
    "push": ("above_behind", "descend", "push", "stall"),
    "pick_place": _PICK_AND_PLACE,
    "stack": _PICK_AND_PLACE,
    "open_drawer": ("above_handle", "hook", "pull", "stall"),
    "drawer_store": (
        ("above_handle", "hook", "pull", "unhook")
        + _PICK_AND_PLACE
        + ("above_front", "down_front", "push_closed", "back_off")
    ),
}

REGRASP_TASKS = ("pick_place", "stack", "drawer_store")

PLANS = {
    "reach": plan_reach,
    "push": plan_push,
    "pick_place": plan_pick_place,
    "stack": plan_stack,
    "open_drawer": plan_open_drawer,
    "drawer_store": plan_drawer_store,
}


def make_expert(
    env,
    noise: float = 0.0,
    failure: str | None = None,
    rng: np.random.Generator | None = None,
    noise_phases: Iterable[str] | None = None,
    noise_rotation: bool = True,
    rot_gain: float = 1.0,
    regrasp: bool = False,
    drop: bool = False,
    align: bool = False,
) -> WaypointExpert:
    """A scripted expert for the env's task; `failure` must be one of FAILURE_MODES[task] (or None).

    `noise_phases` (names from PHASE_NAMES[task]) limits the action noise to those phases; None: all.
    `noise_rotation=False` keeps the noise off the rotation dims. `rot_gain` [0, 1]: the fraction of the
    rotation error removed per step (1: dead-beat, the default; 0: the gripper keeps its start rotation).
    `regrasp`: the first grasp misses and is recovered (`staged_miss`; tasks with a cube to pick).
    `drop`: the first lifted cube slips out and is picked up again (`staged_drop`; the same tasks).
    `align`: the gripper turns to the grasp yaw above the cube, not at the start (`align_above`)."""
    task = env.unwrapped.task_name
    if task not in PLANS:
        raise KeyError(f"no scripted expert for task {task!r}")
    if failure is not None and failure not in FAILURE_MODES[task]:
        raise ValueError(f"failure {failure!r} not available for {task!r}: {FAILURE_MODES[task]}")
    if noise_phases is not None:
        noise_phases = tuple(noise_phases)
        if not noise_phases:
            raise ValueError(f"noise_phases is empty; name phases from {PHASE_NAMES[task]} (or None: all)")
        unknown = [p for p in noise_phases if p not in PHASE_NAMES[task]]
        if unknown:
            raise ValueError(
                f"unknown noise phase(s) {unknown} for {task!r}; its phases are {PHASE_NAMES[task]}"
            )
    picks = [name for name, on in (("align", align), ("regrasp", regrasp), ("drop", drop)) if on]
    if picks and task not in REGRASP_TASKS:
        raise ValueError(f"{'/'.join(picks)} needs a task that picks a cube {REGRASP_TASKS}, got {task!r}")
    plan = PLANS[task]
    if align:
        plan = lambda sc, rng, failure, base=plan: align_above(base(sc, rng, failure))  # noqa: E731
    for name, staged, stage in (("regrasp", regrasp, staged_miss), ("drop", drop, staged_drop)):
        if not staged:
            continue
        if failure is not None:
            raise ValueError(
                f"{name} stages a recovered mistake; it does not combine with failure {failure!r}"
            )
        plan = lambda sc, rng, failure, base=plan, stage=stage: stage(base(sc, rng, failure), rng)  # noqa: E731
    return WaypointExpert(
        env,
        plan,
        noise=noise,
        failure=failure,
        rng=rng,
        noise_phases=noise_phases,
        noise_rotation=noise_rotation,
        rot_gain=rot_gain,
    )
