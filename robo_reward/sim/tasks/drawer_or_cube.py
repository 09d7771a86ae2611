"""drawer_or_cube (grounding): a closed drawer, a red cube and a green pad; the instruction says whether
to open the drawer or to put the cube on the pad."""

from __future__ import annotations

import numpy as np

from robo_reward.sim.scene import ObjectSpec, Scene
from robo_reward.sim.tasks.base import Evaluation, Wordings, register
from robo_reward.sim.tasks.geometry import (
    DRAWER,
    RED,
    drawer_opening,
    hook_point,
    place_cabinet,
    place_cube,
    sample_xy,
)
from robo_reward.sim.tasks.grounding import GroundingTask, Subtask
from robo_reward.sim.tasks.skills import (
    FIRM_GRASP,
    OPEN_DRAWER_PHASES,
    drawer_opened,
    evaluate_open_drawer,
    evaluate_pick_place,
    open_drawer_phases,
    pick_and_place_on_table,
    pick_place_start,
    placed,
)
from robo_reward.sim.waypoints import Phase

DRAWER_TASK = Wordings(
    train=(
        "open the drawer",
        "pull the drawer open",
        "slide the drawer out by its handle",
        "pull out the drawer",
    ),
    held_out=("draw the drawer out by its handle", "get the drawer open"),
)
CUBE_TASK = Wordings(
    train=(
        "pick up the red cube and place it on the green pad",
        "move the red cube to the green pad",
        "put the red block on the green target",
        "place the red cube on the green circle",
    ),
    held_out=(
        "set the red cube down on the green pad",
        "leave the drawer shut and put the red cube on the green pad",
    ),
)


@register
class DrawerOrCube(GroundingTask):
    name = "drawer_or_cube"
    subtasks = {"drawer": Subtask(DRAWER_TASK, 2), "cube": Subtask(CUBE_TASK, 4)}
    max_steps = 100
    objects = (DRAWER, ObjectSpec("cube", "cube", rgba=RED), ObjectSpec("pad", "pad"))
    # instructed task; drawer: start distance gripper->hook point, start opening; cube: start distances
    # gripper->cube, cube->pad (xy)
    num_params = 3
    failure_modes = ("wrong_task", "miss_grasp", "stall")  # wrong_task: does the other one
    phase_names = (
        *OPEN_DRAWER_PHASES,
        *("above_cube", "descend", "close", "lift", "carry", "lower", "release", "retreat"),
    )

    def initialize(self, scene: Scene, rng: np.random.Generator) -> None:
        place_cabinet(scene, rng, opening=rng.uniform(0.0, 0.02))
        # on the robot's right, clear of the drawer's travel (y > 0.06)
        cube = sample_xy(rng, [0.40, -0.24], [0.58, -0.04])
        pad = sample_xy(rng, [0.38, -0.26], [0.60, -0.02], avoid=[cube], min_dist=0.15)
        place_cube(scene, "cube", cube, rng)
        scene.set_mocap("pad/pad", [*pad, 0.0])

    def after_reset(self, scene: Scene) -> None:
        if self.subtask == "drawer":
            self.params[1:] = [np.linalg.norm(scene.ee_pos - hook_point(scene)), drawer_opening(scene)]
        else:
            self.params[1:] = pick_place_start(scene, "cube", scene.body_pos("pad/pad"))

    def evaluate_subtask(self, scene: Scene, subtask: str) -> Evaluation:
        if subtask == "drawer":
            return evaluate_open_drawer(scene, self.params[1], self.params[2])
        return evaluate_pick_place(scene, "cube", scene.body_pos("pad/pad"), self.params[1:], table_z=0.0)

    def succeeded(self, scene: Scene, subtask: str) -> bool:
        if subtask == "drawer":
            return drawer_opened(scene)
        return placed(scene, "cube", scene.body_pos("pad/pad"), table_z=0.0)

    def plan(self, scene: Scene, rng: np.random.Generator, failure: str | None) -> list[Phase]:
        subtask = self.other() if failure == "wrong_task" else self.subtask
        failure = None if failure == "wrong_task" else failure
        if subtask == "drawer":
            return open_drawer_phases(failure)
        return pick_and_place_on_table("cube", lambda s: s.body_pos("pad/pad"), failure, rng, FIRM_GRASP)
