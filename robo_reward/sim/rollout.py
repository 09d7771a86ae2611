"""Run one episode with any action function and record it as an `Episode` (plus privileged truth)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from robo_reward.data.episode import ENV_STATE_KEY, IMAGE_KEY, STATE_KEY, Episode


@dataclass
class Trajectory:
    """Per-frame arrays of one rollout; frame t is observed before action t is applied."""

    observations: list[dict]
    actions: np.ndarray  # (T, A)
    progress: np.ndarray  # (T,)
    stage: np.ndarray  # (T,)
    success: np.ndarray  # (T,)
    task: str
    task_name: str
    num_stages: int
    environment_state: np.ndarray | None = None  # (T, E) privileged object state, when the env has one
    achieved: tuple[str, ...] = ()  # the scene's tasks whose success condition holds at the end

    @property
    def outcome(self) -> str:
        return label_outcome(self.success, self.stage, self.progress, self.num_stages)


def label_outcome(success, stage, progress, num_stages: int) -> str:
    """`success` if successful at the end; `partial` if stage ≥ 1 was reached (max progress ≥ 0.5 for
    single-stage tasks); else `failure`."""
    if bool(success[-1]):
        return "success"
    partial = np.max(stage) >= 1 if num_stages > 1 else np.max(progress) >= 0.5
    return "partial" if partial else "failure"


def rollout(
    env,
    act_fn: Callable[[dict, dict], np.ndarray],
    seed: int,
    max_steps: int | None = None,
    label_fn: Callable[[], np.ndarray] | None = None,
    options: dict | None = None,
) -> Trajectory:
    """Reset with `seed`, act until terminated / truncated / `max_steps`; the terminal observation is
    recorded with the env's hold action so the last frame shows the final state.

    The recorded action is the executed one, unless `label_fn` is given: then `label_fn()`, called right
    after each `act_fn`, is recorded instead (e.g. the expert's noise-free action while a noisy one runs).
    `options` go to `env.reset` (e.g. which task of a grounding scene to instruct).
    """
    base = env.unwrapped
    obs, info = env.reset(seed=seed, options=options)
    frames, actions, infos = [], [], []
    env_state = getattr(base, "environment_state", None)
    objects = [] if env_state is None else [env_state()]
    limit = max_steps if max_steps is not None else base.max_steps
    for _ in range(limit):
        action = np.asarray(act_fn(obs, info), dtype=np.float32)
        label = action if label_fn is None else np.asarray(label_fn(), dtype=np.float32)
        if label.shape != action.shape:
            raise ValueError(f"label_fn gave shape {label.shape}, the action has shape {action.shape}")
        frames.append(obs)
        actions.append(label)
        infos.append(info)
        obs, _, terminated, truncated, info = env.step(action)
        if env_state is not None:
            objects.append(env_state())
        if terminated or truncated:
            break
    frames.append(obs)
    actions.append(np.asarray(base.hold_action(), dtype=np.float32))
    infos.append(info)
    spec = base.task
    return Trajectory(
        observations=frames,
        actions=np.stack(actions),
        progress=np.array([i["progress"] for i in infos], dtype=np.float32),
        stage=np.array([i["stage"] for i in infos], dtype=np.int64),
        success=np.array([i["success"] for i in infos], dtype=bool),
        task=infos[0]["task"],
        task_name=infos[0]["task_name"],
        num_stages=spec.num_stages,
        environment_state=np.stack(objects) if objects else None,
        achieved=tuple(infos[-1].get("achieved", ())),
    )


def run_episode(
    env,
    act_fn: Callable[[dict, dict], np.ndarray],
    seed: int,
    max_steps: int | None = None,
    fps: float = 10.0,
    label_fn: Callable[[], np.ndarray] | None = None,
    options: dict | None = None,
) -> Episode:
    """One rollout as an `Episode` (needs an env that renders images); `label_fn`, `options` as in
    `rollout`."""
    traj = rollout(env, act_fn, seed, max_steps, label_fn=label_fn, options=options)
    obs0 = traj.observations[0]
    views = [k[len(IMAGE_KEY) :] for k in obs0 if k.startswith(IMAGE_KEY)]
    if not views:
        raise ValueError("run_episode needs image observations; build the env with render=True")
    return Episode(
        views={v: np.stack([o[f"{IMAGE_KEY}{v}"] for o in traj.observations]) for v in views},
        state=np.stack([o[STATE_KEY] for o in traj.observations]).astype(np.float32),
        action=traj.actions,
        task=traj.task,
        fps=fps,
        task_name=traj.task_name,
        progress=traj.progress,
        stage=traj.stage,
        success=traj.success,
        outcome=traj.outcome,
        extras={} if traj.environment_state is None else {ENV_STATE_KEY: traj.environment_state},
    )
