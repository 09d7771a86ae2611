"""Closed-loop evaluation of a FlowPolicy in the sim: success rate (Wilson 95 % CI), final progress.

Chunks execute with a receding horizon: the policy is queried when an env's action queue is empty and
the first `n_action_steps` actions of the chunk are queued. With `temporal_ensemble=k` the policy is
queried every step and the action for step s is the exp(−k·age)-weighted mean of every chunk that
covers s, oldest weighted most (ACT). Inference is batched across the envs that need a chunk.

`policy` is anything with `config` and `sample(batch, ...)` (a `FlowPolicy`, or a `SteeredPolicy` RL
fine-tune): this harness drives the simulator and needs none of the model's code, so it lives with
the sim, beside `policy_rollouts`, and the models layer stays free of the simulator.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from robo_reward.data.episode import EPISODE_STEP_KEY, IMAGE_KEY
from robo_reward.utils.logging import progress_bar

if TYPE_CHECKING:
    from robo_reward.sim.tasks.base import Wordings

WORDING_STREAM = 7  # the random stream of an episode's wording, apart from the env's own seed


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (95 % by default); (0, 1) when n = 0."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def gain_interval(after: tuple[int, int], before: tuple[int, int]) -> tuple[float, float, float]:
    """Success gain p_after − p_before of (successes, episodes) pairs and its 95 % interval by Newcombe's
    hybrid score method (each rate's Wilson interval; Newcombe 1998, method 10)."""
    (s1, n1), (s0, n0) = after, before
    p1, p0 = s1 / n1, s0 / n0
    (l1, u1), (l0, u0) = wilson_interval(s1, n1), wilson_interval(s0, n0)
    d = p1 - p0
    return d, d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)


class _ChunkScheduler:
    """Per-env action source: a receding-horizon queue, or ACT temporal ensembling."""

    def __init__(self, n_action_steps: int, temporal_ensemble: float | None):
        self.n_action_steps, self.k = n_action_steps, temporal_ensemble
        self.reset()

    def reset(self) -> None:
        self.step = 0
        self.queue: list[np.ndarray] = []
        self.chunks: list[tuple[int, np.ndarray]] = []  # (start step, chunk) for ensembling

    def needs_chunk(self) -> bool:
        return self.k is not None or not self.queue

    def push(self, chunk: np.ndarray) -> None:
        if self.k is None:
            self.queue = list(chunk[: self.n_action_steps])
        else:
            self.chunks = [(s, c) for s, c in self.chunks if s + len(c) > self.step] + [(self.step, chunk)]

    def pop(self) -> np.ndarray:
        if self.k is None:
            action = self.queue.pop(0)
        else:  # chunks are oldest first; ACT weights w_i = exp(−k·i), i = 0 for the oldest
            preds = np.stack([c[self.step - s] for s, c in self.chunks])
            w = np.exp(-self.k * np.arange(len(preds)))
            action = (w[:, None] * preds).sum(0) / w.sum()
        self.step += 1
        return action


def episode_wording(wordings: Wordings, split: str, seed: int) -> str:
    """The instruction of the episode with env seed `seed`: the canonical wording, or one of the `train` /
    `held_out` wordings drawn by the seed (the same seed draws the same wording in every evaluation)."""
    return wordings.choose(split, np.random.default_rng([seed, WORDING_STREAM]))


def evaluate(
    policy,
    task: str,
    episodes: int = 20,
    num_envs: int = 4,
    seed: int = 0,
    n_action_steps: int | None = None,
    temporal_ensemble: float | None = None,
    num_steps: int | None = None,
    noise_scale: float | None = None,
    image_size: int | None = None,
    max_steps: int | None = None,
    record: int = 0,
    sheet_dir: str | Path | None = None,
    wordings: str = "canonical",
) -> dict[str, Any]:
    """Roll out `policy` for `episodes` episodes (seeds seed, seed+1, ...) on `num_envs` sync envs.

    `task` is a task or one of a grounding scene's tasks (`pick_place_color:blue`); the initial state
    depends on the seed only, so the same seeds under each of a scene's tasks swap the instruction on
    the same initial states. `wordings`: each episode's instruction is the task's canonical wording, or
    drawn from its `train` or `held_out` wordings (`episode_wording`: by seed, whatever the task list).
    Returns success rate with its Wilson 95 % interval, mean final progress, steps, timings, per episode
    the instruction and the tasks achieved at its end and, with `record` > 0 and `sheet_dir`, contact
    sheets (PNG) of the first `record` rollouts.
    """
    import gymnasium as gym
    from gymnasium.vector import AutoresetMode

    from robo_reward.sim import make_env, task_spec

    cfg = policy.config
    policy.eval()
    spec = task_spec(task)
    instructions = [episode_wording(spec.wordings, wordings, seed + ep) for ep in range(episodes)]
    size = image_size or cfg.source_image_size or cfg.image_size
    num_envs = max(1, min(num_envs, episodes))
    n_exec = n_action_steps or cfg.n_action_steps

    def factory():
        return make_env(task, image_size=size, views=tuple(cfg.views), max_steps=max_steps)

    envs = gym.vector.SyncVectorEnv([factory] * num_envs, autoreset_mode=AutoresetMode.DISABLED)
    sched = [_ChunkScheduler(n_exec, temporal_ensemble) for _ in range(num_envs)]
    next_ep = 0
    slot_ep = [-1] * num_envs  # episode index running in each slot (−1: idle)
    results: dict[int, dict] = {}
    frames: dict[int, dict[str, list]] = {}
    t_policy = t_sim = 0.0
    t0 = time.perf_counter()

    def assign(mask: np.ndarray):
        nonlocal next_ep
        seeds = []
        for i in range(num_envs):
            if mask[i]:
                slot_ep[i] = next_ep if next_ep < episodes else -1
                next_ep += 1
                sched[i].reset()
            seeds.append(seed + slot_ep[i] if mask[i] and slot_ep[i] >= 0 else seed + episodes + i)
        return seeds

    generator = torch.Generator(device=policy.device).manual_seed(seed)  # chunk noise, reproducible
    obs, info = envs.reset(seed=assign(np.ones(num_envs, bool)))
    progress_trace: dict[int, list[float]] = {}
    bar = progress_bar()
    job = bar.add_task(f"eval {task}", total=episodes, info="")
    bar.start()
    try:
        while len(results) < episodes:
            need = [i for i in range(num_envs) if slot_ep[i] >= 0 and sched[i].needs_chunk()]
            if need:
                tp = time.perf_counter()
                batch = {
                    k: v[need] for k, v in obs.items() if k.startswith(IMAGE_KEY) or k == "observation.state"
                }
                batch["task"] = [instructions[slot_ep[i]] for i in need]
                batch[EPISODE_STEP_KEY] = np.array([sched[i].step for i in need])
                with torch.inference_mode():
                    chunks = policy.sample(
                        batch, num_steps=num_steps, generator=generator, noise_scale=noise_scale
                    )
                    chunks = chunks.cpu().numpy()
                for j, i in enumerate(need):
                    sched[i].push(chunks[j])
                t_policy += time.perf_counter() - tp
            for i in range(num_envs):
                if 0 <= slot_ep[i] < record:
                    rec = frames.setdefault(slot_ep[i], {})
                    for v in cfg.views:
                        rec.setdefault(v, []).append(obs[IMAGE_KEY + v][i].copy())
            actions = np.stack(
                [sched[i].pop() if slot_ep[i] >= 0 else np.zeros(cfg.action_dim) for i in range(num_envs)]
            ).astype(np.float32)
            ts = time.perf_counter()
            obs, _, terminated, truncated, info = envs.step(actions)
            t_sim += time.perf_counter() - ts
            done = terminated | truncated
            for i in range(num_envs):
                ep = slot_ep[i]
                if ep < 0:
                    continue
                progress_trace.setdefault(ep, []).append(float(info["progress"][i]))
                if done[i]:
                    results[ep] = {
                        "seed": seed + ep,
                        "instruction": instructions[ep],
                        "success": bool(info["success"][i]),
                        "achieved": list(info["achieved"][i]),
                        "final_progress": float(info["progress"][i]),
                        "steps": sched[i].step,
                    }
                    successes = sum(r["success"] for r in results.values())
                    bar.update(job, completed=len(results), info=f"{successes} successes")
            if done.any():  # autoreset is off: finished envs (idle ones too) must be reset before stepping
                obs, _ = envs.reset(seed=assign(done), options={"reset_mask": done})
    finally:
        bar.stop()
        envs.close()

    rows = [results[e] for e in range(episodes)]
    n_success = sum(r["success"] for r in rows)
    lo, hi = wilson_interval(n_success, episodes)
    out: dict[str, Any] = {
        "task": task,
        "wordings": wordings,
        "episodes": episodes,
        "success_rate": n_success / episodes,
        "success_ci95": [lo, hi],
        "mean_final_progress": float(np.mean([r["final_progress"] for r in rows])),
        "mean_steps": float(np.mean([r["steps"] for r in rows])),
        "n_action_steps": n_exec,
        "temporal_ensemble": temporal_ensemble,
        "noise_scale": cfg.noise_scale if noise_scale is None else noise_scale,
        "num_envs": num_envs,
        "seed": seed,
        "wall_s": time.perf_counter() - t0,
        "policy_s": t_policy,
        "sim_s": t_sim,
        "per_episode": rows,
    }
    if record and sheet_dir is not None:
        out["sheets"] = _sheets(frames, progress_trace, rows, Path(sheet_dir), task)
    return out


def _sheets(frames, progress, rows, folder: Path, task: str) -> list[str]:
    from robo_reward.utils.plots import contact_sheet

    paths = []
    for ep, views in sorted(frames.items()):
        r = rows[ep]
        tag = "success" if r["success"] else f"fail (progress {r['final_progress']:.2f})"
        path = contact_sheet(
            {v: np.stack(f) for v, f in views.items()},
            folder / f"{task.replace('/', '_')}_ep{ep:02d}.png",
            curves={"progress": np.asarray(progress[ep])},
            title=f"{task} seed {r['seed']}: {tag}",
        )
        paths.append(str(path))
    return paths
