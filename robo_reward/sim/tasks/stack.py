"""stack: put the red cube on top of the blue cube."""

from __future__ import annotations

import numpy as np

from robo_reward.sim.scene import ObjectSpec, Scene
from robo_reward.sim.tasks.base import Evaluation, Task, Wordings, register
from robo_reward.sim.tasks.geometry import BLUE, CUBE_HALF, RED, place_cube, sample_xy
from robo_reward.sim.tasks.skills import (
    PICK_AND_PLACE_PHASES,
    PICK_RECOVERIES,
    evaluate_pick_place,
    pick,
    pick_place_start,
    place,
)
from robo_reward.sim.waypoints import Phase

CARRY_Z = 0.14  # above the bottom cube


@register
class Stack(Task):
    name = "stack"
    wordings = Wordings(
        train=(
            "stack the red cube on the blue cube",
            "put the red block on top of the blue block",
            "place the red cube onto the blue one",
            "build a tower with the red cube above the blue cube",
        ),
        held_out=("set the red cube on top of the blue cube", "pile the red block onto the blue block"),
    )
    num_stages = 4
    max_steps = 100
    objects = (ObjectSpec("cube", "cube", rgba=RED), ObjectSpec("cube", "base", rgba=BLUE))
    num_params = 2  # start distance gripper->red cube, start distance red->blue cube (xy)
    failure_modes = ("miss_grasp", "drop", "wrong_place", "stall")
    phase_names = PICK_AND_PLACE_PHASES
    recovery_options = PICK_RECOVERIES

    def initialize(self, scene: Scene, rng: np.random.Generator) -> None:
        cube = sample_xy(rng, [0.40, -0.20], [0.60, 0.20])
        base = sample_xy(rng, [0.40, -0.20], [0.60, 0.20], avoid=[cube], min_dist=0.15)
        place_cube(scene, "cube", cube, rng)
        place_cube(scene, "base", base, rng)

    def after_reset(self, scene: Scene) -> None:
        self.params[:] = pick_place_start(scene, "cube", scene.body_pos("base/cube"))

    def evaluate(self, scene: Scene) -> Evaluation:
        base = scene.body_pos("base/cube")
        ev = evaluate_pick_place(scene, "cube", base, self.params, table_z=base[2] + CUBE_HALF)
        base_upright = base[2] < CUBE_HALF + 0.01
        return Evaluation(ev.stage, ev.fraction, ev.success and base_upright)

    def plan(self, scene: Scene, rng: np.random.Generator, failure: str | None) -> list[Phase]:
        rest = lambda s: s.body_pos("base/cube")[2] + 2 * CUBE_HALF  # noqa: E731
        return [
            *pick("cube", failure, rng, lift_z=CARRY_Z),
            *place("cube", lambda s: s.body_pos("base/cube"), rest, failure, rng, carry_z=CARRY_Z),
        ]
