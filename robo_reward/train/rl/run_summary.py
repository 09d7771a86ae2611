"""What an RL run reports: its success-vs-rollouts curve (read back from episodes.jsonl, so a resumed run
summarises all of it, with a PNG), and the evaluation of the exported policy on held-out seeds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from robo_reward.train.rl.configuration_rl import RLConfig

# Evaluation seed sets: never used for training (50_000+) nor for demos (0..N) nor for choosing settings
EVAL_SEED_SETS = (20_000, 21_000, 22_000, 23_000, 24_000)


def running_mean(x: np.ndarray, window: int) -> list[float]:
    """Mean of the last `window` values at each index (fewer at the start)."""
    x = np.asarray(x, dtype=np.float64)
    return [float(x[max(0, i + 1 - window) : i + 1].mean()) for i in range(len(x))]


def summarize_run(out: Path, cfg: RLConfig, state: dict) -> dict:
    """Success-vs-rollouts curve (running mean over `log.success_window` training episodes) + timings."""
    from robo_reward.utils.plots import line_plot

    rows = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines() if line.strip()]
    w = cfg.log.success_window
    x = [r["index"] for r in rows]
    success = running_mean([r["success"] for r in rows], w)
    progress = running_mean([r["final_progress"] for r in rows], w)
    if rows:
        line_plot(
            {
                "success": (np.array(x), np.array(success)),
                "final progress": (np.array(x), np.array(progress)),
            },
            out / "success_vs_rollouts.png",
            xlabel="training episodes (rollouts)",
            ylabel=f"running mean of {w} episodes",
            title=f"{cfg.task}: {cfg.algorithm}, {cfg.reward} reward, seed {cfg.seed}",
        )
    return {
        "task": cfg.task,
        "reward": cfg.reward,
        "algorithm": cfg.algorithm,
        "seed": cfg.seed,
        "episodes": len(rows),
        "env_steps": state["env_steps"],
        "curve": {"rollouts": x, "success": success, "final_progress": progress},
        "final_success": success[-1] if success else 0.0,
        "final_progress": progress[-1] if progress else 0.0,
        "timings": state["timings"],
        "wall_s": state["wall"],
    }


def rollout_shape(cfg: RLConfig, policy_config) -> tuple[int, int]:
    """(env steps executed per decision, camera image size) of a run of `cfg` with that policy."""
    n_exec = cfg.rollout.n_action_steps or policy_config.n_action_steps
    size = (
        cfg.rollout.image_size
        or getattr(policy_config, "source_image_size", None)
        or policy_config.image_size
    )
    return n_exec, size


def evaluate_policy(
    folder: Path, cfg: RLConfig, candidates: int | None = None, guide: str | None = None
) -> dict:
    """The exported policy on `log.eval_seeds` held-out seed sets of `log.eval_episodes` episodes each,
    rolled out as the run was (`candidates` > 1: acting value-guided by the critics' `guide` statistic,
    see `SteeredPolicy`)."""
    from robo_reward.models.flow_policy.steering import load_policy
    from robo_reward.sim.policy_evaluation import evaluate, wilson_interval

    if cfg.log.eval_seeds > len(EVAL_SEED_SETS):
        raise ValueError(f"log.eval_seeds must be ≤ {len(EVAL_SEED_SETS)}, got {cfg.log.eval_seeds}")
    policy = load_policy(folder, device=cfg.device, candidates=candidates, guide=guide)
    n_action_steps, image_size = rollout_shape(cfg, policy.config)
    per_set = []
    for seed in EVAL_SEED_SETS[: cfg.log.eval_seeds]:
        r = evaluate(
            policy, cfg.task, episodes=cfg.log.eval_episodes, num_envs=cfg.rollout.num_envs, seed=seed,
            n_action_steps=n_action_steps, image_size=image_size, max_steps=cfg.rollout.max_steps,
        )  # fmt: skip
        per_set.append({k: r[k] for k in ("seed", "episodes", "success_rate", "mean_final_progress")})
    n = sum(s["episodes"] for s in per_set)
    wins = sum(round(s["success_rate"] * s["episodes"]) for s in per_set)
    return {
        "success_rate": wins / n,
        "success_ci95": list(wilson_interval(wins, n)),
        "mean_final_progress": float(np.mean([s["mean_final_progress"] for s in per_set])),
        "episodes": n,
        "per_seed_set": per_set,
    }
