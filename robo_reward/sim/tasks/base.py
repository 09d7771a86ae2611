"""What a task is: its objects, instruction wordings, randomisation, success predicate, staged progress
and its scripted expert (plan, phase names, failure modes, recovery options); and the registry.

A task is one module under `robo_reward/sim/tasks/` holding one `Task` subclass decorated with
`@register` (the package imports every module in it), plus the MJCF of any new object under
`sim/objects/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from robo_reward.sim.scene import ObjectSpec, Scene

if TYPE_CHECKING:
    from robo_reward.sim.waypoints import Phase

WORDING_SPLITS = ("train", "held_out", "canonical")


@dataclass(frozen=True)
class Evaluation:
    """Privileged task state: `stage` in [0, num_stages), `fraction` of that stage done, `success`."""

    stage: int
    fraction: float
    success: bool


@dataclass(frozen=True)
class Wordings:
    """The instruction's wordings: `train[0]` is the canonical one; `held_out` ones never appear in a
    collection that draws from the training wordings (to test a policy on unseen phrasings)."""

    train: tuple[str, ...]
    held_out: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.train:
            raise ValueError("a task needs at least one training wording (its canonical instruction)")
        both = set(self.train) & set(self.held_out)
        if both:
            raise ValueError(f"wordings both trained on and held out: {sorted(both)}")

    @property
    def canonical(self) -> str:
        return self.train[0]

    @property
    def all(self) -> tuple[str, ...]:
        return (*self.train, *self.held_out)

    def choose(self, split: str, rng: np.random.Generator) -> str:
        """A wording of `split` (one of WORDING_SPLITS): drawn uniformly, or the canonical one."""
        if split == "canonical":
            return self.canonical
        if split not in WORDING_SPLITS:
            raise ValueError(f"wording split must be one of {WORDING_SPLITS}, got {split!r}")
        pool = self.train if split == "train" else self.held_out
        if not pool:
            raise ValueError(f"no {split} wordings for {self.canonical!r}")
        return pool[int(rng.integers(len(pool)))]


class Task:
    """Base class. `params` is the task's randomisation (goal positions, reference distances): a flat
    float64 array of length `num_params` that get/set_sim_state carry along with the physics state.

    A scene where several tasks are possible (`GroundingTask`) names each `<task>:<subtask>`; the
    methods taking a task name accept those, and `current` is the one instructed this episode.
    """

    name: ClassVar[str]
    wordings: ClassVar[Wordings]
    num_stages: ClassVar[int]
    # the stages are steps a camera can tell apart (False: milestones along one motion, e.g. distance)
    visible_steps: ClassVar[bool] = True
    max_steps: ClassVar[int]
    objects: ClassVar[tuple[ObjectSpec, ...]] = ()
    num_params: ClassVar[int] = 0
    # the scripted expert: its injectable failures, every phase name its plans use (over all failures
    # and recovery options), and the staged recoveries it offers ("regrasp", "drop", "align")
    failure_modes: ClassVar[tuple[str, ...]] = ()
    phase_names: ClassVar[tuple[str, ...]] = ()
    recovery_options: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.params = np.zeros(self.num_params)

    # --- names and instructions --------------------------------------------------------------------
    @classmethod
    def task_names(cls) -> tuple[str, ...]:
        """The tasks this scene offers (one: the task itself)."""
        return (cls.name,)

    @classmethod
    def wordings_of(cls, task_name: str) -> Wordings:
        return cls.wordings

    @classmethod
    def stages_of(cls, task_name: str) -> int:
        return cls.num_stages

    @property
    def current(self) -> str:
        """The task instructed this episode."""
        return self.name

    def select(self, task_name: str) -> None:
        """Instruct `task_name` (one of `task_names()`) for this episode."""
        if task_name not in self.task_names():
            raise ValueError(f"{self.name!r} offers {list(self.task_names())}, not {task_name!r}")

    # --- episode ------------------------------------------------------------------------------------
    def initialize(self, scene: Scene, rng: np.random.Generator) -> None:
        """Place objects (free joints, mocap bodies) for a new episode; mj_forward runs after."""

    def after_reset(self, scene: Scene) -> None:
        """Record reference quantities (e.g. start distances) once kinematics are up to date."""

    def evaluate(self, scene: Scene) -> Evaluation:
        raise NotImplementedError

    def achieved(self, scene: Scene, ev: Evaluation) -> tuple[str, ...]:
        """The offered tasks whose success condition holds (`ev`: this step's evaluation)."""
        return (self.name,) if ev.success else ()

    def progress(self, ev: Evaluation) -> float:
        if ev.success:
            return 1.0
        return float(np.clip((ev.stage + ev.fraction) / self.num_stages, 0.0, 1.0))

    # --- scripted expert ----------------------------------------------------------------------------
    def plan(self, scene: Scene, rng: np.random.Generator, failure: str | None) -> list[Phase]:
        """The expert's phases for this episode (`failure`: one of `failure_modes`, or None)."""
        raise NotImplementedError(f"no scripted expert for task {self.name!r}")


TASKS: dict[str, type[Task]] = {}


def register(cls: type[Task]) -> type[Task]:
    """Class decorator: add a task to the suite under its `name`."""
    if cls.name in TASKS and TASKS[cls.name] is not cls:
        raise ValueError(f"task name {cls.name!r} is taken by {TASKS[cls.name].__module__}")
    unknown = set(cls.recovery_options) - {"regrasp", "drop", "align"}
    if unknown:
        raise ValueError(f"{cls.name}: unknown recovery options {sorted(unknown)}")
    TASKS[cls.name] = cls
    return cls
