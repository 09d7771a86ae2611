"""MuJoCo tabletop task suite: tasks registered by name, a gymnasium env, scripted experts.

`make_env(task, ...)` builds a `TabletopEnv` (native tasks) or a robosuite adapter (`robosuite/<Env>`);
`list_tasks()` and `task_spec(name)` describe what exists without building any physics. A grounding
scene (several tasks possible, the instruction says which) also accepts its tasks' names,
`<scene>:<subtask>` (`TaskSpec.tasks`).
"""

from __future__ import annotations

from robo_reward.sim.registry import list_tasks, make_env, task_spec
from robo_reward.sim.scene import JOINT_NAMES, STATE_NAMES

__all__ = ["JOINT_NAMES", "STATE_NAMES", "list_tasks", "make_env", "task_spec"]
