"""drawer_store (long horizon): open the drawer, put the red cube inside, close the drawer."""

from __future__ import annotations

import numpy as np

from robo_reward.sim.primitives import blend, closeness, fraction
from robo_reward.sim.scene import ObjectSpec, Scene
from robo_reward.sim.tasks.base import Evaluation, Task, Wordings, register
from robo_reward.sim.tasks.geometry import (
    CUBE_HALF,
    DRAWER,
    DRAWER_OPEN,
    FLOOR_Z,
    LIFT,
    RED,
    RELEASED,
    cube_in_drawer,
    drawer_opening,
    hook_point,
    place_cabinet,
    place_cube,
    sample_xy,
    xy_dist,
)
from robo_reward.sim.tasks.skills import (
    OPEN_DRAWER_PHASES,
    PICK_AND_PLACE_PHASES,
    PICK_RECOVERIES,
    gripper_yaw_zero,
    open_drawer_phases,
    pick,
    place,
)
from robo_reward.sim.waypoints import CLOSE, OPEN, Phase, offset

CLOSED = 0.015
CARRY_Z = 0.16  # clears the open drawer's sides


@register
class DrawerStore(Task):
    name = "drawer_store"
    wordings = Wordings(
        train=(
            "put the red cube in the drawer and close it",
            "open the drawer, place the red block inside, then shut the drawer",
            "store the red cube in the drawer and close the drawer",
            "pull the drawer out, drop the red cube in it and push it closed",
        ),
        held_out=("tuck the red cube away in the drawer and shut it", "hide the red block inside the drawer"),
    )
    num_stages = 6
    max_steps = 200
    objects = (DRAWER, ObjectSpec("cube", "cube", rgba=RED))
    # start distances: gripper->hook point, open-handle->cube, cube->drawer inside
    num_params = 3
    failure_modes = ("miss_grasp", "drop", "wrong_place", "stall")
    phase_names = (
        OPEN_DRAWER_PHASES[:-1]
        + ("unhook",)
        + PICK_AND_PLACE_PHASES
        + ("above_front", "down_front", "push_closed", "back_off")
    )
    recovery_options = PICK_RECOVERIES

    def initialize(self, scene: Scene, rng: np.random.Generator) -> None:
        place_cabinet(scene, rng)
        place_cube(scene, "cube", sample_xy(rng, [0.40, -0.22], [0.55, -0.06]), rng)

    def after_reset(self, scene: Scene) -> None:
        cube = scene.body_pos("cube/cube")
        hook = hook_point(scene)
        opened_hook = hook - np.array([0.15, 0.0, 0.0])
        self.params[:] = [
            np.linalg.norm(scene.ee_pos - hook),
            np.linalg.norm(opened_hook - cube),
            xy_dist(cube, scene.site_pos("drawer/inside") - np.array([0.15, 0.0, 0.0])),
        ]

    def evaluate(self, scene: Scene) -> Evaluation:
        opening = drawer_opening(scene)
        cube = scene.body_pos("cube/cube")
        grasped = scene.grasped("cube/geom")
        # let go: not touching, and either opened or moved away (the gripper closes again to push)
        away = np.linalg.norm(scene.ee_pos - cube) > 0.06
        released = not scene.hand_touching("cube/geom") and (scene.gripper_opening > RELEASED or away)
        over, resting = cube_in_drawer(scene)
        success = resting and released and opening < CLOSED
        if resting and released:
            return Evaluation(5, fraction(DRAWER_OPEN - opening, DRAWER_OPEN - CLOSED), success)
        if over and (grasped or resting):
            height = cube[2] - CUBE_HALF - (scene.body_pos("drawer/drawer")[2] + FLOOR_Z)
            lowered = 1.0 - fraction(height, LIFT)
            opened = fraction(scene.gripper_opening, RELEASED) * resting
            return Evaluation(4, blend((1, lowered), (1, opened)), success)
        lift = cube[2] - CUBE_HALF
        if grasped and lift > 0.5 * LIFT:
            return Evaluation(
                3, closeness(xy_dist(cube, scene.site_pos("drawer/inside")), self.params[2], 0.02), success
            )
        if opening >= DRAWER_OPEN or grasped:
            reach = 0.6 * closeness(float(np.linalg.norm(scene.ee_pos - cube)), self.params[1], 0.01)
            return Evaluation(2, reach + 0.4 * grasped * fraction(lift, 0.5 * LIFT), success)
        if opening > 0.01 or np.linalg.norm(scene.ee_pos - hook_point(scene)) < 0.02:
            return Evaluation(1, fraction(opening, DRAWER_OPEN), success)
        d = float(np.linalg.norm(scene.ee_pos - hook_point(scene)))
        return Evaluation(0, 0.95 * closeness(d, self.params[0], 0.02), success)

    def plan(self, scene: Scene, rng: np.random.Generator, failure: str | None) -> list[Phase]:
        inside = lambda s: s.site_pos("drawer/inside")  # noqa: E731
        rest = lambda s: s.body_pos("drawer/drawer")[2] + FLOOR_Z + CUBE_HALF  # noqa: E731
        handle = lambda s: s.site_pos("drawer/handle")  # noqa: E731
        push_from = offset(handle, [-0.04, 0.0, -0.01])
        pick_fail = failure if failure == "miss_grasp" else None
        place_fail = failure if failure in ("drop", "wrong_place") else None
        phases = [
            *open_drawer_phases(None),
            Phase("unhook", lambda s: hook_point(s) + [0, 0, 0.1], OPEN, tol=0.02),
            *pick("cube", pick_fail, rng, lift_z=CARRY_Z),
            # wrong_place: on the table beside the cabinet instead of in the drawer
            *place("cube", inside, rest, place_fail, rng, carry_z=CARRY_Z, wrong_offset=[0.0, -0.2, 0.0]),
        ]
        if failure == "stall":
            return [*phases, Phase("stall", inside, OPEN, stall=True)]
        return [
            *phases,
            Phase("above_front", offset(push_from, [0, 0, 0.1]), OPEN, tol=0.015, yaw=gripper_yaw_zero),
            Phase("down_front", push_from, CLOSE, tol=0.01, speed=0.5, yaw=gripper_yaw_zero),
            Phase(
                "push_closed",
                offset(push_from, [0.06, 0.0, 0.0]),
                CLOSE,
                speed=0.5,
                yaw=gripper_yaw_zero,
                timeout=60,
                until=lambda s: drawer_opening(s) < 0.004,
            ),
            Phase("back_off", offset(push_from, [-0.05, 0.0, 0.05]), OPEN),
        ]
