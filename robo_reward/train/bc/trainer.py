"""Behaviour cloning of the flow policy: flow-matching loss on (observation, action chunk) samples.

    out/metrics.jsonl                    one line per `log_every` steps (loss, lr, grad norm, samples/s)
    out/run.json                         the run's id and the hash of the options that decide its results
    out/checkpoints/step_XXXXXX/         policy folder + optimizer.safetensors(+.json) + rng state +
                                         trainer_state.json + manifest.json (+ ema/, the averaged policy,
                                         when ema_decay > 0); one unit each, the newest `keep_checkpoints`
    out/model/                           the final policy (config.json, model.safetensors, ...); the
                                         exponential moving average of the weights when ema_decay > 0

Runs as one process or under `torchrun --nproc-per-node N` (DDP: gloo on CPU, nccl on GPU); each rank
draws its own batch of `batch_size // N` samples. `--resume` verifies the newest checkpoint against its
manifest and this run's options, and cuts `metrics.jsonl` back to it; a single-process resume also
restores the random generators, so it continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from robo_reward.data.episode import ENV_STATE_KEY, IMAGE_KEY, Episode
from robo_reward.models.flow_policy import FlowPolicy, compute_normalization, make_config
from robo_reward.train.bc.checkpoints import latest_checkpoint, save_checkpoint
from robo_reward.train.bc.data import (
    BALANCE_MODES,
    COLOUR_SWAP_PIXELS,
    ChunkDataset,
    colour_swap,
    random_shift,
)
from robo_reward.utils.distributed import cleanup_distributed, init_distributed
from robo_reward.utils.errors import ResumeError, UserError
from robo_reward.utils.io import write_json
from robo_reward.utils.killpoints import kill_point
from robo_reward.utils.logging import MetricsLogger, progress_bar
from robo_reward.utils.run_folder import TrainingRun
from robo_reward.utils.training_state import load_optimizer, load_rng_state


@dataclass
class BCConfig:
    out: Path
    data: list[Path] = field(default_factory=list)
    config: str = "flow-small"  # policy preset
    overrides: dict = field(default_factory=dict)  # FlowPolicyConfig fields to change
    # fine-tune: start from this policy checkpoint's weights, config and normalization (`config` and
    # `overrides` are then unused)
    init: Path | None = None
    steps: int = 3000
    batch_size: int = 64
    lr: float = 3e-4
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    grad_clip: float = 1.0
    # exponential moving average of the weights (0: off); the saved model is the average. The decay ramps
    # up as min(ema_decay, (1 + step) / (10 + step)) so early steps are not averaged with the init.
    ema_decay: float = 0.0
    shift_pad: int = 4  # random-shift augmentation, pixels at the policy's image size
    # probability that a sample whose instruction names red or blue is colour-mirrored (`colour_swap`)
    colour_swap: float = 0.0
    colour_swap_pixels: str = "all"  # which pixels it mirrors: "all", or "saturated" (the cubes)
    # each task's share of a batch (`ChunkDataset.sampling_weights`): "task" (equal), "sqrt_frames"
    # (∝ √ its frames: long multi-step tasks get more), "frames" (uniform over frames)
    balance: str = "task"
    # weight of an auxiliary loss (0: off): a head predicts the privileged object state recorded by the
    # sim suite (`observation.environment_state`) from the image tokens; the policy never reads it
    aux_weight: float = 0.0
    # more datasets whose frames (any outcome) train only the auxiliary head, images → object state: more
    # object placements than the demos show, for the encoder; their actions are never used
    aux_data: list[Path] = field(default_factory=list)
    outcomes: tuple[str, ...] = ("success",)
    max_episodes: int | None = None  # per dataset folder
    log_every: int = 50
    ckpt_every: int = 1000
    keep_checkpoints: int = 2
    seed: int = 0
    threads: int | None = None
    resume: bool = False
    overwrite: bool = False  # replace a previous run in `out`


# options a resumed run may change: they do not alter what the finished run computes up to its checkpoint
RESUMABLE_FIELDS = (
    "out",
    "steps",
    "log_every",
    "ckpt_every",
    "keep_checkpoints",
    "threads",
    "resume",
    "overwrite",
)


# options added after runs were made with this trainer, with the value those runs had
LATER_FIELDS = {"init": None, "colour_swap": 0.0, "colour_swap_pixels": "all"}


def hashed_config(cfg: BCConfig, episodes: Sequence[Episode], aux_episodes: Sequence[Episode] | None) -> dict:
    """The options and data that decide a run's results: what `--resume` must find unchanged."""
    d = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in RESUMABLE_FIELDS}
    for name, default in LATER_FIELDS.items():  # at their defaults, runs from before them resume unchanged
        if d[name] == default:
            del d[name]
    d["episodes"] = [len(episodes), sum(len(e) for e in episodes)]
    d["aux_episodes"] = [len(aux_episodes or ()), sum(len(e) for e in aux_episodes or ())]
    return d


def lr_at(step: int, cfg: BCConfig) -> float:
    """Linear warmup, then cosine decay to 10 % of the peak."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    frac = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def load_training_episodes(dirs: Sequence[Path], max_episodes: int | None = None) -> list[Episode]:
    from robo_reward.data.lerobot_io import load_episodes
    from robo_reward.data.local_dataset import require_info

    episodes: list[Episode] = []
    for d in dirs:
        n = require_info(d)["total_episodes"]
        wanted = range(n if max_episodes is None else min(n, max_episodes))
        episodes += load_episodes(d, episodes=wanted)
    return episodes


def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """ema ← decay·ema + (1 − decay)·model for float parameters and buffers; other buffers copied."""
    with torch.no_grad():
        for e, m in zip(ema.state_dict().values(), model.state_dict().values(), strict=True):
            if e.dtype.is_floating_point:
                e.lerp_(m, 1.0 - decay)
            else:
                e.copy_(m)


def ema_decay_at(step: int, decay: float) -> float:
    """The decay used after optimizer step `step` (0-based): ramps from 0.1 toward `decay`."""
    return min(decay, (1 + step) / (10 + step))


def build_policy(cfg: BCConfig, data: ChunkDataset, source_image_size: int) -> FlowPolicy:
    pcfg = make_config(
        cfg.config,
        **{
            "state_dim": data.state.shape[1],
            "action_dim": data.action.shape[1],
            "source_image_size": source_image_size,
            **cfg.overrides,
        },
    )
    es = data.environment_state
    if cfg.aux_weight > 0:
        pcfg.aux_dim = int(es.shape[1])
    policy = FlowPolicy(pcfg)
    policy.set_normalization(
        compute_normalization(data.state.numpy(), data.action.numpy(), es.numpy() if pcfg.aux_dim else None)
    )
    return policy


def load_init(folder: Path, episode: Episode, aux_weight: float) -> FlowPolicy:
    """The checkpoint a fine-tune starts from, checked against the data: the same state and action sizes
    and, for `--aux-weight`, an auxiliary head. Its normalization is kept, so its weights mean what they
    meant."""
    policy = FlowPolicy.from_pretrained(folder)
    c = policy.config
    state_dim, action_dim = episode.state.shape[1], episode.action.shape[1]
    if (c.state_dim, c.action_dim) != (state_dim, action_dim):
        raise UserError(
            f"--init {folder}: the policy takes states of {c.state_dim} and actions of {c.action_dim} "
            f"values, the data has {state_dim} and {action_dim}: fine-tune on data of the robot it was "
            "trained for"
        )
    if aux_weight > 0 and not c.aux_dim:
        raise UserError(f"--init {folder} has no auxiliary head: drop --aux-weight, or train from scratch")
    return policy


def _aux_frames_loss(
    policy: FlowPolicy, frames: ChunkDataset, idx: np.ndarray, shift_pad: int, gen
) -> torch.Tensor:
    """Mean auxiliary loss on `--aux-data` frames `idx`: images alone → object state (no actions)."""
    obs, _ = frames.batch(idx)
    target = obs.pop(ENV_STATE_KEY).to(policy.device)
    for key in [k for k in obs if k.startswith(IMAGE_KEY)]:
        obs[key] = random_shift(obs[key], shift_pad, gen)
    return policy.aux_loss(policy.image_tokens(obs), target).mean()


def train_bc(
    cfg: BCConfig, episodes: Sequence[Episode] | None = None, aux_episodes: Sequence[Episode] | None = None
) -> Path:
    """Train (or resume) a policy; returns the folder of the final model (`out/model`). `episodes` and
    `aux_episodes` replace loading `cfg.data` and `cfg.aux_data`."""
    rank, world, device = init_distributed()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    cfg.out = Path(cfg.out)
    try:
        return _train(cfg, episodes, aux_episodes, rank, world, device)
    finally:
        cleanup_distributed()


def check_config(cfg: BCConfig) -> None:
    """Options that cannot work, before any data is loaded."""
    for name in ("steps", "batch_size", "log_every", "ckpt_every"):
        if getattr(cfg, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be ≥ 1, got {getattr(cfg, name)}")
    if not (cfg.lr > 0 and math.isfinite(cfg.lr)):
        raise UserError(f"--lr must be a positive number, got {cfg.lr}")
    if not 0 <= cfg.ema_decay < 1:
        raise UserError(f"--ema-decay must be in [0, 1), got {cfg.ema_decay}")
    if not 0 <= cfg.colour_swap <= 1:
        raise UserError(f"--colour-swap must be in [0, 1], got {cfg.colour_swap}")
    if cfg.colour_swap_pixels not in COLOUR_SWAP_PIXELS:
        choices = ", ".join(COLOUR_SWAP_PIXELS)
        raise UserError(f"--colour-swap-pixels must be one of {choices}, got {cfg.colour_swap_pixels!r}")
    if cfg.balance not in BALANCE_MODES:
        raise UserError(f"--balance must be one of {', '.join(BALANCE_MODES)}, got {cfg.balance!r}")


def _train(cfg: BCConfig, episodes, aux_episodes, rank: int, world: int, device: torch.device) -> Path:
    check_config(cfg)
    if episodes is None:
        if not cfg.data:
            raise UserError("no training data: pass --data DIR [DIR ...]")
        episodes = load_training_episodes(cfg.data, cfg.max_episodes)
    if cfg.aux_data and aux_episodes is None:
        aux_episodes = load_training_episodes(cfg.aux_data)
    run = TrainingRun.open(
        cfg.out, "bc", hashed_config(cfg, episodes, aux_episodes), resume=cfg.resume, overwrite=cfg.overwrite,
        rank=rank,
    )  # fmt: skip
    resume_from = latest_checkpoint(run) if run.resumed else None
    run.cut_logs({"metrics.jsonl": "step"}, resume_from)
    source_size = int(next(iter(episodes[0].views.values())).shape[1])
    start = 0
    if resume_from is not None:
        policy = FlowPolicy.from_pretrained(resume_from.folder)
        start = resume_from.counters["step"]
        if start > cfg.steps:
            raise ResumeError(
                f"--resume: the checkpoint is at step {start}, past --steps {cfg.steps}: pass --steps ≥ {start}"
            )
        pcfg = policy.config
    elif cfg.init is not None:
        policy = load_init(cfg.init, episodes[0], cfg.aux_weight)
        pcfg = policy.config
    else:
        pcfg = make_config(cfg.config, **cfg.overrides)
    data = ChunkDataset.from_episodes(
        episodes, pcfg.views, pcfg.image_size, pcfg.chunk_size, cfg.outcomes,
        environment_state=cfg.aux_weight > 0,
    )  # fmt: skip
    if resume_from is None:
        torch.manual_seed(cfg.seed)  # the weights' init and the flow-matching noise and times
        if cfg.init is None:
            policy = build_policy(cfg, data, source_size)
    policy.to(device).train()
    if policy.config.freeze_backbone and cfg.colour_swap > 0:
        raise UserError(
            "--colour-swap changes the images: it cannot train on cached frozen-backbone features"
        )
    if policy.config.freeze_backbone:  # the CPU path: the backbone runs once per frame, not per step
        t0 = time.perf_counter()
        data.cache_features(policy)
        if rank == 0:
            print(
                f"[bc] cached frozen-backbone features of {len(data)} frames in {time.perf_counter() - t0:.0f}s"
            )
    ema = None
    if cfg.ema_decay > 0:
        ema = FlowPolicy.from_pretrained(resume_from.folder / "ema") if resume_from else copy.deepcopy(policy)
        ema.to(device).eval().requires_grad_(False)
    opt = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng([cfg.seed, rank, start])
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + rank + start)
    if resume_from is not None:
        load_optimizer(opt, resume_from.folder / "optimizer.safetensors")
        if world == 1:  # the generators of rank 0 only are saved: DDP ranks draw fresh ones
            load_rng_state(resume_from.folder, {"batches": rng}, {"augment": gen})
    model = policy
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(policy)

    weights = data.sampling_weights(cfg.balance)
    local_batch = max(1, cfg.batch_size // world)
    aux_frames = None
    if aux_episodes:
        if cfg.aux_weight <= 0 or world > 1:
            raise ValueError("--aux-data needs --aux-weight > 0 and a single process")
        aux_frames = ChunkDataset.from_episodes(
            aux_episodes, policy.config.views, policy.config.image_size, 1,
            outcomes=("success", "partial", "failure"), environment_state=True,
        )  # fmt: skip
    logger = MetricsLogger(cfg.out) if rank == 0 else None
    if rank == 0:
        write_json(cfg.out / "bc_config.json", dataclasses.asdict(cfg))
        print(
            f"[bc] {data.num_episodes} episodes, {len(data)} samples, {len(set(data.task_names))} tasks; "
            f"{cfg.config if cfg.init is None else f'fine-tuning {cfg.init}'} on {device} × {world}; "
            f"steps {start}→{cfg.steps}"
        )
    window: list[float] = []
    aux_window: list[float] = []
    extra_window: list[float] = []
    t_last, n_last = time.perf_counter(), 0
    with progress_bar(disable=None if rank == 0 else True) as bar:
        job = bar.add_task("bc", total=cfg.steps, completed=start, info="")
        for step in range(start, cfg.steps):
            for g in opt.param_groups:
                g["lr"] = lr_at(step, cfg)
            obs, chunk = data.batch(rng.choice(len(data), size=local_batch, p=weights))
            if data.features is None:
                for key in [k for k in obs if k.startswith(IMAGE_KEY)]:
                    obs[key] = random_shift(obs[key], cfg.shift_pad, gen)
                if cfg.colour_swap > 0:
                    colour_swap(obs, cfg.colour_swap, gen, cfg.colour_swap_pixels)
            env_state = obs.pop(ENV_STATE_KEY, None)
            if env_state is None:
                loss = fm = model(obs, chunk.to(device)).mean()
            else:
                fm, aux = model(obs, chunk.to(device), environment_state=env_state.to(device)).mean(0)
                aux_window.append(aux.item())
                if aux_frames is not None:
                    idx = rng.integers(len(aux_frames), size=local_batch)
                    extra_aux = _aux_frames_loss(policy, aux_frames, idx, cfg.shift_pad, gen)
                    extra_window.append(extra_aux.item())
                    aux = (aux + extra_aux) / 2
                loss = fm + cfg.aux_weight * aux
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.grad_clip)
            opt.step()
            if ema is not None:
                ema_update(ema, policy, ema_decay_at(step, cfg.ema_decay))
            window.append(fm.item())  # the flow-matching loss, comparable with or without aux
            n_last += local_batch * world
            done = step + 1
            if logger is not None and (done % cfg.log_every == 0 or done == cfg.steps):
                now = time.perf_counter()
                extra = {"aux_loss": float(np.mean(aux_window))} if aux_window else {}
                if extra_window:
                    extra["aux_extra_loss"] = float(np.mean(extra_window))
                logger.log(
                    done, loss=float(np.mean(window)), lr=opt.param_groups[0]["lr"],
                    grad_norm=float(grad_norm), samples_per_s=n_last / (now - t_last), **extra,
                )  # fmt: skip
                aux_info = f" aux {extra['aux_loss']:.3f}" if extra else ""
                bar.update(job, info=f"loss {np.mean(window):.4f}{aux_info}")
                window, aux_window, extra_window, t_last, n_last = [], [], [], now, 0
            bar.update(job, completed=done)
            kill_point("step")
            if rank == 0 and (done % cfg.ckpt_every == 0 and done < cfg.steps):
                save_checkpoint(run, done, policy, opt, ema, cfg, rng, gen, cfg.keep_checkpoints)
    final = cfg.out / "model"
    if rank == 0:
        save_checkpoint(run, cfg.steps, policy, opt, ema, cfg, rng, gen, cfg.keep_checkpoints)
        training = {
            "steps": cfg.steps, "data": [str(d) for d in cfg.data], "episodes": data.num_episodes,
            "ema_decay": cfg.ema_decay, "aux_weight": cfg.aux_weight,
        }  # fmt: skip
        (ema if ema is not None else policy.eval()).save_pretrained(final, extras={"training": training})
        logger.close()
    return final
