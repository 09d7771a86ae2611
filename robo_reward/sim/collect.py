"""Collect scripted-expert episodes (with optional failure injection) from the sim suite."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from robo_reward.data.episode import Episode


def collect_episodes(
    task: str,
    n: int,
    failures: float = 0.0,
    seed: int = 0,
    image_size: int = 96,
    noise: float = 0.0,
    clean_labels: bool = False,
    noise_phases: Sequence[str] | None = None,
    noise_rotation: bool = True,
    rot_gain: float = 1.0,
    regrasp: float = 0.0,
    drop: float = 0.0,
    align: bool = False,
    wordings: str = "train",
    render: bool = True,
    on_episode: Callable[[Episode], None] | None = None,
) -> list[Episode]:
    """Run `n` expert episodes of `task`; a fraction `failures` of them get an injected failure mode.

    Episode i uses seed `seed + i`, so a collection is reproducible and extendable. The expert's
    actions get Gaussian noise of std `noise`; they are executed and recorded as they are, unless
    `clean_labels`: then the noisy action is executed and the expert's noise-free action is recorded,
    so the demos visit the states a policy drifts into and label the way back (DART, Laskey et al. 2017).
    `noise_phases` (expert phase names, e.g. `("above_cube", "lift", "carry")`) limits the noise to those
    phases; None: every phase. `noise_rotation=False` adds it to the translation dims only. `rot_gain`
    < 1 makes the expert align the gripper's rotation gradually, 0 not at all (see `WaypointExpert`).
    `regrasp`: a fraction of the episodes without an injected failure whose first grasp misses by 2.5-4 cm
    and is recovered (`robo_reward.sim.staged.staged_miss`); the miss is labelled with the correct action.
    `drop`: a fraction of them (drawn independently) whose lifted cube slips out and is picked up again
    (`staged_drop`); the slip is labelled with holding on, the empty closed gripper with the way back.
    `align`: the expert turns the gripper to the grasp yaw above the cube, where the wrist camera sees
    the cube's rotation, rather than in the first steps (`align_above`; tasks that pick a cube).
    `wordings`: the instruction of each episode is drawn from the task's `train` wordings (seeded, its
    own generator), from its `held_out` ones, or is the `canonical` one. A grounding scene (several
    tasks possible, e.g. `pick_place_color`) instructs its tasks in turn, episode i the (i mod n)-th;
    name one of them (`pick_place_color:blue`) to collect only that one.
    """
    from robo_reward.sim import make_env
    from robo_reward.sim.experts import make_expert
    from robo_reward.sim.rollout import run_episode

    if not 0.0 <= failures <= 1.0:
        raise ValueError(f"failures must be a fraction in [0, 1], got {failures}")
    for name, frac in (("regrasp", regrasp), ("drop", drop)):
        if not 0.0 <= frac <= 1.0:
            raise ValueError(f"{name} must be a fraction in [0, 1], got {frac}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    env = make_env(task, image_size=image_size, render=render)
    scene = env.unwrapped.task
    tasks = scene.task_names() if task == scene.name else (task,)
    phrasing = np.random.default_rng([seed, 3])  # its own generator: the episodes do not depend on it
    instructions = [scene.wordings_of(tasks[i % len(tasks)]).choose(wordings, phrasing) for i in range(n)]
    rng = np.random.default_rng(seed)
    modes = scene.failure_modes
    n_fail = round(failures * n)
    fail_at = set(rng.choice(n, size=n_fail, replace=False).tolist()) if n_fail and modes else set()
    clean = [i for i in range(n) if i not in fail_at]
    # each staged mistake draws its episodes from its own generator, so a collection without it is unchanged
    regrasp_at, drop_at = (
        set(
            np.random.default_rng([seed, k]).choice(clean, size=round(f * len(clean)), replace=False).tolist()
        )
        for k, f in ((1, regrasp), (2, drop))
    )
    episodes = []
    try:
        for i in range(n):
            failure = modes[int(rng.integers(len(modes)))] if i in fail_at else None
            expert = make_expert(
                env,
                noise=noise,
                failure=failure,
                rng=np.random.default_rng(seed + i),
                noise_phases=noise_phases,
                noise_rotation=noise_rotation,
                rot_gain=rot_gain,
                regrasp=i in regrasp_at,
                drop=i in drop_at,
                align=align,
            )
            label_fn = (
                (lambda e=expert: e.clean_action) if clean_labels else (lambda e=expert: e.label_action)
            )
            instructed = {"task": tasks[i % len(tasks)], "instruction": instructions[i]}
            ep = run_episode(env, expert.act, seed=seed + i, label_fn=label_fn, options=instructed)
            episodes.append(ep)
            if on_episode is not None:
                on_episode(ep)
    finally:
        env.close()
    return episodes
