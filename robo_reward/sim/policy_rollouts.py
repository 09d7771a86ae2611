"""Record a policy's own rollouts as episodes, with the simulator's privileged truth per frame.

A reward model that shapes RL or judges DPO is queried on the states a policy visits — near misses,
stalls, wrong grasps — not only on an expert's. These episodes (labelled by the simulator's progress,
stage and success, like scripted demos) are what it is trained and tested on besides the demos.

`policy` is anything with `config` (views, chunk_size, n_action_steps) and `sample(batch, generator=,
noise_scale=)` returning (B, H, A) chunks: a `FlowPolicy`, or an RL fine-tune that steers one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from robo_reward.data.episode import EPISODE_STEP_KEY, IMAGE_KEY, STATE_KEY, Episode


def chunk_actor(policy, instruction: str, generator: torch.Generator, n_action_steps: int | None = None,
                noise_scale: float | None = None) -> Callable[[dict, dict], np.ndarray]:  # fmt: skip
    """An `act_fn(obs, info)` for one episode that queries `policy` for a chunk when its queue is empty
    and executes the chunk's first `n_action_steps` actions (receding horizon, as in evaluation)."""
    n_exec = n_action_steps or policy.config.n_action_steps
    queue: list[np.ndarray] = []
    steps = [0]  # env steps executed in this episode

    def act(obs: dict, info: dict) -> np.ndarray:
        if not queue:
            batch = {
                k: np.asarray(v)[None] for k, v in obs.items() if k.startswith(IMAGE_KEY) or k == STATE_KEY
            }
            batch["task"] = [instruction]
            batch[EPISODE_STEP_KEY] = np.array(steps)
            with torch.inference_mode():
                chunk = policy.sample(batch, generator=generator, noise_scale=noise_scale)[0].cpu().numpy()
            queue.extend(chunk[:n_exec])
        steps[0] += 1
        return queue.pop(0)

    return act


def collect_policy_episodes(
    policy,
    task: str,
    n: int,
    seed: int,
    image_size: int = 96,
    n_action_steps: int | None = None,
    noise_scale: float | None = None,
    on_episode: Callable[[Episode], None] | None = None,
) -> list[Episode]:
    """`n` rollouts of `policy` on `task`, episode i from env seed `seed + i` (chunk noise seeded too).

    `noise_scale`: the policy's sampling temperature (None: its own); 0 gives its deterministic mode."""
    from robo_reward.sim import make_env, task_spec
    from robo_reward.sim.rollout import run_episode

    instruction = task_spec(task).instruction
    env = make_env(task, image_size=image_size)

    def episode(i: int) -> Episode:
        act = chunk_actor(
            policy, instruction, torch.Generator().manual_seed(seed + i), n_action_steps, noise_scale
        )
        ep = run_episode(env, act, seed=seed + i)
        if on_episode is not None:
            on_episode(ep)
        return ep

    try:
        return [episode(i) for i in range(n)]
    finally:
        env.close()
