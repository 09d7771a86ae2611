"""push: push the red cube (without picking it up) onto the green pad."""

from __future__ import annotations

import numpy as np

from robo_reward.sim.primitives import closeness
from robo_reward.sim.scene import ObjectSpec, Scene
from robo_reward.sim.tasks.base import Evaluation, Task, Wordings, register
from robo_reward.sim.tasks.geometry import CUBE_HALF, RED, place_cube, xy_dist
from robo_reward.sim.waypoints import CLOSE, Phase, nearest_yaw, offset

TOL = 0.03
BEHIND = 0.055  # distance from the cube centre to the pushing point behind it


def behind_point(cube: np.ndarray, goal: np.ndarray) -> np.ndarray:
    u = (goal[:2] - cube[:2]) / max(xy_dist(goal, cube), 1e-6)
    return np.array([*(cube[:2] - BEHIND * u), CUBE_HALF])


@register
class Push(Task):
    name = "push"
    wordings = Wordings(
        train=(
            "push the red cube onto the green pad",
            "slide the red block to the green target",
            "shove the red cube over to the green circle",
            "push the red block until it is on the green marker",
        ),
        held_out=(
            "nudge the red cube across onto the green pad",
            "without lifting it, move the red cube to the green pad",
        ),
    )
    num_stages = 2
    max_steps = 80
    objects = (ObjectSpec("cube", "cube", rgba=RED), ObjectSpec("pad", "pad"))
    num_params = 2  # start distance gripper->pushing point, start distance cube->pad
    failure_modes = ("wrong_place", "stall")
    phase_names = ("above_behind", "descend", "push", "stall")

    def initialize(self, scene: Scene, rng: np.random.Generator) -> None:
        for _ in range(200):
            cube = rng.uniform([0.40, -0.15], [0.56, 0.15])
            angle = rng.uniform(-np.pi, np.pi)
            goal = cube + rng.uniform(0.12, 0.18) * np.array([np.cos(angle), np.sin(angle)])
            if 0.36 <= goal[0] <= 0.62 and abs(goal[1]) <= 0.22:
                break
        place_cube(scene, "cube", cube, rng)
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

    def plan(self, scene: Scene, rng: np.random.Generator, failure: str | None) -> list[Phase]:
        goal = scene.body_pos("pad/pad")
        if failure == "wrong_place":
            cube = scene.body_pos("cube/cube")
            u = (goal - cube)[:2] / np.linalg.norm((goal - cube)[:2])
            goal = goal + 0.12 * np.array([-u[1], u[0], 0.0]) * rng.choice([-1, 1])
        behind = lambda s: behind_point(s.body_pos("cube/cube"), goal)  # noqa: E731

        def direction(s: Scene) -> np.ndarray:
            d = (goal - s.body_pos("cube/cube"))[:2]
            return np.array([*d / max(np.linalg.norm(d), 1e-6), 0.0])

        def yaw(s: Scene) -> float:
            u = direction(s)
            return nearest_yaw(s.ee_yaw, float(np.arctan2(u[1], u[0])), np.pi)

        def push_to(s: Scene) -> np.ndarray:
            # Push through the cube's centre toward the goal; if the pusher has drifted sideways off that
            # line, back off and realign first. Push depth shrinks near the goal so the cube does not coast.
            u, b = direction(s), behind(s)
            rel = (s.ee_pos - b) * [1, 1, 0]
            if np.linalg.norm(rel - (rel @ u) * u) > 0.012:
                return b - 0.015 * u + [0, 0, 0.003]
            remaining = np.linalg.norm((goal - s.body_pos("cube/cube"))[:2])
            return b + min(0.03, remaining + 0.005) * u + [0, 0, 0.003]

        phases = [
            Phase("above_behind", offset(behind, [0, 0, 0.08]), CLOSE, tol=0.012, yaw=yaw),
            Phase("descend", offset(behind, [0, 0, 0.003]), CLOSE, tol=0.008, speed=0.5, yaw=yaw),
        ]
        if failure == "stall":
            start = np.linalg.norm((goal - scene.body_pos("cube/cube"))[:2])
            half_way = lambda s: np.linalg.norm((goal - s.body_pos("cube/cube"))[:2]) < 0.75 * start  # noqa: E731
            return [
                *phases,
                Phase("push", push_to, CLOSE, speed=0.4, until=half_way),
                Phase("stall", push_to, CLOSE, stall=True),
            ]
        return [*phases, Phase("push", push_to, CLOSE, speed=0.4, tol=0.0, timeout=200, yaw=yaw)]
