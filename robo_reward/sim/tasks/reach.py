"""reach: move the gripper to a floating goal marker.

Two stages along one motion: `approach` (the distance to the marker has not yet halved) and `arrive`
(it has, the marker is not reached yet). The half-way mark is the one the suite's outcome labels use
(`partial` = stage 1 reached), so a stage column alone tells a reach that got half way from one that
did not, as it does for the multi-step tasks; progress is the closeness itself in both stages.
"""

from __future__ import annotations

import numpy as np

from robo_reward.sim.primitives import closeness
from robo_reward.sim.scene import ObjectSpec, Scene
from robo_reward.sim.tasks.base import Evaluation, Task, Wordings, register
from robo_reward.sim.tasks.skills import fixed
from robo_reward.sim.waypoints import OPEN, Phase

TOL = 0.025


@register
class Reach(Task):
    name = "reach"
    wordings = Wordings(
        train=(
            "reach the yellow ball",
            "move the gripper to the yellow sphere",
            "put the end effector on the yellow target",
            "go to the yellow marker",
        ),
        held_out=("bring your hand to the yellow ball", "touch the floating yellow sphere"),
    )
    num_stages = 2
    visible_steps = False  # half way and arrived are milestones of one motion
    max_steps = 40
    objects = (ObjectSpec("target", "target"),)
    num_params = 1  # start distance
    failure_modes = ("wrong_place", "stall")
    phase_names = ("reach", "stall")

    def initialize(self, scene: Scene, rng: np.random.Generator) -> None:
        for _ in range(100):
            goal = rng.uniform([0.32, -0.25, 0.06], [0.65, 0.25, 0.35])
            if np.linalg.norm(goal - scene.ee_pos) > 0.12:
                break
        scene.set_mocap("target/target", goal)

    def after_reset(self, scene: Scene) -> None:
        self.params[0] = self._distance(scene)

    def _distance(self, scene: Scene) -> float:
        return float(np.linalg.norm(scene.ee_pos - scene.body_pos("target/target")))

    def evaluate(self, scene: Scene) -> Evaluation:
        d = self._distance(scene)
        c = closeness(d, self.params[0], TOL)
        stage = int(c >= 0.5)
        return Evaluation(stage, 2.0 * c - stage, d < TOL)

    def plan(self, scene: Scene, rng: np.random.Generator, failure: str | None) -> list[Phase]:
        goal = scene.body_pos("target/target")
        if failure == "wrong_place":  # sideways of the straight path, so it never passes the goal
            d = (goal - scene.ee_pos)[:2] / max(np.linalg.norm((goal - scene.ee_pos)[:2]), 1e-6)
            goal = goal + 0.12 * rng.choice([-1, 1]) * np.array([-d[1], d[0], 0.0])
        if failure == "stall":
            mid = (scene.ee_pos + goal) / 2
            return [Phase("reach", fixed(mid), OPEN), Phase("stall", fixed(mid), OPEN, stall=True)]
        return [Phase("reach", fixed(goal), OPEN, tol=0.008, timeout=60)]
