"""`robo-reward rl {train, compare}`: online RL (flow-noise PPO) of a BC flow policy in the sim."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import tyro

from robo_reward.train.rl.configuration_rl import RLConfig
from robo_reward.utils.cli_helpers import console, emit_json, print_table, set_threads


def train(
    cfg: Annotated[RLConfig, tyro.conf.OmitArgPrefixes],
    out: Path | None = None,
    resume: bool = False,
    json: Path | None = None,
    threads: int | None = 1,  # torch threads; more oversubscribe a busy 2-core CPU (10× slower seen)
) -> dict:
    """Fine-tune `--init` (a BC checkpoint) on `--reward` for `--rollouts` episodes with `--algorithm`:
    ppo (flow-noise PPO), awr (advantage-weighted flow matching from a replay buffer) or group
    (same-state episode groups, `--group-update imitate|ppo`).

    The run folder (default runs/rl/<task>-<reward>-s<seed>) holds metrics.jsonl, episodes.jsonl,
    checkpoint/policy (a FlowPolicy checkpoint `robo-reward policy eval` reads) and summary.json.
    """
    from robo_reward.paths import runs_dir
    from robo_reward.train.rl.trainer import train as run

    set_threads(threads)
    out = out or runs_dir() / "rl" / f"{cfg.task}-{cfg.reward}-s{cfg.seed}"
    summary = run(cfg, out, resume=resume)
    console.print(f"run folder {out}")
    print_table(
        f"rl {cfg.task} [{cfg.reward}]",
        [{k: summary[k] for k in ("episodes", "env_steps", "updates", "final_success", "wall_s")}],
    )
    emit_json(json, summary)
    return summary


def compare(
    cfg: Annotated[RLConfig, tyro.conf.OmitArgPrefixes],
    rewards: str = "sparse,naive,grm,oracle",
    seeds: int = 3,
    out: Path | None = None,
    json: Path | None = None,
    threads: int | None = 1,  # torch threads; more oversubscribe a busy 2-core CPU (10× slower seen)
) -> dict:
    """Train from the same init with each reward (comma list) × seeds; plot success vs rollouts and
    tabulate final success, rollouts to 80 % of final success and the sim/reward/policy/update time."""
    from robo_reward.paths import runs_dir
    from robo_reward.train.rl.compare import compare as run

    set_threads(threads)
    names = [r.strip() for r in rewards.split(",") if r.strip()]
    out = out or runs_dir() / "rl" / f"compare-{cfg.task}"
    result = run(cfg, names, seeds, out)
    print_table(f"rl compare {cfg.task} ({seeds} seeds, {cfg.rollouts} rollouts)", result["table"])
    console.print(f"plot {result['plot']}")
    emit_json(json, result)
    return result


COMMANDS = {"train": train, "compare": compare}
