"""Compare rewards for online RL: the same BC init trained with each reward over several seeds.

Outputs in the compare folder: one run folder per (reward, seed), `success_vs_rollouts.png` (mean
running success over seeds, min–max band), `compare.md` (the table) and the returned/JSON dict.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from robo_reward.train.rl.configuration_rl import RLConfig
from robo_reward.train.rl.trainer import train


def mean_curve(
    curves: list[dict], rollouts: int, key: str = "success"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Running curves (`key`) of several seeds on the grid 1..rollouts (held constant after a
    curve's last point): (x, mean, min, max)."""
    x = np.arange(1, rollouts + 1)
    ys = []
    for c in curves:
        if not c["rollouts"]:
            ys.append(np.zeros(len(x)))
            continue
        ys.append(np.interp(x, c["rollouts"], c[key]))
    ys = np.array(ys)
    return x, ys.mean(0), ys.min(0), ys.max(0)


def rollouts_to_fraction(
    x: np.ndarray, y: np.ndarray, final: float, fraction: float = 0.8, from_rollout: int = 1
) -> int | None:
    """First rollout (from `from_rollout` on) where the curve reaches `fraction` of `final` (None when
    final is 0). A running mean is read only once its window is full: over its first few episodes it is
    the mean of a handful and crosses any level by chance."""
    if final <= 0:
        return None
    hit = np.flatnonzero((y >= fraction * final) & (x >= from_rollout))
    return int(x[hit[0]]) if len(hit) else None


def compare(
    base: RLConfig,
    rewards: list[str],
    seeds: int,
    out: str | Path,
    show_progress: bool | None = None,
    overwrite: bool = False,
    resume: bool = False,
) -> dict[str, Any]:
    """Every reward × seed from `base` into `out/<reward>/seed<i>`, then the table and curves. `resume`
    continues each run from its checkpoint and reuses finished ones (each verified against its options);
    runs not started yet start fresh."""
    from robo_reward.utils.cli_helpers import markdown_table
    from robo_reward.utils.plots import line_plot

    out = Path(out)
    # every config is built (and checked) before the first run starts
    configs = [dataclasses.replace(base, reward=r, seed=base.seed + i) for r in rewards for i in range(seeds)]
    runs: dict[str, list[dict]] = {}
    for cfg in configs:
        run_dir = out / cfg.reward / f"seed{cfg.seed - base.seed}"
        again = resume and (run_dir / "checkpoint").exists()
        runs.setdefault(cfg.reward, []).append(
            train(cfg, run_dir, resume=again, overwrite=overwrite and not again, show_progress=show_progress)
        )
    rows, series, bands, progress_series = [], {}, {}, {}
    for reward, summaries in runs.items():
        x, mean, lo, hi = mean_curve([s["curve"] for s in summaries], base.rollouts)
        series[reward], bands[reward] = (x, mean), (lo, hi)
        xp, mean_p, _, _ = mean_curve([s["curve"] for s in summaries], base.rollouts, "final_progress")
        progress_series[reward] = (xp, mean_p)
        finals = [s["eval"]["success_rate"] if "eval" in s else s["final_success"] for s in summaries]
        progress = [
            s["eval"]["mean_final_progress"] if "eval" in s else s["final_progress"] for s in summaries
        ]
        final = float(np.mean(finals))
        timings = {k: float(np.mean([s["timings"][k] for s in summaries])) for k in summaries[0]["timings"]}
        rows.append(
            {
                "reward": reward,
                "final_success": final,
                "final_success_std": float(np.std(finals)),
                "final_progress": float(np.mean(progress)),
                "rollouts_to_80pct": rollouts_to_fraction(
                    x, mean, float(mean[-1]), from_rollout=base.log.success_window
                ),
                "sim_s": timings["sim"],
                "reward_s": timings["reward"],
                "policy_s": timings["policy"],
                "update_s": timings["update"],
                "wall_s": float(np.mean([s["wall_s"] for s in summaries])),
            }
        )
    sparse = next((r for r in rows if r["reward"] == "sparse"), None)
    for r in rows:  # Robo-Dopamine's sample-efficiency metric, as a ratio to sparse reward
        fast, slow = r["rollouts_to_80pct"], sparse and sparse["rollouts_to_80pct"]
        r["fewer_rollouts_than_sparse"] = slow / fast if fast and slow else None
    plot = line_plot(
        series,
        out / "success_vs_rollouts.png",
        xlabel="training episodes (rollouts)",
        ylabel=f"success (running mean of {base.log.success_window})",
        title=f"{base.task}: RL from BC, {seeds} seed(s)",
        bands=bands,
    )
    line_plot(
        progress_series,
        out / "progress_vs_rollouts.png",
        xlabel="training episodes (rollouts)",
        ylabel=f"final progress (running mean of {base.log.success_window})",
        title=f"{base.task}: privileged final progress of training episodes",
    )
    (out / "compare.md").write_text(markdown_table(rows) + "\n")
    return {
        "task": base.task,
        "init": base.init,
        "seeds": seeds,
        "rollouts": base.rollouts,
        "final_success_source": (
            f"held-out evaluation, {base.log.eval_seeds} × {base.log.eval_episodes} episodes"
            if base.log.eval_episodes
            else "running training success"
        ),
        "table": rows,
        "plot": str(plot),
        "runs": {r: [str(out / r / f"seed{i}") for i in range(seeds)] for r in runs},
        "curves": {
            r: {
                "rollouts": series[r][0].tolist(),
                "success": series[r][1].tolist(),
                "final_progress": progress_series[r][1].tolist(),
            }
            for r in series
        },
    }
