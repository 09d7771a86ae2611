"""pick_place_color (grounding): a red and a blue cube and one white target; the instruction says which
cube goes on the target."""

from __future__ import annotations

import numpy as np

from robo_reward.sim.scene import ObjectSpec, Scene
from robo_reward.sim.tasks.base import Evaluation, Wordings, register
from robo_reward.sim.tasks.geometry import BLUE, RED, WHITE, place_cube, sample_xy
from robo_reward.sim.tasks.grounding import GroundingTask, Subtask
from robo_reward.sim.tasks.skills import (
    FIRM_GRASP,
    PICK_AND_PLACE_PHASES,
    PICK_RECOVERIES,
    evaluate_pick_place,
    pick_and_place_on_table,
    pick_place_start,
    placed,
)
from robo_reward.sim.waypoints import Phase


def _wordings(colour: str) -> Wordings:
    return Wordings(
        train=(
            f"put the {colour} cube on the white target",
            f"place the {colour} block on the white pad",
            f"pick up the {colour} cube and set it on the white circle",
            f"move the {colour} cube onto the white target",
        ),
        held_out=(
            f"carry the {colour} block over to the white target",
            f"get the {colour} cube onto the white disc",
        ),
    )


@register
class PickPlaceColor(GroundingTask):
    name = "pick_place_color"
    subtasks = {"red": Subtask(_wordings("red"), 4), "blue": Subtask(_wordings("blue"), 4)}
    max_steps = 100
    objects = (
        ObjectSpec("cube", "red", rgba=RED),
        ObjectSpec("cube", "blue", rgba=BLUE),
        ObjectSpec("pad", "pad", rgba=WHITE),
    )
    num_params = 3  # instructed cube; start distances gripper->that cube, that cube->target (xy)
    # wrong_object: the other cube goes on the target
    failure_modes = ("wrong_object", "miss_grasp", "drop", "wrong_place", "stall")
    phase_names = PICK_AND_PLACE_PHASES
    recovery_options = PICK_RECOVERIES

    def initialize(self, scene: Scene, rng: np.random.Generator) -> None:
        red = sample_xy(rng, [0.40, -0.20], [0.60, 0.20])
        blue = sample_xy(rng, [0.40, -0.20], [0.60, 0.20], avoid=[red], min_dist=0.12)
        pad = sample_xy(rng, [0.40, -0.22], [0.62, 0.22], avoid=[red, blue], min_dist=0.15)
        place_cube(scene, "red", red, rng)
        place_cube(scene, "blue", blue, rng)
        scene.set_mocap("pad/pad", [*pad, 0.0])

    def after_reset(self, scene: Scene) -> None:
        self.params[1:] = pick_place_start(scene, self.subtask, scene.body_pos("pad/pad"))

    def evaluate_subtask(self, scene: Scene, subtask: str) -> Evaluation:
        return evaluate_pick_place(scene, subtask, scene.body_pos("pad/pad"), self.params[1:], table_z=0.0)

    def succeeded(self, scene: Scene, subtask: str) -> bool:
        return placed(scene, subtask, scene.body_pos("pad/pad"), table_z=0.0)

    def plan(self, scene: Scene, rng: np.random.Generator, failure: str | None) -> list[Phase]:
        pad = lambda s: s.body_pos("pad/pad")  # noqa: E731
        if failure == "wrong_object":
            return pick_and_place_on_table(self.other(), pad, None, rng, FIRM_GRASP)
        return pick_and_place_on_table(self.subtask, pad, failure, rng, FIRM_GRASP)
