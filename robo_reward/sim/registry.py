"""Names → environments: native MuJoCo tasks first, then robosuite ones (`robosuite/<Env>`).

Nothing here imports robosuite or builds physics, so `list_tasks()` and `task_spec()` stay fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import gymnasium as gym

from robo_reward.sim.scene import VIEWS
from robo_reward.sim.tasks import TASKS
from robo_reward.utils.errors import UnknownNameError

ROBOSUITE_PREFIX = "robosuite/"


@dataclass(frozen=True)
class TaskSpec:
    name: str
    instruction: str
    paraphrases: tuple[str, ...]
    num_stages: int
    max_steps: int
    visible_steps: bool = True  # see Task.visible_steps


ROBOSUITE_SPECS: dict[str, TaskSpec] = {
    "robosuite/Lift": TaskSpec(
        "robosuite/Lift",
        "lift the red cube",
        ("pick up the red block", "raise the red cube off the table", "grab the red cube and lift it"),
        2,
        100,
    ),
    "robosuite/Stack": TaskSpec(
        "robosuite/Stack",
        "stack the red cube on the green cube",
        (
            "put the red block on top of the green block",
            "place the red cube onto the green one",
            "build a tower with the red cube above the green cube",
        ),
        3,
        150,
    ),
    "robosuite/Door": TaskSpec(
        "robosuite/Door",
        "open the door",
        (
            "pull the door open by its handle",
            "turn the handle and swing the door open",
            "open the door using the handle",
        ),
        2,
        150,
    ),
}


def list_tasks() -> list[str]:
    return [*TASKS, *ROBOSUITE_SPECS]


def task_spec(name: str) -> TaskSpec:
    if name in TASKS:
        t = TASKS[name]
        return TaskSpec(name, t.instruction, tuple(t.paraphrases), t.num_stages, t.max_steps, t.visible_steps)
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
    """Build the env for a registered task name (see `list_tasks()`)."""
    if task in TASKS:
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
