"""Replay episodes for one-shot adaptation: what keeps an adapted GRM's old tasks.

A model folder may ship its own (`<model>/replay`, a small LeRobot dataset drawn from its training data
by `grm pack-replay`), so adapting the shipped model needs no original datasets. Without any replay
`grm adapt` refuses unless told to accept forgetting.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robo_reward.utils.cli_helpers import console
from robo_reward.utils.errors import UserError

REPLAY_DIR = "replay"


def replay_sets(
    checkpoint: Path, replay: list[Path] | None, run_args: dict, allow_forgetting: bool
) -> list[Path]:
    """The datasets adaptation replays: given, shipped with the model, or the run's training data."""
    if replay:
        return replay
    if (checkpoint / REPLAY_DIR / "meta" / "info.json").exists():
        return [checkpoint / REPLAY_DIR]
    trained_on = [Path(d) for d in run_args.get("data", []) if (Path(d) / "meta" / "info.json").exists()]
    if trained_on:
        return trained_on
    if not allow_forgetting:
        raise UserError(
            f"{checkpoint} ships no replay episodes and names no training data here, so adapting would let "
            "it forget its old tasks: pass --replay DATASET... (the data on its card), make one with "
            "`robo-reward grm pack-replay`, or accept the loss with --allow-forgetting"
        )
    console.print(
        "[bold red]warning:[/] adapting without replay: the old tasks are not protected and their "
        "progress estimates may degrade (check them with --old-eval-data)"
    )
    return []


def balanced_choice(keys: list[str], n: int, seed: int) -> list[int]:
    """Up to `n` indices (sorted), taken round-robin over the distinct keys, at random within a key."""
    rng = np.random.default_rng(seed)
    by_key = {
        k: [int(i) for i in rng.permutation([i for i, x in enumerate(keys) if x == k])]
        for k in sorted(set(keys))
    }
    chosen: list[int] = []
    while len(chosen) < n and any(by_key.values()):
        for k in by_key:
            if by_key[k] and len(chosen) < n:
                chosen.append(by_key[k].pop(0))
    return sorted(chosen)


def pack(checkpoint: Path, data: list[Path], episodes: int, seed: int = 0, overwrite: bool = False) -> Path:
    """Write `episodes` of `data`, balanced over tasks, to `<checkpoint>/replay`."""
    if episodes < 1:
        raise UserError(f"--episodes must be at least 1, got {episodes}")
    from robo_reward.data.lerobot_io import load_episodes, write_dataset
    from robo_reward.train.grm.batches import task_key

    out = Path(checkpoint) / REPLAY_DIR
    if out.exists() and not overwrite:
        raise UserError(f"{out} exists: pass --overwrite to replace it")
    # choose from the episodes' labels alone, then decode the videos of the chosen ones only
    pool = [(d, i, task_key(ep)) for d in data for i, ep in enumerate(load_episodes(d, with_images=False))]
    chosen = [pool[j] for j in balanced_choice([key for _, _, key in pool], episodes, seed)]
    picked = [ep for d in data for ep in load_episodes(d, episodes=[i for dd, i, _ in chosen if dd == d])]
    return write_dataset(picked, out, overwrite=overwrite)
