"""MuJoCo tabletop task suite: tasks registered by name, a gymnasium env, scripted experts.

`make_env(task, ...)` builds a `TabletopEnv` (native tasks) or a robosuite adapter (`robosuite/<Env>`);
`list_tasks()` and `task_spec(name)` describe what exists without building any physics.
"""

from __future__ import annotations

import os


def _default_gl_backend() -> str:
    # EGL needs a GPU device (NVIDIA or a DRI render node); on a CPU-only box OSMesa is what renders.
    if os.path.exists("/dev/nvidia0") or os.path.exists("/dev/dri/renderD128"):
        return "egl"
    return "osmesa"


os.environ.setdefault("MUJOCO_GL", _default_gl_backend())
# Mesa's llvmpipe rasterizer threads do not survive fork(): a process that rendered and then forks
# (gymnasium AsyncVectorEnv's default) deadlocks in the children. At 96² one thread is as fast.
os.environ.setdefault("LP_NUM_THREADS", "0")
if os.environ["MUJOCO_GL"] in ("egl", "osmesa"):
    os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])

from robo_reward.sim.registry import list_tasks, make_env, task_spec  # noqa: E402
from robo_reward.sim.scene import JOINT_NAMES, STATE_NAMES  # noqa: E402

__all__ = ["JOINT_NAMES", "STATE_NAMES", "list_tasks", "make_env", "task_spec"]
