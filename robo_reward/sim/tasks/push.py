"""push: push the red cube (without picking it up) onto the green pad."""

from __future__ import annotations

import numpy as np

from robo_reward.sim.rewards import closeness
from robo_reward.sim.scene import ObjectSpec, Scene
from robo_reward.sim.tasks.base import CUBE_HALF, RED, Evaluation, Task
from robo_reward.sim.tasks.pick_place import xy_dist

TOL = 0.03
BEHIND = 0.055  # distance from the cube centre to the pushing point behind it


def behind_point(cube: np.ndarray, goal: np.ndarray) -> np.ndarray:
    u = (goal[:2] - cube[:2]) / max(xy_dist(goal, cube), 1e-6)
    return np.array([*(cube[:2] - BEHIND * u), CUBE_HALF])


class Push(Task):
    name = "push"
    instruction = "push the red cube onto the green pad"
    paraphrases = (
        "slide the red block to the green target",
        "shove the red cube over to the green circle",
        "push the red block until it is on the green marker",
    )
    num_stages = 2
    max_steps = 80
    objects = (ObjectSpec("cube", "cube", rgba=RED), ObjectSpec("pad", "pad"))
    num_params = 2  # start distance gripper->pushing point, start distance cube->pad

    def initialize(self, scene: Scene, rng: np.random.Generator) -> None:
        for _ in range(200):
            cube = rng.uniform([0.40, -0.15], [0.56, 0.15])
            angle = rng.uniform(-np.pi, np.pi)
            goal = cube + rng.uniform(0.12, 0.18) * np.array([np.cos(angle), np.sin(angle)])
            if 0.36 <= goal[0] <= 0.62 and abs(goal[1]) <= 0.22:
                break
        scene.set_free_pose("cube/joint", [*cube, CUBE_HALF], yaw=rng.uniform(-np.pi / 4, np.pi / 4))
        scene.set_mocap("pad/pad", [*goal, 0.0])

    def after_reset(self, scene: Scene) -> None:
        cube, goal = scene.body_pos("cube/cube"), scene.body_pos("pad/pad")
        self.params[:] = [np.linalg.norm(scene.ee_pos - behind_point(cube, goal)), xy_dist(cube, goal)]

    def evaluate(self, scene: Scene) -> Evaluation:
        cube, goal = scene.body_pos("cube/cube"), scene.body_pos("pad/pad")
        dist = xy_dist(cube, goal)
        success = dist < TOL and cube[2] < CUBE_HALF + 0.01
        moved = dist < self.params[1] - 0.01
        at_cube = np.linalg.norm(scene.ee_pos - behind_point(cube, goal)) < 0.03
        if moved or at_cube:
            return Evaluation(1, closeness(dist, self.params[1], TOL), success)
        d = float(np.linalg.norm(scene.ee_pos - behind_point(cube, goal)))
        return Evaluation(0, 0.95 * closeness(d, self.params[0], 0.03), success)
