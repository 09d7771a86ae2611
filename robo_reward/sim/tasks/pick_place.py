"""pick_place: pick the red cube up and put it on the green pad."""

from __future__ import annotations

import numpy as np

from robo_reward.sim.rewards import blend, closeness, fraction
from robo_reward.sim.scene import GRIPPER_MAX, ObjectSpec, Scene
from robo_reward.sim.tasks.base import CUBE_HALF, RED, Evaluation, Task, sample_xy

LIFT = 0.06  # height above the table that counts as lifted
PLACE_TOL = 0.03  # cube centre within this (xy) of the pad centre
RELEASED = 1.2 * GRIPPER_MAX  # gripper opening (two fingers) that counts as let go


def xy_dist(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a)[:2] - np.asarray(b)[:2]))


class PickPlace(Task):
    name = "pick_place"
    instruction = "put the red cube on the green pad"
    paraphrases = (
        "pick up the red block and place it on the green target",
        "move the red cube onto the green circle",
        "place the red cube on the green marker",
    )
    num_stages = 4
    max_steps = 100
    objects = (ObjectSpec("cube", "cube", rgba=RED), ObjectSpec("pad", "pad"))
    num_params = 2  # start distance gripper->cube, start distance cube->pad (xy)
    cube = "cube"
    goal_body = "pad/pad"

    def initialize(self, scene: Scene, rng: np.random.Generator) -> None:
        cube = sample_xy(rng, [0.40, -0.20], [0.60, 0.20])
        pad = sample_xy(rng, [0.40, -0.22], [0.62, 0.22], avoid=[cube], min_dist=0.15)
        scene.set_free_pose("cube/joint", [*cube, CUBE_HALF], yaw=rng.uniform(-np.pi / 4, np.pi / 4))
        scene.set_mocap(self.goal_body, [*pad, 0.0])

    def goal_pos(self, scene: Scene) -> np.ndarray:
        return scene.body_pos(self.goal_body)

    def after_reset(self, scene: Scene) -> None:
        cube = scene.body_pos(f"{self.cube}/cube")
        self.params[:] = [np.linalg.norm(scene.ee_pos - cube), xy_dist(cube, self.goal_pos(scene))]

    def evaluate(self, scene: Scene) -> Evaluation:
        return evaluate_pick_place(self, scene, self.cube, self.goal_pos(scene), self.params, table_z=0.0)


def evaluate_pick_place(
    task: Task, scene: Scene, cube: str, goal: np.ndarray, params, table_z: float, stage_offset: int = 0
) -> Evaluation:
    """Stages: reach the cube, grasp and lift it, carry it over the goal, put it down and let go.

    `table_z` is the height of the surface the cube should end on (0 for the table, the top of the
    bottom cube for stack).
    """
    pos = scene.body_pos(f"{cube}/cube")
    geom = f"{cube}/geom"
    grasped = scene.grasped(geom)
    height = pos[2] - CUBE_HALF - table_z
    lift = pos[2] - CUBE_HALF
    over_goal = xy_dist(pos, goal) < PLACE_TOL
    on_goal = over_goal and abs(height) < 0.012
    released = scene.gripper_opening > RELEASED and not scene.hand_touching(geom)
    success = on_goal and released
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
