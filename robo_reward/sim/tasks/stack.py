"""stack: put the red cube on top of the blue cube."""

from __future__ import annotations

import numpy as np

from robo_reward.sim.scene import ObjectSpec, Scene
from robo_reward.sim.tasks.base import BLUE, CUBE_HALF, RED, Evaluation, Task, sample_xy
from robo_reward.sim.tasks.pick_place import evaluate_pick_place, xy_dist


class Stack(Task):
    name = "stack"
    instruction = "stack the red cube on the blue cube"
    paraphrases = (
        "put the red block on top of the blue block",
        "place the red cube onto the blue one",
        "build a tower with the red cube above the blue cube",
    )
    num_stages = 4
    max_steps = 100
    objects = (ObjectSpec("cube", "cube", rgba=RED), ObjectSpec("cube", "base", rgba=BLUE))
    num_params = 2
    cube = "cube"

    def initialize(self, scene: Scene, rng: np.random.Generator) -> None:
        cube = sample_xy(rng, [0.40, -0.20], [0.60, 0.20])
        base = sample_xy(rng, [0.40, -0.20], [0.60, 0.20], avoid=[cube], min_dist=0.15)
        scene.set_free_pose("cube/joint", [*cube, CUBE_HALF], yaw=rng.uniform(-np.pi / 4, np.pi / 4))
        scene.set_free_pose("base/joint", [*base, CUBE_HALF], yaw=rng.uniform(-np.pi / 4, np.pi / 4))

    def goal_pos(self, scene: Scene) -> np.ndarray:
        return scene.body_pos("base/cube")

    def after_reset(self, scene: Scene) -> None:
        cube = scene.body_pos("cube/cube")
        self.params[:] = [np.linalg.norm(scene.ee_pos - cube), xy_dist(cube, self.goal_pos(scene))]

    def evaluate(self, scene: Scene) -> Evaluation:
        base = self.goal_pos(scene)
        ev = evaluate_pick_place(self, scene, "cube", base, self.params, table_z=base[2] + CUBE_HALF)
        base_upright = base[2] < CUBE_HALF + 0.01
        return Evaluation(ev.stage, ev.fraction, ev.success and base_upright)
