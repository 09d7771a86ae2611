"""Grounding scenes: several tasks are possible in one scene and only the instruction says which.

A `GroundingTask` offers tasks named `<scene>:<subtask>`; a reset instructs one (the first unless
its options name another), its staged progress and success are that task's, and `achieved` names every
task of the scene whose success condition holds, so running one initial state under each instruction
gives a confusion table (instruction given × task achieved, `robo_reward.sim.confusion`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from robo_reward.sim.scene import Scene
from robo_reward.sim.tasks.base import Evaluation, Task, Wordings


@dataclass(frozen=True)
class Subtask:
    wordings: Wordings
    num_stages: int


class GroundingTask(Task):
    """`params[0]` is the instructed subtask's index (so get/set_sim_state carry it); the rest are that
    subtask's reference quantities. Subclasses define `subtasks`, `evaluate_subtask` and `succeeded`,
    and a plan for the instructed subtask (`self.subtask`)."""

    subtasks: ClassVar[dict[str, Subtask]]

    @classmethod
    def task_names(cls) -> tuple[str, ...]:
        return tuple(f"{cls.name}:{s}" for s in cls.subtasks)

    @classmethod
    def _subtask(cls, task_name: str) -> Subtask:
        scene, _, sub = task_name.partition(":")
        if scene != cls.name or sub not in cls.subtasks:
            raise KeyError(f"{cls.name!r} offers {list(cls.task_names())}, not {task_name!r}")
        return cls.subtasks[sub]

    @classmethod
    def wordings_of(cls, task_name: str) -> Wordings:
        return cls._subtask(task_name).wordings

    @classmethod
    def stages_of(cls, task_name: str) -> int:
        return cls._subtask(task_name).num_stages

    @property
    def subtask(self) -> str:
        return list(self.subtasks)[int(self.params[0])]

    @property
    def current(self) -> str:
        return f"{self.name}:{self.subtask}"

    @property
    def num_stages(self) -> int:  # type: ignore[override]  # the instructed subtask's
        return self.subtasks[self.subtask].num_stages

    def select(self, task_name: str) -> None:
        super().select(task_name)
        self.params[0] = self.task_names().index(task_name)

    def evaluate(self, scene: Scene) -> Evaluation:
        return self.evaluate_subtask(scene, self.subtask)

    def achieved(self, scene: Scene, ev: Evaluation) -> tuple[str, ...]:
        return tuple(f"{self.name}:{s}" for s in self.subtasks if self.succeeded(scene, s))

    def evaluate_subtask(self, scene: Scene, subtask: str) -> Evaluation:
        raise NotImplementedError

    def succeeded(self, scene: Scene, subtask: str) -> bool:
        """The subtask's success condition (whether or not it is the instructed one)."""
        raise NotImplementedError

    def other(self) -> str:
        """The next subtask after the instructed one (what a grounding mistake does instead)."""
        names = list(self.subtasks)
        return names[(names.index(self.subtask) + 1) % len(names)]
