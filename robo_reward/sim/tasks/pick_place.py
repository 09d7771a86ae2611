"""pick_place: pick the red cube up and put it on the green pad."""

from __future__ import annotations

import numpy as np

from robo_reward.sim.scene import ObjectSpec, Scene
from robo_reward.sim.tasks.base import Evaluation, Task, Wordings, register
from robo_reward.sim.tasks.geometry import RED, place_cube, sample_xy
from robo_reward.sim.tasks.skills import (
    PICK_AND_PLACE_PHASES,
    PICK_RECOVERIES,
    evaluate_pick_place,
    pick_and_place_on_table,
    pick_place_start,
)
from robo_reward.sim.waypoints import Phase


@register
class PickPlace(Task):
    name = "pick_place"
    wordings = Wordings(
        train=(
            "put the red cube on the green pad",
            "pick up the red block and place it on the green target",
            "move the red cube onto the green circle",
            "place the red cube on the green marker",
        ),
        held_out=(
            "set the red cube down on the green pad",
            "lift the red block and drop it onto the green disc",
        ),
    )
    num_stages = 4
    max_steps = 100
    objects = (ObjectSpec("cube", "cube", rgba=RED), ObjectSpec("pad", "pad"))
    num_params = 2  # start distance gripper->cube, start distance cube->pad (xy)
    failure_modes = ("miss_grasp", "drop", "wrong_place", "stall")
    phase_names = PICK_AND_PLACE_PHASES
    recovery_options = PICK_RECOVERIES

    def initialize(self, scene: Scene, rng: np.random.Generator) -> None:
        cube = sample_xy(rng, [0.40, -0.20], [0.60, 0.20])
        pad = sample_xy(rng, [0.40, -0.22], [0.62, 0.22], avoid=[cube], min_dist=0.15)
        place_cube(scene, "cube", cube, rng)
        scene.set_mocap("pad/pad", [*pad, 0.0])

    def after_reset(self, scene: Scene) -> None:
        self.params[:] = pick_place_start(scene, "cube", scene.body_pos("pad/pad"))

    def evaluate(self, scene: Scene) -> Evaluation:
        return evaluate_pick_place(scene, "cube", scene.body_pos("pad/pad"), self.params, table_z=0.0)

    def plan(self, scene: Scene, rng: np.random.Generator, failure: str | None) -> list[Phase]:
        return pick_and_place_on_table("cube", lambda s: s.body_pos("pad/pad"), failure, rng)
