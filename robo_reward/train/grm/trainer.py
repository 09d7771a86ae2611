"""GRM training: `robo-reward grm train --config grm-small --data DIR [DIR ...] --out runs/grm`.

Runs as one process or under `torchrun --nproc-per-node N` (DDP: gloo on CPU, nccl on GPU). The run
folder holds `run.json` (run id, options hash), `train_args.json`, `metrics.jsonl`, `checkpoint/` (one
verified unit: the model — config.json + model.safetensors + preprocessing.json — with the optimizer,
the random generators, `trainer_state.json` and `manifest.json`), `feature_cache/` (frozen-encoder
features) and `summary.json`. `--resume` verifies the checkpoint against its manifest and the run's
options and cuts `metrics.jsonl` back to it; single-process, it continues exactly.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np
import torch

from robo_reward.data.episode import Episode
from robo_reward.models.grm.configuration_grm import GRMConfig, with_training_of
from robo_reward.models.grm.features import FeatureCache
from robo_reward.models.grm.inference import ProgressEstimator
from robo_reward.models.grm.modeling_grm import GRM, build_grm, count_parameters
from robo_reward.rewards.metrics import voc
from robo_reward.train.grm.batches import (
    TrainData,
    cached_features,
    hop_loss,
    live_features,
    make_batch,
    task_key,
)
from robo_reward.utils.distributed import barrier, init_distributed
from robo_reward.utils.errors import ResumeError
from robo_reward.utils.io import write_json
from robo_reward.utils.killpoints import kill_point
from robo_reward.utils.logging import MetricsLogger, progress_bar
from robo_reward.utils.run_folder import TrainingRun
from robo_reward.utils.training_state import load_optimizer, load_rng_state, save_optimizer, save_rng_state

CHECKPOINT = "checkpoint"
OPTIMIZER = "optimizer.safetensors"
# config fields a resumed run may change: they do not alter what it computed up to its checkpoint
RESUMABLE_FIELDS = ("steps", "checkpoint_every", "log_every")


# ---------------------------------------------------------------- data


def load_episodes(
    dirs: list[str | Path], exclude_tasks: tuple[str, ...] = (), only_tasks: tuple[str, ...] = ()
) -> list[Episode]:
    from robo_reward.data.lerobot_io import load_episodes as load

    eps = [ep for d in dirs for ep in load(d)]
    eps = [
        ep
        for ep in eps
        if task_key(ep) not in exclude_tasks and (not only_tasks or task_key(ep) in only_tasks)
    ]
    if not eps:
        raise ValueError(f"no episodes in {dirs} after excluding {exclude_tasks} / keeping {only_tasks}")
    return eps


def split_episodes(
    episodes: list[Episode], val_fraction: float, seed: int
) -> tuple[list[Episode], list[Episode]]:
    """Per task and outcome, hold out `val_fraction` of the episodes (at least one successful one
    per task when the task has two or more)."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    groups: dict[tuple[str, str], list[Episode]] = {}
    for ep in episodes:
        groups.setdefault((task_key(ep), ep.outcome), []).append(ep)
    for (_, outcome), eps in groups.items():
        order = rng.permutation(len(eps))
        n_val = int(round(val_fraction * len(eps)))
        if val_fraction > 0 and outcome == "success" and len(eps) >= 2:
            n_val = max(n_val, 1)
        val += [eps[i] for i in order[:n_val]]
        train += [eps[i] for i in order[n_val:]]
    return train, val


def calibrate(model: GRM, episodes: list[Episode], n_frames: int, seed: int) -> None:
    """BatchNorm statistics of a random backbone from up to `n_frames` evenly drawn training frames.

    Every rank draws the same frames, so all ranks end with identical encoders."""
    rng = np.random.default_rng(seed)
    refs = [(e, t) for e, ep in enumerate(episodes) for t in range(len(ep))]
    pick = sorted(rng.choice(len(refs), size=min(n_frames, len(refs)), replace=False))
    views = {
        v: np.stack([episodes[refs[i][0]].views[v][refs[i][1]] for i in pick]) for v in model.config.views
    }
    model.calibrate_batchnorm(views)


# ---------------------------------------------------------------- schedule


def lr_at(step: int, config: GRMConfig) -> float:
    """Linear warm-up, then cosine decay to 10 %."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    frac = (step - config.warmup_steps) / max(config.steps - config.warmup_steps, 1)
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))


# ---------------------------------------------------------------- evaluation during training


def validation_voc(model: GRM, episodes: list[Episode], cache: FeatureCache | None = None) -> float:
    """Mean dense VOC of the fused progress over successful episodes (goal: stored references)."""
    estimator = ProgressEstimator(model, cache=cache)
    vals = [voc(estimator(ep)) for ep in episodes if ep.outcome == "success"]
    return float(np.mean(vals)) if vals else float("nan")


# ---------------------------------------------------------------- the loop


def hashed_config(
    config: GRMConfig, episodes: list[Episode], val_episodes: list[Episode] | None, extra: dict
) -> dict:
    """The options and data that decide a run's results: what `--resume` must find unchanged."""
    d = {k: v for k, v in config.to_dict().items() if k not in RESUMABLE_FIELDS}
    d["episodes"] = [len(episodes), sum(len(e) for e in episodes)]
    d["val_episodes"] = [len(val_episodes or ()), sum(len(e) for e in val_episodes or ())]
    return d | extra


def _save_checkpoint(
    training_run: TrainingRun, model: GRM, optimizer, step: int, rng: np.random.Generator
) -> None:
    def write(tmp: Path) -> None:
        model.save_pretrained(tmp, atomic=False)
        save_optimizer(optimizer, tmp / OPTIMIZER)
        save_rng_state(tmp, {"batches": rng})
        write_json(tmp / "trainer_state.json", {"step": step})

    training_run.save_checkpoint(training_run.out / CHECKPOINT, write, {"step": step})


def train(
    config: GRMConfig,
    episodes: list[Episode],
    out: str | Path,
    val_episodes: list[Episode] | None = None,
    resume: bool = False,
    init: GRM | None = None,
    segmenter=None,
    cache_dir: str | Path | None = None,
    extra_args: dict | None = None,
    overwrite: bool = False,
) -> Path:
    """Train a GRM on `episodes`; returns the run folder. `init` starts from an existing model.

    A new run needs an empty `out` (or `overwrite`); `resume` continues the run in `out` from its
    verified checkpoint, with the same config (but `steps`, `checkpoint_every`, `log_every`) and data."""
    rank, world, device = init_distributed()
    run = Path(out)
    identity = {"init": init is not None, "segmenter": segmenter is not None, **(extra_args or {})}
    training_run = TrainingRun.open(
        run, "grm", hashed_config(config, episodes, val_episodes, identity), resume=resume,
        overwrite=overwrite, rank=rank,
    )  # fmt: skip
    manifest = training_run.load_checkpoint(run / CHECKPOINT) if resume else None
    training_run.cut_logs({"metrics.jsonl": "step"}, manifest)
    resuming = manifest is not None
    torch.manual_seed(config.seed)
    model = init if init is not None else build_grm(config)
    if resuming:
        model = GRM.from_pretrained(manifest.folder)
    model.config = config = with_training_of(model.config, config)
    model = model.to(device)
    data = TrainData.build(
        episodes, config.frames_per_segment, segmenter, config.label_source, config.label_stride
    )
    model.references.update(data.references(config.views))
    if rank == 0:
        run.mkdir(parents=True, exist_ok=True)
        write_json(
            run / "train_args.json",
            {
                "config": config.to_dict(),
                "world_size": world,
                "episodes": len(data.episodes),
                "cache_dir": str(Path(cache_dir) if cache_dir else run / "feature_cache"),
                **(extra_args or {}),
            },
        )
    cache = None
    t0 = time.time()
    random_backbone = not (config.backbone_weights or config.encoder_config)
    if not resuming and init is None and config.calibrate_batchnorm and random_backbone:
        calibrate(model, data.episodes, config.calibration_frames, config.seed)
    if config.frozen_encoder:
        cache = FeatureCache(model, Path(cache_dir) if cache_dir else run / "feature_cache")
        mine = range(rank, len(data.episodes), world)  # each rank encodes its share, to files
        with progress_bar(disable=rank != 0 or None) as bar:
            task = bar.add_task("grm features", total=len(mine), info=str(cache.folder))
            for i in mine:
                cache(data.episodes[i])
                bar.advance(task)
        barrier()
        features = cached_features(cache, data.episodes)
    else:
        features = live_features(model, data.episodes)
    feature_seconds = time.time() - t0
    sampler = data.sampler(config.zero_hop_fraction)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    step = manifest.counters["step"] if resuming else 0
    if step > config.steps:
        raise ResumeError(
            f"--resume: the checkpoint is at step {step}, past --steps {config.steps}: pass --steps ≥ {step}"
        )
    rng = np.random.default_rng([config.seed, rank, step])
    if resuming:
        load_optimizer(optimizer, manifest.folder / OPTIMIZER)
        if world == 1:  # rank 0's generators only are saved: DDP ranks draw fresh ones
            load_rng_state(manifest.folder, {"batches": rng})
    core = model
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            core, device_ids=[device] if device.type == "cuda" else None
        )
    logger = MetricsLogger(run) if rank == 0 else None
    batch_size = max(1, config.batch_size // world)
    core.train()
    t_train = time.time()
    with progress_bar(disable=rank != 0 or None) as bar:
        task = bar.add_task("grm train", total=config.steps, completed=step, info="")
        while step < config.steps:
            batch = make_batch(core, data, sampler, features, batch_size, rng, config)
            for g in optimizer.param_groups:
                g["lr"] = lr_at(step, config)
            loss, stats = hop_loss(model, batch, core)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            step += 1
            if logger and (step % config.log_every == 0 or step == config.steps):
                logger.log(
                    step,
                    **{f"losses/{k}": v for k, v in stats.items()},
                    **{"charts/lr": lr_at(step - 1, config)},
                )
                bar.update(task, completed=step, info=f"loss {stats['loss']:.3f} mae {stats['hop_mae']:.3f}")
            kill_point("step")
            if step % config.checkpoint_every == 0 or step == config.steps:
                if rank == 0:
                    if val_episodes and logger:  # logged before the checkpoint that counts it
                        core.eval()
                        logger.log(
                            step, **{"charts/val_voc_dense": validation_voc(core, val_episodes, cache)}
                        )
                        core.train()
                    _save_checkpoint(training_run, core, optimizer, step, rng)
                barrier()
    summary = {
        "steps": step,
        "world_size": world,
        "feature_seconds": feature_seconds,
        "train_seconds": time.time() - t_train,
        "trainable_parameters": count_parameters(core, True),
        "parameters": count_parameters(core),
        "pairs": sampler.num_pairs,
        "episodes": len(data.episodes),
    }
    if rank == 0:
        core.eval()
        if val_episodes:
            summary["val_voc_dense"] = validation_voc(core, val_episodes, cache)
        write_json(run / "summary.json", summary)
        logger.close()
    barrier()
    return run


def config_with(config: GRMConfig, **overrides) -> GRMConfig:
    return dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
