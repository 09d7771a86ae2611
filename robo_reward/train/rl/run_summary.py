"""What an RL run reports: the scale of the rewards per update, and the run summary with its
success-vs-rollouts curve (read back from episodes.jsonl, so a resumed run summarises all of it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from robo_reward.train.rl.configuration_rl import RLConfig
from robo_reward.train.rl.rollout import Transition


def reward_stats(transitions: list[Transition]) -> dict[str, float]:
    """Scale of the rewards the learner saw in one update: per env step and per chunk."""
    if not transitions:
        return {}
    steps = np.array([r for t in transitions for r in t.rewards], dtype=np.float64)
    chunks = np.array([t.reward for t in transitions], dtype=np.float64)
    return {
        "charts/mean_chunk_reward": float(chunks.mean()),
        "charts/std_chunk_reward": float(chunks.std()),
        "charts/mean_step_reward": float(steps.mean()),
        "charts/std_step_reward": float(steps.std()),
        "charts/min_step_reward": float(steps.min()),
        "charts/max_step_reward": float(steps.max()),
    }


def summarize_run(out: Path, cfg: RLConfig, state: dict) -> dict:
    """Success-vs-rollouts curve (running mean over `success_window` training episodes) + timings."""
    rows = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines() if line.strip()]
    w = cfg.success_window

    def running(key: str) -> list[float]:
        x = np.array([r[key] for r in rows], dtype=np.float64)
        return [float(x[max(0, i + 1 - w) : i + 1].mean()) for i in range(len(x))]

    success, progress = running("success"), running("final_progress")
    return {
        "task": cfg.task,
        "reward": cfg.reward,
        "seed": cfg.seed,
        "episodes": len(rows),
        "env_steps": state["env_steps"],
        "updates": state["update"],
        "curve": {"rollouts": [r["index"] for r in rows], "success": success, "final_progress": progress},
        "final_success": success[-1] if success else 0.0,
        "final_progress": progress[-1] if progress else 0.0,
        "timings": state["timings"],
        "wall_s": state["wall"],
    }
