"""drawer_store (long horizon): open the drawer, put the red cube inside, close the drawer."""

from __future__ import annotations

import numpy as np

from robo_reward.sim.rewards import blend, closeness, fraction
from robo_reward.sim.scene import ObjectSpec, Scene
from robo_reward.sim.tasks.base import CUBE_HALF, RED, Evaluation, Task, sample_xy
from robo_reward.sim.tasks.open_drawer import DRAWER, OPEN, drawer_opening, hook_point, place_cabinet
from robo_reward.sim.tasks.pick_place import LIFT, RELEASED, xy_dist

CLOSED = 0.015
FLOOR_Z = 0.016  # drawer floor top, in the drawer frame
INTERIOR_LO = np.array([-0.108, -0.09])  # drawer interior (xy, drawer frame)
INTERIOR_HI = np.array([0.10, 0.09])


def cube_in_drawer(scene: Scene, margin: float = 0.0) -> tuple[bool, bool]:
    """(over the drawer interior, resting on the drawer floor)."""
    local = scene.body_pos("cube/cube") - scene.body_pos("drawer/drawer")
    inset = CUBE_HALF - margin
    over = bool(np.all(local[:2] > INTERIOR_LO + inset) and np.all(local[:2] < INTERIOR_HI - inset))
    resting = over and abs(local[2] - CUBE_HALF - FLOOR_Z) < 0.012
    return over, resting


class DrawerStore(Task):
    name = "drawer_store"
    instruction = "put the red cube in the drawer and close it"
    paraphrases = (
        "open the drawer, place the red block inside, then shut the drawer",
        "store the red cube in the drawer and close the drawer",
        "pull the drawer out, drop the red cube in it and push it closed",
    )
    num_stages = 6
    max_steps = 200
    objects = (DRAWER, ObjectSpec("cube", "cube", rgba=RED))
    # start distances: gripper->hook point, open-handle->cube, cube->drawer inside
    num_params = 3

    def initialize(self, scene: Scene, rng: np.random.Generator) -> None:
        place_cabinet(scene, rng)
        cube = sample_xy(rng, [0.40, -0.22], [0.55, -0.06])
        scene.set_free_pose("cube/joint", [*cube, CUBE_HALF], yaw=rng.uniform(-np.pi / 4, np.pi / 4))

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
            return Evaluation(5, fraction(OPEN - opening, OPEN - CLOSED), success)
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
        if opening >= OPEN or grasped:
            reach = 0.6 * closeness(float(np.linalg.norm(scene.ee_pos - cube)), self.params[1], 0.01)
            return Evaluation(2, reach + 0.4 * grasped * fraction(lift, 0.5 * LIFT), success)
        if opening > 0.01 or np.linalg.norm(scene.ee_pos - hook_point(scene)) < 0.02:
            return Evaluation(1, fraction(opening, OPEN), success)
        d = float(np.linalg.norm(scene.ee_pos - hook_point(scene)))
        return Evaluation(0, 0.95 * closeness(d, self.params[0], 0.02), success)
