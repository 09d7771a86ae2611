"""open_drawer: pull the drawer open by its handle."""

from __future__ import annotations

import numpy as np

from robo_reward.sim.rewards import closeness, fraction
from robo_reward.sim.scene import ObjectSpec, Scene
from robo_reward.sim.tasks.base import Evaluation, Task

OPEN = 0.12  # drawer travel (m) that counts as open
HOOK_OFFSET = np.array([0.034, 0.0, -0.015])  # from the handle bar to the gap between bar and front
DRAWER = ObjectSpec("drawer", "drawer")


def place_cabinet(scene: Scene, rng: np.random.Generator, opening: float = 0.0) -> None:
    scene.set_mocap("drawer/cabinet", [rng.uniform(0.70, 0.75), rng.uniform(0.16, 0.26), 0.0])
    scene.joint_qpos("drawer/slide")[:] = opening


def drawer_opening(scene: Scene) -> float:
    return float(scene.joint_qpos("drawer/slide")[0])


def hook_point(scene: Scene) -> np.ndarray:
    """Where the (closed) fingers go to pull: between the handle bar and the drawer front."""
    return scene.site_pos("drawer/handle") + HOOK_OFFSET


class OpenDrawer(Task):
    name = "open_drawer"
    instruction = "open the drawer"
    paraphrases = (
        "pull the drawer out",
        "slide the drawer open using its handle",
        "pull the cabinet drawer open",
    )
    num_stages = 2
    max_steps = 60
    objects = (DRAWER,)
    num_params = 2  # start distance gripper->hook point, start opening

    def initialize(self, scene: Scene, rng: np.random.Generator) -> None:
        place_cabinet(scene, rng, opening=rng.uniform(0.0, 0.02))

    def after_reset(self, scene: Scene) -> None:
        self.params[:] = [np.linalg.norm(scene.ee_pos - hook_point(scene)), drawer_opening(scene)]

    def evaluate(self, scene: Scene) -> Evaluation:
        opening, start = drawer_opening(scene), self.params[1]
        hooked = np.linalg.norm(scene.ee_pos - hook_point(scene)) < 0.02
        if hooked or opening > start + 0.01:
            return Evaluation(1, fraction(opening - start, OPEN - start), opening >= OPEN)
        d = float(np.linalg.norm(scene.ee_pos - hook_point(scene)))
        return Evaluation(0, 0.95 * closeness(d, self.params[0], 0.02), False)
