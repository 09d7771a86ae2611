"""What a task is: its objects, instruction, randomisation, success predicate and staged progress."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from robo_reward.sim.scene import ObjectSpec, Scene

CUBE_HALF = 0.0225
RED = (0.85, 0.2, 0.2, 1.0)
BLUE = (0.2, 0.35, 0.85, 1.0)


@dataclass(frozen=True)
class Evaluation:
    """Privileged task state: `stage` in [0, num_stages), `fraction` of that stage done, `success`."""

    stage: int
    fraction: float
    success: bool


class Task:
    """Base class. A subclass is one module under tasks/, registered by `name` in tasks/__init__.py.

    `params` is the task's randomisation (goal positions, reference distances): a flat float64 array
    of length `num_params` that get/set_sim_state carry along with the physics state.
    """

    name: ClassVar[str]
    instruction: ClassVar[str]
    paraphrases: ClassVar[tuple[str, ...]]
    num_stages: ClassVar[int]
    # the stages are steps a camera can tell apart (False: milestones along one motion, e.g. distance)
    visible_steps: ClassVar[bool] = True
    max_steps: ClassVar[int]
    objects: ClassVar[tuple[ObjectSpec, ...]] = ()
    num_params: ClassVar[int] = 0

    def __init__(self) -> None:
        self.params = np.zeros(self.num_params)

    def initialize(self, scene: Scene, rng: np.random.Generator) -> None:
        """Place objects (free joints, mocap bodies) for a new episode; mj_forward runs after."""

    def after_reset(self, scene: Scene) -> None:
        """Record reference quantities (e.g. start distances) once kinematics are up to date."""

    def evaluate(self, scene: Scene) -> Evaluation:
        raise NotImplementedError

    def progress(self, ev: Evaluation) -> float:
        if ev.success:
            return 1.0
        return float(np.clip((ev.stage + ev.fraction) / self.num_stages, 0.0, 1.0))


def sample_xy(rng: np.random.Generator, lo, hi, avoid=(), min_dist: float = 0.0, tries: int = 200):
    """Uniform point in the box [lo, hi] at least `min_dist` from every point in `avoid`."""
    for _ in range(tries):
        p = rng.uniform(lo, hi)
        if all(np.linalg.norm(p - np.asarray(a)[:2]) >= min_dist for a in avoid):
            return p
    raise RuntimeError("could not sample a free position")


def cube_resting(scene: Scene, cube: str, on_z: float = 0.0, tol: float = 0.012) -> bool:
    return abs(scene.body_pos(f"{cube}/cube")[2] - (on_z + CUBE_HALF)) < tol
