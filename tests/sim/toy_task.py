"""press_button: a task added the way the README's "Add a task" says — this one module and one MJCF
(`toy_button.xml`, installed as `sim/objects/button.xml` by the test that uses it)."""

from __future__ import annotations

import numpy as np

from robo_reward.sim.primitives import closeness
from robo_reward.sim.scene import ObjectSpec, Scene
from robo_reward.sim.tasks import Evaluation, Task, Wordings, register
from robo_reward.sim.tasks.geometry import sample_xy
from robo_reward.sim.waypoints import CLOSE, Phase

HOVER = 0.06  # the press starts this far above the button
TOL = 0.01
FINGERTIPS = np.array([0.0, 0.0, 0.008])  # the ee site sits this far above the fingertips


def press_point(scene: Scene) -> np.ndarray:
    return scene.site_pos("button/top") + FINGERTIPS


@register
class PressButton(Task):
    name = "press_button"
    wordings = Wordings(
        train=(
            "press the red button",
            "push the red button down",
            "tap the red button",
            "hit the red button",
        ),
        held_out=("poke the red button",),
    )
    num_stages = 2
    max_steps = 40
    objects = (ObjectSpec("button", "button"),)
    num_params = 1  # start distance gripper -> hover point
    failure_modes = ("stall",)
    phase_names = ("hover", "press", "stall")

    def initialize(self, scene: Scene, rng: np.random.Generator) -> None:
        scene.set_mocap("button/button", [*sample_xy(rng, [0.40, -0.20], [0.60, 0.20]), 0.0])

    def after_reset(self, scene: Scene) -> None:
        self.params[0] = np.linalg.norm(scene.ee_pos - press_point(scene) - [0, 0, HOVER])

    def evaluate(self, scene: Scene) -> Evaluation:
        to_press = float(np.linalg.norm(scene.ee_pos - press_point(scene)))
        to_hover = float(np.linalg.norm(scene.ee_pos - press_point(scene) - [0, 0, HOVER]))
        if to_hover < 0.015 or to_press < HOVER:
            return Evaluation(1, closeness(to_press, HOVER, TOL), to_press < TOL)
        return Evaluation(0, 0.95 * closeness(to_hover, self.params[0], 0.015), False)

    def plan(self, scene: Scene, rng: np.random.Generator, failure: str | None) -> list[Phase]:
        hover = lambda s: press_point(s) + [0, 0, HOVER]  # noqa: E731
        if failure == "stall":
            half_way = (scene.ee_pos + hover(scene)) / 2
            return [
                Phase("hover", lambda s: half_way, CLOSE, tol=0.01),
                Phase("stall", lambda s: half_way, CLOSE, stall=True),
            ]
        return [
            Phase("hover", hover, CLOSE, tol=0.01),
            Phase("press", press_point, CLOSE, tol=0.004, speed=0.4, timeout=20),
        ]
