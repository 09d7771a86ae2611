"""Reward-model speed: the GRM as an online reward (per control step) and as an offline labeller.

Online: one env with its 3 views, stepped with random actions; each control step's reward is the
`grm` progress source's `update` on that step's observation (what the RL wrapper and the ROS reward
node call). Its time is reported beside the env step's own, measured in the same loop, so a busy
machine shows in both; so is the image encoding alone, through the frozen inference graph and through
the eager encoder (the reference) on the same frames, alternating step by step. Offline:
`ProgressEstimator` over recorded episodes, every frame labelled, once with the image features
computed (cold) and once read from the feature cache (warm).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from robo_reward.utils.cli_helpers import emit_json, print_table

ONLINE_TARGET_MS = 20.0
OFFLINE_TARGET_FPS = 1000.0


def _online(model, task: str, steps: int, image_size: int) -> dict:
    from robo_reward.data.episode import IMAGE_KEY
    from robo_reward.rewards.sources import make_source
    from robo_reward.sim import make_env

    env = make_env(task, image_size=image_size)
    obs, _ = env.reset(seed=0)
    source = make_source("grm", 1, env.unwrapped.instruction, model=model)
    source.reset(np.ones(1, bool), _batched(obs), {})
    actions = np.random.default_rng(0).uniform(-0.3, 0.3, (steps, 7)).astype(np.float32)
    reward_ms, env_ms, graph_ms, eager_ms = [], [], [], []
    views = model.config.views
    try:
        for a in actions:
            t0 = time.perf_counter()
            obs, _, term, trunc, _ = env.step(a)
            t1 = time.perf_counter()
            source.update(np.ones(1, bool), _batched(obs), {})
            t2 = time.perf_counter()
            env_ms.append(1e3 * (t1 - t0))
            reward_ms.append(1e3 * (t2 - t1))
            frames = {v: np.asarray(obs[IMAGE_KEY + v])[None] for v in views}
            with torch.no_grad():
                for graph, out in ((True, graph_ms), (False, eager_ms)):
                    t = time.perf_counter()
                    model.encode_frames(frames, graph=graph)
                    out.append(1e3 * (time.perf_counter() - t))
            if term or trunc:
                obs, _ = env.reset()
                source.reset(np.ones(1, bool), _batched(obs), {})
    finally:
        env.close()
    warm = slice(min(5, steps // 4), None)  # the first steps pay for lazy initialisation
    return {
        "reward_ms_p50": float(np.median(reward_ms[warm])),
        "reward_ms_p95": float(np.percentile(reward_ms[warm], 95)),
        "env_step_ms_p50": float(np.median(env_ms[warm])),
        "reward_over_env_step": float(np.median(reward_ms[warm]) / np.median(env_ms[warm])),
        "encode_ms_p50_graph": float(np.median(graph_ms[warm])),
        "encode_ms_p50_eager": float(np.median(eager_ms[warm])),
        "encode_speedup_graph": float(np.median(eager_ms[warm]) / np.median(graph_ms[warm])),
    }


def _batched(obs: dict) -> dict:
    return {k: (np.asarray(v)[None] if not isinstance(v, str) else [v]) for k, v in obs.items()}


def _offline(model, data: Path, episodes: int) -> dict:
    from robo_reward.data.lerobot_io import dataset_info, load_episodes
    from robo_reward.models.grm.features import FeatureCache
    from robo_reward.models.grm.inference import ProgressEstimator

    eps = load_episodes(data, episodes=range(min(episodes, dataset_info(data)["episodes"])))
    frames = sum(len(ep) for ep in eps)
    estimator = ProgressEstimator(model, cache=FeatureCache(model))
    rates = {}
    for name in ("cold", "warm"):  # warm: the same episodes again, features from the cache
        t = time.perf_counter()
        for ep in eps:
            estimator(ep)
        rates[name] = frames / (time.perf_counter() - t)
    return {
        "episodes": len(eps),
        "frames": frames,
        "label_fps_cold": rates["cold"],
        "label_fps_warm": rates["warm"],
    }


def run(
    checkpoint: Path,
    data: Path | None = None,
    task: str = "open_drawer",
    steps: int = 100,
    image_size: int = 128,
    episodes: int = 20,
    threads: int = 2,
    json: Path | None = None,
) -> dict:
    from robo_reward.models.grm.modeling_grm import GRM

    torch.set_num_threads(threads)
    model = GRM.from_pretrained(checkpoint).eval()
    result = {
        "checkpoint": str(checkpoint),
        "task": task,
        "image_size": image_size,
        "views": len(model.config.views),
        "threads": threads,
        **_online(model, task, steps, image_size),
        "online_target_ms": ONLINE_TARGET_MS,
    }
    if data is not None:
        result |= {**_offline(model, data, episodes), "offline_target_fps": OFFLINE_TARGET_FPS}
    print_table("reward model speed", [{"metric": k, "value": v} for k, v in result.items()])
    emit_json(json, result)
    return result
