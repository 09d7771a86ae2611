"""Skills several tasks share, each as its staged evaluation and its scripted-expert phases: pick a cube
and place it (pick_place, stack, drawer_store, the grounding scenes) and open the drawer.

The expert's failures make partial progress: `miss_grasp` (closes beside the object), `drop` (lets go
while carrying), `wrong_place` (puts it down off the goal), `stall` (stops moving part-way).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from robo_reward.sim.primitives import blend, closeness, fraction
from robo_reward.sim.scene import Scene
from robo_reward.sim.tasks.base import Evaluation
from robo_reward.sim.tasks.geometry import (
    CUBE_HALF,
    DRAWER_OPEN,
    LIFT,
    PLACE_TOL,
    RELEASED,
    drawer_opening,
    hook_point,
    xy_dist,
)
from robo_reward.sim.waypoints import CLOSE, OPEN, Phase, Target, body_yaw, nearest_yaw, offset

# every phase name a pick-and-place plan uses, over its failures and staged recoveries (staged.py)
PICK_AND_PLACE_PHASES = (
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
PICK_RECOVERIES = ("regrasp", "drop", "align")


@dataclass(frozen=True)
class Grasp:
    """Where the gripper closes (`z` above the cube's centre) and how fast it lifts (`lift_speed`)."""

    z: float = 0.004
    lift_speed: float = 0.8


# A held cube slides down the finger pads while it is lifted; with the first tasks' grasp (kept so their
# datasets stay as they were) it slips out in 2-10 % of episodes and is picked up again, which makes
# progress fall back. Closing 8 mm below the centre and lifting at half the speed keeps the slide under
# 12 mm (no slip in 100 seeds per grounding task).
FIRM_GRASP = Grasp(z=-0.008, lift_speed=0.4)
OPEN_DRAWER_PHASES = ("above_handle", "hook", "pull", "stall")


# --- pick and place: staged evaluation -------------------------------------------------------------
def evaluate_pick_place(
    scene: Scene, cube: str, goal: np.ndarray, params, table_z: float, stage_offset: int = 0
) -> Evaluation:
    """Stages: reach the cube, grasp and lift it, carry it over the goal, put it down and let go.

    `params` holds the start distances gripper→cube and cube→goal (xy); `table_z` is the height of
    the surface the cube should end on (0 for the table, the top of the bottom cube for stack).
    """
    pos = scene.body_pos(f"{cube}/cube")
    grasped = scene.grasped(f"{cube}/geom")
    height = pos[2] - CUBE_HALF - table_z
    lift = pos[2] - CUBE_HALF
    over_goal = xy_dist(pos, goal) < PLACE_TOL
    on_goal = over_goal and abs(height) < 0.012
    success = placed(scene, cube, goal, table_z)
    s = stage_offset
    if over_goal and (grasped or on_goal):
        lowered = 1.0 - fraction(height, LIFT)
        return Evaluation(
            s + 3, blend((1, lowered), (1, fraction(scene.gripper_opening, RELEASED) * on_goal)), success
        )
    if grasped and lift > 0.5 * LIFT:
        return Evaluation(s + 2, closeness(xy_dist(pos, goal), params[1], PLACE_TOL), success)
    if grasped:
        return Evaluation(s + 1, blend((1, 1.0), (3, fraction(lift, 0.5 * LIFT))), success)
    d = float(np.linalg.norm(scene.ee_pos - pos))
    return Evaluation(s, 0.9 * closeness(d, params[0], 0.01), success)


def placed(scene: Scene, cube: str, goal: np.ndarray, table_z: float) -> bool:
    """The pick-and-place success: `<cube>/` rests on the surface at `table_z` over `goal`, let go."""
    pos = scene.body_pos(f"{cube}/cube")
    on_goal = xy_dist(pos, goal) < PLACE_TOL and abs(pos[2] - CUBE_HALF - table_z) < 0.012
    released = scene.gripper_opening > RELEASED and not scene.hand_touching(f"{cube}/geom")
    return bool(on_goal and released)


def pick_place_start(scene: Scene, cube: str, goal: np.ndarray) -> list[float]:
    """The `params` of `evaluate_pick_place`: start distances gripper→cube and cube→goal (xy)."""
    pos = scene.body_pos(f"{cube}/cube")
    return [float(np.linalg.norm(scene.ee_pos - pos)), xy_dist(pos, goal)]


# --- open the drawer: staged evaluation ------------------------------------------------------------
def drawer_opened(scene: Scene) -> bool:
    return drawer_opening(scene) >= DRAWER_OPEN


def evaluate_open_drawer(scene: Scene, start_distance: float, start_opening: float) -> Evaluation:
    """Stages: hook the fingers behind the handle, pull the drawer open (to DRAWER_OPEN)."""
    opening = drawer_opening(scene)
    hooked = np.linalg.norm(scene.ee_pos - hook_point(scene)) < 0.02
    if hooked or opening > start_opening + 0.01:
        return Evaluation(
            1, fraction(opening - start_opening, DRAWER_OPEN - start_opening), drawer_opened(scene)
        )
    d = float(np.linalg.norm(scene.ee_pos - hook_point(scene)))
    return Evaluation(0, 0.95 * closeness(d, start_distance, 0.02), False)


# --- expert building blocks ------------------------------------------------------------------------
def cube_pos(name: str) -> Target:
    return lambda sc: sc.body_pos(f"{name}/cube")


def fixed(point) -> Target:
    point = np.asarray(point, dtype=float)
    return lambda sc: point


def holding_cube(cube: str) -> Callable[[Scene], bool]:
    return lambda sc: bool(np.linalg.norm(sc.body_pos(f"{cube}/cube") - sc.ee_pos) < 0.035)


def grasp_yaw(name: str) -> Callable[[Scene], float]:
    return lambda sc: nearest_yaw(sc.ee_yaw, body_yaw(sc, f"{name}/cube"), np.pi / 2)


def pick(
    cube: str,
    failure: str | None,
    rng: np.random.Generator,
    lift_z: float = 0.12,
    grasp: Grasp = Grasp(),
) -> list[Phase]:
    """Above the cube → down → close (`grasp`) → lift. `miss_grasp` closes 5 cm beside it."""
    miss = np.zeros(3)
    if failure == "miss_grasp":
        ang = rng.uniform(0, 2 * np.pi)
        miss = np.array([0.055 * np.cos(ang), 0.055 * np.sin(ang), 0.0])
    at = offset(cube_pos(cube), miss + [0.0, 0.0, grasp.z])
    yaw = grasp_yaw(cube)
    return [
        Phase("above_cube", offset(at, [0, 0, 0.1]), OPEN, tol=0.012, yaw=yaw),
        Phase("descend", at, OPEN, tol=0.006, speed=0.5, yaw=yaw, timeout=25),
        Phase("close", at, CLOSE, tol=1.0, wait=3),
        Phase(
            "lift",
            lambda sc, g=at: np.array([*g(sc)[:2], lift_z]),
            CLOSE,
            tol=0.02,
            speed=grasp.lift_speed,
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


def pick_and_place_on_table(
    cube: str, goal: Target, failure: str | None, rng: np.random.Generator, grasp: Grasp = Grasp()
) -> list[Phase]:
    """Pick `<cube>/` and put it on the table at `goal` (a pad, a target)."""
    rest = lambda s: CUBE_HALF  # noqa: E731
    return [*pick(cube, failure, rng, grasp=grasp), *place(cube, goal, rest, failure, rng)]


def gripper_yaw_zero(s: Scene) -> float:
    """The yaw (mod π) nearest the gripper's that closes the fingers along world y (facing the drawer)."""
    return nearest_yaw(s.ee_yaw, 0.0, np.pi)


def open_drawer_phases(failure: str | None, open_to: float = 0.16) -> list[Phase]:
    """Above the handle → down behind the bar (fingers closed) → pull toward the robot."""
    hook: Target = hook_point
    if failure == "miss_grasp":  # closes on the robot side of the handle: the pull does nothing
        hook = offset(hook_point, [-0.07, 0.0, 0.0])
    pull = offset(hook, [-0.06, 0.0, 0.0])
    phases = [
        Phase("above_handle", offset(hook, [0, 0, 0.1]), CLOSE, tol=0.012, yaw=gripper_yaw_zero),
        Phase("hook", hook, CLOSE, tol=0.008, speed=0.5, yaw=gripper_yaw_zero, timeout=25),
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
            "pull",
            pull,
            CLOSE,
            speed=0.5,
            yaw=gripper_yaw_zero,
            timeout=40,
            until=lambda s: drawer_opening(s) >= open_to,
        ),
    ]
