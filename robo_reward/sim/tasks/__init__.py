"""Task registry: one small module per task, registered here by name."""

from __future__ import annotations

from robo_reward.sim.tasks.base import Evaluation, Task
from robo_reward.sim.tasks.drawer_store import DrawerStore
from robo_reward.sim.tasks.open_drawer import OpenDrawer
from robo_reward.sim.tasks.pick_place import PickPlace
from robo_reward.sim.tasks.push import Push
from robo_reward.sim.tasks.reach import Reach
from robo_reward.sim.tasks.stack import Stack

TASKS: dict[str, type[Task]] = {
    cls.name: cls for cls in (Reach, Push, PickPlace, Stack, OpenDrawer, DrawerStore)
}

__all__ = ["TASKS", "Evaluation", "Task"]
