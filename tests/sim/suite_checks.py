"""Checks every task of the suite must pass, shared by the registry-walking tests and the test that
adds a task: spec and observations, seeded determinism, the expert's success and progress, failure
injection, recorded episodes, and the expert's declared phase names."""

from __future__ import annotations

import numpy as np

from robo_reward.data.episode import Episode
from robo_reward.sim import STATE_NAMES, make_env, task_spec
from robo_reward.sim.experts import make_expert
from robo_reward.sim.rollout import rollout, run_episode
from robo_reward.sim.staged import staged_drop, staged_miss


def assert_obs(env, obs) -> None:
    assert set(obs) == set(env.observation_space.spaces)
    for key, space in env.observation_space.spaces.items():
        assert obs[key].shape == space.shape and obs[key].dtype == space.dtype, key
        assert np.all(np.isfinite(obs[key].astype(np.float64))), key
    assert obs["observation.state"].shape == (len(STATE_NAMES),)


def check_task(task: str, image_size: int = 32) -> None:
    spec = task_spec(task)
    wordings = spec.wordings
    assert spec.num_stages >= 1 and spec.instruction == wordings.train[0]
    assert 3 <= len(wordings.all) - 1 <= 5 and 1 <= len(wordings.held_out) <= 2, wordings
    env, twin = make_env(task, image_size=image_size), make_env(task, image_size=image_size)
    obs, info = env.reset(seed=3)
    assert_obs(env, obs)
    assert info["task"] == spec.instruction and info["task_name"] == task
    assert 0.0 <= info["progress"] <= 0.05 and info["stage"] == 0 and not info["success"]
    assert info["achieved"] == ()

    # seeded determinism: same seed and actions, same observations
    obs2, _ = twin.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(3):
        a = rng.uniform(-1, 1, 7).astype(np.float32)
        obs, r, term, trunc, info = env.step(a)
        obs2, *_ = twin.step(a)
        assert_obs(env, obs)
        assert 0.0 <= info["progress"] <= 1.0 and r in (0.0, 1.0)
        for k in obs:
            np.testing.assert_array_equal(obs[k], obs2[k])
    assert not np.array_equal(
        env.reset(seed=4)[0]["observation.state"], twin.reset(seed=3)[0]["observation.state"]
    )

    # the scripted expert succeeds; its progress starts low, ends high and rises
    fast = make_env(task, render=False)
    for seed in (0, 1):
        traj = rollout(fast, make_expert(fast, rng=np.random.default_rng(seed)).act, seed=seed)
        assert traj.outcome == "success" and traj.achieved == (task,), (task, seed)
        assert traj.progress[0] <= 0.05 and traj.progress[-1] >= 0.95
        assert np.corrcoef(np.arange(len(traj.progress)), traj.progress)[0, 1] > 0.8
    # failure injection: no success, every mode; the instructed task still makes some progress, unless
    # the mistake is doing another task of the scene
    for i, mode in enumerate(fast.unwrapped.task.failure_modes):
        traj = rollout(fast, make_expert(fast, failure=mode, rng=np.random.default_rng(i)).act, seed=10 + i)
        assert not traj.success[-1] and task not in traj.achieved, (task, mode)
        assert traj.progress.max() > 0.1 or traj.achieved, (task, mode)

    # run_episode records every frame plus the terminal one
    ep = run_episode(env, make_expert(env, rng=np.random.default_rng(0)).act, seed=0)
    assert isinstance(ep, Episode) and ep.outcome == "success" and ep.task_name == task
    assert set(ep.views) == {"front", "side", "wrist"} and ep.views["front"].shape[1:] == (
        image_size,
    ) * 2 + (3,)
    assert ep.action.shape == (len(ep), 7) and bool(ep.success[-1]) and not ep.success[:-1].any()
    assert np.all(np.diff(ep.stage[ep.stage >= 0]) >= -1)
    for e in (env, twin, fast):
        e.close()


def check_phase_names(scene: str) -> None:
    """The names a scene's plans use, over its tasks, failures and staged recoveries, are its
    declared `phase_names` (the names `noise_phases` may use)."""
    env = make_env(scene, render=False)
    task = env.unwrapped.task
    names = set()
    for name in task.task_names():
        env.reset(seed=0, options={"task": name})
        sc = env.unwrapped.scene
        for failure in (None, *task.failure_modes):
            names |= {p.name for p in task.plan(sc, np.random.default_rng(0), failure)}
        plan = task.plan(sc, np.random.default_rng(0), None)
        if "regrasp" in task.recovery_options:
            names |= {p.name for p in staged_miss(plan, np.random.default_rng(0))}
        if "drop" in task.recovery_options:
            names |= {p.name for p in staged_drop(plan, np.random.default_rng(0))}
    env.close()
    assert names == set(task.phase_names)
