"""`robo-reward encoder ...`: train the multi-view time-contrastive encoder."""

from __future__ import annotations

import time
from pathlib import Path

from robo_reward.utils.cli_helpers import console, emit_json


def load_training_episodes(
    data: list[Path], episodes: int | None = None, views: list[str] | None = None, task: str | None = None
):
    """Episodes of one or more datasets (optionally only `task`), at most `episodes` per dataset."""
    from robo_reward.data.lerobot_io import load_episodes

    out = []
    for root in data:
        eps = load_episodes(root, views=views)
        if task:
            eps = [e for e in eps if task in (e.task_name, e.task)]
        out += eps[:episodes] if episodes else eps
    if not out:
        from robo_reward.utils.errors import UserError

        raise UserError(
            f"no episodes found in {[str(d) for d in data]}" + (f" for task {task!r}" if task else "")
        )
    return out


def train(
    data: list[Path],
    out: Path,
    config: str = "tcn-small",
    steps: int | None = None,
    checkpoint_every: int | None = None,
    log_every: int | None = None,
    episodes: int | None = None,
    views: list[str] | None = None,
    task: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    seed: int | None = None,
    device: str = "cpu",
    json: Path | None = None,
) -> dict:
    """Train an encoder as a multi-view TCN on every episode of DATA (≥ 2 camera views each).

    Same-time frames from two cameras are positives, other moments of the same episode negatives.
    CONFIG is a preset (tcn-tiny, tcn-small, tcn-base) or a config.json; writes OUT/checkpoint
    (config.json + model.safetensors), OUT/metrics.jsonl. OUT must be empty (or `--overwrite` it);
    `--resume` continues its run, with the same options, from its verified checkpoint.
    """
    from robo_reward.utils.preflight import check_out_folder, require_datasets, require_positive

    require_datasets(data)
    check_out_folder(out, resume=resume, overwrite=overwrite)
    require_positive(steps=steps, checkpoint_every=checkpoint_every, log_every=log_every, episodes=episodes)

    from robo_reward.models.encoders.configuration_encoders import get_config

    overrides = {"seed": seed, "checkpoint_every": checkpoint_every, "log_every": log_every}
    cfg = get_config(config, **{k: v for k, v in overrides.items() if v is not None})  # before heavy imports

    import numpy as np

    from robo_reward.train.encoder.trainer import CHECKPOINT_DIR, train_tcn

    t0 = time.perf_counter()
    eps = load_training_episodes(data, episodes, views, task)
    console.print(
        f"[encoder] {len(eps)} episodes, {sum(len(e) for e in eps)} frames, views {eps[0].view_names}"
    )
    t1 = time.perf_counter()
    train_tcn(eps, cfg, out, views=views, steps=steps, resume=resume, device=device, overwrite=overwrite)
    from robo_reward.utils.logging import read_metrics

    last = read_metrics(out / "metrics.jsonl")[-10:]
    result = {
        "checkpoint": str(out / CHECKPOINT_DIR),
        "episodes": len(eps),
        "load_s": t1 - t0,
        "train_s": time.perf_counter() - t1,
        "final_loss": float(np.mean([m["losses/tcn"] for m in last])) if last else None,
        "final_retrieval_acc": float(np.mean([m["charts/retrieval_acc"] for m in last])) if last else None,
    }
    console.print(result)
    emit_json(json, result)
    return result


COMMANDS = {"train": train}
