"""Check the task suite against its targets: expert success, failure injection, progress shape, speed.

python -m robo_reward.sim.validate [--tasks reach,push] [--seeds 20] [--noise 0.0] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from robo_reward.sim.experts import make_expert
from robo_reward.sim.registry import make_env
from robo_reward.sim.rollout import rollout
from robo_reward.sim.tasks import TASKS

TARGETS = {
    "expert_success": 0.9,
    "failure_success": 0.1,
    "progress_start": 0.05,
    "progress_end": 0.95,
    "spearman": 0.9,
}


def validate(
    tasks=None, seeds: int = 20, noise: float = 0.0, render: bool = False, image_size: int = 96
) -> list[dict]:
    """One row per task (each task of a grounding scene, `<scene>:<subtask>`, has its own); `ok` says
    whether every target holds."""
    rows = []
    for task in tasks or suite_tasks():
        env = make_env(task, render=render, image_size=image_size)
        steps, t0 = 0, time.perf_counter()
        ok_runs, starts, ends, rhos = 0, [], [], []
        for seed in range(seeds):
            expert = make_expert(env, noise=noise, rng=np.random.default_rng(seed))
            traj = rollout(env, expert.act, seed=seed)
            steps += len(traj.actions) - 1
            if traj.outcome == "success":
                ok_runs += 1
                starts.append(traj.progress[0])
                ends.append(traj.progress[-1])
                rho = spearmanr(np.arange(len(traj.progress)), traj.progress).statistic
                rhos.append(1.0 if np.isnan(rho) else rho)
        modes = env.unwrapped.task.failure_modes
        fail_ok, outcomes = 0, {}
        for seed in range(seeds):
            mode = modes[seed % len(modes)]
            expert = make_expert(env, noise=noise, failure=mode, rng=np.random.default_rng(seed))
            traj = rollout(env, expert.act, seed=seed)
            steps += len(traj.actions) - 1
            fail_ok += traj.outcome == "success"
            outcomes[traj.outcome] = outcomes.get(traj.outcome, 0) + 1
        elapsed = time.perf_counter() - t0
        env.close()
        row = {
            "task": task,
            "expert_success": ok_runs / seeds,
            "failure_success": fail_ok / seeds,
            "failure_outcomes": outcomes,
            "progress_start": float(np.max(starts)) if starts else float("nan"),
            "progress_end": float(np.min(ends)) if ends else float("nan"),
            "spearman": float(np.mean(rhos)) if rhos else float("nan"),
            "spearman_min": float(np.min(rhos)) if rhos else float("nan"),
            "steps_per_s": steps / elapsed,
        }
        row["ok"] = bool(
            row["expert_success"] >= TARGETS["expert_success"]
            and row["failure_success"] <= TARGETS["failure_success"]
            and row["progress_start"] <= TARGETS["progress_start"]
            and row["progress_end"] >= TARGETS["progress_end"]
            and row["spearman"] >= TARGETS["spearman"]
        )
        rows.append(row)
    return rows


def suite_tasks() -> list[str]:
    """Every task of the suite: the registered ones, a grounding scene's split into its tasks."""
    return [name for cls in TASKS.values() for name in cls.task_names()]


def format_table(rows: list[dict]) -> str:
    head = "| task | expert success | success w/ failure | progress start (max) | end (min) | Spearman mean/min | steps/s | ok |"
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['expert_success']:.0%} | {r['failure_success']:.0%} | {r['progress_start']:.3f}"
            f" | {r['progress_end']:.3f} | {r['spearman']:.3f}/{r['spearman_min']:.3f} | {r['steps_per_s']:.0f}"
            f" | {'yes' if r['ok'] else 'NO'} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", default=",".join(suite_tasks()))
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--noise", type=float, default=0.0)
    p.add_argument("--render", action="store_true", help="render images too (measures the full env cost)")
    p.add_argument("--json", type=Path)
    a = p.parse_args(argv)
    rows = validate(a.tasks.split(","), seeds=a.seeds, noise=a.noise, render=a.render)
    print(format_table(rows))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(rows, indent=2))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
