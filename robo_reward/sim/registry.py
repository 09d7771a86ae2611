"""Names → environments: native MuJoCo tasks first, then robosuite ones (`robosuite/<Env>`).

Nothing here imports robosuite or builds physics, so `list_tasks()` and `task_spec()` stay fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import gymnasium as gym

from robo_reward.sim.scene import VIEWS
from robo_reward.sim.tasks import TASKS, Wordings
from robo_reward.utils.errors import UnknownNameError

ROBOSUITE_PREFIX = "robosuite/"


@dataclass(frozen=True)
class TaskSpec:
    name: str
    wordings: Wordings
    num_stages: int
    max_steps: int
    visible_steps: bool = True  # see Task.visible_steps
    tasks: tuple[str, ...] = ()  # a grounding scene's tasks (`<scene>:<subtask>`); () for one task

    @property
    def instruction(self) -> str:
        """The canonical wording (the first training one)."""
        return self.wordings.canonical


def _robosuite(
    name: str, instruction: str, paraphrases: tuple[str, ...], stages: int, steps: int
) -> TaskSpec:
    return TaskSpec(f"{ROBOSUITE_PREFIX}{name}", Wordings((instruction, *paraphrases)), stages, steps)


ROBOSUITE_SPECS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        _robosuite(
            "Lift",
            "lift the red cube",
            ("pick up the red block", "raise the red cube off the table", "grab the red cube and lift it"),
            2,
            100,
        ),
        _robosuite(
            "Stack",
            "stack the red cube on the green cube",
            (
                "put the red block on top of the green block",
                "place the red cube onto the green one",
                "build a tower with the red cube above the green cube",
            ),
            3,
            150,
        ),
        _robosuite(
            "Door",
            "open the door",
            (
                "pull the door open by its handle",
                "turn the handle and swing the door open",
                "open the door using the handle",
            ),
            2,
            150,
        ),
    )
}


def list_tasks() -> list[str]:
    """Registered names: native tasks and grounding scenes, then robosuite tasks. A grounding scene's
    own tasks (`<scene>:<subtask>`, see `TaskSpec.tasks`) are accepted wherever a name is."""
    return [*TASKS, *ROBOSUITE_SPECS]


def task_spec(name: str) -> TaskSpec:
    """The spec of a registered name or of one of a grounding scene's tasks; a scene's own spec is its
    first task's (the one a reset instructs by default)."""
    scene_name = name.partition(":")[0]
    if scene_name in TASKS:
        cls = TASKS[scene_name]
        names = cls.task_names()
        if name not in (scene_name, *names):
            raise UnknownNameError(f"unknown task {name!r}: {scene_name!r} offers {', '.join(names)}")
        task = names[0] if name == scene_name else name
        return TaskSpec(
            name,
            cls.wordings_of(task),
            cls.stages_of(task),
            cls.max_steps,
            cls.visible_steps,
            names if len(names) > 1 else (),
        )
    if name in ROBOSUITE_SPECS:
        return ROBOSUITE_SPECS[name]
    raise UnknownNameError(f"unknown task {name!r}: pick one of {', '.join(list_tasks())}")


def make_env(
    task: str,
    image_size: int = 96,
    views: Sequence[str] = VIEWS,
    control: str = "ee_delta",
    render: bool = True,
    shadows: bool = False,
    reflections: bool = False,
    max_steps: int | None = None,
) -> gym.Env:
    """Build the env for a registered task name (see `list_tasks()`) or a grounding scene's task."""
    if task.partition(":")[0] in TASKS:
        from robo_reward.sim.env import TabletopEnv

        return TabletopEnv(
            task,
            image_size=image_size,
            views=views,
            control=control,
            render=render,
            shadows=shadows,
            reflections=reflections,
            max_steps=max_steps,
        )
    if task in ROBOSUITE_SPECS:
        from robo_reward.sim.robosuite_env import RobosuiteEnv

        return RobosuiteEnv(
            task[len(ROBOSUITE_PREFIX) :],
            spec=ROBOSUITE_SPECS[task],
            image_size=image_size,
            views=views,
            control=control,
            render=render,
            max_steps=max_steps,
        )
    raise UnknownNameError(f"unknown task {task!r}: pick one of {', '.join(list_tasks())}")
