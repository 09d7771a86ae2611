"""Collect scripted-expert episodes (with optional failure injection) from the sim suite."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from robo_reward.data.episode import Episode


def collect_episodes(
    task: str,
    n: int,
    failures: float = 0.0,
    seed: int = 0,
    image_size: int = 96,
    noise: float = 0.0,
    render: bool = True,
    on_episode: Callable[[Episode], None] | None = None,
) -> list[Episode]:
    """Run `n` expert episodes of `task`; a fraction `failures` of them get an injected failure mode.

    Episode i uses seed `seed + i`, so a collection is reproducible and extendable.
    """
    from robo_reward.sim import make_env
    from robo_reward.sim.experts import FAILURE_MODES, make_expert
    from robo_reward.sim.rollout import run_episode

    if not 0.0 <= failures <= 1.0:
        raise ValueError(f"failures must be a fraction in [0, 1], got {failures}")
    env = make_env(task, image_size=image_size, render=render)
    rng = np.random.default_rng(seed)
    modes = FAILURE_MODES.get(task, ())
    n_fail = round(failures * n)
    fail_at = set(rng.choice(n, size=n_fail, replace=False).tolist()) if n_fail and modes else set()
    episodes = []
    try:
        for i in range(n):
            failure = modes[int(rng.integers(len(modes)))] if i in fail_at else None
            expert = make_expert(env, noise=noise, failure=failure, rng=np.random.default_rng(seed + i))
            ep = run_episode(env, expert.act, seed=seed + i)
            episodes.append(ep)
            if on_episode is not None:
                on_episode(ep)
    finally:
        env.close()
    return episodes
