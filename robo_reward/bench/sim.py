"""Sim speed on this machine: the gymnasium env against raw MuJoCo on the same scene, and vector envs.

`raw` = mj_step × substeps + one render per view with the same `mujoco.Renderer` settings; `env` adds
the IK controller, the task's progress and the observation dict. Blocks are interleaved and the best
of `repeats` is kept, so a busy machine affects both sides alike.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

from robo_reward.sim import make_env
from robo_reward.utils.cli_helpers import emit_json, print_table

TARGET_RATIO = 0.8
TASK = "pick_place"


def _actions(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.3, 0.3, (n, 7)).astype(np.float32)


def _env_rate(env, actions: np.ndarray) -> float:
    env.reset(seed=0)
    t = time.perf_counter()
    for a in actions:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    return len(actions) / (time.perf_counter() - t)


def _raw_rate(env, steps: int, render: bool) -> float:
    import mujoco  # after robo_reward.sim, which picks the headless GL backend before mujoco loads

    base = env.unwrapped
    m, d = base.model, mujoco.MjData(base.model)
    mujoco.mj_resetDataKeyframe(m, d, m.key("home").id)
    renderer = mujoco.Renderer(m, base.image_size, base.image_size) if render else None
    if renderer is not None:
        renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = base.shadows
        renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = base.reflections
    try:
        t = time.perf_counter()
        for _ in range(steps):
            for _ in range(base.n_substeps):
                mujoco.mj_step(m, d)
            if renderer is not None:
                for v in base.views:
                    renderer.update_scene(d, camera=v)
                    renderer.render()
        return steps / (time.perf_counter() - t)
    finally:
        if renderer is not None:
            renderer.close()


def _vector_rate(num_envs: int, steps: int, image_size: int) -> float:
    fns = [functools.partial(make_env, TASK, image_size=image_size) for _ in range(num_envs)]
    venv = gym.vector.AsyncVectorEnv(fns)
    try:
        venv.reset(seed=list(range(num_envs)))
        actions = _actions(steps)
        t = time.perf_counter()
        for a in actions:
            venv.step(np.repeat(a[None], num_envs, 0))
        return num_envs * steps / (time.perf_counter() - t)
    finally:
        venv.close()


def run(json: Path | None = None, steps: int = 200, image_size: int = 96, repeats: int = 3) -> dict:
    env = make_env(TASK, image_size=image_size)
    fast = make_env(TASK, image_size=image_size, render=False)
    actions = _actions(steps)
    rates: dict[str, list[float]] = {k: [] for k in ("env", "raw", "env_physics", "raw_physics")}
    for _ in range(repeats):
        rates["raw"].append(_raw_rate(env, steps, render=True))
        rates["env"].append(_env_rate(env, actions))
        rates["raw_physics"].append(_raw_rate(fast, steps, render=False))
        rates["env_physics"].append(_env_rate(fast, actions))
    env.close()
    best = {k: max(v) for k, v in rates.items()}
    one = _vector_rate(1, steps // 2, image_size)
    two = _vector_rate(2, steps // 2, image_size)
    result = {
        "task": TASK,
        "image_size": image_size,
        "views": 3,
        "env_steps_per_s": best["env"],
        "raw_steps_per_s": best["raw"],
        "ratio": best["env"] / best["raw"],
        "target_ratio": TARGET_RATIO,
        "env_physics_steps_per_s": best["env_physics"],
        "raw_physics_steps_per_s": best["raw_physics"],
        "physics_ratio": best["env_physics"] / best["raw_physics"],
        "async_1_steps_per_s": one,
        "async_2_steps_per_s": two,
        "async_scaling": two / one,
    }
    print_table("sim speed", [{"metric": k, "value": v} for k, v in result.items()])
    emit_json(json, result)
    return result


if __name__ == "__main__":
    run()
