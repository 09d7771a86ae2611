"""`robo-reward grm {train, label, adapt, pack-replay}` — the general reward model from the command line
(`eval` and `codec` live in `robo_reward.commands.grm_eval`)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
from tyro.conf import Positional

from robo_reward.commands.grm_eval import add_reference, codec, eval, load_grm
from robo_reward.utils.cli_helpers import console, set_threads


def _segmenter(encoder: str | None, steps: int):
    if encoder is None:
        return None
    from robo_reward.models.perceptual.modeling_perceptual import PerceptualSegmenter

    return PerceptualSegmenter(encoder, num_steps=steps)


def train(
    data: list[Path],
    out: Path,
    config: str = "grm-small",
    steps: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    checkpoint_every: int | None = None,
    log_every: int | None = None,
    exclude_tasks: tuple[str, ...] = (),
    val_fraction: float = 0.15,
    resume: bool = False,
    overwrite: bool = False,
    cache_dir: Path | None = None,
    encoder_checkpoint: str | None = None,
    frozen_encoder: bool | None = None,
    segmenter_encoder: str | None = None,
    segmenter_steps: int = 3,
    seed: int = 0,
    threads: int | None = None,
    override: list[str] | None = None,
) -> Path:
    """Train a GRM on LeRobot datasets (any number of folders), holding out `exclude_tasks`.

    `--override label_source=progress image_size=96` changes any GRMConfig field (JSON values).

    Runs under `torchrun --nproc-per-node 2 -m robo_reward.cli grm train ...` too (DDP).
    Episodes without a stage column are labelled from a perceptual segmenter
    (`--segmenter-encoder` a TCN checkpoint or preset) or, failing that, uniform time.
    OUT must be empty (or `--overwrite` it); `--resume` continues its run with the same options
    (`--steps` may grow) from its verified checkpoint.
    """
    from robo_reward.utils.preflight import (
        check_out_folder,
        require_datasets,
        require_fraction,
        require_positive,
    )

    require_datasets(data)
    check_out_folder(out, resume=resume, overwrite=overwrite)
    require_positive(
        steps=steps, batch_size=batch_size, lr=lr, checkpoint_every=checkpoint_every, log_every=log_every,
        segmenter_steps=segmenter_steps,
    )  # fmt: skip
    require_fraction("val_fraction", val_fraction)

    from robo_reward.models.grm.configuration_grm import get_config

    preset = get_config(config)  # a bad name answers before the heavy imports below

    from robo_reward.train.grm.trainer import config_with, load_episodes, split_episodes
    from robo_reward.train.grm.trainer import train as run_training
    from robo_reward.utils.cli_helpers import parse_overrides

    set_threads(threads)
    cfg = config_with(
        dataclasses.replace(preset, **parse_overrides(override or [])) if override else preset,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        checkpoint_every=checkpoint_every,
        log_every=log_every,
        seed=seed,
        encoder_checkpoint=encoder_checkpoint,
        frozen_encoder=frozen_encoder,
    )
    episodes = load_episodes(data, exclude_tasks=exclude_tasks)
    train_eps, val_eps = split_episodes(episodes, val_fraction, seed)
    args = {
        "data": [str(Path(d).resolve()) for d in data],
        "exclude_tasks": list(exclude_tasks),
        "val_fraction": val_fraction,
        "val_episodes": len(val_eps),
        "segmenter": [segmenter_encoder, segmenter_steps] if segmenter_encoder else None,
    }
    return run_training(
        cfg,
        train_eps,
        out,
        val_episodes=val_eps,
        resume=resume,
        overwrite=overwrite,
        segmenter=_segmenter(segmenter_encoder, segmenter_steps),
        cache_dir=cache_dir,
        extra_args=args,
    )


def label(
    data: Positional[Path],
    checkpoint: Path,
    out: Path | None = None,
    column: str = "grm_progress",
    reference: Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the GRM's fused progress as a per-frame `grm_progress` column (a new dataset at `out`,
    or `data` itself rewritten when `out` is omitted)."""
    from robo_reward.utils.preflight import require_checkpoint, require_dataset

    require_dataset(data, "DATA")
    require_checkpoint(checkpoint)

    from robo_reward.data.lerobot_io import load_episodes, write_dataset
    from robo_reward.models.grm.inference import ProgressEstimator

    estimator = ProgressEstimator(load_grm(checkpoint, reference))
    episodes = load_episodes(data)
    for ep in episodes:
        ep.extras[column] = estimator(ep).astype(np.float32)
    target = out or data
    return write_dataset(episodes, target, overwrite=overwrite or out is None)


def _voc_by_task(model, episodes, cache=None) -> dict[str, float]:
    from robo_reward.models.grm.inference import ProgressEstimator
    from robo_reward.rewards.metrics import voc
    from robo_reward.train.grm.batches import task_key

    est = ProgressEstimator(model, cache=cache)
    by: dict[str, list[float]] = {}
    for ep in episodes:
        if ep.outcome == "success":
            by.setdefault(task_key(ep), []).append(voc(est(ep)))
    return {k: float(np.mean(v)) for k, v in sorted(by.items())}


def pack_replay(
    checkpoint: Path,
    data: list[Path],
    episodes: int = 40,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Ship replay episodes inside a model folder (`<checkpoint>/replay`): `--episodes` drawn from
    `--data` (the model's training data), as equal a share per task as the data allows, so that
    `grm adapt` on the shipped model keeps its old tasks without the original datasets."""
    from robo_reward.utils.preflight import require_checkpoint, require_datasets

    require_checkpoint(checkpoint)
    require_datasets(data, "--data")
    from robo_reward.train.grm.replay import pack

    out = pack(checkpoint, data, episodes, seed, overwrite)
    console.print(f"wrote {episodes} replay episodes (or all the data has) to {out}")
    return out


def adapt(
    checkpoint: Path,
    demo: Path,
    out: Path,
    episode: int = 0,
    replay: list[Path] | None = None,
    replay_episodes: int = 40,
    eval_data: list[Path] | None = None,
    old_eval_data: list[Path] | None = None,
    steps: int = 600,
    max_seconds: float = 100.0,
    trainable: str = "trunk",
    allow_forgetting: bool = False,
    json: Path | None = None,
    seed: int = 0,
    threads: int | None = None,
) -> dict:
    """Adapt a GRM to a new task from ONE demo (`--demo DIR --episode K`); write it to `out`.

    Replay (half of every batch, so the old tasks are kept): `--replay` datasets; else the episode set
    shipped inside the model folder (`<checkpoint>/replay`, made by `grm pack-replay`); else the training
    run's data when `checkpoint` is a run folder. With none of them the command refuses, unless
    `--allow-forgetting` (then the old tasks are not protected, and it says so).
    Reports VOC before/after on `--eval-data` (new task) and `--old-eval-data` (old tasks); each takes
    one or more datasets, pooled.
    """
    from robo_reward.utils.preflight import require_checkpoint, require_dataset, require_datasets

    require_checkpoint(checkpoint)
    require_dataset(demo, "--demo")
    for flag, sets in (("--replay", replay), ("--eval-data", eval_data), ("--old-eval-data", old_eval_data)):
        if sets:
            require_datasets(sets, flag)

    from robo_reward.data.lerobot_io import load_episodes
    from robo_reward.models.grm.features import FeatureCache
    from robo_reward.train.grm.adapt import adapt as run_adapt
    from robo_reward.train.grm.batches import task_key
    from robo_reward.train.grm.replay import replay_sets
    from robo_reward.utils.cli_helpers import emit_json, print_table
    from robo_reward.utils.io import read_json

    set_threads(threads)
    t0 = time.time()
    model = load_grm(checkpoint)
    (demo_ep,) = load_episodes(demo, episodes=[episode])
    run_args = (
        read_json(Path(checkpoint) / "train_args.json")
        if (Path(checkpoint) / "train_args.json").exists()
        else {}
    )
    replay = replay_sets(Path(checkpoint), replay, run_args, allow_forgetting)
    cache_dir = Path(run_args.get("cache_dir", Path(checkpoint) / "feature_cache"))
    cache = FeatureCache(model, cache_dir if cache_dir.exists() else None)  # the run's features, reused
    replay_eps = []
    if replay:
        pool = [ep for d in replay for ep in load_episodes(d) if task_key(ep) != task_key(demo_ep)]
        rng = np.random.default_rng(seed)
        replay_eps = [pool[i] for i in sorted(rng.permutation(len(pool))[:replay_episodes])]
    load_seconds = time.time() - t0
    new_eval = [ep for d in eval_data or [] for ep in load_episodes(d) if task_key(ep) == task_key(demo_ep)]
    old_eval = [ep for d in old_eval_data or [] for ep in load_episodes(d)]
    add_reference(model, demo_ep)  # zero-shot gets the same goal image as the adapted model
    before = {"new": _voc_by_task(model, new_eval, cache), "old": _voc_by_task(model, old_eval, cache)}
    t1 = time.time()
    stats = run_adapt(
        model,
        demo_ep,
        replay_eps,
        steps=steps,
        max_seconds=max_seconds,
        trainable=trainable,
        cache=cache,
        seed=seed,
    )
    stats["adapt_seconds_including_data_loading"] = load_seconds + time.time() - t1
    model.save_pretrained(out)
    after = {"new": _voc_by_task(model, new_eval, cache), "old": _voc_by_task(model, old_eval, cache)}
    result = {
        "task": task_key(demo_ep),
        "demo": str(demo),
        "episode": episode,
        **stats,
        "voc_before": before,
        "voc_after": after,
    }
    rows = [
        {"tasks": group, "when": when, **{k: v for k, v in res[group].items()}}
        for group in ("new", "old")
        for when, res in (("before", before), ("after", after))
        if res[group]
    ]
    for r in rows:
        print_table(f"VOC ({r.pop('tasks')} tasks, {r.pop('when')} adaptation)", [r])
    emit_json(json, result)
    return result


COMMANDS = {
    "train": train, "label": label, "adapt": adapt, "pack-replay": pack_replay, "eval": eval, "codec": codec,
}  # fmt: skip
