"""Scripted experts: closed-loop waypoint machines in the EE-delta action space, one per task.

Each task carries its expert (`Task.plan`, `phase_names`, `failure_modes`, `recovery_options`); the
plan reads privileged state from the scene (object poses, drawer opening) and returns the `Phase`s a
`robo_reward.sim.waypoints.WaypointExpert` follows. A failure (one of the task's `failure_modes`)
still makes partial progress; the shared ones are described in `robo_reward.sim.tasks.skills`.

`regrasp=True` and `drop=True` stage a recovered mistake instead, and `align=True` moves the grasp
rotation to where the wrist camera sees the cube (`robo_reward.sim.staged`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from robo_reward.sim.staged import align_above, staged_drop, staged_miss
from robo_reward.sim.tasks import TASKS, Task
from robo_reward.sim.waypoints import WaypointExpert


def make_expert(
    env,
    noise: float = 0.0,
    failure: str | None = None,
    rng: np.random.Generator | None = None,
    noise_phases: Iterable[str] | None = None,
    noise_rotation: bool = True,
    rot_gain: float = 1.0,
    regrasp: bool = False,
    drop: bool = False,
    align: bool = False,
) -> WaypointExpert:
    """A scripted expert for the env's task; `failure` must be one of its `failure_modes` (or None).

    `noise_phases` (names from the task's `phase_names`) limits the action noise to those phases; None:
    all. `noise_rotation=False` keeps the noise off the rotation dims. `rot_gain` [0, 1]: the fraction of
    the rotation error removed per step (1: dead-beat, the default; 0: the gripper keeps its start
    rotation). `regrasp`: the first grasp misses and is recovered (`staged_miss`); `drop`: the first
    lifted cube slips out and is picked up again (`staged_drop`); `align`: the gripper turns to the grasp
    yaw above the cube, not at the start (`align_above`) — each where the task's `recovery_options`
    offer it (tasks with a cube to pick)."""
    task: Task = env.unwrapped.task
    name = task.name
    if type(task).plan is Task.plan:
        raise KeyError(f"no scripted expert for task {name!r}")
    if failure is not None and failure not in task.failure_modes:
        raise ValueError(f"failure {failure!r} not available for {name!r}: {task.failure_modes}")
    if noise_phases is not None:
        noise_phases = tuple(noise_phases)
        if not noise_phases:
            raise ValueError(f"noise_phases is empty; name phases from {task.phase_names} (or None: all)")
        unknown = [p for p in noise_phases if p not in task.phase_names]
        if unknown:
            raise ValueError(
                f"unknown noise phase(s) {unknown} for {name!r}; its phases are {task.phase_names}"
            )
    for option, on in (("align", align), ("regrasp", regrasp), ("drop", drop)):
        if on and option not in task.recovery_options:
            offering = [t for t, cls in TASKS.items() if option in cls.recovery_options]
            raise ValueError(f"{option} needs a task that picks a cube {offering}, got {name!r}")
    plan = task.plan
    if align:
        plan = lambda sc, rng, failure, base=plan: align_above(base(sc, rng, failure))  # noqa: E731
    for option, staged, stage in (("regrasp", regrasp, staged_miss), ("drop", drop, staged_drop)):
        if not staged:
            continue
        if failure is not None:
            raise ValueError(
                f"{option} stages a recovered mistake; it does not combine with failure {failure!r}"
            )
        plan = lambda sc, rng, failure, base=plan, stage=stage: stage(base(sc, rng, failure), rng)  # noqa: E731
    return WaypointExpert(
        env,
        plan,
        noise=noise,
        failure=failure,
        rng=rng,
        noise_phases=noise_phases,
        noise_rotation=noise_rotation,
        rot_gain=rot_gain,
    )
