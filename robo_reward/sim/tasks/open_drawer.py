"""open_drawer: pull the drawer open by its handle."""

from __future__ import annotations

import numpy as np

from robo_reward.sim.scene import Scene
from robo_reward.sim.tasks.base import Evaluation, Task, Wordings, register
from robo_reward.sim.tasks.geometry import DRAWER, drawer_opening, hook_point, place_cabinet
from robo_reward.sim.tasks.skills import OPEN_DRAWER_PHASES, evaluate_open_drawer, open_drawer_phases
from robo_reward.sim.waypoints import Phase


@register
class OpenDrawer(Task):
    name = "open_drawer"
    wordings = Wordings(
        train=(
            "open the drawer",
            "pull the drawer out",
            "slide the drawer open using its handle",
            "pull the cabinet drawer open",
        ),
        held_out=("draw the drawer out by its handle", "get the drawer open"),
    )
    num_stages = 2
    max_steps = 60
    objects = (DRAWER,)
    num_params = 2  # start distance gripper->hook point, start opening
    failure_modes = ("miss_grasp", "stall")
    phase_names = OPEN_DRAWER_PHASES

    def initialize(self, scene: Scene, rng: np.random.Generator) -> None:
        place_cabinet(scene, rng, opening=rng.uniform(0.0, 0.02))

    def after_reset(self, scene: Scene) -> None:
        self.params[:] = [np.linalg.norm(scene.ee_pos - hook_point(scene)), drawer_opening(scene)]

    def evaluate(self, scene: Scene) -> Evaluation:
        return evaluate_open_drawer(scene, self.params[0], self.params[1])

    def plan(self, scene: Scene, rng: np.random.Generator, failure: str | None) -> list[Phase]:
        return open_drawer_phases(failure)
